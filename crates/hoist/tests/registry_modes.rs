//! The same read path — ping, manifest HEAD and GET, blob GET, tags list — against each kind of
//! registry people run: anonymous, htpasswd (Basic), token auth (Bearer from a real token
//! server) and TLS with a private CA. Images are seeded with skopeo, independently of hoist.

mod support;

use hoist::credentials::Credentials;
use hoist::registry::{HostConfig, RegistryConfig};
use hoist_testkit::{TestCa, TestRegistry, TokenServer};
use support::registry::{basic, client, collect, image, seed, test_config, Push};

/// Reads `repo:v1` and `repo:v2` through a fresh client and checks every byte and the tag list.
async fn read_path_works(
    reg: &TestRegistry,
    config: RegistryConfig,
    creds: Option<Credentials>,
    seed_creds: Option<(&str, &str)>,
) {
    let img = image(&format!("modes-{}", reg.port()), 8192);
    for tag in ["v1", "v2"] {
        seed(&img, reg, "team/app", tag, Push { creds: seed_creds }).await;
    }
    let client = client(config, &reg.host(), creds);
    client.ping(&reg.host()).await.unwrap();
    let repo = client.repository(&reg.host(), "team/app");

    let head = repo.head_manifest("v1").await.unwrap();
    assert_eq!(head.digest.as_ref(), Some(&img.manifest_digest));
    let manifest = repo
        .get_manifest(img.manifest_digest.as_str())
        .await
        .unwrap();
    assert!(manifest.bytes == img.manifest, "manifest bytes differ");

    let layer = collect(repo.get_blob(&img.layer_digest, 0).await.unwrap()).await;
    assert!(layer == img.layer, "layer bytes differ");

    let mut tags = repo.tags(None).await.unwrap();
    tags.sort();
    assert_eq!(tags, ["v1", "v2"]);
}

#[tokio::test]
async fn anonymous_registry_read_path() {
    let reg = TestRegistry::anonymous().await.unwrap();
    read_path_works(&reg, test_config(), None, None).await;
}

#[tokio::test]
async fn htpasswd_registry_read_path() {
    let reg = TestRegistry::htpasswd("alice", "s3cret").await.unwrap();
    read_path_works(
        &reg,
        test_config(),
        Some(basic("alice", "s3cret")),
        Some(("alice", "s3cret")),
    )
    .await;
}

#[tokio::test]
async fn token_auth_registry_read_path() {
    let tokens = TokenServer::builder()
        .user("dev", "d3v")
        .grant("dev", "team/*", &["pull", "push"])
        .start()
        .unwrap();
    let reg = TestRegistry::builder()
        .token_auth(tokens.auth_config())
        .start()
        .await
        .unwrap();
    read_path_works(
        &reg,
        test_config(),
        Some(basic("dev", "d3v")),
        Some(("dev", "d3v")),
    )
    .await;
    assert!(
        tokens
            .requests()
            .iter()
            .any(|r| r.scopes.iter().any(|s| s == "repository:team/app:pull")),
        "hoist asked the token server for pull on team/app"
    );
}

#[tokio::test]
async fn tls_registry_read_path() {
    let ca = TestCa::new().unwrap();
    let reg = TestRegistry::builder().tls(&ca).start().await.unwrap();
    let mut config = test_config();
    config.registries.insert(
        reg.host(),
        HostConfig {
            ca_file: Some(ca.cert_path()),
            ..Default::default()
        },
    );
    read_path_works(&reg, config, None, None).await;
}

//! Proxy mode: a registry that serves what its upstream has (a docker registry mirror).

mod common;

use hoist_testkit::TestRegistry;
use sha2::{Digest, Sha256};

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// Pushes a config blob and a manifest referencing it; returns (manifest bytes, digest).
async fn push_minimal(
    reg: &TestRegistry,
    repo: &str,
    tag: &str,
    basic: Option<(&str, &str)>,
) -> (Vec<u8>, String) {
    let client = reg.client();
    let auth = |r: reqwest::RequestBuilder| match basic {
        Some((u, p)) => r.basic_auth(u, Some(p)),
        None => r,
    };
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let basic_header = basic.map(|(u, p)| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    });
    let cdigest = common::upload_blob(reg, repo, config, basic_header.as_deref()).await;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest, "size": config.len()},
        "layers": []
    }))
    .unwrap();
    let resp = auth(client.put(format!("{}/v2/{repo}/manifests/{tag}", reg.url())))
        .header("Content-Type", MANIFEST_TYPE)
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&manifest)));
    (manifest, digest)
}

#[tokio::test]
async fn proxy_registry_serves_a_manifest_from_its_upstream() {
    let upstream = TestRegistry::anonymous().await.unwrap();
    let (manifest, digest) = push_minimal(&upstream, "library/app", "v1", None).await;
    let mirror = TestRegistry::builder()
        .proxy(&upstream.url(), None)
        .start()
        .await
        .unwrap();
    upstream.clear_log().unwrap();
    let resp = mirror
        .client()
        .get(format!("{}/v2/library/app/manifests/v1", mirror.url()))
        .header("Accept", MANIFEST_TYPE)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(resp.bytes().await.unwrap().as_ref(), manifest.as_slice());
    assert!(
        upstream.count_requests("GET", "/v2/library/app/manifests/v1")
            + upstream.count_requests("HEAD", "/v2/library/app/manifests/v1")
            >= 1
    );
}

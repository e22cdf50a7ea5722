//! Mirrors: a testkit proxy-mode registry configured as mirror serves pull-side reads; a mirror
//! that is down falls through to the registry; writes never touch the mirror.

mod support;

use bytes::Bytes;
use hoist::digest::Digest;
use hoist::registry::{HostConfig, RegistryConfig};
use hoist_testkit::TestRegistry;
use support::registry::{client, collect, image, seed, test_config, Push};

fn with_mirror(registry_host: &str, mirror_url: &str) -> RegistryConfig {
    let mut config = test_config();
    config.registries.insert(
        registry_host.to_string(),
        HostConfig {
            mirrors: vec![mirror_url.to_string()],
            ..Default::default()
        },
    );
    config
}

fn hoist_requests(reg: &TestRegistry) -> usize {
    reg.access_log()
        .iter()
        .filter(|e| e.user_agent.starts_with("hoist/"))
        .count()
}

#[tokio::test]
async fn mirror_serves_manifest_and_blob_reads() {
    let upstream = TestRegistry::anonymous().await.unwrap();
    let img = image("mirror-serves", 5000);
    seed(&img, &upstream, "library/app", "v1", Push::default()).await;
    let mirror = TestRegistry::builder()
        .proxy(&upstream.url(), None)
        .start()
        .await
        .unwrap();
    upstream.clear_log().unwrap();

    let repo = client(
        with_mirror(&upstream.host(), &mirror.url()),
        &upstream.host(),
        None,
    )
    .repository(&upstream.host(), "library/app");
    assert_eq!(
        repo.get_manifest("v1").await.unwrap().digest,
        img.manifest_digest
    );
    assert!(collect(repo.get_blob(&img.layer_digest, 0).await.unwrap()).await == img.layer);

    assert!(mirror.count_requests("GET", "/v2/library/app/manifests/v1") >= 1);
    assert!(
        mirror.count_requests(
            "GET",
            &format!("/v2/library/app/blobs/{}", img.layer_digest)
        ) >= 1
    );
    assert_eq!(
        hoist_requests(&upstream),
        0,
        "hoist itself never asked the registry"
    );
}

#[tokio::test]
async fn mirror_down_falls_back_to_the_registry() {
    let upstream = TestRegistry::anonymous().await.unwrap();
    let img = image("mirror-down", 100);
    seed(&img, &upstream, "library/app", "v1", Push::default()).await;
    // A port nothing listens on.
    let dead = hoist_testkit::unused_port().unwrap();
    let repo = client(
        with_mirror(&upstream.host(), &format!("http://127.0.0.1:{dead}")),
        &upstream.host(),
        None,
    )
    .repository(&upstream.host(), "library/app");
    assert_eq!(
        repo.get_manifest("v1").await.unwrap().digest,
        img.manifest_digest
    );
    assert!(upstream.count_requests("GET", "/v2/library/app/manifests/v1") >= 1);
}

#[tokio::test]
async fn mirror_without_the_manifest_falls_back_to_the_registry() {
    let upstream = TestRegistry::anonymous().await.unwrap();
    let img = image("mirror-miss", 100);
    seed(&img, &upstream, "library/app", "v1", Push::default()).await;
    // An ordinary (non-proxy) registry as "mirror": it has nothing, answers 404.
    let empty = TestRegistry::anonymous().await.unwrap();
    let repo = client(
        with_mirror(&upstream.host(), &empty.url()),
        &upstream.host(),
        None,
    )
    .repository(&upstream.host(), "library/app");
    assert_eq!(
        repo.get_manifest("v1").await.unwrap().digest,
        img.manifest_digest
    );
    assert_eq!(
        empty.count_requests("GET", "/v2/library/app/manifests/v1"),
        1
    );
}

#[tokio::test]
async fn push_never_uses_the_mirror() {
    let upstream = TestRegistry::anonymous().await.unwrap();
    let mirror = TestRegistry::anonymous().await.unwrap();
    let repo = client(
        with_mirror(&upstream.host(), &mirror.url()),
        &upstream.host(),
        None,
    )
    .repository(&upstream.host(), "library/pushed");
    let data = Bytes::from_static(b"pushed blob");
    let digest = Digest::sha256_of(&data);
    repo.upload_blob(&digest, data).await.unwrap();
    let img = image("mirror-push", 10);
    repo.put_manifest(
        "v1",
        "application/vnd.oci.image.manifest.v1+json",
        Bytes::from(img.manifest.clone()),
    )
    .await
    .unwrap_err(); // the manifest's blobs are absent: refused by the registry, not sent to the mirror
    assert_eq!(hoist_requests(&mirror), 0, "{:?}", mirror.access_log());
    assert!(upstream.count_requests("POST", "/v2/library/pushed/blobs/uploads/") >= 1);
    assert!(upstream.count_requests("PUT", "/v2/library/pushed/manifests/v1") >= 1);
}

//! Anonymous and htpasswd registries answer like a real registry does.

use base64::Engine;
mod common;

use common::upload_blob;
use hoist_testkit::TestRegistry;

#[tokio::test]
async fn anonymous_registry_accepts_a_blob_and_serves_it_back() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let ping = reg
        .client()
        .get(format!("{}/v2/", reg.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 200);
    assert_eq!(
        ping.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    let digest = upload_blob(&reg, "demo/app", b"hello blob", None).await;
    let got = reg
        .client()
        .get(format!("{}/v2/demo/app/blobs/{digest}", reg.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"hello blob");
    assert!(reg.storage_dir().join("docker/registry/v2/blobs").is_dir());
    assert!(reg.count_requests("PUT", "/v2/demo/app/blobs/uploads/") >= 1);
}

#[tokio::test]
async fn htpasswd_registry_refuses_without_credentials_and_accepts_each_user() {
    let reg = TestRegistry::builder()
        .htpasswd("alice", "wonderland")
        .htpasswd("bob", "builder")
        .start()
        .await
        .unwrap();
    let url = format!("{}/v2/", reg.url());
    let anon = reg.client().get(&url).send().await.unwrap();
    assert_eq!(anon.status(), 401);
    let challenge = anon.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");

    let wrong = reg
        .client()
        .get(&url)
        .basic_auth("alice", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    for (user, pass) in [("alice", "wonderland"), ("bob", "builder")] {
        let ok = reg
            .client()
            .get(&url)
            .basic_auth(user, Some(pass))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200, "{user}");
    }
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("bob:builder")
    );
    upload_blob(&reg, "private/x", b"secret layer", Some(&basic)).await;
}

#[tokio::test]
async fn registry_process_is_killed_on_drop() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let pid = reg.pid();
    let storage = reg.storage_dir();
    drop(reg);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(!storage.exists());
}

//! Images built and pushed by the testkit come back byte for byte from a real registry.

mod common;

use hoist_testkit::{
    Image, ImageBuilder, ImagePusher, Index, Layer, ManifestFormat, TestRegistry, TokenServer,
};

async fn get(
    reg: &TestRegistry,
    path: &str,
    accept: &str,
    bearer: Option<&str>,
) -> reqwest::Response {
    let mut req = reg
        .client()
        .get(format!("{}{path}", reg.url()))
        .header("Accept", accept);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn anonymous_push_then_pull_returns_the_same_bytes() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let image = ImageBuilder::new()
        .layer(Layer::from_files(&[("etc/hello", b"hello\n")]).unwrap())
        .layer(Layer::random(4096).unwrap())
        .build()
        .unwrap();
    let digest = ImagePusher::new(&reg)
        .push_image("demo/app", "v1", &image)
        .await
        .unwrap();
    assert_eq!(digest, image.digest());

    let manifest = get(
        &reg,
        "/v2/demo/app/manifests/v1",
        ManifestFormat::Oci.manifest_type(),
        None,
    )
    .await;
    assert_eq!(manifest.status(), 200);
    assert_eq!(manifest.headers()["docker-content-digest"], image.digest());
    assert_eq!(
        manifest.bytes().await.unwrap().as_ref(),
        image.manifest.bytes.as_slice()
    );
    for blob in image.layers.iter().chain([&image.config]) {
        let resp = get(
            &reg,
            &format!("/v2/demo/app/blobs/{}", blob.digest),
            "*/*",
            None,
        )
        .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.bytes().await.unwrap().as_ref(), blob.bytes.as_slice());
    }
    let tags: serde_json::Value = get(&reg, "/v2/demo/app/tags/list", "*/*", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["v1"]));
}

#[tokio::test]
async fn docker_manifest_list_over_two_platforms_is_served_with_its_media_type() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let f = ManifestFormat::DockerSchema2;
    let amd64 = ImageBuilder::new()
        .format(f)
        .layer(Layer::from_files(&[("arch", b"amd64")]).unwrap())
        .build()
        .unwrap();
    let arm64 = ImageBuilder::new()
        .format(f)
        .platform("linux", "arm64", Some("v8"))
        .layer(Layer::from_files(&[("arch", b"arm64")]).unwrap())
        .build()
        .unwrap();
    let index = Index::new(f, vec![amd64, arm64]).unwrap();
    ImagePusher::new(&reg)
        .push_index("multi/arch", "latest", &index)
        .await
        .unwrap();
    let resp = get(
        &reg,
        "/v2/multi/arch/manifests/latest",
        f.index_type(),
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], f.index_type());
    assert_eq!(resp.headers()["docker-content-digest"], index.digest());
    let child = &index.images[1];
    let by_digest = get(
        &reg,
        &format!("/v2/multi/arch/manifests/{}", child.digest()),
        f.manifest_type(),
        None,
    )
    .await;
    assert_eq!(by_digest.status(), 200);
    assert_eq!(by_digest.headers()["content-type"], f.manifest_type());
}

#[tokio::test]
async fn htpasswd_push_needs_the_credentials() {
    let reg = TestRegistry::htpasswd("pusher", "s3cret").await.unwrap();
    let image = Image::from_files(&[("a", b"a")]).unwrap();
    let err = ImagePusher::new(&reg)
        .push_image("x/y", "t", &image)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no credentials"), "{err}");
    ImagePusher::new(&reg)
        .credentials("pusher", "s3cret")
        .push_image("x/y", "t", &image)
        .await
        .unwrap();
}

#[tokio::test]
async fn token_push_with_admin_then_pull_with_a_read_only_user() {
    let tokens = TokenServer::builder()
        .admin("admin", "adm1n")
        .user("reader", "r")
        .grant("reader", "team/*", &["pull"])
        .start()
        .unwrap();
    let reg = TestRegistry::builder()
        .token_auth(tokens.auth_config())
        .start()
        .await
        .unwrap();
    let image = Image::from_files(&[("a", b"a")]).unwrap();
    ImagePusher::new(&reg)
        .credentials("admin", "adm1n")
        .push_image("team/app", "1.0", &image)
        .await
        .unwrap();
    // One token for the whole push: the pusher caches it per repository.
    assert_eq!(tokens.requests().len(), 1);
    let t = common::token(
        &tokens.realm(),
        tokens.service(),
        &["repository:team/app:pull"],
        Some(("reader", "r")),
    )
    .await;
    let resp = get(
        &reg,
        "/v2/team/app/manifests/1.0",
        ManifestFormat::Oci.manifest_type(),
        Some(&t),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["docker-content-digest"], image.digest());
    // The reader cannot push.
    let err = ImagePusher::new(&reg)
        .credentials("reader", "r")
        .push_image(
            "team/app",
            "2.0",
            &Image::from_files(&[("b", b"b")]).unwrap(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
}

#[test]
fn layer_from_dir_keeps_files_modes_and_symlinks() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    std::fs::write(dir.path().join("bin/run"), b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        dir.path().join("bin/run"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("bin/run", dir.path().join("run")).unwrap();
    let layer = Layer::from_dir(dir.path()).unwrap();
    let mut ar = tar::Archive::new(layer.tar.as_slice());
    let entries: Vec<(String, u32, tar::EntryType)> = ar
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                h.mode().unwrap(),
                h.entry_type(),
            )
        })
        .collect();
    assert_eq!(
        entries[0],
        ("bin".to_string(), 0o755, tar::EntryType::Directory)
    );
    assert_eq!(
        entries[1],
        ("bin/run".to_string(), 0o755, tar::EntryType::Regular)
    );
    assert_eq!(entries[2].0, "run");
    assert_eq!(entries[2].2, tar::EntryType::Symlink);
}

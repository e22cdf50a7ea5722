//! `hoist copy` end to end: the built binary against real `docker-registry` processes, with
//! HOME, DOCKER_CONFIG and the config file in a temporary directory and no store root.
//! Checks the progress lines and the digest line, `-q`, `oci:` destinations, and one-line
//! errors that leave the destination untouched.

mod sandbox;

use sandbox::{stderr, stdout, Sandbox};

use hoist_testkit::{ImageBuilder, ImagePusher, Index, Layer, ManifestFormat, TestRegistry};

async fn seeded() -> (TestRegistry, Index) {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = |arch: &str| {
        ImageBuilder::new()
            .platform("linux", arch, None)
            .layer(Layer::from_files(&[("arch.txt", arch.as_bytes())]).unwrap())
            .build()
            .unwrap()
    };
    let index = Index::new(ManifestFormat::Oci, vec![image("amd64"), image("s390x")]).unwrap();
    ImagePusher::new(&registry)
        .push_index("team/app", "v1", &index)
        .await
        .unwrap();
    (registry, index)
}

#[tokio::test]
async fn copy_prints_push_statuses_and_the_digest_line() {
    let (a, index) = seeded().await;
    let b = TestRegistry::anonymous().await.unwrap();
    let sandbox = Sandbox::new();

    let out = sandbox
        .hoist(&[
            "copy",
            &format!("docker://{}/team/app:v1", a.host()),
            &format!("{}/mirror/app:v1", b.host()),
        ])
        .await;

    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let layer = &index.images[0].layers[0].digest["sha256:".len()..][..12];
    assert!(text.contains(&format!("{layer}: Pushed")), "{text}");
    let line = format!("v1: digest: {} size: {}", index.digest(), index.index.size);
    assert!(text.contains(&line), "{text}");
    assert!(!sandbox.dir.path().join("root").exists());
}

#[tokio::test]
async fn quiet_copy_to_a_layout_prints_only_the_digest() {
    let (a, index) = seeded().await;
    let sandbox = Sandbox::new();
    let layout = sandbox.dir.path().join("layout");

    let out = sandbox
        .hoist(&[
            "copy",
            "-q",
            "--platform",
            "linux/s390x",
            &format!("{}/team/app:v1", a.host()),
            &format!("oci:{}:s390x", layout.display()),
        ])
        .await;

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{}\n", index.images[1].digest()));
    assert!(layout.join("oci-layout").exists());
}

#[tokio::test]
async fn missing_tag_fails_in_one_line_and_creates_no_layout() {
    let (a, _) = seeded().await;
    let sandbox = Sandbox::new();
    let layout = sandbox.dir.path().join("layout");

    let out = sandbox
        .hoist(&[
            "copy",
            &format!("{}/team/app:missing", a.host()),
            &format!("oci:{}:x", layout.display()),
        ])
        .await;

    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("hoist: ") && err.contains("missing"),
        "{err}"
    );
    assert!(!layout.exists());
}

#[tokio::test]
async fn malformed_location_is_refused_before_any_request() {
    let sandbox = Sandbox::new();

    let out = sandbox.hoist(&["copy", "oci:", "localhost:1/x:y"]).await;

    assert!(!out.status.success());
    assert!(stderr(&out).contains("\"oci:\""), "{}", stderr(&out));
}

/// Writes `bytes` as a blob of the layout at `dir`; its descriptor with `media_type`.
fn layout_blob(dir: &std::path::Path, media_type: &str, bytes: &[u8]) -> serde_json::Value {
    let digest = hoist::digest::Digest::sha256_of(bytes);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(blobs.join(digest.hex()), bytes).unwrap();
    serde_json::json!({"mediaType": media_type, "digest": digest.to_string(), "size": bytes.len()})
}

/// An OCI layout at `dir` holding, as `v1`, an image whose one layer is `tar` uncompressed
/// (what `skopeo copy docker-archive:… oci:…` leaves).
fn uncompressed_layout(dir: &std::path::Path, tar: &[u8], diff_id: &str) {
    let layer = layout_blob(dir, "application/vnd.oci.image.layer.v1.tar", tar);
    let config = serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}, "config": {}});
    let config = layout_blob(
        dir,
        "application/vnd.oci.image.config.v1+json",
        &serde_json::to_vec(&config).unwrap(),
    );
    let manifest = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config, "layers": [layer]});
    let mut manifest = layout_blob(
        dir,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    manifest["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "v1"});
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [manifest]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

#[tokio::test]
async fn dest_compress_gzips_uncompressed_layers_into_a_registry_that_pulls_back() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let sandbox = Sandbox::new();
    let layer = Layer::from_files(&[("etc/hostname", b"compressed on the way\n")]).unwrap();
    let layout = sandbox.dir.path().join("layout");
    uncompressed_layout(&layout, &layer.tar, &layer.diff_id);
    let dest = format!("{}/team/app:v1", registry.host());

    let out = sandbox
        .hoist(&[
            "copy",
            "--dest-compress",
            "gzip",
            &format!("oci:{}:v1", layout.display()),
            &dest,
        ])
        .await;

    assert!(out.status.success(), "{}", stderr(&out));
    let manifest: serde_json::Value = serde_json::from_slice(
        &hoist_testkit::http_client()
            .unwrap()
            .get(format!("{}/v2/team/app/manifests/v1", registry.url()))
            .header("Accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let pushed = &manifest["layers"][0];
    assert_eq!(
        pushed["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_ne!(pushed["digest"], layer.diff_id.as_str());
    // The pull checks each layer decompresses to the config's diffID.
    let pulled = sandbox.hoist(&["pull", &dest]).await;
    assert!(pulled.status.success(), "{}", stderr(&pulled));
}

//! `hoist copy` end to end: the built binary against real `docker-registry` processes, with
//! HOME, DOCKER_CONFIG and the config file in a temporary directory and no store root.
//! Checks the progress lines and the digest line, `-q`, `oci:` destinations, `hoist:` (the
//! store at `--root`) as a destination and a source, and one-line errors that leave the
//! destination untouched.

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
    // Issue 11: a summary line closes the copy.
    let summary = format!(
        "Copied docker://{}/team/app:v1 to {}/mirror/app:v1: {} (",
        a.host(),
        b.host(),
        index.digest()
    );
    let last = text.lines().last().unwrap_or_default();
    assert!(last.starts_with(&summary), "{text}");
    assert!(last.contains("blobs sent"), "{last}");
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
        err.starts_with("Error: ") && err.contains("missing"),
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

#[tokio::test]
async fn copy_into_the_store_is_listed_by_images_and_copies_back_out() {
    let (a, index) = seeded().await;
    let sandbox = Sandbox::new();
    let layout = sandbox.dir.path().join("layout");

    let into = sandbox
        .hoist(&[
            "copy",
            &format!("docker://{}/team/app:v1", a.host()),
            "hoist:app:v1",
        ])
        .await;
    let images = sandbox.hoist(&["images"]).await;
    let out = sandbox
        .hoist(&[
            "copy",
            "hoist:app:v1",
            &format!("oci:{}:v1", layout.display()),
        ])
        .await;

    assert!(into.status.success(), "{}", stderr(&into));
    let line = format!("v1: digest: {} size: {}", index.digest(), index.index.size);
    assert!(stdout(&into).contains(&line), "{}", stdout(&into));
    let listed = stdout(&images);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("app ") && l.contains(" v1 ")),
        "{listed}"
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // The store holds the index whole, so the whole index copies out.
    assert!(
        stdout(&out).contains(&format!("v1: digest: {}", index.digest())),
        "{}",
        stdout(&out)
    );
    assert!(layout.join("oci-layout").exists());
}

#[tokio::test]
async fn layout_imports_into_the_store_without_unpacking() {
    let (a, index) = seeded().await;
    let sandbox = Sandbox::new();
    let layout = sandbox.dir.path().join("layout");
    let oci = format!("oci:{}:v1", layout.display());
    let export = sandbox
        .hoist(&["copy", &format!("{}/team/app:v1", a.host()), &oci])
        .await;
    assert!(export.status.success(), "{}", stderr(&export));
    drop(a);

    let out = sandbox
        .hoist(&["copy", "-q", "--no-unpack", &oci, "hoist:imported/app:v1"])
        .await;

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{}\n", index.digest()));
    let inspect = sandbox.hoist(&["inspect", "imported/app:v1"]).await;
    assert!(inspect.status.success(), "{}", stderr(&inspect));
    let layers = std::fs::read_dir(sandbox.root().join("layers"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name() != ".lock")
                .count()
        })
        .unwrap_or(0);
    assert_eq!(layers, 0, "--no-unpack unpacked layers");
}

#[tokio::test]
async fn stored_index_copies_to_a_registry_byte_for_byte() {
    let (a, index) = seeded().await;
    let b = TestRegistry::anonymous().await.unwrap();
    let sandbox = Sandbox::new();
    let into = sandbox
        .hoist(&["copy", &format!("{}/team/app:v1", a.host()), "hoist:app:v1"])
        .await;
    assert!(into.status.success(), "{}", stderr(&into));
    drop(a);

    let out = sandbox
        .hoist(&[
            "copy",
            "hoist:app:v1",
            &format!("docker://{}/out/app:v1", b.host()),
        ])
        .await;

    assert!(out.status.success(), "{}", stderr(&out));
    let raw = hoist_testkit::skopeo::inspect_raw(&format!("docker://{}/out/app:v1", b.host()));
    assert_eq!(raw, index.index.bytes);
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

#[tokio::test]
async fn an_unknown_transport_is_refused_naming_the_ones_that_exist() {
    let sandbox = Sandbox::new();
    let dir = sandbox.dir.path().join("d");

    let out = sandbox
        .hoist(&[
            "copy",
            "containers-storage:app:v1",
            &format!("dir:{}", dir.display()),
        ])
        .await;

    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    for transport in [
        "docker://REF",
        "oci:PATH[:TAG]",
        "dir:PATH",
        "docker-archive:PATH[:REF]",
        "oci-archive:PATH[:TAG]",
        "hoist:REF",
    ] {
        assert!(err.contains(transport), "{err}");
    }
    assert!(!dir.exists());
}

#[tokio::test]
async fn copy_through_dir_and_oci_archive_keeps_the_index_digest() {
    let (a, index) = seeded().await;
    let b = TestRegistry::anonymous().await.unwrap();
    let sandbox = Sandbox::new();
    let dir = format!("dir:{}", sandbox.dir.path().join("d").display());
    let archive = format!(
        "oci-archive:{}:v1",
        sandbox.dir.path().join("o.tar").display()
    );
    let hops = [
        format!("docker://{}/team/app:v1", a.host()),
        dir,
        archive,
        format!("docker://{}/back/app:v1", b.host()),
    ];

    for pair in hops.windows(2) {
        let out = sandbox.hoist(&["copy", "-q", &pair[0], &pair[1]]).await;
        assert!(out.status.success(), "{pair:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), format!("{}\n", index.digest()), "{pair:?}");
    }
}

#[tokio::test]
async fn a_docker_archive_destination_takes_one_platform_and_loads_back() {
    let (a, index) = seeded().await;
    let sandbox = Sandbox::new();
    let tar = sandbox.dir.path().join("app.tar");

    let out = sandbox
        .hoist(&[
            "copy",
            "--platform",
            "linux/s390x",
            &format!("{}/team/app:v1", a.host()),
            &format!("docker-archive:{}:team/app:v1", tar.display()),
        ])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let load = sandbox
        .hoist(&["load", "-i", &tar.display().to_string()])
        .await;

    assert!(load.status.success(), "{}", stderr(&load));
    assert_eq!(stdout(&load), "Loaded image: team/app:v1\n");
    let inspect = sandbox.hoist(&["inspect", "team/app:v1"]).await;
    assert!(inspect.status.success(), "{}", stderr(&inspect));
    let config_digest = hoist_testkit::sha256_digest(&index.images[1].config.bytes);
    assert!(
        stdout(&inspect).contains(&config_digest),
        "{}",
        stdout(&inspect)
    );

    let copied = sandbox
        .hoist(&[
            "copy",
            "-q",
            &format!("docker-archive:{}", tar.display()),
            "hoist:copied/app:v1",
        ])
        .await;
    assert!(copied.status.success(), "{}", stderr(&copied));
    let inspect = sandbox.hoist(&["inspect", "copied/app:v1"]).await;
    assert!(
        stdout(&inspect).contains(&config_digest),
        "{}",
        stdout(&inspect)
    );
}

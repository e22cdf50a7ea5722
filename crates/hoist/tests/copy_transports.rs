//! `copy` through the file transports — `dir:`, `docker-archive:`, `oci-archive:` — to and
//! from registries and `oci:` layouts: digests kept where the format can hold the image as it
//! is (`dir:`, `oci-archive:`: gzip, zstd and uncompressed layers, an index of three
//! platforms), the image ID kept where it cannot (`docker-archive:` holds one platform with
//! uncompressed layers, as `docker save` and skopeo write it), and interoperability with
//! skopeo both ways.

mod support;

use std::path::Path;

use hoist::copy::{CopyError, CopyOptions};
use hoist::media::Platform;
use hoist_testkit::{Blob, ImageBuilder, ImagePusher, Index, Layer, ManifestFormat, TestRegistry};

use support::copy::{
    assert_index_copied, copy_between, fast_copy_options, seed_index, skopeo_raw,
    three_platform_index,
};
use support::skopeo::{self, inspect_config};

const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// An OCI image with three layers: gzip, zstd and uncompressed, pushed as `repo:v1`; returns
/// the manifest bytes and the config bytes.
async fn seed_mixed(registry: &TestRegistry, repo: &str) -> (Blob, Blob, Vec<Layer>) {
    let layers = vec![
        Layer::from_files(&[("gzip.txt", b"gzip")]).unwrap(),
        Layer::random(64 << 10).unwrap(),
        Layer::from_files(&[("plain.txt", b"plain")]).unwrap(),
    ];
    let mut builder = ImageBuilder::new().platform("linux", "amd64", None);
    for layer in &layers {
        builder = builder.layer(layer.clone());
    }
    let base = builder.build().unwrap();
    let blobs = [
        base.layers[0].clone(),
        Blob::new(
            OCI_LAYER_ZSTD,
            zstd::encode_all(layers[1].tar.as_slice(), 3).unwrap(),
        ),
        Blob::new(OCI_LAYER, layers[2].tar.clone()),
    ];
    let mut manifest: serde_json::Value = serde_json::from_slice(&base.manifest.bytes).unwrap();
    manifest["layers"] = blobs.iter().map(Blob::descriptor).collect();
    let manifest = Blob::new(
        &base.manifest.media_type,
        serde_json::to_vec(&manifest).unwrap(),
    );
    let pusher = ImagePusher::new(registry);
    for blob in blobs.iter().chain([&base.config]) {
        pusher.push_blob(repo, blob).await.unwrap();
    }
    pusher.push_manifest(repo, "v1", &manifest).await.unwrap();
    (manifest, base.config, layers)
}

async fn copy_ok(src: &str, dst: &str) {
    copy_with_options(src, dst, fast_copy_options()).await;
}

async fn copy_with_options(src: &str, dst: &str, options: CopyOptions) {
    let (result, _) = copy_between(src, dst, options).await;
    if let Err(e) = result {
        panic!("copy {src} {dst}: {e:?}");
    }
}

/// Every file under `dir` (relative name ⇒ bytes), recursively.
fn files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut found = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if entry.file_type().unwrap().is_dir() {
            for (sub, bytes) in files(&entry.path()) {
                found.insert(format!("{name}/{sub}"), bytes);
            }
        } else {
            found.insert(name, std::fs::read(entry.path()).unwrap());
        }
    }
    found
}

#[tokio::test]
async fn index_of_three_platforms_keeps_every_digest_through_dir_and_oci_archive() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let index = three_platform_index(ManifestFormat::Oci);
    seed_index(&a, "src/app", "v1", &index).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = format!("dir:{}", tmp.path().join("d").display());
    let archive = format!("oci-archive:{}:v1", tmp.path().join("o.tar").display());
    let layout = format!("oci:{}:v1", tmp.path().join("layout").display());

    copy_ok(&format!("{}/src/app:v1", a.host()), &dir).await;
    assert_eq!(skopeo_raw(&dir), index.index.bytes);
    copy_ok(&dir, &archive).await;
    assert_eq!(skopeo_raw(&archive), index.index.bytes);
    copy_ok(&archive, &layout).await;
    copy_ok(&layout, &format!("{}/back/app:v1", b.host())).await;

    assert_eq!(
        skopeo_raw(&format!("docker://{}/back/app:v1", b.host())),
        index.index.bytes
    );
    assert_index_copied(&b.url(), "back/app", &index).await;
    assert!(!tmp.path().join("d/.hoist-ingest").exists());
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn gzip_zstd_and_uncompressed_layers_keep_their_digests_through_dir_and_oci_archive() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let (manifest, _, _) = seed_mixed(&a, "mixed").await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = format!("dir:{}", tmp.path().join("d").display());
    let archive = format!("oci-archive:{}", tmp.path().join("o.tar").display());

    copy_ok(&format!("{}/mixed:v1", a.host()), &dir).await;
    copy_ok(&dir, &archive).await;
    copy_ok(&archive, &format!("{}/mixed:v1", b.host())).await;

    assert_eq!(
        skopeo_raw(&format!("docker://{}/mixed:v1", b.host())),
        manifest.bytes
    );
}

#[tokio::test]
async fn docker_archive_keeps_the_image_id_with_uncompressed_layers_and_rewrites_identically() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let (_, config, layers) = seed_mixed(&a, "mixed").await;
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first.tar");
    let second = tmp.path().join("second.tar");

    copy_ok(
        &format!("{}/mixed:v1", a.host()),
        &format!("docker-archive:{}:mixed:v1", first.display()),
    )
    .await;
    copy_ok(
        &format!("docker-archive:{}", first.display()),
        &format!("docker-archive:{}:mixed:v1", second.display()),
    )
    .await;
    assert_eq!(
        std::fs::read(&first).unwrap(),
        std::fs::read(&second).unwrap()
    );

    copy_ok(
        &format!("docker-archive:{}:mixed:v1", first.display()),
        &format!("{}/back:v1", b.host()),
    )
    .await;
    let raw = skopeo_raw(&format!("docker://{}/back:v1", b.host()));
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(manifest["config"]["digest"], config.digest, "same image ID");
    for (layer, expected) in manifest["layers"].as_array().unwrap().iter().zip(&layers) {
        assert_eq!(
            layer["digest"], expected.diff_id,
            "layers are the uncompressed tars"
        );
        assert_eq!(
            layer["mediaType"],
            "application/vnd.docker.image.rootfs.diff.tar"
        );
    }
}

#[tokio::test]
async fn docker_archive_holds_one_platform_of_an_index() {
    let a = TestRegistry::anonymous().await.unwrap();
    let index = three_platform_index(ManifestFormat::DockerSchema2);
    seed_index(&a, "multi", "v1", &index).await;
    let tmp = tempfile::tempdir().unwrap();
    let tar = tmp.path().join("one.tar");
    let dst = format!("docker-archive:{}:multi:v1", tar.display());

    let (whole, _) =
        copy_between(&format!("{}/multi:v1", a.host()), &dst, fast_copy_options()).await;
    let err = whole.unwrap_err();
    assert!(err.to_string().contains("one image, not an index"), "{err}");
    assert!(!tar.exists());

    let options = CopyOptions {
        platform: Some(Platform::parse("linux/arm64/v8").unwrap()),
        ..fast_copy_options()
    };
    copy_with_options(&format!("{}/multi:v1", a.host()), &dst, options).await;
    let config = inspect_config(&format!("docker-archive:{}", tar.display()));
    assert_eq!(
        config, index.images[1].config.bytes,
        "skopeo reads the arm64 config"
    );
}

#[tokio::test]
async fn dir_written_by_hoist_is_byte_identical_to_skopeos() {
    let a = TestRegistry::anonymous().await.unwrap();
    let index = three_platform_index(ManifestFormat::Oci);
    seed_index(&a, "src/app", "v1", &index).await;
    let tmp = tempfile::tempdir().unwrap();
    let by_skopeo = tmp.path().join("skopeo");
    let by_hoist = tmp.path().join("hoist");
    let src = format!("docker://{}/src/app:v1", a.host());

    skopeo::run(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &src,
        &format!("dir:{}", by_skopeo.display()),
    ]);
    copy_ok(&src, &format!("dir:{}", by_hoist.display())).await;

    assert_eq!(files(&by_hoist), files(&by_skopeo));
}

#[tokio::test]
async fn skopeo_written_dir_and_archives_copy_to_a_registry() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let index = three_platform_index(ManifestFormat::Oci);
    seed_index(&a, "src/app", "v1", &index).await;
    let gzip = seed_gzip(&a, "mixed").await;
    let (manifest, config) = (gzip.manifest, gzip.config);
    let tmp = tempfile::tempdir().unwrap();
    let src = format!("docker://{}/src/app:v1", a.host());
    let dir = format!("dir:{}", tmp.path().join("d").display());
    let oci_archive = format!("oci-archive:{}:v1", tmp.path().join("o.tar").display());
    let docker_archive = format!(
        "docker-archive:{}:mixed:v1",
        tmp.path().join("d.tar").display()
    );
    for dst in [&dir, &oci_archive] {
        skopeo::run(&["copy", "--all", "--src-tls-verify=false", &src, dst]);
    }
    skopeo::run(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/mixed:v1", a.host()),
        &docker_archive,
    ]);

    for (from, repo) in [(&dir, "from-dir"), (&oci_archive, "from-oci-archive")] {
        copy_ok(from, &format!("{}/{repo}:v1", b.host())).await;
        assert_eq!(
            skopeo_raw(&format!("docker://{}/{repo}:v1", b.host())),
            index.index.bytes,
            "{from}"
        );
        assert_index_copied(&b.url(), repo, &index).await;
    }
    copy_ok(
        &docker_archive,
        &format!("{}/from-docker-archive:v1", b.host()),
    )
    .await;
    let raw = skopeo_raw(&format!("docker://{}/from-docker-archive:v1", b.host()));
    let copied: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(copied["config"]["digest"], config.digest, "same image ID");
    assert_ne!(
        raw, manifest.bytes,
        "docker-archive layers are uncompressed"
    );
}

#[tokio::test]
async fn skopeo_reads_the_archives_hoist_writes() {
    let a = TestRegistry::anonymous().await.unwrap();
    let index = three_platform_index(ManifestFormat::Oci);
    seed_index(&a, "src/app", "v1", &index).await;
    let tmp = tempfile::tempdir().unwrap();
    let oci_archive = format!("oci-archive:{}:v1", tmp.path().join("o.tar").display());
    let docker_archive = format!(
        "docker-archive:{}:app:v1",
        tmp.path().join("d.tar").display()
    );
    copy_ok(&format!("{}/src/app:v1", a.host()), &oci_archive).await;
    let options = CopyOptions {
        platform: Some(Platform::parse("linux/s390x").unwrap()),
        ..fast_copy_options()
    };
    copy_with_options(
        &format!("{}/src/app:v1", a.host()),
        &docker_archive,
        options,
    )
    .await;

    let by_skopeo = tmp.path().join("by-skopeo");
    skopeo::run(&[
        "copy",
        "--all",
        &oci_archive,
        &format!("oci:{}:v1", by_skopeo.display()),
    ]);
    assert_eq!(
        skopeo_raw(&format!("oci:{}:v1", by_skopeo.display())),
        index.index.bytes
    );
    let config = inspect_config(&docker_archive);
    assert_eq!(config, index.images[2].config.bytes);
}

/// A gzip-only image pushed as `repo:v1` (skopeo 1.9 refuses to write zstd layers into a
/// docker-archive: "zstd compression is not supported for docker images"; hoist decompresses
/// them, as the docker-archive test above shows).
async fn seed_gzip(registry: &TestRegistry, repo: &str) -> hoist_testkit::Image {
    let image = ImageBuilder::new()
        .format(ManifestFormat::DockerSchema2)
        .layer(Layer::from_files(&[("g.txt", b"g")]).unwrap())
        .layer(Layer::random(32 << 10).unwrap())
        .build()
        .unwrap();
    ImagePusher::new(registry)
        .push_image(repo, "v1", &image)
        .await
        .unwrap();
    image
}

#[tokio::test]
async fn a_docker_archive_image_is_named_by_tag_or_position() {
    let a = TestRegistry::anonymous().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let tar = tmp.path().join("one.tar");
    let image = seed_gzip(&a, "mixed").await;
    let config = image.config;
    skopeo::run(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/mixed:v1", a.host()),
        &format!("docker-archive:{}:mixed:v1", tar.display()),
    ]);
    let one = format!("docker-archive:{}", tar.display());
    let layout = tmp.path().join("layout");

    copy_ok(&format!("{one}:@0"), &format!("oci:{}:a", layout.display())).await;
    let other = tmp.path().join("other");
    copy_ok(
        &format!("{one}:mixed:v1"),
        &format!("oci:{}:b", other.display()),
    )
    .await;
    // skopeo 1.9 does not read Docker schema 2 manifests from an OCI layout: read it here.
    let root = |dir: &Path| {
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        index["manifests"][0]["digest"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        root(&layout),
        root(&other),
        "@0 and its tag are the same image"
    );
    for absent in ["other:v1", "@1"] {
        let (missing, _) = copy_between(
            &format!("{one}:{absent}"),
            &format!("oci:{}:c", layout.display()),
            fast_copy_options(),
        )
        .await;
        assert!(
            matches!(missing, Err(CopyError::NotFound { .. })),
            "{missing:?}"
        );
    }
    let digest = root(&layout);
    let raw = std::fs::read(layout.join("blobs/sha256").join(&digest["sha256:".len()..])).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(manifest["config"]["digest"], config.digest);
}

/// Indexes that share nothing with the seeded images, for the hostile cases.
fn small_index() -> Index {
    Index::new(
        ManifestFormat::Oci,
        vec![ImageBuilder::new()
            .layer(Layer::from_files(&[("a.txt", b"a")]).unwrap())
            .build()
            .unwrap()],
    )
    .unwrap()
}

#[tokio::test]
async fn small_index_round_trips_through_every_file_transport() {
    let a = TestRegistry::anonymous().await.unwrap();
    let index = small_index();
    seed_index(&a, "small", "v1", &index).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut previous = format!("docker://{}/small:v1", a.host());
    for (n, dst) in [
        format!("dir:{}", tmp.path().join("d").display()),
        format!("oci-archive:{}:v1", tmp.path().join("o.tar").display()),
        format!("oci:{}:v1", tmp.path().join("l").display()),
        format!("docker://{}/small-back:v1", a.host()),
    ]
    .iter()
    .enumerate()
    {
        copy_ok(&previous, dst).await;
        assert_eq!(skopeo_raw(dst), index.index.bytes, "step {n}: {dst}");
        previous = dst.clone();
    }
}

#[tokio::test]
async fn an_oci_archive_of_three_platforms_written_by_skopeo_loads_the_hosts() {
    let a = TestRegistry::anonymous().await.unwrap();
    let index = three_platform_index(ManifestFormat::Oci);
    seed_index(&a, "src/app", "v1", &index).await;
    let tmp = tempfile::tempdir().unwrap();
    let tar = tmp.path().join("o.tar");
    skopeo::run(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &format!("docker://{}/src/app:v1", a.host()),
        &format!("oci-archive:{}:example.com/team/app:7", tar.display()),
    ]);
    let content = hoist::store::ContentStore::open(&tmp.path().join("root")).unwrap();
    let meta = hoist::store::MetadataStore::open(&content).unwrap();

    let report = hoist::copy::load_archive(&meta, std::fs::File::open(&tar).unwrap()).unwrap();

    let host = Platform::host();
    let image = index
        .images
        .iter()
        .find(|i| i.platform.architecture == host.architecture)
        .expect("the host's platform is one of the three");
    assert_eq!(report.images.len(), 1);
    assert_eq!(report.images[0].manifest_digest.as_str(), image.digest());
    assert_eq!(
        report.events[0].to_string(),
        "Loaded image: example.com/team/app:7"
    );
    let record = meta
        .image(&report.images[0].manifest_digest)
        .unwrap()
        .unwrap();
    assert_eq!(record.image_id.as_str(), image.config.digest);
}

/// skopeo's view of a docker-archive: its config bytes and its layer digests.
fn skopeo_view(archive: &str) -> (Vec<u8>, Vec<serde_json::Value>) {
    let config = inspect_config(archive);
    let manifest: serde_json::Value = serde_json::from_slice(&skopeo_raw(archive)).unwrap();
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].clone())
        .collect();
    (config, layers)
}

#[tokio::test]
async fn a_docker_archive_of_an_index_holds_what_skopeo_writes_for_this_host() {
    let a = TestRegistry::anonymous().await.unwrap();
    let index = three_platform_index(ManifestFormat::Oci);
    seed_index(&a, "src/app", "v1", &index).await;
    let tmp = tempfile::tempdir().unwrap();
    let by_skopeo = format!(
        "docker-archive:{}:app:v1",
        tmp.path().join("s.tar").display()
    );
    let by_hoist = format!(
        "docker-archive:{}:app:v1",
        tmp.path().join("h.tar").display()
    );
    let src = format!("docker://{}/src/app:v1", a.host());
    // Without --all skopeo takes this host's platform from the index (with --all it refuses:
    // a docker-archive cannot hold an index); `hoist copy` does the same by default.
    skopeo::run(&["copy", "--src-tls-verify=false", &src, &by_skopeo]);
    let options = CopyOptions {
        platform: Some(Platform::host()),
        ..fast_copy_options()
    };
    copy_with_options(&src, &by_hoist, options).await;

    let (skopeo_config, skopeo_layers) = skopeo_view(&by_skopeo);
    let (hoist_config, hoist_layers) = skopeo_view(&by_hoist);
    assert_eq!(hoist_config, skopeo_config, "the same image ID");
    assert_eq!(hoist_layers, skopeo_layers, "the same uncompressed layers");
}

//! `copy` into and out of the local store (`hoist:REF`): a registry or an OCI layout copied
//! into the store is recorded as a pull records it (tag, digest reference, blob sources,
//! diffIDs checked, layers unpacked), an index copied whole is complete, a stored image copies
//! out to a layout umoci unpacks, and a bad blob or a lying config records nothing.

mod support;

use std::path::Path;
use std::sync::Arc;

use hoist::copy::{
    complete_index, copy, CopyError, CopyOutcome, ImageLocation, ImageSink, ImageSource,
    LayoutSink, RecordError, StoreSink, StoreSource,
};
use hoist::digest::Digest;
use hoist::export::{export_image, ExportOptions};
use hoist::images::list_images;
use hoist::media::Platform;
use hoist::progress::Status;
use hoist::reference::Reference;
use hoist_testkit::tree::{differences, snapshot};
use hoist_testkit::{
    Blob, FaultProxy, Image, ImageBuilder, ImagePusher, Layer, ManifestFormat, Rule, TestRegistry,
};

use support::copy::{copy_between, fast_copy_options, seed_index, two_platform_index};
use support::layers::{umoci_rootfs, LayeredStore};
use support::pull::{anonymous_client, push, Recorder};

/// A two-layer image with files, directories and a symlink.
fn image() -> Image {
    let base = Layer::builder()
        .dir("etc")
        .file("etc/os-release", b"ID=hoist\n")
        .dir("usr")
        .dir("usr/bin")
        .file_mode("usr/bin/tool", b"#!/bin/sh\necho tool\n", 0o755)
        .symlink("usr/bin/sh", "tool")
        .build()
        .unwrap();
    let top = Layer::builder()
        .dir("etc")
        .whiteout("etc/os-release")
        .file("etc/motd", b"copied, not pulled\n")
        .build()
        .unwrap();
    ImageBuilder::new().layer(base).layer(top).build().unwrap()
}

/// Copies `src` (a registry or layout location) into `store` as `tag`, unpacking or not.
async fn copy_into(
    store: &LayeredStore,
    src: &str,
    tag: &str,
    unpack: bool,
) -> (Result<CopyOutcome, CopyError>, Recorder) {
    let progress = Recorder::default();
    let client = anonymous_client();
    let source: Box<dyn ImageSource> = match ImageLocation::parse(src).unwrap() {
        ImageLocation::Store(r) => Box::new(StoreSource::new(Arc::clone(&store.meta), &r)),
        _ => support::copy::open_source(&client, src).unwrap(),
    };
    let root = match source.resolve().await {
        Ok(root) => root,
        Err(e) => return (Err(e), progress),
    };
    let sink = StoreSink::open(Arc::clone(&store.meta), &Reference::parse(tag).unwrap())
        .unwrap()
        .with_layers(store.layers.clone())
        .with_source(source.repository());
    let sink = if unpack { sink } else { sink.without_unpack() };
    let result = copy(
        source.as_ref(),
        &sink,
        &root,
        &fast_copy_options(),
        &progress,
    )
    .await;
    (result, progress)
}

/// Copies the stored image `tag` of `store` to the layout `dir` as `dir_tag`.
async fn copy_out(store: &LayeredStore, tag: &str, dir: &Path, dir_tag: &str) -> CopyOutcome {
    let source = StoreSource::new(Arc::clone(&store.meta), &Reference::parse(tag).unwrap());
    let root = source.resolve().await.unwrap();
    let sink = LayoutSink::open(dir, Some(dir_tag)).unwrap();
    copy(
        &source,
        &sink,
        &root,
        &fast_copy_options(),
        &Recorder::default(),
    )
    .await
    .unwrap()
}

fn digest(text: &str) -> Digest {
    Digest::parse(text).unwrap()
}

fn assert_same_tree(expected: &Path, actual: &Path) {
    let want = snapshot(expected).unwrap();
    let got = snapshot(actual).unwrap();
    assert!(
        want.len() > 4,
        "umoci's rootfs is suspiciously small: {want:?}"
    );
    let diffs = differences(&want, &got);
    assert!(diffs.is_empty(), "trees differ:\n{}", diffs.join("\n"));
}

/// Nothing recorded: no image, no reference, no layer.
fn assert_nothing_recorded(store: &LayeredStore) {
    assert!(store.meta.images().unwrap().is_empty());
    assert!(store.meta.all_references().unwrap().is_empty());
    assert!(store.layer_dirs().is_empty(), "{:?}", store.layer_dirs());
}

#[tokio::test]
async fn registry_to_store_exports_the_same_tree_as_umoci() {
    let registry = TestRegistry::anonymous().await.unwrap();
    push(&registry, "src/app", "v1", &image()).await;
    let work = tempfile::tempdir().unwrap();
    let expected = umoci_rootfs(&registry, "src/app:v1", work.path());
    let store = LayeredStore::new();

    let (result, _) = copy_into(
        &store,
        &format!("docker://{}/src/app:v1", registry.host()),
        "app:v1",
        true,
    )
    .await;

    result.unwrap();
    assert_eq!(store.layer_dirs().len(), 2, "{:?}", store.layer_dirs());
    let target = store
        .meta
        .reference(&Reference::parse("app:v1").unwrap())
        .unwrap()
        .unwrap();
    let record = store.meta.image(&target.manifest_digest).unwrap().unwrap();
    let out = work.path().join("export");
    export_image(
        &store.meta,
        Some(&store.layers),
        &record,
        &out,
        &ExportOptions::default(),
    )
    .unwrap();
    assert_same_tree(&expected, &out);
}

#[tokio::test]
async fn copied_image_is_listed_with_its_tag_and_digest_reference() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = image();
    push(&registry, "src/app", "v1", &image).await;
    let store = LayeredStore::new();

    copy_into(
        &store,
        &format!("{}/src/app:v1", registry.host()),
        "app:v1",
        true,
    )
    .await
    .0
    .unwrap();

    let rows = list_images(&store.meta, None).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].tag.as_ref().unwrap().as_str(), "v1");
    assert_eq!(rows[0].image_id, digest(&image.config.digest));
    assert_eq!(rows[0].manifest_digest, digest(image.digest()));
    let by_digest = Reference::parse(&format!("app@{}", image.digest())).unwrap();
    let target = store.meta.reference(&by_digest).unwrap().unwrap();
    assert_eq!(target.manifest_digest, digest(image.digest()));
    // Blob sources, as pull records them: the layer was seen in the source repository.
    let diff_id = digest(&image.diff_ids[0]);
    let sources = store.meta.blob_sources(&diff_id).unwrap();
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert_eq!(
        sources[0].source.repository.as_str(),
        format!("{}/src/app", registry.host())
    );
}

#[tokio::test]
async fn index_copied_whole_is_complete_and_tagged_at_the_host_platform() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let index = two_platform_index(ManifestFormat::Oci);
    seed_index(&registry, "src/app", "v1", &index).await;
    let store = LayeredStore::new();

    let (result, _) = copy_into(
        &store,
        &format!("{}/src/app:v1", registry.host()),
        "app:v1",
        true,
    )
    .await;

    assert_eq!(result.unwrap().root.digest, digest(index.digest()));
    let whole = complete_index(&store.meta, &digest(index.digest()))
        .unwrap()
        .expect("the index should be whole in the store");
    assert_eq!(whole.bytes.as_ref(), index.index.bytes.as_slice());
    let target = store
        .meta
        .reference(&Reference::parse("app:v1").unwrap())
        .unwrap()
        .unwrap();
    let tagged = store.meta.image(&target.manifest_digest).unwrap().unwrap();
    let host = Platform::host();
    assert_eq!(tagged.platform.architecture, host.architecture);
    assert_eq!(tagged.index_digest, Some(digest(index.digest())));
    // Resolving the tag from the store gives the index back, as after pull --all-platforms.
    let source = StoreSource::new(
        Arc::clone(&store.meta),
        &Reference::parse("app:v1").unwrap(),
    );
    assert_eq!(
        source.resolve().await.unwrap().digest,
        digest(index.digest())
    );
    for child in &index.images {
        let by_digest = Reference::parse(&format!("app@{}", child.digest())).unwrap();
        assert!(
            store.meta.reference(&by_digest).unwrap().is_some(),
            "no digest reference for {}",
            child.digest()
        );
    }
}

#[tokio::test]
async fn layout_to_store_imports_without_a_registry() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = image();
    push(&registry, "src/app", "v1", &image).await;
    let dir = tempfile::tempdir().unwrap();
    let oci = format!("oci:{}:v1", dir.path().join("layout").display());
    copy_between(
        &format!("{}/src/app:v1", registry.host()),
        &oci,
        fast_copy_options(),
    )
    .await
    .0
    .unwrap();
    drop(registry);
    let store = LayeredStore::new();

    let (result, _) = copy_into(&store, &oci, "imported/app:v1", true).await;

    result.unwrap();
    let target = store
        .meta
        .reference(&Reference::parse("imported/app:v1").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(target.manifest_digest, digest(image.digest()));
    assert_eq!(store.layer_dirs().len(), 2, "{:?}", store.layer_dirs());
    // No registry, so no blob source to mount from later.
    let diff_id = digest(&image.diff_ids[0]);
    assert!(store.meta.blob_sources(&diff_id).unwrap().is_empty());
}

#[tokio::test]
async fn store_to_layout_unpacks_with_umoci_like_the_original() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = image();
    push(&registry, "src/app", "v1", &image).await;
    let work = tempfile::tempdir().unwrap();
    let expected = umoci_rootfs(&registry, "src/app:v1", work.path());
    let store = LayeredStore::new();
    copy_into(
        &store,
        &format!("{}/src/app:v1", registry.host()),
        "app:v1",
        false,
    )
    .await
    .0
    .unwrap();
    let layout = work.path().join("out");

    let outcome = copy_out(&store, "app:v1", &layout, "v1").await;

    assert_eq!(outcome.root.digest, digest(image.digest()));
    let bundle = work.path().join("out-bundle");
    let mut umoci = std::process::Command::new("umoci");
    umoci.arg("unpack");
    if !support::layers::is_root() {
        umoci.arg("--rootless");
    }
    let out = umoci
        .arg("--image")
        .arg(format!("{}:v1", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_same_tree(&expected, &bundle.join("rootfs"));
}

#[tokio::test]
async fn corrupted_blob_fails_clearly_and_records_nothing() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = image();
    push(&registry, "src/app", "v1", &image).await;
    let proxy = FaultProxy::start(&registry).await.unwrap();
    proxy.rule(
        Rule::matching(&format!("GET /v2/src/app/blobs/{}", image.layers[1].digest))
            .corrupt_byte(10),
    );
    let store = LayeredStore::new();

    let (result, _) = copy_into(
        &store,
        &format!("{}/src/app:v1", proxy.host()),
        "app:v1",
        true,
    )
    .await;

    let err = result.unwrap_err();
    let text = format!("{err}");
    assert!(text.contains("hoist:docker.io/library/app:v1"), "{text}");
    assert!(text.contains(&image.layers[1].digest), "{text}");
    assert!(
        !store
            .meta
            .content()
            .has(&digest(&image.layers[1].digest))
            .unwrap(),
        "the corrupted blob must not be stored"
    );
    assert_nothing_recorded(&store);
}

#[tokio::test]
async fn copying_again_transfers_nothing() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = image();
    push(&registry, "src/app", "v1", &image).await;
    let store = LayeredStore::new();
    let src = format!("{}/src/app:v1", registry.host());
    copy_into(&store, &src, "app:v1", true).await.0.unwrap();
    let gets_before = support::pull::blob_gets(&registry);

    let (result, progress) = copy_into(&store, &src, "app:v1", true).await;

    let outcome = result.unwrap();
    assert_eq!(outcome.copied, 0, "{outcome:?}");
    assert_eq!(outcome.existing, 3, "{outcome:?}");
    assert_eq!(support::pull::blob_gets(&registry), gets_before);
    for layer in &image.layers {
        assert!(
            progress
                .statuses_of(&layer.digest)
                .contains(&Status::AlreadyExists),
            "{:?}",
            progress.lines()
        );
    }
}

#[tokio::test]
async fn layers_not_matching_the_config_fail_and_record_nothing() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let real = Image::from_files(&[("real", b"real")]).unwrap();
    let other = Image::from_files(&[("other", b"other")]).unwrap();
    // The real image's layer, with a config claiming another layer's diffID.
    let mut config: serde_json::Value = serde_json::from_slice(&real.config.bytes).unwrap();
    config["rootfs"]["diff_ids"] = serde_json::json!([other.diff_ids[0]]);
    let config = Blob::new(
        &real.config.media_type,
        serde_json::to_vec(&config).unwrap(),
    );
    let mut manifest: serde_json::Value = serde_json::from_slice(&real.manifest.bytes).unwrap();
    manifest["config"] = config.descriptor();
    let manifest = Blob::new(
        &real.manifest.media_type,
        serde_json::to_vec(&manifest).unwrap(),
    );
    let pusher = ImagePusher::new(&registry);
    pusher.push_blob("bad", &real.layers[0]).await.unwrap();
    pusher.push_blob("bad", &config).await.unwrap();
    pusher.push_manifest("bad", "v1", &manifest).await.unwrap();

    for unpack in [true, false] {
        let store = LayeredStore::new();
        let (result, _) = copy_into(
            &store,
            &format!("{}/bad:v1", registry.host()),
            "bad:v1",
            unpack,
        )
        .await;

        let err = result.unwrap_err();
        let CopyError::Record { source, .. } = &err else {
            panic!("{err:?}");
        };
        assert!(
            matches!(**source, RecordError::LayersDontMatchConfig { .. }),
            "{source:?}"
        );
        assert!(
            err.to_string()
                .ends_with("layers from manifest don't match image configuration"),
            "{err}"
        );
        assert_nothing_recorded(&store);
    }
}

#[tokio::test]
async fn no_unpack_records_the_image_without_layers() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = image();
    push(&registry, "src/app", "v1", &image).await;
    let store = LayeredStore::new();

    copy_into(
        &store,
        &format!("{}/src/app:v1", registry.host()),
        "app:v1",
        false,
    )
    .await
    .0
    .unwrap();

    assert!(store.layer_dirs().is_empty(), "{:?}", store.layer_dirs());
    assert!(store.meta.image(&digest(image.digest())).unwrap().is_some());
}

#[tokio::test]
async fn digest_destination_is_refused() {
    let store = LayeredStore::new();
    let reference = Reference::parse(&format!("app@sha256:{}", "a".repeat(64))).unwrap();

    let err = StoreSink::open(Arc::clone(&store.meta), &reference).unwrap_err();

    assert!(matches!(err, CopyError::Location { .. }), "{err:?}");
    assert!(err.to_string().contains("needs a tag"), "{err}");
}

#[test]
fn store_sink_names_itself_and_its_tag() {
    let store = LayeredStore::new();
    let sink = StoreSink::open(Arc::clone(&store.meta), &Reference::parse("app").unwrap()).unwrap();
    assert_eq!(sink.location(), "hoist:docker.io/library/app:latest");
    assert_eq!(sink.tag().as_deref(), Some("latest"));
}

/// Copies the stored image `tag` of `store` to `dst` (any file transport).
async fn copy_out_to(store: &LayeredStore, tag: &str, dst: &str) -> CopyOutcome {
    let source = StoreSource::new(Arc::clone(&store.meta), &Reference::parse(tag).unwrap());
    let root = source.resolve().await.unwrap();
    let sink: Box<dyn ImageSink> = match ImageLocation::parse(dst).unwrap() {
        ImageLocation::Dir(path) => Box::new(hoist::copy::DirSink::open(&path).unwrap()),
        ImageLocation::OciArchive { path, tag } => {
            Box::new(hoist::copy::OciArchiveSink::open(&path, tag.as_deref()).unwrap())
        }
        other => panic!("not a file transport: {other}"),
    };
    copy(
        &source,
        sink.as_ref(),
        &root,
        &fast_copy_options(),
        &Recorder::default(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn three_platforms_through_dir_into_the_store_and_out_to_an_oci_archive_keep_digests() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let index = support::copy::three_platform_index(ManifestFormat::Oci);
    seed_index(&registry, "src/app", "v1", &index).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = format!("dir:{}", tmp.path().join("d").display());
    copy_between(
        &format!("docker://{}/src/app:v1", registry.host()),
        &dir,
        fast_copy_options(),
    )
    .await
    .0
    .unwrap();
    let store = LayeredStore::new();

    let (result, _) = copy_into(&store, &dir, "app:v1", false).await;

    assert_eq!(result.unwrap().root.digest, digest(index.digest()));
    assert!(complete_index(&store.meta, &digest(index.digest()))
        .unwrap()
        .is_some());
    let archive = format!("oci-archive:{}:v1", tmp.path().join("o.tar").display());
    let out = copy_out_to(&store, "app:v1", &archive).await;
    assert_eq!(out.root.digest, digest(index.digest()));
    assert_eq!(support::copy::skopeo_raw(&archive), index.index.bytes);
    let back = format!("dir:{}", tmp.path().join("back").display());
    copy_out_to(&store, "app:v1", &back).await;
    assert_eq!(support::copy::skopeo_raw(&back), index.index.bytes);
}

#[tokio::test]
async fn a_docker_archive_copied_into_the_store_has_the_image_id_of_its_config() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let index = two_platform_index(ManifestFormat::DockerSchema2);
    seed_index(&registry, "src/app", "v1", &index).await;
    let tmp = tempfile::tempdir().unwrap();
    let tar = tmp.path().join("a.tar");
    let options = hoist::copy::CopyOptions {
        platform: Some(Platform::parse("linux/arm64/v8").unwrap()),
        ..fast_copy_options()
    };
    support::copy::copy_between(
        &format!("docker://{}/src/app:v1", registry.host()),
        &format!("docker-archive:{}:app:v1", tar.display()),
        options,
    )
    .await
    .0
    .unwrap();
    let store = LayeredStore::new();

    let (result, _) = copy_into(
        &store,
        &format!("docker-archive:{}:app:v1", tar.display()),
        "app:v1",
        true,
    )
    .await;

    let root = result.unwrap().root;
    let record = store.meta.image(&root.digest).unwrap().unwrap();
    assert_eq!(record.image_id, digest(&index.images[1].config.digest));
    let diff_ids: Vec<_> = record.layers.iter().map(|l| l.diff_id.clone()).collect();
    let digests: Vec<_> = record.layers.iter().map(|l| l.digest.clone()).collect();
    assert_eq!(
        diff_ids, digests,
        "docker-archive layers are the uncompressed tars"
    );
}

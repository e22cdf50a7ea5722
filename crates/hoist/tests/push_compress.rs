//! Push of images loaded from a docker-archive (layers stored uncompressed) against real
//! `docker-registry` processes: the layers are compressed on the way (gzip by default, zstd on
//! request), the registry's layers decompress to the diffIDs, the image pulls back identical,
//! and a second push sends no layer bytes. A layer of several gzip members (one per block of
//! hoist's encoder) reads back through hoist, skopeo (Go's reader) and umoci.

mod support;

use std::io::Read;

use hoist::digest::Digest;
use hoist::progress::Status;
use hoist::push::PushOptions;
use hoist::reference::Reference;
use hoist::store::MetadataStore;
use hoist::transfer::{Compression, SendPolicy};
use hoist_testkit::{Image, ImageBuilder, Layer, TestRegistry};
use support::archive::skopeo;
use support::layers::umoci_rootfs;
use support::pull::{anonymous_client, fast_options, Recorder, Store};
use support::push::{blob_bytes, fast_push_options, layer_statuses, loaded, pusher};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Two layers: a small one (compressed before sending) and one larger than the monolithic
/// limit of [`options`] (compressed while streaming).
fn image() -> Image {
    ImageBuilder::new()
        .layer(Layer::from_files(&[("etc/hostname", b"loaded\n")]).unwrap())
        .layer(Layer::random(600 << 10).unwrap())
        .build()
        .unwrap()
}

fn options(compression: Compression) -> PushOptions {
    PushOptions {
        compression,
        send: SendPolicy {
            monolithic_max: 64 << 10,
            ..SendPolicy::default()
        },
        ..fast_push_options()
    }
}

async fn push(store: &Store, target: &str, compression: Compression) -> hoist::push::PushOutcome {
    push_recorded(store, target, compression).await.0
}

async fn push_recorded(
    store: &Store,
    target: &str,
    compression: Compression,
) -> (hoist::push::PushOutcome, Recorder) {
    push_with(store, target, options(compression)).await
}

async fn push_with(
    store: &Store,
    target: &str,
    options: PushOptions,
) -> (hoist::push::PushOutcome, Recorder) {
    let progress = Recorder::default();
    let outcome = pusher(store, anonymous_client(), options)
        .push(&Reference::parse(target).unwrap(), &progress)
        .await
        .unwrap();
    (outcome, progress)
}

/// The manifest under `repo:tag`, asked for in both formats, with its content type.
async fn remote_manifest(registry: &TestRegistry, repo: &str, tag: &str) -> (String, Vec<u8>) {
    let response = hoist_testkit::http_client()
        .unwrap()
        .get(format!("{}/v2/{repo}/manifests/{tag}", registry.url()))
        .header("Accept", format!("{DOCKER_MANIFEST}, {OCI_MANIFEST}"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (content_type, response.bytes().await.unwrap().to_vec())
}

fn layers_of(manifest: &[u8]) -> Vec<(String, String)> {
    let json: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    json["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["mediaType"].as_str().unwrap().to_owned(),
                l["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn decompress(compression: Compression, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match compression {
        Compression::Gzip => {
            flate2::read::MultiGzDecoder::new(bytes)
                .read_to_end(&mut out)
                .unwrap();
        }
        Compression::Zstd => out = zstd::decode_all(bytes).unwrap(),
        Compression::None => out = bytes.to_vec(),
    }
    out
}

/// Pulls `reference` into a fresh store; returns its image ID and diffIDs.
async fn pull_fresh(reference: &str) -> (Digest, Vec<Digest>) {
    let (_, record) = pull_into_fresh_store(reference).await;
    let diff_ids = record.layers.iter().map(|l| l.diff_id.clone()).collect();
    (record.image_id, diff_ids)
}

/// Pulls `reference` into a fresh store; returns the store and the image's record.
async fn pull_into_fresh_store(reference: &str) -> (Store, hoist::store::metadata::ImageRecord) {
    let store = Store::new();
    let reference = Reference::parse(reference).unwrap();
    store
        .puller(fast_options())
        .pull(&reference, &Recorder::default())
        .await
        .unwrap();
    let meta = store.metadata();
    let target = meta.reference(&reference).unwrap().unwrap();
    let record = meta.image(&target.manifest_digest).unwrap().unwrap();
    (store, record)
}

fn diff_ids(image: &Image) -> Vec<Digest> {
    image
        .diff_ids
        .iter()
        .map(|d| Digest::parse(d).unwrap())
        .collect()
}

fn patches(registry: &TestRegistry) -> usize {
    registry
        .access_log()
        .iter()
        .filter(|e| e.method == "PATCH")
        .count()
}

#[tokio::test]
async fn loaded_image_is_pushed_with_gzip_layers_that_decompress_to_its_diff_ids() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let img = image();
    let target = format!("{}/loaded/app:v1", registry.host());
    let store = loaded(&img, &target);

    push(&store, &target, Compression::Gzip).await;

    // The large layer went in a streamed PATCH while it was being compressed.
    assert!(patches(&registry) >= 1);
    let (content_type, manifest) = remote_manifest(&registry, "loaded/app", "v1").await;
    assert_eq!(content_type, DOCKER_MANIFEST);
    let layers = layers_of(&manifest);
    assert_eq!(layers.len(), 2);
    for ((media_type, digest), diff_id) in layers.iter().zip(&img.diff_ids) {
        assert_eq!(
            media_type,
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        );
        let blob = blob_bytes(&registry.url(), "loaded/app", digest).await;
        let tar = decompress(Compression::Gzip, &blob);
        assert_eq!(&Digest::sha256_of(&tar).to_string(), diff_id);
    }
}

#[tokio::test]
async fn loaded_image_pushed_with_gzip_pulls_back_identical() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let img = image();
    let target = format!("{}/loaded/app:v1", registry.host());
    let store = loaded(&img, &target);

    push(&store, &target, Compression::Gzip).await;

    let (image_id, pulled) = pull_fresh(&target).await;
    assert_eq!(image_id.to_string(), img.config.digest);
    assert_eq!(pulled, diff_ids(&img));
}

#[tokio::test]
async fn second_push_of_a_loaded_image_sends_no_layer_bytes() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let img = image();
    let target = format!("{}/loaded/app:v1", registry.host());
    let store = loaded(&img, &target);
    let first = push(&store, &target, Compression::Gzip).await;
    let patches_before = patches(&registry);
    let uploads_before = registry.access_log().len();

    let (second, progress) = push_recorded(&store, &target, Compression::Gzip).await;

    assert_eq!(patches(&registry), patches_before);
    let new_uploads = registry.access_log()[uploads_before..]
        .iter()
        .filter(|e| e.method == "POST" && e.path.contains("/blobs/uploads/"))
        .count();
    assert_eq!(new_uploads, 0);
    assert_eq!(second.tags[0].digest, first.tags[0].digest);
    for diff_id in &img.diff_ids {
        assert_eq!(
            layer_statuses(&progress, diff_id).last(),
            Some(&Status::LayerAlreadyExists)
        );
    }
}

#[tokio::test]
async fn pushed_digest_is_recorded_and_compressed_blobs_are_kept() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let img = image();
    let target = format!("{}/loaded/app:v1", registry.host());
    let store = loaded(&img, &target);

    let outcome = push(&store, &target, Compression::Gzip).await;

    let meta: MetadataStore = store.metadata();
    let digest = outcome.tags[0].digest.clone();
    let by_digest = Reference::parse(&format!("{}/loaded/app@{digest}", registry.host())).unwrap();
    let pushed = meta
        .reference(&by_digest)
        .unwrap()
        .expect("digest reference");
    assert_eq!(pushed.image_id.to_string(), img.config.digest);
    let record = meta.image(&digest).unwrap().unwrap();
    for (layer, diff_id) in record.layers.iter().zip(diff_ids(&img)) {
        assert_eq!(layer.diff_id, diff_id);
        assert_ne!(layer.digest, diff_id);
        assert!(store.content().has(&layer.digest).unwrap());
        let sources = meta.blob_sources(&diff_id).unwrap();
        assert!(sources.iter().any(|s| s.source.digest == layer.digest));
    }
    // The tag still names the loaded image; inspect shows the pushed digest beside it.
    let inspect = hoist::images::inspect_image(&meta, &target).unwrap();
    assert!(inspect
        .repo_digests
        .iter()
        .any(|d| d.ends_with(&digest.to_string())));
}

#[tokio::test]
async fn images_shows_one_row_for_a_loaded_image_after_its_push() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let img = image();
    let target = format!("{}/loaded/app:v1", registry.host());
    let store = loaded(&img, &target);

    push(&store, &target, Compression::Gzip).await;

    let rows = hoist::images::list_images(&store.metadata(), None).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].tag.as_ref().map(|t| t.as_str()), Some("v1"));
}

#[tokio::test]
async fn zstd_push_makes_an_oci_manifest_with_zstd_layers_that_pull_back_identical() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let img = image();
    let target = format!("{}/loaded/zstd:v1", registry.host());
    let store = loaded(&img, &target);

    push(&store, &target, Compression::Zstd).await;

    let (content_type, manifest) = remote_manifest(&registry, "loaded/zstd", "v1").await;
    assert_eq!(content_type, OCI_MANIFEST);
    let json: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(
        json["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    for ((media_type, digest), diff_id) in layers_of(&manifest).iter().zip(&img.diff_ids) {
        assert_eq!(media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
        let blob = blob_bytes(&registry.url(), "loaded/zstd", digest).await;
        assert_eq!(
            &Digest::sha256_of(&decompress(Compression::Zstd, &blob)).to_string(),
            diff_id
        );
    }
    let (image_id, pulled) = pull_fresh(&target).await;
    assert_eq!(image_id.to_string(), img.config.digest);
    assert_eq!(pulled, diff_ids(&img));
}

#[tokio::test]
async fn gzip_blob_kept_from_an_earlier_push_is_not_reused_for_zstd() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let img = image();
    let gzip_target = format!("{}/loaded/gz:v1", registry.host());
    let store = loaded(&img, &gzip_target);
    push(&store, &gzip_target, Compression::Gzip).await;
    let zstd_target = format!("{}/loaded/zs:v1", registry.host());
    let meta = store.metadata();
    let loaded_manifest = meta
        .reference(&Reference::parse(&gzip_target).unwrap())
        .unwrap()
        .unwrap()
        .manifest_digest;
    meta.add_tag(
        &Reference::parse(&zstd_target).unwrap(),
        &loaded_manifest,
        false,
    )
    .unwrap();

    push(&store, &zstd_target, Compression::Zstd).await;

    let (_, manifest) = remote_manifest(&registry, "loaded/zs", "v1").await;
    for (media_type, _) in layers_of(&manifest) {
        assert_eq!(media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
    }
}

#[tokio::test]
async fn recompressing_after_the_kept_blob_is_lost_gives_the_same_digest() {
    let (first, second) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let img = image();
    let a = format!("{}/loaded/app:v1", first.host());
    let b = format!("{}/loaded/app:v1", second.host());
    // Two stores, so the second push cannot reuse anything the first one kept; and other
    // worker counts, which must not matter.
    let with_workers = |workers| PushOptions {
        compression_workers: workers,
        ..options(Compression::Gzip)
    };
    let (one, _) = push_with(&loaded(&img, &a), &a, with_workers(1)).await;
    let (two, _) = push_with(&loaded(&img, &b), &b, with_workers(3)).await;

    assert_eq!(one.tags[0].digest, two.tags[0].digest);
}

#[tokio::test]
async fn copy_compressing_into_a_sink_that_cannot_compress_is_refused_before_any_manifest() {
    // The compression push uses is the copy engine's option; a sink that does not take
    // compressed layers (a docker-archive, whose layers are uncompressed) refuses it, and the
    // destination gets no manifest (here: no archive at all).
    let img = image();
    let store = loaded(&img, "localhost:5000/app:v1");
    let source = hoist::copy::StoreSource::new(
        std::sync::Arc::new(store.metadata()),
        &Reference::parse("localhost:5000/app:v1").unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("app.tar");
    let sink = hoist::copy::DockerArchiveSink::open(&archive, None).unwrap();
    let options = hoist::copy::CopyOptions {
        compression: Compression::Gzip,
        ..hoist::copy::CopyOptions::default()
    };
    let root = hoist::copy::ImageSource::resolve(&source).await.unwrap();

    let err = hoist::copy::copy(&source, &sink, &root, &options, &Recorder::default())
        .await
        .unwrap_err();

    assert!(
        matches!(err, hoist::copy::CopyError::CannotCompress { .. }),
        "{err:?}"
    );
    assert!(!archive.exists());
}

#[tokio::test]
async fn copy_compressing_into_a_registry_gives_what_push_gives() {
    // `hoist copy`'s compression (the registry sink's own writer, no store to keep bytes in)
    // and push's (which keeps them) make the same blobs and the same manifest.
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let img = image();
    let pushed_to = format!("{}/app:v1", a.host());
    push(&loaded(&img, &pushed_to), &pushed_to, Compression::Gzip).await;
    let copied_to = format!("{}/app:v1", b.host());
    let store = loaded(&img, &copied_to);
    let source = hoist::copy::StoreSource::new(
        std::sync::Arc::new(store.metadata()),
        &Reference::parse(&copied_to).unwrap(),
    );
    let sink = hoist::copy::RegistryImage::new(
        &anonymous_client(),
        &Reference::parse(&copied_to).unwrap(),
    );
    let options = hoist::copy::CopyOptions {
        compression: Compression::Gzip,
        ..hoist::copy::CopyOptions::default()
    };
    let root = hoist::copy::ImageSource::resolve(&source).await.unwrap();

    let outcome = hoist::copy::copy(&source, &sink, &root, &options, &Recorder::default())
        .await
        .unwrap();

    assert_eq!(outcome.converted.len(), img.layers.len());
    let (_, pushed) = remote_manifest(&a, "app", "v1").await;
    let (content_type, copied) = remote_manifest(&b, "app", "v1").await;
    assert_eq!(content_type, DOCKER_MANIFEST);
    assert_eq!(copied, pushed);
    let (_, layers) = pull_fresh(&copied_to).await;
    assert_eq!(layers, diff_ids(&img));
}

/// A text file of `len` bytes: compressible, so its gzip members are deflated, not stored.
fn text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut line = 0u64;
    while out.len() < len {
        out.extend_from_slice(format!("line {line} of a file in the layer\n").as_bytes());
        line = line
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
    }
    out.truncate(len);
    out
}

/// The number of gzip members in `blob`.
fn gzip_members(mut blob: &[u8]) -> usize {
    let mut count = 0;
    while !blob.is_empty() {
        let mut member = flate2::bufread::GzDecoder::new(blob);
        std::io::copy(&mut member, &mut std::io::sink()).unwrap();
        blob = member.into_inner();
        count += 1;
    }
    count
}

#[tokio::test]
async fn gzip_layer_of_several_members_reads_back_through_hoist_skopeo_and_umoci() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let big = text(3 * hoist::compress::BLOCK_SIZE + 1000);
    let img = ImageBuilder::new()
        .layer(Layer::from_files(&[("usr/share/doc/big.txt", &big)]).unwrap())
        .layer(Layer::from_files(&[("etc/hostname", b"members\n")]).unwrap())
        .build()
        .unwrap();
    let target = format!("{}/members/app:v1", registry.host());
    push(&loaded(&img, &target), &target, Compression::Gzip).await;
    let (_, manifest) = remote_manifest(&registry, "members/app", "v1").await;
    let blob = blob_bytes(&registry.url(), "members/app", &layers_of(&manifest)[0].1).await;
    assert!(gzip_members(&blob) >= 4, "{} members", gzip_members(&blob));

    // hoist: pulled (diffIDs checked), then exported from the blobs themselves.
    let (store, record) = pull_into_fresh_store(&target).await;
    let pulled: Vec<Digest> = record.layers.iter().map(|l| l.diff_id.clone()).collect();
    assert_eq!(pulled, diff_ids(&img));
    let work = tempfile::tempdir().unwrap();
    let exported = work.path().join("export");
    hoist::export::export_image(
        &store.metadata(),
        None,
        &record,
        &exported,
        &hoist::export::ExportOptions::default(),
    )
    .unwrap();
    assert!(std::fs::read(exported.join("usr/share/doc/big.txt")).unwrap() == big);

    // skopeo (containers/image, Go): decompressed into a dir: layout, each layer is the tar.
    let dir = work.path().join("dir");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-decompress",
        &format!("docker://{target}"),
        &format!("dir:{}", dir.display()),
    ]);
    let decompressed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let layers: Vec<String> = decompressed["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let digest = l["digest"].as_str().unwrap();
            let tar = std::fs::read(dir.join(digest.strip_prefix("sha256:").unwrap())).unwrap();
            Digest::sha256_of(&tar).to_string()
        })
        .collect();
    assert_eq!(layers, img.diff_ids);

    // umoci: unpacks the gzip layers (checking their diffIDs) into the same file.
    let rootfs = umoci_rootfs(&registry, "members/app:v1", work.path());
    assert!(std::fs::read(rootfs.join("usr/share/doc/big.txt")).unwrap() == big);
}

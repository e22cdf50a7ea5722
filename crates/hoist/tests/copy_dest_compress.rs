//! `copy` with `--dest-compress` (the engine's compression step, `CopyOptions::compression`
//! with `recompress` as `hoist copy` sets it) into every kind of sink: an `oci:` layout, a
//! `dir:`, and the local store (`hoist:`), from gzip and from uncompressed sources. Each
//! time the manifest names new layer blobs of the asked format (digests and media types
//! changed), the config and its diffIDs are the source's, every blob in the destination
//! hashes to its name and decompresses to its diffID, skopeo reads the `oci:`/`dir:` result,
//! and the store's image exports the same root filesystem as the source. Into a registry
//! behind a fault proxy, the registry writer resumes a compressed stream reset mid-`PATCH`
//! and sends it in chunks when large bodies are refused, with nothing kept to resend from.

mod support;

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use hoist::compress::Compression;
use hoist::copy::{copy, CopyOptions, RegistryImage, StoreSink};
use hoist::digest::Digest;
use hoist::export::{export_image, ExportOptions};
use hoist::reference::Reference;
use hoist::transfer::SendPolicy;
use hoist_testkit::tree::{differences, snapshot};
use hoist_testkit::{
    Blob, FaultProxy, Image, ImageBuilder, ImagePusher, Layer, ManifestFormat, Outcome, Rule,
    TestRegistry,
};

use support::copy::{copy_between, fast_copy_options, open_source};
use support::layers::{umoci_rootfs, LayeredStore};
use support::pull::{anonymous_client, push, Recorder};
use support::push::blob_bytes;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Two layers with files, a whiteout and a 200 KiB random file (several compressed pieces).
fn image(format: ManifestFormat) -> Image {
    let base = Layer::builder()
        .dir("etc")
        .file("etc/os-release", b"ID=hoist\n")
        .file("etc/motd", b"compressed on the way\n")
        .build()
        .unwrap();
    ImageBuilder::new()
        .format(format)
        .layer(base)
        .layer(Layer::random(200 << 10).unwrap())
        .build()
        .unwrap()
}

/// `image` pushed as `repo:v1` with its layers uncompressed (`…layer.v1.tar`).
async fn push_uncompressed(registry: &TestRegistry, repo: &str, image: &Image) {
    let layers: Vec<Blob> = image
        .tars
        .iter()
        .map(|tar| Blob::new(OCI_LAYER, tar.clone()))
        .collect();
    let mut manifest: serde_json::Value = serde_json::from_slice(&image.manifest.bytes).unwrap();
    manifest["layers"] = layers.iter().map(Blob::descriptor).collect();
    let manifest = Blob::new(OCI_MANIFEST, serde_json::to_vec(&manifest).unwrap());
    let pusher = ImagePusher::new(registry);
    for blob in layers.iter().chain([&image.config]) {
        pusher.push_blob(repo, blob).await.unwrap();
    }
    pusher.push_manifest(repo, "v1", &manifest).await.unwrap();
}

/// An image in a registry of its own, as a copy's source: gzip layers (Docker schema 2), or
/// uncompressed ones (OCI).
struct Seeded {
    registry: TestRegistry,
    image: Image,
    repo_tag: &'static str,
    gzip: bool,
}

impl Seeded {
    async fn gzip() -> Seeded {
        let registry = TestRegistry::anonymous().await.unwrap();
        let image = image(ManifestFormat::DockerSchema2);
        push(&registry, "src/app", "v1", &image).await;
        assert!(image
            .layers
            .iter()
            .all(|l| l.media_type == DOCKER_LAYER_GZIP));
        Seeded {
            registry,
            image,
            repo_tag: "src/app:v1",
            gzip: true,
        }
    }

    async fn uncompressed() -> Seeded {
        let registry = TestRegistry::anonymous().await.unwrap();
        let image = image(ManifestFormat::Oci);
        push_uncompressed(&registry, "src/plain", &image).await;
        Seeded {
            registry,
            image,
            repo_tag: "src/plain:v1",
            gzip: false,
        }
    }

    /// `docker://HOST/REPO:TAG`.
    fn location(&self) -> String {
        format!("docker://{}/{}", self.registry.host(), self.repo_tag)
    }

    /// The layer digests as the source holds them: gzip blobs, or, uncompressed, the diffIDs.
    fn layers(&self) -> Vec<String> {
        match self.gzip {
            true => self.image.layers.iter().map(|l| l.digest.clone()).collect(),
            false => self.image.diff_ids.clone(),
        }
    }

    /// `copied` holds layers of `compression` that are not the source's, each hashing to its
    /// digest and decompressing to the source's diffID, and the source's config unchanged.
    fn assert_recompressed_in(&self, copied: &Copied, compression: Compression) {
        // zstd makes the manifest OCI; gzip keeps the source's (OCI for the uncompressed one).
        if compression == Compression::Zstd || !self.gzip {
            assert_eq!(copied.manifest["mediaType"], OCI_MANIFEST);
        }
        let layer_type = match compression {
            Compression::Zstd => OCI_LAYER_ZSTD,
            _ => OCI_LAYER_GZIP,
        };
        assert_recompressed(copied, &self.image, &self.layers(), compression, layer_type);
    }
}

fn options(compression: Compression) -> CopyOptions {
    CopyOptions {
        compression,
        recompress: true,
        ..fast_copy_options()
    }
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

/// Reads a blob of a destination by digest.
type ReadBlob<'a> = Box<dyn Fn(&str) -> Vec<u8> + 'a>;

/// What a destination holds: its manifest, and a way to read its blobs.
struct Copied<'a> {
    manifest: serde_json::Value,
    blob: ReadBlob<'a>,
}

/// The destination holds layers of `compression` (`layer_type`) that are not the source's
/// (`before`), each hashing to its digest and decompressing to the source's diffID, and the
/// source's config unchanged.
fn assert_recompressed(
    copied: &Copied,
    source: &Image,
    before: &[String],
    compression: Compression,
    layer_type: &str,
) {
    let manifest = &copied.manifest;
    assert_eq!(manifest["config"]["digest"], source.config.digest.as_str());
    let config: serde_json::Value =
        serde_json::from_slice(&(copied.blob)(&source.config.digest)).unwrap();
    let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(diff_ids, source.diff_ids);
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), source.diff_ids.len());
    for (layer, diff_id) in layers.iter().zip(&source.diff_ids) {
        assert_eq!(layer["mediaType"], layer_type, "{manifest}");
        let digest = layer["digest"].as_str().unwrap();
        assert!(
            !before.iter().any(|b| b == digest),
            "layer {digest} was not recompressed"
        );
        let blob = (copied.blob)(digest);
        assert_eq!(Digest::sha256_of(&blob).as_str(), digest);
        assert_eq!(layer["size"], blob.len());
        let tar = decompress(compression, &blob);
        assert_eq!(Digest::sha256_of(&tar).as_str(), diff_id);
    }
}

/// The `oci:` layout at `dir`, its only image.
fn layout_of(dir: &Path) -> Copied<'_> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let blob = move |digest: &str| {
        let hex = digest.trim_start_matches("sha256:");
        std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap()
    };
    Copied {
        manifest: serde_json::from_slice(&blob(&digest)).unwrap(),
        blob: Box::new(blob),
    }
}

/// skopeo's view of `location`: its layer digests.
fn skopeo_layers(location: &str) -> Vec<String> {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", location])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {location}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect()
}

fn layer_digests(manifest: &serde_json::Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect()
}

/// Copies `source` with `compression` into a new `oci:` layout (`layout`) or `dir:`, which
/// must hold it recompressed, as skopeo reads it too.
async fn into_files(source: &Seeded, layout: bool, compression: Compression) {
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("copy");
    let dst = match layout {
        true => format!("oci:{}:v1", path.display()),
        false => format!("dir:{}", path.display()),
    };

    let (result, _) = copy_between(&source.location(), &dst, options(compression)).await;

    assert_eq!(result.unwrap().converted.len(), 2);
    let copied = match layout {
        true => layout_of(&path),
        false => dir_of(&path),
    };
    source.assert_recompressed_in(&copied, compression);
    assert_eq!(skopeo_layers(&dst), layer_digests(&copied.manifest));
}

/// The `dir:` directory at `dir`.
fn dir_of(dir: &Path) -> Copied<'_> {
    let manifest = std::fs::read(dir.join("manifest.json")).unwrap();
    Copied {
        manifest: serde_json::from_slice(&manifest).unwrap(),
        blob: Box::new(move |digest: &str| {
            std::fs::read(dir.join(digest.trim_start_matches("sha256:"))).unwrap()
        }),
    }
}

#[tokio::test]
async fn zstd_into_a_layout_recompresses_gzip_layers_that_skopeo_reads() {
    into_files(&Seeded::gzip().await, true, Compression::Zstd).await;
}

#[tokio::test]
async fn gzip_into_a_layout_compresses_uncompressed_layers_that_skopeo_reads() {
    into_files(&Seeded::uncompressed().await, true, Compression::Gzip).await;
}

#[tokio::test]
async fn zstd_into_a_dir_recompresses_and_skopeo_reads_it() {
    into_files(&Seeded::gzip().await, false, Compression::Zstd).await;
}

/// Copies `src` into a new store as `app:v1` with `compression`; the store.
async fn into_store(src: &str, compression: Compression) -> LayeredStore {
    let store = LayeredStore::new();
    let source = open_source(&anonymous_client(), src).unwrap();
    let root = source.resolve().await.unwrap();
    let sink = StoreSink::open(
        Arc::clone(&store.meta),
        &Reference::parse("app:v1").unwrap(),
    )
    .unwrap()
    .with_layers(store.layers.clone());
    copy(
        source.as_ref(),
        &sink,
        &root,
        &options(compression),
        &Recorder::default(),
    )
    .await
    .unwrap();
    store
}

/// The store's image `app:v1`: what it holds, and its root filesystem exported to `out`.
fn stored<'a>(store: &'a LayeredStore, out: &Path) -> Copied<'a> {
    let target = store
        .meta
        .reference(&Reference::parse("app:v1").unwrap())
        .unwrap()
        .unwrap();
    let record = store.meta.image(&target.manifest_digest).unwrap().unwrap();
    export_image(
        &store.meta,
        Some(&store.layers),
        &record,
        out,
        &ExportOptions::default(),
    )
    .unwrap();
    let content = store.meta.content().clone();
    let blob = move |digest: &str| {
        content
            .read_to_vec_capped(&Digest::parse(digest).unwrap(), 64 << 20)
            .unwrap()
    };
    let manifest = serde_json::from_slice(&blob(target.manifest_digest.as_str())).unwrap();
    let layers: Vec<String> = record.layers.iter().map(|l| l.digest.to_string()).collect();
    assert_eq!(
        layers,
        layer_digests(&manifest),
        "the record names the stored blobs"
    );
    Copied {
        manifest,
        blob: Box::new(blob),
    }
}

fn assert_same_tree(expected: &Path, actual: &Path) {
    let want = snapshot(expected).unwrap();
    let got = snapshot(actual).unwrap();
    assert!(
        want.len() > 2,
        "umoci's rootfs is suspiciously small: {want:?}"
    );
    let diffs = differences(&want, &got);
    assert!(diffs.is_empty(), "trees differ:\n{}", diffs.join("\n"));
}

/// Copies `source` into a new store with `compression`: the store holds the recompressed
/// image, its layers unpacked, exporting the source's root filesystem.
async fn into_the_store(source: &Seeded, compression: Compression) {
    let work = tempfile::tempdir().unwrap();
    let expected = umoci_rootfs(&source.registry, source.repo_tag, work.path());

    let store = into_store(&source.location(), compression).await;

    let out = work.path().join("export");
    let copied = stored(&store, &out);
    source.assert_recompressed_in(&copied, compression);
    assert_eq!(store.layer_dirs().len(), 2, "{:?}", store.layer_dirs());
    assert_same_tree(&expected, &out);
}

#[tokio::test]
async fn zstd_into_the_store_keeps_recompressed_blobs_and_exports_the_same_rootfs() {
    into_the_store(&Seeded::gzip().await, Compression::Zstd).await;
}

#[tokio::test]
async fn gzip_into_the_store_from_uncompressed_layers_exports_the_same_rootfs() {
    into_the_store(&Seeded::uncompressed().await, Compression::Gzip).await;
}

/// The manifest `repo:tag` of the registry at `base_url`, read directly.
async fn registry_manifest(base_url: &str, repo: &str, tag: &str) -> serde_json::Value {
    let response = hoist_testkit::http_client()
        .unwrap()
        .get(format!("{base_url}/v2/{repo}/manifests/{tag}"))
        .header("Accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// A registry behind a fault proxy, and `image` copied into it from another registry with
/// `compression`, layers over 64 KiB streamed (nothing kept: the compression step is opened
/// again at the offset each attempt needs). Returns what the target holds.
async fn into_faulty_registry(
    faults: impl FnOnce(&FaultProxy),
    compression: Compression,
) -> (Seeded, TestRegistry, FaultProxy) {
    let target = TestRegistry::anonymous().await.unwrap();
    let proxy = FaultProxy::start(&target).await.unwrap();
    faults(&proxy);
    let seeded = Seeded::uncompressed().await;
    let client = anonymous_client();
    let source = open_source(&client, &seeded.location()).unwrap();
    let root = source.resolve().await.unwrap();
    let sink = RegistryImage::new(
        &client,
        &Reference::parse(&format!("{}/app:v1", proxy.host())).unwrap(),
    )
    .with_send_policy(SendPolicy {
        monolithic_max: 64 << 10,
        chunk_size: 128 << 10,
        min_chunk_size: 32 << 10,
    });

    let outcome = copy(
        source.as_ref(),
        &sink,
        &root,
        &options(compression),
        &Recorder::default(),
    )
    .await
    .unwrap();

    assert_eq!(outcome.converted.len(), 2);
    (seeded, target, proxy)
}

/// The target registry's `app:v1` holds `source` recompressed with `compression`.
async fn assert_registry_recompressed(
    source: &Seeded,
    target: &TestRegistry,
    compression: Compression,
) {
    let url = target.url();
    let manifest = registry_manifest(&url, "app", "v1").await;
    let config = source.image.config.digest.clone();
    let mut blobs = std::collections::HashMap::new();
    for digest in layer_digests(&manifest).into_iter().chain([config]) {
        blobs.insert(digest.clone(), blob_bytes(&url, "app", &digest).await);
    }
    let copied = Copied {
        manifest,
        blob: Box::new(move |digest: &str| blobs[digest].clone()),
    };
    source.assert_recompressed_in(&copied, compression);
}

fn patches(proxy: &FaultProxy) -> Vec<hoist_testkit::ProxiedRequest> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect()
}

#[tokio::test]
async fn zstd_into_a_registry_resumes_a_stream_reset_mid_patch() {
    let (source, target, proxy) = into_faulty_registry(
        |proxy| {
            proxy.rule(Rule::patch_upload().reset_request_after(96 << 10).times(1));
        },
        Compression::Zstd,
    )
    .await;

    assert_eq!(patches(&proxy)[0].outcome, Outcome::RequestReset);
    assert_registry_recompressed(&source, &target, Compression::Zstd).await;
}

#[tokio::test]
async fn gzip_into_a_registry_refusing_large_bodies_goes_in_chunks() {
    let (source, target, proxy) = into_faulty_registry(
        |proxy| {
            proxy.rule(Rule::patch_upload().body_larger_than(64 << 10).status(413));
        },
        Compression::Gzip,
    )
    .await;

    let accepted: Vec<_> = patches(&proxy)
        .into_iter()
        .filter(|r| r.status == Some(202))
        .collect();
    assert!(accepted.len() >= 4, "{} chunks", accepted.len());
    assert!(accepted.iter().all(|r| r.header("content-range").is_some()));
    assert_registry_recompressed(&source, &target, Compression::Gzip).await;
}

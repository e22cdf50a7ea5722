//! `hoist pull R/x` and `hoist copy docker://R/x hoist:R/x` are one operation: from the same
//! registry image, a [`Puller`](hoist::pull::Puller) and a copy into a
//! [`StoreSink`] leave identical stores — the same blobs, `index.json`, image records,
//! references, blob sources, diffIDs and unpacked layers — and print the same per-layer lines
//! (docker's pull statuses), byte counts aside.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use hoist::copy::{copy, CopyOptions, ImageSource, RegistryImage, StoreSink};
use hoist::digest::Digest;
use hoist::progress::{ProgressEvent, Status};
use hoist::transfer::TransferConfig;
use hoist_testkit::{Image, ImageBuilder, Layer, TestRegistry};

use support::copy::fast_copy_options;
use support::layers::LayeredStore;
use support::pull::{anonymous_client, blobs_in, push, reference, Recorder};

/// Downloads at once, both ways: docker's default.
const PULL_CONCURRENCY: usize = 3;

fn layer(name: &str, body: &[u8]) -> Layer {
    Layer::from_files(&[(name, body)]).unwrap()
}

/// Two layers, one large enough for several `Downloading` lines, and `top`.
fn image(top: &[u8]) -> Image {
    ImageBuilder::new()
        .layer(layer("etc/base", b"base\n"))
        .layer(layer("usr/tool", vec![7u8; 300_000].as_slice()))
        .layer(layer("etc/top", top))
        .build()
        .unwrap()
}

/// Pulls `name` from `registry` into a fresh store.
async fn pulled(registry: &TestRegistry, name: &str) -> (LayeredStore, Recorder) {
    let store = LayeredStore::new();
    let progress = Recorder::default();
    store
        .puller_with_concurrency(PULL_CONCURRENCY)
        .pull(&reference(registry, name), &progress)
        .await
        .unwrap();
    (store, progress)
}

/// Copies `docker://R/name` to `hoist:R/name` in a fresh store.
async fn copied(registry: &TestRegistry, name: &str) -> (LayeredStore, Recorder) {
    let store = LayeredStore::new();
    let progress = copy_into(&store, registry, name).await;
    (store, progress)
}

/// Copies `docker://R/name` to `hoist:R/name` in `store`, with pull's concurrency.
async fn copy_into(store: &LayeredStore, registry: &TestRegistry, name: &str) -> Recorder {
    let progress = Recorder::default();
    let reference = reference(registry, name);
    let source = RegistryImage::new(&anonymous_client(), &reference);
    let root = source.resolve().await.unwrap();
    let sink = StoreSink::open(Arc::clone(&store.meta), &reference)
        .unwrap()
        .with_layers(store.layers.clone())
        .with_source(source.repository());
    let options = CopyOptions {
        upload: TransferConfig {
            max_concurrent: PULL_CONCURRENCY,
            ..fast_copy_options().upload
        },
        ..fast_copy_options()
    };
    copy(&source, &sink, &root, &options, &progress)
        .await
        .unwrap();
    progress
}

/// What the library lets one observe of a store.
#[derive(Debug)]
struct Observed {
    blobs: Vec<Digest>,
    index_json: serde_json::Value,
    images: Vec<String>,
    references: Vec<String>,
    diff_ids: BTreeMap<Digest, Option<Digest>>,
    sources: Vec<String>,
    layers: Vec<String>,
    layer_dirs: Vec<String>,
}

/// Compares two stores field by field, so a failure names what differs.
fn assert_same_store(pulled: &Observed, copied: &Observed) {
    assert_eq!(pulled.blobs, copied.blobs, "blobs");
    assert_eq!(pulled.index_json, copied.index_json, "index.json");
    assert_eq!(pulled.images, copied.images, "image records");
    assert_eq!(pulled.references, copied.references, "references");
    assert_eq!(pulled.diff_ids, copied.diff_ids, "diffIDs of blobs");
    assert_eq!(pulled.sources, copied.sources, "blob sources");
    assert_eq!(pulled.layers, copied.layers, "layer records");
    assert_eq!(pulled.layer_dirs, copied.layer_dirs, "layer directories");
}

fn observe(store: &LayeredStore) -> Observed {
    let meta = &store.meta;
    let blobs = blobs_in(&store.root());
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.root().join("index.json")).unwrap()).unwrap();
    let images = meta.images().unwrap();
    let mut sources = Vec::new();
    for image in &images {
        for layer in &image.layers {
            for record in meta.blob_sources(&layer.diff_id).unwrap() {
                sources.push(format!("{} {:?}", record.diff_id, record.source));
            }
        }
    }
    sources.sort();
    let mut references: Vec<String> = meta
        .all_references()
        .unwrap()
        .iter()
        .map(|a| format!("{a:?}"))
        .collect();
    references.sort();
    let mut layers: Vec<String> = meta
        .layers()
        .unwrap()
        .iter()
        .map(|l| format!("{l:?}"))
        .collect();
    layers.sort();
    Observed {
        diff_ids: blobs
            .iter()
            .map(|b| (b.clone(), meta.diff_id_of(b).unwrap()))
            .collect(),
        blobs,
        index_json: index,
        images: {
            // Listed in no particular order.
            let mut images: Vec<String> = images.iter().map(|i| format!("{i:?}")).collect();
            images.sort();
            images
        },
        references,
        sources,
        layers,
        layer_dirs: store.layer_dirs(),
    }
}

/// Each blob's lines in order, `Downloading` counts (timing-dependent) collapsed into one.
fn layer_lines(progress: &Recorder) -> BTreeMap<String, Vec<String>> {
    let mut lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for event in progress.events().iter().filter(|e| e.is_blob_event()) {
        let line = match event.status {
            Status::Downloading { .. } => format!("{}: Downloading", event.id),
            _ => ProgressEvent::to_string(event),
        };
        let of_blob = lines.entry(event.id.clone()).or_default();
        if of_blob.last() != Some(&line) {
            of_blob.push(line);
        }
    }
    lines
}

#[tokio::test]
async fn pull_and_copy_into_the_store_leave_the_same_store_and_lines() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = image(b"top\n");
    push(&registry, "team/app", "v1", &image).await;

    let (by_pull, pull_progress) = pulled(&registry, "team/app:v1").await;
    let (by_copy, copy_progress) = copied(&registry, "team/app:v1").await;

    let pulled = observe(&by_pull);
    assert_eq!(pulled.images.len(), 1, "{pulled:?}");
    assert_eq!(pulled.layer_dirs.len(), 3, "{pulled:?}");
    assert_same_store(&pulled, &observe(&by_copy));
    let lines = layer_lines(&pull_progress);
    assert_eq!(lines.len(), 3, "one set of lines per layer: {lines:?}");
    for layer in &image.layers {
        let id = &layer.digest["sha256:".len()..][..12];
        assert_eq!(
            lines[id],
            [
                "Pulling fs layer",
                "Downloading",
                "Verifying Checksum",
                "Download complete",
                "Pull complete"
            ]
            .map(|s| format!("{id}: {s}")),
            "{lines:?}"
        );
    }
    assert_eq!(lines, layer_lines(&copy_progress));
}

#[tokio::test]
async fn layers_already_stored_say_already_exists_alike() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let first = image(b"top\n");
    push(&registry, "team/app", "v1", &first).await;
    let (by_pull, _) = pulled(&registry, "team/app:v1").await;
    let (by_copy, _) = copied(&registry, "team/app:v1").await;
    // Another image on the same two bottom layers.
    let second = image(b"another top\n");
    push(&registry, "team/other", "v1", &second).await;

    let pull_progress = Recorder::default();
    by_pull
        .puller_with_concurrency(PULL_CONCURRENCY)
        .pull(&reference(&registry, "team/other:v1"), &pull_progress)
        .await
        .unwrap();
    let copy_progress = copy_into(&by_copy, &registry, "team/other:v1").await;

    assert_same_store(&observe(&by_pull), &observe(&by_copy));
    let lines = layer_lines(&pull_progress);
    for shared in &second.layers[..2] {
        let id = &shared.digest["sha256:".len()..][..12];
        assert_eq!(lines[id], [format!("{id}: Already exists")], "{lines:?}");
    }
    let new = &second.layers[2].digest["sha256:".len()..][..12];
    assert_eq!(lines[new].last(), Some(&format!("{new}: Pull complete")));
    assert_eq!(lines, layer_lines(&copy_progress));
}

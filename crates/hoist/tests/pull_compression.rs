//! Layers of every compression an OCI manifest may declare — gzip, zstd, none — pulled from a
//! real registry into the layer store, with their diffIDs checked against the config. The
//! testkit builds gzip layers; the zstd and uncompressed variants are made here from the same
//! tars.

mod support;

use hoist::digest::Digest;
use hoist_testkit::{Blob, ImageBuilder, ImagePusher, Layer, TestRegistry};
use support::layers::LayeredStore;
use support::pull::{fast_options, reference, Recorder, Store};

const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Pushes an OCI image whose one layer is `tar` stored as `(media_type, bytes)`, with a
/// config naming `diff_id`; returns the manifest digest.
async fn push_variant(
    registry: &TestRegistry,
    repo: &str,
    layer: &Layer,
    media_type: &str,
    bytes: Vec<u8>,
) -> String {
    let base = ImageBuilder::new().layer(layer.clone()).build().unwrap();
    let blob = Blob::new(media_type, bytes);
    let mut manifest: serde_json::Value = serde_json::from_slice(&base.manifest.bytes).unwrap();
    manifest["layers"] = serde_json::json!([blob.descriptor()]);
    let manifest = Blob::new(
        &base.manifest.media_type,
        serde_json::to_vec(&manifest).unwrap(),
    );
    let pusher = ImagePusher::new(registry);
    pusher.push_blob(repo, &blob).await.unwrap();
    pusher.push_blob(repo, &base.config).await.unwrap();
    pusher.push_manifest(repo, "v1", &manifest).await.unwrap();
    manifest.digest
}

async fn pull_and_check(registry: &TestRegistry, repo: &str, manifest: &str, layer: &Layer) {
    let store = LayeredStore::new();
    let outcome = store
        .puller(true)
        .pull(
            &reference(registry, &format!("{repo}:v1")),
            &Recorder::default(),
        )
        .await
        .unwrap();
    assert_eq!(outcome.images[0].manifest_digest.to_string(), manifest);
    let record = store
        .meta
        .image(&Digest::parse(manifest).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(record.layers[0].diff_id.to_string(), layer.diff_id);
}

#[tokio::test]
async fn zstd_layer_is_pulled_and_its_diff_id_checked() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let layer = Layer::random(64 * 1024).unwrap();
    let compressed = zstd::encode_all(layer.tar.as_slice(), 3).unwrap();
    let manifest = push_variant(&registry, "zstd", &layer, OCI_LAYER_ZSTD, compressed).await;
    pull_and_check(&registry, "zstd", &manifest, &layer).await;
}

#[tokio::test]
async fn uncompressed_layer_is_its_own_diff_id() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let layer = Layer::from_files(&[("plain.txt", b"not compressed")]).unwrap();
    let manifest = push_variant(&registry, "plain", &layer, OCI_LAYER, layer.tar.clone()).await;
    pull_and_check(&registry, "plain", &manifest, &layer).await;
}

#[tokio::test]
async fn layer_declared_zstd_but_gzipped_is_refused_and_not_recorded() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let layer = Layer::from_files(&[("liar.txt", b"gzip, says zstd")]).unwrap();
    push_variant(
        &registry,
        "liar",
        &layer,
        OCI_LAYER_ZSTD,
        layer.gzip.clone(),
    )
    .await;
    let store = LayeredStore::new();

    let err = store
        .puller(true)
        .pull(&reference(&registry, "liar:v1"), &Recorder::default())
        .await
        .unwrap_err();

    assert!(err.to_string().contains("cannot decompress"), "{err}");
    assert!(store.meta.images().unwrap().is_empty());
}

/// Counts what a layer sink is given, as the layer store's unpacker will be.
#[derive(Default)]
struct Seen {
    finished: std::sync::Mutex<Vec<(Digest, u64)>>,
}

struct CountingSink {
    bytes: u64,
    seen: std::sync::Arc<Seen>,
}

impl hoist::transfer::LayerSink for CountingSink {
    fn write(&mut self, decompressed: hoist::transfer::Bytes) -> std::io::Result<()> {
        self.bytes += decompressed.len() as u64;
        Ok(())
    }

    fn finish(self: Box<Self>, diff_id: &Digest) -> std::io::Result<()> {
        self.seen
            .finished
            .lock()
            .unwrap()
            .push((diff_id.clone(), self.bytes));
        Ok(())
    }

    fn abort(self: Box<Self>) {}
}

#[tokio::test]
async fn layer_sink_receives_every_decompressed_layer() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let layers = [
        Layer::from_files(&[("a", b"first")]).unwrap(),
        Layer::random(32 * 1024).unwrap(),
    ];
    let image = ImageBuilder::new()
        .layer(layers[0].clone())
        .layer(layers[1].clone())
        .build()
        .unwrap();
    ImagePusher::new(&registry)
        .push_image("sink", "v1", &image)
        .await
        .unwrap();
    let seen = std::sync::Arc::new(Seen::default());
    let for_factory = std::sync::Arc::clone(&seen);
    let factory = move |_: &Digest| -> std::io::Result<Box<dyn hoist::transfer::LayerSink>> {
        Ok(Box::new(CountingSink {
            bytes: 0,
            seen: std::sync::Arc::clone(&for_factory),
        }))
    };
    let options = hoist::pull::PullOptions {
        layer_sink: Some(std::sync::Arc::new(factory)),
        ..fast_options()
    };
    let store = Store::new();

    store
        .puller(options)
        .pull(&reference(&registry, "sink:v1"), &Recorder::default())
        .await
        .unwrap();

    let mut finished = seen.finished.lock().unwrap().clone();
    finished.sort();
    let mut expected: Vec<(Digest, u64)> = layers
        .iter()
        .map(|l| (Digest::parse(&l.diff_id).unwrap(), l.tar.len() as u64))
        .collect();
    expected.sort();
    assert_eq!(finished, expected);
}

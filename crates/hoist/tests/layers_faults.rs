//! Unpacking while downloading, through a fault-injecting proxy: a reset mid-layer resumes
//! into the same unpack (no byte replayed), a registry that ignores `Range` restarts the unpack
//! from zero in a fresh directory, and a layer that fails verification leaves no layer
//! directory at all — not even a temporary one.

mod support;

use hoist::reference::Reference;
use hoist_testkit::{FaultProxy, Image, ImageBuilder, Layer, Rule, TestRegistry};
use support::layers::LayeredStore;
use support::pull::{push, Recorder};

/// A small base and a 1 MiB top layer of random bytes.
fn image() -> Image {
    ImageBuilder::new()
        .layer(Layer::from_files(&[("base", b"base")]).unwrap())
        .layer(Layer::random(1 << 20).unwrap())
        .build()
        .unwrap()
}

async fn setup() -> (TestRegistry, FaultProxy, Image, Reference) {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = image();
    push(&registry, "app", "v1", &image).await;
    let proxy = FaultProxy::start(&registry).await.unwrap();
    let reference = Reference::parse(&format!("{}/app:v1", proxy.host())).unwrap();
    (registry, proxy, image, reference)
}

fn top_blob_rule(image: &Image) -> Rule {
    Rule::matching(&format!("GET /v2/app/blobs/{}", image.layers[1].digest))
}

fn assert_random_layer_unpacked(store: &LayeredStore, image: &Image) {
    let dirs = store.layer_dirs();
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    assert!(dirs.iter().all(|d| !d.starts_with(".tmp-")), "{dirs:?}");
    let expected = {
        let mut archive = tar::Archive::new(image.tars[1].as_slice());
        let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        data
    };
    let found = dirs.iter().any(|d| {
        std::fs::read(store.root().join("layers").join(d).join("diff/random.bin"))
            .is_ok_and(|bytes| bytes == expected)
    });
    assert!(
        found,
        "random.bin is not in any layer with the pushed bytes"
    );
}

#[tokio::test]
async fn a_reset_mid_layer_resumes_into_the_same_unpack() {
    let (_registry, proxy, image, reference) = setup().await;
    proxy.rule(top_blob_rule(&image).reset_after(300 << 10).times(1));
    let store = LayeredStore::new();

    store.pull(&reference, true).await;

    let ranged = proxy
        .requests()
        .iter()
        .filter(|r| r.range().is_some())
        .count();
    assert_eq!(ranged, 1, "the download did not resume with Range");
    assert_random_layer_unpacked(&store, &image);
}

#[tokio::test]
async fn a_registry_ignoring_range_restarts_the_unpack_from_zero() {
    let (_registry, proxy, image, reference) = setup().await;
    proxy.rule(top_blob_rule(&image).reset_after(300 << 10).times(1));
    proxy.rule(Rule::get_blob().ignore_range());
    let store = LayeredStore::new();

    store.pull(&reference, true).await;

    assert_random_layer_unpacked(&store, &image);
}

#[tokio::test]
async fn a_layer_failing_verification_leaves_no_layer_directory() {
    let (_registry, proxy, image, reference) = setup().await;
    proxy.rule(top_blob_rule(&image).corrupt_byte(600 << 10));
    let store = LayeredStore::new();

    let result = store
        .puller(true)
        .pull(&reference, &Recorder::default())
        .await;

    let err = result.unwrap_err();
    assert!(
        err.to_string().contains("verification failed"),
        "unexpected error: {err}"
    );
    assert!(store.layer_dirs().is_empty(), "{:?}", store.layer_dirs());
}

//! The layer store through real pulls: a layer shared by two images is unpacked once, `rmi`
//! of one of them deletes only its own layers and blobs, gc never runs under a pull's lease,
//! and an image pulled with `--no-unpack` gets its layers on the next pull.

mod support;

use hoist::images::delete_image;
use hoist::store::{collect_garbage, ChainId, GcOptions};
use hoist_testkit::{Image, ImageBuilder, Layer, TestRegistry};
use support::layers::LayeredStore;
use support::pull::{blobs_in, push, reference};

fn image_on(base: &Layer, top: &str) -> Image {
    ImageBuilder::new()
        .layer(base.clone())
        .layer(Layer::from_files(&[(top, top.as_bytes())]).unwrap())
        .build()
        .unwrap()
}

fn chain_hex(image: &Image) -> Vec<String> {
    let diff_ids: Vec<_> = image
        .diff_ids
        .iter()
        .map(|d| hoist::digest::Digest::parse(d).unwrap())
        .collect();
    ChainId::chain(&diff_ids)
        .iter()
        .map(|c| c.hex().to_owned())
        .collect()
}

async fn two_images() -> (TestRegistry, Image, Image) {
    let registry = TestRegistry::anonymous().await.unwrap();
    let base = Layer::builder()
        .dir("etc")
        .file("etc/base", b"shared base")
        .build()
        .unwrap();
    let (one, two) = (image_on(&base, "one"), image_on(&base, "two"));
    push(&registry, "one", "v1", &one).await;
    push(&registry, "two", "v1", &two).await;
    (registry, one, two)
}

#[tokio::test]
async fn a_layer_shared_by_two_images_is_unpacked_once() {
    let (registry, one, two) = two_images().await;
    let store = LayeredStore::new();
    store.pull(&reference(&registry, "one:v1"), true).await;
    let base_dir = store.root().join("layers").join(&chain_hex(&one)[0]);
    std::fs::write(base_dir.join("diff/marker"), b"from the first unpack").unwrap();

    store.pull(&reference(&registry, "two:v1"), true).await;

    assert_eq!(
        std::fs::read(base_dir.join("diff/marker")).unwrap(),
        b"from the first unpack",
        "the shared base was unpacked again"
    );
    let mut expected = vec![
        chain_hex(&one)[0].clone(),
        chain_hex(&one)[1].clone(),
        chain_hex(&two)[1].clone(),
    ];
    expected.sort();
    assert_eq!(store.layer_dirs(), expected);
    let base = ChainId::chain(&[hoist::digest::Digest::parse(&one.diff_ids[0]).unwrap()]);
    assert_eq!(store.layers.get(&base[0]).unwrap().unwrap().ref_count, 2);
}

#[tokio::test]
async fn rmi_of_one_of_two_images_sharing_a_base_deletes_only_its_own_layers_and_blobs() {
    let (registry, one, two) = two_images().await;
    let store = LayeredStore::new();
    store.pull(&reference(&registry, "one:v1"), true).await;
    store.pull(&reference(&registry, "two:v1"), true).await;
    let blobs_before = blobs_in(&store.root());

    delete_image(&store.meta, &format!("{}/two:v1", registry.host()), false).unwrap();
    let options = GcOptions {
        remove_unreferenced_images: false,
        ..GcOptions::default()
    };
    let report = collect_garbage(&store.meta, &options).unwrap().unwrap();

    let mut kept = vec![chain_hex(&one)[0].clone(), chain_hex(&one)[1].clone()];
    kept.sort();
    assert_eq!(store.layer_dirs(), kept);
    assert_eq!(report.layers_removed.len(), 1);
    assert_eq!(report.layers_removed[0].hex(), chain_hex(&two)[1]);
    let gone: Vec<String> = [
        &two.layers[1].digest,
        &two.config.digest,
        &two.manifest.digest,
    ]
    .iter()
    .map(|d| d.to_string())
    .collect();
    let after: Vec<String> = blobs_in(&store.root())
        .iter()
        .map(|d| d.to_string())
        .collect();
    for digest in &gone {
        assert!(!after.contains(digest), "{digest} survived: {after:?}");
    }
    let kept_blobs = [
        &one.layers[0].digest,
        &one.layers[1].digest,
        &one.config.digest,
        &one.manifest.digest,
    ];
    for digest in kept_blobs {
        assert!(after.contains(digest), "{digest} was deleted: {after:?}");
    }
    assert_eq!(blobs_before.len() - after.len(), gone.len());
}

#[tokio::test]
async fn gc_does_not_run_while_a_pull_holds_its_lease() {
    let (registry, _one, two) = two_images().await;
    let store = LayeredStore::new();
    store.pull(&reference(&registry, "two:v1"), true).await;
    delete_image(&store.meta, &format!("{}/two:v1", registry.host()), false).unwrap();
    // Another process in the middle of a pull holds a lease.
    let lease = store.meta.content().lease().unwrap();

    let options = GcOptions {
        wait: false,
        ..GcOptions::default()
    };
    assert!(collect_garbage(&store.meta, &options).unwrap().is_none());
    assert_eq!(store.layer_dirs().len(), 2);

    drop(lease);
    collect_garbage(&store.meta, &options).unwrap().unwrap();
    assert!(store.layer_dirs().is_empty(), "{:?}", store.layer_dirs());
    let _ = two;
}

#[tokio::test]
async fn an_image_pulled_without_unpacking_is_unpacked_by_the_next_pull() {
    let (registry, one, _two) = two_images().await;
    let store = LayeredStore::new();
    store.pull(&reference(&registry, "one:v1"), false).await;
    assert!(store.layer_dirs().is_empty());

    store.pull(&reference(&registry, "one:v1"), true).await;

    let mut expected = chain_hex(&one);
    expected.sort();
    assert_eq!(store.layer_dirs(), expected);
}

//! What a pull does not fetch: an image already pulled ("Image is up to date", no blob GET),
//! layers already stored ("Already exists", no request), and the same image pulled twice at
//! once into one store (each blob fetched once).

mod support;

use hoist::digest::Digest;
use hoist::progress::Status;
use hoist_testkit::{ImageBuilder, Layer, ManifestFormat, TestRegistry};
use support::pull::{blob_gets, fast_options, gets_of, push, reference, Recorder, Store};

fn image_on(base: &Layer, top: &str) -> hoist_testkit::Image {
    ImageBuilder::new()
        .format(ManifestFormat::DockerSchema2)
        .layer(base.clone())
        .layer(Layer::from_files(&[("top.txt", top.as_bytes())]).unwrap())
        .build()
        .unwrap()
}

/// The methods of hoist's manifest requests, in order.
fn manifest_requests(registry: &TestRegistry) -> Vec<String> {
    let log = registry.access_log();
    log.iter()
        .filter(|e| e.user_agent.starts_with("hoist/") && e.path.contains("/manifests/"))
        .map(|e| e.method.clone())
        .collect()
}

#[tokio::test]
async fn first_pull_reads_the_tag_with_one_get() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let base = Layer::from_files(&[("base", b"base")]).unwrap();
    push(&registry, "app", "v1", &image_on(&base, "first")).await;
    let store = Store::new();

    store
        .puller(fast_options())
        .pull(&reference(&registry, "app:v1"), &Recorder::default())
        .await
        .unwrap();

    // A tag the store does not hold cannot be up to date: GET at once, no HEAD first.
    assert_eq!(manifest_requests(&registry), ["GET"]);
}

#[tokio::test]
async fn second_pull_is_up_to_date_without_fetching_blobs() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let base = Layer::from_files(&[("base", b"base")]).unwrap();
    let image = image_on(&base, "again");
    push(&registry, "app", "v1", &image).await;
    let store = Store::new();
    let target = reference(&registry, "app:v1");
    store
        .puller(fast_options())
        .pull(&target, &Recorder::default())
        .await
        .unwrap();
    registry.clear_log().unwrap();
    let progress = Recorder::default();

    let outcome = store
        .puller(fast_options())
        .pull(&target, &progress)
        .await
        .unwrap();

    assert!(!outcome.updated);
    assert!(!outcome.images[0].downloaded);
    assert_eq!(blob_gets(&registry), 0, "{:?}", registry.access_log());
    // The tag the store holds is HEADed: an unchanged image costs no manifest GET.
    assert_eq!(manifest_requests(&registry), ["HEAD"]);
    assert_eq!(
        progress.lines().last().unwrap(),
        &format!("Status: Image is up to date for {}/app:v1", registry.host())
    );
}

#[tokio::test]
async fn layers_shared_with_a_stored_image_already_exist() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let base = Layer::from_files(&[("shared", b"shared base layer")]).unwrap();
    let first = image_on(&base, "first");
    let second = image_on(&base, "second");
    push(&registry, "one", "v1", &first).await;
    push(&registry, "two", "v1", &second).await;
    let store = Store::new();
    store
        .puller(fast_options())
        .pull(&reference(&registry, "one:v1"), &Recorder::default())
        .await
        .unwrap();
    registry.clear_log().unwrap();
    let progress = Recorder::default();

    let outcome = store
        .puller(fast_options())
        .pull(&reference(&registry, "two:v1"), &progress)
        .await
        .unwrap();

    assert!(outcome.updated);
    let shared = &second.layers[0].digest;
    assert_eq!(progress.statuses_of(shared), vec![Status::AlreadyExists]);
    assert_eq!(gets_of(&registry, shared), 0);
    assert_eq!(gets_of(&registry, &second.layers[1].digest), 1);
    let record = store
        .metadata()
        .image(&Digest::parse(second.digest()).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(record.layers[0].diff_id.to_string(), second.diff_ids[0]);
}

#[tokio::test]
async fn a_tag_moved_to_a_new_image_is_downloaded_newer() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let base = Layer::from_files(&[("base", b"b")]).unwrap();
    let old = image_on(&base, "old");
    let new = image_on(&base, "new");
    push(&registry, "app", "v1", &old).await;
    let store = Store::new();
    let target = reference(&registry, "app:v1");
    store
        .puller(fast_options())
        .pull(&target, &Recorder::default())
        .await
        .unwrap();
    push(&registry, "app", "v1", &new).await;

    let outcome = store
        .puller(fast_options())
        .pull(&target, &Recorder::default())
        .await
        .unwrap();

    assert!(outcome.updated);
    let now = store.metadata().reference(&target).unwrap().unwrap();
    assert_eq!(now.manifest_digest.to_string(), new.digest());
}

#[tokio::test]
async fn concurrent_pulls_of_one_image_fetch_each_blob_once() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = ImageBuilder::new()
        .layer(Layer::random(256 * 1024).unwrap())
        .layer(Layer::random(256 * 1024).unwrap())
        .layer(Layer::random(64 * 1024).unwrap())
        .build()
        .unwrap();
    push(&registry, "busy", "v1", &image).await;
    registry.clear_log().unwrap();
    let store = Store::new();
    // Two pullers: separate download managers, so only the store's per-blob locks keep the
    // second from fetching again.
    let (a, b) = (store.puller(fast_options()), store.puller(fast_options()));
    let target = reference(&registry, "busy:v1");
    let (ra, rb) = (Recorder::default(), Recorder::default());

    let (first, second) = tokio::join!(a.pull(&target, &ra), b.pull(&target, &rb));

    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.images[0].image_id, second.images[0].image_id);
    for blob in image.layers.iter().chain([&image.config]) {
        assert_eq!(gets_of(&registry, &blob.digest), 1, "{}", blob.digest);
    }
    assert_eq!(store.blobs().len(), image.layers.len() + 2);
}

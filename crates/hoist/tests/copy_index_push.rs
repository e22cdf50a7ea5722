//! An image pulled with `--all-platforms` is pushed as its index: every child, then the
//! index's exact bytes, so the target has the source's index digest. A plain pull of the same
//! index still pushes the one platform manifest.

mod support;

use hoist::digest::Digest;
use hoist::media::Platform;
use hoist::pull::PullOptions;
use hoist::reference::Reference;
use hoist_testkit::{ManifestFormat, TestRegistry};

use support::copy::{assert_index_copied, seed_index, skopeo_raw, two_platform_index};
use support::pull::{fast_options, Recorder, Store};
use support::push::{push_anonymous, tag_as};

async fn pull(store: &Store, name: &str, all_platforms: bool) {
    let options = PullOptions {
        platform: Some(Platform::parse("linux/amd64").unwrap()),
        all_platforms,
        ..fast_options()
    };
    store
        .puller(options)
        .pull(&Reference::parse(name).unwrap(), &Recorder::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn all_platforms_pull_then_push_gives_the_same_index_digest() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let index = two_platform_index(ManifestFormat::Oci);
    seed_index(&a, "src/app", "v1", &index).await;
    let store = Store::new();
    pull(&store, &format!("{}/src/app:v1", a.host()), true).await;
    let dest = format!("{}/dst/app:v1", b.host());
    tag_as(
        &store,
        &Digest::parse(index.images[0].digest()).unwrap(),
        &dest,
    );

    let (outcome, progress) = push_anonymous(&store, &dest).await;

    assert_eq!(outcome.tags[0].digest.to_string(), index.digest());
    assert_eq!(skopeo_raw(&format!("docker://{dest}")), index.index.bytes);
    assert_index_copied(&b.url(), "dst/app", &index).await;
    let line = format!("v1: digest: {} size: {}", index.digest(), index.index.size);
    assert!(progress.has_line(&line), "{:?}", progress.lines());
}

#[tokio::test]
async fn all_platforms_pull_records_every_platform_with_a_digest_reference() {
    let a = TestRegistry::anonymous().await.unwrap();
    let index = two_platform_index(ManifestFormat::DockerSchema2);
    seed_index(&a, "src/app", "v1", &index).await;
    let store = Store::new();

    pull(&store, &format!("{}/src/app:v1", a.host()), true).await;

    let metadata = store.metadata();
    let tag = Reference::parse(&format!("{}/src/app:v1", a.host())).unwrap();
    assert_eq!(
        metadata
            .reference(&tag)
            .unwrap()
            .unwrap()
            .manifest_digest
            .to_string(),
        index.images[0].digest()
    );
    let arm = Reference::parse(&format!(
        "{}/src/app@{}",
        a.host(),
        index.images[1].digest()
    ))
    .unwrap();
    assert!(metadata.reference(&arm).unwrap().is_some());
}

#[tokio::test]
async fn plain_pull_of_an_index_still_pushes_the_platform_manifest() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let index = two_platform_index(ManifestFormat::Oci);
    seed_index(&a, "src/app", "v1", &index).await;
    let store = Store::new();
    pull(&store, &format!("{}/src/app:v1", a.host()), false).await;
    let dest = format!("{}/dst/app:v1", b.host());
    tag_as(
        &store,
        &Digest::parse(index.images[0].digest()).unwrap(),
        &dest,
    );

    let (outcome, _) = push_anonymous(&store, &dest).await;

    assert_eq!(outcome.tags[0].digest.to_string(), index.images[0].digest());
    assert_eq!(
        skopeo_raw(&format!("docker://{dest}")),
        index.images[0].manifest.bytes
    );
}

#[tokio::test]
async fn store_source_copies_a_whole_pulled_index_to_a_registry() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let index = two_platform_index(ManifestFormat::Oci);
    seed_index(&a, "src/app", "v1", &index).await;
    let store = Store::new();
    let name = format!("{}/src/app:v1", a.host());
    pull(&store, &name, true).await;
    let source = hoist::copy::StoreSource::new(
        std::sync::Arc::new(store.metadata()),
        &Reference::parse(&name).unwrap(),
    );
    let client = support::pull::anonymous_client();
    let dest = Reference::parse(&format!("{}/dst/app:v1", b.host())).unwrap();
    let sink = hoist::copy::RegistryImage::new(&client, &dest);
    let root = hoist::copy::ImageSource::resolve(&source).await.unwrap();

    let outcome = hoist::copy::copy(
        &source,
        &sink,
        &root,
        &support::copy::fast_copy_options(),
        &Recorder::default(),
    )
    .await
    .unwrap();

    assert_eq!(outcome.root.digest.to_string(), index.digest());
    assert_eq!(skopeo_raw(&format!("docker://{dest}")), index.index.bytes);
    assert_index_copied(&b.url(), "dst/app", &index).await;
}

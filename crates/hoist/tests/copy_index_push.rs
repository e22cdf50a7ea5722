//! An image pulled with `--all-platforms` is pushed as its index: every child, then the
//! index's exact bytes, so the target has the source's index digest. A plain pull of the same
//! index still pushes the one platform manifest. The platforms of an `--all-platforms` pull are
//! fetched at once, through the puller's one set of download slots.

mod support;

use std::time::Duration;

use hoist::digest::Digest;
use hoist::media::Platform;
use hoist::pull::PullOptions;
use hoist::reference::Reference;
use hoist::transfer::TransferConfig;
use hoist_testkit::{FaultProxy, ManifestFormat, ProxiedRequest, Rule, TestRegistry};

use support::copy::{
    assert_index_copied, seed_index, skopeo_raw, three_platform_index, two_platform_index,
};
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

/// How long one request is held back in the tests below.
const HELD: Duration = Duration::from_secs(3);

/// A three-platform index (amd64, arm64, s390x) behind a proxy that holds the GET of the
/// path ending in `held` back for [`HELD`], and an `--all-platforms` pull of it (linux/amd64
/// chosen, signatures kept) with `slots` download slots running in a task.
struct HeldPull {
    index: hoist_testkit::Index,
    proxy: FaultProxy,
    store: Store,
    task: tokio::task::JoinHandle<()>,
    _registry: TestRegistry,
}

async fn pull_holding(held: impl Fn(&hoist_testkit::Index) -> String, slots: usize) -> HeldPull {
    let registry = TestRegistry::anonymous().await.unwrap();
    let index = three_platform_index(ManifestFormat::Oci);
    seed_index(&registry, "src/app", "v1", &index).await;
    let proxy = FaultProxy::start(&registry).await.unwrap();
    let held = held(&index);
    proxy.rule(Rule::matching(&format!("GET /v2/src/app/{held}")).delay(HELD));
    let store = Store::new();
    let puller = store.puller(PullOptions {
        platform: Some(Platform::parse("linux/amd64").unwrap()),
        all_platforms: true,
        signatures: true,
        download: TransferConfig {
            max_concurrent: slots,
            ..fast_options().download
        },
        ..fast_options()
    });
    let target = Reference::parse(&format!("{}/src/app:v1", proxy.host())).unwrap();
    let task = tokio::spawn(async move {
        puller.pull(&target, &Recorder::default()).await.unwrap();
    });
    HeldPull {
        index,
        proxy,
        store,
        task,
        _registry: registry,
    }
}

/// The big layer of `images[i]`, as a path under the repository.
fn layer(i: usize) -> impl Fn(&hoist_testkit::Index) -> String {
    move |index| format!("blobs/{}", index.images[i].layers[1].digest)
}

/// The manifest of `images[i]`, as a path under the repository.
fn manifest(i: usize) -> impl Fn(&hoist_testkit::Index) -> String {
    move |index| format!("manifests/{}", index.images[i].manifest.digest)
}

/// Where `requests` has a GET of the path ending in `path` (they are listed as they start),
/// and whether it was answered.
fn get_of(requests: &[ProxiedRequest], path: &str) -> Option<(usize, bool)> {
    requests
        .iter()
        .position(|r| r.method == "GET" && r.path.ends_with(&format!("/{path}")))
        .map(|i| (i, requests[i].status.is_some()))
}

/// With `held` held back, `other` is asked before `held` is answered.
async fn asked_while_held(
    held: impl Fn(&hoist_testkit::Index) -> String,
    other: impl Fn(&hoist_testkit::Index) -> String,
) {
    let pull = pull_holding(&held, 3).await;
    let (held, other) = (held(&pull.index), other(&pull.index));
    loop {
        let requests = pull.proxy.requests();
        match (get_of(&requests, &held), get_of(&requests, &other)) {
            (Some((_, false)), Some(_)) => break,
            (Some((_, true)), _) => panic!("{other} not asked while {held} was held"),
            _ => assert!(!pull.task.is_finished(), "{requests:#?}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pull.task.await.unwrap();
}

#[tokio::test]
async fn all_platforms_pull_fetches_another_platform_while_one_is_held_back() {
    // One platform after the other, s390x would be asked only once arm64 was answered.
    asked_while_held(layer(1), layer(2)).await;
}

#[tokio::test]
async fn all_platforms_pull_fetches_the_chosen_platform_beside_the_others() {
    // The chosen platform after the others, amd64 would wait for s390x.
    asked_while_held(layer(2), layer(0)).await;
}

#[tokio::test]
async fn all_platforms_pull_reads_the_chosen_manifest_with_the_others() {
    // The chosen one read first, alone, arm64's would wait for amd64's.
    asked_while_held(manifest(0), manifest(1)).await;
}

#[tokio::test]
async fn all_platforms_pull_reads_the_index_signatures_beside_the_platforms() {
    // Read after the platforms, the index's `.sig` would wait for arm64's layer.
    let sig = |index: &hoist_testkit::Index| {
        format!("manifests/{}.sig", index.index.digest.replacen(':', "-", 1))
    };
    asked_while_held(layer(1), sig).await;
}

#[tokio::test]
async fn all_platforms_pull_shares_one_set_of_download_slots() {
    let HeldPull {
        index,
        proxy,
        store,
        task,
        _registry,
    } = pull_holding(layer(1), 1).await;
    let held = &format!("blobs/{}", index.images[1].layers[1].digest);
    // While arm64's layer holds the one slot, no other layer may start.
    let mut seen_held = false;
    loop {
        let requests = proxy.requests();
        match get_of(&requests, held) {
            Some((at, false)) => {
                seen_held = true;
                let layers = index.images.iter().flat_map(|image| &image.layers);
                for layer in layers {
                    let path = format!("blobs/{}", layer.digest);
                    if &path == held {
                        continue;
                    }
                    if let Some((started, _)) = get_of(&requests, &path) {
                        assert!(started < at, "{} beside the held layer", layer.digest);
                    }
                }
            }
            Some((_, true)) => break,
            None => assert!(!task.is_finished(), "{requests:#?}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen_held);
    task.await.unwrap();
    let metadata = store.metadata();
    for image in &index.images[1..] {
        let name = format!("{}/src/app@{}", proxy.host(), image.manifest.digest);
        let reference = Reference::parse(&name).unwrap();
        assert!(metadata.reference(&reference).unwrap().is_some(), "{name}");
    }
}

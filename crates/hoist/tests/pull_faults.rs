//! Pulls through the testkit's fault proxy: the network fails under the pull and the image
//! still arrives correct, or the pull fails at once when retrying cannot help.

mod support;

use std::time::{Duration, Instant};

use hoist::digest::Digest;
use hoist::progress::Status;
use hoist_testkit::{FaultProxy, Image, ImageBuilder, Layer, Rule, TestRegistry};
use support::pull::{blobs_in, fast_options, push, Recorder, Store};

/// A registry with one image of one large (incompressible) layer, and a proxy in front.
async fn setup(repo: &str) -> (TestRegistry, FaultProxy, Image) {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = ImageBuilder::new()
        .layer(Layer::random(512 * 1024).unwrap())
        .build()
        .unwrap();
    push(&registry, repo, "v1", &image).await;
    let proxy = FaultProxy::start(&registry).await.unwrap();
    (registry, proxy, image)
}

/// A store and an anonymous puller for it.
fn store_and_puller() -> (Store, hoist::pull::Puller) {
    let store = Store::new();
    let client = hoist::registry::RegistryClient::new(
        support::pull::test_config(),
        std::sync::Arc::new(hoist::registry::StaticCredentials::none()),
    )
    .unwrap();
    let puller = store.puller_with(client, fast_options());
    (store, puller)
}

fn through(proxy: &FaultProxy, name: &str) -> hoist::reference::Reference {
    hoist::reference::Reference::parse(&format!("{}/{name}", proxy.host())).unwrap()
}

fn layer_path(repo: &str, image: &Image) -> String {
    format!("/v2/{repo}/blobs/{}", image.layers[0].digest)
}

fn layer_gets(proxy: &FaultProxy, repo: &str, image: &Image) -> Vec<hoist_testkit::ProxiedRequest> {
    let path = layer_path(repo, image);
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == path)
        .collect()
}

fn assert_pulled_correctly(store: &Store, image: &Image) {
    let blobs = blobs_in(&store.root());
    for blob in image.layers.iter().chain([&image.config, &image.manifest]) {
        assert!(blobs.contains(&Digest::parse(&blob.digest).unwrap()));
    }
    let record = store
        .metadata()
        .image(&Digest::parse(image.digest()).unwrap())
        .unwrap();
    assert!(record.is_some(), "image recorded");
}

#[tokio::test]
async fn reset_mid_layer_resumes_with_range() {
    let (_registry, proxy, image) = setup("reset").await;
    proxy.rule(
        Rule::matching(&format!("GET {}", layer_path("reset", &image)))
            .reset_after(200_000)
            .times(1),
    );
    let (store, puller) = store_and_puller();

    puller
        .pull(&through(&proxy, "reset:v1"), &Recorder::default())
        .await
        .unwrap();

    assert_pulled_correctly(&store, &image);
    let gets = layer_gets(&proxy, "reset", &image);
    assert_eq!(gets.len(), 2, "{gets:?}");
    let range = gets[1].range().expect("the retry is ranged");
    let offset: u64 = range
        .trim_start_matches("bytes=")
        .trim_end_matches('-')
        .parse()
        .unwrap();
    assert!(offset > 0 && offset <= 200_000, "{range}");
    assert_eq!(gets[1].status, Some(206));
}

#[tokio::test]
async fn truncated_layer_body_is_resumed() {
    let (_registry, proxy, image) = setup("short").await;
    proxy.rule(
        Rule::matching(&format!("GET {}", layer_path("short", &image)))
            .truncate_after(100_000)
            .times(1),
    );
    let (store, puller) = store_and_puller();

    puller
        .pull(&through(&proxy, "short:v1"), &Recorder::default())
        .await
        .unwrap();

    assert_pulled_correctly(&store, &image);
    let gets = layer_gets(&proxy, "short", &image);
    assert_eq!(gets.len(), 2);
    assert!(gets[1].range().is_some());
}

#[tokio::test]
async fn service_unavailable_then_success() {
    let (_registry, proxy, image) = setup("flaky").await;
    proxy.rule(Rule::head_manifest().status(503).times(1));
    proxy.rule(
        Rule::matching(&format!("GET {}", layer_path("flaky", &image)))
            .status(503)
            .times(1),
    );
    let (store, puller) = store_and_puller();
    let progress = Recorder::default();

    puller
        .pull(&through(&proxy, "flaky:v1"), &progress)
        .await
        .unwrap();

    assert_pulled_correctly(&store, &image);
    assert_eq!(layer_gets(&proxy, "flaky", &image).len(), 2);
    assert!(progress
        .statuses_of(&image.layers[0].digest)
        .contains(&Status::RetryingIn { seconds: 1 }));
}

#[tokio::test]
async fn rate_limit_retry_after_is_honoured() {
    let (_registry, proxy, image) = setup("limited").await;
    proxy.rule(
        Rule::matching(&format!("GET {}", layer_path("limited", &image)))
            .status(429)
            .error("TOOMANYREQUESTS", "slow down")
            .retry_after(1)
            .times(1),
    );
    let (store, puller) = store_and_puller();
    let started = Instant::now();

    puller
        .pull(&through(&proxy, "limited:v1"), &Recorder::default())
        .await
        .unwrap();

    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retried before Retry-After: {:?}",
        started.elapsed()
    );
    assert_pulled_correctly(&store, &image);
    assert_eq!(layer_gets(&proxy, "limited", &image).len(), 2);
}

#[tokio::test]
async fn unknown_blob_is_not_retried() {
    let (_registry, proxy, image) = setup("gone").await;
    proxy.rule(
        Rule::matching(&format!("GET {}", layer_path("gone", &image)))
            .status(404)
            .error("BLOB_UNKNOWN", "blob unknown to registry"),
    );
    let (store, puller) = store_and_puller();

    let err = puller
        .pull(&through(&proxy, "gone:v1"), &Recorder::default())
        .await
        .unwrap_err();

    assert!(err.to_string().contains("blob unknown"), "{err}");
    assert_eq!(layer_gets(&proxy, "gone", &image).len(), 1);
    assert!(store.metadata().images().unwrap().is_empty());
}

#[tokio::test]
async fn corrupted_byte_in_transit_fails_verification() {
    let (_registry, proxy, image) = setup("flipped").await;
    proxy
        .rule(Rule::matching(&format!("GET {}", layer_path("flipped", &image))).corrupt_byte(1000));
    let (store, puller) = store_and_puller();

    let err = puller
        .pull(&through(&proxy, "flipped:v1"), &Recorder::default())
        .await
        .unwrap_err();

    assert_eq!(
        err.to_string(),
        format!(
            "filesystem layer verification failed for digest {}",
            image.layers[0].digest
        )
    );
    let layer = Digest::parse(&image.layers[0].digest).unwrap();
    assert!(!blobs_in(&store.root()).contains(&layer));
}

#[tokio::test]
async fn bad_gateway_on_every_blob_twice_then_success() {
    let (_registry, proxy, image) = setup("gateway").await;
    // Every blob GET (config and layer) fails with 502 twice before the proxy lets it through.
    proxy.rule(Rule::get_blob().status(502).times(4));
    let (store, puller) = store_and_puller();

    puller
        .pull(&through(&proxy, "gateway:v1"), &Recorder::default())
        .await
        .unwrap();

    assert_pulled_correctly(&store, &image);
    let bad = proxy
        .requests()
        .into_iter()
        .filter(|r| r.status == Some(502))
        .count();
    assert_eq!(bad, 4, "each 502 was answered and retried");
}

#[tokio::test]
async fn slow_link_still_delivers_the_image() {
    let (_registry, proxy, image) = setup("slow").await;
    // 512 KiB at 1 MiB/s, after a delay before the headers: slow, but within every timeout.
    proxy.rule(
        Rule::matching(&format!("GET {}", layer_path("slow", &image)))
            .delay(Duration::from_millis(300))
            .throttle(1024 * 1024),
    );
    let (store, puller) = store_and_puller();
    let started = Instant::now();

    puller
        .pull(&through(&proxy, "slow:v1"), &Recorder::default())
        .await
        .unwrap();

    assert_pulled_correctly(&store, &image);
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "the throttle was in force"
    );
    assert_eq!(
        layer_gets(&proxy, "slow", &image).len(),
        1,
        "no retry needed"
    );
}

/// Pulls `name` through `proxy` into a new store with the registry timeouts of `config`,
/// within `bound`.
async fn pull_with_timeouts(
    proxy: &FaultProxy,
    name: &str,
    config: hoist::registry::RegistryConfig,
    bound: Duration,
) -> Store {
    let store = Store::new();
    let client = hoist::registry::RegistryClient::new(
        config,
        std::sync::Arc::new(hoist::registry::StaticCredentials::none()),
    )
    .unwrap();
    let started = Instant::now();
    store
        .puller_with(client, fast_options())
        .pull(&through(proxy, name), &Recorder::default())
        .await
        .unwrap();
    assert!(started.elapsed() < bound, "took {:?}", started.elapsed());
    store
}

#[tokio::test]
async fn stalled_layer_body_times_out_and_resumes_with_range() {
    let (_registry, proxy, image) = setup("stall").await;
    proxy.rule(
        Rule::matching(&format!("GET {}", layer_path("stall", &image)))
            .stall_after(200_000)
            .times(1),
    );
    // The read timeout is the no-progress timeout: one second without a byte ends the attempt.
    let config = hoist::registry::RegistryConfig {
        read_timeout: Duration::from_secs(1),
        ..support::pull::test_config()
    };
    let store = pull_with_timeouts(&proxy, "stall:v1", config, Duration::from_secs(20)).await;

    assert_pulled_correctly(&store, &image);
    let gets = layer_gets(&proxy, "stall", &image);
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0].outcome, hoist_testkit::Outcome::Stalled);
    let range = gets[1].range().expect("the retry is ranged");
    assert_ne!(range, "bytes=0-", "{range}");
    assert_eq!(gets[1].status, Some(206));
}

#[tokio::test]
async fn config_dripped_byte_by_byte_misses_its_deadline_and_resumes() {
    let (_registry, proxy, image) = setup("drip").await;
    // A few hundred bytes at 20 bytes a second: every read is quick, the whole is not.
    let config_path = format!("/v2/drip/blobs/{}", image.config.digest);
    proxy.rule(
        Rule::matching(&format!("GET {config_path}"))
            .throttle(20)
            .times(1),
    );
    let config = hoist::registry::RegistryConfig {
        document_timeout: Duration::from_secs(1),
        ..support::pull::test_config()
    };
    let store = pull_with_timeouts(&proxy, "drip:v1", config, Duration::from_secs(10)).await;

    assert_pulled_correctly(&store, &image);
    let gets: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == config_path)
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert!(gets[1].range().is_some(), "the retry resumes: {gets:?}");
}

//! Push through a fault-injecting proxy in front of a real registry: resets mid-upload, 5xx on
//! PATCH and PUT, and a front that refuses large bodies with 413 all end in a correct push;
//! a retry after the registry received every byte resumes instead of re-sending.

mod support;

use hoist::push::PushOptions;
use hoist::reference::Reference;
use hoist::transfer::SendPolicy;
use hoist_testkit::{FaultProxy, ImageBuilder, Layer, Outcome, Rule, TestRegistry};
use support::pull::{anonymous_client, Recorder, Store};
use support::push::{
    assert_blobs_equal, fast_push_options, pusher, seed_and_tag, skopeo_remote_raw,
};

/// Big enough to be streamed under [`options`] (unoptimised test builds gzip slowly, so the
/// thresholds are scaled down rather than the layer up).
const BIG: usize = 1536 << 10;

/// Fast retries; blobs over 512 KiB streamed; 413 may shrink chunks to 64 KiB.
fn options() -> PushOptions {
    PushOptions {
        send: SendPolicy {
            monolithic_max: 512 << 10,
            chunk_size: 1 << 20,
            min_chunk_size: 64 << 10,
        },
        ..fast_push_options()
    }
}

/// An image with one small (monolithic) and one streamed layer; `small: false` leaves the
/// small one out.
fn big_image(seed: &str, small: bool) -> hoist_testkit::Image {
    let mut builder = ImageBuilder::new();
    if small {
        builder = builder.layer(Layer::from_files(&[("seed.txt", seed.as_bytes())]).unwrap());
    }
    builder.layer(Layer::random(BIG).unwrap()).build().unwrap()
}

struct Setup {
    _source: TestRegistry,
    target: TestRegistry,
    proxy: FaultProxy,
    store: Store,
    image: hoist_testkit::Image,
    dest: String,
}

async fn setup(seed: &str) -> Setup {
    setup_with(big_image(seed, true)).await
}

async fn setup_with(image: hoist_testkit::Image) -> Setup {
    let source = TestRegistry::anonymous().await.unwrap();
    let target = TestRegistry::anonymous().await.unwrap();
    let proxy = FaultProxy::start(&target).await.unwrap();
    let store = Store::new();
    let dest = format!("{}/app:v1", proxy.host());
    seed_and_tag(&store, &source, "base/app:1", &image, &dest).await;
    Setup {
        _source: source,
        target,
        proxy,
        store,
        image,
        dest,
    }
}

async fn push(s: &Setup) -> Result<hoist::push::PushOutcome, hoist::push::PushError> {
    pusher(&s.store, anonymous_client(), options())
        .push(&Reference::parse(&s.dest).unwrap(), &Recorder::default())
        .await
}

async fn assert_pushed_correctly(s: &Setup) {
    let direct = format!("{}/app:v1", s.target.host());
    assert_eq!(skopeo_remote_raw(&direct), s.image.manifest.bytes);
    assert_blobs_equal(&s.target.url(), "app", &s.image).await;
}

fn patches(proxy: &FaultProxy) -> Vec<hoist_testkit::ProxiedRequest> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect()
}

#[tokio::test]
async fn reset_mid_patch_ends_in_a_correct_push() {
    let s = setup("reset").await;
    s.proxy
        .rule(Rule::patch_upload().reset_request_after(256 << 10).times(1));

    push(&s).await.unwrap();

    assert_eq!(patches(&s.proxy)[0].outcome, Outcome::RequestReset);
    assert_pushed_correctly(&s).await;
}

#[tokio::test]
async fn server_error_on_patch_is_retried() {
    let s = setup("patch500").await;
    s.proxy.rule(Rule::patch_upload().status(500).times(1));

    push(&s).await.unwrap();

    assert!(patches(&s.proxy).len() >= 2);
    assert_pushed_correctly(&s).await;
}

#[tokio::test]
async fn server_error_on_small_blob_put_is_retried() {
    let s = setup("put500").await;
    s.proxy.rule(Rule::put_upload().status(503).times(2));

    push(&s).await.unwrap();

    assert_pushed_correctly(&s).await;
}

#[tokio::test]
async fn retry_after_every_byte_arrived_resumes_without_resending() {
    // One layer: the first upload PUT is the one closing it, after its PATCH delivered every
    // byte.
    let s = setup_with(big_image("resume", false)).await;
    s.proxy
        .rule(Rule::put_upload().status(500).times(1).label("put-500"));
    s.proxy.rule(Rule::any().label("pass"));

    push(&s).await.unwrap();

    let big = &s.image.layers[0];
    let sent: u64 = patches(&s.proxy).iter().map(|r| r.request_bytes).sum();
    assert_eq!(sent, big.size, "layer bytes were sent more than once");
    let status_gets = s
        .proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/blobs/uploads/"))
        .count();
    assert!(
        status_gets >= 1,
        "the retry did not ask for the upload status"
    );
    assert_pushed_correctly(&s).await;
}

#[tokio::test]
async fn payload_too_large_switches_to_chunks() {
    let s = setup("413").await;
    s.proxy
        .rule(Rule::patch_upload().body_larger_than(256 << 10).status(413));

    push(&s).await.unwrap();

    let accepted: Vec<_> = patches(&s.proxy)
        .into_iter()
        .filter(|r| r.status == Some(202))
        .collect();
    assert!(accepted.len() >= 6, "{} chunks", accepted.len());
    assert!(accepted.iter().all(|r| r.request_bytes <= 256 << 10));
    assert!(accepted.iter().all(|r| r.header("content-range").is_some()));
    assert_pushed_correctly(&s).await;
}

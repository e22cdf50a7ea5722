//! Push of a loaded image (layers compressed while uploading) through a fault-injecting proxy
//! in front of a real registry: a reset mid-`PATCH`, a failed closing `PUT` and a front that
//! refuses large bodies all end in a correct push, resumed from the compressed blob the
//! first attempt kept instead of compressing again.

mod support;

use std::io::Read;

use hoist::digest::Digest;
use hoist::push::PushOptions;
use hoist::reference::Reference;
use hoist::transfer::{Compression, SendPolicy};
use hoist_testkit::{FaultProxy, ImageBuilder, Layer, Outcome, Rule, TestRegistry};
use support::pull::{anonymous_client, Recorder, Store};
use support::push::{blob_bytes, fast_push_options, loaded, pusher};

/// Streamed under [`options`]; random, so it stays ~this size gzipped.
const BIG: usize = 1536 << 10;

fn options() -> PushOptions {
    PushOptions {
        compression: Compression::Gzip,
        send: SendPolicy {
            monolithic_max: 512 << 10,
            chunk_size: 1 << 20,
            min_chunk_size: 64 << 10,
        },
        ..fast_push_options()
    }
}

struct Setup {
    target: TestRegistry,
    proxy: FaultProxy,
    store: Store,
    image: hoist_testkit::Image,
    dest: String,
}

async fn setup() -> Setup {
    let target = TestRegistry::anonymous().await.unwrap();
    let proxy = FaultProxy::start(&target).await.unwrap();
    let image = ImageBuilder::new()
        .layer(Layer::random(BIG).unwrap())
        .build()
        .unwrap();
    let dest = format!("{}/app:v1", proxy.host());
    let store = loaded(&image, &dest);
    Setup {
        target,
        proxy,
        store,
        image,
        dest,
    }
}

async fn push(s: &Setup) -> hoist::push::PushOutcome {
    pusher(&s.store, anonymous_client(), options())
        .push(&Reference::parse(&s.dest).unwrap(), &Recorder::default())
        .await
        .unwrap()
}

/// The registry (read directly) holds a gzip layer whose content is the image's diffID, and
/// the store kept exactly that blob.
async fn assert_layer_correct(s: &Setup, outcome: &hoist::push::PushOutcome) -> Digest {
    let meta = s.store.metadata();
    let record = meta.image(&outcome.tags[0].digest).unwrap().unwrap();
    let layer = &record.layers[0];
    let blob = blob_bytes(&s.target.url(), "app", layer.digest.as_str()).await;
    assert_eq!(Digest::sha256_of(&blob), layer.digest);
    let mut tar = Vec::new();
    flate2::read::MultiGzDecoder::new(&blob[..])
        .read_to_end(&mut tar)
        .unwrap();
    assert_eq!(Digest::sha256_of(&tar).to_string(), s.image.diff_ids[0]);
    assert!(s.store.content().has(&layer.digest).unwrap());
    layer.digest.clone()
}

fn patches(proxy: &FaultProxy) -> Vec<hoist_testkit::ProxiedRequest> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect()
}

#[tokio::test]
async fn reset_mid_compressed_patch_ends_in_a_correct_push() {
    let s = setup().await;
    s.proxy
        .rule(Rule::patch_upload().reset_request_after(256 << 10).times(1));

    let outcome = push(&s).await;

    assert_eq!(patches(&s.proxy)[0].outcome, Outcome::RequestReset);
    assert_layer_correct(&s, &outcome).await;
}

#[tokio::test]
async fn failed_closing_put_resumes_without_resending_the_compressed_bytes() {
    let s = setup().await;
    s.proxy.rule(Rule::put_upload().status(500).times(1));
    s.proxy.rule(Rule::any());

    let outcome = push(&s).await;

    let digest = assert_layer_correct(&s, &outcome).await;
    let size = s.store.content().size(&digest).unwrap();
    let sent: u64 = patches(&s.proxy).iter().map(|r| r.request_bytes).sum();
    assert_eq!(sent, size, "compressed bytes were sent more than once");
}

#[tokio::test]
async fn payload_too_large_on_a_compressed_stream_switches_to_chunks_of_the_kept_blob() {
    let s = setup().await;
    s.proxy
        .rule(Rule::patch_upload().body_larger_than(256 << 10).status(413));

    let outcome = push(&s).await;

    let accepted: Vec<_> = patches(&s.proxy)
        .into_iter()
        .filter(|r| r.status == Some(202))
        .collect();
    assert!(accepted.len() >= 6, "{} chunks", accepted.len());
    assert!(accepted.iter().all(|r| r.header("content-range").is_some()));
    assert_layer_correct(&s, &outcome).await;
}

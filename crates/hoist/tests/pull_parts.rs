//! A big layer fetched as several `Range` requests at once (containerd 2.1's
//! `concurrent_layer_fetch_buffer`), through the testkit's fault proxy: the parts arrive on
//! several connections and unpack as they complete, the result is the one-stream result, and
//! every way a part or the registry can fail ends in the right image — a registry ignoring
//! `Range` gets one stream, a cut part is asked again for what it lacks, a part with wrong
//! bytes is caught by the digest and the layer fetched again as one stream, and a rerun after
//! a kill fetches only the parts not recorded complete. By default the first bytes come as one
//! stream that decides (the probe): a link slower than hoist gets parts for the rest, a
//! consumer slower than the link keeps one stream. The threshold is small so the tests stay
//! fast.

mod support;

use std::ops::Range;

use hoist::digest::Digest;
use hoist::pull::PullOptions;
use hoist::reference::Reference;
use hoist::transfer::RangeFetch;
use hoist_testkit::{
    FaultProxy, Image, ImageBuilder, Layer, Outcome, ProxiedRequest, Rule, TestRegistry,
};
use support::layers::LayeredStore;
use support::pull::{fast_options, push, Recorder};

const PART: u64 = 256 << 10;

/// Parts of 256 KiB on 4 connections for layers of 512 KiB and more, at once (no probe).
fn in_parts() -> RangeFetch {
    RangeFetch {
        threshold: 512 << 10,
        part_size: PART,
        connections: 4,
        probe: 0,
    }
}

/// A registry with one image of one 2 MiB random layer (incompressible), behind a proxy.
async fn setup() -> (TestRegistry, FaultProxy, Image, Reference) {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = ImageBuilder::new()
        .layer(Layer::random(2 << 20).unwrap())
        .build()
        .unwrap();
    push(&registry, "big", "v1", &image).await;
    let proxy = FaultProxy::start(&registry).await.unwrap();
    let reference = Reference::parse(&format!("{}/big:v1", proxy.host())).unwrap();
    (registry, proxy, image, reference)
}

/// [`in_parts`], but watching the first 256 KiB (and 250 ms) as one stream first.
fn probing() -> RangeFetch {
    RangeFetch {
        probe: PART,
        ..in_parts()
    }
}

fn options(store: &LayeredStore, range_fetch: RangeFetch) -> PullOptions {
    PullOptions {
        layers: Some(store.layers.clone()),
        range_fetch,
        ..fast_options()
    }
}

async fn pull(store: &LayeredStore, reference: &Reference, range_fetch: RangeFetch) {
    store
        .puller_with(options(store, range_fetch))
        .pull(reference, &Recorder::default())
        .await
        .unwrap();
}

fn layer_rule(image: &Image) -> Rule {
    Rule::matching(&format!("GET /v2/big/blobs/{}", image.layers[0].digest))
}

fn layer_gets(proxy: &FaultProxy, image: &Image) -> Vec<ProxiedRequest> {
    let path = format!("/v2/big/blobs/{}", image.layers[0].digest);
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == path)
        .collect()
}

/// `bytes=S-E` as `S..E+1`.
fn span(request: &ProxiedRequest) -> Option<Range<u64>> {
    let (start, end) = request.range()?.strip_prefix("bytes=")?.split_once('-')?;
    Some(start.parse().ok()?..end.parse::<u64>().ok()? + 1)
}

fn layer_size(image: &Image) -> u64 {
    image.layers[0].size
}

/// The layer's blob is stored with its pushed bytes, and unpacked with them.
fn assert_layer_stored_and_unpacked(store: &LayeredStore, image: &Image) -> Vec<u8> {
    let digest = Digest::parse(&image.layers[0].digest).unwrap();
    let blob = store.root().join("blobs/sha256").join(digest.hex());
    assert_eq!(std::fs::read(blob).unwrap(), image.layers[0].bytes);
    let dirs = store.layer_dirs();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let unpacked = store
        .root()
        .join("layers")
        .join(&dirs[0])
        .join("diff/random.bin");
    let bytes = std::fs::read(unpacked).unwrap();
    assert_eq!(bytes.len(), 2 << 20);
    assert!(!store.root().join("ingest").join(digest.hex()).exists());
    bytes
}

#[tokio::test]
async fn a_big_layer_arrives_in_parts_and_equals_the_one_stream_pull() {
    let (_registry, proxy, image, reference) = setup().await;
    let parted = LayeredStore::new();

    pull(&parted, &reference, in_parts()).await;

    let gets = layer_gets(&proxy, &image);
    assert_eq!(
        gets.len() as u64,
        layer_size(&image).div_ceil(PART),
        "{gets:?}"
    );
    let mut spans: Vec<_> = gets.iter().map(|g| span(g).expect("a part")).collect();
    spans.sort_by_key(|s| s.start);
    assert_eq!(spans.first().map(|s| s.start), Some(0));
    assert!(
        spans.windows(2).all(|w| w[0].end == w[1].start),
        "{spans:?}"
    );
    assert_eq!(spans.last().map(|s| s.end), Some(layer_size(&image)));
    assert!(gets.iter().all(|g| g.status == Some(206)));
    let from_parts = assert_layer_stored_and_unpacked(&parted, &image);

    let streamed = LayeredStore::new();
    proxy.clear_requests();
    pull(&streamed, &reference, RangeFetch::off()).await;

    assert_eq!(layer_gets(&proxy, &image).len(), 1);
    assert_eq!(
        assert_layer_stored_and_unpacked(&streamed, &image),
        from_parts
    );
    let manifest = Digest::parse(image.digest()).unwrap();
    let (a, b) = (
        parted.meta.image(&manifest).unwrap().unwrap(),
        streamed.meta.image(&manifest).unwrap().unwrap(),
    );
    assert_eq!(a.layers, b.layers);
    assert_eq!(a.image_id, b.image_id);
}

#[tokio::test]
async fn a_registry_ignoring_range_gets_one_stream() {
    let (_registry, proxy, image, reference) = setup().await;
    proxy.rule(Rule::get_blob().ignore_range());
    let store = LayeredStore::new();

    pull(&store, &reference, in_parts()).await;

    let gets = layer_gets(&proxy, &image);
    let last = gets.last().unwrap();
    assert_eq!(last.range(), None, "{gets:?}");
    assert_eq!(last.status, Some(200));
    // The declined parts were dropped unread: at most one per connection.
    assert!(gets.len() <= 5, "{gets:?}");
    assert_layer_stored_and_unpacked(&store, &image);
}

#[tokio::test]
async fn a_part_cut_mid_way_is_asked_again_for_what_it_lacks() {
    let (_registry, proxy, image, reference) = setup().await;
    proxy.rule(layer_rule(&image).reset_after(100_000).times(1));
    let store = LayeredStore::new();

    pull(&store, &reference, in_parts()).await;

    let gets = layer_gets(&proxy, &image);
    assert_eq!(
        gets.len() as u64,
        layer_size(&image).div_ceil(PART) + 1,
        "{gets:?}"
    );
    let cut = gets.iter().find(|g| g.outcome == Outcome::Reset).unwrap();
    let cut = span(cut).unwrap();
    let again = gets
        .iter()
        .filter_map(span)
        .find(|s| s.end == cut.end && s.start > cut.start)
        .expect("the rest of the cut part was asked for");
    assert!(
        again.start <= cut.start + 100_000,
        "{again:?} after {cut:?}"
    );
    assert_layer_stored_and_unpacked(&store, &image);
}

#[tokio::test]
async fn a_part_with_wrong_bytes_is_caught_and_the_layer_fetched_again_as_one_stream() {
    let (_registry, proxy, image, reference) = setup().await;
    proxy.rule(layer_rule(&image).corrupt_byte(1000).times(1));
    let store = LayeredStore::new();

    pull(&store, &reference, in_parts()).await;

    let gets = layer_gets(&proxy, &image);
    let last = gets.last().unwrap();
    assert_eq!(last.range(), None, "{gets:?}");
    assert_eq!(last.response_bytes, layer_size(&image));
    assert_layer_stored_and_unpacked(&store, &image);
}

#[tokio::test]
async fn wrong_bytes_in_a_part_fail_naming_the_layer_when_no_attempt_is_left() {
    let (_registry, proxy, image, reference) = setup().await;
    proxy.rule(layer_rule(&image).corrupt_byte(1000).times(1));
    let store = LayeredStore::new();
    let mut options = options(&store, in_parts());
    options.download.max_attempts = 1;

    let err = store
        .puller_with(options)
        .pull(&reference, &Recorder::default())
        .await
        .unwrap_err();

    assert!(err.to_string().contains(&image.layers[0].digest), "{err}");
    let digest = Digest::parse(&image.layers[0].digest).unwrap();
    assert!(!store
        .root()
        .join("blobs/sha256")
        .join(digest.hex())
        .exists());
}

#[tokio::test]
async fn a_rerun_fetches_only_the_parts_a_killed_pull_did_not_complete() {
    let (_registry, proxy, image, reference) = setup().await;
    let store = LayeredStore::new();
    let layer = &image.layers[0];
    let size = layer.size;
    // What a pull killed mid-way leaves: two parts complete and recorded, one written but
    // not recorded (killed before its sync).
    let done = [0..PART, 3 * PART..4 * PART];
    {
        let content = hoist::store::ContentStore::open(&store.root()).unwrap();
        let digest = Digest::parse(&layer.digest).unwrap();
        let ingest = content.begin(&digest, Some(size)).unwrap();
        let parts = ingest.parts().unwrap().unwrap();
        for range in done.iter().cloned() {
            let bytes = &layer.bytes[range.start as usize..range.end as usize];
            parts.write_at(range.start, &[bytes]).unwrap();
            parts.complete(range).unwrap();
        }
        let unrecorded = &layer.bytes[PART as usize..2 * PART as usize];
        parts.write_at(PART, &[unrecorded]).unwrap();
    }

    pull(&store, &reference, in_parts()).await;

    let gets = layer_gets(&proxy, &image);
    let fetched: u64 = gets.iter().map(|g| g.response_bytes).sum();
    assert_eq!(fetched, size - 2 * PART, "{gets:?}");
    for get in &gets {
        let asked = span(get).expect("only parts were asked for");
        assert!(
            done.iter()
                .all(|d| asked.end <= d.start || asked.start >= d.end),
            "{asked:?} was complete already"
        );
    }
    assert_layer_stored_and_unpacked(&store, &image);
}

#[tokio::test]
async fn a_link_capped_per_connection_is_probed_then_fetched_in_parts() {
    let (_registry, proxy, image, reference) = setup().await;
    // 2 MB/s per connection: the first 250 ms bring about 500 KB of the 2 MiB.
    proxy.rule(layer_rule(&image).throttle(2_000_000));
    let store = LayeredStore::new();

    pull(&store, &reference, probing()).await;

    let gets = layer_gets(&proxy, &image);
    let (probe, parts) = gets.split_first().unwrap();
    assert_eq!(probe.range(), None, "{gets:?}");
    assert!(probe.response_bytes < layer_size(&image), "{gets:?}");
    let mut spans: Vec<_> = parts.iter().map(|g| span(g).expect("a part")).collect();
    spans.sort_by_key(|s| s.start);
    // The parts start where the probe's stream was left, and cover the rest.
    let from = spans.first().map(|s| s.start).unwrap();
    assert!(from >= PART && from <= probe.response_bytes, "{gets:?}");
    assert!(
        spans.windows(2).all(|w| w[0].end == w[1].start),
        "{spans:?}"
    );
    assert_eq!(spans.last().map(|s| s.end), Some(layer_size(&image)));
    assert_layer_stored_and_unpacked(&store, &image);
}

/// A layer sink slower than loopback: 20 ms for each write.
struct SlowSink;

impl hoist::transfer::LayerSink for SlowSink {
    fn write(&mut self, _: hoist::transfer::Bytes) -> std::io::Result<()> {
        std::thread::sleep(std::time::Duration::from_millis(20));
        Ok(())
    }

    fn finish(self: Box<Self>, _: &Digest) -> std::io::Result<()> {
        Ok(())
    }

    fn abort(self: Box<Self>) {}
}

#[tokio::test]
async fn a_link_faster_than_hoist_keeps_one_stream() {
    let (_registry, proxy, image, reference) = setup().await;
    let store = LayeredStore::new();
    let slow = |_: &Digest| -> std::io::Result<Box<dyn hoist::transfer::LayerSink>> {
        Ok(Box::new(SlowSink))
    };
    let options = PullOptions {
        layers: None,
        layer_sink: Some(std::sync::Arc::new(slow)),
        ..options(&store, probing())
    };

    store
        .puller_with(options)
        .pull(&reference, &Recorder::default())
        .await
        .unwrap();

    // The sink takes more than half a second for the 2 MiB, so the probe decided on the way
    // (after 250 ms), seeing the pipeline busy: one whole answer, no part asked for.
    let gets = layer_gets(&proxy, &image);
    assert_eq!(gets.len(), 1, "{gets:?}");
    assert_eq!(gets[0].range(), None);
    assert_eq!(gets[0].outcome, Outcome::Forwarded);
    assert_eq!(gets[0].response_bytes, layer_size(&image));
    let digest = Digest::parse(&image.layers[0].digest).unwrap();
    let blob = store.root().join("blobs/sha256").join(digest.hex());
    assert_eq!(std::fs::read(blob).unwrap(), image.layers[0].bytes);
}

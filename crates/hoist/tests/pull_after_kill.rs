//! A pull after a pull that was killed at the worst instant: every byte of a blob written to
//! its ingest, the commit not yet done. The next pull must verify and commit what is there,
//! not ask the registry for the bytes after the end (a `Range` it answers with 416, which
//! failed every later pull of the image until the ingest aged out: found by
//! `scripts/chaos.sh`).

mod support;

use hoist::digest::Digest;
use hoist_testkit::{ImageBuilder, Layer, TestRegistry};
use support::pull::{fast_options, gets_of, push, reference, Recorder, Store};

#[tokio::test]
async fn blobs_written_whole_before_a_kill_are_committed_without_fetching_them_again() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = ImageBuilder::new()
        .layer(Layer::random(64 * 1024).unwrap())
        .build()
        .unwrap();
    push(&registry, "killed", "v1", &image).await;
    let store = Store::new();
    for blob in [&image.config, &image.layers[0]] {
        let digest = Digest::parse(&blob.digest).unwrap();
        let mut ingest = store.content().begin(&digest, Some(blob.size)).unwrap();
        ingest.write_chunk(&blob.bytes).unwrap();
        drop(ingest);
    }

    store
        .puller(fast_options())
        .pull(&reference(&registry, "killed:v1"), &Recorder::default())
        .await
        .unwrap();

    for blob in [&image.config, &image.layers[0]] {
        let digest = Digest::parse(&blob.digest).unwrap();
        assert!(
            store.content().has(&digest).unwrap(),
            "{} committed",
            blob.digest
        );
        assert_eq!(
            gets_of(&registry, &blob.digest),
            0,
            "{} fetched again",
            blob.digest
        );
    }
}

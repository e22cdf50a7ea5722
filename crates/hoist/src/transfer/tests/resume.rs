//! Resuming: `Range` after a cut or a short body, restarts when the range is ignored, ingests left by a killed run.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_with_range_after_a_connection_cut() {
    let env = env().await;
    let (raw, compressed) = gzip_layer(1);
    let digest = env.server.add(compressed.clone());
    let cut = compressed.len() / 2;
    env.server.fault(&digest, [Fault::CutAfter(cut)]);
    let (recorder, sink) = recording_sink();

    let download = env
        .download(
            BlobRequest::new(digest.clone())
                .with_size(compressed.len() as u64)
                .with_compression(Compression::Gzip)
                .with_sink(sink),
        )
        .await
        .unwrap();

    assert_eq!(
        env.server.seen(),
        [seen(&digest, None), seen(&digest, Some(cut as u64))]
    );
    assert_eq!(download.diff_id, Some(Digest::sha256_of(&raw)));
    assert_eq!(download.size, compressed.len() as u64);
    assert!(!download.already_present);
    assert_eq!(recorder.opened.load(Ordering::SeqCst), 1);
    assert_eq!(recorder.aborted.load(Ordering::SeqCst), 0);
    let finished = recorder.finished.lock().unwrap();
    assert_eq!(finished.len(), 1);
    assert!(
        finished[0].0 == raw,
        "the sink must see every byte exactly once, in order"
    );
    assert_eq!(Some(finished[0].1.clone()), download.diff_id);
    assert_eq!(env.store.size(&digest).unwrap(), compressed.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_from_zero_when_a_ranged_request_gets_200() {
    let env = env().await;
    let (raw, compressed) = gzip_layer(2);
    let digest = env.server.add(compressed.clone());
    let cut = compressed.len() / 3;
    env.server
        .fault(&digest, [Fault::CutAfter(cut), Fault::IgnoreRange]);
    let (recorder, sink) = recording_sink();

    let download = env
        .download(
            BlobRequest::new(digest.clone())
                .with_size(compressed.len() as u64)
                .with_compression(Compression::Gzip)
                .with_sink(sink),
        )
        .await
        .unwrap();

    assert_eq!(
        env.server.seen(),
        [seen(&digest, None), seen(&digest, Some(cut as u64))]
    );
    assert_eq!(download.diff_id, Some(Digest::sha256_of(&raw)));
    // The first pass's sink was thrown away, a fresh one saw the whole layer once.
    assert_eq!(recorder.opened.load(Ordering::SeqCst), 2);
    assert_eq!(recorder.aborted.load(Ordering::SeqCst), 1);
    let finished = recorder.finished.lock().unwrap();
    assert_eq!(finished.len(), 1);
    assert!(finished[0].0 == raw);
    assert_eq!(env.store.size(&digest).unwrap(), compressed.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_an_ingest_left_by_a_killed_run() {
    let env = env().await;
    let (raw, compressed) = gzip_layer(8);
    let digest = env.server.add(compressed.clone());
    let written = compressed.len() * 2 / 5;
    // What a process killed mid-download leaves: a partial ingest, no lock holder.
    {
        let mut ingest = env
            .store
            .begin(&digest, Some(compressed.len() as u64))
            .unwrap();
        ingest.write_chunk(&compressed[..written]).unwrap();
    }
    let (recorder, sink) = recording_sink();

    let download = env
        .download(
            BlobRequest::new(digest.clone())
                .with_size(compressed.len() as u64)
                .with_compression(Compression::Gzip)
                .with_sink(sink),
        )
        .await
        .unwrap();

    assert_eq!(env.server.seen(), [seen(&digest, Some(written as u64))]);
    assert_eq!(download.diff_id, Some(Digest::sha256_of(&raw)));
    let finished = recorder.finished.lock().unwrap();
    assert!(finished.len() == 1 && finished[0].0 == raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_a_killed_runs_ingest_from_zero_when_the_range_is_ignored() {
    let env = env().await;
    let (raw, compressed) = gzip_layer(16);
    let digest = env.server.add(compressed.clone());
    let written = compressed.len() / 4;
    {
        let mut ingest = env
            .store
            .begin(&digest, Some(compressed.len() as u64))
            .unwrap();
        ingest.write_chunk(&compressed[..written]).unwrap();
    }
    env.server.fault(&digest, [Fault::IgnoreRange]);
    let (recorder, sink) = recording_sink();

    let download = env
        .download(
            BlobRequest::new(digest.clone())
                .with_size(compressed.len() as u64)
                .with_compression(Compression::Gzip)
                .with_sink(sink),
        )
        .await
        .unwrap();

    assert_eq!(env.server.seen(), [seen(&digest, Some(written as u64))]);
    assert_eq!(download.diff_id, Some(Digest::sha256_of(&raw)));
    // The prefix replayed from disk went to a sink that was then aborted; the finished sink
    // saw the network's full body exactly once.
    assert_eq!(recorder.aborted.load(Ordering::SeqCst), 1);
    let finished = recorder.finished.lock().unwrap();
    assert!(finished.len() == 1 && finished[0].0 == raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_without_a_request_an_ingest_that_was_complete() {
    let env = env().await;
    let data = layer_bytes(30_000, 9);
    let digest = env.server.add(data.clone());
    {
        let mut ingest = env.store.begin(&digest, Some(data.len() as u64)).unwrap();
        ingest.write_chunk(&data).unwrap();
    }

    env.download(BlobRequest::new(digest.clone()).with_size(data.len() as u64))
        .await
        .unwrap();

    assert!(env.server.seen().is_empty());
    assert!(env.store.has(&digest).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_a_body_shorter_than_declared_with_range() {
    let env = env().await;
    let data = layer_bytes(100_000, 6);
    let digest = env.server.add(data.clone());
    env.server.fault(&digest, [Fault::ShortBody(40_000)]);

    env.download(BlobRequest::new(digest.clone()).with_size(data.len() as u64))
        .await
        .unwrap();

    assert_eq!(
        env.server.seen(),
        [seen(&digest, None), seen(&digest, Some(40_000))]
    );
    assert!(env.store.has(&digest).unwrap());
}

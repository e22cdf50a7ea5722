//! The one-pass pipeline: diffIDs of gzip, zstd and uncompressed layers, decompression errors, and blobs already present.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn computes_the_diff_id_of_a_gzip_layer() {
    let env = env().await;
    let raw = layer_bytes(300_000, 10);
    let digest = env.server.add(gzip(&raw));

    let download = env
        .download(BlobRequest::new(digest).with_compression(Compression::Gzip))
        .await
        .unwrap();

    assert_eq!(download.diff_id, Some(Digest::sha256_of(&raw)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn computes_the_diff_id_of_a_multi_member_gzip_layer() {
    let env = env().await;
    let raw = layer_bytes(200_000, 11);
    let mut blob = gzip(&raw[..50_000]);
    blob.extend(gzip(&raw[50_000..]));
    let digest = env.server.add(blob);

    let download = env
        .download(BlobRequest::new(digest).with_compression(Compression::Gzip))
        .await
        .unwrap();

    assert_eq!(download.diff_id, Some(Digest::sha256_of(&raw)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn computes_the_diff_id_of_a_zstd_layer() {
    let env = env().await;
    let raw = layer_bytes(300_000, 12);
    let compressed = zstd(&raw);
    let digest = env.server.add(compressed.clone());
    env.server
        .fault(&digest, [Fault::CutAfter(compressed.len() / 2)]);

    let download = env
        .download(BlobRequest::new(digest).with_compression(Compression::Zstd))
        .await
        .unwrap();

    assert_eq!(download.diff_id, Some(Digest::sha256_of(&raw)));
    assert_eq!(env.server.seen().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncompressed_layer_diff_id_is_its_digest() {
    let env = env().await;
    let raw = layer_bytes(100_000, 13);
    let digest = env.server.add(raw.clone());
    let (recorder, sink) = recording_sink();

    let download = env
        .download(BlobRequest::new(digest.clone()).with_sink(sink))
        .await
        .unwrap();

    assert_eq!(download.diff_id, Some(digest));
    assert_eq!(download.diff_id, Some(Digest::sha256_of(&raw)));
    assert!(recorder.finished.lock().unwrap()[0].0 == raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_an_intact_blob_that_is_not_gzip_as_a_decompression_error() {
    let env = env().await;
    let digest = env.server.add(b"this is not gzip at all".to_vec());

    let error = env
        .download(BlobRequest::new(digest.clone()).with_compression(Compression::Gzip))
        .await
        .unwrap_err();

    assert!(
        matches!(error, TransferError::Decompress { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with(&format!("cannot decompress {digest} as gzip: ")),
        "{error}"
    );
    assert_eq!(env.server.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn present_blob_already_exists_without_a_request_and_yields_its_diff_id() {
    let env = env().await;
    let raw = layer_bytes(100_000, 14);
    let compressed = gzip(&raw);
    let digest = Digest::sha256_of(&compressed);
    env.store.write_blob(&digest, &compressed).unwrap();
    let (progress, mut rx) = ChannelProgress::new();

    let download = env
        .download(
            BlobRequest::new(digest.clone())
                .with_compression(Compression::Gzip)
                .with_progress(Arc::new(progress)),
        )
        .await
        .unwrap();

    assert!(env.server.seen().is_empty());
    assert!(download.already_present);
    assert_eq!(download.diff_id, Some(Digest::sha256_of(&raw)));
    assert_eq!(download.size, compressed.len() as u64);
    assert_eq!(statuses(&mut rx), [Status::AlreadyExists]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn present_blob_takes_its_diff_id_from_the_cache() {
    let env = env().await;
    let compressed = gzip(b"cached");
    let digest = Digest::sha256_of(&compressed);
    env.store.write_blob(&digest, &compressed).unwrap();
    // A deliberately different answer proves the cache was used, not the blob.
    let recorded = Digest::sha256_of(b"recorded diff id");
    let answer = recorded.clone();
    let manager =
        env.manager
            .clone()
            .with_diff_id_cache(Arc::new(move |_: &Digest| -> Option<Digest> {
                Some(answer.clone())
            }));

    let download = manager
        .download(
            env.server.fetcher(),
            BlobRequest::new(digest).with_compression(Compression::Gzip),
        )
        .await
        .unwrap();

    assert_eq!(download.diff_id, Some(recorded));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn present_blob_is_streamed_into_the_sink_without_a_request() {
    let env = env().await;
    let raw = layer_bytes(150_000, 18);
    let compressed = zstd(&raw);
    let digest = Digest::sha256_of(&compressed);
    env.store.write_blob(&digest, &compressed).unwrap();
    let (recorder, sink) = recording_sink();

    let download = env
        .download(
            BlobRequest::new(digest.clone())
                .with_compression(Compression::Zstd)
                .with_sink(sink),
        )
        .await
        .unwrap();

    assert!(env.server.seen().is_empty());
    assert!(download.already_present);
    let finished = recorder.finished.lock().unwrap();
    assert!(finished.len() == 1 && finished[0].0 == raw);
    assert_eq!(finished[0].1, Digest::sha256_of(&raw));
}

//! The manager as a whole: shared transfers, the concurrency limit, the progress statuses.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_for_one_blob_share_one_transfer() {
    let env = env().await;
    let data = layer_bytes(50_000, 7);
    let digest = env.server.add(data);
    env.server.delay_responses(Duration::from_millis(300));

    let (a, b) = tokio::join!(
        env.download(BlobRequest::new(digest.clone())),
        env.download(BlobRequest::new(digest.clone()))
    );
    let (a, b) = (a.unwrap(), b.unwrap());

    assert_eq!(env.server.seen().len(), 1);
    assert_eq!(a.digest, b.digest);
    assert!(a.joined != b.joined, "exactly one request joins the other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_at_most_max_concurrent_downloads_in_flight() {
    let env = env_with(DownloadConfig {
        max_concurrent: 2,
        ..fast_config()
    })
    .await;
    env.server.delay_responses(Duration::from_millis(150));
    let digests: Vec<Digest> = (0..6)
        .map(|i| env.server.add(layer_bytes(20_000, 100 + i)))
        .collect();
    let (progress, mut rx) = ChannelProgress::new();
    let progress: Arc<dyn crate::progress::ProgressSink> = Arc::new(progress);

    let downloads = digests
        .iter()
        .map(|d| env.download(BlobRequest::new(d.clone()).with_progress(Arc::clone(&progress))));
    for result in futures_util::future::join_all(downloads).await {
        result.unwrap();
    }

    assert_eq!(env.server.seen().len(), 6);
    assert_eq!(env.server.max_in_flight(), 2);
    assert!(statuses(&mut rx).contains(&Status::Waiting));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emits_docker_statuses_in_order() {
    let env = env().await;
    let data = layer_bytes(200_000, 15);
    let digest = env.server.add(data.clone());
    env.server.fault(&digest, [Fault::Status(500)]);
    let (progress, mut rx) = ChannelProgress::new();

    env.download(
        BlobRequest::new(digest.clone())
            .with_size(data.len() as u64)
            .with_progress(Arc::new(progress)),
    )
    .await
    .unwrap();

    let statuses = statuses(&mut rx);
    assert_eq!(statuses[0], Status::PullingFsLayer);
    assert_eq!(statuses[1], Status::RetryingIn { seconds: 1 });
    let downloading: Vec<_> = statuses
        .iter()
        .filter_map(|s| match s {
            Status::Downloading { current, total } => Some((*current, *total)),
            _ => None,
        })
        .collect();
    assert!(!downloading.is_empty());
    assert_eq!(
        downloading.last(),
        Some(&(data.len() as u64, Some(data.len() as u64)))
    );
    assert_eq!(
        statuses[statuses.len() - 2..],
        [Status::VerifyingChecksum, Status::DownloadComplete]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_diff_id_a_compressed_blob_is_stored_but_not_decoded() {
    let env = env().await;
    // Declared gzip but not gzip at all: only a decoder would notice.
    let data = layer_bytes(80_000, 21);
    let digest = env.server.add(data.clone());

    let download = env
        .download(
            BlobRequest::new(digest.clone())
                .with_compression(Compression::Gzip)
                .without_diff_id(),
        )
        .await
        .unwrap();

    assert_eq!(download.diff_id, None);
    assert_eq!(env.store.size(&digest).unwrap(), data.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_wanting_the_diff_id_gets_it_when_it_joins_one_that_does_not() {
    let env = env().await;
    let (tar, gz) = gzip_layer(22);
    let digest = env.server.add(gz);
    env.server.delay_responses(Duration::from_millis(300));
    let request = BlobRequest::new(digest.clone()).with_compression(Compression::Gzip);

    // join! polls in order: the first request starts the transfer, the second joins it.
    let (first, second) = tokio::join!(
        env.download(request.clone().without_diff_id()),
        env.download(request)
    );
    let (first, second) = (first.unwrap(), second.unwrap());

    assert_eq!(env.server.seen().len(), 1);
    assert!(second.joined);
    assert_eq!(first.diff_id, None);
    assert_eq!(second.diff_id, Some(Digest::sha256_of(&tar)));
}

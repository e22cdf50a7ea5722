//! Retry policy: what is retried (5xx, 429 with `Retry-After`, a resumed download that fails verification), what is not (404, corruption, sink errors), and the error when attempts run out.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honours_retry_after_on_429() {
    let env = env().await;
    let digest = env.server.add(b"config".to_vec());
    env.server.fault(
        &digest,
        [Fault::TooMany {
            retry_after_secs: 1,
        }],
    );
    let (progress, mut rx) = ChannelProgress::new();

    let started = Instant::now();
    env.download(BlobRequest::new(digest.clone()).with_progress(Arc::new(progress)))
        .await
        .unwrap();

    // The backoff is 1 ms: only Retry-After explains a wait of a second.
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(env.server.seen().len(), 2);
    assert!(statuses(&mut rx).contains(&Status::RetryingIn { seconds: 1 }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_server_errors_then_succeeds() {
    let env = env().await;
    let data = layer_bytes(10_000, 3);
    let digest = env.server.add(data.clone());
    env.server
        .fault(&digest, [Fault::Status(500), Fault::Status(502)]);

    let download = env
        .download(BlobRequest::new(digest.clone()))
        .await
        .unwrap();

    assert_eq!(env.server.seen().len(), 3);
    assert_eq!(download.diff_id, Some(digest.clone()));
    assert_eq!(env.store.size(&digest).unwrap(), data.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn does_not_retry_not_found() {
    let env = env().await;
    let digest = Digest::sha256_of(b"nobody has this");

    let error = env
        .download(BlobRequest::new(digest.clone()))
        .await
        .unwrap_err();

    assert_eq!(env.server.seen(), [seen(&digest, None)]);
    assert!(matches!(error, TransferError::Fetch { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("download of {digest} failed: HTTP 404 Not Found")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_digest_attempts_and_last_error_when_attempts_run_out() {
    let env = env_with(DownloadConfig {
        max_attempts: 3,
        ..fast_config()
    })
    .await;
    let digest = env.server.add(b"flaky".to_vec());
    env.server.fault(
        &digest,
        [Fault::Status(500), Fault::Status(500), Fault::Status(503)],
    );

    let error = env
        .download(BlobRequest::new(digest.clone()))
        .await
        .unwrap_err();

    assert_eq!(env.server.seen().len(), 3);
    assert_eq!(
        error.to_string(),
        format!("download of {digest} failed after 3 attempts: HTTP 503 Service Unavailable")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_byte_fails_verification_and_stores_nothing() {
    let env = env().await;
    let (_, compressed) = gzip_layer(4);
    let digest = env.server.add(compressed.clone());
    env.server.fault(&digest, [Fault::CorruptByte(1000)]);
    let (recorder, sink) = recording_sink();

    let error = env
        .download(
            BlobRequest::new(digest.clone())
                .with_size(compressed.len() as u64)
                .with_compression(Compression::Gzip)
                .with_sink(sink),
        )
        .await
        .unwrap_err();

    assert_eq!(
        error.to_string(),
        format!("filesystem layer verification failed for digest {digest}")
    );
    // Not resumed, so not retried (docker's rule).
    assert_eq!(env.server.seen().len(), 1);
    assert!(!env.store.has(&digest).unwrap());
    assert!(!env.ingest_dir(&digest).join("data").exists());
    assert!(recorder.finished.lock().unwrap().is_empty());
    assert_eq!(recorder.aborted.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_from_zero_once_when_a_resumed_download_fails_verification() {
    let env = env().await;
    let (raw, compressed) = gzip_layer(5);
    let digest = env.server.add(compressed.clone());
    let cut = compressed.len() / 2;
    // The resumed half is corrupt; the third request (from zero) is clean.
    env.server.fault(
        &digest,
        [Fault::CutAfter(cut), Fault::CorruptByte(cut + 10)],
    );

    let download = env
        .download(
            BlobRequest::new(digest.clone())
                .with_size(compressed.len() as u64)
                .with_compression(Compression::Gzip),
        )
        .await
        .unwrap();

    assert_eq!(
        env.server.seen(),
        [
            seen(&digest, None),
            seen(&digest, Some(cut as u64)),
            seen(&digest, None)
        ]
    );
    assert_eq!(download.diff_id, Some(Digest::sha256_of(&raw)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sink_stops_the_download_without_retrying() {
    let env = env().await;
    let (_, compressed) = gzip_layer(17);
    let digest = env.server.add(compressed.clone());
    let sink = |_: &Digest| -> io::Result<Box<dyn LayerSink>> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "layers/ is read-only",
        ))
    };

    let error = env
        .download(
            BlobRequest::new(digest.clone())
                .with_compression(Compression::Gzip)
                .with_sink(Arc::new(sink)),
        )
        .await
        .unwrap_err();

    assert!(matches!(error, TransferError::Sink { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("cannot apply the contents of {digest}: layers/ is read-only")
    );
    assert!(env.server.seen().len() <= 1);
    assert!(!env.store.has(&digest).unwrap());
}

#[test]
fn linear_backoff_grows_by_its_step() {
    let b = Backoff::default();
    assert_eq!(b.delay(1), Duration::from_secs(5));
    assert_eq!(b.delay(3), Duration::from_secs(15));
}

#[test]
fn exponential_backoff_doubles_up_to_its_max() {
    let b = Backoff::Exponential {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(1),
    };
    assert_eq!(b.delay(1), Duration::from_millis(100));
    assert_eq!(b.delay(3), Duration::from_millis(400));
    assert_eq!(b.delay(40), Duration::from_secs(1));
}

//! Download manager tests against a real loopback HTTP server ([`server::BlobServer`]) that
//! cuts connections, ignores ranges, throttles, fails and corrupts on request.

mod server;

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::*;
use crate::digest::Digest;
use crate::progress::{ChannelProgress, ProgressEvent, Status};
use crate::store::ContentStore;
use server::{BlobServer, Fault, Seen};

/// Bytes that compress somewhat but not to nothing: text lines with pseudo-random noise.
fn layer_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if state % 3 == 0 {
            out.extend_from_slice(b"usr/lib/x86_64-linux-gnu/libc.so.6\n");
        } else {
            out.extend_from_slice(&state.to_le_bytes());
        }
    }
    out.truncate(len);
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

fn fast_config() -> DownloadConfig {
    DownloadConfig {
        max_concurrent: 3,
        max_attempts: 5,
        backoff: Backoff::Linear {
            step: Duration::from_millis(1),
        },
        max_retry_after: Duration::from_secs(5),
    }
}

struct Env {
    dir: TempDir,
    store: ContentStore,
    server: BlobServer,
    manager: DownloadManager,
}

async fn env_with(config: DownloadConfig) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::open(dir.path()).unwrap();
    let server = BlobServer::start().await;
    let manager = DownloadManager::new(store.clone(), config);
    Env {
        dir,
        store,
        server,
        manager,
    }
}

async fn env() -> Env {
    env_with(fast_config()).await
}

impl Env {
    async fn download(&self, request: BlobRequest) -> Result<BlobDownload, TransferError> {
        self.manager.download(self.server.fetcher(), request).await
    }

    fn ingest_dir(&self, digest: &Digest) -> std::path::PathBuf {
        self.dir.path().join("ingest").join(digest.hex())
    }
}

/// A layer sink that records what it was given, for "exactly once, in order" checks.
#[derive(Default)]
struct Recorder {
    opened: AtomicUsize,
    aborted: AtomicUsize,
    finished: Mutex<Vec<(Vec<u8>, Digest)>>,
}

struct RecordingSink {
    recorder: Arc<Recorder>,
    bytes: Vec<u8>,
}

impl LayerSink for RecordingSink {
    fn write(&mut self, decompressed: &[u8]) -> io::Result<()> {
        self.bytes.extend_from_slice(decompressed);
        Ok(())
    }

    fn finish(self: Box<Self>, diff_id: &Digest) -> io::Result<()> {
        let this = *self;
        this.recorder
            .finished
            .lock()
            .unwrap()
            .push((this.bytes, diff_id.clone()));
        Ok(())
    }

    fn abort(self: Box<Self>) {
        self.recorder.aborted.fetch_add(1, Ordering::SeqCst);
    }
}

fn recording_sink() -> (Arc<Recorder>, Arc<dyn LayerSinkFactory>) {
    let recorder = Arc::new(Recorder::default());
    let for_factory = Arc::clone(&recorder);
    let factory = move |_: &Digest| -> io::Result<Box<dyn LayerSink>> {
        for_factory.opened.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(RecordingSink {
            recorder: Arc::clone(&for_factory),
            bytes: Vec::new(),
        }))
    };
    (recorder, Arc::new(factory))
}

fn seen(digest: &Digest, range_start: Option<u64>) -> Seen {
    Seen {
        digest: digest.to_string(),
        range_start,
    }
}

fn statuses(rx: &mut tokio::sync::mpsc::UnboundedReceiver<ProgressEvent>) -> Vec<Status> {
    let mut out = Vec::new();
    while let Ok(event) = rx.try_recv() {
        out.push(event.status);
    }
    out
}

/// A gzip layer of about 600 KiB compressed, its uncompressed bytes and digests.
fn gzip_layer(seed: u64) -> (Vec<u8>, Vec<u8>) {
    let raw = layer_bytes(1 << 20, seed);
    let compressed = gzip(&raw);
    assert!(compressed.len() > 200_000, "test layer too small to cut");
    (raw, compressed)
}

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
    assert_eq!(download.diff_id, Digest::sha256_of(&raw));
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
    assert_eq!(finished[0].1, download.diff_id);
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
    assert_eq!(download.diff_id, Digest::sha256_of(&raw));
    // The first pass's sink was thrown away, a fresh one saw the whole layer once.
    assert_eq!(recorder.opened.load(Ordering::SeqCst), 2);
    assert_eq!(recorder.aborted.load(Ordering::SeqCst), 1);
    let finished = recorder.finished.lock().unwrap();
    assert_eq!(finished.len(), 1);
    assert!(finished[0].0 == raw);
    assert_eq!(env.store.size(&digest).unwrap(), compressed.len() as u64);
}

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
    assert_eq!(download.diff_id, digest);
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
    assert_eq!(download.diff_id, Digest::sha256_of(&raw));
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
    assert_eq!(download.diff_id, Digest::sha256_of(&raw));
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
    assert_eq!(download.diff_id, Digest::sha256_of(&raw));
    // The prefix replayed from disk went to a sink that was then aborted; the finished sink
    // saw the network's full body exactly once.
    assert_eq!(recorder.aborted.load(Ordering::SeqCst), 1);
    let finished = recorder.finished.lock().unwrap();
    assert!(finished.len() == 1 && finished[0].0 == raw);
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
async fn computes_the_diff_id_of_a_gzip_layer() {
    let env = env().await;
    let raw = layer_bytes(300_000, 10);
    let digest = env.server.add(gzip(&raw));

    let download = env
        .download(BlobRequest::new(digest).with_compression(Compression::Gzip))
        .await
        .unwrap();

    assert_eq!(download.diff_id, Digest::sha256_of(&raw));
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

    assert_eq!(download.diff_id, Digest::sha256_of(&raw));
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

    assert_eq!(download.diff_id, Digest::sha256_of(&raw));
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

    assert_eq!(download.diff_id, digest);
    assert_eq!(download.diff_id, Digest::sha256_of(&raw));
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
    assert_eq!(download.diff_id, Digest::sha256_of(&raw));
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

    assert_eq!(download.diff_id, recorded);
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

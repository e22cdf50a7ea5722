//! Download manager tests against a real loopback HTTP server ([`server::BlobServer`]) that
//! cuts connections, ignores ranges, throttles, fails and corrupts on request.

mod decode;
mod manager;
mod resume;
mod retry;
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

//! The store's layer writer on its own, against a source in memory that cuts its streams on
//! request: what the download manager's tests checked before a pull became a copy (the
//! network faults themselves are covered against real registries by `tests/pull_faults.rs`
//! and `tests/layers_faults.rs`): each decompressed byte reaches the unpacker once, in order,
//! across attempts and across a killed run's ingest; a resumed download that fails
//! verification is retried from zero once; a failing unpacker is not retried; diffIDs of
//! multi-member gzip; an intact blob that is not gzip is a decompression error.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream;
use tempfile::TempDir;

use super::*;
use crate::copy::source::BlobStream;
use crate::copy::{ImageSource, SourceBlob};
use crate::media::types::OCI_LAYER_GZIP;
use crate::transfer::Retryable;

/// One blob in memory; each `open_blob` takes the next queued fault.
struct Memory {
    blob: Bytes,
    faults: Mutex<VecDeque<Fault>>,
    /// The offset of every open, in order.
    opened: Mutex<Vec<u64>>,
}

#[derive(Clone, Copy)]
enum Fault {
    /// Send this many bytes, then fail the stream (retryable).
    CutAfter(usize),
    /// Flip the bits of the byte at this index of the blob.
    Corrupt(usize),
}

impl Memory {
    fn new(blob: Vec<u8>, faults: impl IntoIterator<Item = Fault>) -> Memory {
        Memory {
            blob: Bytes::from(blob),
            faults: Mutex::new(faults.into_iter().collect()),
            opened: Mutex::default(),
        }
    }

    fn opened(&self) -> Vec<u64> {
        self.opened.lock().unwrap().clone()
    }
}

impl ImageSource for Memory {
    fn location(&self) -> String {
        "memory".into()
    }
    fn resolve(&self) -> BoxFuture<'_, Result<Descriptor, CopyError>> {
        unimplemented!("not a manifest source")
    }
    fn manifest<'a>(&'a self, _: &'a Descriptor) -> BoxFuture<'a, Result<Bytes, CopyError>> {
        unimplemented!("not a manifest source")
    }
    fn open_blob<'a>(
        &'a self,
        _: &'a Descriptor,
        offset: u64,
    ) -> BoxFuture<'a, Result<BlobStream, CopyError>> {
        self.opened.lock().unwrap().push(offset);
        let mut bytes = self.blob.slice(offset as usize..).to_vec();
        let mut cut = None;
        match self.faults.lock().unwrap().pop_front() {
            Some(Fault::CutAfter(n)) => cut = Some(n),
            Some(Fault::Corrupt(at)) => {
                if let Some(b) = (at as u64)
                    .checked_sub(offset)
                    .and_then(|i| bytes.get_mut(i as usize))
                {
                    *b ^= 0xff;
                }
            }
            None => {}
        }
        let mut items: Vec<Result<Bytes, CopyError>> = Vec::new();
        let keep = cut.unwrap_or(bytes.len()).min(bytes.len());
        for chunk in bytes[..keep].chunks(8 << 10) {
            items.push(Ok(Bytes::copy_from_slice(chunk)));
        }
        if cut.is_some() {
            items.push(Err(CopyError::interrupted("connection cut")));
        }
        Box::pin(async move { Ok(Box::pin(stream::iter(items)) as BlobStream) })
    }
}

/// An unpacker recording what it was given.
#[derive(Default)]
struct Recorder {
    opened: AtomicUsize,
    aborted: AtomicUsize,
    finished: Mutex<Vec<(Vec<u8>, Digest)>>,
    fail_writes: bool,
}

struct RecordingSink {
    recorder: Arc<Recorder>,
    bytes: Vec<u8>,
}

impl LayerSink for RecordingSink {
    fn write(&mut self, decompressed: bytes::Bytes) -> io::Result<()> {
        if self.recorder.fail_writes {
            return Err(io::Error::other("disk on fire"));
        }
        self.bytes.extend_from_slice(&decompressed);
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

fn unpacker(recorder: &Arc<Recorder>) -> Arc<dyn LayerSinkFactory> {
    let recorder = Arc::clone(recorder);
    Arc::new(move |_: &Digest| -> io::Result<Box<dyn LayerSink>> {
        recorder.opened.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(RecordingSink {
            recorder: Arc::clone(&recorder),
            bytes: Vec::new(),
        }))
    })
}

/// Bytes that compress, but not to nothing: a counter's digits mixed with a multiplicative
/// hash of the index.
fn layer_bytes(len: usize, seed: u64) -> Vec<u8> {
    (0..len as u64)
        .map(|i| match i % 4 {
            0 => b'0' + (i / 4 % 10) as u8,
            _ => (i.wrapping_add(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8,
        })
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

struct Env {
    _dir: TempDir,
    content: ContentStore,
    recorder: Arc<Recorder>,
    streamed: Arc<Streamed>,
}

fn env_with(recorder: Recorder) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let content = ContentStore::open(dir.path()).unwrap();
    let recorder = Arc::new(recorder);
    let streamed = Arc::new(Streamed::feeding(unpacker(&recorder)));
    Env {
        _dir: dir,
        content,
        recorder,
        streamed,
    }
}

fn env() -> Env {
    env_with(Recorder::default())
}

impl Env {
    fn writer(&self, blob: &[u8]) -> StoreLayerWriter {
        let descriptor =
            Descriptor::new(OCI_LAYER_GZIP, Digest::sha256_of(blob), blob.len() as u64);
        StoreLayerWriter::new(
            self.content.clone(),
            Arc::clone(&self.streamed),
            descriptor,
            Compression::Gzip,
            "hoist:test".into(),
            RangeFetch::off(),
        )
    }

    /// Attempts as the engine makes them: again after a retryable failure, at most 5.
    async fn write(&self, writer: &mut StoreLayerWriter, source: &Memory) -> Result<(), CopyError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let input = SourceBlob::new(source, writer.descriptor.clone());
            match writer.write(&input, None).await.map(drop) {
                Err(e) if e.is_retryable() && attempts < 5 => continue,
                other => return other,
            }
        }
    }

    /// Writes `blob` from a faultless source; the error it must fail with, and the source.
    async fn fail(&self, blob: &[u8]) -> (CopyError, Memory) {
        let source = Memory::new(blob.to_vec(), []);
        let mut writer = self.writer(blob);
        let err = self.write(&mut writer, &source).await.unwrap_err();
        (err, source)
    }

    fn finished(&self) -> Vec<(Vec<u8>, Digest)> {
        self.recorder.finished.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_stream_resumes_at_its_offset_into_the_same_unpack() {
    let env = env();
    let raw = layer_bytes(1 << 20, 1);
    let blob = gzip(&raw);
    let cut = blob.len() / 2;
    let source = Memory::new(blob.clone(), [Fault::CutAfter(cut)]);
    let mut writer = env.writer(&blob);

    env.write(&mut writer, &source).await.unwrap();

    assert_eq!(source.opened(), [0, cut as u64]);
    assert_eq!(env.recorder.opened.load(Ordering::SeqCst), 1);
    assert_eq!(env.recorder.aborted.load(Ordering::SeqCst), 0);
    let finished = env.finished();
    assert!(
        finished.len() == 1 && finished[0].0 == raw,
        "every byte once, in order"
    );
    assert_eq!(finished[0].1, Digest::sha256_of(&raw));
    let digest = Digest::sha256_of(&blob);
    assert_eq!(env.streamed.diff_id(&digest), Some(Digest::sha256_of(&raw)));
    assert_eq!(env.content.size(&digest).unwrap(), blob.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_left_by_a_killed_run_is_resumed_and_replayed_into_the_unpack() {
    let env = env();
    let raw = layer_bytes(1 << 20, 2);
    let blob = gzip(&raw);
    let digest = Digest::sha256_of(&blob);
    let left = blob.len() / 3;
    let mut ingest = env.content.begin(&digest, Some(blob.len() as u64)).unwrap();
    ingest.write_chunk(&blob[..left]).unwrap();
    drop(ingest);
    let source = Memory::new(blob.clone(), []);
    let mut writer = env.writer(&blob);

    env.write(&mut writer, &source).await.unwrap();

    assert_eq!(source.opened(), [left as u64]);
    let finished = env.finished();
    assert!(
        finished.len() == 1 && finished[0].0 == raw,
        "the prefix replayed from disk"
    );
    assert!(env.content.has(&digest).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_ingest_of_a_killed_run_is_committed_without_reading() {
    let env = env();
    let raw = layer_bytes(200_000, 3);
    let blob = gzip(&raw);
    let digest = Digest::sha256_of(&blob);
    let mut ingest = env.content.begin(&digest, Some(blob.len() as u64)).unwrap();
    ingest.write_chunk(&blob).unwrap();
    drop(ingest);
    let source = Memory::new(blob.clone(), []);
    let mut writer = env.writer(&blob);

    env.write(&mut writer, &source).await.unwrap();

    assert!(source.opened().is_empty(), "{:?}", source.opened());
    assert_eq!(env.finished()[0].1, Digest::sha256_of(&raw));
    assert!(env.content.has(&digest).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_download_failing_verification_is_retried_from_zero_once() {
    let env = env();
    let raw = layer_bytes(1 << 20, 4);
    let blob = gzip(&raw);
    let cut = blob.len() / 2;
    // Cut, then the resumed part corrupted: the whole fails verification; from zero, intact.
    let source = Memory::new(
        blob.clone(),
        [Fault::CutAfter(cut), Fault::Corrupt(cut + 10)],
    );
    let mut writer = env.writer(&blob);

    env.write(&mut writer, &source).await.unwrap();

    assert_eq!(source.opened(), [0, cut as u64, 0]);
    assert_eq!(env.recorder.aborted.load(Ordering::SeqCst), 1);
    assert_eq!(env.finished().len(), 1);
    assert_eq!(env.finished()[0].0, raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_failing_verification_from_zero_fails_and_stores_nothing() {
    let env = env();
    let blob = gzip(&layer_bytes(300_000, 5));
    let source = Memory::new(blob.clone(), [Fault::Corrupt(1000)]);
    let mut writer = env.writer(&blob);

    let err = env.write(&mut writer, &source).await.unwrap_err();

    assert!(!err.is_retryable());
    let digest = Digest::sha256_of(&blob);
    assert_eq!(
        err.to_string(),
        format!("hoist:test: filesystem layer verification failed for digest {digest}")
    );
    assert_eq!(source.opened(), [0]);
    assert!(!env.content.has(&digest).unwrap());
    assert!(env.finished().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_unpacker_stops_the_layer_without_retrying() {
    let env = env_with(Recorder {
        fail_writes: true,
        ..Recorder::default()
    });
    let blob = gzip(&layer_bytes(300_000, 6));

    let (err, source) = env.fail(&blob).await;

    let CopyError::Transfer {
        source: failure, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(matches!(**failure, TransferError::Sink { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(source.opened(), [0]);
    assert!(!env.content.has(&Digest::sha256_of(&blob)).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_diff_id_of_a_multi_member_gzip_covers_every_member() {
    let env = env();
    let (a, b) = (layer_bytes(100_000, 7), layer_bytes(50_000, 8));
    let mut blob = gzip(&a);
    blob.extend_from_slice(&gzip(&b));
    let source = Memory::new(blob.clone(), []);
    let mut writer = env.writer(&blob);

    env.write(&mut writer, &source).await.unwrap();

    let whole = [a, b].concat();
    assert_eq!(env.finished()[0].1, Digest::sha256_of(&whole));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intact_blob_that_is_not_gzip_is_a_decompression_error() {
    let env = env();
    let blob = layer_bytes(100_000, 9);

    let (err, _) = env.fail(&blob).await;

    let CopyError::Transfer {
        source: failure, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(
        matches!(**failure, TransferError::Decompress { .. }),
        "{err:?}"
    );
    assert_eq!(env.recorder.aborted.load(Ordering::SeqCst), 1);
}

//! The blocking half of a layer's way into the store: one thread per blob that stores,
//! decompresses, hashes and unpacks the bytes the async half receives, in one pass (DESIGN.md
//! principle 5). The async half is the local store's layer writer (`crate::copy`'s
//! `store_layer`), which reads the bytes from the copy's source and sends them through a
//! [`Pipeline`].
//!
//! ```text
//!  async task ──Feed (bounded, FEED_DEPTH chunks)──▶ Tee ──▶ Decoder ──▶ diffID hasher (own thread)
//!  (network)                                          │                  └─▶ LayerSink
//!                                                     └─▶ Ingest (hashes the compressed
//!                                                         bytes; commit verifies the digest)
//! ```
//!
//! The [`Tee`] writes every chunk into the [`Ingest`] as the decoder pulls it, so the store
//! holds exactly what was received and the decoder never reads anything twice. When nothing
//! needs the decompressed bytes — no sink, and no diffID wanted (`pull --no-unpack`) or none
//! to compute (an uncompressed blob's diffID is its digest) — there is no decoder: the tee
//! only stores ([`PipelineSpec::decodes`]). Memory stays
//! bounded: a few chunks in the channel plus the decoder's window. A zstd decoder first takes
//! its window's share of the process's budget (`compress::window`); while it waits for it, the tee only
//! stores, and the decoder then starts from the ingest's copy of what arrived meanwhile.
//!
//! # A blob fetched in parts
//! A big blob fetched on several connections (`crate::copy`'s `store_parts`) is written
//! into the ingest's file by the fetch itself, part by part at their offsets; the async half
//! then only sends [`Feed::Placed`] with the end of the complete prefix, and the tee (`tee`)
//! reads those bytes back from the file into the ingest's hash and the decoder. So the
//! digest is still computed in one pass, and a big layer unpacks while it downloads,
//! following the complete prefix (at most a few parts behind the fastest connection).
//!
//! The thread times its waits for the feed ([`Pipeline::waited`]): the layer writer's probe
//! (`crate::transfer`'s `Probe`) compares them with the time a one stream took, to tell a link
//! slower than the pipeline (parts pay) from a pipeline slower than the link (they do not).
//!
//! # Resuming
//! - A dropped connection is invisible here: the async half reopens the source at the offset
//!   it reached (`Range`; a registry that ignores it has the prefix skipped by the source) and
//!   keeps sending into the same channel, so the decoder just continues.
//! - An ingest resumed from an earlier, killed process already holds `offset` bytes that no
//!   decoder has seen: the tee first replays them from the ingest's file (without writing
//!   them again), then continues with the network's bytes.
//!
//! # Ending
//! On [`Feed::End`] the rest of the compressed stream is read (trailing bytes the decoder did
//! not need are still part of the blob), the ingest is committed (digest verified), and only
//! then is the sink finished with the diffID. A decoding error does not stop the storing: the
//! blob is read to its end and committed, so that a corrupted download is reported as a
//! digest mismatch (retryable from zero) and only an intact blob that is not valid
//! gzip/zstd is reported as a decompression error. The channel closing without `End` means the
//! download was given up: the sink is aborted and the ingest kept for a later resume.

use std::io::{self, Read};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::chunks::Chunks;
use super::hash_thread::HashThread;
use super::tee::{Stop, Tee};
use super::TransferError;
use crate::compress::{Compression, Decoder};
use crate::digest::{Algorithm, Digest};
use crate::store::layers::{LayerSink, LayerSinkFactory};
use crate::store::Ingest;

/// Chunks in flight between the network task and the pipeline thread.
pub(crate) const FEED_DEPTH: usize = 4;

/// Size of the decoded chunks ([`Chunks`]).
const DECODE_BUFFER: usize = 256 * 1024;

/// What the async half sends to the pipeline thread.
#[derive(Debug)]
pub(crate) enum Feed {
    /// The next compressed bytes.
    Chunk(Bytes),
    /// The ingest's file holds every byte up to this offset, placed there by a fetch in
    /// parts (`crate::store::IngestParts`): take them into the stream from the file.
    Placed(u64),
    /// All bytes were sent: verify and commit.
    End,
}

/// The pipeline thread's end of the feed, timing how long the thread waits for it
/// ([`FeedWaits`]).
pub(super) struct FeedRx {
    rx: mpsc::Receiver<Feed>,
    waits: Arc<FeedWaits>,
}

impl FeedRx {
    /// The next feed, blocking; `None` once the sender is gone.
    pub(super) fn recv(&mut self) -> Option<Feed> {
        match self.rx.try_recv() {
            Ok(feed) => return Some(feed),
            Err(mpsc::error::TryRecvError::Disconnected) => return None,
            Err(mpsc::error::TryRecvError::Empty) => {}
        }
        self.waits.begin();
        let feed = self.rx.blocking_recv();
        self.waits.end();
        feed
    }
}

/// How long a pipeline thread has waited for its feed — the network — in all: the measure a
/// [`Probe`](super::Probe) takes of whether the link or the pipeline limits a download. Only
/// waits that block are timed (a feed already there costs no clock).
#[derive(Debug, Default)]
struct FeedWaits {
    state: Mutex<Waits>,
}

#[derive(Debug, Default)]
struct Waits {
    /// The waits that ended.
    total: Duration,
    /// When the wait in progress began.
    since: Option<Instant>,
}

impl FeedWaits {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waits> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn begin(&self) {
        self.lock().since = Some(Instant::now());
    }

    fn end(&self) {
        let mut waits = self.lock();
        if let Some(since) = waits.since.take() {
            waits.total += since.elapsed();
        }
    }

    /// The time waited up to `now`, the wait in progress included.
    fn until(&self, now: Instant) -> Duration {
        let waits = self.lock();
        waits.total
            + waits
                .since
                .map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
    }
}

/// What a pipeline is asked to do with a blob.
pub(crate) struct PipelineSpec {
    pub(crate) digest: Digest,
    pub(crate) compression: Compression,
    pub(crate) sink: Option<Arc<dyn LayerSinkFactory>>,
    /// Whether the diffID is wanted: without it and without a sink, a compressed blob is only
    /// stored and verified by its digest (`pull --no-unpack`).
    pub(crate) diff_id: bool,
}

impl PipelineSpec {
    /// Whether the bytes must go through the decoder: for the sink, or for a diffID that is
    /// not simply the digest.
    pub(crate) fn decodes(&self) -> bool {
        self.sink.is_some() || (self.diff_id && diff_id_without_decoding(self).is_none())
    }
}

/// A verified, stored blob and the digest of its decompressed bytes (when it was wanted or
/// free, see [`PipelineSpec::decodes`]).
#[derive(Debug, Clone)]
pub(crate) struct Committed {
    pub(crate) diff_id: Option<Digest>,
}

/// How a pipeline thread ended.
#[derive(Debug)]
pub(crate) enum PipelineEnd {
    Committed(Committed),
    /// The feed closed without `End`; the ingest was kept for a later resume.
    Abandoned,
    Failed(TransferError),
}

/// The async end of a pipeline thread: the network side sends [`Feed`]s, then ends or closes
/// it. Used by the copy engine's store layer writer.
pub(crate) struct Pipeline {
    feed: mpsc::Sender<Feed>,
    thread: JoinHandle<PipelineEnd>,
    digest: Digest,
    waits: Arc<FeedWaits>,
}

impl Pipeline {
    pub(crate) fn start(ingest: Ingest, spec: Arc<PipelineSpec>) -> Pipeline {
        let (feed, rx) = mpsc::channel(FEED_DEPTH);
        let digest = spec.digest.clone();
        let waits = Arc::new(FeedWaits::default());
        let rx = FeedRx {
            rx,
            waits: Arc::clone(&waits),
        };
        let thread = tokio::task::spawn_blocking(move || run(ingest, rx, &spec));
        Pipeline {
            feed,
            thread,
            digest,
            waits,
        }
    }

    /// How long the thread has waited for the feed in all, up to `now`.
    pub(crate) fn waited(&self, now: Instant) -> Duration {
        self.waits.until(now)
    }

    /// Sends to the thread; `Err` when it has stopped (learn why with [`Pipeline::stopped`]).
    pub(crate) async fn send(&self, feed: Feed) -> Result<(), ()> {
        self.feed.send(feed).await.map_err(drop)
    }

    /// Declares the blob complete and waits for the commit.
    pub(crate) async fn end(self) -> PipelineEnd {
        // If the thread already stopped, the send fails and `join` reports why.
        let _ = self.feed.send(Feed::End).await;
        self.close().await
    }

    /// Closes the feed (giving up unless `End` was sent) and waits for the thread.
    pub(crate) async fn close(self) -> PipelineEnd {
        drop(self.feed);
        match self.thread.await {
            Ok(end) => end,
            Err(e) => PipelineEnd::Failed(TransferError::interrupted(&self.digest, e.to_string())),
        }
    }

    /// The error of a thread that stopped on its own.
    pub(crate) async fn stopped(self) -> TransferError {
        let digest = self.digest.clone();
        match self.close().await {
            PipelineEnd::Failed(error) => error,
            _ => TransferError::interrupted(&digest, "the pipeline stopped without an error"),
        }
    }
}

/// Runs the pipeline for `ingest` until the feed ends or closes. Blocking.
fn run(mut ingest: Ingest, feed: FeedRx, spec: &PipelineSpec) -> PipelineEnd {
    let mut feed = feed;
    match pass(&mut ingest, &mut feed, spec) {
        PassEnd::Abandoned => PipelineEnd::Abandoned,
        PassEnd::Failed(e) => PipelineEnd::Failed(e),
        PassEnd::Complete(outcome) => finish(ingest, outcome, spec),
    }
}

/// For uncompressed sha256 blobs the diffID is the digest, once the digest is verified.
fn diff_id_without_decoding(spec: &PipelineSpec) -> Option<Digest> {
    (spec.compression == Compression::None && spec.digest.algorithm() == Algorithm::Sha256)
        .then(|| spec.digest.clone())
}

enum PassEnd {
    Abandoned,
    Failed(TransferError),
    Complete(PassOutcome),
}

/// What a complete pass produced, before the commit decides whether it counts.
struct PassOutcome {
    diff_id: Option<Digest>,
    sink: Option<Box<dyn LayerSink>>,
    decode_error: Option<io::Error>,
}

/// One pass over the blob from byte zero (or from the resumed prefix).
fn pass(ingest: &mut Ingest, feed: &mut FeedRx, spec: &PipelineSpec) -> PassEnd {
    let prefix = if ingest.offset() > 0 {
        match ingest.read_written() {
            Ok(reader) => Some(reader),
            Err(e) => return PassEnd::Failed(TransferError::from_store(&spec.digest, e)),
        }
    } else {
        None
    };
    let mut sink = match open_sink(spec) {
        Ok(sink) => sink,
        Err(e) => return PassEnd::Failed(e),
    };
    let mut tee = Tee::new(prefix, feed, ingest);
    if !spec.decodes() {
        tee.drain();
        return match tee.stop.take() {
            None => PassEnd::Complete(PassOutcome {
                diff_id: None,
                sink,
                decode_error: None,
            }),
            Some(stop) => {
                abort_sink(sink);
                stopped(stop, spec)
            }
        };
    }
    // Held until the decoder is done: its window's share of the process's budget.
    let _window = match spec.compression {
        Compression::Zstd => tee.window_permit(),
        _ => None,
    };
    let mut decoder = match Decoder::new(spec.compression, tee) {
        Ok(decoder) => decoder,
        Err(e) => {
            abort_sink(sink);
            return PassEnd::Failed(decode_error(spec, e));
        }
    };
    let mut hasher = HashThread::new();
    let mut decode_error = match decode_all(&mut decoder, &mut hasher, &mut sink) {
        Ok(()) => None,
        Err(DecodeFailure::Read(e)) => Some(e),
        Err(DecodeFailure::Sink(e)) => {
            abort_sink(sink);
            return PassEnd::Failed(sink_error(&spec.digest, e));
        }
    };
    // Whatever the decoder left (or could not decode) is still part of the blob.
    let tee = decoder.source_mut();
    if tee.stop.is_none() {
        if let Err(e) = io::copy(tee, &mut io::sink()) {
            decode_error.get_or_insert(e);
        }
    }
    match tee.stop.take() {
        None => match hasher.finish() {
            Some(diff_id) => PassEnd::Complete(PassOutcome {
                diff_id: Some(diff_id),
                sink,
                decode_error,
            }),
            None => {
                abort_sink(sink);
                PassEnd::Failed(hash_lost(&spec.digest))
            }
        },
        Some(stop) => {
            abort_sink(sink);
            stopped(stop, spec)
        }
    }
}

fn stopped(stop: Stop, spec: &PipelineSpec) -> PassEnd {
    match stop {
        Stop::Abandoned => PassEnd::Abandoned,
        Stop::Store(e) => PassEnd::Failed(TransferError::from_store(&spec.digest, e)),
    }
}

/// Commits the blob, then settles the sink according to the outcome.
fn finish(ingest: Ingest, outcome: PassOutcome, spec: &PipelineSpec) -> PipelineEnd {
    let digest = &spec.digest;
    if let Err(e) = ingest.commit() {
        abort_sink(outcome.sink);
        return PipelineEnd::Failed(TransferError::from_store(digest, e));
    }
    if let Some(e) = outcome.decode_error {
        abort_sink(outcome.sink);
        return PipelineEnd::Failed(decode_error(spec, e));
    }
    let diff_id = diff_id_without_decoding(spec).or(outcome.diff_id);
    let finished = match (&diff_id, outcome.sink) {
        (Some(diff_id), sink) => finish_sink(sink, diff_id, digest),
        // Unreachable: a sink means the bytes were decoded, which yields a diffID.
        (None, sink) => {
            abort_sink(sink);
            Ok(())
        }
    };
    match finished {
        Ok(()) => PipelineEnd::Committed(Committed { diff_id }),
        Err(e) => PipelineEnd::Failed(e),
    }
}

enum DecodeFailure {
    Read(io::Error),
    Sink(io::Error),
}

/// Reads `decoder` to its end into the hasher and the sink.
fn decode_all<R: Read>(
    decoder: &mut Decoder<R>,
    hasher: &mut HashThread,
    sink: &mut Option<Box<dyn LayerSink>>,
) -> Result<(), DecodeFailure> {
    let mut chunks = Chunks::new(DECODE_BUFFER);
    loop {
        let chunk = chunks.fill(decoder).map_err(DecodeFailure::Read)?;
        if chunk.is_empty() {
            return Ok(());
        }
        match sink {
            Some(sink) => {
                hasher.update(chunk.clone());
                sink.write(chunk).map_err(DecodeFailure::Sink)?;
            }
            None => hasher.update(chunk),
        }
    }
}

fn open_sink(spec: &PipelineSpec) -> Result<Option<Box<dyn LayerSink>>, TransferError> {
    spec.sink
        .as_ref()
        .map(|factory| factory.open(&spec.digest))
        .transpose()
        .map_err(|e| sink_error(&spec.digest, e))
}

fn finish_sink(
    sink: Option<Box<dyn LayerSink>>,
    diff_id: &Digest,
    digest: &Digest,
) -> Result<(), TransferError> {
    match sink {
        Some(sink) => sink.finish(diff_id).map_err(|e| sink_error(digest, e)),
        None => Ok(()),
    }
}

fn abort_sink(sink: Option<Box<dyn LayerSink>>) {
    if let Some(sink) = sink {
        sink.abort();
    }
}

fn hash_lost(digest: &Digest) -> TransferError {
    TransferError::interrupted(digest, "the thread computing the diffID stopped")
}

fn sink_error(digest: &Digest, e: io::Error) -> TransferError {
    TransferError::Sink {
        digest: digest.clone(),
        source: Arc::new(e),
    }
}

fn decode_error(spec: &PipelineSpec, e: io::Error) -> TransferError {
    TransferError::Decompress {
        digest: spec.digest.clone(),
        format: spec.compression,
        source: Arc::new(e),
    }
}

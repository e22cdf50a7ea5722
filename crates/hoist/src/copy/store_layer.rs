//! The local store's layer writer: [`StoreLayerWriter`], how a layer enters the store in one
//! pass — fetch → sha256 → decompress → diffID → untar (DESIGN.md principle 5) — whatever the
//! source, with docker's pull statuses.
//!
//! [`super::StoreSink`] gives one to every layer it receives (configs and blobs of types
//! hoist does not unpack go through the layout's plain writer). The bytes the source streams
//! are sent into the download pipeline's blocking half ([`crate::transfer`]'s `pipeline`):
//! its tee writes them into the content store's ingest (committed only when the digest
//! matches) while the decoder decompresses them for the diffID hash and, when the sink has a
//! layer store, for the layer store's unpacker ([`LayerStore`] as a
//! [`LayerSinkFactory`](crate::transfer::LayerSinkFactory)), which stages the unpacked layer
//! until the image is recorded. Nothing is read back from disk; a layer unpacks while it
//! downloads; memory stays bounded (a few chunks and the decoder's window).
//!
//! # Attempts
//! The copy engine calls [`BlobWriter::write`] again after a retryable failure (docker's
//! `xfer` retry loop, with its `Retrying in N seconds`). The pipeline thread, its decoder and
//! its unpacker live across attempts: the next attempt reopens the source at the offset
//! reached (the registry's `Range: bytes=N-`), so nothing is decoded twice. A blob an earlier,
//! killed process partly wrote is resumed from its ingest (the pipeline replays that prefix
//! from disk into the decoder). A body shorter than the descriptor says is retried. A digest
//! mismatch after a resumed download is retried once from zero (docker's `pull_v2.go`: "Allow
//! a retry if this digest verification error happened after a resumed download"); any other
//! mismatch fails the copy, the bad bytes dropped by the store.
//!
//! # Big layers
//! A layer of at least [`RangeFetch::threshold`] bytes, from a source that serves parts (a
//! registry), may be fetched as several `Range` requests at once (`store_parts`), each part
//! written at its offset into the same ingest; the pipeline hashes, decompresses and unpacks
//! the complete prefix as it grows, so unpacking follows the download as for a small layer,
//! at most a few parts behind. Parts cost CPU one stream does not (each byte is written, then
//! read back to be hashed in order), so they are used only where they pay: the layer starts
//! as one stream, and a [`Probe`] over its first [`RangeFetch::probe`] bytes times how long
//! the pipeline waits for the network. A pipeline waiting most of the time (the link is the
//! bottleneck: a capped connection, a long fat link) gets the rest in parts, from where the
//! stream was left; a busy one (loopback, a LAN: hoist is the bottleneck) keeps the one
//! stream to the end. Parts an earlier, killed run placed are fetched on in parts at once;
//! `probe = 0` fetches in parts at once always. A source that declines parts, or a digest
//! mismatch after a parallel fetch (a part with wrong bytes), makes the writer fetch the
//! layer as one stream from then on.
//!
//! # Statuses
//! `Downloading` (throttled, [`Throttle`]), `Verifying Checksum` once every byte arrived,
//! `Download complete` once the blob is committed. The engine adds `Pulling fs layer`,
//! `Waiting`, `Retrying in N seconds`, `Already exists` and `Pull complete` in the sink's
//! [`Wording`](crate::progress::Wording).
//!
//! # What it leaves for the recording
//! Each layer's diffID, computed over exactly the bytes committed, in [`Streamed`]: the
//! recording (`store_record`) checks it against the config without reading the blob again.
//! Layers staged and not registered (a failed copy) are discarded when the sink is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::sink::{BlobInput, BlobWriter, Progress};
use super::store_parts::{fetch_parts, PartsEnd};
use super::CopyError;
use crate::digest::Digest;
use crate::media::Descriptor;
use crate::progress::{ProgressEvent, Status, Throttle};
use crate::store::{ContentStore, IngestParts, LayerStore, StoreError};
use crate::transfer::blocking;
use crate::transfer::pipeline::{Feed, Pipeline, PipelineEnd, PipelineSpec};
use crate::transfer::{
    Bottleneck, Compression, LayerSink, LayerSinkFactory, Probe, RangeFetch, TransferError,
};

/// The diffIDs the sink's layer writers computed, by blob, and where their decompressed
/// bytes went: the layer store (staged until the image is recorded) or another
/// [`LayerSinkFactory`]. Dropping it discards what no image registration took.
pub(super) struct Streamed {
    layers: Option<LayerStore>,
    /// The layer sinks' factory, counting the sinks still open in `live`.
    unpacker: Option<Arc<dyn LayerSinkFactory>>,
    live: Arc<Live>,
    /// Whether diffIDs are computed when nothing unpacks the layer (see
    /// [`StoreSink::trusting_config_diff_ids`](super::StoreSink::trusting_config_diff_ids)).
    diff_ids_wanted: bool,
    diff_ids: Mutex<HashMap<Digest, Digest>>,
}

impl std::fmt::Debug for Streamed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streamed")
            .field("layers", &self.layers)
            .field("unpacker", &self.unpacker.is_some())
            .field("diff_ids_wanted", &self.diff_ids_wanted)
            .finish_non_exhaustive()
    }
}

impl Streamed {
    /// Nothing streamed yet; layers will be unpacked into `layers`, if any.
    pub(super) fn new(layers: Option<LayerStore>) -> Streamed {
        let unpacker = layers
            .clone()
            .map(|l| Arc::new(l) as Arc<dyn LayerSinkFactory>);
        Streamed::with(layers, unpacker, true)
    }

    fn with(
        layers: Option<LayerStore>,
        unpacker: Option<Arc<dyn LayerSinkFactory>>,
        diff_ids_wanted: bool,
    ) -> Streamed {
        let live = Arc::new(Live::default());
        Streamed {
            unpacker: unpacker.map(|inner| {
                Arc::new(Tracked {
                    inner,
                    live: Arc::clone(&live),
                }) as Arc<dyn LayerSinkFactory>
            }),
            live,
            layers,
            diff_ids_wanted,
            diff_ids: Mutex::default(),
        }
    }

    /// Nothing streamed yet; every layer's decompressed bytes go to `unpacker`.
    pub(super) fn feeding(unpacker: Arc<dyn LayerSinkFactory>) -> Streamed {
        Streamed::with(None, Some(unpacker), true)
    }

    /// Nothing streamed yet, nothing unpacked, and no diffID computed (decompressing only to
    /// hash would be most of the work): the recording takes the config's.
    pub(super) fn storing_only() -> Streamed {
        Streamed::with(None, None, false)
    }

    /// Whether the recording must take the config's diffIDs for layers not streamed.
    pub(super) fn trusts_config(&self) -> bool {
        !self.diff_ids_wanted
    }

    /// The diffID computed while `blob` streamed in, if it did.
    pub(super) fn diff_id(&self, blob: &Digest) -> Option<Digest> {
        self.lock().get(blob).cloned()
    }

    fn insert(&self, blob: Digest, diff_id: Digest) {
        self.lock().insert(blob, diff_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Digest>> {
        // The map stays consistent whatever panicked while holding it (single inserts).
        self.diff_ids.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Streamed {
    fn drop(&mut self) {
        // A copy that failed dropped its other writers mid-layer: their pipeline threads are
        // still aborting their unpacks. Wait for them, so nothing they staged or left outlives
        // the sink (their temporary directories are removed by the abort).
        self.live.wait_idle(ABORT_WAIT);
        if let Some(layers) = &self.layers {
            layers.discard_staged(&self.live.opened());
        }
    }
}

/// The longest a dropped sink waits for aborted unpacks to finish.
const ABORT_WAIT: Duration = Duration::from_secs(60);

/// How many layer sinks are open, and for which blobs sinks were ever opened.
#[derive(Default)]
struct Live {
    open: Mutex<usize>,
    idle: Condvar,
    blobs: Mutex<Vec<Digest>>,
}

impl Live {
    fn enter(&self, blob: &Digest) {
        *self.open.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.blobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(blob.clone());
    }

    /// Every blob a sink was opened for.
    fn opened(&self) -> Vec<Digest> {
        self.blobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn leave(&self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        *open = open.saturating_sub(1);
        if *open == 0 {
            self.idle.notify_all();
        }
    }

    /// Blocks until no sink is open, or `limit` passed.
    fn wait_idle(&self, limit: Duration) {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self
            .idle
            .wait_timeout_while(open, limit, |open| *open > 0)
            .map_err(|e| tracing::warn!(error = %e, "waiting for layer unpacks to stop"));
    }
}

/// A factory whose sinks are counted in [`Live`] until they finish, abort or drop.
struct Tracked {
    inner: Arc<dyn LayerSinkFactory>,
    live: Arc<Live>,
}

impl LayerSinkFactory for Tracked {
    fn open(&self, digest: &Digest) -> std::io::Result<Box<dyn LayerSink>> {
        let inner = self.inner.open(digest)?;
        self.live.enter(digest);
        Ok(Box::new(TrackedSink {
            inner: Some(inner),
            live: Arc::clone(&self.live),
        }))
    }
}

struct TrackedSink {
    inner: Option<Box<dyn LayerSink>>,
    live: Arc<Live>,
}

impl LayerSink for TrackedSink {
    fn write(&mut self, decompressed: bytes::Bytes) -> std::io::Result<()> {
        match &mut self.inner {
            Some(inner) => inner.write(decompressed),
            None => Err(std::io::Error::other("the layer sink is closed")),
        }
    }

    fn finish(mut self: Box<Self>, diff_id: &Digest) -> std::io::Result<()> {
        match self.inner.take() {
            Some(inner) => inner.finish(diff_id),
            None => Err(std::io::Error::other("the layer sink is closed")),
        }
    }

    fn abort(mut self: Box<Self>) {
        if let Some(inner) = self.inner.take() {
            inner.abort();
        }
    }
}

impl Drop for TrackedSink {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.abort();
        }
        self.live.leave();
    }
}

/// Writes one layer into the store in one pass (see the module docs).
pub(super) struct StoreLayerWriter {
    content: ContentStore,
    streamed: Arc<Streamed>,
    descriptor: Descriptor,
    compression: Compression,
    /// `hoist:REF`, for messages.
    location: String,
    /// The pipeline of the current pass, kept across attempts.
    running: Option<Running>,
    /// When the layer is fetched in parts.
    range_fetch: RangeFetch,
    /// Set once parts were declined or brought wrong bytes: one stream from then on.
    one_stream: bool,
}

/// A pass in progress.
struct Running {
    pipe: Pipeline,
    /// Bytes sent into the pipeline, a resumed prefix included: where the next read starts.
    offset: u64,
    /// This pass continued from a non-zero offset.
    resumed: bool,
    throttle: Throttle,
    /// The ingest's parts handle while the layer is fetched in parts.
    parts: Option<IngestParts>,
    /// Bytes to watch as one stream before fetching in parts ([`RangeFetch::probe`]), until
    /// a probe decided.
    probe: Option<u64>,
}

impl StoreLayerWriter {
    /// A writer of the layer `descriptor` (compressed as `compression`) into `content`,
    /// unpacking into the layer store of `streamed` when it has one.
    pub(super) fn new(
        content: ContentStore,
        streamed: Arc<Streamed>,
        descriptor: Descriptor,
        compression: Compression,
        location: String,
        range_fetch: RangeFetch,
    ) -> StoreLayerWriter {
        StoreLayerWriter {
            content,
            streamed,
            descriptor,
            compression,
            location,
            running: None,
            range_fetch,
            one_stream: false,
        }
    }

    async fn attempt(
        &mut self,
        input: &dyn BlobInput,
        progress: Progress<'_>,
    ) -> Result<(), CopyError> {
        let mut running = match self.running.take() {
            Some(running) => running,
            None => match self.begin().await? {
                Some(running) => running,
                // Another writer (another process) committed it meanwhile.
                None => return Ok(()),
            },
        };
        let size = self.descriptor.size;
        let total = (size > 0).then_some(size);
        if running.parts.is_some() && running.probe.is_some() {
            // One stream first, until the probe says whether parts would pay.
            if let Err(e) = self.stream(input, &mut running, progress).await {
                return Err(self.keep_or_fail(running, e).await);
            }
        }
        if let Some(parts) = running.parts.clone().filter(|_| running.offset < size) {
            if let Err(e) = self
                .fetch_parts(input, &mut running, &parts, progress)
                .await
            {
                return Err(self.keep_or_fail(running, e).await);
            }
        }
        // A previous process wrote every byte but died before committing: nothing to read.
        if total.is_none_or(|total| running.offset < total) && running.parts.is_none() {
            if let Err(e) = self.stream(input, &mut running, progress).await {
                return Err(self.keep_or_fail(running, e).await);
            }
            if running.offset < size {
                let offset = running.offset;
                self.running = Some(running);
                return Err(CopyError::interrupted(format!(
                    "{}: blob {} ended after {offset} of {size} bytes",
                    input.location(),
                    self.descriptor.digest
                )));
            }
        }
        self.emit(progress, Status::VerifyingChecksum);
        match running.pipe.end().await {
            PipelineEnd::Committed(committed) => {
                if let Some(diff_id) = committed.diff_id {
                    self.streamed
                        .insert(self.descriptor.digest.clone(), diff_id);
                }
                self.emit(progress, Status::DownloadComplete);
                Ok(())
            }
            // The store already dropped the bad bytes: the next attempt starts from zero.
            PipelineEnd::Failed(error @ TransferError::VerificationFailed { .. })
                if running.resumed || running.parts.is_some() =>
            {
                // After parts, the wrong bytes may be one part's: the next attempt is one
                // stream, whose bytes come from one answer.
                self.one_stream |= running.parts.is_some();
                tracing::warn!(%error, "verification failed after a resumed or parallel download; retrying from zero");
                Err(CopyError::interrupted(format!(
                    "{}: {error}",
                    self.location
                )))
            }
            PipelineEnd::Failed(error) => Err(self.failed(error)),
            PipelineEnd::Abandoned => Err(CopyError::interrupted(format!(
                "{}: the pipeline of {} stopped before the end of the blob",
                self.location, self.descriptor.digest
            ))),
        }
    }

    /// Begins (or resumes) the ingest and starts the pipeline over it; `None` when the blob
    /// is already stored. On a blocking thread: the ingest may wait for another process's
    /// lock on the same blob.
    async fn begin(&self) -> Result<Option<Running>, CopyError> {
        let content = self.content.clone();
        let digest = self.descriptor.digest.clone();
        // Schema 1 does not say the size of its layers: 0 there means unknown.
        let size = (self.descriptor.size > 0).then_some(self.descriptor.size);
        let in_parts =
            size.is_some_and(|size| self.range_fetch.applies_to(size)) && !self.one_stream;
        let ingest = blocking("the copy", move || {
            let ingest = content.begin(&digest, size)?;
            let parts = ingest.parts()?;
            let parts = match parts {
                Some(parts) if !in_parts && parts.done().covered() > ingest.offset() => {
                    // Parts of an earlier run this one fetches as one stream: back to a prefix.
                    parts.abandon(ingest.offset())?;
                    None
                }
                parts => parts.filter(|_| in_parts),
            };
            Ok::<_, StoreError>((ingest, parts))
        })
        .await?
        .map_err(|e: StoreError| {
            CopyError::store(
                &self.location,
                format!("write blob {}", self.descriptor.digest),
                e,
            )
        })?;
        let (ingest, parts) = ingest;
        if ingest.is_present() {
            // Dropped on a blocking thread: an ingest owns files.
            let _ = tokio::task::spawn_blocking(move || drop(ingest)).await;
            return Ok(None);
        }
        let offset = ingest.offset();
        let spec = PipelineSpec {
            digest: self.descriptor.digest.clone(),
            compression: self.compression,
            sink: self.streamed.unpacker.clone(),
            diff_id: self.streamed.diff_ids_wanted,
        };
        Ok(Some(Running {
            pipe: Pipeline::start(ingest, Arc::new(spec)),
            offset,
            resumed: offset > 0,
            throttle: Throttle::new(),
            // Parts an earlier run placed past the prefix are fetched on at once.
            probe: parts
                .as_ref()
                .filter(|p| self.range_fetch.probe > 0 && p.done().covered() <= offset)
                .map(|_| self.range_fetch.probe),
            parts,
        }))
    }

    /// Sends the source's bytes from `running.offset` on into the pipeline as one stream,
    /// to the end of the blob or, while `running.probe` is set, until the [`Probe`] says the
    /// link is the bottleneck (the rest is then fetched in parts). `Err(None)`: the pipeline
    /// stopped.
    async fn stream(
        &self,
        input: &dyn BlobInput,
        running: &mut Running,
        progress: Progress<'_>,
    ) -> Result<(), Option<CopyError>> {
        let total = (self.descriptor.size > 0).then_some(self.descriptor.size);
        let mut probe = running.probe.map(Probe::new);
        running.resumed |= running.offset > 0;
        let mut stream = input.open(running.offset).await.map_err(Some)?;
        while let Some(item) = stream.next().await {
            // What arrived is in the pipeline: the next attempt goes on from there.
            let chunk = item.map_err(Some)?;
            let len = chunk.len() as u64;
            if running.pipe.send(Feed::Chunk(chunk)).await.is_err() {
                return Err(None);
            }
            running.offset += len;
            if running.throttle.admit(running.offset, total) {
                let current = running.offset;
                self.emit(progress, Status::Downloading { current, total });
            }
            let Some(seen) = probe.as_mut().and_then(|p| {
                let now = Instant::now();
                p.observe(now, running.offset, running.pipe.waited(now))
            }) else {
                continue;
            };
            tracing::debug!(blob = %self.descriptor.digest, bytes = seen.bytes, elapsed = ?seen.elapsed, waited = ?seen.waited, bottleneck = ?seen.bottleneck, "probed the link");
            (probe, running.probe) = (None, None);
            match seen.bottleneck {
                Bottleneck::Link => return Ok(()),
                Bottleneck::Consumer => running.parts = None,
            }
        }
        Ok(())
    }

    /// After a failed step of an attempt: keeps the pass for the next attempt, or, when the
    /// pipeline stopped (`None`), ends it with the pipeline's error.
    async fn keep_or_fail(&mut self, running: Running, error: Option<CopyError>) -> CopyError {
        match error {
            Some(error) => {
                self.running = Some(running);
                error
            }
            None => self.failed(running.pipe.stopped().await),
        }
    }

    /// Fetches the layer in parts (`store_parts`) until every byte is placed, or, when the
    /// source declines parts, cuts the ingest back to the placed prefix and leaves the rest to
    /// one stream. `Err(None)`: the pipeline stopped.
    async fn fetch_parts(
        &mut self,
        input: &dyn BlobInput,
        running: &mut Running,
        parts: &IngestParts,
        progress: Progress<'_>,
    ) -> Result<(), Option<CopyError>> {
        let total = Some(self.descriptor.size);
        let (throttle, digest) = (&mut running.throttle, &self.descriptor.digest);
        let mut report = |received: u64| {
            if throttle.admit(received, total) {
                if let Some(progress) = progress {
                    let status = Status::Downloading {
                        current: received,
                        total,
                    };
                    progress.emit(ProgressEvent::new(digest, status));
                }
            }
        };
        let ended = fetch_parts(
            input,
            parts,
            &running.pipe,
            self.range_fetch,
            &mut running.offset,
            &self.location,
            &mut report,
        )
        .await
        .map_err(Some)?;
        match ended {
            PartsEnd::Complete => Ok(()),
            PartsEnd::PipelineStopped => Err(None),
            PartsEnd::Declined => {
                self.one_stream = true;
                running.parts = None;
                let (parts, keep) = (parts.clone(), running.offset);
                blocking("the copy", move || parts.abandon(keep))
                    .await
                    .map_err(|e| Some(CopyError::from(e)))?
                    .map_err(|e| {
                        Some(CopyError::store(
                            &self.location,
                            format!("write blob {}", self.descriptor.digest),
                            e,
                        ))
                    })
            }
        }
    }

    fn failed(&self, error: TransferError) -> CopyError {
        CopyError::Transfer {
            location: self.location.clone(),
            source: Box::new(error),
        }
    }

    fn emit(&self, progress: Progress<'_>, status: Status) {
        if let Some(progress) = progress {
            progress.emit(ProgressEvent::new(&self.descriptor.digest, status));
        }
    }
}

impl BlobWriter for StoreLayerWriter {
    async fn write(
        &mut self,
        input: &dyn BlobInput,
        progress: Progress<'_>,
    ) -> Result<Descriptor, CopyError> {
        self.attempt(input, progress).await?;
        Ok(self.descriptor.clone())
    }
}

#[cfg(test)]
mod tests;

//! The download manager: gets blobs into the content store, verified, a bounded number at a
//! time, deduplicated, retried and resumed, and streams layers through decompression and the
//! diffID hash in the same pass. The upload side is [`UploadManager`] (`upload`: jobs,
//! concurrency, retries; the copy engine's, which push goes through), [`SendPolicy`]
//! (`upload_body`) and `upload_compress` (a stored uncompressed layer compressed on its way to
//! a registry, kept in the store, see [`crate::compress`]; push's writer for docker-archive
//! loads).
//!
//! Corresponds to docker's `distribution/xfer` `LayerDownloadManager` (concurrency limit,
//! `maxDownloadAttempts`, the "Waiting" and "Retrying in N seconds" statuses, one transfer per
//! key) and the download half of `distribution/pull_v2.go` (`v2LayerDescriptor.Download`:
//! resume with `Range`, verify the digest, "filesystem layer verification failed for digest
//! D"). Unlike docker, which downloads to a temp file and then decompresses it while
//! registering the layer, hoist decompresses as the bytes arrive.
//!
//! # Parts
//! - `fetch`: [`BlobFetcher`], the network side (the registry client implements it).
//! - `download`: one transfer's async side: attempts, backoff, `Range`, progress.
//! - `pipeline`: one transfer's blocking side: ingest + decoder + diffID hash + [`LayerSink`].
//! - `hash_thread`: the diffID hash on a thread of its own.
//! - [`Compression`], [`LayerSink`]/[`LayerSinkFactory`], [`DiffIdCache`], [`TransferError`].
//!
//! # Behaviour
//! - At most [`DownloadConfig::max_concurrent`] blobs are fetched at once (docker's
//!   `max-concurrent-downloads`, default 3); the others report "Waiting".
//! - The same digest requested while its transfer runs joins it: one fetch, every caller gets
//!   the result ([`BlobDownload::joined`] tells them apart). A joining request's sink is not
//!   used: the bytes went to the first request's sink.
//! - A blob already in the store is "Already exists" and is not fetched. Its diffID comes from
//!   the caller's [`DiffIdCache`], or from streaming the stored blob through the decoder (and
//!   the request's sink, if it has one), so pull can check diffIDs with no network read.
//! - Each blob gets up to [`DownloadConfig::max_attempts`] attempts (default 5). Retryable:
//!   5xx, 429 (waiting its `Retry-After`), connection errors, a body shorter than declared.
//!   Not retried: what the fetcher marks permanent (unauthorized, denied, not found,
//!   unsupported), disk full, and a digest mismatch, except once from zero when the download
//!   had resumed (as docker does).
//! - A retry continues from what was stored (`Range: bytes=OFFSET-`), so does a new pull after
//!   a killed one; a 200 answer to a ranged request restarts from zero.
//! - Config and manifest blobs use the same manager with [`Compression::None`] and no sink.
//!
//! # Invariants
//! - Nothing unverified reaches `blobs/`: every byte goes through an [`Ingest`] that commits
//!   only against the expected digest.
//! - Memory per transfer is bounded (a few network chunks and the decoder's window) whatever
//!   the blob size; hashing and decompression run on blocking threads, never in async tasks.
//! - A [`LayerSink`] sees each decompressed byte once, in order, and is finished only after
//!   the blob's digest verified.
//!
//! Transfers run on spawned tasks: a caller that stops waiting does not cancel the transfer
//! (other callers may be waiting for it); it completes or fails on its own.
//!
//! [`Ingest`]: crate::store::Ingest

pub(crate) mod decompress;
mod download;
mod error;
mod fetch;
mod hash_thread;
pub(crate) mod pipeline;
mod sink;
mod upload;
mod upload_body;
mod upload_compress;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{watch, Semaphore};

pub use decompress::Compression;
pub use download::Truncated;
pub use error::TransferError;
pub use fetch::{BlobBody, BlobFetcher, BlobResponse, FetchError};
pub use sink::{DiffIdCache, LayerSink, LayerSinkFactory};
pub use upload::{UploadConfig, UploadFailure, UploadJob, UploadManager};
pub use upload_body::{SendError, SendPolicy};
pub(crate) use upload_compress::{CompressJob, CompressTask, CHANNEL_PIECES};

use crate::digest::Digest;
use crate::progress::{NoProgress, ProgressSink};
use crate::store::ContentStore;
use download::Transfer;
use pipeline::PipelineSpec;

/// Limits and timing of a [`DownloadManager`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadConfig {
    /// Blobs fetched at once (docker's `max-concurrent-downloads`, default 3; at least 1).
    pub max_concurrent: usize,
    /// Attempts per blob (docker's `max-download-attempts`, default 5; at least 1).
    pub max_attempts: u32,
    /// The wait between attempts when the server did not say.
    pub backoff: Backoff,
    /// The longest `Retry-After` honoured (default 60 s); longer requests are cut to it.
    pub max_retry_after: Duration,
}

impl Default for DownloadConfig {
    fn default() -> DownloadConfig {
        DownloadConfig {
            max_concurrent: 3,
            max_attempts: 5,
            backoff: Backoff::default(),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// How long to wait after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// `step × n` after the n-th failure: docker's `xfer` schedule with a 5 s step (the
    /// default).
    Linear {
        /// The wait after the first failure.
        step: Duration,
    },
    /// `initial × 2ⁿ⁻¹` after the n-th failure, at most `max`.
    Exponential {
        /// The wait after the first failure.
        initial: Duration,
        /// The longest wait.
        max: Duration,
    },
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::Linear {
            step: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The wait after `failed_attempts` failures (1 for the first).
    pub fn delay(&self, failed_attempts: u32) -> Duration {
        let n = failed_attempts.max(1);
        match *self {
            Backoff::Linear { step } => step.saturating_mul(n),
            Backoff::Exponential { initial, max } => {
                let factor = 1u32.checked_shl(n - 1).unwrap_or(u32::MAX);
                initial.saturating_mul(factor).min(max)
            }
        }
    }
}

/// One blob to download.
#[derive(Clone)]
pub struct BlobRequest {
    /// The blob's digest (what the bytes must hash to).
    pub digest: Digest,
    /// Its size from the descriptor, when known: enforced, and used to detect truncation.
    pub size: Option<u64>,
    /// How its bytes are compressed (from the media type); decides the diffID.
    pub compression: Compression,
    /// Where the decompressed bytes go (the layer unpacker), if anywhere.
    pub sink: Option<Arc<dyn LayerSinkFactory>>,
    /// Whether the diffID is wanted (default). Without a sink and without it, a compressed
    /// blob is stored and verified without being decompressed at all (what `pull
    /// --no-unpack` needs: the layer store and export check the diffID when they unpack).
    pub diff_id: bool,
    /// Where progress events go.
    pub progress: Arc<dyn ProgressSink>,
}

impl BlobRequest {
    /// A request for `digest`: size unknown, uncompressed, no sink, no progress.
    pub fn new(digest: Digest) -> BlobRequest {
        BlobRequest {
            digest,
            size: None,
            compression: Compression::None,
            sink: None,
            diff_id: true,
            progress: Arc::new(NoProgress),
        }
    }

    /// Without computing the diffID (see [`BlobRequest::diff_id`]): the download's
    /// [`BlobDownload::diff_id`] is `None` unless it costs nothing (an uncompressed blob) or
    /// a sink decompresses the bytes anyway.
    pub fn without_diff_id(mut self) -> BlobRequest {
        self.diff_id = false;
        self
    }

    /// With the descriptor's size.
    pub fn with_size(mut self, size: u64) -> BlobRequest {
        self.size = Some(size);
        self
    }

    /// With the compression of the layer's media type.
    pub fn with_compression(mut self, compression: Compression) -> BlobRequest {
        self.compression = compression;
        self
    }

    /// With a sink for the decompressed bytes.
    pub fn with_sink(mut self, sink: Arc<dyn LayerSinkFactory>) -> BlobRequest {
        self.sink = Some(sink);
        self
    }

    /// With a progress sink.
    pub fn with_progress(mut self, progress: Arc<dyn ProgressSink>) -> BlobRequest {
        self.progress = progress;
        self
    }
}

impl std::fmt::Debug for BlobRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobRequest")
            .field("digest", &self.digest)
            .field("size", &self.size)
            .field("compression", &self.compression)
            .field("sink", &self.sink.is_some())
            .field("diff_id", &self.diff_id)
            .finish_non_exhaustive()
    }
}

/// A blob that is in the store, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobDownload {
    /// The blob's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// The sha256 of its decompressed bytes (docker's diffID; the digest itself for an
    /// uncompressed sha256 blob); `None` when the request did not want it and getting it
    /// would have meant decompressing the blob.
    pub diff_id: Option<Digest>,
    /// It was in the store before: nothing was fetched ("Already exists").
    pub already_present: bool,
    /// This request joined a transfer another request had started; its sink was not used.
    pub joined: bool,
}

type Outcome = Option<Result<BlobDownload, TransferError>>;

/// Downloads blobs into a [`ContentStore`]: docker's `LayerDownloadManager`. Cheap to clone;
/// clones share the concurrency limit and the in-flight transfers.
#[derive(Clone)]
pub struct DownloadManager {
    inner: Arc<Inner>,
}

struct Inner {
    store: ContentStore,
    config: DownloadConfig,
    slots: Arc<Semaphore>,
    inflight: Mutex<HashMap<Digest, watch::Receiver<Outcome>>>,
    diff_ids: Option<Arc<dyn DiffIdCache>>,
}

impl DownloadManager {
    /// A manager writing into `store`. Limits below 1 are raised to 1.
    pub fn new(store: ContentStore, config: DownloadConfig) -> DownloadManager {
        DownloadManager::create(store, config, None)
    }

    /// This manager's store and limits, asking `cache` for the diffIDs of blobs already
    /// present before reading them. Call it before any download: the result does not share
    /// the concurrency limit or in-flight transfers with `self`.
    pub fn with_diff_id_cache(self, cache: Arc<dyn DiffIdCache>) -> DownloadManager {
        DownloadManager::create(
            self.inner.store.clone(),
            self.inner.config.clone(),
            Some(cache),
        )
    }

    fn create(
        store: ContentStore,
        config: DownloadConfig,
        diff_ids: Option<Arc<dyn DiffIdCache>>,
    ) -> DownloadManager {
        let config = DownloadConfig {
            max_concurrent: config.max_concurrent.max(1),
            max_attempts: config.max_attempts.max(1),
            ..config
        };
        DownloadManager {
            inner: Arc::new(Inner {
                store,
                slots: Arc::new(Semaphore::new(config.max_concurrent)),
                config,
                inflight: Mutex::new(HashMap::new()),
                diff_ids,
            }),
        }
    }

    /// The limits in effect.
    pub fn config(&self) -> &DownloadConfig {
        &self.inner.config
    }

    /// The store blobs are written to.
    pub fn store(&self) -> &ContentStore {
        &self.inner.store
    }

    /// Downloads `request.digest` with `fetcher` (or finds it present, or joins the transfer
    /// already fetching it) and returns it verified and stored. Must run inside a tokio
    /// runtime; the transfer itself runs on a spawned task.
    pub async fn download<F: BlobFetcher>(
        &self,
        fetcher: Arc<F>,
        request: BlobRequest,
    ) -> Result<BlobDownload, TransferError> {
        let digest = request.digest.clone();
        let wanted = request.diff_id.then(|| PipelineSpec {
            digest: request.digest.clone(),
            compression: request.compression,
            sink: None,
            diff_id: true,
        });
        let (mut outcome, joined) = self.join_or_start(fetcher, request);
        let result = match outcome.wait_for(Option::is_some).await {
            Ok(done) => done.clone(),
            // The task ended without an outcome: it panicked or the runtime is shutting down.
            Err(_) => None,
        };
        match result {
            Some(Ok(mut download)) => {
                // Joined a transfer that did not compute the diffID this request wants.
                if let (None, Some(spec)) = (&download.diff_id, wanted) {
                    download.diff_id = Some(self.stored_diff_id(spec).await?);
                }
                Ok(BlobDownload { joined, ..download })
            }
            Some(Err(e)) => Err(e),
            None => Err(TransferError::Interrupted {
                digest,
                reason: "the transfer task ended without a result".to_owned(),
            }),
        }
    }

    /// The diffID of a stored blob, decompressing it on a blocking thread.
    async fn stored_diff_id(&self, spec: PipelineSpec) -> Result<Digest, TransferError> {
        let store = self.inner.store.clone();
        let digest = spec.digest.clone();
        tokio::task::spawn_blocking(move || pipeline::diff_id_of_stored(&store, &spec))
            .await
            .map_err(|e| TransferError::Interrupted {
                digest,
                reason: e.to_string(),
            })?
    }

    fn join_or_start<F: BlobFetcher>(
        &self,
        fetcher: Arc<F>,
        request: BlobRequest,
    ) -> (watch::Receiver<Outcome>, bool) {
        let mut inflight = lock(&self.inner.inflight);
        if let Some(running) = inflight.get(&request.digest) {
            return (running.clone(), true);
        }
        let (tx, rx) = watch::channel(None);
        inflight.insert(request.digest.clone(), rx.clone());
        drop(inflight);

        let guard = InflightEntry {
            inner: Arc::clone(&self.inner),
            digest: request.digest.clone(),
        };
        let transfer = Transfer {
            fetcher,
            store: self.inner.store.clone(),
            request,
            config: self.inner.config.clone(),
            slots: Arc::clone(&self.inner.slots),
            diff_ids: self.inner.diff_ids.clone(),
        };
        tokio::spawn(async move {
            let result = transfer.run().await;
            // Unlisted before the result is published: a request arriving now starts afresh
            // (and finds the blob present) rather than joining a finished transfer.
            drop(guard);
            // No receiver left means every caller stopped waiting: nobody to tell.
            let _ = tx.send(Some(result));
        });
        (rx, false)
    }
}

impl std::fmt::Debug for DownloadManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownloadManager")
            .field("root", &self.inner.store.root())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Removes a transfer from the in-flight map when its task ends, even by a panic.
struct InflightEntry {
    inner: Arc<Inner>,
    digest: Digest,
}

impl Drop for InflightEntry {
    fn drop(&mut self) {
        lock(&self.inner.inflight).remove(&self.digest);
    }
}

/// The map stays usable after a panic elsewhere: its entries are only inserted and removed.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

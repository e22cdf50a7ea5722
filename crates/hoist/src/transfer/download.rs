//! The async half of one blob's download: presence check, the concurrency slot, attempts with
//! backoff, `Range` resumption, and feeding the blocking [`pipeline`](super::pipeline).
//!
//! Corresponds to the per-layer goroutine of docker's `xfer.LayerDownloadManager`
//! (`makeDownloadFunc`: "Waiting", the retry loop with "Retrying in N seconds", `DoNotRetry`)
//! together with `pull_v2.go`'s `v2LayerDescriptor.Download` (resume from the partial file's
//! offset, truncate and start over when the registry ignores the range, "Verifying Checksum",
//! "Download complete", and one more try from zero when a *resumed* download fails
//! verification).
//!
//! # Attempts
//! Every request to the fetcher is one attempt, as in docker (whose retry loop wraps the
//! whole `Download`, resume included). Between attempts the task waits the server's
//! `Retry-After` (capped by [`DownloadConfig::max_retry_after`]) or the configured
//! [`Backoff`](super::Backoff). Only the async half retries; the pipeline thread, its
//! decoder and its sink live across attempts, so nothing is decoded twice.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{Semaphore, TryAcquireError};
use tokio::time::Instant;

use super::fetch::{BlobBody, BlobFetcher, FetchError};
use super::pipeline::{self, Committed, Feed, Pipeline, PipelineEnd, PipelineSpec};
use super::sink::DiffIdCache;
use super::{BlobDownload, BlobRequest, DownloadConfig, TransferError};
use crate::digest::Digest;
use crate::progress::{ProgressEvent, Status, Throttle};
use crate::store::{ContentStore, Ingest, StoreError};

/// The body ended before the length the descriptor (or the server) declared.
#[derive(Debug, thiserror::Error)]
#[error("the response body ended at byte {received} of {expected}")]
pub struct Truncated {
    /// Bytes of the blob held when the body ended (including earlier attempts').
    pub received: u64,
    /// The declared length.
    pub expected: u64,
}

/// One blob's transfer, run on its own task.
pub(super) struct Transfer<F> {
    pub(super) fetcher: Arc<F>,
    pub(super) store: ContentStore,
    pub(super) request: BlobRequest,
    pub(super) config: DownloadConfig,
    pub(super) slots: Arc<Semaphore>,
    pub(super) diff_ids: Option<Arc<dyn DiffIdCache>>,
}

/// A failed pass, and whether it had resumed from a non-zero offset (docker retries such a
/// pass from zero after a verification failure).
struct Failure {
    error: TransferError,
    resumed: bool,
}

enum Begun {
    Present,
    Writing(Ingest),
}

impl<F: BlobFetcher> Transfer<F> {
    pub(super) async fn run(self) -> Result<BlobDownload, TransferError> {
        let spec = Arc::new(PipelineSpec {
            digest: self.request.digest.clone(),
            compression: self.request.compression,
            sink: self.request.sink.clone(),
            diff_id: self.request.diff_id,
        });
        let store = self.store.clone();
        let digest = self.digest().clone();
        let present = self.blocking(move || store.has(&digest)).await?;
        if present.map_err(|e| self.store_error(e))? {
            return self.already_present(&spec).await;
        }
        self.emit(Status::PullingFsLayer);
        let _slot = self.take_slot().await?;

        let mut attempts = 0;
        loop {
            let ingest = match self.begin().await? {
                Begun::Present => return self.already_present(&spec).await,
                Begun::Writing(ingest) => ingest,
            };
            match self.stream(ingest, &spec, &mut attempts).await {
                Ok(committed) => {
                    return Ok(BlobDownload {
                        digest: committed.blob.digest,
                        size: committed.blob.size,
                        diff_id: committed.diff_id,
                        already_present: false,
                        joined: false,
                    })
                }
                // pull_v2.go: "Allow a retry if this digest verification error happened after
                // a resumed download." The store already dropped the bad bytes.
                Err(Failure {
                    error: error @ TransferError::VerificationFailed { .. },
                    resumed: true,
                }) if attempts < self.config.max_attempts => {
                    tracing::warn!(%error, "verification failed after a resumed download; retrying from zero");
                    self.wait_before_retry(None, attempts).await;
                }
                Err(failure) => return Err(failure.error),
            }
        }
    }

    /// Streams the blob into a pipeline over `ingest`, attempt after attempt, and commits it.
    async fn stream(
        &self,
        ingest: Ingest,
        spec: &Arc<PipelineSpec>,
        attempts: &mut u32,
    ) -> Result<Committed, Failure> {
        let mut progress = Received {
            offset: ingest.offset(),
            resumed: ingest.offset() > 0,
            throttle: Throttle::new(),
        };
        // A previous process wrote every byte but died before committing: nothing to fetch
        // (and a `Range` from the end would be answered 416).
        let complete_on_disk = progress.offset > 0 && self.request.size == Some(progress.offset);
        let pipe = Pipeline::start(ingest, Arc::clone(spec));
        if !complete_on_disk {
            match self.receive(&pipe, &mut progress, attempts).await {
                Ok(()) => {}
                Err(Pump::PipelineStopped) => {
                    return Err(Failure {
                        error: pipe.stopped().await,
                        resumed: progress.resumed,
                    })
                }
                Err(Pump::Fetch(failure)) => {
                    pipe.close().await;
                    let error = if failure.is_retryable() {
                        TransferError::AttemptsExhausted {
                            digest: self.digest().clone(),
                            attempts: *attempts,
                            last: failure,
                        }
                    } else {
                        TransferError::Fetch {
                            digest: self.digest().clone(),
                            error: failure,
                        }
                    };
                    return Err(Failure {
                        error,
                        resumed: progress.resumed,
                    });
                }
            }
        }
        self.emit(Status::VerifyingChecksum);
        let resumed = progress.resumed;
        match pipe.end().await {
            PipelineEnd::Committed(committed) => {
                self.emit(Status::DownloadComplete);
                Ok(committed)
            }
            PipelineEnd::Failed(error) => Err(Failure { error, resumed }),
            PipelineEnd::Abandoned => Err(Failure {
                error: self.interrupted("the pipeline stopped before the end of the blob"),
                resumed,
            }),
        }
    }

    /// Fetches until every byte was sent into the pipeline, retrying retryable failures while
    /// attempts remain. Fails with the error that ended the attempts.
    async fn receive(
        &self,
        pipe: &Pipeline,
        progress: &mut Received,
        attempts: &mut u32,
    ) -> Result<(), Pump> {
        let digest = self.digest();
        loop {
            *attempts += 1;
            let failure = match self.attempt(pipe, progress).await {
                Ok(()) => return Ok(()),
                Err(Pump::PipelineStopped) => return Err(Pump::PipelineStopped),
                Err(Pump::Fetch(failure)) => failure,
            };
            if !failure.is_retryable() || *attempts >= self.config.max_attempts {
                return Err(Pump::Fetch(failure));
            }
            tracing::warn!(%digest, attempt = *attempts, error = %failure, "download failed, retrying");
            self.wait_before_retry(failure.retry_after_duration(), *attempts)
                .await;
        }
    }

    /// One request: from `progress.offset`, restarting the pipeline from zero if the server
    /// ignores the range.
    async fn attempt(&self, pipe: &Pipeline, progress: &mut Received) -> Result<(), Pump> {
        let digest = self.digest();
        let response = self
            .fetcher
            .fetch(digest, progress.offset)
            .await
            .map_err(Pump::Fetch)?;
        if progress.offset > 0 {
            if response.partial {
                progress.resumed = true;
            } else {
                tracing::debug!(%digest, offset = progress.offset, "range ignored (200); restarting from zero");
                pipe.send(Feed::Restart)
                    .await
                    .map_err(|()| Pump::PipelineStopped)?;
                *progress = Received {
                    offset: 0,
                    resumed: false,
                    throttle: Throttle::new(),
                };
            }
        }
        let declared = self.request.size.or(response.total_len);
        self.pump(pipe, response.body, progress, declared).await
    }

    /// Sends one response body into the pipeline; fails on a body error or a short body.
    async fn pump(
        &self,
        pipe: &Pipeline,
        mut body: BlobBody,
        progress: &mut Received,
        declared: Option<u64>,
    ) -> Result<(), Pump> {
        while let Some(item) = body.next().await {
            let chunk = item.map_err(Pump::Fetch)?;
            if chunk.is_empty() {
                continue;
            }
            let len = chunk.len() as u64;
            pipe.send(Feed::Chunk(chunk))
                .await
                .map_err(|()| Pump::PipelineStopped)?;
            progress.offset += len;
            if progress.throttle.admit(progress.offset, declared) {
                self.emit(Status::Downloading {
                    current: progress.offset,
                    total: declared,
                });
            }
        }
        match declared {
            Some(expected) if progress.offset < expected => {
                Err(Pump::Fetch(FetchError::retryable(Truncated {
                    received: progress.offset,
                    expected,
                })))
            }
            _ => Ok(()),
        }
    }

    /// "Already exists": the size and diffID of a stored blob, from the cache or by streaming
    /// it (through the sink, when one is given: the layer may not be unpacked yet).
    async fn already_present(
        &self,
        spec: &Arc<PipelineSpec>,
    ) -> Result<BlobDownload, TransferError> {
        self.emit(Status::AlreadyExists);
        let store = self.store.clone();
        let spec = Arc::clone(spec);
        let cache = self.diff_ids.clone();
        let (size, diff_id) = self
            .blocking(move || {
                let size = store
                    .size(&spec.digest)
                    .map_err(|e| TransferError::from_store(&spec.digest, e))?;
                let cached = match (&spec.sink, &cache) {
                    (None, Some(cache)) => cache.known_diff_id(&spec.digest),
                    _ => None,
                };
                let diff_id = match cached {
                    Some(id) => Some(id),
                    None if spec.diff_id || spec.decodes() => {
                        Some(pipeline::diff_id_of_stored(&store, &spec)?)
                    }
                    None => None,
                };
                Ok::<_, TransferError>((size, diff_id))
            })
            .await??;
        Ok(BlobDownload {
            digest: self.digest().clone(),
            size,
            diff_id,
            already_present: true,
            joined: false,
        })
    }

    /// One of the `max_concurrent` download slots; "Waiting" while none is free.
    async fn take_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, TransferError> {
        match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(permit) => Ok(permit),
            Err(TryAcquireError::NoPermits) => {
                self.emit(Status::Waiting);
                Arc::clone(&self.slots)
                    .acquire_owned()
                    .await
                    .map_err(|_| self.interrupted("the download manager was shut down"))
            }
            Err(TryAcquireError::Closed) => {
                Err(self.interrupted("the download manager was shut down"))
            }
        }
    }

    /// Begins (or resumes) the ingest, on a blocking thread: it may wait for another
    /// process's lock on the same blob.
    async fn begin(&self) -> Result<Begun, TransferError> {
        let store = self.store.clone();
        let digest = self.digest().clone();
        let size = self.request.size;
        let begun = self
            .blocking(move || {
                let ingest = store.begin(&digest, size)?;
                // Dropped here, not in async code: an ingest owns files.
                Ok::<_, StoreError>(if ingest.is_present() {
                    Begun::Present
                } else {
                    Begun::Writing(ingest)
                })
            })
            .await?;
        begun.map_err(|e| self.store_error(e))
    }

    /// Waits before the next attempt, counting down "Retrying in N seconds" like docker.
    async fn wait_before_retry(&self, retry_after: Option<Duration>, failed_attempts: u32) {
        // Never sooner than the backoff; as late as the server asks, within reason.
        let backoff = self.config.backoff.delay(failed_attempts);
        let delay = match retry_after {
            Some(after) => after.min(self.config.max_retry_after).max(backoff),
            None => backoff,
        };
        let deadline = Instant::now() + delay;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return;
            }
            let seconds = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
            self.emit(Status::RetryingIn { seconds });
            // Sleep until the displayed number of seconds goes down by one.
            let next = remaining.saturating_sub(Duration::from_secs(seconds - 1));
            tokio::time::sleep(next).await;
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, TransferError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| self.interrupted(&e.to_string()))
    }

    fn digest(&self) -> &Digest {
        &self.request.digest
    }

    fn emit(&self, status: Status) {
        self.request
            .progress
            .emit(ProgressEvent::new(self.digest(), status));
    }

    fn store_error(&self, e: StoreError) -> TransferError {
        TransferError::from_store(self.digest(), e)
    }

    fn interrupted(&self, reason: &str) -> TransferError {
        TransferError::Interrupted {
            digest: self.digest().clone(),
            reason: reason.to_owned(),
        }
    }
}

/// Why sending into the pipeline stopped early.
enum Pump {
    /// The fetch or its body failed.
    Fetch(FetchError),
    /// The pipeline thread stopped on its own (store or sink error): ask it why.
    PipelineStopped,
}

/// How far the bytes of the current pass got.
struct Received {
    /// Bytes sent into the pipeline (including a resumed prefix): the next `Range` start.
    offset: u64,
    /// This pass continued from a non-zero offset.
    resumed: bool,
    throttle: Throttle,
}

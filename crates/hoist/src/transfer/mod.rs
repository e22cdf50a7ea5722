//! Moving blobs: the scheduler the copy engine runs every blob through ([`UploadManager`]:
//! bounded concurrency, retries with backoff, docker's `Waiting` and `Retrying in N seconds`),
//! its settings for pull ([`DownloadConfig`]) and push ([`UploadConfig`]), the one-pass layer
//! stream into the store (`pipeline`: ingest + decoder + diffID hash + [`LayerSink`]), and the
//! upload side's [`SendPolicy`] (`upload_body`). Compression on the way is not here: it is a
//! step of the copy engine's source side (`crate::copy`'s `compress_step`).
//!
//! Corresponds to docker's `distribution/xfer` (`LayerDownloadManager` and
//! `LayerUploadManager`: concurrency limits, `maxDownloadAttempts`, the "Waiting" and
//! "Retrying in N seconds" statuses) and the download half of `distribution/pull_v2.go`
//! (`v2LayerDescriptor.Download`: resume with `Range`, verify the digest, "filesystem layer
//! verification failed for digest D"). A pull is a copy into the store (`crate::pull`): the
//! engine schedules its blobs here, and the store's layer writer (`crate::copy`'s
//! `store_layer`) feeds each layer's bytes into a `pipeline` thread. Unlike docker, which
//! downloads to a temp file and then decompresses it while registering the layer, hoist
//! decompresses as the bytes arrive.
//!
//! # Parts
//! - `retry`: the one [`RetryPolicy`] (attempts, backoff, `Retry-After`, what is never
//!   retried) every retry loop uses, blob transfers and manifest reads alike.
//! - `upload`: [`UploadManager`], [`UploadJob`], [`UploadConfig`].
//! - `pipeline`: one layer's blocking side: ingest + decoder + diffID hash + [`LayerSink`].
//! - `hash_thread`: the diffID hash on a thread of its own.
//! - `sink`: [`LayerSink`]/[`LayerSinkFactory`], where decompressed layer bytes go.
//! - `error`: [`TransferError`], a layer stream's failure.
//!
//! # Invariants
//! - Nothing unverified reaches `blobs/`: every byte goes through an [`Ingest`] that commits
//!   only against the expected digest.
//! - Memory per layer is bounded (a few network chunks and the decoder's window) whatever the
//!   blob size; hashing and decompression run on blocking threads, never in async tasks.
//! - A [`LayerSink`] sees each decompressed byte once, in order, and is finished only after
//!   the blob's digest verified.
//!
//! [`Ingest`]: crate::store::Ingest

mod error;
mod hash_thread;
pub(crate) mod pipeline;
mod retry;
mod sink;
mod upload;
mod upload_body;

use std::time::Duration;

/// The compression of a blob, owned by [`crate::compress`]; re-exported where pull and push
/// settings name it.
pub use crate::compress::Compression;
pub use error::TransferError;
pub use retry::{retry_after, Backoff, RetryClass, RetryPolicy, Retryable};
pub use sink::{LayerSink, LayerSinkFactory};
pub use upload::{UploadConfig, UploadJob, UploadManager};
pub(crate) use upload_body::is_void_session;
pub use upload_body::{SendError, SendPolicy};

/// Limits and timing of pull's downloads ([`crate::pull::PullOptions::download`]): docker's
/// `max-concurrent-downloads` and `max-download-attempts`, run by the copy engine's
/// scheduler ([`UploadManager`], configured from them).
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

impl DownloadConfig {
    /// The attempts, backoff and `Retry-After` cap of each blob, as one [`RetryPolicy`].
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            max_retry_after: self.max_retry_after,
        }
    }
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

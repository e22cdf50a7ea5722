//! Moving blobs: the scheduler the copy engine runs every blob through ([`Scheduler`]:
//! bounded concurrency, retries with backoff, docker's `Waiting` and `Retrying in N seconds`),
//! one [`TransferConfig`] with docker's settings for pull ([`TransferConfig::downloads`]) and
//! push ([`TransferConfig::uploads`]), the one-pass layer
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
//! - `scheduler`: [`Scheduler`], [`TransferJob`] (with [`TransferConfig`], here).
//! - `pipeline`: one layer's blocking side: ingest + decoder + diffID hash + [`LayerSink`].
//! - `tee`: the compressed stream as the decoder sees it: fed chunks stored as they pass,
//!   a resumed prefix replayed, bytes placed by a fetch in parts taken in order.
//! - `parts`: [`RangeFetch`], when a big blob is fetched as several `Range` requests at
//!   once (containerd 2.1's `concurrent_layer_fetch_buffer`), [`Spans`], which of its
//!   bytes are complete, and `Probe`, whether the link or hoist limits its one stream.
//! - `chunks`: the buffers the decoder fills, shared by the diffID hash and the sink and
//!   recycled once both are done.
//! - `hash_thread`: the diffID hash on a thread of its own.
//! - [`LayerSink`]/[`LayerSinkFactory`], where decompressed layer bytes go: the layer store's
//!   (`crate::store::layers`), re-exported here for the pipeline's callers.
//! - `error`: [`TransferError`], a layer stream's failure.
//! - `interrupted`: [`Interrupted`], work that ended abnormally (shared by the transfer, copy
//!   and pull errors), and `blocking`, the one way blocking work is run from async code.
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

mod chunks;
mod error;
mod hash_thread;
mod interrupted;
mod parts;
pub(crate) mod pipeline;
mod retry;
mod scheduler;
mod tee;
mod upload_body;

use std::time::Duration;

/// The compression of a blob, owned by [`crate::compress`]; re-exported where pull and push
/// settings name it.
pub use crate::compress::Compression;
/// Where decompressed layer bytes go: defined beside the layer store that implements them.
pub use crate::store::layers::{LayerSink, LayerSinkFactory};
/// The shared byte buffers a [`LayerSink`] receives (the `bytes` crate's, re-exported so that
/// a sink needs no dependency of its own on it).
pub use bytes::Bytes;
pub use error::TransferError;
pub(crate) use interrupted::blocking;
pub use interrupted::Interrupted;
pub(crate) use parts::{Bottleneck, Probe};
pub use parts::{RangeFetch, Spans};
pub use retry::{retry_after, Backoff, RetryClass, RetryPolicy, Retryable};
pub use scheduler::{Scheduler, TransferJob};
pub(crate) use upload_body::is_void_session;
pub use upload_body::{SendError, SendPolicy};

/// Limits and timing of the [`Scheduler`]: one type for both of docker's configurations,
/// `max-concurrent-downloads`/`max-download-attempts` ([`TransferConfig::downloads`], pull's
/// [`crate::pull::PullOptions::download`]) and `max-concurrent-uploads`/`maxUploadAttempts`
/// ([`TransferConfig::uploads`], push's and copy's `upload`). The attempts, backoff and
/// `Retry-After` cap are the job's [`RetryPolicy`].
#[doc(alias = "DownloadConfig", alias = "UploadConfig")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferConfig {
    /// Jobs running at once (at least 1).
    pub max_concurrent: usize,
    /// Attempts per job (at least 1).
    pub max_attempts: u32,
    /// The wait between attempts when the server did not say.
    pub backoff: Backoff,
    /// The longest `Retry-After` honoured (default 60 s); longer requests are cut to it.
    pub max_retry_after: Duration,
}

impl TransferConfig {
    /// docker's download defaults: 3 blobs at once, 5 attempts each.
    pub fn downloads() -> TransferConfig {
        TransferConfig {
            max_concurrent: 3,
            ..TransferConfig::uploads()
        }
    }

    /// docker's upload defaults: 5 blobs at once, 5 attempts each.
    pub fn uploads() -> TransferConfig {
        TransferConfig {
            max_concurrent: 5,
            max_attempts: 5,
            backoff: Backoff::default(),
            max_retry_after: Duration::from_secs(60),
        }
    }

    /// The attempts, backoff and `Retry-After` cap of each job, as one [`RetryPolicy`].
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            max_retry_after: self.max_retry_after,
        }
    }
}

//! Moving blobs: the scheduler the copy engine runs every blob through ([`UploadManager`]:
//! bounded concurrency, retries with backoff, docker's `Waiting` and `Retrying in N seconds`),
//! its settings for pull ([`DownloadConfig`]) and push ([`UploadConfig`]), the one-pass layer
//! stream into the store (`pipeline`: ingest + decoder + diffID hash + [`LayerSink`]), and the
//! upload side's [`SendPolicy`] (`upload_body`) and `upload_compress` (a stored uncompressed
//! layer compressed on its way to a registry, kept in the store, see [`crate::compress`]).
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
//! - `upload`: [`UploadManager`], [`UploadJob`], [`UploadConfig`].
//! - `pipeline`: one layer's blocking side: ingest + decoder + diffID hash + [`LayerSink`].
//! - `hash_thread`: the diffID hash on a thread of its own.
//! - `decompress`: [`Compression`] and its decoders.
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

pub(crate) mod decompress;
mod error;
mod hash_thread;
pub(crate) mod pipeline;
mod sink;
mod upload;
mod upload_body;
mod upload_compress;

use std::time::Duration;

pub use decompress::Compression;
pub use error::TransferError;
pub use sink::{LayerSink, LayerSinkFactory};
pub use upload::{UploadConfig, UploadFailure, UploadJob, UploadManager};
pub use upload_body::{SendError, SendPolicy};
pub(crate) use upload_compress::{CompressJob, CompressTask, CHANNEL_PIECES};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}

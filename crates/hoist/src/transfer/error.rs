//! Errors of a layer streamed into the store (`pipeline`). Each names the blob; the messages a
//! person sees are docker's where docker has one (`filesystem layer verification failed for
//! digest D`).
//!
//! `TransferError` is `Clone` (sources are shared behind `Arc`), so a failure can be reported
//! and kept.

use std::io;
use std::sync::Arc;

use super::{Compression, Interrupted};
use crate::digest::Digest;
use crate::store::StoreError;

/// Why a blob could not be downloaded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransferError {
    /// The bytes received do not hash to the digest asked for (or are longer than its declared
    /// size). Nothing was stored. docker's wording, from `pull_v2.go`.
    #[error("filesystem layer verification failed for digest {digest}")]
    VerificationFailed {
        /// The blob.
        digest: Digest,
        /// The store's report (expected and actual digest).
        #[source]
        source: Arc<StoreError>,
    },

    /// The blob is intact (its digest matched) but is not valid data of its declared
    /// compression.
    #[error("cannot decompress {digest} as {format}: {source}")]
    Decompress {
        /// The blob.
        digest: Digest,
        /// The compression the descriptor declared.
        format: Compression,
        /// The decoder's error.
        #[source]
        source: Arc<io::Error>,
    },

    /// The local store failed (disk full, permissions, ...). Disk full is never retried.
    #[error("cannot store {digest}: {source}")]
    Store {
        /// The blob.
        digest: Digest,
        /// The store's error.
        #[source]
        source: Arc<StoreError>,
    },

    /// The layer sink (the unpacker) refused the stream.
    #[error("cannot apply the contents of {digest}: {source}")]
    Sink {
        /// The blob.
        digest: Digest,
        /// The sink's error.
        #[source]
        source: Arc<io::Error>,
    },

    /// A worker thread of the transfer ended abnormally (a panic in a sink, a runtime
    /// shutting down): `the download of D was interrupted: …`.
    #[error("{interrupted}")]
    Interrupted {
        /// The blob.
        digest: Digest,
        /// What happened.
        interrupted: Interrupted,
    },
}

impl TransferError {
    /// The download of `digest` was interrupted because of `reason`.
    pub(crate) fn interrupted(digest: &Digest, reason: impl Into<String>) -> TransferError {
        TransferError::Interrupted {
            digest: digest.clone(),
            interrupted: Interrupted::new(format!("the download of {digest}"), reason),
        }
    }

    /// The blob this error is about.
    pub fn digest(&self) -> &Digest {
        match self {
            TransferError::VerificationFailed { digest, .. }
            | TransferError::Decompress { digest, .. }
            | TransferError::Store { digest, .. }
            | TransferError::Sink { digest, .. }
            | TransferError::Interrupted { digest, .. } => digest,
        }
    }

    /// Whether the local disk (or quota) is full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, TransferError::Store { source, .. } if source.is_disk_full())
    }

    /// Classifies a store error: a digest or size mismatch is a verification failure.
    pub(crate) fn from_store(digest: &Digest, e: StoreError) -> TransferError {
        match e {
            StoreError::Mismatch { .. } | StoreError::SizeExceeded { .. } => {
                TransferError::VerificationFailed {
                    digest: digest.clone(),
                    source: Arc::new(e),
                }
            }
            _ => TransferError::Store {
                digest: digest.clone(),
                source: Arc::new(e),
            },
        }
    }
}

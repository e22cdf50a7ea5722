//! How blobs are sent to a registry: the sizes that decide it ([`SendPolicy`]) and why a send
//! of a layer compressed on the way failed ([`SendError`]).
//!
//! The sending itself is the copy engine's registry writer (`crate::copy::remote_upload`,
//! docker's `layerUpload.ReadFrom` + `Commit`: monolithic `PUT` for blobs up to
//! [`SendPolicy::monolithic_max`], one streamed `PATCH` for larger ones, chunked `PATCH`es when
//! the registry asks for a minimum chunk or answers `413`, halving down to
//! [`SendPolicy::min_chunk_size`], the session resumed across attempts), which push goes
//! through too, for blobs as stored and layers compressed on the way alike.

use crate::digest::Digest;
use crate::registry::RegistryError;
use crate::store::StoreError;

/// Sizes that decide how a blob is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendPolicy {
    /// Blobs up to this size go in one `PUT` (default 4 MiB).
    pub monolithic_max: u64,
    /// The first chunk size once chunked (default 16 MiB; raised to the registry's minimum).
    pub chunk_size: u64,
    /// The smallest chunk a 413 may shrink to (default 256 KiB).
    pub min_chunk_size: u64,
}

impl Default for SendPolicy {
    fn default() -> SendPolicy {
        SendPolicy {
            monolithic_max: 4 << 20,
            chunk_size: 16 << 20,
            min_chunk_size: 256 << 10,
        }
    }
}

/// Why sending a blob failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The registry refused or could not be reached.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The blob could not be opened in the store.
    #[error("cannot open blob {digest} in the store")]
    Store {
        /// The blob.
        digest: Digest,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// The blob could not be read from the store.
    #[error("cannot read blob {digest} from the store")]
    Read {
        /// The blob.
        digest: Digest,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The registry answered 413 even to the smallest chunk allowed.
    #[error("registry refuses chunks of {chunk} bytes for blob {digest} (413 Payload Too Large)")]
    TooLarge {
        /// The blob.
        digest: Digest,
        /// The smallest chunk tried.
        chunk: u64,
    },
}

impl SendError {
    /// Whether a new attempt can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SendError::Registry(e) => e.is_retryable() || is_void_session(e),
            SendError::Store { .. } | SendError::Read { .. } | SendError::TooLarge { .. } => false,
        }
    }
}

/// A session the registry no longer knows: a new attempt opens another.
pub(crate) fn is_void_session(e: &RegistryError) -> bool {
    matches!(e.status(), Some(404) | Some(416))
        || e.code().is_some_and(|c| {
            matches!(
                c.as_str(),
                "BLOB_UPLOAD_UNKNOWN" | "BLOB_UPLOAD_INVALID" | "RANGE_INVALID"
            )
        })
}

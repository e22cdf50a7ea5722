//! The store's errors: every message names the path and, where one is involved, the digest, so a
//! person reading one line knows which blob and which file went wrong.
//!
//! I/O failures are classified once, in [`StoreError::io`]: `ENOSPC` and `EDQUOT` become
//! [`StoreError::DiskFull`], which retrying cannot fix (DESIGN.md: disk full is not retried),
//! everything else [`StoreError::Io`].

use std::io;
use std::path::{Path, PathBuf};

use super::layers::LayerError;
use super::metadata::MetadataError;
use crate::digest::Digest;

/// An error of the local store (layout, content, ingests).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The root exists but is something other than a hoist store / OCI image layout.
    #[error("{root} is not a hoist store (an OCI image layout): {reason}")]
    NotAStore {
        /// The root given to [`ContentStore::open`](super::ContentStore::open).
        root: PathBuf,
        /// What was found instead.
        reason: String,
    },

    /// `oci-layout` or `index.json` exists but cannot be understood.
    #[error("{path} is not a valid OCI image layout file: {reason}")]
    InvalidLayout {
        /// The offending file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },

    /// A file-system operation failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done, e.g. `"write"`, `"rename into place"`.
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The disk (or the user's quota) holding the store is full.
    #[error("disk full: cannot {op} {path}: no space left on device")]
    DiskFull {
        /// What was being done.
        op: &'static str,
        /// The file that could not be written.
        path: PathBuf,
    },

    /// The blob is not in the store.
    #[error("blob {digest} not found in the store (no {path})")]
    NotFound {
        /// The blob asked for.
        digest: Digest,
        /// Where it would be.
        path: PathBuf,
    },

    /// The blob is larger than the caller allows (e.g. the 4 MiB manifest/config cap).
    #[error("blob {digest} at {path} is {size} bytes, more than the {max} allowed")]
    TooLarge {
        /// The blob.
        digest: Digest,
        /// Its path.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The cap.
        max: u64,
    },

    /// [`try_begin`](super::ContentStore::try_begin) found another writer holding the ingest.
    #[error(
        "blob {digest} is being written by another hoist process or thread (lock {path} is held)"
    )]
    Locked {
        /// The blob being written.
        digest: Digest,
        /// The lock file.
        path: PathBuf,
    },

    /// The bytes written do not hash to the expected digest; the partial data was discarded.
    #[error("content verification failed for {path}: expected {expected}, got {actual}; the data was discarded")]
    Mismatch {
        /// The digest the ingest was begun with.
        expected: Digest,
        /// The digest of what was written.
        actual: Digest,
        /// The ingest data file (now removed).
        path: PathBuf,
    },

    /// Commit was asked before all the expected bytes were written; the ingest is kept and can
    /// be resumed from `written`.
    #[error("ingest of {digest} at {path} is incomplete: {written} of {expected} bytes written")]
    Incomplete {
        /// The blob.
        digest: Digest,
        /// The ingest data file.
        path: PathBuf,
        /// Bytes written so far.
        written: u64,
        /// The expected size.
        expected: u64,
    },

    /// More bytes were written than the expected size; the partial data was discarded.
    #[error("more than the expected {expected} bytes were written for {digest} at {path}; the data was discarded")]
    SizeExceeded {
        /// The blob.
        digest: Digest,
        /// The ingest data file.
        path: PathBuf,
        /// The expected size.
        expected: u64,
    },

    /// The blob is in the store, but the descriptor naming it gives another size: the
    /// manifest (or index) holding that descriptor is wrong.
    #[error("blob {digest} holds {actual} bytes, but its descriptor says {expected}: the manifest naming it is invalid")]
    WrongSize {
        /// The blob.
        digest: Digest,
        /// The size the descriptor gives.
        expected: u64,
        /// The size of the stored blob (its digest's content).
        actual: u64,
    },

    /// Bytes were written to an [`Ingest`](super::Ingest) whose blob is already in the store.
    #[error("blob {digest} is already in the store at {path}; there is nothing to write")]
    AlreadyPresent {
        /// The blob.
        digest: Digest,
        /// Its path in `blobs/`.
        path: PathBuf,
    },
}

impl StoreError {
    /// Classifies an I/O error from `op` on `path`: disk full, or anything else.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> StoreError {
        let path = path.into();
        if is_disk_full(&source) {
            StoreError::DiskFull { op, path }
        } else {
            StoreError::Io { op, path, source }
        }
    }

    /// Recovers the `StoreError` carried by an `io::Error` that came out of
    /// [`Ingest`](super::Ingest)'s `std::io::Write` impl (e.g. through `std::io::copy`);
    /// any other `io::Error` is handed back unchanged.
    pub fn from_io_error(e: io::Error) -> Result<StoreError, io::Error> {
        if e.get_ref().is_some_and(|inner| inner.is::<StoreError>()) {
            let kind = e.kind();
            match e.into_inner().map(|inner| inner.downcast::<StoreError>()) {
                Some(Ok(store)) => return Ok(*store),
                // Unreachable after the `is` check above; rebuilt rather than unwrapped.
                Some(Err(inner)) => return Err(io::Error::new(kind, inner)),
                None => return Err(kind.into()),
            }
        }
        Err(e)
    }

    /// Whether this is [`StoreError::DiskFull`] (not worth retrying).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::DiskFull { .. })
    }

    /// The `io::ErrorKind` closest to this error, used when it travels inside an `io::Error`
    /// (the [`std::io::Write`] impl of [`Ingest`](super::Ingest)).
    pub(crate) fn io_kind(&self) -> io::ErrorKind {
        match self {
            StoreError::DiskFull { .. } => io::ErrorKind::StorageFull,
            StoreError::Io { source, .. } => source.kind(),
            StoreError::Mismatch { .. } | StoreError::SizeExceeded { .. } => {
                io::ErrorKind::InvalidData
            }
            StoreError::NotFound { .. } => io::ErrorKind::NotFound,
            StoreError::Locked { .. } => io::ErrorKind::WouldBlock,
            StoreError::AlreadyPresent { .. } => io::ErrorKind::AlreadyExists,
            _ => io::ErrorKind::Other,
        }
    }
}

/// `ENOSPC` (no space left on device) or `EDQUOT` (quota exceeded).
fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull
        || matches!(
            e.raw_os_error(),
            Some(code) if code == rustix::io::Errno::NOSPC.raw_os_error()
                || code == rustix::io::Errno::DQUOT.raw_os_error()
        )
}

/// The local store failed, in whichever of its parts: the content ([`StoreError`]: blobs,
/// `index.json`, ingests), the metadata database ([`MetadataError`]: `hoist.db`) or the layer
/// store ([`LayerError`]). The errors of areas that use several parts (pull, recording, gc)
/// hold this one wrapper instead of a variant per part; it adds no words of its own.
#[derive(Debug, thiserror::Error)]
pub enum LocalStoreError {
    /// The content store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The metadata database.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// The layer store.
    #[error(transparent)]
    Layers(#[from] LayerError),
}

/// A file operation that failed: what was being done, where, and why. The one shape of the
/// `Io` variants of [`LayerError`] and [`ExportError`](crate::export::ExportError), whose
/// sentence is `cannot OP PATH` with the operating system's error as its cause.
#[derive(Debug, thiserror::Error)]
#[error("cannot {op} {path}")]
pub struct FileError {
    /// What was being done, e.g. `"create"`, `"resolve"`.
    pub op: &'static str,
    /// The file or directory involved.
    pub path: PathBuf,
    /// The operating system's error.
    #[source]
    pub source: io::Error,
}

impl FileError {
    /// The error of `op` on `path`, for `map_err`.
    pub fn at<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FileError + 'a {
        move |source| FileError {
            op,
            path: path.to_owned(),
            source,
        }
    }
}

//! [`ImageSink`]: what `copy` writes an image to — a registry repository, an OCI layout
//! directory.
//!
//! A sink answers "do you have this blob?", may mount a blob from another repository of its
//! registry, receives blobs through a [`BlobWriter`] that pulls the bytes from the source
//! itself (so it can reopen the source at the offset it reached when an attempt fails), and
//! stores manifests: children by digest, the root under the sink's tag.
//!
//! Contract kept by every implementation: a blob becomes visible only once its bytes hashed to
//! the expected digest (the layout through the content store's ingest, a registry because its
//! closing `PUT ?digest=` is refused otherwise and hoist checks the hash before sending it);
//! [`ImageSink::put_manifest`] is only called by the walker after every blob and child
//! manifest the manifest names was confirmed.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use super::source::{ImageSource, RepositoryName};
use super::CopyError;
use crate::media::Descriptor;
use crate::progress::ProgressSink;

/// Where a copy writes to. See the module docs.
pub trait ImageSink: Send + Sync {
    /// The destination as the user wrote it, for messages.
    fn location(&self) -> String;

    /// The tag the root manifest is stored under, if any (`None`: by digest only).
    fn tag(&self) -> Option<String>;

    /// Whether the sink already holds the blob (no bytes need to move).
    fn has_blob<'a>(&'a self, descriptor: &'a Descriptor)
        -> BoxFuture<'a, Result<bool, CopyError>>;

    /// Tries to make the blob present by mounting it from `from`; `Ok(false)` when the sink
    /// cannot (another registry, not a registry, or the registry declined).
    fn try_mount<'a>(
        &'a self,
        _descriptor: &'a Descriptor,
        _from: &'a RepositoryName,
    ) -> BoxFuture<'a, Result<bool, CopyError>> {
        Box::pin(async { Ok(false) })
    }

    /// A writer for the blob `descriptor`; it keeps its state (an upload session, a partial
    /// ingest) across attempts.
    fn blob_writer(&self, descriptor: &Descriptor) -> Box<dyn BlobWriter>;

    /// Stores the manifest `bytes` (already verified against `descriptor`): under the sink's
    /// tag when `root`, else by digest.
    fn put_manifest<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        bytes: Bytes,
        root: bool,
    ) -> BoxFuture<'a, Result<(), CopyError>>;
}

/// Receives one blob. [`BlobWriter::write`] is called again after a retryable failure and
/// continues from what the sink already holds.
pub trait BlobWriter: Send {
    /// One attempt: read what is missing from `source`, verify, commit. `Pushing` lines,
    /// named by the blob's digest, go to `progress` when there is one.
    fn write<'a>(
        &'a mut self,
        source: &'a dyn ImageSource,
        progress: Option<&'a Arc<dyn ProgressSink>>,
    ) -> BoxFuture<'a, Result<(), CopyError>>;
}

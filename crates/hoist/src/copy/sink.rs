//! [`ImageSink`]: what `copy` writes an image to — a registry repository, an OCI layout
//! directory, the local store.
//!
//! A sink answers "do you have this blob?", may mount a blob from another repository of its
//! registry (both through [`ImageSink::find_blob`], which a sink with its own knowledge of where
//! blobs are — push's v2 metadata — overrides), receives blobs through a [`BlobWriter`] that pulls the bytes from the source
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

use super::source::ImageSource;
use super::CopyError;
use crate::media::Descriptor;
use crate::progress::{ProgressSink, Wording};
use crate::reference::Repository;
use crate::transfer::Compression;

/// The image sink: where a copy writes an image, one implementation per transport; each blob
/// goes in through a [`BlobWriter`] (or a [`CompressingWriter`]). See the module docs.
pub trait ImageSink: Send + Sync {
    /// The destination as the user wrote it, for messages.
    fn location(&self) -> String;

    /// The tag the root manifest is stored under, if any (`None`: by digest only).
    fn tag(&self) -> Option<String>;

    /// The words of its progress lines ([`Wording`]): push's by default; the local store
    /// speaks like `docker pull`.
    fn wording(&self) -> Wording {
        Wording::Push
    }

    /// Whether the sink already holds the blob (no bytes need to move).
    fn has_blob<'a>(&'a self, descriptor: &'a Descriptor)
        -> BoxFuture<'a, Result<bool, CopyError>>;

    /// Tries to make the blob present by mounting it from `from`; `Ok(false)` when the sink
    /// cannot (another registry, not a registry, or the registry declined).
    /// [`ImageSink::find_blob`]'s default calls it; a sink that overrides `find_blob` need not
    /// implement it.
    fn try_mount<'a>(
        &'a self,
        _descriptor: &'a Descriptor,
        _from: &'a Repository,
    ) -> BoxFuture<'a, Result<bool, CopyError>> {
        Box::pin(async { Ok(false) })
    }

    /// Makes the blob present without its bytes if the sink can, cheapest way first, before
    /// [`copy`](super::copy) falls back to a [`BlobWriter`]: `Some(Found::Existing)` when the
    /// sink has it (`Layer already exists`), `Some(Found::Mounted(R))` when it was mounted
    /// from repository `R` (`Mounted from R`), `None` when the bytes must be sent. `from` is
    /// the source's repository ([`ImageSource::repository`]). Called again on every attempt.
    ///
    /// The default is [`ImageSink::has_blob`], then [`ImageSink::try_mount`] from `from`. A
    /// sink with its own knowledge overrides it (push: blobs confirmed earlier in the run,
    /// the v2 metadata's mount candidates, see `crate::push`).
    fn find_blob<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        from: Option<&'a Repository>,
    ) -> BoxFuture<'a, Result<Option<Found>, CopyError>> {
        Box::pin(async move {
            if self.has_blob(descriptor).await? {
                return Ok(Some(Found::Existing));
            }
            if let Some(from) = from {
                if self.try_mount(descriptor, from).await? {
                    return Ok(Some(Found::Mounted(from.path().to_owned())));
                }
            }
            Ok(None)
        })
    }

    /// A writer for the blob `descriptor`; it keeps its state (an upload session, a partial
    /// ingest) across attempts.
    fn blob_writer(&self, descriptor: &Descriptor) -> Box<dyn BlobWriter>;

    /// A writer that compresses the uncompressed layer `descriptor` with `compression` on its
    /// way into the sink (using up to `workers` threads; the bytes must not depend on it), for
    /// [`CopyOptions::compression`](super::CopyOptions::compression); it keeps its state across
    /// attempts. `None` (the default) when the sink cannot: the copy fails with
    /// [`CopyError::CannotCompress`].
    fn compressing_writer(
        &self,
        _descriptor: &Descriptor,
        _compression: Compression,
        _workers: usize,
    ) -> Option<Box<dyn CompressingWriter>> {
        None
    }

    /// Stores the manifest `bytes` (already verified against `descriptor`): under the sink's
    /// tag when `root`, else by digest.
    fn put_manifest<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        bytes: Bytes,
        root: bool,
    ) -> BoxFuture<'a, Result<(), CopyError>>;
}

/// Receives one layer compressed on the way ([`ImageSink::compressing_writer`]).
pub trait CompressingWriter: Send {
    /// One attempt, like [`BlobWriter::write`]; returns the compressed blob now in the sink
    /// (its digest and size; the media type is the caller's).
    fn write<'a>(
        &'a mut self,
        source: &'a dyn ImageSource,
        progress: Option<&'a Arc<dyn ProgressSink>>,
    ) -> BoxFuture<'a, Result<Descriptor, CopyError>>;
}

/// How [`ImageSink::find_blob`] made a blob present without sending its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The sink already held it (docker's `Layer already exists`).
    Existing,
    /// It was mounted from this repository path of the sink's registry (`Mounted from R`).
    Mounted(String),
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

//! [`ImageSink`]: what `copy` writes an image to — a registry repository, an OCI layout
//! directory, a `dir:`, an archive, the local store — and [`BlobStore`], the blob half of a
//! sink, with its one [`BlobWriter`].
//!
//! A sink answers "do you have this blob?" and may mount a blob from another repository of its
//! registry (both through [`ImageSink::find_blob`], which a sink with its own knowledge of where
//! blobs are — push's v2 metadata — overrides), receives blobs through the [`BlobWriter`] of its
//! [`BlobStore`], and stores manifests: children by digest, the root under the sink's tag.
//!
//! # One writer per destination
//! A writer reads a [`BlobInput`] (`blob_input`): either a blob as the source holds it, whose
//! digest and size are known before its bytes, or a layer compressed on the way (the
//! compression step, `compress_step`, containers/image's `blobPipelineCompressionStep`), whose
//! digest is learnt from the bytes at the end. The same writer takes both: the registry's
//! closes its session with the digest it hashed (`PUT ?digest=`), the layout's commits an
//! ingest under the expected digest or a spool under the one it computed. A sink that keeps
//! layers in a form of its own declines compressed layers
//! ([`ImageSink::takes_compressed_layers`]: the docker-archive, which stores them
//! uncompressed).
//!
//! Writers implement [`BlobWriter`] with a plain `async fn`; the engine holds them as
//! `Box<dyn DynBlobWriter>` (every [`BlobWriter`] is one), so no implementation boxes its own
//! future.
//!
//! Contract kept by every implementation: a blob becomes visible only once its bytes hashed to
//! the expected digest (the layout through the content store's ingest, a registry because its
//! closing `PUT ?digest=` is refused otherwise and hoist checks the hash before sending it); a
//! compressed layer's stream only ends cleanly once its uncompressed bytes hashed to the
//! layer's digest. [`ImageSink::put_manifest`] is only called by the walker after every blob
//! and child manifest the manifest names was confirmed.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;

pub use super::blob_input::{BlobInput, Measure, SourceBlob};
use super::source::CopyFuture;
use super::CopyError;
use crate::media::Descriptor;
use crate::progress::{ProgressSink, Wording};
use crate::reference::Repository;
use crate::store::ContentStore;
use crate::trust::sigstore::SignatureHome;

/// Where a copy writes to. See the module docs.
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

    /// Where its blobs go.
    fn blobs(&self) -> &dyn BlobStore;

    /// Makes ready what the blob writes will share, once, while the source's manifests are
    /// read (a registry: its ping, so that the concurrent uploads do not each make one, as
    /// docker pings once per push). Nothing by default.
    fn prepare(&self) -> CopyFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }

    /// Tries to make the blob present by mounting it from `from`; `Ok(false)` when the sink
    /// cannot (another registry, not a registry, or the registry declined).
    /// [`ImageSink::find_blob`]'s default calls it; a sink that overrides `find_blob` need not
    /// implement it.
    fn try_mount<'a>(&'a self, _: &'a Descriptor, _: &'a Repository) -> CopyFuture<'a, bool> {
        Box::pin(async { Ok(false) })
    }

    /// Makes the blob present without its bytes if the sink can, cheapest way first, before
    /// [`copy`](super::copy) falls back to a [`BlobWriter`]: `Some(Found::Existing)` when the
    /// sink has it (`Layer already exists`), `Some(Found::Mounted(R))` when it was mounted
    /// from repository `R` (`Mounted from R`), `None` when the bytes must be sent. `from` is
    /// the source's repository ([`ImageSource::repository`](super::ImageSource::repository)).
    /// Called again on every attempt.
    ///
    /// The default is [`BlobStore::has_blob`], then [`ImageSink::try_mount`] from `from`. A
    /// sink with its own knowledge overrides it (push: blobs confirmed earlier in the run,
    /// the v2 metadata's mount candidates, see `crate::push`).
    fn find_blob<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        from: Option<&'a Repository>,
    ) -> CopyFuture<'a, Option<Found>> {
        Box::pin(async move {
            if self.blobs().has_blob(descriptor).await? {
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

    /// Whether layers compressed on the way ([`CopyOptions::compression`](super::CopyOptions::compression))
    /// may be written here; `false` makes such a copy fail with
    /// [`CopyError::CannotCompress`] before anything is sent. Every sink but the
    /// docker-archive (which stores layers uncompressed) takes them.
    fn takes_compressed_layers(&self) -> bool {
        true
    }

    /// A content store that keeps a copy of every layer compressed on the way into this sink
    /// (push: so that the next push re-sends the very bytes), `None` by default.
    fn keeps_compressed_in(&self) -> Option<ContentStore> {
        None
    }

    /// Stores `manifest`: the root under the sink's tag, a child by digest.
    fn put_manifest<'a>(&'a self, manifest: &'a StoredManifest) -> CopyFuture<'a, ()>;

    /// Whether the sink keeps referrers (OCI 1.1): a copy lists and carries them only into a
    /// sink that does. `false` by default (`dir:`, archives); registries, layouts and the
    /// store keep them.
    fn holds_referrers(&self) -> bool {
        false
    }

    /// Whether referrers of different subjects may be stored at once (those of one subject
    /// still one after the other, each after the referrer it refers to): a registry, where
    /// each costs round trips. `false` by default: a layout keeps its `index.json` entries
    /// in the order the copy found them.
    fn puts_referrers_at_once(&self) -> bool {
        false
    }

    /// Where the sink keeps signatures attached by tag (cosign's `sha256-HEX.sig`; see
    /// [`ImageSource::signatures`](super::ImageSource::signatures)); `None` (the default)
    /// for sinks that cannot hold them (`dir:`, archives): a copy carries none there.
    fn signatures(&self) -> Option<Box<dyn SignatureHome>> {
        None
    }

    /// Stores the referrer `manifest` of `subject`, after its subject and everything the
    /// referrer names, so whoever lists the subject's referrers finds it: a registry through
    /// its referrers API or the fallback tag (kept by the client on `PUT`), a layout as an
    /// untagged `index.json` entry. The default stores it as a child, by digest.
    fn put_referrer<'a>(
        &'a self,
        manifest: &'a StoredManifest,
        _subject: &'a Descriptor,
    ) -> CopyFuture<'a, ()> {
        self.put_manifest(manifest)
    }
}

/// A manifest as [`ImageSink::put_manifest`] receives it.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    /// Its descriptor (media type, digest, size).
    pub descriptor: Descriptor,
    /// Its exact bytes, already verified against the descriptor.
    pub bytes: Bytes,
    /// Whether it is the copy's root (stored under the sink's tag).
    pub root: bool,
}

/// The blob half of a sink: whether it holds a blob, and the writer that puts one in.
pub trait BlobStore: Send + Sync {
    /// Whether the blob is already there (no bytes need to move).
    fn has_blob<'a>(&'a self, descriptor: &'a Descriptor) -> CopyFuture<'a, bool>;

    /// The writer for `input`; it keeps its state (an upload session, a partial ingest)
    /// across attempts, which are made with the same input.
    fn blob_writer(&self, input: &dyn BlobInput) -> Box<dyn DynBlobWriter>;
}

/// How [`ImageSink::find_blob`] made a blob present without sending its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The sink already held it (docker's `Layer already exists`).
    Existing,
    /// It was mounted from this repository path of the sink's registry (`Mounted from R`).
    Mounted(String),
}

/// Where a writer's progress lines go, if anywhere.
pub type Progress<'a> = Option<&'a Arc<dyn ProgressSink>>;

/// Receives one blob. [`BlobWriter::write`] is called again after a retryable failure and
/// continues from what the sink already holds.
pub trait BlobWriter: Send {
    /// One attempt: read what is missing from `input`, verify, commit; returns the blob now
    /// in the sink (its digest and size: for a compressed layer, the ones learnt from its
    /// bytes). Byte counts, named by [`BlobInput::id`], go to `progress` when there is one.
    fn write<'a>(
        &'a mut self,
        input: &'a dyn BlobInput,
        progress: Progress<'a>,
    ) -> impl Future<Output = Result<Descriptor, CopyError>> + Send + 'a;
}

/// A [`BlobWriter`] behind a pointer: what [`BlobStore::blob_writer`] hands out. Every
/// [`BlobWriter`] is one.
pub trait DynBlobWriter: Send {
    /// [`BlobWriter::write`], boxed.
    fn write_dyn<'a>(
        &'a mut self,
        input: &'a dyn BlobInput,
        progress: Progress<'a>,
    ) -> BoxFuture<'a, Result<Descriptor, CopyError>>;
}

impl<W: BlobWriter> DynBlobWriter for W {
    fn write_dyn<'a>(
        &'a mut self,
        input: &'a dyn BlobInput,
        progress: Progress<'a>,
    ) -> BoxFuture<'a, Result<Descriptor, CopyError>> {
        Box::pin(self.write(input, progress))
    }
}

//! [`BlobInput`]: the bytes one [`BlobWriter`](super::BlobWriter) receives — a blob as the
//! source holds it ([`SourceBlob`]: digest and size known before the bytes) or a layer
//! compressed on the way (`compress_step`'s `CompressedLayer`: digest learnt at the end).
//!
//! Either can be opened again at any offset, which is how every writer resumes: the
//! registry's at the offset its session reached (`Range`), the layout's at its ingest's. A
//! stream that ends cleanly has carried the whole blob; an `Err` item ends a broken one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::source::{BlobStream, CopyFuture, ImageSource};
use crate::digest::Digest;
use crate::media::Descriptor;

/// What a blob writer reads. See the module docs.
pub trait BlobInput: Send + Sync {
    /// The media type the blob has in the sink.
    fn media_type(&self) -> &str;

    /// The blob's digest and size when known before its bytes; `None` for a layer compressed
    /// on the way: the writer hashes what it receives and commits under that digest.
    fn descriptor(&self) -> Option<&Descriptor>;

    /// The digest that names the blob in messages and progress lines: its own, or, for a
    /// layer compressed on the way, the layer's as the source holds it.
    fn id(&self) -> &Digest;

    /// The source, as the user wrote it, for messages.
    fn location(&self) -> String;

    /// The bytes from `offset` on.
    fn open(&self, offset: u64) -> CopyFuture<'_, BlobStream>;

    /// The bytes `part` (end exclusive) of the blob, when the source serves parts
    /// ([`ImageSource::open_blob_part`]); `Ok(None)` otherwise (the default).
    fn open_part(&self, _part: std::ops::Range<u64>) -> CopyFuture<'_, Option<BlobStream>> {
        Box::pin(async { Ok(None) })
    }

    /// How far along the blob is, for `Pushing` / `Downloading` lines: the bytes a writer
    /// received, or, for a layer compressed on the way, the source bytes read (docker counts
    /// those while it compresses).
    fn measure(&self) -> Measure;

    /// The layer's uncompressed digest when the input computed it (a compressed layer, after
    /// its stream ended cleanly); `None` otherwise.
    fn diff_id(&self) -> Option<Digest> {
        None
    }

    /// Whether the input hashes the bytes it makes, so [`BlobInput::made_digest`] names them
    /// once a stream ended cleanly (the compression step: its spool or its own hash). A writer
    /// of a blob whose digest is learnt at the end then only counts the bytes: hashing them
    /// again would be a second pass over every compressed byte.
    fn hashes_itself(&self) -> bool {
        false
    }

    /// The digest of the bytes the last stream carried, once it ended cleanly, when
    /// [`BlobInput::hashes_itself`]; `None` otherwise.
    fn made_digest(&self) -> Option<Digest> {
        None
    }

    /// Whether the blob is no image layer whatever its media type (a config, an artifact's
    /// content: a referrer's blobs), so a sink stores it as it is and never unpacks it.
    fn stored_as_is(&self) -> bool {
        false
    }
}

/// How far a blob is along (see [`BlobInput::measure`]). Cheap to clone; `'static`, so a
/// request body can report from it.
#[derive(Debug, Clone)]
pub struct Measure {
    /// Source bytes read by a compression step; `None`: the writer's own count.
    read: Option<Arc<AtomicU64>>,
    total: u64,
}

impl Measure {
    /// Bytes the writer received, of `total`.
    pub fn written(total: u64) -> Measure {
        Measure { read: None, total }
    }

    /// Bytes counted in `read` by whoever reads the source, of `total`.
    pub fn read(read: Arc<AtomicU64>, total: u64) -> Measure {
        Measure {
            read: Some(read),
            total,
        }
    }

    /// The count to show once the writer received `written` bytes.
    pub fn at(&self, written: u64) -> u64 {
        match &self.read {
            Some(read) => read.load(Ordering::Relaxed),
            None => written,
        }
    }

    /// The count at the end.
    pub fn total(&self) -> u64 {
        self.total
    }
}

/// A blob as the source holds it. See the module docs.
pub struct SourceBlob<'a> {
    source: &'a dyn ImageSource,
    descriptor: Descriptor,
    as_is: bool,
}

impl<'a> SourceBlob<'a> {
    /// The blob `descriptor` of `source`.
    pub fn new(source: &'a dyn ImageSource, descriptor: Descriptor) -> SourceBlob<'a> {
        SourceBlob {
            source,
            descriptor,
            as_is: false,
        }
    }

    /// Marks the blob as no image layer ([`BlobInput::stored_as_is`]).
    pub fn as_is(mut self) -> SourceBlob<'a> {
        self.as_is = true;
        self
    }
}

impl BlobInput for SourceBlob<'_> {
    fn media_type(&self) -> &str {
        &self.descriptor.media_type
    }

    fn descriptor(&self) -> Option<&Descriptor> {
        Some(&self.descriptor)
    }

    fn id(&self) -> &Digest {
        &self.descriptor.digest
    }

    fn location(&self) -> String {
        self.source.location()
    }

    fn open(&self, offset: u64) -> CopyFuture<'_, BlobStream> {
        self.source.open_blob(&self.descriptor, offset)
    }

    fn open_part(&self, part: std::ops::Range<u64>) -> CopyFuture<'_, Option<BlobStream>> {
        self.source.open_blob_part(&self.descriptor, part)
    }

    fn measure(&self) -> Measure {
        Measure::written(self.descriptor.size)
    }

    fn stored_as_is(&self) -> bool {
        self.as_is
    }
}

//! What `hoist load` reports ([`LoadEvent`], [`LoadReport`]) and how it reads its input
//! (`decompressed`: a `docker save | gzip` stream is sniffed and decompressed on the fly, as
//! docker's `DecompressStream` does). The load itself is a copy from the archive into the
//! store's sink: `crate::copy::load_archive`.
//!
//! What `load` reports are docker's lines: `Loaded image: REF` per tag, `Loaded image ID:
//! sha256:…` for an untagged image, and `The image REF already exists, renaming the old one
//! with ID sha256:… to empty string` when a tag moves.

use std::fmt;
use std::io::{BufRead, BufReader, Read};

use super::ArchiveError;
use crate::compress::{Compression, Decoder};
use crate::digest::Digest;
use crate::reference::Reference;
use crate::store::ContentStore;

/// One line of `load`'s output, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadEvent {
    /// A tag moved from another image (docker prints this before `Loaded image`).
    Renamed {
        /// The tag.
        reference: Reference,
        /// The image it pointed at.
        old_image_id: Digest,
    },
    /// A tag now points at a loaded image.
    Tagged(Reference),
    /// An image was loaded without any tag.
    Untagged(Digest),
}

impl fmt::Display for LoadEvent {
    /// docker's wording.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadEvent::Renamed {
                reference,
                old_image_id,
            } => write!(
                f,
                "The image {} already exists, renaming the old one with ID {old_image_id} to empty string",
                reference.familiar()
            ),
            LoadEvent::Tagged(reference) => write!(f, "Loaded image: {}", reference.familiar()),
            LoadEvent::Untagged(image_id) => write!(f, "Loaded image ID: {image_id}"),
        }
    }
}

/// One image `load` put into the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    /// Its ID (config digest).
    pub image_id: Digest,
    /// The manifest recorded for it (synthesized for a docker-archive).
    pub manifest_digest: Digest,
    /// The tags now pointing at it.
    pub tags: Vec<Reference>,
}

/// What [`load_archive`](crate::copy::load_archive) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// The images, in archive order.
    pub images: Vec<LoadedImage>,
    /// docker's output lines, in order.
    pub events: Vec<LoadEvent>,
}

/// The input, decompressed if it starts with a gzip or zstd magic number.
pub(crate) fn decompressed<'a>(input: impl Read + 'a) -> Result<Box<dyn Read + 'a>, ArchiveError> {
    let mut buffered = BufReader::with_capacity(1 << 16, input);
    let head = buffered.fill_buf().map_err(ArchiveError::Read)?;
    let compression = sniff(head);
    Ok(match compression {
        Compression::None => Box::new(buffered),
        _ => Box::new(Decoder::new(compression, buffered).map_err(ArchiveError::Read)?),
    })
}

/// The compression a stream's first bytes announce (gzip `1f 8b`, zstd `28 b5 2f fd`).
pub(crate) fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// The compression a stored blob's first bytes announce.
pub(super) fn sniff_blob(
    content: &ContentStore,
    digest: &Digest,
) -> Result<Compression, ArchiveError> {
    let mut head = Vec::with_capacity(4);
    content
        .open_blob(digest)?
        .take(4)
        .read_to_end(&mut head)
        .map_err(ArchiveError::Read)?;
    Ok(sniff(&head))
}

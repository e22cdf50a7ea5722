//! `hoist load`: a `docker save` tarball (or an OCI image layout tarball) into the store, with
//! its tags. docker's `tarexporter.Load` (`image/tarexport/load.go`, docker 20.10).
//!
//! # Steps
//! 1. The input may itself be gzip- or zstd-compressed (`docker save | gzip`): sniffed by
//!    magic and decompressed on the fly, as docker's `DecompressStream` does.
//! 2. Every member is read once, in stream order (`members`): blobs are spooled into
//!    the content store as they arrive (a docker-archive's `manifest.json` is often its last
//!    member, so nothing can wait for it), small JSON members kept in memory.
//! 3. The images are assembled and checked: from `manifest.json` (`docker`) when the
//!    archive has one, else from `index.json` (`oci`). Any failure here — a missing
//!    member, a diffID mismatch, a malformed config — ends the load **before anything is
//!    recorded or tagged**.
//! 4. Every image is recorded ([`MetadataStore::put_image`]), then tagged with `force`, as
//!    docker's `setLoadedTag` does: a tag that pointed at another image moves, and the
//!    [`LoadEvent::Renamed`] line says so.
//!
//! The whole load holds a [`Lease`](crate::store::Lease): the spooled blobs are unreferenced
//! until step 4, and garbage collection must not take them. Blobs of a failed load stay
//! unreferenced and go with the next collection.
//!
//! What `load` reports ([`LoadEvent`]) are docker's lines: `Loaded image: REF` per tag,
//! `Loaded image ID: sha256:…` for an untagged image, and `The image REF already exists,
//! renaming the old one with ID sha256:… to empty string` when a tag moves.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};

use super::members::{read_members, OCI_INDEX_FILE};
use super::{docker, oci, ArchiveError, MANIFEST_FILE};
use crate::digest::{Algorithm, Digest, Hasher};
use crate::reference::Reference;
use crate::store::metadata::ImageRecord;
use crate::store::{BlobInfo, ContentStore, MetadataStore};
use crate::transfer::decompress::{Compression, Decoder};

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

/// What [`load_archive`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// The images, in archive order.
    pub images: Vec<LoadedImage>,
    /// docker's output lines, in order.
    pub events: Vec<LoadEvent>,
}

/// An image assembled from the archive and checked, not yet recorded.
pub(super) struct Candidate {
    pub(super) record: ImageRecord,
    pub(super) tags: Vec<Reference>,
}

/// Loads the archive read from `input` (see the module docs). Blocking.
pub fn load_archive(meta: &MetadataStore, input: impl Read) -> Result<LoadReport, ArchiveError> {
    let content = meta.content();
    let _lease = content.lease()?;
    let input = decompressed(input)?;
    let members = read_members(content, input)?;
    let candidates = if let Some(manifest) = members.json(MANIFEST_FILE) {
        docker::assemble(content, &members, manifest)?
    } else if let Some(index) = members.json(OCI_INDEX_FILE) {
        oci::assemble(content, &members, index)?
    } else {
        return Err(ArchiveError::NotAnArchive);
    };
    record(meta, candidates)
}

/// Step 4: record every image, then tag.
fn record(meta: &MetadataStore, candidates: Vec<Candidate>) -> Result<LoadReport, ArchiveError> {
    for candidate in &candidates {
        meta.put_image(&candidate.record)?;
    }
    let mut report = LoadReport {
        images: Vec::new(),
        events: Vec::new(),
    };
    for candidate in candidates {
        let record = candidate.record;
        for tag in &candidate.tags {
            if let Some(old) = meta.reference(tag)? {
                if old.image_id != record.image_id {
                    report.events.push(LoadEvent::Renamed {
                        reference: tag.clone(),
                        old_image_id: old.image_id,
                    });
                }
            }
            meta.add_tag(tag, &record.manifest_digest, true)?;
            report.events.push(LoadEvent::Tagged(tag.clone()));
        }
        if candidate.tags.is_empty() {
            report
                .events
                .push(LoadEvent::Untagged(record.image_id.clone()));
        }
        report.images.push(LoadedImage {
            image_id: record.image_id,
            manifest_digest: record.manifest_digest,
            tags: candidate.tags,
        });
    }
    Ok(report)
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
pub(super) fn sniff(head: &[u8]) -> Compression {
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

/// What a stored layer blob is: its compression, diffID and uncompressed size.
pub(super) struct LayerFacts {
    pub(super) compression: Compression,
    pub(super) diff_id: Digest,
    pub(super) size: u64,
}

/// Finds out [`LayerFacts`] for a layer blob, with the `declared` compression (OCI) or by
/// magic (docker-archive). A compressed layer is read back once to hash its uncompressed bytes.
pub(super) fn inspect_layer(
    content: &ContentStore,
    info: &BlobInfo,
    declared: Option<Compression>,
) -> Result<LayerFacts, ArchiveError> {
    let compression = match declared {
        Some(c) => c,
        None => sniff_blob(content, &info.digest)?,
    };
    if compression == Compression::None {
        return Ok(LayerFacts {
            compression,
            diff_id: info.digest.clone(),
            size: info.size,
        });
    }
    let decompress_error = |source| ArchiveError::Decompress {
        digest: info.digest.clone(),
        source,
    };
    let blob = content.open_blob(&info.digest)?;
    let mut decoder = Decoder::new(compression, blob).map_err(decompress_error)?;
    let mut sink = HashingSink(Hasher::new(Algorithm::Sha256));
    io::copy(&mut decoder, &mut sink).map_err(decompress_error)?;
    let size = sink.0.bytes_hashed();
    Ok(LayerFacts {
        compression,
        diff_id: sink.0.finish(),
        size,
    })
}

struct HashingSink(Hasher);

impl Write for HashingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

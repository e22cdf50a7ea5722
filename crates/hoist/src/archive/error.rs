//! Why a save or a load failed. Where docker has a sentence it is docker's (scripts match on
//! them); every other message names the member, digest or image involved.

use std::io;

use crate::digest::Digest;
use crate::images::ImageError;
use crate::media::{ConfigError, ManifestError, NoMatchingManifest};
use crate::store::{MetadataError, StoreError};

/// An error of `save` or `load`.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A REF given to `save` names no image (or is malformed).
    #[error(transparent)]
    Image(#[from] ImageError),

    /// An image without layers (docker's wording: it refuses them too).
    #[error("empty export - not implemented")]
    EmptyExport {
        /// The image.
        image_id: Digest,
    },

    /// A stored layer's media type is not a layer type hoist can decompress.
    #[error("layer {digest} of image {image_id} has media type {media_type:?}, which cannot be saved as a tar")]
    UnsupportedLayer {
        /// The image.
        image_id: Digest,
        /// The layer blob.
        digest: Digest,
        /// Its media type.
        media_type: String,
    },

    /// A stored layer does not decompress to its diffID (or changed size between the two
    /// passes): the store is damaged, or the blob is not what the image's config describes
    /// (a `pull --no-unpack` checks diffIDs only when a layer is unpacked); the archive
    /// written so far is incomplete.
    #[error("layer {digest} decompresses to {actual_digest} ({actual_size} bytes), not to its diffID {diff_id} ({expected_size} bytes): the stored blob is damaged or does not match the image's config; remove the image and pull it again")]
    StoredLayerMismatch {
        /// The blob.
        digest: Digest,
        /// The diffID it must produce.
        diff_id: Digest,
        /// What it produced.
        actual_digest: Digest,
        /// The size counted on the first pass.
        expected_size: u64,
        /// The size of the second pass.
        actual_size: u64,
    },

    /// Writing the archive failed.
    #[error("cannot write the archive: {0}")]
    Write(#[source] io::Error),

    /// Reading the archive failed (truncated, not a tar, or an I/O error).
    #[error("cannot read the archive: {0}")]
    Read(#[source] io::Error),

    /// A member's name is absolute or climbs out of the archive with `..`.
    #[error("refusing archive member {name:?}: its path is absolute or contains \"..\"")]
    UnsafeMember {
        /// The name as in the archive.
        name: String,
    },

    /// `manifest.json` or `index.json` names a link whose target leaves the archive, or a
    /// chain of links.
    #[error(
        "refusing archive member {name:?}: it is a link to {target:?}, outside the archive's files"
    )]
    UnsafeLink {
        /// The link member.
        name: String,
        /// Its target as written.
        target: String,
    },

    /// `manifest.json` or `index.json` names as a blob a member that is a directory, a FIFO,
    /// a device or a link.
    #[error("refusing archive member {name:?}: it is {kind}, not a regular file")]
    NotRegularMember {
        /// The member.
        name: String,
        /// What it is.
        kind: &'static str,
    },

    /// A JSON member larger than hoist reads into memory.
    #[error("archive member {name:?} is {size} bytes, more than the {max} allowed for it")]
    MemberTooLarge {
        /// The member.
        name: String,
        /// Its size.
        size: u64,
        /// The cap.
        max: u64,
    },

    /// Not a tar holding `manifest.json` or `index.json`: neither a docker-archive nor an
    /// OCI layout tarball (the file's bytes are never echoed).
    #[error("not a docker or OCI archive: expected a tar file holding manifest.json (docker save) or index.json (an OCI image layout)")]
    NotAnArchive,

    /// `manifest.json` / `index.json` names a member the archive does not have.
    #[error("the archive has no member {name:?} ({what})")]
    MissingMember {
        /// The member name.
        name: String,
        /// What it was supposed to be, e.g. "layer 2 of image 1 in manifest.json".
        what: String,
    },

    /// A JSON member cannot be parsed.
    #[error("invalid {name} in the archive: {source}")]
    Json {
        /// The member.
        name: String,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },

    /// A config member is not a valid image config.
    #[error("invalid image config {name} in the archive: {source}")]
    Config {
        /// The member.
        name: String,
        /// Why.
        #[source]
        source: ConfigError,
    },

    /// A manifest in an OCI layout is invalid.
    #[error("invalid manifest {digest} in the archive: {source}")]
    Manifest {
        /// The manifest.
        digest: Digest,
        /// Why.
        #[source]
        source: Box<ManifestError>,
    },

    /// An `index.json` entry that is not an image manifest (nor an index of them).
    #[error("manifest {digest} in the archive is {media_type:?}, not an image manifest")]
    NotAnImage {
        /// The entry.
        digest: Digest,
        /// What it is.
        media_type: String,
    },

    /// A layer member that cannot be decompressed (corrupt gzip or zstd).
    #[error("cannot decompress layer {digest} from the archive: {source}")]
    Decompress {
        /// The layer blob.
        digest: Digest,
        /// The decoder's complaint.
        #[source]
        source: io::Error,
    },

    /// No manifest of an index in an OCI layout matches this host's platform.
    #[error("index {digest} in the archive: {source}")]
    NoPlatform {
        /// The index.
        digest: Digest,
        /// What was available.
        #[source]
        source: Box<NoMatchingManifest>,
    },

    /// A `blobs/<alg>/<hex>` member whose bytes hash to something else.
    #[error("archive member {name:?} has digest {actual}, not the one its name says")]
    BlobDigestMismatch {
        /// The member.
        name: String,
        /// What it hashes to.
        actual: Digest,
    },

    /// Layer and diffID counts differ (docker's wording).
    #[error("invalid manifest, layers length mismatch: expected {expected}, got {actual}")]
    LayerCount {
        /// The config's diffIDs.
        expected: usize,
        /// The manifest's layers.
        actual: usize,
    },

    /// A layer is not the one the config names (docker's wording, plus the member).
    #[error(
        "invalid diffID for layer {index}: expected {expected:?}, got {actual:?} (member {name:?})"
    )]
    DiffIdMismatch {
        /// The layer's position, bottom first.
        index: usize,
        /// The member.
        name: String,
        /// The config's `rootfs.diff_ids[index]`.
        expected: Digest,
        /// The layer's actual diffID.
        actual: Digest,
    },

    /// A `RepoTags` entry is not a tagged reference (docker's wording).
    #[error("invalid tag {tag:?}")]
    InvalidTag {
        /// The entry as written.
        tag: String,
    },

    /// The copy engine (`load` copies each image into the store's sink).
    #[error(transparent)]
    Copy(Box<crate::copy::CopyError>),

    /// The content store.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// The metadata database.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

impl ArchiveError {
    /// The error for an `io::Error` met while reading the archive stream: a store failure
    /// that travelled through `io::copy` into a [`crate::store::Spool`] comes back as itself.
    pub(crate) fn reading(e: io::Error) -> ArchiveError {
        match StoreError::from_io_error(e) {
            Ok(store) => ArchiveError::Store(store),
            Err(e) => ArchiveError::Read(e),
        }
    }
}

impl From<crate::copy::CopyError> for ArchiveError {
    fn from(e: crate::copy::CopyError) -> ArchiveError {
        ArchiveError::Copy(Box::new(e))
    }
}

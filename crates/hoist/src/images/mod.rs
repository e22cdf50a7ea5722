//! Managing the images in the local store: list, resolve, inspect, tag, delete — the part of
//! docker's `ImageService` (daemon/images, docker 20.10) behind `docker images`,
//! `docker image inspect`, `docker tag`, `docker rmi` and `docker image prune`.
//!
//! | file | owns | docker counterpart |
//! |---|---|---|
//! | [`resolve`] | [`resolve_image`]: a user's REF (tag, digest reference, full or short image ID) to an image | `ImageService.GetImage`, `imageStore.Search` |
//! | [`filter`] | [`ImageFilter`]: `--filter reference=…,dangling=…,before=…,since=…` | `daemon/images` filters, `reference.FamiliarMatch` |
//! | [`list`] | [`list_images`]: one [`ImageSummary`] row per repository/tag | `ImageService.Images` + the CLI's `imageFormatTaggedAndDigest` |
//! | [`inspect`] | [`inspect_image`]: [`ImageInspect`], docker's inspect JSON plus the manifest | `ImageService.LookupImage` (`types.ImageInspect`) |
//! | [`tag`] | [`tag_image`] | `ImageService.TagImage` |
//! | [`delete`] | [`delete_image`]: untag / delete with docker's conflict rules | `ImageService.ImageDelete` |
//! | [`size`] | [`image_sizes`]: unpacked layer sizes and their sum | the layer store's `DiffSize`, `image.Size` |
//! | [`created`] | RFC 3339 `created` times | Go's `time.Time` formatting |
//!
//! An *image* here is what docker calls one: an image ID (the config digest). hoist keeps a
//! record per manifest ([`ImageRecord`]); two manifests with one config (the same image as
//! OCI and as Docker schema 2, or gzip and zstd) are one image to these functions, whose rows
//! or records carry the manifest when it matters (`inspect` shows the one a reference names,
//! or the newest).
//!
//! Blobs are not deleted here: [`delete_image`] removes references and records, and the
//! caller then runs [`crate::store::collect_garbage`], which deletes exactly the blobs no
//! remaining record or `index.json` entry needs.

pub mod created;
pub mod delete;
pub mod filter;
pub mod inspect;
pub mod list;
pub mod resolve;
pub mod size;
pub mod tag;

#[cfg(test)]
mod tests;

use crate::digest::Digest;
use crate::reference::ReferenceError;
use crate::store::metadata::ImageRecord;
use crate::store::{MetadataError, StoreError};

pub use delete::{delete_image, DeleteItem};
pub use filter::{FilterError, ImageFilter};
pub use inspect::{inspect_image, ImageInspect};
pub use list::{list_images, ImageSummary};
pub use resolve::{resolve_image, ResolvedImage};
pub use size::{image_sizes, ImageSizes};
pub use tag::tag_image;

/// The short image ID docker prints: the first 12 hex characters of the config digest
/// (docker's `stringid.TruncateID`).
pub fn short_id(image_id: &Digest) -> &str {
    let hex = image_id.hex();
    &hex[..hex.len().min(12)]
}

/// Why an image operation failed. Messages are docker's where docker has one, because users
/// and scripts match on them.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Nothing in the store matches what the user typed (docker's `ErrImageDoesNotExist`).
    #[error("No such image: {input}")]
    NoSuchImage {
        /// The REF as typed.
        input: String,
    },

    /// An image-ID prefix matches several images. docker answers "No such image" here (its
    /// ID search fails with "ambiguous digest string"); hoist says why and lists the matches.
    #[error("No such image: {input}: the image ID prefix is ambiguous, it matches {}", matches.join(", "))]
    AmbiguousId {
        /// The prefix as typed.
        input: String,
        /// The short IDs it matches.
        matches: Vec<String>,
    },

    /// The REF is neither a valid reference nor an image ID.
    #[error("invalid reference format: {input:?}")]
    InvalidReference {
        /// The REF as typed.
        input: String,
        /// What is wrong with it.
        #[source]
        source: ReferenceError,
    },

    /// `tag`'s target has a digest (docker's wording).
    #[error("refusing to create a tag with a digest reference")]
    TagWithDigest {
        /// The target as typed.
        target: String,
    },

    /// `rmi IMAGE-ID` of an image other references still hold, without `force`
    /// (docker's `imageDeleteConflict`, word for word).
    #[error(
        "conflict: unable to delete {} (must be forced) - {reason}",
        short_id(image_id)
    )]
    DeleteConflict {
        /// The image.
        image_id: Digest,
        /// docker's explanation, e.g. "image is referenced in multiple repositories".
        reason: &'static str,
    },

    /// A manifest or config blob of a recorded image cannot be read as JSON.
    #[error("the {what} {digest} of image {} in the store is not valid JSON", short_id(&record.image_id))]
    CorruptBlob {
        /// `"manifest"` or `"config"`.
        what: &'static str,
        /// The blob.
        digest: Digest,
        /// The image it belongs to.
        record: Box<ImageRecord>,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },

    /// The metadata database.
    #[error(transparent)]
    Metadata(#[from] MetadataError),

    /// The content store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

//! Listing images as `docker images` does: one row per repository and tag.
//!
//! docker builds the rows in two places: the daemon's `ImageService.Images` gives each image
//! its `RepoTags` and `RepoDigests` (and `<none>:<none>` to an image with neither, a dangling
//! image), and the CLI's `imageFormatTaggedAndDigest` turns them into rows: one per tag, and
//! one with tag `<none>` for a repository the image has only digest references in. hoist does
//! both here, per image record, so [`ImageSummary`] is a row.
//!
//! Order: newest `created` first (docker sorts by creation time), records without a time
//! last, then by repository and tag so the order is stable.
//!
//! The optional filter is docker's `images REPOSITORY[:TAG]`: rows of that repository (the
//! name normalised, so `ubuntu` and `docker.io/library/ubuntu` are the same), and with a tag
//! only that tag. docker also accepts shell patterns there; hoist matches exact names.
//! Dangling images never match a filter, as in docker.

use std::cmp::Reverse;
use std::time::SystemTime;

use crate::digest::Digest;
use crate::media::Platform;
use crate::reference::{Reference, Repository, Tag};
use crate::store::metadata::{Association, ImageRecord};
use crate::store::MetadataStore;

use super::created::parse_rfc3339;
use super::size::image_sizes;
use super::ImageError;

/// One row of `hoist images`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    /// The repository; `None` for a dangling image (`<none>`).
    pub repository: Option<Repository>,
    /// The tag; `None` for a digest-only or dangling row (`<none>`).
    pub tag: Option<Tag>,
    /// The reference the row stands for: the tag, or for a digest-only row its first digest
    /// reference; `None` when dangling.
    pub reference: Option<Reference>,
    /// The image ID (config digest).
    pub image_id: Digest,
    /// The manifest the record holds.
    pub manifest_digest: Digest,
    /// The config's `created`, if readable.
    pub created: Option<SystemTime>,
    /// The image's size in bytes as docker shows it: the sum of its unpacked layers (see
    /// [`super::size`]), or the recorded size while a layer is not unpacked.
    pub size: u64,
    /// The sum of its layer blobs' (compressed) sizes.
    pub compressed_size: u64,
    /// The image's platform.
    pub platform: Platform,
    /// The index the manifest was chosen from, if any: rows sharing one are platforms of one
    /// multi-platform image (siblings).
    pub index_digest: Option<Digest>,
}

/// The rows of `hoist images [FILTER]`, as the module docs describe.
pub fn list_images(
    meta: &MetadataStore,
    filter: Option<&Reference>,
) -> Result<Vec<ImageSummary>, ImageError> {
    let references = meta.all_references()?;
    let mut rows = Vec::new();
    for record in meta.images()? {
        let mine: Vec<&Association> = references
            .iter()
            .filter(|a| a.target.manifest_digest == record.manifest_digest)
            .collect();
        let image_tags: Vec<&Association> = references
            .iter()
            .filter(|a| a.target.image_id == record.image_id && a.reference.tag().is_some())
            .collect();
        let sizes = image_sizes(meta, &record)?;
        let size = if sizes.complete {
            sizes.total
        } else {
            record.size
        };
        rows_of(
            &record,
            (size, sizes.compressed),
            &mine,
            &image_tags,
            &mut rows,
        );
    }
    if let Some(filter) = filter {
        rows.retain(|row| matches_filter(row, filter, &references));
    }
    rows.sort_by(|a, b| {
        (a.created.is_none(), Reverse(a.created), familiar(a)).cmp(&(
            b.created.is_none(),
            Reverse(b.created),
            familiar(b),
        ))
    });
    Ok(rows)
}

fn familiar(row: &ImageSummary) -> (Option<String>, Option<&str>) {
    (
        row.repository.as_ref().map(Repository::familiar),
        row.tag.as_ref().map(Tag::as_str),
    )
}

/// Appends the rows of one record, given the references pointing at it and the tags of its
/// image (any record with its image ID).
fn rows_of(
    record: &ImageRecord,
    (size, compressed_size): (u64, u64),
    references: &[&Association],
    image_tags: &[&Association],
    rows: &mut Vec<ImageSummary>,
) {
    let row = |reference: Option<&Reference>| ImageSummary {
        repository: reference.map(|r| r.repository().clone()),
        tag: reference.and_then(|r| r.tag().cloned()),
        reference: reference.cloned(),
        image_id: record.image_id.clone(),
        manifest_digest: record.manifest_digest.clone(),
        created: record.created.as_deref().and_then(parse_rfc3339),
        size,
        compressed_size,
        platform: record.platform.clone(),
        index_digest: record.index_digest.clone(),
    };
    if references.is_empty() {
        rows.push(row(None));
        return;
    }
    let tags = references.iter().filter(|a| a.reference.tag().is_some());
    for association in tags.clone() {
        rows.push(row(Some(&association.reference)));
    }
    // One `<none>` row per repository the image has only digest references in. docker's rows
    // are per image ID, so a tag on another record of the same image (a loaded image and the
    // compressed manifest its push recorded) counts as a tag in that repository.
    let mut digest_only: Vec<&Reference> = Vec::new();
    for association in references.iter().filter(|a| a.reference.tag().is_none()) {
        let repository = association.reference.repository();
        let tagged = image_tags
            .iter()
            .any(|t| t.reference.repository() == repository);
        let listed = digest_only.iter().any(|r| r.repository() == repository);
        if !tagged && !listed {
            digest_only.push(&association.reference);
        }
    }
    for reference in digest_only {
        rows.push(row(Some(reference)));
    }
}

fn matches_filter(row: &ImageSummary, filter: &Reference, references: &[Association]) -> bool {
    let Some(repository) = &row.repository else {
        return false;
    };
    if repository != filter.repository() {
        return false;
    }
    if filter.tag().is_some() && row.tag.as_ref() != filter.tag() {
        return false;
    }
    match filter.digest() {
        None => true,
        Some(digest) => {
            *digest == row.manifest_digest
                || references.iter().any(|a| {
                    a.target.manifest_digest == row.manifest_digest
                        && a.reference.repository() == repository
                        && a.reference.digest() == Some(digest)
                })
        }
    }
}

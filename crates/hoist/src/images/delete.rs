//! `hoist rmi [-f] REF`: docker's `ImageService.ImageDelete` (daemon/images/image_delete.go,
//! docker 20.10), without the container checks (hoist runs no containers).
//!
//! - **REF is a reference** (tag or digest): that reference is removed (`Untagged: REF`). If
//!   it was a tag and no other tag of the image remains in that repository, the image's digest
//!   references in that repository go too (docker cleans them up so `ubuntu@sha256:…` does not
//!   outlive the last `ubuntu` tag). If references remain, that is all; otherwise the image is
//!   deleted (`Deleted: sha256:<id>`).
//! - **REF is an image ID** (full or prefix): if all the image's references are in one
//!   repository with at most one tag (docker's `isSingleReference`), they are removed and the
//!   image deleted. Otherwise, without `force`, docker's conflict: "conflict: unable to delete
//!   `<short id>` (must be forced) - image is referenced in multiple repositories"; with
//!   `force` every reference is removed, then the image.
//!
//! Deleting an image deletes its records (every manifest recorded for that image ID).
//! References are removed first, records second, each in its own transaction, so a process
//! killed in between leaves a dangling record that `prune` deletes. Blobs are left to
//! [`crate::store::collect_garbage`], which the caller runs afterwards; it also drops the
//! image's referrers (signatures, SBOMs a `hoist copy` stored with it), which live only as
//! long as their subject.

use crate::digest::Digest;
use crate::reference::Reference;
use crate::store::MetadataStore;

use super::{resolve_image, ImageError};

/// docker's reason for refusing to delete, by ID, an image referenced elsewhere.
pub const REFERENCED_IN_MULTIPLE_REPOSITORIES: &str =
    "image is referenced in multiple repositories";

/// One line of `rmi`'s answer (docker's `ImageDeleteResponseItem`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteItem {
    /// A reference was removed (`Untagged: ubuntu:latest`).
    Untagged(Reference),
    /// The image was deleted (`Deleted: sha256:…`, the image ID).
    Deleted(Digest),
}

/// Deletes what `input` names, as the module docs describe; returns docker's items in order.
pub fn delete_image(
    meta: &MetadataStore,
    input: &str,
    force: bool,
) -> Result<Vec<DeleteItem>, ImageError> {
    let image = resolve_image(meta, input)?;
    let image_id = image.image_id;
    let mut items = Vec::new();
    let mut remaining = meta.references(&image_id)?;
    match image.reference.filter(|_| !is_id_prefix(&image_id, input)) {
        Some(removed) => {
            untag(meta, &removed, &mut items)?;
            remaining = meta.references(&image_id)?;
            if removed.digest().is_none() {
                remaining = untag_orphaned_digests(meta, &removed, remaining, &mut items)?;
            }
            if !remaining.is_empty() {
                return Ok(items);
            }
        }
        None => {
            if is_single_reference(&remaining) {
                for reference in remaining.drain(..) {
                    untag(meta, &reference, &mut items)?;
                }
            }
        }
    }
    if !remaining.is_empty() {
        if !force {
            return Err(ImageError::DeleteConflict {
                image_id,
                reason: REFERENCED_IN_MULTIPLE_REPOSITORIES,
            });
        }
        for reference in remaining {
            untag(meta, &reference, &mut items)?;
        }
    }
    for record in meta.images_by_id(&image_id)? {
        meta.delete_image(&record.manifest_digest)?;
    }
    items.push(DeleteItem::Deleted(image_id));
    Ok(items)
}

fn untag(
    meta: &MetadataStore,
    reference: &Reference,
    items: &mut Vec<DeleteItem>,
) -> Result<(), ImageError> {
    if meta.delete_reference(reference)? {
        items.push(DeleteItem::Untagged(reference.clone()));
    }
    Ok(())
}

/// After the tag `removed` went: if no tag of the image is left in its repository, removes
/// the image's digest references there. Returns the references that remain.
fn untag_orphaned_digests(
    meta: &MetadataStore,
    removed: &Reference,
    remaining: Vec<Reference>,
    items: &mut Vec<DeleteItem>,
) -> Result<Vec<Reference>, ImageError> {
    let repository = removed.repository();
    let tag_left = remaining
        .iter()
        .any(|r| r.tag().is_some() && r.repository() == repository);
    if tag_left {
        return Ok(remaining);
    }
    let mut kept = Vec::new();
    for reference in remaining {
        if reference.tag().is_none() && reference.repository() == repository {
            untag(meta, &reference, items)?;
        } else {
            kept.push(reference);
        }
    }
    Ok(kept)
}

/// Whether `input` is a prefix of the image ID's hex, with or without `sha256:` (docker's
/// `isImageIDPrefix`): then `rmi` works by ID even if a reference of that name exists.
/// Unlike docker, a prefix of the word `sha256:` itself (`sha`) does not count.
fn is_id_prefix(image_id: &Digest, input: &str) -> bool {
    let hex = input.strip_prefix("sha256:").unwrap_or(input);
    !hex.is_empty() && image_id.hex().starts_with(hex)
}

/// docker's `isSingleReference`: all references in one repository, at most one of them a tag.
/// `false` for none.
fn is_single_reference(references: &[Reference]) -> bool {
    let Some(first) = references.first() else {
        return false;
    };
    let tags = references.iter().filter(|r| r.tag().is_some()).count();
    tags <= 1
        && references
            .iter()
            .all(|r| r.repository() == first.repository())
}

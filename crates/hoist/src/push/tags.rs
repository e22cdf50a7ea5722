//! Which local tags a push reference means.
//!
//! Corresponds to docker 20.10 `distribution/push.go` (`Push`: "An image does not exist
//! locally with the tag: NAME" when the repository has no reference) and `push_v2.go`
//! (`pushV2Repository`): a tagged reference pushes that tag; a digest reference is refused
//! ("cannot push a digest reference"); a bare name pushes every tag of the repository, in the
//! reference store's order (familiar form). `all_tags` is the explicit spelling of the last
//! case (docker CLI's `--all-tags`), and refuses a reference with a tag as docker's CLI does.
//! Digest references recorded by pulls (`NAME@sha256:…`) are never pushed as tags.

use super::error::PushError;
use crate::reference::Reference;
use crate::store::metadata::ReferenceTarget;
use crate::store::MetadataStore;

/// A tag to push and the image it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagToPush {
    /// The tagged reference (canonical).
    pub reference: Reference,
    /// What it points at locally.
    pub target: ReferenceTarget,
}

/// The tags `reference` asks to push, looked up in `metadata` (blocking).
pub fn tags_to_push(
    metadata: &MetadataStore,
    reference: &Reference,
    all_tags: bool,
) -> Result<Vec<TagToPush>, PushError> {
    if reference.digest().is_some() {
        return Err(PushError::DigestReference {
            reference: reference.familiar(),
        });
    }
    if let Some(_tag) = reference.tag() {
        if all_tags {
            return Err(PushError::TagWithAllTags {
                reference: reference.familiar(),
            });
        }
        return match metadata.reference(reference)? {
            Some(target) => Ok(vec![TagToPush {
                reference: reference.clone(),
                target,
            }]),
            None => Err(PushError::NotFound {
                reference: reference.familiar(),
            }),
        };
    }
    let tags: Vec<TagToPush> = metadata
        .references_by_name(reference.repository())?
        .into_iter()
        .filter(|a| a.reference.tag().is_some() && a.reference.digest().is_none())
        .map(|a| TagToPush {
            reference: a.reference,
            target: a.target,
        })
        .collect();
    if tags.is_empty() {
        return Err(PushError::NotFound {
            reference: reference.repository().familiar(),
        });
    }
    Ok(tags)
}

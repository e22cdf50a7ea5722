//! Resolving what a user typed (`ubuntu`, `ubuntu:22.04`, `ubuntu@sha256:…`,
//! `localhost:5000/app:1`, a full image ID, `sha256:<id>`, or a short ID prefix such as
//! `3f57`) to an image in the store.
//!
//! The order is docker's `ImageService.GetImage` (docker 20.10):
//! 1. a full image ID (64 hex characters, or `sha256:` + 64 hex): that image or nothing;
//! 2. a reference (a name-only one means `:latest`): what the reference store says;
//! 3. an image-ID prefix (hex, with or without `sha256:`, at least one character): the one
//!    image whose ID starts with it. docker's `digestset` refuses an ambiguous prefix; so does
//!    hoist, saying which images it matches ([`ImageError::AmbiguousId`]).
//!
//! A hex string that is also a valid repository name (`abc`) is tried as a reference first,
//! exactly as docker does. An input that is neither a reference nor hex is refused as an
//! invalid reference; anything else not found is docker's "No such image: REF".

use crate::digest::{Algorithm, Digest};
use crate::reference::Reference;
use crate::store::metadata::ImageRecord;
use crate::store::MetadataStore;

use super::ImageError;

/// An image found for a user's REF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The image ID (config digest).
    pub image_id: Digest,
    /// The record: the manifest the reference points at, or for an image ID the most recently
    /// added record of that image.
    pub record: ImageRecord,
    /// The reference the REF named (name-only with `:latest` added), `None` when the REF was
    /// an image ID or prefix.
    pub reference: Option<Reference>,
}

/// Resolves `input` as the module docs describe.
pub fn resolve_image(meta: &MetadataStore, input: &str) -> Result<ResolvedImage, ImageError> {
    let no_such_image = || ImageError::NoSuchImage {
        input: input.to_owned(),
    };
    if let Some(image_id) = full_image_id(input) {
        return by_id(meta, &image_id)?.ok_or_else(no_such_image);
    }
    let parsed = Reference::parse(input);
    if let Ok(reference) = &parsed {
        let reference = reference.clone().with_default_tag();
        if let Some(target) = meta.reference(&reference)? {
            if let Some(record) = meta.image(&target.manifest_digest)? {
                return Ok(ResolvedImage {
                    image_id: record.image_id.clone(),
                    record,
                    reference: Some(reference),
                });
            }
        }
    }
    if let Some(prefix) = id_prefix(input) {
        return by_prefix(meta, input, prefix)?.ok_or_else(no_such_image);
    }
    match parsed {
        Ok(_) => Err(no_such_image()),
        Err(source) => Err(ImageError::InvalidReference {
            input: input.to_owned(),
            source,
        }),
    }
}

/// `input` as a full sha256 image ID (`<64 hex>` or `sha256:<64 hex>`), if it is one.
fn full_image_id(input: &str) -> Option<Digest> {
    let hex = input.strip_prefix("sha256:").unwrap_or(input);
    if hex.len() != Algorithm::Sha256.hex_len() {
        return None;
    }
    Digest::from_hex(Algorithm::Sha256, hex).ok()
}

/// The hex part of `input` if it can be an image-ID prefix.
fn id_prefix(input: &str) -> Option<&str> {
    let hex = input.strip_prefix("sha256:").unwrap_or(input);
    let is_hex = hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (!hex.is_empty() && hex.len() <= Algorithm::Sha256.hex_len() && is_hex).then_some(hex)
}

fn by_id(meta: &MetadataStore, image_id: &Digest) -> Result<Option<ResolvedImage>, ImageError> {
    let newest = meta.images_by_id(image_id)?.into_iter().next();
    Ok(newest.map(|record| ResolvedImage {
        image_id: image_id.clone(),
        record,
        reference: None,
    }))
}

fn by_prefix(
    meta: &MetadataStore,
    input: &str,
    prefix: &str,
) -> Result<Option<ResolvedImage>, ImageError> {
    // `images()` is newest first, so the first record of each ID is its newest.
    let mut matches: Vec<ImageRecord> = Vec::new();
    for record in meta.images()? {
        let is_match = record.image_id.algorithm() == Algorithm::Sha256
            && record.image_id.hex().starts_with(prefix);
        if is_match && !matches.iter().any(|m| m.image_id == record.image_id) {
            matches.push(record);
        }
    }
    if matches.len() > 1 {
        let mut ids: Vec<String> = matches
            .iter()
            .map(|m| super::short_id(&m.image_id).to_owned())
            .collect();
        ids.sort();
        return Err(ImageError::AmbiguousId {
            input: input.to_owned(),
            matches: ids,
        });
    }
    Ok(matches.pop().map(|record| ResolvedImage {
        image_id: record.image_id.clone(),
        record,
        reference: None,
    }))
}

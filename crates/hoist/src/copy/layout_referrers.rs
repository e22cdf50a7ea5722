//! Referrers (OCI 1.1) in an OCI layout — an `oci:` directory or the local store, whose root
//! is one: listing them for a copy's walk and recording them as a copy's sink.
//!
//! A layout has no referrers API and no convention of its own for them beyond the image
//! layout spec: a referrer is a manifest in `blobs/` named by an **untagged entry** of
//! `index.json` (no `org.opencontainers.image.ref.name`), which is where `oras attach
//! --oci-layout` and `oras copy -r … --to-oci-layout` put them, and where `oras discover
//! --oci-layout` finds them (by reading the manifests `index.json` names, as here). So:
//! - **listing** ([`layout_referrers`]) reads `index.json`, then each untagged entry's
//!   manifest (verified against its digest, regular files only), and lists those whose
//!   `subject` is the manifest asked about, described as a referrers list describes them
//!   ([`Referrer::of`]); at most [`MAX_REFERRERS`];
//! - **recording** ([`record_in_layout`]) writes the referrer's manifest into `blobs/` (the
//!   content store's verified write) and adds an untagged entry for it to `index.json`
//!   (under the index lock; an entry already there is not added twice). Garbage collection
//!   of the store walks from `index.json`, so it keeps the referrer and what it names.

use std::path::PathBuf;

use serde::Deserialize;

use super::blob_file::read_small_file;
use super::layout::read_manifest;
use super::CopyError;
use crate::media::referrer::{check_count, matches_artifact_type};
use crate::media::{Descriptor, Referrer, WalkError};
use crate::store::layout::{INDEX_FILE, REF_NAME_ANNOTATION};
use crate::store::{ContentStore, IndexEntry, StoreError};
use crate::trust::sigstore::attachments::subject_of_tag;

#[derive(Deserialize)]
struct IndexFile {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// The referrers of `subject` in the layout at `root` (see the module docs).
pub(crate) async fn layout_referrers(
    root: PathBuf,
    location: String,
    subject: &Descriptor,
    artifact_type: Option<&str>,
) -> Result<Vec<Descriptor>, CopyError> {
    let path = root.join(INDEX_FILE);
    let bytes = read_small_file(&location, &path).await?;
    let index: IndexFile = serde_json::from_slice(&bytes).map_err(|e| CopyError::Io {
        location: location.clone(),
        action: "parse",
        path: path.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    let mut found = Vec::new();
    let untagged = index
        .manifests
        .iter()
        .filter(|entry| !entry.annotations.contains_key(REF_NAME_ANNOTATION))
        .filter(|entry| entry.digest != subject.digest);
    for entry in untagged {
        let manifest = read_manifest(root.clone(), location.clone(), entry).await?;
        let Some(referrer) = Referrer::of(entry, &manifest) else {
            continue;
        };
        if referrer.subject.digest != subject.digest
            || !matches_artifact_type(&referrer.descriptor, artifact_type)
            || found
                .iter()
                .any(|d: &Descriptor| d.digest == referrer.descriptor.digest)
        {
            continue;
        }
        found.push(referrer.descriptor);
        check_count(&subject.digest, found.len()).map_err(|_| {
            CopyError::Walk(Box::new(WalkError::TooManyReferrers {
                subject: subject.digest.clone(),
                limit: crate::media::MAX_REFERRERS,
            }))
        })?;
    }
    Ok(found)
}

/// The `entries` of the layout at `root` that are no referrers and no signatures attached by
/// tag (`sha256-HEX.sig`, `layout_signatures`): an image copied into a layout without a tag
/// is found among them this way.
pub(crate) async fn without_referrers(
    root: PathBuf,
    location: &str,
    entries: Vec<Descriptor>,
) -> Result<Vec<Descriptor>, CopyError> {
    let mut images = Vec::new();
    for entry in entries {
        let name = entry.annotations.get(REF_NAME_ANNOTATION);
        if name.is_some_and(|name| subject_of_tag(name).is_some()) {
            continue;
        }
        if name.is_none() {
            let manifest = read_manifest(root.clone(), location.to_owned(), &entry).await?;
            if Referrer::of(&entry, &manifest).is_some() {
                continue;
            }
        }
        images.push(entry);
    }
    Ok(images)
}

/// Blocking: stores the referrer manifest `descriptor` (`bytes`, already verified) in
/// `content` and names it by an untagged `index.json` entry.
pub(crate) fn record_in_layout(
    content: &ContentStore,
    descriptor: &Descriptor,
    bytes: &[u8],
) -> Result<(), StoreError> {
    content.write_blob(&descriptor.digest, bytes)?;
    content.index_add(&IndexEntry {
        media_type: descriptor.media_type.clone(),
        digest: descriptor.digest.clone(),
        size: descriptor.size,
        ref_name: None,
    })
}

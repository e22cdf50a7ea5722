//! Recording what was pulled: the image record, the blob sources, the references.
//!
//! docker 20.10's end of `pullV2Tag`: `addDigestReference` (a digest reference that already
//! points elsewhere is left alone, with an error logged, as docker's "Image ID for digest D
//! changed … cannot update"), then `AddTag(ref, id, force = true)`; "pulled new" is whether
//! the reference pointed at another image (or nothing) before. Blob sources are docker's
//! `V2MetadataService.Add(diffID, {digest, repository})`, made on every pull so a push can
//! mount from the repository most recently seen with the blob.
//!
//! The blocking halves ([`record_image`], [`record_references`], [`record_child_reference`])
//! are free functions so the copy engine's store sink (`crate::copy::StoreSink`) records a
//! copied image with exactly this code.

use crate::digest::Digest;
use crate::media::Platform;
use crate::reference::{Reference, Repository};
use crate::store::metadata::{BlobSource, ImageRecord};
use crate::store::{LayerStore, MetadataError, MetadataStore};

use super::{PullError, Puller};

/// The image a manifest resolved to, recorded.
pub(super) struct ImageResult {
    pub(super) manifest_digest: Digest,
    pub(super) image_id: Digest,
    pub(super) platform: Platform,
    /// Blobs were fetched for it by this pull.
    pub(super) downloaded: bool,
}

impl ImageResult {
    /// The result for the recorded image `record`; `downloaded`: by this pull.
    pub(super) fn of(record: &ImageRecord, downloaded: bool) -> ImageResult {
        ImageResult {
            manifest_digest: record.manifest_digest.clone(),
            image_id: record.image_id.clone(),
            platform: Platform::new(
                &record.platform.os,
                &record.platform.architecture,
                record.platform.variant.as_deref(),
            ),
            downloaded,
        }
    }
}

impl Puller {
    /// The recorded image of `manifest_digest` when every blob it names is still stored:
    /// nothing to download (docker's `ImageStore.Get(config)` shortcut).
    pub(super) async fn already_pulled(
        &self,
        manifest_digest: &Digest,
    ) -> Result<Option<ImageResult>, PullError> {
        let metadata = std::sync::Arc::clone(&self.metadata);
        let content = self.content.clone();
        let layers = self.options.layers.clone();
        let digest = manifest_digest.clone();
        self.blocking(move || {
            let Some(record) = metadata.image(&digest)? else {
                return Ok(None);
            };
            let mut needed = vec![&record.image_id];
            needed.extend(record.layers.iter().map(|l| &l.digest));
            for blob in needed {
                if !content.has(blob)? {
                    return Ok(None);
                }
            }
            // Pulled before without unpacking (or its layers were collected): unpack now.
            if let Some(layers) = &layers {
                layers.register_image(&record)?;
            }
            Ok(Some(ImageResult::of(&record, false)))
        })
        .await?
    }

    /// Records `record` and where its layers came from.
    pub(super) async fn record_image(
        &self,
        target: &Reference,
        record: ImageRecord,
        platform: Platform,
    ) -> Result<ImageResult, PullError> {
        let metadata = std::sync::Arc::clone(&self.metadata);
        let layers = self.options.layers.clone();
        let repository = target.repository().clone();
        let result = ImageResult {
            manifest_digest: record.manifest_digest.clone(),
            image_id: record.image_id.clone(),
            platform,
            downloaded: true,
        };
        self.blocking(move || record_image(&metadata, layers.as_ref(), &record, Some(&repository)))
            .await??;
        Ok(result)
    }

    /// Points the references at the pulled image: `NAME@DIGEST` (the digest pulled by) and,
    /// for a tag, the tag. Returns whether `target` now points at another image than before.
    pub(super) async fn record_references(
        &self,
        target: &Reference,
        digest: &Digest,
        image: &ImageResult,
    ) -> Result<bool, PullError> {
        let metadata = std::sync::Arc::clone(&self.metadata);
        let target = target.clone();
        let digest_ref = Reference::new(target.repository().clone(), None, Some(digest.clone()));
        let manifest = image.manifest_digest.clone();
        self.blocking(move || record_references(&metadata, &target, &digest_ref, &manifest))
            .await?
            .map_err(PullError::from)
    }
}

/// Records `record` (docker's image store `Create`), each layer's blob as seen in `source`
/// (docker's `V2MetadataService.Add`) when the image came from a registry repository, and,
/// with a layer store, makes its layers visible and held ([`LayerStore::register_image`]).
/// The caller has checked the diffIDs. Blocking. Shared by pull and the copy engine's store
/// sink.
pub(crate) fn record_image(
    metadata: &MetadataStore,
    layers: Option<&LayerStore>,
    record: &ImageRecord,
    source: Option<&Repository>,
) -> Result<(), PullError> {
    metadata.put_image(record)?;
    if let Some(repository) = source {
        for layer in &record.layers {
            let source = BlobSource {
                digest: layer.digest.clone(),
                repository: repository.clone(),
                hmac: None,
            };
            metadata.add_blob_source(&layer.diff_id, &source)?;
        }
    }
    if let Some(layers) = layers {
        layers.register_image(record)?;
    }
    Ok(())
}

/// Points `digest_ref` (`NAME@DIGEST`) and, when `target` has a tag, the tag (moved with
/// force) at the image `manifest`; returns whether `target` now points at another image than
/// before. A digest reference already pointing elsewhere is left alone (see the module docs).
/// Blocking.
pub(crate) fn record_references(
    metadata: &MetadataStore,
    target: &Reference,
    digest_ref: &Reference,
    manifest: &Digest,
) -> Result<bool, MetadataError> {
    let before = metadata.reference(target)?;
    match metadata.add_digest(digest_ref, manifest, true) {
        Ok(()) => {}
        // docker's addDigestReference: a digest reference is never moved; go on (an index
        // digest pulled again for another platform lands here). docker logs it in the
        // daemon's log, not to the user: nothing is wrong, so it is a debug line here.
        Err(MetadataError::DigestConflict { .. }) => tracing::debug!(
            reference = %digest_ref,
            manifest = %manifest,
            "the digest reference points at another image and cannot be updated"
        ),
        Err(e) => return Err(e),
    }
    if target.tag().is_some() {
        metadata.add_tag(target, manifest, true)?;
    }
    let after = metadata.reference(target)?;
    Ok(before.map(|t| t.manifest_digest) != after.map(|t| t.manifest_digest))
}

/// The digest reference `NAME@CHILD` of an index's other platform `child`, recorded as the
/// image `manifest`, so garbage collection keeps it and the index stays whole (`pull
/// --all-platforms`). One that already exists is kept. Blocking.
pub(crate) fn record_child_reference(
    metadata: &MetadataStore,
    repository: &Repository,
    child: &Digest,
    manifest: &Digest,
) -> Result<(), MetadataError> {
    let reference = Reference::new(repository.clone(), None, Some(child.clone()));
    match metadata.add_digest(&reference, manifest, true) {
        Ok(()) | Err(MetadataError::DigestConflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

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
//! are the copy engine's (`crate::copy`'s `store_record`): the store sink records a copied
//! image with exactly the code pull records with.

use crate::copy::{record_image, record_references};
use crate::digest::Digest;
use crate::media::Platform;
use crate::reference::Reference;
use crate::store::metadata::ImageRecord;

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

//! `hoist pull --all-platforms`: the other platforms of an index, so the store holds it whole.
//!
//! docker 20.10 pulls one platform; `docker pull --all-platforms` exists only with the
//! containerd image store, which then keeps the whole index. hoist does the equivalent here:
//! every image manifest of the index other than the chosen one is read (verified, stored; 8
//! at a time, before the first is pulled) and pulled like the chosen one (config and layers
//! through the copy engine, diffIDs checked, image recorded with the index's digest; 8
//! platforms at a time beside the chosen one, their blobs through the puller's one set of
//! download slots), and gets a digest reference `NAME@CHILD` so garbage collection keeps it.
//! The tag keeps pointing at the chosen platform's image, so `images`, `inspect` and `save`
//! see what a plain pull gives.
//!
//! With every child recorded, [`crate::copy::complete_index`] holds for the index, and push
//! sends the children and then the index's exact bytes.
//!
//! Skipped (logged): nested indexes and attestation manifests (platform `unknown/unknown`,
//! which carry in-toto layers hoist does not pull). An index with such entries stays
//! incomplete, and push sends the chosen platform's manifest, as after a plain pull.

use std::sync::Arc;

use futures_util::TryStreamExt;

use super::image::Origin;
use super::resolve::ReadManifest;
use super::{PullError, Puller};
use crate::copy::record_child_reference;
use crate::media::{Descriptor, Manifest};
use crate::progress::ProgressSink;
use crate::registry::read_ahead;

impl Puller {
    /// Pulls and records every image manifest of `others` (the index's entries but the
    /// chosen one), each with a digest reference.
    pub(super) async fn pull_other_platforms(
        &self,
        origin: &Origin<'_>,
        others: &[Descriptor],
        progress: &Arc<dyn ProgressSink>,
    ) -> Result<(), PullError> {
        let wanted: Vec<&Descriptor> = others
            .iter()
            .filter(|child| {
                if child.is_attestation() {
                    tracing::debug!(digest = %child.digest, "skipping an attestation manifest");
                }
                !child.is_attestation()
            })
            .collect();
        // Their manifests first, read ahead (each read is verified and stored): one round
        // trip for all instead of one before each platform's pull.
        let reads: Vec<_> = wanted
            .iter()
            .map(|child| self.read_manifest(origin.repo, &child.digest, None, origin.target))
            .collect();
        let reads: Vec<_> = read_ahead::in_order(reads).try_collect().await?;
        // Then the platforms themselves, several at once: their blobs share the puller's
        // download slots, so this overlaps the per-image round trips (signatures, manifests,
        // the recording) and fills slots a platform of fewer layers leaves empty; the error
        // reported is the first in index order.
        let pulls: Vec<_> = wanted
            .into_iter()
            .zip(reads)
            .map(|(child, read)| self.pull_platform(origin, child, read, progress))
            .collect();
        read_ahead::in_order(pulls).try_collect::<Vec<()>>().await?;
        Ok(())
    }

    /// Pulls the platform `child` of the index (its manifest `read`) and gives it its digest
    /// reference; an entry that is not an image manifest is skipped.
    async fn pull_platform(
        &self,
        origin: &Origin<'_>,
        child: &Descriptor,
        read: ReadManifest,
        progress: &Arc<dyn ProgressSink>,
    ) -> Result<(), PullError> {
        let Manifest::Image(image) = read.manifest else {
            tracing::warn!(digest = %child.digest, "skipping an index entry that is not an image manifest");
            return Ok(());
        };
        let result = self
            .pull_image(origin, &child.digest, image, read.bytes, progress)
            .await?;
        let metadata = Arc::clone(&self.metadata);
        let repository = origin.target.repository().clone();
        let (child, manifest) = (child.digest.clone(), result.manifest_digest.clone());
        self.blocking(move || record_child_reference(&metadata, &repository, &child, &manifest))
            .await??;
        Ok(())
    }
}

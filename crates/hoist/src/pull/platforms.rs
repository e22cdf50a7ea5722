//! `hoist pull --all-platforms`: the other platforms of an index, so the store holds it whole.
//!
//! docker 20.10 pulls one platform; `docker pull --all-platforms` exists only with the
//! containerd image store, which then keeps the whole index. hoist does the equivalent here:
//! every image manifest of the index other than the chosen one is read (verified, stored;
//! with the chosen one's, 8 at a time, before any is pulled) and pulled like the chosen one
//! (config and layers through the copy engine, diffIDs checked, image recorded with the
//! index's digest; 8 platforms at a time beside the chosen one, their blobs through the
//! puller's one set of download slots), and gets a digest reference `NAME@CHILD` so garbage
//! collection keeps it.
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
use crate::digest::Digest;
use crate::media::{Descriptor, Manifest};
use crate::progress::ProgressSink;
use crate::reference::Reference;
use crate::registry::read_ahead;
use crate::registry::RemoteRepository;

impl Puller {
    /// The manifests of an index's `chosen` entry and of its `others` but attestations, read
    /// at once (8 at a time): the chosen one as the platform walk will read it (not stored
    /// yet: the walk stores it), the others verified and stored. One round of reads where
    /// the walk's read of the chosen one came first and the others' after it.
    pub(super) async fn read_platforms(
        &self,
        repo: &RemoteRepository,
        target: &Reference,
        chosen: Option<&Digest>,
        others: &[Descriptor],
    ) -> Result<(Option<ReadManifest>, Vec<(Descriptor, ReadManifest)>), PullError> {
        let wanted: Vec<&Descriptor> = others
            .iter()
            .filter(|child| {
                if child.is_attestation() {
                    tracing::debug!(digest = %child.digest, "skipping an attestation manifest");
                }
                !child.is_attestation()
            })
            .collect();
        let first = chosen.map(|digest| self.read_entry(repo, target, digest, false));
        let rest = wanted
            .iter()
            .map(|child| self.read_entry(repo, target, &child.digest, true));
        let reads: Vec<_> = first.into_iter().chain(rest).collect();
        let mut reads: Vec<ReadManifest> = read_ahead::in_order(reads).try_collect().await?;
        let chosen = match chosen {
            Some(_) if !reads.is_empty() => Some(reads.remove(0)),
            _ => None,
        };
        Ok((chosen, wanted.into_iter().cloned().zip(reads).collect()))
    }

    /// The manifest `digest` of `repo`, stored with `store`.
    async fn read_entry(
        &self,
        repo: &RemoteRepository,
        target: &Reference,
        digest: &Digest,
        store: bool,
    ) -> Result<ReadManifest, PullError> {
        match store {
            true => self.read_manifest(repo, digest, None, target).await,
            false => self.peek_manifest(repo, digest, target).await,
        }
    }

    /// Pulls and records every image manifest of `platforms` (the index's entries but the
    /// chosen one and attestations, read by [`Puller::read_platforms`]), each with a digest
    /// reference: several at once, their blobs through the puller's download slots, so
    /// this overlaps the per-image round trips (signatures, manifests, the recording) and
    /// fills slots a platform of fewer layers leaves empty; the error reported is the first
    /// in index order.
    pub(super) async fn pull_other_platforms(
        &self,
        origin: &Origin<'_>,
        platforms: Vec<(Descriptor, ReadManifest)>,
        progress: &Arc<dyn ProgressSink>,
    ) -> Result<(), PullError> {
        let pulls: Vec<_> = platforms
            .into_iter()
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
        child: Descriptor,
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
        let (child, manifest) = (child.digest, result.manifest_digest);
        self.blocking(move || record_child_reference(&metadata, &repository, &child, &manifest))
            .await??;
        Ok(())
    }
}

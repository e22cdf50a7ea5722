//! Pushing a whole index: every child image, then the index's exact bytes under the tag.
//!
//! docker 20.10 cannot push an index (it pushes the one image it has); with the containerd
//! image store it pushes the index when it holds every child. hoist does that: when the tag's
//! image record names an index the store holds whole ([`complete_index`]: every child
//! recorded, with its manifest, config and layers), each child is pushed like a single image
//! (layers the cheapest way, config, manifest `PUT` **by digest**), then the stored index bytes
//! are `PUT` under the tag, so the registry has the digest the index was pulled with.
//!
//! Invariant: the index is sent only when every child manifest was confirmed in this run
//! ([`PushError::Unconfirmed`] otherwise), as a manifest is only sent after its blobs.

use std::sync::Arc;

use super::{spawn_blocking, PushError, Pusher, Target};
use crate::copy::{complete_index, CompleteIndex, IndexCheckError};
use crate::digest::Digest;
use crate::store::metadata::ImageRecord;
use crate::transfer::UploadJob;

impl Pusher {
    /// The index `record` was chosen from, if the store holds it whole.
    pub(super) async fn whole_index(
        &self,
        record: &ImageRecord,
    ) -> Result<Option<CompleteIndex>, PushError> {
        let Some(index) = record.index_digest.clone() else {
            return Ok(None);
        };
        let metadata = Arc::clone(&self.metadata);
        spawn_blocking(move || complete_index(&metadata, &index))
            .await?
            .map_err(|e| match e {
                IndexCheckError::Store(e) => PushError::Store(e),
                IndexCheckError::Metadata(e) => PushError::Metadata(e),
            })
    }

    /// Pushes every child of `whole`, then `whole` under `tag`. Returns the index's digest
    /// and size.
    pub(super) async fn push_index(
        &self,
        run: &Arc<Target>,
        tag: &str,
        whole: CompleteIndex,
    ) -> Result<(Digest, u64), PushError> {
        for child in &whole.children {
            let record = self.record(run, &child.digest).await?;
            self.push_image(run, &record, child.digest.as_str()).await?;
        }
        let job = IndexJob {
            run: Arc::clone(run),
            tag: tag.to_owned(),
            whole,
        };
        job.check()?;
        let size = job.whole.descriptor.size;
        let digest = self.uploads.run(job, &*run.progress).await?;
        Ok((digest, size))
    }
}

/// The index `PUT` under the tag.
struct IndexJob {
    run: Arc<Target>,
    tag: String,
    whole: CompleteIndex,
}

impl IndexJob {
    /// Every child manifest was confirmed in the registry in this run.
    fn check(&self) -> Result<(), PushError> {
        for child in &self.whole.children {
            if !self.run.is_confirmed(&child.digest) {
                return Err(PushError::Unconfirmed {
                    reference: self.tag.clone(),
                    digest: child.digest.clone(),
                });
            }
        }
        Ok(())
    }
}

impl UploadJob for IndexJob {
    type Output = Digest;
    type Error = PushError;

    fn progress_id(&self) -> Option<&Digest> {
        None
    }

    async fn attempt(&mut self) -> Result<Digest, PushError> {
        let run = &self.run;
        let descriptor = &self.whole.descriptor;
        let sent = run
            .repo
            .put_manifest(&self.tag, &descriptor.media_type, self.whole.bytes.clone())
            .await
            .map_err(|e| {
                PushError::registry(format!("put index for {}", self.tag), &run.familiar, e)
            })?;
        if sent != descriptor.digest {
            return Err(PushError::BadImage {
                manifest: descriptor.digest.clone(),
                reason: format!("stored index bytes hash to {sent}"),
            });
        }
        Ok(sent)
    }
}

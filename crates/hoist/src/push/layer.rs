//! One layer of a push, cheapest way first: docker's `v2PushDescriptor.Upload`.
//!
//! In order, stopping at the first that works:
//! 1. **already confirmed in this run** (another tag, or a repeated layer): `Layer already
//!    exists`, no request (docker's `pushState.remoteLayers`);
//! 2. **known in the target repository** (a blob source records the layer's digest there):
//!    one `HEAD`; present ⇒ `Layer already exists`; absent ⇒ that source is forgotten;
//! 3. **cross-repository mounts** from sources on the same registry, ranked and limited by
//!    [`super::candidates`]: `POST ?mount=D&from=R`; 201 ⇒ `Mounted from R`; a refused mount
//!    (202 with a session, or an error) forgets the source unless it was recorded with other
//!    credentials, or the refusal was "unauthorized" to a push without credentials (docker's
//!    rule: the source may be fine for someone who logs in); the session a refused mount
//!    opened is kept for the upload;
//! 4. for big layers, one more existence check when the digest is known elsewhere;
//! 5. **upload** of the stored blob ([`BlobSender`]), `Pushing` … `Pushed`.
//!
//! A layer stored **uncompressed** (a docker-archive load, see [`super::convert`]) first
//! looks for a compressed blob of its diffID that an earlier push left in the store
//! ([`reusable_blob`]); with one, it is pushed as that blob through the steps above (so a
//! second push finds it: `Layer already exists`). Without one, it is compressed while
//! uploading ([`UploadSource::NeedsCompression`]) and the new diffID ⇒ digest mapping is
//! recorded. The job's output is the layer as the registry now has it, for the manifest.
//!
//! Each success records the blob source (digest, target repository, HMAC of the credentials)
//! as docker's `TagAndAdd`, and marks the digest confirmed for the manifest check. A job keeps
//! its state across the upload manager's retries: digests already checked are not checked
//! again (docker's `checkedDigests`) and the upload session is resumed.

use std::sync::Arc;

use super::candidates::{mount_candidates, Budget};
use super::convert::{compressed_media_type, needs_compression, reusable_blob};
use super::error::PushError;
use super::hmac::matches;
use super::Target;
use crate::digest::Digest;
use crate::progress::{ProgressEvent, Status};
use crate::registry::{MountResult, Purpose};
use crate::store::metadata::{BlobSource, ImageLayer};
use crate::transfer::{BlobSender, Compression, UploadJob, UploadSource};

/// The push of one layer; an [`UploadJob`] for the upload manager.
pub(crate) struct LayerJob {
    run: Arc<Target>,
    /// The layer as it goes to the registry: once a compressed blob is chosen for an
    /// uncompressed layer, that blob.
    layer: ImageLayer,
    /// For an uncompressed layer not yet given a compressed blob: the compression to apply,
    /// and whether the manifest it goes into is OCI (for the media type).
    convert: Option<(Compression, bool)>,
    stored: bool,
    checked: bool,
    /// `None` when the blob is not in the store: it can still be found or mounted remotely.
    sender: Option<BlobSender>,
}

impl LayerJob {
    /// The job for `layer`; `stored` says whether its blob is in the content store; `oci`
    /// whether the manifest pushed is OCI (it names the media type of a compressed layer).
    pub(crate) fn new(run: Arc<Target>, layer: ImageLayer, stored: bool, oci: bool) -> LayerJob {
        let convert = needs_compression(&layer, run.compression).then_some((run.compression, oci));
        let mut job = LayerJob {
            run,
            layer,
            convert,
            stored,
            checked: false,
            sender: None,
        };
        job.sender = stored.then(|| job.sender_for_layer());
        job
    }

    fn sender_for_layer(&self) -> BlobSender {
        let run = &self.run;
        let source = match self.convert {
            Some((compression, _)) => UploadSource::NeedsCompression {
                content: run.content.clone(),
                diff_id: self.layer.digest.clone(),
                size: self.layer.size,
                compression,
                workers: run.compression_workers,
            },
            None => UploadSource::Stored {
                content: run.content.clone(),
                digest: self.layer.digest.clone(),
                size: self.layer.size,
            },
        };
        BlobSender::new(run.repo.clone(), source, run.policy)
    }

    async fn push(&mut self) -> Result<ImageLayer, PushError> {
        if let Some((compression, oci)) = self.convert {
            match self.reusable(compression).await? {
                Some(blob) => {
                    self.layer = ImageLayer {
                        diff_id: self.layer.diff_id.clone(),
                        digest: blob.digest,
                        size: blob.size,
                        media_type: compressed_media_type(compression, oci).to_owned(),
                    };
                    self.convert = None;
                    self.sender = Some(self.sender_for_layer());
                }
                None => {
                    self.upload().await?;
                    return Ok(self.layer.clone());
                }
            }
        }
        self.push_blob().await?;
        Ok(self.layer.clone())
    }

    /// A compressed blob of this layer the store holds from an earlier push.
    async fn reusable(
        &self,
        compression: Compression,
    ) -> Result<Option<crate::store::BlobInfo>, PushError> {
        if !self.stored {
            return Ok(None);
        }
        let run = Arc::clone(&self.run);
        let diff_id = self.layer.diff_id.clone();
        tokio::task::spawn_blocking(move || {
            reusable_blob(&run.metadata, &run.content, &diff_id, compression)
        })
        .await
        .map_err(|e| PushError::Task(e.to_string()))?
    }

    /// Steps 1–5 of the module docs for a blob whose digest is known.
    async fn push_blob(&mut self) -> Result<(), PushError> {
        let run = Arc::clone(&self.run);
        let digest = self.layer.digest.clone();
        if run.is_confirmed(&digest) {
            self.emit(Status::LayerAlreadyExists);
            return Ok(());
        }
        let budget = Budget::for_size(self.layer.size);
        let sources = self.sources().await?;

        let known_here = sources.iter().any(|s| s.repository == run.target);
        if known_here && !self.checked && self.exists().await? {
            return Ok(());
        }
        if self.mount(&sources, budget.mounts).await? {
            return Ok(());
        }
        let known_elsewhere = !sources.is_empty();
        if budget.check_other_repositories
            && known_elsewhere
            && !self.checked
            && self.exists().await?
        {
            return Ok(());
        }
        self.upload().await
    }

    /// The recorded sources of this layer's exact blob, most recent first.
    async fn sources(&self) -> Result<Vec<BlobSource>, PushError> {
        let diff_id = self.layer.diff_id.clone();
        let records = self.run.blocking(move |m| m.blob_sources(&diff_id)).await?;
        Ok(records
            .into_iter()
            .map(|r| r.source)
            .filter(|s| s.digest == self.layer.digest)
            .collect())
    }

    /// `HEAD` in the target repository (docker's `layerAlreadyExists`).
    async fn exists(&mut self) -> Result<bool, PushError> {
        self.checked = true;
        let run = Arc::clone(&self.run);
        let digest = self.layer.digest.clone();
        match run.repo.stat_blob(&digest, Purpose::Push).await {
            Ok(Some(_)) => {
                self.record().await?;
                self.emit(Status::LayerAlreadyExists);
                run.confirm(&digest);
                Ok(true)
            }
            Ok(None) => {
                // The registry lost it (deleted, garbage-collected): forget the mapping.
                let sources = self.sources().await?;
                for s in sources.into_iter().filter(|s| s.repository == run.target) {
                    run.blocking(move |m| m.remove_blob_source(&s)).await?;
                }
                Ok(false)
            }
            Err(e) => {
                tracing::debug!(%digest, error = %e, "existence check failed");
                Ok(false)
            }
        }
    }

    /// Tries up to `max` mount candidates; true when one mounted.
    async fn mount(&mut self, sources: &[BlobSource], max: usize) -> Result<bool, PushError> {
        let run = Arc::clone(&self.run);
        let digest = self.layer.digest.clone();
        let candidates = mount_candidates(&run.target, run.key.as_ref(), max, sources);
        for candidate in candidates {
            let from = candidate.repository.path().to_string();
            let unauthorized = match run.repo.mount_blob(&digest, &from).await {
                Ok(MountResult::Mounted) => {
                    self.record().await?;
                    self.emit(Status::MountedFrom { repository: from });
                    run.confirm(&digest);
                    return Ok(true);
                }
                Ok(MountResult::Upload(session)) => {
                    if let Some(sender) = &mut self.sender {
                        sender.adopt(session).await;
                    } else {
                        let _ = session.cancel().await;
                    }
                    false
                }
                Err(e) => {
                    tracing::debug!(%digest, %from, error = %e, "mount failed");
                    e.status() == Some(401) || e.is_auth()
                }
            };
            let keep = unauthorized && !run.has_auth_info;
            let ours = candidate.hmac.is_none() || matches(&candidate, run.key.as_ref());
            if !keep && ours {
                run.blocking(move |m| m.remove_blob_source(&candidate))
                    .await?;
            }
        }
        Ok(false)
    }

    async fn upload(&mut self) -> Result<(), PushError> {
        let run = Arc::clone(&self.run);
        let digest = self.layer.digest.clone();
        let Some(sender) = &mut self.sender else {
            return Err(PushError::BadImage {
                manifest: digest.clone(),
                reason: format!(
                    "layer {digest} is not in the local store and the registry does not have it"
                ),
            });
        };
        let progress = Arc::clone(&run.progress);
        let sent = sender
            .send(&progress, Some(&self.layer.diff_id))
            .await
            .map_err(|e| PushError::send(&digest, &run.familiar, e))?;
        if let Some((compression, oci)) = self.convert.take() {
            self.layer = ImageLayer {
                diff_id: self.layer.diff_id.clone(),
                digest: sent.digest,
                size: sent.size,
                media_type: compressed_media_type(compression, oci).to_owned(),
            };
        }
        let digest = self.layer.digest.clone();
        self.emit(Status::Pushed);
        self.record().await?;
        run.confirm(&digest);
        Ok(())
    }

    /// docker's `TagAndAdd`: the blob is in the target repository, seen with these credentials.
    async fn record(&self) -> Result<(), PushError> {
        let run = &self.run;
        let source = BlobSource {
            digest: self.layer.digest.clone(),
            repository: run.target.clone(),
            hmac: run
                .key
                .as_ref()
                .and_then(|k| k.sign(&self.layer.digest, &run.target)),
        };
        let diff_id = self.layer.diff_id.clone();
        run.blocking(move |m| m.add_blob_source(&diff_id, &source))
            .await
    }

    fn emit(&self, status: Status) {
        self.run
            .progress
            .emit(ProgressEvent::new(&self.layer.diff_id, status));
    }
}

impl UploadJob for LayerJob {
    type Output = ImageLayer;
    type Error = PushError;

    fn progress_id(&self) -> Option<&Digest> {
        Some(&self.layer.diff_id)
    }

    async fn attempt(&mut self) -> Result<ImageLayer, PushError> {
        self.push().await
    }
}

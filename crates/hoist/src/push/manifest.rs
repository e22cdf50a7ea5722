//! The end of a tag's push: the config blob, then the manifest.
//!
//! Corresponds to the end of docker 20.10's `pushV2Tag`: the config goes up (docker's
//! `schema2.ManifestBuilder` puts it), then the manifest is `PUT` under the tag and docker's
//! line `TAG: digest: sha256:… size: N` is printed. Unlike docker, which rebuilds a schema2
//! manifest from the layers it pushed, hoist sends the **stored manifest bytes** with their own
//! media type (Docker schema2 or OCI), so the digest in the registry is the digest the image
//! was pulled with. An image pulled from an index / manifest list is pushed as the platform
//! manifest hoist holds when the index's other manifests are not in the store (a plain pull);
//! with all of them (`pull --all-platforms`) the index goes up too, see `super::index`.
//!
//! The config is checked with a `HEAD` first and uploaded only when missing. Both steps are
//! [`UploadJob`]s, so the upload manager retries them like layers.
//!
//! Invariant: the manifest is sent only when every blob it references (the config and each
//! layer, except foreign layers with `urls`, which registries need not hold) was confirmed
//! present in this run: uploaded, mounted or found by `HEAD`. Otherwise the push fails with
//! [`PushError::Unconfirmed`] and no manifest reaches the registry.

use std::sync::Arc;

use bytes::Bytes;

use super::error::PushError;
use super::Target;
use crate::digest::Digest;
use crate::media::{LayerMediaType, Manifest, MAX_MANIFEST_SIZE};
use crate::registry::Purpose;
use crate::transfer::{BlobSender, UploadJob, UploadSource};

/// Pushes the config blob unless the registry has it.
pub(crate) struct ConfigJob {
    run: Arc<Target>,
    digest: Digest,
    sender: BlobSender,
}

impl ConfigJob {
    pub(crate) fn new(run: Arc<Target>, digest: Digest, size: u64) -> ConfigJob {
        let source = UploadSource::Stored {
            content: run.content.clone(),
            digest: digest.clone(),
            size,
        };
        let sender = BlobSender::new(run.repo.clone(), source, run.policy);
        ConfigJob {
            run,
            digest,
            sender,
        }
    }
}

impl UploadJob for ConfigJob {
    type Output = ();
    type Error = PushError;

    fn progress_id(&self) -> Option<&Digest> {
        None
    }

    async fn attempt(&mut self) -> Result<(), PushError> {
        let run = Arc::clone(&self.run);
        if run.is_confirmed(&self.digest) {
            return Ok(());
        }
        let present = run
            .repo
            .stat_blob(&self.digest, Purpose::Push)
            .await
            .map_err(|e| {
                PushError::registry(format!("check config {}", self.digest), &run.familiar, e)
            })?;
        if present.is_none() {
            let progress = Arc::clone(&run.progress);
            self.sender
                .send(&progress, None)
                .await
                .map_err(|e| PushError::send(&self.digest, &run.familiar, e))?;
        }
        run.confirm(&self.digest);
        Ok(())
    }
}

/// The stored manifest of an image, checked against what was confirmed, then `PUT`.
pub(crate) struct ManifestJob {
    run: Arc<Target>,
    tag: String,
    media_type: String,
    bytes: Bytes,
    digest: Digest,
}

impl ManifestJob {
    /// Reads the manifest `digest` from the store and checks every blob it references was
    /// confirmed in this run.
    pub(crate) async fn prepare(
        run: Arc<Target>,
        tag: &str,
        digest: &Digest,
        media_type: &str,
    ) -> Result<ManifestJob, PushError> {
        let content = run.content.clone();
        let key = digest.clone();
        let bytes = tokio::task::spawn_blocking(move || {
            content.read_to_vec_capped(&key, MAX_MANIFEST_SIZE as u64)
        })
        .await
        .map_err(|e| PushError::Task(e.to_string()))??;
        let bad = |reason: String| PushError::BadImage {
            manifest: digest.clone(),
            reason,
        };
        let manifest = Manifest::parse(media_type, &bytes)
            .map_err(|e| bad(format!("stored manifest does not parse: {e}")))?;
        let Manifest::Image(image) = manifest else {
            return Err(bad("the stored manifest is not an image manifest".into()));
        };
        let needed = std::iter::once(&image.config).chain(image.layers.iter().filter(|l| {
            let foreign = LayerMediaType::classify(&l.media_type).is_some_and(|t| !t.distributable);
            !foreign || l.urls.is_empty()
        }));
        for descriptor in needed {
            if !run.is_confirmed(&descriptor.digest) {
                return Err(PushError::Unconfirmed {
                    reference: tag.to_string(),
                    digest: descriptor.digest.clone(),
                });
            }
        }
        Ok(ManifestJob {
            run,
            tag: tag.to_string(),
            media_type: media_type.to_string(),
            bytes: Bytes::from(bytes),
            digest: digest.clone(),
        })
    }

    /// The manifest's size in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
}

impl UploadJob for ManifestJob {
    type Output = Digest;
    type Error = PushError;

    fn progress_id(&self) -> Option<&Digest> {
        None
    }

    async fn attempt(&mut self) -> Result<Digest, PushError> {
        let run = &self.run;
        let sent = run
            .repo
            .put_manifest(&self.tag, &self.media_type, self.bytes.clone())
            .await
            .map_err(|e| {
                PushError::registry(format!("put manifest for {}", self.tag), &run.familiar, e)
            })?;
        if sent != self.digest {
            return Err(PushError::BadImage {
                manifest: self.digest.clone(),
                reason: format!("stored bytes hash to {sent}"),
            });
        }
        // An index pushed after this manifest checks its children were confirmed.
        run.confirm(&sent);
        Ok(sent)
    }
}

//! Push's adapter on the copy engine's sink: [`PushSink`], a [`RegistryImage`] that knows what
//! docker's v2 metadata knows, and records what the push confirmed.
//!
//! Corresponds to docker 20.10's `v2PushDescriptor.Upload` (`push_v2.go`) minus the bytes,
//! which [`crate::copy::copy`] moves. [`ImageSink::find_blob`] tries, in order, stopping at the
//! first that works:
//! 1. **already confirmed in this run** (another tag, a repeated layer, a shared config):
//!    `Layer already exists`, no request (docker's `pushState.remoteLayers`);
//! 2. **known in the target repository** (a blob source records the layer's digest there):
//!    one `HEAD`; present ⇒ `Layer already exists`; absent ⇒ that source is forgotten;
//! 3. **cross-repository mounts** from sources on the same registry, ranked and limited by
//!    [`super::candidates`]: `POST ?mount=D&from=R`; 201 ⇒ `Mounted from R`; a refused mount
//!    (202 with a session, or an error) forgets the source unless it was recorded with other
//!    credentials, or the refusal was "unauthorized" to a push without credentials (docker's
//!    rule: the source may be fine for someone who logs in); the session a refused mount
//!    opened is kept for the upload ([`RemoteBlobWriter::adopt`]);
//! 4. for big layers, one more existence check when the digest is known elsewhere;
//!
//! and `None` sends the bytes (the engine's writer, wrapped here to record the success).
//! An uncompressed layer the engine asks to compress goes up through the same writer from the
//! engine's compression step, which also keeps the compressed blob in the content store
//! ([`ImageSink::keeps_compressed_in`]); it is recorded under the digest it turned out to
//! have.
//! A config blob (no diffID) is only looked for with a `HEAD`, never mounted, as docker does.
//!
//! Each success records the blob source (digest, target repository, HMAC of the credentials)
//! as docker's `TagAndAdd`, and marks the digest confirmed for the rest of the run. Digests
//! already checked are not checked again on a retry (docker's `checkedDigests`).

use std::sync::Arc;

use super::candidates::{mount_candidates, Budget};
use super::hmac::matches;
use super::run::{DiffIds, Target};
use crate::copy::remote_upload::RemoteBlobWriter;
use crate::copy::{
    BlobInput, BlobStore, BlobWriter, CopyError, CopyFuture, DynBlobWriter, Found, ImageSink,
    Progress, RegistryImage, StoredManifest,
};
use crate::digest::Digest;
use crate::media::Descriptor;
use crate::reference::Repository;
use crate::registry::{MountResult, Purpose};
use crate::store::metadata::BlobSource;
use crate::store::{ContentStore, MetadataError, MetadataStore};
use crate::transfer::blocking;

/// One tag's destination in a push: the registry image `NAME:TAG` with the run's knowledge.
pub(crate) struct PushSink {
    run: Arc<Target>,
    image: RegistryImage,
    /// The image's layers: blob digest ⇒ diffID.
    diff_ids: Arc<DiffIds>,
}

impl PushSink {
    pub(crate) fn new(run: Arc<Target>, image: RegistryImage, diff_ids: Arc<DiffIds>) -> PushSink {
        PushSink {
            run,
            image,
            diff_ids,
        }
    }

    async fn find(&self, descriptor: &Descriptor) -> Result<Option<Found>, CopyError> {
        let run = &self.run;
        let digest = &descriptor.digest;
        if run.is_confirmed(digest) {
            return Ok(Some(Found::Existing));
        }
        let Some(diff_id) = &self.diff_ids.get(digest) else {
            // A config: a HEAD, no mounts.
            if self.image.has_blob(descriptor).await? {
                run.confirm(digest);
                return Ok(Some(Found::Existing));
            }
            return Ok(None);
        };
        let budget = Budget::for_size(descriptor.size);
        let sources = self.sources(diff_id, digest).await?;
        let known_here = sources.iter().any(|s| s.repository == run.target);
        if known_here && self.exists(diff_id, digest, &sources).await? {
            return Ok(Some(Found::Existing));
        }
        if let Some(from) = self.mount(diff_id, digest, &sources, budget.mounts).await? {
            return Ok(Some(Found::Mounted(from)));
        }
        let known_elsewhere = !sources.is_empty();
        if budget.check_other_repositories
            && known_elsewhere
            && self.exists(diff_id, digest, &sources).await?
        {
            return Ok(Some(Found::Existing));
        }
        Ok(None)
    }

    /// The recorded sources of this layer's exact blob, most recent first.
    async fn sources(
        &self,
        diff_id: &Digest,
        digest: &Digest,
    ) -> Result<Vec<BlobSource>, CopyError> {
        let key = diff_id.clone();
        let records = self
            .blocking("read blob sources", move |m| m.blob_sources(&key))
            .await?;
        Ok(records
            .into_iter()
            .map(|r| r.source)
            .filter(|s| s.digest == *digest)
            .collect())
    }

    /// `HEAD` in the target repository (docker's `layerAlreadyExists`), once per digest.
    async fn exists(
        &self,
        diff_id: &Digest,
        digest: &Digest,
        sources: &[BlobSource],
    ) -> Result<bool, CopyError> {
        let run = &self.run;
        if !run.check_once(digest) {
            return Ok(false);
        }
        match run.repo.stat_blob(digest, Purpose::Push).await {
            Ok(Some(_)) => {
                self.confirmed(diff_id, digest).await?;
                Ok(true)
            }
            Ok(None) => {
                // The registry lost it (deleted, garbage-collected): forget the mapping.
                for s in sources.iter().filter(|s| s.repository == run.target) {
                    let s = s.clone();
                    self.blocking("forget a blob source", move |m| m.remove_blob_source(&s))
                        .await?;
                }
                Ok(false)
            }
            Err(e) => {
                tracing::debug!(%digest, error = %e, "existence check failed");
                Ok(false)
            }
        }
    }

    /// Tries up to `max` mount candidates; the repository mounted from, if one worked.
    async fn mount(
        &self,
        diff_id: &Digest,
        digest: &Digest,
        sources: &[BlobSource],
        max: usize,
    ) -> Result<Option<String>, CopyError> {
        let run = &self.run;
        let candidates = mount_candidates(&run.target, run.key.as_ref(), max, sources);
        for candidate in candidates {
            let from = candidate.repository.path().to_string();
            let unauthorized = match run.repo.mount_blob(digest, &from).await {
                Ok(MountResult::Mounted) => {
                    self.confirmed(diff_id, digest).await?;
                    return Ok(Some(from));
                }
                Ok(MountResult::Upload(session)) => {
                    run.keep_session(digest, session).await;
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
                self.blocking("forget a blob source", move |m| {
                    m.remove_blob_source(&candidate)
                })
                .await?;
            }
        }
        Ok(None)
    }

    /// The blob is in the target repository: recorded (docker's `TagAndAdd`) and confirmed.
    async fn confirmed(&self, diff_id: &Digest, digest: &Digest) -> Result<(), CopyError> {
        record_source(&self.run, diff_id, digest, &self.image.describe()).await?;
        self.run.confirm(digest);
        Ok(())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        action: &str,
        f: impl FnOnce(&MetadataStore) -> Result<T, MetadataError> + Send + 'static,
    ) -> Result<T, CopyError> {
        metadata_call(&self.run, action, &self.image.describe(), f).await
    }
}

impl ImageSink for PushSink {
    fn location(&self) -> String {
        self.image.describe()
    }

    fn tag(&self) -> Option<String> {
        self.image.tag()
    }

    fn blobs(&self) -> &dyn BlobStore {
        self
    }

    fn prepare(&self) -> CopyFuture<'_, ()> {
        self.image.prepare()
    }

    fn find_blob<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        _from: Option<&'a Repository>,
    ) -> CopyFuture<'a, Option<Found>> {
        Box::pin(self.find(descriptor))
    }

    /// Layers compressed on the way are kept in the store: the next push re-sends them.
    fn keeps_compressed_in(&self) -> Option<ContentStore> {
        Some(self.run.content.clone())
    }

    fn signatures(&self) -> Option<Box<dyn crate::trust::sigstore::SignatureHome>> {
        ImageSink::signatures(&self.image)
    }

    fn put_manifest<'a>(&'a self, manifest: &'a StoredManifest) -> CopyFuture<'a, ()> {
        Box::pin(async move {
            self.image.put_manifest(manifest).await?;
            self.run.confirm(&manifest.descriptor.digest);
            Ok(())
        })
    }
}

impl BlobStore for PushSink {
    fn has_blob<'a>(&'a self, descriptor: &'a Descriptor) -> CopyFuture<'a, bool> {
        self.image.has_blob(descriptor)
    }

    fn blob_writer(&self, _: &dyn BlobInput) -> Box<dyn DynBlobWriter> {
        Box::new(PushWriter {
            run: Arc::clone(&self.run),
            inner: RemoteBlobWriter::new(
                self.run.repo.clone(),
                self.image.describe(),
                self.run.policy,
            ),
            diff_ids: Arc::clone(&self.diff_ids),
            location: self.image.describe(),
        })
    }
}

/// The engine's registry writer, adopting a declined mount's session and recording the blob
/// once it is in (for a layer compressed on the way: under the digest it turned out to have).
struct PushWriter {
    run: Arc<Target>,
    inner: RemoteBlobWriter,
    diff_ids: Arc<DiffIds>,
    location: String,
}

impl BlobWriter for PushWriter {
    async fn write(
        &mut self,
        input: &dyn BlobInput,
        progress: Progress<'_>,
    ) -> Result<Descriptor, CopyError> {
        let known = input.descriptor();
        if let Some(session) = known.and_then(|d| self.run.take_session(&d.digest)) {
            self.inner.adopt(session).await;
        }
        let blob = self.inner.write(input, progress).await?;
        let diff_id = match known {
            Some(known) => self.diff_ids.get(&known.digest),
            None => input.diff_id(),
        };
        if let Some(diff_id) = diff_id {
            self.diff_ids.insert(blob.digest.clone(), diff_id.clone());
            record_source(&self.run, &diff_id, &blob.digest, &self.location).await?;
        }
        self.run.confirm(&blob.digest);
        Ok(blob)
    }
}

/// docker's `TagAndAdd`: `digest` (of `diff_id`) is in the target repository, seen with the
/// run's credentials.
pub(crate) async fn record_source(
    run: &Arc<Target>,
    diff_id: &Digest,
    digest: &Digest,
    location: &str,
) -> Result<(), CopyError> {
    let source = BlobSource {
        digest: digest.clone(),
        repository: run.target.clone(),
        hmac: run.key.as_ref().and_then(|k| k.sign(digest, &run.target)),
    };
    let diff_id = diff_id.clone();
    metadata_call(run, "record a blob source", location, move |m| {
        m.add_blob_source(&diff_id, &source)
    })
    .await
}

/// Runs a metadata call on a blocking thread.
async fn metadata_call<T: Send + 'static>(
    run: &Arc<Target>,
    action: &str,
    location: &str,
    f: impl FnOnce(&MetadataStore) -> Result<T, MetadataError> + Send + 'static,
) -> Result<T, CopyError> {
    let metadata = Arc::clone(&run.metadata);
    blocking("the copy", move || f(&metadata))
        .await?
        .map_err(|source| CopyError::Metadata {
            location: location.to_owned(),
            action: action.to_owned(),
            source: Box::new(source),
        })
}

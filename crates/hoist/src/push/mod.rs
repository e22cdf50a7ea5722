//! Push: images from the local store to a registry, sending as few bytes as possible and never
//! leaving a manifest whose blobs are missing.
//!
//! Corresponds to docker 20.10's `distribution.Push` with `ImagePushConfig` ([`PushOptions`])
//! and `push_v2.go` (`pushV2Repository`, `pushV2Tag`, `v2PushDescriptor`). [`Pusher::push`]:
//!
//! 1. **Which tags** (`tags`): a tag pushes that tag, a bare name every local tag of the
//!    repository, a digest reference is refused; "An image does not exist locally with the
//!    tag: REF" when there is nothing.
//! 2. **Layers** (`layer`, run by the [`UploadManager`]: 5 at once, 5 attempts by default):
//!    each layer the cheapest way first — confirmed earlier in this run, known in the target
//!    repository and found by `HEAD`, mounted from another repository of the same registry
//!    (`candidates`: ranked and budgeted as docker does; `hmac`: docker's credentials HMAC),
//!    else uploaded from the content store byte for byte ([`crate::transfer::BlobSender`]).
//!    Layers stored uncompressed (docker-archive loads) are compressed while uploading with
//!    [`PushOptions::compression`] (gzip by default, on all cores, digest independent of the
//!    core count), or reuse the compressed blob an earlier push kept (`convert`).
//! 3. **Config, then manifest** (`manifest`): the stored manifest bytes under the tag, only if
//!    every blob they reference was confirmed; docker's line `TAG: digest: sha256:… size: N`.
//!    For an image whose layers were compressed, the stored manifest rewritten to reference
//!    the compressed blobs (OCI for zstd), recorded afterwards with a digest reference.
//!
//! Tags are pushed one after another (as docker does); a layer shared by several tags is sent
//! once and is "Layer already exists" afterwards.
//!
//! # Progress
//! `The push refers to repository [NAME]`, then per layer (named by the short id of its
//! diffID, as docker names push lines) `Preparing`, `Waiting`, `Pushing`, `Pushed`, `Layer
//! already exists`, `Mounted from R`, `Retrying in N seconds`, and the digest line per tag.
//!
//! # Invariants
//! - A manifest is `PUT` only after every blob it names was uploaded, mounted or found.
//! - Writes go to the registry itself, never a mirror; blob sources are recorded only for
//!   blobs confirmed in the target repository.
//! - A [`crate::store::Lease`] is held for the push, so gc leaves the blobs alone.
//!
//! 4. **A whole index** (`index`): when the tag's image was chosen from an index the store
//!    holds whole (`hoist pull --all-platforms`, see [`crate::copy::complete_index`]), every
//!    child image is pushed as above and its manifest `PUT` by digest, then the index's exact
//!    bytes under the tag; the digest line is the index's. An index the store holds partly (a
//!    plain pull) pushes the platform manifest alone.
//!
//! Not done yet (seams left): foreign layers are skipped (not uploaded) and not checked; a
//! whole index whose children have uncompressed layers (never the case for pulled indexes)
//! would be pushed with the rewritten children, which its bytes do not name. Push does not go
//! through [`crate::copy::copy`] (see that module's docs for why).

mod candidates;
mod convert;
mod error;
mod hmac;
mod index;
mod layer;
mod manifest;
mod sink;
mod source;
mod tags;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

pub use candidates::{mount_candidates, rank, Budget};
pub use error::PushError;
pub use hmac::{matches as hmac_matches, HmacKey};
pub use tags::{tags_to_push, TagToPush};

use crate::copy::{copy, CopyOptions, RegistryImage, StoreSource};
use crate::credentials::Credentials;
use crate::digest::Digest;
use crate::media::Descriptor;
use crate::progress::{ChannelProgress, ProgressEvent, ProgressSink};
use crate::pull::forward_until_done;
use crate::reference::{validate_repo_name, Reference, Repository};
use crate::registry::BlobUpload;
use crate::registry::{RegistryClient, RemoteRepository};
use crate::store::metadata::{ImageLayer, ImageRecord};
use crate::store::{ContentStore, MetadataError, MetadataStore};
use crate::transfer::{Compression, SendPolicy, UploadConfig, UploadManager};
use convert::{needs_compression, pushes_as_oci, rewrite_manifest};
use layer::LayerJob;
use manifest::{ConfigJob, ManifestJob};
use sink::PushSink;
use source::PushSource;

/// How to push: docker's `ImagePushConfig` (upload manager settings) plus the sizes that
/// decide how blobs are sent and the compression of uncompressed layers.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Push every tag of the name even if the reference has none (docker's `--all-tags`); a
    /// bare name does that anyway, this refuses a reference with a tag.
    pub all_tags: bool,
    /// Concurrency, attempts and backoff (docker's `max-concurrent-uploads`, default 5).
    pub upload: UploadConfig,
    /// Monolithic / streamed / chunked thresholds.
    pub send: SendPolicy,
    /// How layers stored uncompressed (docker-archive loads) are compressed for the registry:
    /// [`Compression::Gzip`] (default) or [`Compression::Zstd`] (the manifest becomes OCI);
    /// [`Compression::None`] pushes them uncompressed, as stored. Layers stored compressed are
    /// always sent as they are.
    pub compression: Compression,
    /// Threads compressing one layer; 0 (default) means every core. The compressed bytes do
    /// not depend on it.
    pub compression_workers: usize,
}

impl Default for PushOptions {
    fn default() -> PushOptions {
        PushOptions {
            all_tags: false,
            upload: UploadConfig::default(),
            send: SendPolicy::default(),
            compression: Compression::Gzip,
            compression_workers: 0,
        }
    }
}

/// What one [`Pusher::push`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// The repository pushed to.
    pub repository: Repository,
    /// One entry per tag pushed, in order.
    pub tags: Vec<PushedTag>,
}

/// One tag pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedTag {
    /// The tagged reference.
    pub reference: Reference,
    /// The manifest digest now in the registry under the tag.
    pub digest: Digest,
    /// The manifest's size in bytes.
    pub size: u64,
}

/// Pushes images from one local store: docker's `distribution.Push` with its `Config`.
pub struct Pusher {
    client: RegistryClient,
    content: ContentStore,
    metadata: Arc<MetadataStore>,
    options: PushOptions,
    uploads: UploadManager,
}

impl Pusher {
    /// A pusher reading `content` and `metadata` (the same root), with `options`.
    pub fn new(
        client: RegistryClient,
        content: ContentStore,
        metadata: MetadataStore,
        options: PushOptions,
    ) -> Pusher {
        let uploads = UploadManager::new(options.upload.clone());
        Pusher {
            client,
            content,
            metadata: Arc::new(metadata),
            options,
            uploads,
        }
    }

    /// The options in effect.
    pub fn options(&self) -> &PushOptions {
        &self.options
    }

    /// Pushes `reference` (see the module docs), sending docker's progress lines to
    /// `progress`.
    pub async fn push(
        &self,
        reference: &Reference,
        progress: &dyn ProgressSink,
    ) -> Result<PushOutcome, PushError> {
        validate_repo_name(reference.repository())?;
        let (sink, events) = ChannelProgress::new();
        let work = self.push_all(reference, Arc::new(sink));
        forward_until_done(work, events, progress).await
    }

    async fn push_all(
        &self,
        reference: &Reference,
        progress: Arc<dyn ProgressSink>,
    ) -> Result<PushOutcome, PushError> {
        let content = self.content.clone();
        let _lease = spawn_blocking(move || content.lease()).await??;
        let (metadata, wanted, all) = (
            Arc::clone(&self.metadata),
            reference.clone(),
            self.options.all_tags,
        );
        let tags = spawn_blocking(move || tags_to_push(&metadata, &wanted, all)).await??;
        let repository = reference.repository().clone();
        progress.emit(ProgressEvent::message(
            "",
            format!("The push refers to repository [{repository}]"),
        ));
        let run = Arc::new(self.target(&repository, progress).await?);
        let mut pushed = Vec::with_capacity(tags.len());
        for tag in tags {
            pushed.push(self.push_tag(&run, &tag).await?);
        }
        Ok(PushOutcome {
            repository,
            tags: pushed,
        })
    }

    async fn target(
        &self,
        repository: &Repository,
        progress: Arc<dyn ProgressSink>,
    ) -> Result<Target, PushError> {
        let credentials = self
            .client
            .credentials_for(repository.domain())
            .await
            .map_err(|e| PushError::registry("look up credentials", &repository.familiar(), e))?;
        Ok(Target {
            repo: self
                .client
                .repository(repository.domain(), repository.path()),
            target: repository.clone(),
            familiar: repository.familiar(),
            content: self.content.clone(),
            metadata: Arc::clone(&self.metadata),
            key: HmacKey::for_credentials(credentials.as_ref()),
            has_auth_info: has_auth_info(credentials.as_ref()),
            policy: self.options.send,
            compression: self.options.compression,
            compression_workers: match self.options.compression_workers {
                0 => crate::compress::default_workers(),
                n => n,
            },
            progress,
            confirmed: Mutex::new(HashSet::new()),
            checked: Mutex::new(HashSet::new()),
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// docker's `pushV2Tag` for one tag: the image, or the whole index it was chosen from
    /// when the store holds that index whole (`pull --all-platforms`; see `index`).
    async fn push_tag(&self, run: &Arc<Target>, tag: &TagToPush) -> Result<PushedTag, PushError> {
        let manifest_digest = tag.target.manifest_digest.clone();
        let record = self.record(run, &manifest_digest).await?;
        let tag_name = tag
            .reference
            .tag()
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| "latest".into());
        let whole = self.whole_index(&record).await?;
        let records = match &whole {
            Some(whole) => {
                let mut children = Vec::with_capacity(whole.children.len());
                for child in &whole.children {
                    children.push(self.record(run, &child.digest).await?);
                }
                children
            }
            None => vec![record.clone()],
        };
        let converting = records.iter().any(|r| {
            r.layers
                .iter()
                .any(|l| needs_compression(l, run.compression))
        });
        let (digest, size) = match whole {
            _ if !converting => {
                let root = match &whole {
                    Some(whole) => whole.descriptor.clone(),
                    None => Descriptor::new(
                        &record.manifest_media_type,
                        record.manifest_digest.clone(),
                        record.manifest_size,
                    ),
                };
                return self.push_copy(run, tag, &root, &records).await;
            }
            Some(whole) => self.push_index(run, &tag_name, whole).await?,
            None => self.push_image(run, &record, &tag_name).await?,
        };
        run.progress.emit(ProgressEvent::message(
            "",
            format!("{tag_name}: digest: {digest} size: {size}"),
        ));
        Ok(PushedTag {
            reference: tag.reference.clone(),
            digest,
            size,
        })
    }

    /// The tag's image (or whole index) `root` through the copy engine, with push's adapters
    /// (see [`sink`], [`source`]).
    async fn push_copy(
        &self,
        run: &Arc<Target>,
        tag: &TagToPush,
        root: &Descriptor,
        records: &[ImageRecord],
    ) -> Result<PushedTag, PushError> {
        let diff_ids: HashMap<Digest, Digest> = records
            .iter()
            .flat_map(|r| &r.layers)
            .map(|l| (l.digest.clone(), l.diff_id.clone()))
            .collect();
        let diff_ids = Arc::new(diff_ids);
        let source = PushSource::new(
            StoreSource::new(Arc::clone(&self.metadata), &tag.reference),
            Arc::clone(&diff_ids),
        );
        let image =
            RegistryImage::new(&self.client, &tag.reference).with_send_policy(self.options.send);
        let sink = PushSink::new(Arc::clone(run), image, diff_ids);
        let options = CopyOptions {
            platform: None,
            upload: self.options.upload.clone(),
        };
        let outcome = copy(&source, &sink, root, &options, &*run.progress)
            .await
            .map_err(|e| PushError::from_copy(e, &run.familiar))?;
        Ok(PushedTag {
            reference: tag.reference.clone(),
            digest: outcome.root.digest,
            size: outcome.root.size,
        })
    }

    /// The image record of `manifest_digest`.
    async fn record(
        &self,
        run: &Arc<Target>,
        manifest_digest: &Digest,
    ) -> Result<ImageRecord, PushError> {
        let key = manifest_digest.clone();
        run.blocking(move |m| m.image(&key))
            .await?
            .ok_or_else(|| PushError::BadImage {
                manifest: manifest_digest.clone(),
                reason: "no image record".into(),
            })
    }

    /// Layers, config, then the stored manifest `PUT` under `put_as` (a tag, or the digest
    /// for an index's child). Returns the manifest's digest and size.
    async fn push_image(
        &self,
        run: &Arc<Target>,
        record: &ImageRecord,
        put_as: &str,
    ) -> Result<(Digest, u64), PushError> {
        let layers = unique_layers(&record.layers);
        let content = self.content.clone();
        let digests: Vec<Digest> = layers.iter().map(|l| l.digest.clone()).collect();
        let stored: Vec<bool> = spawn_blocking(move || {
            digests
                .iter()
                .map(|d| content.has(d).unwrap_or(false))
                .collect()
        })
        .await?;
        let converting = record
            .layers
            .iter()
            .any(|l| needs_compression(l, run.compression));
        let oci = pushes_as_oci(&record.manifest_media_type, run.compression);
        let originals: Vec<Digest> = layers.iter().map(|l| l.digest.clone()).collect();
        let jobs: Vec<LayerJob> = layers
            .into_iter()
            .zip(stored)
            .map(|(layer, stored)| LayerJob::new(Arc::clone(run), layer, stored, oci))
            .collect();
        let pushed = self.uploads.run_all(jobs, &*run.progress).await?;

        let config_size = {
            let content = self.content.clone();
            let id = record.image_id.clone();
            spawn_blocking(move || content.size(&id)).await??
        };
        let config = ConfigJob::new(Arc::clone(run), record.image_id.clone(), config_size);
        self.uploads.run(config, &*run.progress).await?;

        let rewritten = if converting {
            let pushed: HashMap<Digest, ImageLayer> = originals.into_iter().zip(pushed).collect();
            Some(self.rewrite(record, pushed, oci).await?)
        } else {
            None
        };
        let manifest = rewritten.as_ref().unwrap_or(record);
        let job = ManifestJob::prepare(
            Arc::clone(run),
            put_as,
            &manifest.manifest_digest,
            &manifest.manifest_media_type,
        )
        .await?;
        let size = job.size();
        let digest = self.uploads.run(job, &*run.progress).await?;
        if let Some(rewritten) = rewritten {
            self.record_pushed(rewritten, &run.target).await?;
        }
        Ok((digest, size))
    }
}

impl Pusher {
    /// Writes the manifest of `record` rewritten for its compressed layers into the store and
    /// returns its (not yet recorded) image record.
    async fn rewrite(
        &self,
        record: &ImageRecord,
        pushed: HashMap<Digest, ImageLayer>,
        oci: bool,
    ) -> Result<ImageRecord, PushError> {
        let (content, record) = (self.content.clone(), record.clone());
        spawn_blocking(move || {
            let (body, new) = rewrite_manifest(&content, &record, &pushed, oci)?;
            content.write_blob(&new.manifest_digest, &body)?;
            Ok(new)
        })
        .await?
    }

    /// Records the rewritten image the registry now has, with the digest reference
    /// `NAME@DIGEST` (docker's `addDigestReference` after a push).
    async fn record_pushed(
        &self,
        record: ImageRecord,
        repository: &Repository,
    ) -> Result<(), PushError> {
        let metadata = Arc::clone(&self.metadata);
        let by_digest = Reference::new(
            repository.clone(),
            None,
            Some(record.manifest_digest.clone()),
        );
        spawn_blocking(move || -> Result<(), PushError> {
            metadata.put_image(&record)?;
            metadata.add_digest(&by_digest, &record.manifest_digest, true)?;
            Ok(())
        })
        .await?
    }
}

/// What every job of one push shares: docker's `v2Pusher` fields and `pushState`.
pub(crate) struct Target {
    pub(crate) repo: RemoteRepository,
    pub(crate) target: Repository,
    pub(crate) familiar: String,
    pub(crate) content: ContentStore,
    pub(crate) metadata: Arc<MetadataStore>,
    pub(crate) key: Option<HmacKey>,
    /// docker's `pushState.hasAuthInfo`: the push has credentials.
    pub(crate) has_auth_info: bool,
    pub(crate) policy: SendPolicy,
    /// The compression of layers stored uncompressed.
    pub(crate) compression: Compression,
    /// Threads compressing one layer (at least 1).
    pub(crate) compression_workers: usize,
    pub(crate) progress: Arc<dyn ProgressSink>,
    /// Blob digests confirmed present in the target repository during this push.
    confirmed: Mutex<HashSet<Digest>>,
    /// Blob digests whose existence was checked (docker's `checkedDigests`).
    checked: Mutex<HashSet<Digest>>,
    /// Upload sessions opened by declined mounts, for the blob's upload.
    sessions: Mutex<HashMap<Digest, BlobUpload>>,
}

impl Target {
    pub(crate) fn confirm(&self, digest: &Digest) {
        self.confirmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(digest.clone());
    }

    pub(crate) fn is_confirmed(&self, digest: &Digest) -> bool {
        self.confirmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(digest)
    }

    /// True the first time it is asked about `digest`: its existence check may go ahead.
    pub(crate) fn check_once(&self, digest: &Digest) -> bool {
        self.checked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(digest.clone())
    }

    /// Keeps the session a declined mount of `digest` opened (cancelling one kept before).
    pub(crate) async fn keep_session(&self, digest: &Digest, session: BlobUpload) {
        let old = self
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(digest.clone(), session);
        if let Some(old) = old {
            let _ = old.cancel().await;
        }
    }

    /// The session kept for `digest`, if any.
    pub(crate) fn take_session(&self, digest: &Digest) -> Option<BlobUpload> {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(digest)
    }

    /// Runs a metadata call on a blocking thread.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&MetadataStore) -> Result<T, MetadataError> + Send + 'static,
    ) -> Result<T, PushError> {
        let metadata = Arc::clone(&self.metadata);
        Ok(spawn_blocking(move || f(&metadata)).await??)
    }
}

fn has_auth_info(credentials: Option<&Credentials>) -> bool {
    match credentials {
        Some(Credentials::Basic { username, password }) => {
            !username.is_empty() && !password.is_empty()
        }
        Some(Credentials::IdentityToken { token, .. }) => !token.is_empty(),
        None => false,
    }
}

/// The layers with each blob once (a manifest may repeat a layer), in order.
fn unique_layers(layers: &[ImageLayer]) -> Vec<ImageLayer> {
    let mut seen = HashMap::new();
    layers
        .iter()
        .filter(|l| seen.insert(l.digest.clone(), ()).is_none())
        .cloned()
        .collect()
}

async fn spawn_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PushError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PushError::Task(e.to_string()))
}

//! Push: images from the local store to a registry, sending as few bytes as possible and never
//! leaving a manifest whose blobs are missing.
//!
//! Corresponds to docker 20.10's `distribution.Push` with `ImagePushConfig` ([`PushOptions`])
//! and `push_v2.go` (`pushV2Repository`, `pushV2Tag`, `v2PushDescriptor`). A push is the copy
//! engine ([`crate::copy::copy`]) from the store to the registry, with push's adapters for what
//! only docker's push knows. [`Pusher::push`]:
//!
//! 1. **Which tags** (`tags`): a tag pushes that tag, a bare name every local tag of the
//!    repository, a digest reference is refused; "An image does not exist locally with the
//!    tag: REF" when there is nothing. `The push refers to repository [NAME]`.
//! 2. **Per tag, the copy**: from `PushSource` (the store, layers named by their diffID as
//!    docker names push lines) to `PushSink` (the registry image `NAME:TAG`), through the
//!    engine's [`crate::transfer::Scheduler`] (5 at once, 5 attempts by default;
//!    `Preparing`, `Waiting`, `Retrying in N seconds`). Each layer the cheapest way first (`sink`): confirmed earlier
//!    in this run, known in the target repository and found by `HEAD` (`Layer already
//!    exists`), mounted from another repository of the same registry (`candidates`: ranked
//!    and budgeted as docker does; `hmac`: docker's credentials HMAC; `Mounted from R`), else
//!    the stored blob byte for byte (`Pushing`, `Pushed`). Then the config, then the stored
//!    manifest bytes under the tag, and docker's line `TAG: digest: sha256:… size: N`.
//! 3. **Uncompressed layers** (docker-archive loads) are compressed on the way with
//!    [`PushOptions::compression`] (the engine's [`CopyOptions::compression`]: gzip by
//!    default, on all cores, digest independent of the core count; zstd makes the manifest
//!    OCI) while they are uploaded (the engine's compression step), the compressed bytes kept in the store, or
//!    reuse the compressed blob an earlier push kept (`source`); the engine rewrites the
//!    manifest for them after every blob is in. Afterwards the rewritten image is recorded
//!    with a digest reference (`convert`).
//! 4. **A whole index**: when the tag was recorded with an index the store holds whole
//!    (`hoist pull --all-platforms`, or a tag of such an image; see
//!    [`crate::copy::tagged_index`]), the copy's root is the index: every child manifest `PUT`
//!    by digest, then the index's exact bytes under the tag; the digest line is the index's.
//!    An index the store holds partly (a plain pull), or one the image joined after the tag
//!    was recorded (another name's import of an index holding the same manifest), pushes the
//!    platform manifest alone.
//!
//! Tags are pushed one after another (as docker does); a layer shared by several tags is sent
//! once and is "Layer already exists" afterwards.
//!
//! # Invariants
//! - A manifest is `PUT` only after every blob it names was uploaded, mounted or found (the
//!   engine's order).
//! - Writes go to the registry itself, never a mirror; blob sources are recorded only for
//!   blobs confirmed in the target repository, with the credentials' HMAC, at most 50 per
//!   diffID (the metadata store's limit).
//! - A [`crate::store::Lease`] is held for the push, so gc leaves the blobs alone.
//!
//! Not done: foreign layers are skipped (not uploaded) and not checked, as the engine leaves
//! them. A whole index whose children have uncompressed layers (never the case for pulled
//! indexes) is pushed with its children and the index rewritten; only the children's images
//! are recorded afterwards, not the rewritten index.

mod candidates;
mod convert;
mod error;
mod hmac;
mod run;
mod sink;
mod source;
mod tags;

use std::sync::{Arc, Mutex};

pub use candidates::{mount_candidates, rank, Budget};
pub use error::PushError;
pub use hmac::{matches as hmac_matches, HmacKey};
pub use tags::{tags_to_push, TagToPush};

use crate::copy::{
    copy, tagged_index, CompleteIndex, CopyOptions, IndexCheckError, RegistryImage, StoreSource,
};
use crate::credentials::Credentials;
use crate::digest::Digest;
use crate::media::Descriptor;
use crate::progress::{forward_until_done, ChannelProgress, ProgressEvent, ProgressSink};
use crate::reference::{validate_repo_name, Reference, Repository};
use crate::registry::RegistryClient;
use crate::store::metadata::ImageRecord;
use crate::store::{ContentStore, MetadataStore};
use crate::transfer::{Compression, SendPolicy, TransferConfig};
use run::{DiffIds, Target};
use sink::PushSink;
use source::PushSource;

/// How to push: docker's `ImagePushConfig` (upload manager settings) plus the sizes that
/// decide how blobs are sent and the compression of uncompressed layers.
#[doc(alias = "ImagePushConfig")]
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Push every tag of the name even if the reference has none (docker's `--all-tags`); a
    /// bare name does that anyway, this refuses a reference with a tag.
    pub all_tags: bool,
    /// Concurrency, attempts and backoff (docker's `max-concurrent-uploads`, default 5).
    pub upload: TransferConfig,
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
    /// Carry the signatures the store holds for the manifests pushed (attached by tag,
    /// cosign's `sha256-HEX.sig`, as `hoist pull` or `hoist copy` stored them) to the
    /// registry, added to those there, as `podman push` copies an image's signatures; `true`
    /// by default, `false` with `--remove-signatures`.
    pub signatures: bool,
}

impl Default for PushOptions {
    fn default() -> PushOptions {
        PushOptions {
            all_tags: false,
            upload: TransferConfig::uploads(),
            send: SendPolicy::default(),
            compression: Compression::Gzip,
            compression_workers: 0,
            signatures: true,
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
    /// Every manifest pushed under the tag, children first, `digest` last (an index and its
    /// platforms' manifests; one manifest otherwise).
    pub manifests: Vec<Digest>,
}

/// Pushes images from one local store: docker's `distribution.Push` with its `Config`.
pub struct Pusher {
    client: RegistryClient,
    content: ContentStore,
    metadata: Arc<MetadataStore>,
    options: PushOptions,
}

impl Pusher {
    /// A pusher reading `content` and `metadata` (the same root), with `options`.
    pub fn new(
        client: RegistryClient,
        content: ContentStore,
        metadata: MetadataStore,
        options: PushOptions,
    ) -> Pusher {
        Pusher {
            client,
            content,
            metadata: Arc::new(metadata),
            options,
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
        let run = Arc::new(self.target(&repository).await?);
        let mut pushed = Vec::with_capacity(tags.len());
        for tag in tags {
            pushed.push(self.push_tag(&run, &tag, &*progress).await?);
        }
        Ok(PushOutcome {
            repository,
            tags: pushed,
        })
    }

    async fn target(&self, repository: &Repository) -> Result<Target, PushError> {
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
            content: self.content.clone(),
            metadata: Arc::clone(&self.metadata),
            key: HmacKey::for_credentials(credentials.as_ref()),
            has_auth_info: has_auth_info(credentials.as_ref()),
            policy: self.options.send,
            confirmed: Mutex::default(),
            checked: Mutex::default(),
            sessions: Mutex::default(),
        })
    }

    /// docker's `pushV2Tag` for one tag: the image, or the whole index it was chosen from
    /// when the store holds that index whole (`pull --all-platforms`) and this tag's
    /// repository was recorded as it ([`tagged_index`]), through the copy engine with push's
    /// adapters.
    async fn push_tag(
        &self,
        run: &Arc<Target>,
        tag: &TagToPush,
        progress: &dyn ProgressSink,
    ) -> Result<PushedTag, PushError> {
        let record = self.record(&tag.target.manifest_digest).await?;
        let (root, records) = match self.whole_index(&tag.reference).await? {
            Some(whole) => {
                let mut children = Vec::with_capacity(whole.children.len());
                for child in &whole.children {
                    children.push(self.record(&child.digest).await?);
                }
                (whole.descriptor, children)
            }
            None => {
                let root = Descriptor::new(
                    &record.manifest_media_type,
                    record.manifest_digest.clone(),
                    record.manifest_size,
                );
                (root, vec![record])
            }
        };
        let diff_ids = Arc::new(DiffIds::new(
            records
                .iter()
                .flat_map(|r| &r.layers)
                .map(|l| (l.digest.clone(), l.diff_id.clone()))
                .collect(),
        ));
        let source = PushSource::new(
            StoreSource::new(Arc::clone(&self.metadata), &tag.reference),
            Arc::clone(run),
            Arc::clone(&diff_ids),
        );
        let image =
            RegistryImage::new(&self.client, &tag.reference).with_send_policy(self.options.send);
        let sink = PushSink::new(Arc::clone(run), image, diff_ids);
        let options = CopyOptions {
            platform: None,
            upload: self.options.upload.clone(),
            compression: self.options.compression,
            // docker sends layers stored compressed as they are.
            recompress: false,
            compression_workers: self.options.compression_workers,
            without_digest_line: false,
            referrers: false,
            signatures: self.options.signatures,
            verify: None,
        };
        let outcome = copy(&source, &sink, &root, &options, progress)
            .await
            .map_err(|e| PushError::from_copy(e, &run.target.familiar()))?;
        if !outcome.rewritten.is_empty() {
            self.record_rewritten(&records, &outcome, &run.target)
                .await?;
        }
        Ok(PushedTag {
            reference: tag.reference.clone(),
            digest: outcome.root.digest,
            size: outcome.root.size,
            manifests: outcome.written,
        })
    }

    /// The image record of `manifest_digest`.
    async fn record(&self, manifest_digest: &Digest) -> Result<ImageRecord, PushError> {
        let (metadata, key) = (Arc::clone(&self.metadata), manifest_digest.clone());
        spawn_blocking(move || metadata.image(&key))
            .await??
            .ok_or_else(|| PushError::BadImage {
                manifest: manifest_digest.clone(),
                reason: "no image record".into(),
            })
    }

    /// The index to push for `reference`, see [`tagged_index`].
    async fn whole_index(&self, reference: &Reference) -> Result<Option<CompleteIndex>, PushError> {
        let (metadata, reference) = (Arc::clone(&self.metadata), reference.clone());
        spawn_blocking(move || tagged_index(&metadata, &reference))
            .await?
            .map_err(|e| match e {
                IndexCheckError::Store(e) => PushError::Store(e),
                IndexCheckError::Metadata(e) => PushError::Metadata(e),
            })
    }
}

/// docker's `pushState.hasAuthInfo`: credentials with something in them.
fn has_auth_info(credentials: Option<&Credentials>) -> bool {
    match credentials {
        Some(Credentials::Basic { username, password }) => {
            !username.is_empty() && !password.is_empty()
        }
        Some(Credentials::IdentityToken { token, .. }) => !token.is_empty(),
        None => false,
    }
}

async fn spawn_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PushError> {
    Ok(crate::transfer::blocking("the push", f).await?)
}

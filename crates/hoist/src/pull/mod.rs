//! Pull: an image from a registry into the local store, verified, with docker's progress lines.
//!
//! Corresponds to docker 20.10's `distribution.Pull` with `ImagePullConfig` ([`PullOptions`])
//! and `pull_v2.go` (`pullV2Repository`, `pullV2Tag`, `pullSchema2`, `pullManifestList`,
//! `pullSchema1`, `writeStatus`). [`Puller::pull`] does, for each tag (or the digest) asked:
//!
//! 1. **Resolve** (`resolve`): a digest reference is used as is; a tag is resolved with HEAD,
//!    falling back to GET when HEAD fails or gives no `Docker-Content-Digest`. Registry
//!    answers are retried while retryable (5xx, 429 with `Retry-After`), then worded by
//!    `TranslatePullError`.
//!    With [`PullOptions::verifier`] (`--policy`), the image is then judged
//!    ([`crate::trust`]) before any manifest is stored or layer fetched: the manifest the
//!    tag names when it is an image manifest; from an index, the platform manifest chosen
//!    (every platform's with `--all-platforms`), never the index itself — as
//!    containers/image judges each single image it copies.
//! 2. **Fetch by digest** (`resolve`): the manifest is read from the store when it is there,
//!    else fetched by digest (the registry client verifies it) and stored. An index / manifest
//!    list is stored too, the platform chosen (`PullOptions::platform`, default the host's;
//!    docker's `filterManifests` with arm variant fallback), and the chosen manifest fetched
//!    the same way. Schema 1 prints docker's deprecation warning and is refused when
//!    [`PullOptions::require_schema2`].
//! 3. **Up to date?** (`image`): when the image manifest is already recorded and every blob
//!    it names is in the store, nothing is downloaded (docker's `ImageStore.Get(config)`
//!    shortcut).
//! 4. **Copy** (`image`, `engine`): the image manifest is copied from the registry into the
//!    store by the one copy engine ([`crate::copy::copy`]) into a [`crate::copy::StoreSink`]:
//!    the layers, then the config, through the engine's scheduler (docker's 3 concurrent
//!    downloads by default, [`PullOptions::download`]; retries with backoff; `Range`
//!    resumption; "Already exists" for stored blobs), each layer streamed in one pass (fetch →
//!    sha256 → decompress → diffID → untar). The layers' diffIDs are compared with the
//!    config's `rootfs.diff_ids` ("layers from manifest don't match image configuration").
//!    Without unpacking (`--no-unpack`) a layer is stored and verified by its digest without
//!    being decompressed, and the config's diffIDs are recorded: the layer store and export
//!    check them when they decompress the blob (containerd's order; docker always unpacks).
//! 5. **Record** (`record`): the image record (image ID = config digest, by the store sink
//!    with the same code a `hoist copy … hoist:` uses), then the digest reference
//!    `NAME@DIGEST` (the digest printed, the index's for an index) and, for a tag, the tag
//!    (moved with force, as docker's `AddTag(ref, id, true)`); every layer's source repository
//!    (docker's `V2MetadataService.Add`) for later cross-repository mounts.
//!
//! 6. **All platforms** (`platforms`, with [`PullOptions::all_platforms`]): from an index,
//!    every other platform's image is pulled and recorded too, each with a digest reference
//!    `NAME@CHILD` (so gc keeps it), which makes the index whole in the store: `push` then
//!    sends every platform and the index's exact bytes.
//!
//! # Progress
//! docker's lines, as [`ProgressEvent`]s: `TAG: Pulling from NAME`, the per-layer statuses the
//! copy engine emits in the store sink's pull words (`Pulling fs layer`, `Waiting`,
//! `Downloading`, `Verifying Checksum`, `Download complete`, `Pull complete`, `Already
//! exists`, `Retrying in N seconds`), `Digest: D`, and once per call `Status: Downloaded newer
//! image for REF` (a tag or digest reference that now points at another image) or `Status:
//! Image is up to date for REF`. Events reach the caller's sink from the task that called
//! [`Puller::pull`], in order. A `hoist copy docker://R/x hoist:R/x` prints the same per-layer
//! lines.
//!
//! # Layers
//! With [`PullOptions::layers`], each layer is unpacked while it downloads and staged in the
//! layer store; when the image is recorded, [`LayerStore::register_image`] publishes the
//! layers by chain ID (unpacking from the stored blob whatever was not streamed) and makes
//! the image hold them; an image already pulled gets its missing layers the same way. "Pull
//! complete" follows the unpack. Without it only blobs are stored, or the decompressed
//! streams go to [`PullOptions::layer_sink`].
//!
//! # Invariants
//! - A [`crate::store::Lease`] is held for the whole pull, so gc cannot delete blobs committed
//!   but not yet referenced.
//! - Nothing is recorded (image, references, sources) unless every blob verified and the
//!   diffIDs match.
//!
//! Deviations from docker: foreign / non-distributable layers with `urls` are not fetched
//! (the copy walk leaves them, as `docker push` does), so an image naming one fails when it is
//! recorded (its diffIDs cannot be checked); the image size recorded is the sum of the
//! compressed layer sizes. Concurrent pulls on one `Puller` each schedule their
//! own downloads; a blob two of them need is still fetched once (the store's per-blob ingest
//! lock makes the second find it stored).

mod engine;
mod error;
mod image;
mod platforms;
mod record;
mod resolve;

use std::sync::Arc;

pub use error::PullError;

use crate::digest::Digest;
use crate::media::types::IMAGE_CONFIG_TYPES;
use crate::media::{ManifestOptions, Platform};
use crate::progress::{forward_until_done, ChannelProgress, ProgressEvent, ProgressSink};
use crate::reference::{validate_repo_name, Reference, Tag};
use crate::registry::{RegistryClient, RemoteRepository};
use crate::store::LayerStore;
use crate::store::{ContentStore, MetadataStore};
use crate::transfer::{LayerSinkFactory, RangeFetch, Scheduler, TransferConfig};
use crate::trust::ImageVerifier;

/// How to pull: docker's `ImagePullConfig` (platform, accepted config media types, download
/// manager settings) and `Config.RequireSchema2`.
#[doc(alias = "ImagePullConfig")]
#[derive(Clone)]
pub struct PullOptions {
    /// The platform to choose from an index; `None` means the host's ([`Platform::host`]).
    pub platform: Option<Platform>,
    /// Pull every tag of a name-only reference (`docker pull --all-tags`).
    pub all_tags: bool,
    /// From an index, pull every platform's image, not only the chosen one, so the store
    /// holds the index whole and a push sends it whole (`hoist pull --all-platforms`; see
    /// `platforms`). The tag still points at the `PullOptions::platform` image.
    pub all_platforms: bool,
    /// Refuse schema 1 manifests (docker's `RequireSchema2`).
    pub require_schema2: bool,
    /// Config media types accepted (docker's `ImageTypes` by default).
    pub accepted_config_types: Vec<String>,
    /// Concurrency, attempts and backoff of the downloads (also used to retry manifest reads).
    pub download: TransferConfig,
    /// When a big layer is fetched as several `Range` requests on several connections
    /// (containerd 2.1's `concurrent_layer_fetch_buffer`; default: layers of 64 MiB and more,
    /// 16 MiB parts, 4 connections, once their first 8 MiB as one stream showed the link,
    /// not hoist, to be the bottleneck).
    pub range_fetch: RangeFetch,
    /// The layer store layers are unpacked into while they download (docker's
    /// `RootFSDownloadManager`); `None` pulls content only (`hoist pull --no-unpack`).
    pub layers: Option<LayerStore>,
    /// Any other receiver of every layer's decompressed stream; used only when `layers` is
    /// `None`.
    pub layer_sink: Option<Arc<dyn LayerSinkFactory>>,
    /// Judges each image manifest pulled (not an index) by its digest before anything is
    /// stored (`hoist pull --policy`, see [`crate::trust`]); `None` accepts every image.
    pub verifier: Option<Arc<dyn ImageVerifier>>,
    /// Store the signatures attached by tag (cosign's `sha256-HEX.sig`) to each manifest
    /// pulled — the platform's and the index it was chosen from — in the store's layout
    /// (`copy::layout_signatures`), so `hoist push` and `hoist copy` carry them on, as
    /// podman stores them on pull. `false` by default; `hoist pull` sets it where sigstore
    /// attachments are enabled for the image (`use-sigstore-attachments` in registries.d,
    /// `sigstore_attachments` in hoist's config: the switch verification reads them by).
    pub signatures: bool,
}

impl Default for PullOptions {
    fn default() -> PullOptions {
        PullOptions {
            platform: None,
            all_tags: false,
            all_platforms: false,
            require_schema2: false,
            accepted_config_types: IMAGE_CONFIG_TYPES.iter().map(|t| t.to_string()).collect(),
            download: TransferConfig::downloads(),
            range_fetch: RangeFetch::default(),
            layers: None,
            layer_sink: None,
            verifier: None,
            signatures: false,
        }
    }
}

impl std::fmt::Debug for PullOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullOptions")
            .field("platform", &self.platform)
            .field("all_tags", &self.all_tags)
            .field("all_platforms", &self.all_platforms)
            .field("require_schema2", &self.require_schema2)
            .field("accepted_config_types", &self.accepted_config_types)
            .field("download", &self.download)
            .field("range_fetch", &self.range_fetch)
            .field("layers", &self.layers.is_some())
            .field("layer_sink", &self.layer_sink.is_some())
            .field("verifier", &self.verifier.is_some())
            .field("signatures", &self.signatures)
            .finish()
    }
}

impl PullOptions {
    fn manifest_options(&self) -> ManifestOptions {
        ManifestOptions {
            accepted_config_types: self.accepted_config_types.clone(),
            require_schema2: self.require_schema2,
        }
    }

    fn platform(&self) -> Platform {
        self.platform.clone().unwrap_or_else(Platform::host)
    }
}

/// What one [`Puller::pull`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullOutcome {
    /// The reference as docker's CLI prints it at the end (canonical: a tag reference gets
    /// `:latest` unless every tag was pulled).
    pub reference: Reference,
    /// One entry per tag (or the digest) pulled, in order.
    pub images: Vec<PulledImage>,
    /// Some reference now points at an image it did not point at before ("Downloaded newer
    /// image"); false means "Image is up to date".
    pub updated: bool,
}

/// One image pulled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledImage {
    /// The tag or digest reference pulled (canonical).
    pub reference: Reference,
    /// The digest docker prints (`Digest: …`): the index's when the tag names an index.
    pub digest: Digest,
    /// The image manifest's digest (the image record's key).
    pub manifest_digest: Digest,
    /// The image ID (the config's digest).
    pub image_id: Digest,
    /// The image's platform (from its config).
    pub platform: Platform,
    /// The reference moved or was created by this pull.
    pub updated: bool,
    /// Blobs were fetched from the registry (false when everything was already stored).
    pub downloaded: bool,
}

/// Pulls images into one local store: docker's `distribution.Pull` with its `Config`. Cheap
/// to share by reference; pulls may run concurrently on one `Puller`, sharing its download
/// slots (a blob two pulls need is fetched once: the store's per-blob lock makes the second
/// find it stored).
pub struct Puller {
    client: RegistryClient,
    content: ContentStore,
    metadata: Arc<MetadataStore>,
    options: PullOptions,
    /// The download slots every pull of this puller shares ([`PullOptions::download`]):
    /// docker's one `LayerDownloadManager` per daemon. `--all-platforms` pulls its platforms
    /// at once through them.
    downloads: Scheduler,
}

impl Puller {
    /// A puller writing into `content` and `metadata` (which must be the same root), with
    /// `options`. Blobs already in the store have their diffIDs looked up in `metadata`
    /// rather than re-read.
    pub fn new(
        client: RegistryClient,
        content: ContentStore,
        metadata: MetadataStore,
        options: PullOptions,
    ) -> Puller {
        Puller {
            client,
            content,
            metadata: Arc::new(metadata),
            downloads: Scheduler::new(options.download.clone()),
            options,
        }
    }

    /// The options in effect.
    pub fn options(&self) -> &PullOptions {
        &self.options
    }

    /// The metadata store images are recorded in.
    pub fn metadata(&self) -> &MetadataStore {
        &self.metadata
    }

    /// Pulls `reference` (see the module doc), sending docker's progress lines to `progress`.
    /// A name-only reference means `:latest`, or every tag with [`PullOptions::all_tags`].
    pub async fn pull(
        &self,
        reference: &Reference,
        progress: &dyn ProgressSink,
    ) -> Result<PullOutcome, PullError> {
        validate_repo_name(reference.repository())?;
        let (sink, events) = ChannelProgress::new();
        let work = self.pull_all(reference, Arc::new(sink));
        forward_until_done(work, events, progress).await
    }

    async fn pull_all(
        &self,
        reference: &Reference,
        progress: Arc<dyn ProgressSink>,
    ) -> Result<PullOutcome, PullError> {
        let content = self.content.clone();
        let _lease = self.blocking(move || content.lease()).await??;
        let repo = Arc::new(self.client.repository(
            reference.repository().domain(),
            reference.repository().path(),
        ));
        let (requested, targets) = self.targets(reference, &repo).await?;
        let mut images = Vec::with_capacity(targets.len());
        for target in &targets {
            images.push(self.pull_one(&repo, target, &progress).await?);
        }
        let updated = images.iter().any(|i| i.updated);
        // docker's writeStatus, with the familiar form of what was asked for.
        let status = if updated {
            "Status: Downloaded newer image for "
        } else {
            "Status: Image is up to date for "
        };
        progress.emit(ProgressEvent::message(
            "",
            format!("{status}{}", requested.familiar()),
        ));
        Ok(PullOutcome {
            reference: requested,
            images,
            updated,
        })
    }

    /// The reference as requested (normalised the way docker's CLI does) and the references
    /// to pull: the digest, the tag, or every tag of the repository.
    async fn targets(
        &self,
        reference: &Reference,
        repo: &RemoteRepository,
    ) -> Result<(Reference, Vec<Reference>), PullError> {
        if !self.options.all_tags {
            let requested = reference.clone().with_default_tag();
            let target = match requested.digest() {
                // A tag beside a digest says nothing the digest does not: pull by digest.
                Some(digest) => {
                    Reference::new(requested.repository().clone(), None, Some(digest.clone()))
                }
                None => requested.clone(),
            };
            return Ok((requested, vec![target]));
        }
        if !reference.is_name_only() {
            return Err(PullError::AllTagsWithTag {
                reference: reference.familiar(),
            });
        }
        let tags = self
            .with_retries(|| repo.tags(None))
            .await
            .map_err(|e| PullError::registry(crate::error::translate_pull_error(e, reference)))?;
        let mut targets = Vec::with_capacity(tags.len());
        for tag in tags {
            // A registry listing a tag that is not a valid tag cannot be pulled by it.
            match Tag::parse(&tag) {
                Ok(tag) => targets.push(reference.with_tag(tag)),
                Err(e) => tracing::warn!(%tag, error = %e, "skipping a tag the registry listed"),
            }
        }
        Ok((reference.clone(), targets))
    }

    /// Runs blocking store work on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PullError> {
        Ok(crate::transfer::blocking("the pull", f).await?)
    }
}

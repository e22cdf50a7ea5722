//! Pulling one tag or digest: the manifest walk (index ⇒ platform manifest), the "already
//! here" shortcut, the concurrent config + layer downloads and the diffID check.
//!
//! docker 20.10's `pullV2Tag`, `pullManifestList`, `pullSchema2` (with
//! `ImageStore.Get(config)` short-circuiting a pull of an image already present),
//! `pullSchema2Layers` (config fetched in a goroutine while the download manager fetches the
//! layers, then `errRootFSMismatch` when the diffIDs differ) and `pullSchema1` (layers first,
//! then the config built from the diffIDs).

use std::sync::Arc;

use futures_util::future::{try_join, try_join_all};

use super::record::ImageResult;
use super::{PullError, PulledImage, Puller};
use crate::digest::Digest;
use crate::media::schema1::{deprecation_warning, manifest_list_deprecation_notice};
use crate::media::types::{DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST_V2};
use crate::media::{
    Descriptor, ImageConfig, ImageManifest, Manifest, PlatformMatcher, Schema1Manifest,
    MAX_CONFIG_SIZE,
};
use crate::progress::{ProgressEvent, ProgressSink, Status};
use crate::reference::Reference;
use crate::registry::RemoteRepository;
use crate::store::metadata::{ImageLayer, ImageRecord};
use crate::store::LayerStore;
use crate::transfer::{BlobDownload, BlobRequest, Compression};

/// Indexes nested deeper than this are refused (an index naming itself would loop).
const MAX_INDEX_DEPTH: usize = 4;

/// Where the manifest being pulled came from.
pub(super) struct Origin<'a> {
    pub(super) repo: &'a Arc<RemoteRepository>,
    pub(super) target: &'a Reference,
    /// The digest of the index the manifest was chosen from, if any.
    pub(super) index_digest: Option<Digest>,
}

impl Puller {
    /// Pulls `target` (a tag or digest reference) and records it.
    pub(super) async fn pull_one(
        &self,
        repo: &Arc<RemoteRepository>,
        target: &Reference,
        progress: &Arc<dyn ProgressSink>,
    ) -> Result<PulledImage, PullError> {
        let (digest, prefetched) = self.resolve(repo, target).await?;
        let tag_or_digest = match target.tag() {
            Some(tag) => tag.as_str().to_owned(),
            None => digest.to_string(),
        };
        progress.emit(ProgressEvent::message(
            tag_or_digest,
            format!("Pulling from {}", target.repository().familiar()),
        ));
        let mut read = self
            .read_manifest(repo, &digest, prefetched, target)
            .await?;
        let mut manifest_digest = digest.clone();
        let mut depth = 0;
        let result = loop {
            let origin = Origin {
                repo,
                target,
                index_digest: (depth > 0).then(|| digest.clone()),
            };
            match read.manifest {
                Manifest::Index(index) => {
                    depth += 1;
                    if depth > MAX_INDEX_DEPTH {
                        return Err(PullError::IndexTooDeep {
                            reference: target.to_string(),
                            limit: MAX_INDEX_DEPTH,
                        });
                    }
                    let matcher = PlatformMatcher::new(&self.options.platform());
                    let chosen = matcher.select(&index.manifests)?;
                    // Never empty: `select` fails instead. Docker takes the best match.
                    let Some(first) = chosen.first() else {
                        return Err(crate::media::NoMatchingManifest::new(
                            matcher.requested(),
                            &index.manifests,
                        )
                        .into());
                    };
                    manifest_digest = first.digest.clone();
                    if self.options.all_platforms && depth == 1 {
                        let others: Vec<Descriptor> = index
                            .manifests
                            .iter()
                            .filter(|d| d.digest != manifest_digest)
                            .cloned()
                            .collect();
                        self.pull_other_platforms(
                            &origin_of(repo, target, &digest),
                            &others,
                            progress,
                        )
                        .await?;
                    }
                    read = self
                        .read_manifest(repo, &manifest_digest, None, target)
                        .await?;
                }
                Manifest::Image(image) => {
                    let size = read.bytes.len() as u64;
                    break self
                        .pull_image(&origin, &manifest_digest, image, size, progress)
                        .await?;
                }
                Manifest::Schema1(schema1) => {
                    let text = if depth > 0 {
                        manifest_list_deprecation_notice(&target.familiar())
                    } else {
                        deprecation_warning(&target.familiar())
                    };
                    // Shown once, as a progress message (docker's place for it), not logged.
                    progress.emit(ProgressEvent::message("", text));
                    break self.pull_schema1(&origin, &schema1, progress).await?;
                }
            }
        };
        progress.emit(ProgressEvent::message("", format!("Digest: {digest}")));
        let updated = self.record_references(target, &digest, &result).await?;
        Ok(PulledImage {
            reference: target.clone(),
            digest,
            manifest_digest: result.manifest_digest,
            image_id: result.image_id,
            platform: result.platform,
            updated,
            downloaded: result.downloaded,
        })
    }

    /// An OCI or Docker schema 2 image manifest: reuse, or download config and layers.
    pub(super) async fn pull_image(
        &self,
        origin: &Origin<'_>,
        manifest_digest: &Digest,
        manifest: ImageManifest,
        manifest_size: u64,
        progress: &Arc<dyn ProgressSink>,
    ) -> Result<ImageResult, PullError> {
        if let Some(done) = self.already_pulled(manifest_digest).await? {
            return Ok(done);
        }
        let layers: Vec<(Descriptor, Compression)> = manifest
            .classified_layers()
            .map(|(d, t)| (d.clone(), Compression::from(t.compression)))
            .collect();
        let _staged = StagedLayers::new(&self.options.layers, &layers);
        let config = self.download_config(origin.repo, &manifest.config);
        let downloads = self.download_layers(origin.repo, &layers, self.unpacks(), progress);
        let ((config, config_bytes), downloads) = try_join(config, downloads).await?;
        let image = ImageConfig::parse(&config_bytes).map_err(|source| PullError::Config {
            digest: config.digest.clone(),
            source,
        })?;
        let diff_ids = check_diff_ids(image.diff_ids(), &downloads)?;
        let record = ImageRecord {
            image_id: config.digest.clone(),
            manifest_digest: manifest_digest.clone(),
            manifest_media_type: manifest
                .media_type
                .clone()
                .unwrap_or_else(|| manifest.kind().media_type().to_owned()),
            manifest_size,
            index_digest: origin.index_digest.clone(),
            platform: store_platform(&image.platform()),
            size: downloads.iter().map(|d| d.size).sum(),
            created: image.created.clone(),
            layers: layers
                .iter()
                .zip(diff_ids)
                .map(|((d, _), diff_id)| ImageLayer {
                    diff_id,
                    digest: d.digest.clone(),
                    size: d.size,
                    media_type: d.media_type.clone(),
                })
                .collect(),
        };
        self.record_image(origin.target, record, image.platform())
            .await
    }

    /// A schema 1 manifest: layers first, then the config docker would build from their
    /// diffIDs, stored with a Docker schema 2 manifest made for it (the form the store and a
    /// later push use). The digest reference keeps the schema 1 digest.
    async fn pull_schema1(
        &self,
        origin: &Origin<'_>,
        schema1: &Schema1Manifest,
        progress: &Arc<dyn ProgressSink>,
    ) -> Result<ImageResult, PullError> {
        let image = schema1.to_image()?;
        let layers: Vec<(Descriptor, Compression)> = image
            .layers
            .iter()
            .map(|d| {
                // Size unknown: schema 1 does not say.
                let descriptor = Descriptor::new(DOCKER_LAYER_GZIP, d.clone(), 0);
                (
                    descriptor,
                    Compression::from(crate::media::Schema1Image::LAYER_COMPRESSION),
                )
            })
            .collect();
        let _staged = StagedLayers::new(&self.options.layers, &layers);
        let downloads = self
            .download_layers(origin.repo, &layers, true, progress)
            .await?;
        let diff_ids = computed_diff_ids(&downloads)?;
        let config_bytes = image.config_json(&diff_ids)?;
        let config_digest = Digest::sha256_of(&config_bytes);
        let layer_json: Vec<serde_json::Value> = downloads
            .iter()
            .map(|d| {
                serde_json::json!({
                    "mediaType": DOCKER_LAYER_GZIP,
                    "digest": d.digest.to_string(),
                    "size": d.size,
                })
            })
            .collect();
        let converted = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST_V2,
            "config": {
                "mediaType": DOCKER_CONFIG,
                "digest": config_digest.to_string(),
                "size": config_bytes.len(),
            },
            "layers": layer_json,
        });
        let manifest_bytes =
            serde_json::to_vec(&converted).map_err(|e| PullError::Interrupted {
                reason: format!("cannot serialise the converted schema 1 manifest: {e}"),
            })?;
        let manifest_digest = Digest::sha256_of(&manifest_bytes);
        let content = self.content.clone();
        let (cd, md) = (config_digest.clone(), manifest_digest.clone());
        let manifest_size = manifest_bytes.len() as u64;
        self.blocking(move || {
            content.write_blob(&cd, &config_bytes)?;
            content.write_blob(&md, &manifest_bytes)
        })
        .await??;
        let record = ImageRecord {
            image_id: config_digest,
            manifest_digest,
            manifest_media_type: DOCKER_MANIFEST_V2.to_owned(),
            manifest_size,
            index_digest: origin.index_digest.clone(),
            platform: store_platform(&image.platform),
            size: downloads.iter().map(|d| d.size).sum(),
            created: None,
            layers: downloads
                .iter()
                .zip(diff_ids)
                .map(|(d, diff_id)| ImageLayer {
                    diff_id,
                    digest: d.digest.clone(),
                    size: d.size,
                    media_type: DOCKER_LAYER_GZIP.to_owned(),
                })
                .collect(),
        };
        self.record_image(origin.target, record, image.platform.clone())
            .await
    }

    /// The config blob (fetched like a layer, without a progress line) and its bytes.
    async fn download_config(
        &self,
        repo: &Arc<RemoteRepository>,
        config: &Descriptor,
    ) -> Result<(BlobDownload, Vec<u8>), PullError> {
        let request = BlobRequest::new(config.digest.clone()).with_size(config.size);
        let download = self.manager.download(Arc::clone(repo), request).await?;
        let content = self.content.clone();
        let digest = config.digest.clone();
        let bytes = self
            .blocking(move || content.read_to_vec_capped(&digest, MAX_CONFIG_SIZE as u64))
            .await??;
        Ok((download, bytes))
    }

    /// Whether layers are unpacked (or streamed to a sink) as they download. When not, their
    /// diffIDs are not computed (decompressing only to hash would be most of the work of
    /// `pull --no-unpack`): the config's are recorded, and the layer store and export verify
    /// them when they decompress the blobs, as containerd checks diffIDs at unpack time.
    fn unpacks(&self) -> bool {
        self.options.layers.is_some() || self.options.layer_sink.is_some()
    }

    /// Every layer at once through the download manager (which limits, deduplicates,
    /// retries and resumes), "Pull complete" as each one is stored. `diff_ids`: compute every
    /// layer's diffID even when nothing unpacks it.
    async fn download_layers(
        &self,
        repo: &Arc<RemoteRepository>,
        layers: &[(Descriptor, Compression)],
        diff_ids: bool,
        progress: &Arc<dyn ProgressSink>,
    ) -> Result<Vec<BlobDownload>, PullError> {
        let needs_unpack = match &self.options.layers {
            Some(store) => {
                let store = store.clone();
                let blobs: Vec<Digest> = layers.iter().map(|(d, _)| d.digest.clone()).collect();
                self.blocking(move || store.needs_unpack(&blobs)).await??
            }
            None => vec![false; layers.len()],
        };
        let downloads =
            layers
                .iter()
                .zip(needs_unpack)
                .map(|((descriptor, compression), unpack)| {
                    let mut request = BlobRequest::new(descriptor.digest.clone())
                        .with_compression(*compression)
                        .with_progress(Arc::clone(progress));
                    if descriptor.size > 0 {
                        request = request.with_size(descriptor.size);
                    }
                    if !diff_ids {
                        request = request.without_diff_id();
                    }
                    match (&self.options.layers, &self.options.layer_sink) {
                        (Some(layers), _) if unpack => {
                            request = request.with_sink(Arc::new(layers.clone()));
                        }
                        (None, Some(sink)) => request = request.with_sink(Arc::clone(sink)),
                        _ => {}
                    }
                    let progress = Arc::clone(progress);
                    async move {
                        let done = self.manager.download(Arc::clone(repo), request).await?;
                        if !done.already_present {
                            progress.emit(ProgressEvent::new(&done.digest, Status::PullComplete));
                        }
                        Ok::<_, PullError>(done)
                    }
                });
        try_join_all(downloads).await
    }
}

/// Drops what the layer sinks staged for an image's blobs and its registration did not use
/// (the pull failed before, or the blob is shared with a layer of another chain).
struct StagedLayers {
    store: Option<LayerStore>,
    blobs: Vec<Digest>,
}

impl StagedLayers {
    fn new(store: &Option<LayerStore>, layers: &[(Descriptor, Compression)]) -> StagedLayers {
        StagedLayers {
            store: store.clone(),
            blobs: layers.iter().map(|(d, _)| d.digest.clone()).collect(),
        }
    }
}

impl Drop for StagedLayers {
    fn drop(&mut self) {
        if let Some(store) = &self.store {
            store.discard_staged(&self.blobs);
        }
    }
}

/// The origin of a manifest chosen from the index `index` of `repo`.
fn origin_of<'a>(
    repo: &'a Arc<RemoteRepository>,
    target: &'a Reference,
    index: &Digest,
) -> Origin<'a> {
    Origin {
        repo,
        target,
        index_digest: Some(index.clone()),
    }
}

/// docker's `errRootFSMismatch` check: the same number of layers, the same diffIDs in order;
/// returns the diffIDs to record. A layer whose diffID was not computed (see
/// `Puller::unpacks`) takes the config's.
fn check_diff_ids(
    expected: &[Digest],
    downloads: &[BlobDownload],
) -> Result<Vec<Digest>, PullError> {
    let actual: Vec<Option<Digest>> = downloads.iter().map(|d| d.diff_id.clone()).collect();
    let matches = actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(got, want)| got.as_ref().is_none_or(|got| got == want));
    if !matches {
        return Err(PullError::LayersDontMatchConfig {
            expected: expected.to_vec(),
            actual,
        });
    }
    Ok(expected.to_vec())
}

/// The diffIDs of layers downloaded with `diff_ids` asked for (schema 1, whose config is
/// built from them).
fn computed_diff_ids(downloads: &[BlobDownload]) -> Result<Vec<Digest>, PullError> {
    downloads
        .iter()
        .map(|d| {
            d.diff_id.clone().ok_or_else(|| PullError::Interrupted {
                reason: format!("the diffID of layer {} was not computed", d.digest),
            })
        })
        .collect()
}

/// The recorded form of a config's platform.
pub(crate) fn store_platform(p: &crate::media::Platform) -> crate::store::metadata::Platform {
    crate::store::metadata::Platform {
        os: p.os.clone(),
        architecture: p.architecture.clone(),
        variant: p.variant.clone(),
    }
}

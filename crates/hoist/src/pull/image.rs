//! Pulling one tag or digest: the manifest walk (index ⇒ platform manifest: the one
//! [`Walker`] narrowed to the platform), the "already here" shortcut, then the image copied
//! into the store by the copy engine (`engine`), or, for schema 1, its layers copied and its
//! config built from their diffIDs.
//!
//! docker 20.10's `pullV2Tag`, `pullManifestList`, `pullSchema2` (with
//! `ImageStore.Get(config)` short-circuiting a pull of an image already present),
//! `pullSchema2Layers` (config and layers downloaded, then `errRootFSMismatch` when the
//! diffIDs differ: checked by the store sink's recording) and `pullSchema1` (layers first,
//! then the config built from the diffIDs).

use std::sync::Arc;

use bytes::Bytes;

use super::engine::{from_copy, PullSource};
use super::record::ImageResult;
use super::resolve::ReadManifest;
use super::{PullError, PulledImage, Puller};
use crate::copy::{copy_layers, copy_sharing, RegistryImage};
use crate::digest::Digest;
use crate::media::schema1::{deprecation_warning, manifest_list_deprecation_notice};
use crate::media::types::{DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST_V2};
use crate::media::ManifestKind;
use crate::media::{
    Descriptor, ImageManifest, Manifest, ManifestError, Schema1Manifest, WalkError, WalkLimits,
    Walker, MAX_INDEX_DEPTH,
};
use crate::progress::{ProgressEvent, ProgressSink};
use crate::reference::Reference;
use crate::registry::RemoteRepository;
use crate::store::layers::diff_id_of_blob;
use crate::store::metadata::{ImageLayer, ImageRecord};
use crate::store::MetadataStore;
use crate::trust::sigstore::RememberedSignatures;

/// How many times a pull records an image again that an `rmi` removed before its references.
const MAX_RECORD_ATTEMPTS: u32 = 3;

/// Where the manifest being pulled came from.
pub(super) struct Origin<'a> {
    pub(super) target: &'a Reference,
    /// The digest of the index the manifest was chosen from, if any.
    pub(super) index_digest: Option<Digest>,
    /// The repository's signatures, each read once: by the verifier, then by the copies
    /// that keep them.
    pub(super) signatures: &'a RememberedSignatures,
}

impl Puller {
    /// Judges each image manifest `digests` of `target` with the pull's verifier, if any.
    async fn verify(
        &self,
        repo: &Arc<RemoteRepository>,
        target: &Reference,
        digests: &[Digest],
        signatures: &RememberedSignatures,
    ) -> Result<(), PullError> {
        let Some(verifier) = &self.options.verifier else {
            return Ok(());
        };
        let subject = crate::trust::Subject::registry(target.clone(), Arc::clone(repo))
            .with_signatures(Arc::new(signatures.clone()));
        crate::trust::verify_each(&**verifier, &subject, digests).await?;
        Ok(())
    }

    /// The image manifests a pull of the manifest `digest` (`root`, not stored yet) judges:
    /// `digest` itself when it is one; from an index, the image manifest the platform
    /// chooses (through nested indexes; every entry but attestations with `all_platforms`)
    /// — never an index, as containers/image judges each single image it copies, not the
    /// list. Nothing is stored, so the judgement comes before anything of the image is.
    async fn images_to_judge(
        &self,
        repo: &RemoteRepository,
        digest: &Digest,
        root: &ReadManifest,
        target: &Reference,
    ) -> Result<Vec<Digest>, PullError> {
        if let (Manifest::Index(index), true) = (&root.manifest, self.options.all_platforms) {
            return Ok(index
                .manifests
                .iter()
                .filter(|entry| !entry.is_attestation())
                .map(|entry| entry.digest.clone())
                .collect());
        }
        // The pull's own walk, narrowed to the platform, reading without storing; an entry
        // whose media type says it is an image manifest ends it unread.
        let first = Descriptor::new("", digest.clone(), 0);
        let mut walker =
            Walker::new([first], WalkLimits::default()).platform(&self.options.platform());
        let mut bytes = Some(root.bytes.clone());
        let mut last = digest.clone();
        while let Some(next) = walker.next_manifest() {
            last = next.digest.clone();
            let image =
                ManifestKind::from_media_type(&next.media_type).is_some_and(|k| !k.is_index());
            let read = match bytes.take() {
                Some(read) => read,
                None if image => break,
                None => self.peek_manifest(repo, &last, target).await?.bytes,
            };
            walker.visit(read).map_err(|e| walk_error(e, target))?;
        }
        Ok(vec![last])
    }

    /// Pulls `target` (a tag or digest reference) and records it.
    pub(super) async fn pull_one(
        &self,
        repo: &Arc<RemoteRepository>,
        target: &Reference,
        progress: &Arc<dyn ProgressSink>,
    ) -> Result<PulledImage, PullError> {
        let (digest, mut prefetched) = self.resolve(repo, target).await?;
        let signatures = RememberedSignatures::new(Arc::clone(repo));
        if self.options.verifier.is_some() {
            let root = match prefetched.take() {
                Some(read) => read,
                None => self.peek_manifest(repo, &digest, target).await?,
            };
            let images = self.images_to_judge(repo, &digest, &root, target).await?;
            self.verify(repo, target, &images, &signatures).await?;
            prefetched = Some(root);
        }
        let tag_or_digest = match target.tag() {
            Some(tag) => tag.as_str().to_owned(),
            None => digest.to_string(),
        };
        progress.emit(ProgressEvent::message(
            tag_or_digest,
            format!("Pulling from {}", target.repository().familiar()),
        ));
        // The one descriptor walk narrowed to the platform: a chain from the root through
        // each index's best match; the last manifest read is the one pulled.
        let root = Descriptor::new("", digest.clone(), 0);
        let mut walker =
            Walker::new([root], WalkLimits::default()).platform(&self.options.platform());
        let mut pending = Some(prefetched);
        let mut chosen = None;
        // With `--all-platforms`, the index's other entries: pulled beside the chosen one.
        let mut others = Vec::new();
        while let Some(descriptor) = walker.next_manifest() {
            let manifest_digest = descriptor.digest.clone();
            let prefetched = pending.take().flatten();
            let read = self
                .read_manifest(repo, &manifest_digest, prefetched, target)
                .await?;
            let node = walker
                .visit(read.bytes.clone())
                .map_err(|e| walk_error(e, target))?;
            let (depth, entries) = match node {
                Some(node) => (node.depth, node.children.manifests.clone()),
                None => (0, None),
            };
            if let (Some(entries), true) = (entries, self.options.all_platforms && depth == 0) {
                let best = walker.next_manifest().map(|d| d.digest.clone());
                let rest: Vec<Descriptor> = entries
                    .into_iter()
                    .filter(|d| Some(&d.digest) != best.as_ref())
                    .collect();
                // The chosen entry's manifest is read with the others, one round for all.
                let (best_read, reads) = self
                    .read_platforms(repo, target, best.as_ref(), &rest)
                    .await?;
                pending = Some(best_read);
                others = reads;
            }
            chosen = Some((manifest_digest, read, depth));
        }
        let Some((manifest_digest, read, depth)) = chosen else {
            return Err(PullError::interrupted(format!(
                "the walk from {digest} read no manifest"
            )));
        };
        let origin = Origin {
            target,
            index_digest: (depth > 0).then(|| digest.clone()),
            signatures: &signatures,
        };
        // Kept to record the image again if an `rmi` removes it before its references.
        let again = match &read.manifest {
            Manifest::Image(image) => Some((image.clone(), read.bytes.clone())),
            _ => None,
        };
        // The platforms' signatures come with their copies; the index's are read while they
        // run and stored after them.
        let index = origin.index_digest.as_slice();
        let (mut result, (), index_signatures) = futures_util::future::try_join3(
            self.pull_chosen(&origin, depth, &manifest_digest, read, progress),
            self.pull_other_platforms(&origin_of(target, &digest, &signatures), others, progress),
            self.read_signatures(&origin, index),
        )
        .await?;
        self.keep_signatures(&origin, index_signatures).await?;
        progress.emit(ProgressEvent::message("", format!("Digest: {digest}")));
        let mut attempts = 0;
        let updated = loop {
            match self.record_references(target, &digest, &result).await {
                // An `rmi` removed the image between its recording and its references (the
                // pull's lease kept its blobs): record it again, then point at it — as the
                // layer store does when an `rmi` lands before its holds.
                Err(e) if attempts < MAX_RECORD_ATTEMPTS && e.is_image_not_recorded() => {
                    let Some((image, bytes)) = again.clone() else {
                        return Err(e);
                    };
                    attempts += 1;
                    tracing::debug!(manifest = %manifest_digest, "the image was removed before it was tagged: recording it again");
                    result = self
                        .pull_image(&origin, &manifest_digest, image, bytes, progress)
                        .await?;
                }
                other => break other?,
            }
        };
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

    /// The manifest the platform walk chose `depth` indexes down (`read`): an image
    /// manifest is pulled, a schema 1 one converted; an index there is one too deep.
    async fn pull_chosen(
        &self,
        origin: &Origin<'_>,
        depth: usize,
        manifest_digest: &Digest,
        read: ReadManifest,
        progress: &Arc<dyn ProgressSink>,
    ) -> Result<ImageResult, PullError> {
        match read.manifest {
            Manifest::Image(image) => {
                self.pull_image(origin, manifest_digest, image, read.bytes, progress)
                    .await
            }
            Manifest::Schema1(schema1) => {
                let name = origin.target.familiar();
                let text = if depth > 0 {
                    manifest_list_deprecation_notice(&name)
                } else {
                    deprecation_warning(&name)
                };
                // Shown once, as a progress message (docker's place for it), not logged.
                progress.emit(ProgressEvent::message("", text));
                self.pull_schema1(origin, &schema1, progress).await
            }
            // The walk ended on an index: one naming itself or an index already followed.
            Manifest::Index(_) => Err(PullError::IndexTooDeep {
                reference: origin.target.to_string(),
                limit: MAX_INDEX_DEPTH,
            }),
        }
    }

    /// An OCI or Docker schema 2 image manifest (its exact `bytes`): reuse, or copy it from
    /// the registry into the store (config and layers through the copy engine, recorded with
    /// its diffIDs checked).
    pub(super) async fn pull_image(
        &self,
        origin: &Origin<'_>,
        manifest_digest: &Digest,
        manifest: ImageManifest,
        bytes: Bytes,
        progress: &Arc<dyn ProgressSink>,
    ) -> Result<ImageResult, PullError> {
        if let Some(done) = self.already_pulled(manifest_digest).await? {
            // Not copied again, but signed since, perhaps: its signatures still come along.
            self.carry_signatures(origin, std::slice::from_ref(manifest_digest))
                .await?;
            return Ok(done);
        }
        let media_type = manifest
            .media_type
            .clone()
            .unwrap_or_else(|| manifest.kind().media_type().to_owned());
        let root = Descriptor::new(&media_type, manifest_digest.clone(), bytes.len() as u64);
        let source = PullSource::new(
            RegistryImage::new(&self.client, origin.target),
            [(manifest_digest.clone(), bytes)],
            origin.signatures,
        );
        let sink = self.sink(origin, false).await?;
        let options = self.copy_options();
        copy_sharing(
            &source,
            &sink,
            &root,
            &options,
            &self.downloads,
            &**progress,
        )
        .await
        .map_err(|e| from_copy(e, origin.target))?;
        drop(sink);
        self.recorded(manifest_digest).await
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
        // Size unknown (0): schema 1 does not say.
        let layers: Vec<Descriptor> = image
            .layers
            .iter()
            .map(|d| Descriptor::new(DOCKER_LAYER_GZIP, d.clone(), 0))
            .collect();
        let remote = RegistryImage::new(&self.client, origin.target);
        let source = PullSource::new(remote, [], origin.signatures);
        let sink = self.sink(origin, true).await?;
        copy_layers(&source, &sink, &layers, &self.copy_options(), &**progress)
            .await
            .map_err(|e| from_copy(e, origin.target))?;
        let blobs: Vec<(Digest, Option<Digest>)> = layers
            .iter()
            .map(|d| (d.digest.clone(), sink.streamed_diff_id(&d.digest)))
            .collect();
        drop(sink);
        let metadata = Arc::clone(&self.metadata);
        let layers = self
            .blocking(move || layer_facts(&metadata, blobs))
            .await??;
        let diff_ids: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
        let config_bytes = image.config_json(&diff_ids)?;
        let config_digest = Digest::sha256_of(&config_bytes);
        let layer_json: Vec<serde_json::Value> = layers
            .iter()
            .map(|l| {
                serde_json::json!({
                    "mediaType": DOCKER_LAYER_GZIP,
                    "digest": l.digest.to_string(),
                    "size": l.size,
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
        let manifest_bytes = serde_json::to_vec(&converted).map_err(|e| {
            PullError::interrupted(format!(
                "cannot serialise the converted schema 1 manifest: {e}"
            ))
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
            platform: crate::store::metadata::images::recorded_platform(&image.platform),
            size: layers.iter().map(|l| l.size).sum(),
            created: None,
            layers,
        };
        self.record_image(origin.target, record, image.platform.clone())
            .await
    }
}

/// The stored schema 1 layers `blobs` (with the diffID computed while each streamed in, if
/// it did) as image layers: size from the store, diffID from the stream, else as recorded
/// (docker's `V2MetadataService.GetDiffID`), else by decompressing the blob. Blocking.
fn layer_facts(
    metadata: &MetadataStore,
    blobs: Vec<(Digest, Option<Digest>)>,
) -> Result<Vec<ImageLayer>, PullError> {
    let content = metadata.content();
    let mut layers = Vec::with_capacity(blobs.len());
    for (digest, streamed) in blobs {
        let mut layer = ImageLayer {
            size: content.size(&digest)?,
            diff_id: digest.clone(),
            digest,
            media_type: DOCKER_LAYER_GZIP.to_owned(),
        };
        layer.diff_id = match streamed {
            Some(diff_id) => diff_id,
            None => match metadata.diff_id_of(&layer.digest)? {
                Some(diff_id) => diff_id,
                None => diff_id_of_blob(content, &layer)?,
            },
        };
        layers.push(layer);
    }
    Ok(layers)
}

/// A platform walk's failure in pull's words. Malformed and oversized manifests are refused
/// by `read_manifest` before the walk sees them.
fn walk_error(error: WalkError, target: &Reference) -> PullError {
    match error {
        WalkError::NoMatchingManifest(none) => PullError::NoMatchingManifest(none),
        WalkError::TooDeep { .. } => PullError::IndexTooDeep {
            reference: target.to_string(),
            limit: MAX_INDEX_DEPTH,
        },
        WalkError::TooLarge { size, limit, .. } => PullError::Manifest {
            reference: target.to_string(),
            source: Box::new(ManifestError::TooLarge {
                size: usize::try_from(size).unwrap_or(usize::MAX),
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            }),
        },
        WalkError::Malformed { source, .. } => PullError::Manifest {
            reference: target.to_string(),
            source: Box::new(ManifestError::Malformed {
                format: "manifest",
                source,
            }),
        },
        // A platform walk adds no referrers; any other refusal is the walk's own sentence.
        other => PullError::Copy(Box::new(crate::copy::CopyError::Walk(Box::new(other)))),
    }
}

/// The origin of a manifest chosen from the index `index`.
fn origin_of<'a>(
    target: &'a Reference,
    index: &Digest,
    signatures: &'a RememberedSignatures,
) -> Origin<'a> {
    Origin {
        target,
        index_digest: Some(index.clone()),
        signatures,
    }
}

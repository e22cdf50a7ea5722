//! Recording what a copy put into the local store: [`record_root`], called by
//! [`super::StoreSink`] when the root manifest is stored (every blob and child manifest
//! already is, verified by digest).
//!
//! Two phases, so that nothing is recorded unless everything checks out:
//! 1. **Check** every image manifest under the root (the root itself, or each child of an
//!    index but attestation manifests, platform `unknown/unknown`, and nested indexes, which
//!    `hoist pull --all-platforms` skips too): its config is read and parsed, and its layers'
//!    diffIDs compared with the config's `rootfs.diff_ids` (docker's `errRootFSMismatch`,
//!    "layers from manifest don't match image configuration"). A diffID is trusted without
//!    reading the blob when the sink's layer writer computed it while the blob streamed in
//!    (`store_layer`), or when the store already recorded it for that blob (docker's
//!    `V2MetadataService.GetDiffID`, or the image record of that manifest); otherwise the blob
//!    is decompressed and hashed — unpacked into the layer store's staging at the same time
//!    when its layer is to be unpacked ([`LayerStore::stage_from_blob`]), so it is read once.
//! 2. **Record**, with pull's code: each image ([`record_image`]: the record, blob sources,
//!    the layer store), each child's `NAME@CHILD` ([`record_child_reference`]), then the
//!    tag and the root's digest reference ([`record_references`]).
//!
//! Layers staged and not registered (a failed check) are discarded.

use std::collections::HashMap;
use std::sync::Arc;

use super::store_layer::Streamed;
use super::CopyError;
use crate::digest::Digest;
use crate::media::{
    Descriptor, ImageConfig, ImageManifest, Manifest, ManifestKind, Platform, PlatformMatcher,
    MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE,
};
use crate::pull::{
    record_child_reference, record_image, record_references, store_platform, PullError,
};
use crate::reference::{Reference, Repository};
use crate::store::layers::{diff_id_of_blob, ChainId};
use crate::store::metadata::{ImageLayer, ImageRecord};
use crate::store::{ContentStore, LayerError, LayerStore, MetadataStore};

/// Where and how to record (the store sink's settings).
pub(super) struct Recording {
    pub(super) metadata: Arc<MetadataStore>,
    pub(super) layers: Option<LayerStore>,
    /// The tag reference the root is stored under; `None`: the images are recorded without
    /// any reference (an untagged `hoist load`).
    pub(super) reference: Option<Reference>,
    /// The platform whose image an index's tag names.
    pub(super) platform: Platform,
    /// The registry repository the blobs came from, if any.
    pub(super) source: Option<Repository>,
    /// The diffIDs computed while layers streamed in.
    pub(super) streamed: Arc<Streamed>,
    /// Record the tag and digest references too (pull records its own).
    pub(super) references: bool,
    /// The index an image root was chosen from, if any.
    pub(super) index: Option<Digest>,
    /// `hoist:REF`, for messages.
    pub(super) location: String,
}

/// An image manifest under the root.
struct Member {
    digest: Digest,
    manifest: ImageManifest,
    size: u64,
    index: Option<Digest>,
}

/// Records the image(s) under `root` (see the module docs). Blocking.
pub(super) fn record_root(
    recording: &Recording,
    root: &Descriptor,
    bytes: &[u8],
) -> Result<(), CopyError> {
    let wrap = |e: PullError| CopyError::Record {
        location: recording.location.clone(),
        source: Box::new(e),
    };
    let content = recording.metadata.content();
    let parsed = Manifest::parse(&root.media_type, bytes).map_err(|e| {
        wrap(PullError::Manifest {
            reference: recording.location.clone(),
            source: Box::new(e),
        })
    })?;
    let (members, tagged) = match parsed {
        Manifest::Image(manifest) => {
            let member = Member {
                digest: root.digest.clone(),
                manifest,
                size: bytes.len() as u64,
                index: recording.index.clone(),
            };
            (vec![member], root.digest.clone())
        }
        Manifest::Index(index) => {
            let members = index_members(content, &root.digest, &index.manifests).map_err(wrap)?;
            let tagged = choose(&recording.platform, &index.manifests, &members).map_err(wrap)?;
            (members, tagged)
        }
        Manifest::Schema1(_) => {
            return Err(CopyError::Schema1 {
                digest: root.digest.clone(),
            })
        }
    };
    let mut staged = Staged {
        layers: recording.layers.as_ref(),
        blobs: Vec::new(),
    };
    let mut checked = HashMap::new();
    let mut records = Vec::with_capacity(members.len());
    for member in &members {
        records.push(check(recording, member, &mut checked, &mut staged).map_err(wrap)?);
    }
    record_all(recording, root, &records, &tagged).map_err(wrap)
}

/// The image manifests of an index (see the module docs for what is skipped).
fn index_members(
    content: &ContentStore,
    index: &Digest,
    entries: &[Descriptor],
) -> Result<Vec<Member>, PullError> {
    let mut members = Vec::with_capacity(entries.len());
    for entry in entries {
        let attestation = entry
            .platform
            .as_ref()
            .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown");
        let nested = ManifestKind::from_media_type(&entry.media_type).is_some_and(|k| k.is_index());
        if attestation || nested {
            tracing::debug!(digest = %entry.digest, "not recording an index entry that is not an image");
            continue;
        }
        let bytes = content.read_to_vec_capped(&entry.digest, MAX_MANIFEST_SIZE as u64)?;
        match Manifest::parse(&entry.media_type, &bytes) {
            Ok(Manifest::Image(manifest)) => members.push(Member {
                digest: entry.digest.clone(),
                manifest,
                size: bytes.len() as u64,
                index: Some(index.clone()),
            }),
            Ok(_) => {
                tracing::warn!(digest = %entry.digest, "not recording an index entry that is not an image manifest")
            }
            Err(source) => {
                return Err(PullError::Manifest {
                    reference: entry.digest.to_string(),
                    source: Box::new(source),
                })
            }
        }
    }
    Ok(members)
}

/// The manifest of `members` the tag names: the best match for `platform` (docker's
/// `filterManifests`), as `hoist pull` chooses.
fn choose(
    platform: &Platform,
    entries: &[Descriptor],
    members: &[Member],
) -> Result<Digest, PullError> {
    let candidates: Vec<Descriptor> = entries
        .iter()
        .filter(|e| members.iter().any(|m| m.digest == e.digest))
        .cloned()
        .collect();
    let matcher = PlatformMatcher::new(platform);
    let chosen = matcher.select(&candidates)?;
    match chosen.first() {
        Some(first) => Ok(first.digest.clone()),
        None => Err(crate::media::NoMatchingManifest::new(platform, entries).into()),
    }
}

/// The record of `member`, its diffIDs checked against its config.
fn check(
    recording: &Recording,
    member: &Member,
    checked: &mut HashMap<(Digest, Digest), Digest>,
    staged: &mut Staged<'_>,
) -> Result<ImageRecord, PullError> {
    let metadata = &recording.metadata;
    let content = metadata.content();
    let manifest = &member.manifest;
    let config_bytes =
        content.read_to_vec_capped(&manifest.config.digest, MAX_CONFIG_SIZE as u64)?;
    let config = ImageConfig::parse(&config_bytes).map_err(|source| PullError::Config {
        digest: manifest.config.digest.clone(),
        source,
    })?;
    let expected = config.diff_ids();
    let known = metadata.image(&member.digest)?;
    let layers: Vec<ImageLayer> = manifest
        .classified_layers()
        .enumerate()
        .map(|(i, (d, _))| ImageLayer {
            // A missing diffID (too few in the config) is reported below.
            diff_id: expected.get(i).cloned().unwrap_or_else(|| d.digest.clone()),
            digest: d.digest.clone(),
            size: d.size,
            media_type: d.media_type.clone(),
        })
        .collect();
    let chain = ChainId::chain(&layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>());
    let mut actual = Vec::with_capacity(layers.len());
    for (layer, chain_id) in layers.iter().zip(&chain) {
        let key = (layer.digest.clone(), layer.diff_id.clone());
        let diff_id = match (checked.get(&key), recording.streamed.diff_id(&layer.digest)) {
            (Some(done), _) => done.clone(),
            // Computed over exactly the bytes committed, as they streamed in.
            (None, Some(streamed)) => streamed,
            // `pull --no-unpack`: checked when the layer is decompressed.
            (None, None) if recording.streamed.trusts_config() => layer.diff_id.clone(),
            (None, None) => {
                let trusted = known.as_ref().is_some_and(|r| {
                    r.layers
                        .iter()
                        .any(|l| l.digest == key.0 && l.diff_id == key.1)
                }) || metadata.diff_id_of(&layer.digest)?.as_ref()
                    == Some(&layer.diff_id);
                let got = if trusted {
                    layer.diff_id.clone()
                } else {
                    staged.verify(content, layer, chain_id)?
                };
                checked.insert(key, got.clone());
                got
            }
        };
        actual.push(diff_id);
    }
    if actual != expected {
        return Err(PullError::LayersDontMatchConfig {
            expected: expected.to_vec(),
            actual: actual.into_iter().map(Some).collect(),
        });
    }
    Ok(ImageRecord {
        image_id: manifest.config.digest.clone(),
        manifest_digest: member.digest.clone(),
        manifest_media_type: manifest
            .media_type
            .clone()
            .unwrap_or_else(|| manifest.kind().media_type().to_owned()),
        manifest_size: member.size,
        index_digest: member.index.clone(),
        platform: store_platform(&config.platform()),
        size: layers.iter().map(|l| l.size).sum(),
        created: config.created.clone(),
        layers,
    })
}

/// Phase 2: every image, the children's digest references, the tag and the root's digest
/// reference.
fn record_all(
    recording: &Recording,
    root: &Descriptor,
    records: &[ImageRecord],
    tagged: &Digest,
) -> Result<(), PullError> {
    let metadata = &recording.metadata;
    for record in records {
        record_image(
            metadata,
            recording.layers.as_ref(),
            record,
            recording.source.as_ref(),
        )?;
        if let (true, Some(reference), Some(_)) = (
            recording.references,
            &recording.reference,
            &record.index_digest,
        ) {
            record_child_reference(
                metadata,
                reference.repository(),
                &record.manifest_digest,
                &record.manifest_digest,
            )?;
        }
    }
    if let (true, Some(reference)) = (recording.references, &recording.reference) {
        let repository = reference.repository().clone();
        let digest_ref = Reference::new(repository, None, Some(root.digest.clone()));
        record_references(metadata, reference, &digest_ref, tagged)?;
    }
    Ok(())
}

/// Layers unpacked into the layer store's staging while their diffIDs were checked; what
/// registration did not take is discarded on drop.
struct Staged<'a> {
    layers: Option<&'a LayerStore>,
    blobs: Vec<Digest>,
}

impl Staged<'_> {
    /// The diffID `layer`'s blob really has: unpacked and staged when its layer is to be
    /// unpacked and is not yet, else only hashed.
    fn verify(
        &mut self,
        content: &ContentStore,
        layer: &ImageLayer,
        chain_id: &ChainId,
    ) -> Result<Digest, PullError> {
        let Some(layers) = self.layers.filter(|l| matches!(l.get(chain_id), Ok(None))) else {
            return Ok(diff_id_of_blob(content, layer)?);
        };
        self.blobs.push(layer.digest.clone());
        match layers.stage_from_blob(layer) {
            Ok(()) => Ok(layer.diff_id.clone()),
            Err(LayerError::DiffIdMismatch { actual, .. }) => Ok(actual),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        if let Some(layers) = self.layers {
            layers.discard_staged(&self.blobs);
        }
    }
}

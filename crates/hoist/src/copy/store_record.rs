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
//! 2. **Record**, with the code pull records with too: each image ([`record_image`]: the
//!    record, blob sources, the layer store), each child's `NAME@CHILD`
//!    ([`record_child_reference`]), then the tag and the root's digest reference
//!    ([`record_references`]). docker 20.10's end of `pullV2Tag`: `addDigestReference` (a
//!    digest reference that already points elsewhere is left alone, as docker's "Image ID for
//!    digest D changed … cannot update"), then `AddTag(ref, id, force = true)`. Blob sources
//!    are docker's `V2MetadataService.Add(diffID, {digest, repository})`, made on every pull
//!    so a push can mount from the repository most recently seen with the blob.
//!
//! Layers staged and not registered (a failed check) are discarded.

use std::collections::HashMap;
use std::sync::Arc;

use super::store_layer::Streamed;
use super::{CopyError, RecordError};
use crate::digest::Digest;
use crate::media::{
    Descriptor, ImageConfig, ImageManifest, Manifest, ManifestKind, Platform, PlatformMatcher,
    WalkLimits, Walker, MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE,
};
use crate::reference::{Reference, Repository};
use crate::store::layers::{diff_id_of_blob, ChainId};
use crate::store::metadata::{BlobSource, ImageLayer, ImageRecord};
use crate::store::{ContentStore, LayerError, LayerStore, MetadataError, MetadataStore};

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
    let wrap = |e: RecordError| CopyError::Record {
        location: recording.location.clone(),
        source: Box::new(e),
    };
    let content = recording.metadata.content();
    let parsed = Manifest::parse(&root.media_type, bytes).map_err(|e| {
        wrap(RecordError::Manifest {
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
            let members = index_members(content, root, bytes).map_err(wrap)?;
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

/// The image manifests of the index `root` (its `bytes` already read), by the one descriptor
/// walk ([`Walker`]) with the entries the module docs skip filtered out; each read from the
/// content store, where the copy put it verified.
fn index_members(
    content: &ContentStore,
    root: &Descriptor,
    bytes: &[u8],
) -> Result<Vec<Member>, RecordError> {
    let limits = WalkLimits {
        max_depth: 1,
        ..WalkLimits::default()
    };
    // Lenient: an entry that is an index after all (its descriptor did not say) is a leaf,
    // and refused below as not an image manifest.
    let mut walker = Walker::new([root.clone()], limits)
        .lenient()
        .filter(is_image_entry);
    let mut members = Vec::new();
    while let Some(next) = walker.next_manifest() {
        let next = next.clone();
        let bytes = if next.digest == root.digest {
            bytes.to_vec()
        } else {
            content.read_to_vec_capped(&next.digest, MAX_MANIFEST_SIZE as u64)?
        };
        let manifest = Manifest::parse(&next.media_type, &bytes);
        let size = bytes.len() as u64;
        if let Err(e) = walker.visit(bytes.into()) {
            tracing::warn!(error = %e, "a lenient walk refused a manifest");
        }
        if next.digest == root.digest {
            continue;
        }
        match manifest {
            Ok(Manifest::Image(manifest)) => members.push(Member {
                digest: next.digest.clone(),
                manifest,
                size,
                index: Some(root.digest.clone()),
            }),
            Ok(_) => {
                tracing::warn!(digest = %next.digest, "not recording an index entry that is not an image manifest")
            }
            Err(source) => {
                return Err(RecordError::Manifest {
                    reference: next.digest.to_string(),
                    source: Box::new(source),
                })
            }
        }
    }
    Ok(members)
}

/// An index entry recorded as an image: not an attestation manifest, not a nested index.
fn is_image_entry(entry: &Descriptor) -> bool {
    let nested = ManifestKind::from_media_type(&entry.media_type).is_some_and(|k| k.is_index());
    if entry.is_attestation() || nested {
        tracing::debug!(digest = %entry.digest, "not recording an index entry that is not an image");
        return false;
    }
    true
}

/// The manifest of `members` the tag names: the best match for `platform` (docker's
/// `filterManifests`), as `hoist pull` chooses.
fn choose(
    platform: &Platform,
    entries: &[Descriptor],
    members: &[Member],
) -> Result<Digest, RecordError> {
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
) -> Result<ImageRecord, RecordError> {
    let metadata = &recording.metadata;
    let content = metadata.content();
    let manifest = &member.manifest;
    let config_bytes =
        content.read_to_vec_capped(&manifest.config.digest, MAX_CONFIG_SIZE as u64)?;
    let config = ImageConfig::parse(&config_bytes).map_err(|source| RecordError::Config {
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
        return Err(RecordError::LayersDontMatchConfig {
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
        platform: crate::store::metadata::images::recorded_platform(&config.platform()),
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
) -> Result<(), RecordError> {
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
    ) -> Result<Digest, RecordError> {
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

/// Records `record` (docker's image store `Create`), each layer's blob as seen in `source`
/// (docker's `V2MetadataService.Add`) when the image came from a registry repository, and,
/// with a layer store, makes its layers visible and held ([`LayerStore::register_image`]).
/// The caller has checked the diffIDs. Blocking. Shared by pull and the
/// store sink.
pub(crate) fn record_image(
    metadata: &MetadataStore,
    layers: Option<&LayerStore>,
    record: &ImageRecord,
    source: Option<&Repository>,
) -> Result<(), RecordError> {
    metadata.put_image(record)?;
    if let Some(repository) = source {
        for layer in &record.layers {
            let source = BlobSource {
                digest: layer.digest.clone(),
                repository: repository.clone(),
                hmac: None,
            };
            metadata.add_blob_source(&layer.diff_id, &source)?;
        }
    }
    if let Some(layers) = layers {
        layers.register_image(record)?;
    }
    Ok(())
}

/// Points `digest_ref` (`NAME@DIGEST`) and, when `target` has a tag, the tag (moved with
/// force) at the image `manifest`; returns whether `target` now points at another image than
/// before. A digest reference already pointing elsewhere is left alone (see the module docs).
/// Blocking.
pub(crate) fn record_references(
    metadata: &MetadataStore,
    target: &Reference,
    digest_ref: &Reference,
    manifest: &Digest,
) -> Result<bool, MetadataError> {
    let before = metadata.reference(target)?;
    match metadata.add_digest(digest_ref, manifest, true) {
        Ok(()) => {}
        // docker's addDigestReference: a digest reference is never moved; go on (an index
        // digest pulled again for another platform lands here). docker logs it in the
        // daemon's log, not to the user: nothing is wrong, so it is a debug line here.
        Err(MetadataError::DigestConflict { .. }) => tracing::debug!(
            reference = %digest_ref,
            manifest = %manifest,
            "the digest reference points at another image and cannot be updated"
        ),
        Err(e) => return Err(e),
    }
    if target.tag().is_some() {
        metadata.add_tag(target, manifest, true)?;
    }
    let after = metadata.reference(target)?;
    Ok(before.map(|t| t.manifest_digest) != after.map(|t| t.manifest_digest))
}

/// The digest reference `NAME@CHILD` of an index's other platform `child`, recorded as the
/// image `manifest`, so garbage collection keeps it and the index stays whole (`pull
/// --all-platforms`). One that already exists is kept. Blocking.
pub(crate) fn record_child_reference(
    metadata: &MetadataStore,
    repository: &Repository,
    child: &Digest,
    manifest: &Digest,
) -> Result<(), MetadataError> {
    let reference = Reference::new(repository.clone(), None, Some(child.clone()));
    match metadata.add_digest(&reference, manifest, true) {
        Ok(()) | Err(MetadataError::DigestConflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

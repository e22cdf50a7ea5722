//! Images from a docker-archive's `manifest.json` (docker's `tarexporter.Load` loop).
//!
//! For each entry: the config member is the image config (its sha256 is the image ID); the
//! layer count must equal `rootfs.diff_ids`' ("invalid manifest, layers length mismatch");
//! each layer member's diffID must equal `rootfs.diff_ids[i]` ("invalid diffID for layer i"):
//! for a plain tar that is its digest, for a gzip or zstd member (sniffed by magic, as docker's
//! `DecompressStream` does) the digest of its decompressed bytes, computed by reading the
//! stored blob back once. Each `RepoTags` entry must be a tagged reference ("invalid tag").
//!
//! The image gets a synthesized Docker schema 2 manifest (indented with three spaces, as
//! docker's `schema2` marshals it) referencing the config and the layer blobs as stored, with
//! the media type their compression says: `application/vnd.docker.image.rootfs.diff.tar` for
//! plain tars, the mark push needs (see [`super`]). The same archive always gives the same
//! manifest digest.

use serde::Serialize;

use super::load::{inspect_layer, sniff_blob, Candidate};
use super::members::Members;
use super::{ArchiveError, ManifestItem, MANIFEST_FILE};
use crate::digest::Digest;
use crate::images::created;
use crate::media::types::{
    DOCKER_CONFIG, DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_LAYER_ZSTD, DOCKER_MANIFEST_V2,
};
use crate::media::{Descriptor, ImageConfig, ImageManifest, MAX_CONFIG_SIZE};
use crate::reference::Reference;
use crate::store::metadata::{ImageLayer, ImageRecord, Platform};
use crate::store::{BlobInfo, ContentStore};
use crate::transfer::decompress::Compression;

/// The images `manifest.json` (`manifest_json`) describes, checked, with their synthesized
/// manifests already stored.
pub(super) fn assemble(
    content: &ContentStore,
    members: &Members,
    manifest_json: &[u8],
) -> Result<Vec<Candidate>, ArchiveError> {
    let items: Vec<ManifestItem> =
        serde_json::from_slice(manifest_json).map_err(|source| ArchiveError::Json {
            name: MANIFEST_FILE.to_owned(),
            source,
        })?;
    items
        .iter()
        .enumerate()
        .map(|(n, item)| assemble_one(content, members, n, item))
        .collect()
}

/// An image of `manifest.json` as the copy engine sees it: the synthesized Docker schema 2
/// manifest (stored in the content store) and the blobs it names.
pub(crate) struct Synthesized {
    /// The manifest's descriptor.
    pub(crate) manifest: Descriptor,
    /// Its bytes.
    pub(crate) bytes: Vec<u8>,
    /// The config blob.
    pub(crate) config: BlobInfo,
    /// The layer blobs, bottom first, with their member names and compression (by magic).
    pub(crate) layers: Vec<(String, BlobInfo, Compression)>,
}

/// The manifest of entry `n` (see the module docs), written to `content`. No diffID is
/// checked here: the layers are only sniffed for their compression.
pub(crate) fn synthesize(
    content: &ContentStore,
    members: &Members,
    n: usize,
    item: &ManifestItem,
) -> Result<Synthesized, ArchiveError> {
    let config = members
        .blob(
            &item.config,
            &format!("the config of image {n} in manifest.json"),
        )?
        .clone();
    let mut layers = Vec::with_capacity(item.layers.len());
    for (index, name) in item.layers.iter().enumerate() {
        let what = format!("layer {index} of image {n} in manifest.json");
        let info = members.blob(name, &what)?;
        let compression = sniff_blob(content, &info.digest)?;
        layers.push((name.clone(), info.clone(), compression));
    }
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(DOCKER_MANIFEST_V2.to_owned()),
        artifact_type: None,
        config: Descriptor::new(DOCKER_CONFIG, config.digest.clone(), config.size),
        layers: layers
            .iter()
            .map(|(_, info, compression)| {
                Descriptor::new(layer_type(*compression), info.digest.clone(), info.size)
            })
            .collect(),
        subject: None,
        annotations: Default::default(),
    };
    let bytes = to_json_indented(&manifest);
    let digest = Digest::sha256_of(&bytes);
    content.write_blob(&digest, &bytes)?;
    Ok(Synthesized {
        manifest: Descriptor::new(DOCKER_MANIFEST_V2, digest, bytes.len() as u64),
        bytes,
        config,
        layers,
    })
}

/// The Docker layer media type of a compression.
fn layer_type(compression: Compression) -> &'static str {
    match compression {
        Compression::None => DOCKER_LAYER,
        Compression::Gzip => DOCKER_LAYER_GZIP,
        Compression::Zstd => DOCKER_LAYER_ZSTD,
    }
}

fn assemble_one(
    content: &ContentStore,
    members: &Members,
    n: usize,
    item: &ManifestItem,
) -> Result<Candidate, ArchiveError> {
    let tags = parse_tags(item)?;
    let synthesized = synthesize(content, members, n, item)?;
    let config_info = &synthesized.config;
    let config_bytes = content.read_to_vec_capped(&config_info.digest, MAX_CONFIG_SIZE as u64)?;
    let config = ImageConfig::parse(&config_bytes).map_err(|source| ArchiveError::Config {
        name: item.config.clone(),
        source,
    })?;
    let diff_ids = config.diff_ids();
    if item.layers.len() != diff_ids.len() {
        return Err(ArchiveError::LayerCount {
            expected: diff_ids.len(),
            actual: item.layers.len(),
        });
    }
    let mut layers = Vec::with_capacity(diff_ids.len());
    let mut size = 0u64;
    for (index, ((name, info, compression), expected)) in
        synthesized.layers.iter().zip(diff_ids).enumerate()
    {
        let facts = inspect_layer(content, info, Some(*compression))?;
        if facts.diff_id != *expected {
            return Err(ArchiveError::DiffIdMismatch {
                index,
                name: name.clone(),
                expected: expected.clone(),
                actual: facts.diff_id,
            });
        }
        size = size.saturating_add(facts.size);
        layers.push(ImageLayer {
            diff_id: facts.diff_id,
            digest: info.digest.clone(),
            size: info.size,
            media_type: layer_type(facts.compression).to_owned(),
        });
    }
    let platform = config.platform();
    Ok(Candidate {
        record: ImageRecord {
            image_id: config_info.digest.clone(),
            manifest_digest: synthesized.manifest.digest.clone(),
            manifest_media_type: DOCKER_MANIFEST_V2.to_owned(),
            manifest_size: synthesized.bytes.len() as u64,
            index_digest: None,
            platform: Platform {
                os: platform.os,
                architecture: platform.architecture,
                variant: platform.variant,
            },
            size,
            created: config.created.as_deref().and_then(created::normalize),
            layers,
        },
        tags,
    })
}

/// `RepoTags`, each a tagged reference without digest (docker: "invalid tag").
pub(crate) fn parse_tags(item: &ManifestItem) -> Result<Vec<Reference>, ArchiveError> {
    let mut tags = Vec::new();
    for tag in item.repo_tags.iter().flatten() {
        let invalid = || ArchiveError::InvalidTag { tag: tag.clone() };
        let reference = Reference::parse(tag).map_err(|_| invalid())?;
        if reference.tag().is_none() || reference.digest().is_some() {
            return Err(invalid());
        }
        tags.push(reference);
    }
    Ok(tags)
}

/// JSON indented with three spaces, docker/distribution's `json.MarshalIndent(m, "", "   ")`.
fn to_json_indented<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    // Serialising plain structs into a Vec cannot fail.
    let _ = value.serialize(&mut serializer);
    out
}

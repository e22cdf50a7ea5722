//! Images of a docker-archive's `manifest.json` as the copy engine reads them: [`synthesize`]
//! (docker's `tarexporter.Load` loop, its checks moved to the store sink).
//!
//! For each entry the config member is the image config (its sha256 is the image ID) and the
//! layer members are the layers, bottom first; each is sniffed for gzip or zstd (as docker's
//! `DecompressStream` does). The image gets a synthesized Docker schema 2 manifest (indented
//! with three spaces, as docker's `schema2` marshals it) referencing the config and the layer
//! blobs as stored, with the media type their compression says:
//! `application/vnd.docker.image.rootfs.diff.tar` for plain tars, the mark push needs (see
//! [`super`]). The same archive always gives the same manifest digest. Each `RepoTags` entry
//! must be a tagged reference ("invalid tag", [`parse_tags`]).
//!
//! The diffIDs are checked where every image is checked, in the store sink (`hoist load` copies
//! into it): a layer that is not the config's `rootfs.diff_ids[i]` fails with docker's
//! "invalid diffID for layer i", a different count with "layers length mismatch".
//!
//! A layer left unread in the archive file ([`Members::layer`]: a copy from an uncompressed
//! archive) is named by its diffID — its digest, being a plain tar — so the config is read for
//! it (a count that differs fails here, with the same "layers length mismatch"), and whoever
//! reads the layer's bytes checks them against it.

use std::collections::HashMap;

use super::load::sniff_blob;
use super::members::{InPlace, Members};
use super::{ArchiveError, ManifestItem};
use crate::compress::Compression;
use crate::digest::Digest;
use crate::media::types::{
    DOCKER_CONFIG, DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_LAYER_ZSTD, DOCKER_MANIFEST_V2,
};
use crate::media::{to_json_indented, Descriptor, ImageConfig, ImageManifest, MAX_CONFIG_SIZE};
use crate::reference::Reference;
use crate::store::{BlobInfo, ContentStore};

/// An image of `manifest.json` as the copy engine sees it: the synthesized Docker schema 2
/// manifest (stored in the content store) and the blobs it names.
pub(crate) struct Synthesized {
    /// The manifest's descriptor.
    pub(crate) manifest: Descriptor,
    /// The config blob.
    pub(crate) config: BlobInfo,
    /// The layer blobs, bottom first, with their member names and compression (by magic).
    pub(crate) layers: Vec<(String, BlobInfo, Compression)>,
    /// Where the layers left in the archive file are in it, by digest.
    pub(crate) in_place: HashMap<Digest, InPlace>,
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
    if let Some(place) = members.in_place(&config.digest) {
        // Left in the archive (a `blobs/sha256/` member): bigger than any config hoist reads.
        return Err(ArchiveError::MemberTooLarge {
            name: item.config.clone(),
            size: place.size,
            max: MAX_CONFIG_SIZE as u64,
        });
    }
    let diff_ids = match item.layers.iter().any(|name| members.is_unhashed(name)) {
        true => config_diff_ids(content, &config, item)?,
        false => Vec::new(),
    };
    let mut layers = Vec::with_capacity(item.layers.len());
    let mut in_place = HashMap::new();
    for (index, name) in item.layers.iter().enumerate() {
        let what = format!("layer {index} of image {n} in manifest.json");
        let (info, place) = members.layer(name, &what, diff_ids.get(index))?;
        let compression = match place {
            Some(place) => {
                in_place.insert(info.digest.clone(), place);
                place.compression
            }
            None => sniff_blob(content, &info.digest)?,
        };
        layers.push((name.clone(), info, compression));
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
        config,
        layers,
        in_place,
    })
}

/// The diffIDs of the config `config` of `item`, one per layer (docker's "layers length
/// mismatch" otherwise).
fn config_diff_ids(
    content: &ContentStore,
    config: &BlobInfo,
    item: &ManifestItem,
) -> Result<Vec<Digest>, ArchiveError> {
    let bytes = content.read_to_vec_capped(&config.digest, MAX_CONFIG_SIZE as u64)?;
    let parsed = ImageConfig::parse(&bytes).map_err(|source| ArchiveError::Config {
        name: item.config.clone(),
        source,
    })?;
    let diff_ids = parsed.diff_ids();
    if diff_ids.len() != item.layers.len() {
        return Err(ArchiveError::LayerCount {
            expected: diff_ids.len(),
            actual: item.layers.len(),
        });
    }
    Ok(diff_ids.to_vec())
}

/// The Docker layer media type of a compression.
fn layer_type(compression: Compression) -> &'static str {
    match compression {
        Compression::None => DOCKER_LAYER,
        Compression::Gzip => DOCKER_LAYER_GZIP,
        Compression::Zstd => DOCKER_LAYER_ZSTD,
    }
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

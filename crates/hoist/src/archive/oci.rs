//! Images from an OCI image layout tarball (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`),
//! what `skopeo copy … oci-archive:` and docker ≥ 25's `docker save` (beside `manifest.json`,
//! which wins when both are present) write.
//!
//! Each entry of `index.json` is an image manifest, or an index whose manifest for this
//! host's platform is taken (docker's platform matching; the index's digest is recorded as the
//! image's `index_digest`). Manifests, configs and layers must all be in the archive's
//! `blobs/` (verified against their names as they were read); manifests are parsed with the
//! pull checks ([`Manifest::parse`]), and every layer's diffID is checked against the config,
//! decompressing it as its media type says. The manifest is kept as is (its original bytes and
//! digest), so an image loaded from an OCI layout pushes with its original compressed blobs.
//!
//! Tags come from the entry's `io.containerd.image.name` annotation (docker ≥ 25,
//! containerd), else from `org.opencontainers.image.ref.name` when that is a full tagged
//! reference (`docker.io/library/alpine:3.19`, as hoist's own store writes it). A bare
//! `ref.name` such as `latest` (what `skopeo copy … oci:DIR:latest` writes) names no
//! repository, so the image loads untagged, as docker does.

use std::collections::BTreeMap;

use super::load::{inspect_layer, Candidate};
use super::members::{Members, OCI_INDEX_FILE};
use super::ArchiveError;
use crate::digest::Digest;
use crate::images::created;
use crate::media::types::OCI_INDEX;
use crate::media::{
    Descriptor, ImageConfig, ImageIndex, Manifest, Platform as MediaPlatform, PlatformMatcher,
    MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE,
};
use crate::reference::Reference;
use crate::store::metadata::{ImageLayer, ImageRecord, Platform};
use crate::store::ContentStore;
use crate::transfer::decompress::Compression;

/// containerd's (and docker ≥ 25's) image name annotation.
const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The OCI reference name annotation.
const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The images `index.json` (`index_json`) lists, checked.
pub(super) fn assemble(
    content: &ContentStore,
    members: &Members,
    index_json: &[u8],
) -> Result<Vec<Candidate>, ArchiveError> {
    let index = parse_index(index_json, &Digest::sha256_of(index_json))?;
    let mut candidates = Vec::new();
    for entry in &index.manifests {
        let tags = tags_of(&entry.annotations);
        let is_index = crate::media::ManifestKind::from_media_type(&entry.media_type)
            .is_some_and(|k| k.is_index());
        let candidate = if is_index {
            let nested = read_blob(content, members, entry, MAX_MANIFEST_SIZE, "index")?;
            let nested = parse_index(&nested, &entry.digest)?;
            let matcher = PlatformMatcher::new(&MediaPlatform::host());
            let chosen =
                matcher
                    .select(&nested.manifests)
                    .map_err(|source| ArchiveError::NoPlatform {
                        digest: entry.digest.clone(),
                        source: Box::new(source),
                    })?;
            let Some(child) = chosen
                .into_iter()
                .find(|d| members.oci_blob(&d.digest).is_some())
            else {
                let first = nested
                    .manifests
                    .first()
                    .map_or(&entry.digest, |d| &d.digest);
                return Err(members.missing(&blob_name(first), "a manifest named in index.json"));
            };
            assemble_image(content, members, child, Some(entry.digest.clone()), tags)?
        } else {
            assemble_image(content, members, entry, None, tags)?
        };
        candidates.push(candidate);
    }
    Ok(candidates)
}

fn parse_index(bytes: &[u8], digest: &Digest) -> Result<ImageIndex, ArchiveError> {
    match Manifest::parse(OCI_INDEX, bytes) {
        Ok(Manifest::Index(index)) => Ok(index),
        Ok(_) => Err(ArchiveError::Json {
            name: OCI_INDEX_FILE.to_owned(),
            source: serde::de::Error::custom("not an image index"),
        }),
        Err(source) => Err(ArchiveError::Manifest {
            digest: digest.clone(),
            source: Box::new(source),
        }),
    }
}

fn assemble_image(
    content: &ContentStore,
    members: &Members,
    entry: &Descriptor,
    index_digest: Option<Digest>,
    tags: Vec<Reference>,
) -> Result<Candidate, ArchiveError> {
    let bytes = read_blob(content, members, entry, MAX_MANIFEST_SIZE, "manifest")?;
    let manifest = match Manifest::parse(&entry.media_type, &bytes) {
        Ok(Manifest::Image(m)) => m,
        Ok(other) => {
            return Err(ArchiveError::NotAnImage {
                digest: entry.digest.clone(),
                media_type: other.media_type().to_owned(),
            })
        }
        Err(source) => {
            return Err(ArchiveError::Manifest {
                digest: entry.digest.clone(),
                source: Box::new(source),
            })
        }
    };
    let config_bytes = read_blob(
        content,
        members,
        &manifest.config,
        MAX_CONFIG_SIZE,
        "config",
    )?;
    let config = ImageConfig::parse(&config_bytes).map_err(|source| ArchiveError::Config {
        name: blob_name(&manifest.config.digest),
        source,
    })?;
    let diff_ids = config.diff_ids();
    if manifest.layers.len() != diff_ids.len() {
        return Err(ArchiveError::LayerCount {
            expected: diff_ids.len(),
            actual: manifest.layers.len(),
        });
    }
    let mut layers = Vec::with_capacity(diff_ids.len());
    let mut size = 0u64;
    for (index, ((layer, kind), expected)) in manifest.classified_layers().zip(diff_ids).enumerate()
    {
        let info = members.oci_blob(&layer.digest).ok_or_else(|| {
            members.missing(&blob_name(&layer.digest), "a layer named in index.json")
        })?;
        let compression = Compression::from(kind.compression);
        let facts = inspect_layer(content, info, Some(compression))?;
        if facts.diff_id != *expected {
            return Err(ArchiveError::DiffIdMismatch {
                index,
                name: blob_name(&layer.digest),
                expected: expected.clone(),
                actual: facts.diff_id,
            });
        }
        size = size.saturating_add(facts.size);
        layers.push(ImageLayer {
            diff_id: facts.diff_id,
            digest: layer.digest.clone(),
            size: info.size,
            media_type: layer.media_type.clone(),
        });
    }
    let platform = config.platform();
    Ok(Candidate {
        record: ImageRecord {
            image_id: manifest.config.digest.clone(),
            manifest_digest: entry.digest.clone(),
            manifest_media_type: Manifest::Image(manifest.clone()).media_type().to_owned(),
            manifest_size: bytes.len() as u64,
            index_digest,
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

/// Reads the blob `descriptor` names from the archive's `blobs/`, at most `max` bytes.
fn read_blob(
    content: &ContentStore,
    members: &Members,
    descriptor: &Descriptor,
    max: usize,
    what: &str,
) -> Result<Vec<u8>, ArchiveError> {
    let info = members.oci_blob(&descriptor.digest).ok_or_else(|| {
        members.missing(
            &blob_name(&descriptor.digest),
            &format!("a {what} named in index.json"),
        )
    })?;
    Ok(content.read_to_vec_capped(&info.digest, max as u64)?)
}

fn blob_name(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().as_str(), digest.hex())
}

/// The tag an `index.json` entry's annotations give, if any (see the module docs).
pub(crate) fn tags_of(annotations: &BTreeMap<String, String>) -> Vec<Reference> {
    [CONTAINERD_NAME, OCI_REF_NAME]
        .iter()
        .filter_map(|key| annotations.get(*key))
        .filter_map(|name| Reference::parse(name).ok())
        .find(|r| r.tag().is_some() && r.digest().is_none())
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bare_ref_name_gives_no_tag() {
        assert!(tags_of(&annotations(&[(OCI_REF_NAME, "latest")])).is_empty());
    }

    #[test]
    fn full_ref_name_is_a_tag() {
        let tags = tags_of(&annotations(&[(OCI_REF_NAME, "docker.io/library/app:1")]));
        assert_eq!(tags[0].to_string(), "docker.io/library/app:1");
    }

    #[test]
    fn containerd_name_wins_over_ref_name() {
        let tags = tags_of(&annotations(&[
            (CONTAINERD_NAME, "example.com/a:2"),
            (OCI_REF_NAME, "docker.io/library/b:1"),
        ]));
        assert_eq!(tags[0].to_string(), "example.com/a:2");
    }
}

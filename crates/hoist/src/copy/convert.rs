//! Layer compression on the way to the sink ([`super::CopyOptions::compression`], skopeo's
//! `--dest-compress`): which layers are compressed, their media types, and the manifests
//! rewritten to name the compressed blobs.
//!
//! docker 20.10 pushes an image whose layers it holds uncompressed (a `docker load`) by
//! compressing each layer on the way out (`v2PushDescriptor.uploadUsingSession`) and building
//! a new schema 2 manifest from the pushed descriptors (`schema2.ManifestBuilder`). hoist
//! does it for any copy:
//! - **which layers**: distributable layers whose media type says uncompressed
//!   (`…tar`, `application/vnd.docker.image.rootfs.diff.tar`) — [`needs_compression`];
//!   compressed and foreign layers are copied as they are, unless
//!   [`super::CopyOptions::recompress`] asks for layers compressed in another format to be
//!   recompressed (`hoist copy --dest-compress`, as skopeo's `--dest-compress-format`);
//! - **the manifests are rewritten, not rebuilt** ([`rewrite_manifests`]), once every blob is
//!   in the sink: the config descriptor, annotations and layer order stay; only the converted
//!   layers' descriptors change. gzip keeps the manifest's own format (Docker schema 2 layers
//!   become `…rootfs.diff.tar.gzip`, OCI ones `…tar+gzip`); **zstd makes it an OCI manifest**
//!   (`…tar+zstd`, OCI config type), because Docker schema 2 has no zstd layer type that
//!   registries and docker accept. An index naming a rewritten manifest is rewritten in turn
//!   (children first). The result is serialised as docker serialises manifests (three-space
//!   indentation), so the same inputs always give the same digest and a second copy re-sends
//!   the manifest the sink already has.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

use super::CopyError;
use crate::compress::Compression;
use crate::digest::Digest;
use crate::media::types::{
    essence, DOCKER_CONFIG, DOCKER_FOREIGN_LAYER, DOCKER_FOREIGN_LAYER_GZIP, DOCKER_LAYER,
    DOCKER_LAYER_GZIP, DOCKER_LAYER_ZSTD, DOCKER_MANIFEST_V2, OCI_CONFIG, OCI_LAYER,
    OCI_LAYER_GZIP, OCI_LAYER_NONDISTRIBUTABLE, OCI_LAYER_NONDISTRIBUTABLE_GZIP, OCI_LAYER_ZSTD,
    OCI_MANIFEST,
};
use crate::media::{to_json_indented, Descriptor, LayerMediaType, Manifest};

/// A manifest the copy rewrote for its compressed layers (or rewritten children).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// The manifest as the source holds it.
    pub original: Descriptor,
    /// The manifest as the sink now holds it.
    pub descriptor: Descriptor,
    /// Its bytes.
    pub bytes: Bytes,
}

/// Manifests with their bytes, in the order a sink stores them.
pub(crate) type Manifests = Vec<(Descriptor, Bytes)>;

/// Whether a layer of `media_type` is compressed with `compression` on the way: a
/// distributable layer stored uncompressed, or, with `recompress`, one compressed in another
/// format. [`Compression::None`] converts nothing.
pub fn needs_compression(media_type: &str, compression: Compression, recompress: bool) -> bool {
    compression != Compression::None
        && LayerMediaType::classify(media_type).is_some_and(|t| {
            let own = Compression::from(t.compression);
            t.distributable && (own == Compression::None || (recompress && own != compression))
        })
}

/// Whether a manifest of `media_type` with layers compressed with `compression` becomes OCI:
/// zstd needs it; otherwise the manifest's own format is kept.
pub fn pushes_as_oci(media_type: &str, compression: Compression) -> bool {
    compression == Compression::Zstd || essence(media_type) == OCI_MANIFEST
}

/// The media type of a layer compressed with `compression` in a manifest of that format.
pub fn compressed_media_type(compression: Compression, oci: bool) -> &'static str {
    match (compression, oci) {
        (Compression::Zstd, _) => OCI_LAYER_ZSTD,
        (Compression::Gzip, true) => OCI_LAYER_GZIP,
        (Compression::Gzip, false) => DOCKER_LAYER_GZIP,
        (Compression::None, true) => OCI_LAYER,
        (Compression::None, false) => DOCKER_LAYER,
    }
}

/// The media type of the uncompressed layer `layer_media_type` compressed with
/// `compression`, in its own family (OCI or Docker); zstd is always OCI.
pub fn compressed_layer_type(layer_media_type: &str, compression: Compression) -> &'static str {
    let oci = essence(layer_media_type).starts_with("application/vnd.oci.");
    compressed_media_type(compression, oci)
}

/// The OCI media type of a Docker layer type (others unchanged).
pub fn oci_layer_type(media_type: &str) -> String {
    match essence(media_type).as_str() {
        DOCKER_LAYER => OCI_LAYER,
        DOCKER_LAYER_GZIP => OCI_LAYER_GZIP,
        DOCKER_LAYER_ZSTD => OCI_LAYER_ZSTD,
        DOCKER_FOREIGN_LAYER => OCI_LAYER_NONDISTRIBUTABLE,
        DOCKER_FOREIGN_LAYER_GZIP => OCI_LAYER_NONDISTRIBUTABLE_GZIP,
        _ => return media_type.to_owned(),
    }
    .to_owned()
}

/// The manifests of `manifests` (children first) that a copy compressing with `compression`
/// will rewrite: each image with a layer that [`needs_compression`], each index naming one of
/// those — what [`rewrite_manifests`] rewrites, known before any blob is sent.
pub(crate) fn will_rewrite(
    manifests: &[(Descriptor, Bytes)],
    compression: Compression,
    recompress: bool,
) -> HashSet<Digest> {
    let mut rewritten = HashSet::new();
    for (descriptor, bytes) in manifests {
        let rewrites = match Manifest::parse(&descriptor.media_type, bytes) {
            Ok(Manifest::Image(image)) => image
                .layers
                .iter()
                .any(|l| needs_compression(&l.media_type, compression, recompress)),
            Ok(Manifest::Index(index)) => index
                .manifests
                .iter()
                .any(|child| rewritten.contains(&child.digest)),
            _ => false,
        };
        if rewrites {
            rewritten.insert(descriptor.digest.clone());
        }
    }
    rewritten
}

/// `manifests` (children first, as the walker orders them) with every layer of `converted`
/// (original digest ⇒ the compressed blob) replaced, and every index naming a rewritten
/// manifest rewritten in turn. Returns the manifests to store, in the same order, and what
/// was rewritten.
pub(crate) fn rewrite_manifests(
    manifests: &[(Descriptor, Bytes)],
    converted: &HashMap<Digest, Descriptor>,
    compression: Compression,
) -> Result<(Manifests, Vec<Rewritten>), CopyError> {
    let mut moved: HashMap<Digest, Descriptor> = HashMap::new();
    let mut out = Vec::with_capacity(manifests.len());
    let mut rewritten = Vec::new();
    for (descriptor, bytes) in manifests {
        let new = match Manifest::parse(&descriptor.media_type, bytes) {
            Ok(Manifest::Image(image))
                if image
                    .layers
                    .iter()
                    .any(|l| converted.contains_key(&l.digest)) =>
            {
                Some(rewrite_image(image, converted, compression))
            }
            Ok(Manifest::Index(_)) => rewrite_index(descriptor, bytes, &moved)?,
            _ => None,
        };
        match new {
            Some((media_type, body)) => {
                let body = Bytes::from(body);
                let mut new = descriptor.clone();
                new.media_type = media_type;
                new.digest = Digest::sha256_of(&body);
                new.size = body.len() as u64;
                moved.insert(descriptor.digest.clone(), new.clone());
                rewritten.push(Rewritten {
                    original: descriptor.clone(),
                    descriptor: new.clone(),
                    bytes: body.clone(),
                });
                out.push((new, body));
            }
            None => out.push((descriptor.clone(), bytes.clone())),
        }
    }
    Ok((out, rewritten))
}

/// An image manifest with its converted layers replaced (OCI when zstd or already OCI).
fn rewrite_image(
    mut manifest: crate::media::ImageManifest,
    converted: &HashMap<Digest, Descriptor>,
    compression: Compression,
) -> (String, Vec<u8>) {
    let own = manifest.media_type.clone().unwrap_or_default();
    let oci = pushes_as_oci(&own, compression);
    for descriptor in &mut manifest.layers {
        if let Some(blob) = converted.get(&descriptor.digest) {
            descriptor.digest = blob.digest.clone();
            descriptor.size = blob.size;
            descriptor.media_type = compressed_media_type(compression, oci).to_owned();
        }
        if oci {
            descriptor.media_type = oci_layer_type(&descriptor.media_type);
        }
    }
    let media_type = if oci {
        if essence(&manifest.config.media_type) == DOCKER_CONFIG {
            manifest.config.media_type = OCI_CONFIG.to_owned();
        }
        OCI_MANIFEST
    } else {
        DOCKER_MANIFEST_V2
    };
    manifest.media_type = Some(media_type.to_owned());
    (media_type.to_owned(), to_json_indented(&manifest))
}

/// An index with its rewritten children's descriptors replaced; `None` when none moved.
/// Kept as generic JSON so fields hoist does not model survive.
fn rewrite_index(
    descriptor: &Descriptor,
    bytes: &[u8],
    moved: &HashMap<Digest, Descriptor>,
) -> Result<Option<(String, Vec<u8>)>, CopyError> {
    let malformed = |e: serde_json::Error| CopyError::Manifest {
        digest: descriptor.digest.clone(),
        source: Box::new(crate::media::ManifestError::Malformed {
            format: "index",
            source: e,
        }),
    };
    let mut index: serde_json::Value = serde_json::from_slice(bytes).map_err(malformed)?;
    let mut changed = false;
    if let Some(entries) = index
        .get_mut("manifests")
        .and_then(serde_json::Value::as_array_mut)
    {
        for entry in entries {
            let digest = entry
                .get("digest")
                .and_then(serde_json::Value::as_str)
                .and_then(|d| Digest::parse(d).ok());
            if let Some(new) = digest.and_then(|d| moved.get(&d)) {
                entry["digest"] = serde_json::Value::from(new.digest.to_string());
                entry["size"] = serde_json::Value::from(new.size);
                entry["mediaType"] = serde_json::Value::from(new.media_type.clone());
                changed = true;
            }
        }
    }
    Ok(changed.then(|| (descriptor.media_type.clone(), to_json_indented(&index))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_distributable_uncompressed_layers_need_compression() {
        assert!(needs_compression(DOCKER_LAYER, Compression::Gzip, false));
        assert!(needs_compression(OCI_LAYER, Compression::Zstd, false));
        assert!(!needs_compression(
            DOCKER_LAYER_GZIP,
            Compression::Gzip,
            false
        ));
        assert!(!needs_compression(
            DOCKER_FOREIGN_LAYER,
            Compression::Gzip,
            false
        ));
        assert!(!needs_compression(DOCKER_LAYER, Compression::None, false));
        // Recompressing: another format only, never a foreign layer.
        assert!(!needs_compression(
            DOCKER_LAYER_GZIP,
            Compression::Zstd,
            false
        ));
        assert!(needs_compression(
            DOCKER_LAYER_GZIP,
            Compression::Zstd,
            true
        ));
        assert!(!needs_compression(OCI_LAYER_GZIP, Compression::Gzip, true));
        assert!(!needs_compression(
            DOCKER_FOREIGN_LAYER_GZIP,
            Compression::Zstd,
            true
        ));
    }

    #[test]
    fn zstd_layers_are_always_pushed_in_an_oci_manifest() {
        assert!(pushes_as_oci(DOCKER_MANIFEST_V2, Compression::Zstd));
        assert!(!pushes_as_oci(DOCKER_MANIFEST_V2, Compression::Gzip));
        assert!(pushes_as_oci(OCI_MANIFEST, Compression::Gzip));
        assert_eq!(
            compressed_media_type(Compression::Zstd, true),
            OCI_LAYER_ZSTD
        );
        assert_eq!(
            compressed_media_type(Compression::Gzip, false),
            DOCKER_LAYER_GZIP
        );
    }

    #[test]
    fn an_index_naming_a_rewritten_manifest_is_rewritten_after_it() {
        let layer = Descriptor::new(DOCKER_LAYER, Digest::sha256_of(b"tar"), 3);
        let config = Descriptor::new(DOCKER_CONFIG, Digest::sha256_of(b"{}"), 2);
        let image = serde_json::json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_V2,
            "config": config, "layers": [layer]});
        let image = Bytes::from(serde_json::to_vec(&image).unwrap());
        let image_d = Descriptor::new(
            DOCKER_MANIFEST_V2,
            Digest::sha256_of(&image),
            image.len() as u64,
        );
        let index = serde_json::json!({"schemaVersion": 2,
            "mediaType": crate::media::types::OCI_INDEX, "manifests": [image_d]});
        let index = Bytes::from(serde_json::to_vec(&index).unwrap());
        let index_d = Descriptor::new(
            crate::media::types::OCI_INDEX,
            Digest::sha256_of(&index),
            index.len() as u64,
        );
        let gz = Descriptor::new(DOCKER_LAYER_GZIP, Digest::sha256_of(b"gz"), 2);
        let converted = HashMap::from([(layer.digest.clone(), gz.clone())]);

        let (out, rewritten) = rewrite_manifests(
            &[(image_d.clone(), image), (index_d.clone(), index)],
            &converted,
            Compression::Gzip,
        )
        .unwrap();

        assert_eq!(rewritten.len(), 2);
        let new_image: serde_json::Value = serde_json::from_slice(&out[0].1).unwrap();
        assert_eq!(new_image["layers"][0]["digest"], gz.digest.to_string());
        assert_eq!(new_image["layers"][0]["mediaType"], DOCKER_LAYER_GZIP);
        let new_index: serde_json::Value = serde_json::from_slice(&out[1].1).unwrap();
        assert_eq!(
            new_index["manifests"][0]["digest"],
            out[0].0.digest.to_string()
        );
        assert_ne!(out[1].0.digest, index_d.digest);
    }
}

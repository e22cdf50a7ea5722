//! Pushing an image whose layers are stored uncompressed (loaded from a docker-archive): the
//! layers' compressed form, and the manifest that references it.
//!
//! docker 20.10 pushes a loaded image by compressing each layer on the way out
//! (`v2PushDescriptor.uploadUsingSession`) and building a new schema 2 manifest from the
//! pushed descriptors (`schema2.ManifestBuilder`); its `V2MetadataService` remembers the
//! compressed digest of each diffID, so the next push finds the layer instead of compressing
//! it again. hoist does the same, with two differences:
//! - the compressed blob is also **kept in the content store** (see
//!   `transfer::upload_compress`), so a later push — to this registry or another — reuses
//!   the very bytes: a blob source of the diffID whose blob the store holds, in the wanted
//!   compression (recognised by its magic bytes), is used as is ([`reusable_blob`]);
//! - the manifest is the **stored manifest rewritten** ([`rewrite_manifest`]), not rebuilt:
//!   the config descriptor, annotations and layer order stay; only the converted layers'
//!   descriptors change. gzip keeps the manifest's own format (Docker schema 2 layers become
//!   `application/vnd.docker.image.rootfs.diff.tar.gzip`, OCI ones `…tar+gzip`); **zstd makes
//!   it an OCI manifest** (`…tar+zstd`, OCI config type), because Docker schema 2 has no zstd
//!   layer type that registries and docker accept. The result is serialised as docker
//!   serialises manifests (three-space indentation), so the same inputs always give the same
//!   manifest digest and a second push re-sends the manifest the registry already has.
//!
//! After the manifest is in the registry, the rewritten image is recorded (an image record
//! keyed by the new manifest digest, same image ID) with a digest reference `NAME@DIGEST`,
//! as docker's push adds one (`addDigestReference`): `hoist inspect` lists it in
//! `RepoDigests`, and `hoist pull NAME@DIGEST` finds it locally.

use std::collections::HashMap;
use std::io::Read;

use serde::Serialize;

use super::error::PushError;
use crate::compress::sniff;
use crate::digest::Digest;
use crate::media::types::{
    essence, DOCKER_CONFIG, DOCKER_FOREIGN_LAYER, DOCKER_FOREIGN_LAYER_GZIP, DOCKER_LAYER,
    DOCKER_LAYER_GZIP, DOCKER_LAYER_ZSTD, DOCKER_MANIFEST_V2, OCI_CONFIG, OCI_LAYER,
    OCI_LAYER_GZIP, OCI_LAYER_NONDISTRIBUTABLE, OCI_LAYER_NONDISTRIBUTABLE_GZIP, OCI_LAYER_ZSTD,
    OCI_MANIFEST,
};
use crate::media::{LayerCompression, LayerMediaType, Manifest, MAX_MANIFEST_SIZE};
use crate::store::metadata::{ImageLayer, ImageRecord};
use crate::store::{BlobInfo, ContentStore, MetadataStore};
use crate::transfer::Compression;

/// Whether `layer` must be compressed before it is pushed with `compression`: a distributable
/// layer stored uncompressed (docker-archive loads). [`Compression::None`] converts nothing.
pub(crate) fn needs_compression(layer: &ImageLayer, compression: Compression) -> bool {
    compression != Compression::None
        && LayerMediaType::classify(&layer.media_type)
            .is_some_and(|t| t.distributable && t.compression == LayerCompression::None)
}

/// Whether the pushed manifest of an image with uncompressed layers is OCI: zstd needs it;
/// otherwise the stored manifest's own format is kept.
pub(crate) fn pushes_as_oci(stored_media_type: &str, compression: Compression) -> bool {
    compression == Compression::Zstd || essence(stored_media_type) == OCI_MANIFEST
}

/// The media type of a layer compressed with `compression` in a manifest of that format.
pub(crate) fn compressed_media_type(compression: Compression, oci: bool) -> &'static str {
    match (compression, oci) {
        (Compression::Zstd, _) => OCI_LAYER_ZSTD,
        (Compression::Gzip, true) => OCI_LAYER_GZIP,
        (Compression::Gzip, false) => DOCKER_LAYER_GZIP,
        (Compression::None, true) => OCI_LAYER,
        (Compression::None, false) => DOCKER_LAYER,
    }
}

/// A blob already known for `diff_id` (a blob source from an earlier push or pull) that the
/// store holds in `compression`, most recently recorded first. Blocking.
pub(crate) fn reusable_blob(
    metadata: &MetadataStore,
    content: &ContentStore,
    diff_id: &Digest,
    compression: Compression,
) -> Result<Option<BlobInfo>, PushError> {
    let mut seen = Vec::new();
    for record in metadata.blob_sources(diff_id)? {
        let digest = record.source.digest;
        if digest == *diff_id || seen.contains(&digest) {
            continue;
        }
        seen.push(digest.clone());
        let Ok(Some(info)) = content.info(&digest) else {
            continue;
        };
        let mut magic = [0u8; 4];
        let read = content
            .open_blob(&digest)
            .ok()
            .and_then(|mut f| f.read(&mut magic).ok());
        if read.is_some_and(|n| sniff(&magic[..n]) == compression) {
            return Ok(Some(info));
        }
    }
    Ok(None)
}

/// The stored manifest of `record` with its layers replaced by `pushed` (original blob digest
/// ⇒ the layer as pushed) and, when `oci`, turned into an OCI manifest; with the image record
/// for it. Blocking.
pub(crate) fn rewrite_manifest(
    content: &ContentStore,
    record: &ImageRecord,
    pushed: &HashMap<Digest, ImageLayer>,
    oci: bool,
) -> Result<(Vec<u8>, ImageRecord), PushError> {
    let bad = |reason: String| PushError::BadImage {
        manifest: record.manifest_digest.clone(),
        reason,
    };
    let bytes = content.read_to_vec_capped(&record.manifest_digest, MAX_MANIFEST_SIZE as u64)?;
    let Manifest::Image(mut manifest) = Manifest::parse(&record.manifest_media_type, &bytes)
        .map_err(|e| bad(format!("stored manifest does not parse: {e}")))?
    else {
        return Err(bad("the stored manifest is not an image manifest".into()));
    };
    for descriptor in &mut manifest.layers {
        if let Some(layer) = pushed.get(&descriptor.digest) {
            descriptor.digest = layer.digest.clone();
            descriptor.size = layer.size;
            descriptor.media_type = layer.media_type.clone();
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
    let body = to_json_indented(&manifest);
    let new = ImageRecord {
        manifest_digest: Digest::sha256_of(&body),
        manifest_media_type: media_type.to_owned(),
        manifest_size: body.len() as u64,
        index_digest: None,
        layers: record
            .layers
            .iter()
            .map(|l| pushed.get(&l.digest).cloned().unwrap_or_else(|| l.clone()))
            .map(|mut l| {
                if oci {
                    l.media_type = oci_layer_type(&l.media_type);
                }
                l
            })
            .collect(),
        ..record.clone()
    };
    Ok((body, new))
}

/// The OCI media type of a Docker layer type (others unchanged).
fn oci_layer_type(media_type: &str) -> String {
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

/// JSON indented with three spaces, docker/distribution's `json.MarshalIndent(m, "", "   ")`.
fn to_json_indented<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    // Serialising plain structs into a Vec cannot fail.
    let _ = value.serialize(&mut serializer);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(media_type: &str) -> ImageLayer {
        ImageLayer {
            diff_id: Digest::sha256_of(b"tar"),
            digest: Digest::sha256_of(b"tar"),
            size: 3,
            media_type: media_type.to_owned(),
        }
    }

    #[test]
    fn only_distributable_uncompressed_layers_need_compression() {
        assert!(needs_compression(&layer(DOCKER_LAYER), Compression::Gzip));
        assert!(needs_compression(&layer(OCI_LAYER), Compression::Zstd));
        assert!(!needs_compression(
            &layer(DOCKER_LAYER_GZIP),
            Compression::Gzip
        ));
        assert!(!needs_compression(
            &layer(DOCKER_FOREIGN_LAYER),
            Compression::Gzip
        ));
        assert!(!needs_compression(&layer(DOCKER_LAYER), Compression::None));
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
}

//! `hoist inspect REF`: what `docker image inspect` shows (docker's `types.ImageInspect`,
//! built by `ImageService.LookupImage`), plus the manifest the image came in, as
//! `skopeo inspect --raw` would show it.
//!
//! Field names and order are docker's: `Id`, `RepoTags`, `RepoDigests`, `Parent`, `Comment`,
//! `Created`, `DockerVersion`, `Author`, `Config`, `Architecture`, `Variant`, `Os`,
//! `OsVersion`, `Size`, `VirtualSize`, `RootFS`. `Config` is the config blob's `config` object
//! exactly as stored (docker's keys, `Cmd`, `Env`, …), not a re-encoding. docker's
//! daemon-only fields (`Container`, `ContainerConfig`, `GraphDriver`, `Metadata`) are left out.
//! hoist adds `CompressedSize` (after `VirtualSize`), `ManifestDigest`, `ManifestMediaType`, `IndexDigest` (when the image was chosen
//! from an index) and `Manifest` (the manifest JSON as stored).

use serde::Serialize;
use serde_json::Value;

use crate::digest::Digest;
use crate::media::{MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE};
use crate::store::metadata::ImageRecord;
use crate::store::MetadataStore;

use super::created::{normalize, ZERO_TIME};
use super::size::image_sizes;
use super::{resolve_image, ImageError};

/// docker's image inspect object, plus the manifest (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    /// The image ID, `sha256:…`.
    pub id: String,
    /// Tag references, familiar (`ubuntu:22.04`).
    pub repo_tags: Vec<String>,
    /// Digest references, familiar (`ubuntu@sha256:…`).
    pub repo_digests: Vec<String>,
    /// Always empty: pulled images have no local parent.
    pub parent: String,
    /// The config's `comment`.
    pub comment: String,
    /// The config's `created`, UTC RFC 3339 with nanoseconds (Go's zero time when absent).
    pub created: String,
    /// The config's `docker_version`.
    pub docker_version: String,
    /// The config's `author`.
    pub author: String,
    /// The config's `config` object as stored (null when absent).
    pub config: Value,
    /// The platform's architecture.
    pub architecture: String,
    /// The platform's variant, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The platform's OS.
    pub os: String,
    /// The config's `os.version` (Windows), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// The unpacked size of the layers (docker's; see [`super::size`]).
    pub size: u64,
    /// The same (docker 20.10 still prints it).
    pub virtual_size: u64,
    /// The sum of the layer blobs' (compressed) sizes: what a pull downloads (hoist's).
    pub compressed_size: u64,
    /// The layers' diffIDs.
    #[serde(rename = "RootFS")]
    pub root_fs: RootFsInspect,
    /// The manifest's digest.
    pub manifest_digest: String,
    /// The manifest's media type.
    pub manifest_media_type: String,
    /// The index / manifest list the manifest was chosen from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_digest: Option<String>,
    /// The manifest JSON as stored.
    pub manifest: Value,
}

/// docker's `RootFS` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootFsInspect {
    /// Always `layers`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// The diffIDs, bottom first.
    pub layers: Vec<String>,
}

/// Inspects the image `input` names (any REF [`resolve_image`] accepts).
pub fn inspect_image(meta: &MetadataStore, input: &str) -> Result<ImageInspect, ImageError> {
    let image = resolve_image(meta, input)?;
    let record = image.record;
    let config = read_json(meta, &record, "config", &record.image_id, MAX_CONFIG_SIZE)?;
    let manifest = read_json(
        meta,
        &record,
        "manifest",
        &record.manifest_digest,
        MAX_MANIFEST_SIZE,
    )?;
    let (mut repo_tags, mut repo_digests) = (Vec::new(), Vec::new());
    for reference in meta.references(&record.image_id)? {
        match reference.digest() {
            Some(_) => repo_digests.push(reference.familiar()),
            None => repo_tags.push(reference.familiar()),
        }
    }
    let text = |key: &str| {
        config
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let non_empty = |key: &str| Some(text(key)).filter(|s| !s.is_empty());
    let created = config
        .get("created")
        .and_then(Value::as_str)
        .and_then(normalize)
        .unwrap_or_else(|| ZERO_TIME.to_owned());
    let diff_ids: Vec<String> = config
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_else(|| {
            record
                .layers
                .iter()
                .map(|l| l.diff_id.to_string())
                .collect()
        });
    let sizes = image_sizes(meta, &record)?;
    let size = if sizes.complete {
        sizes.total
    } else {
        record.size
    };
    Ok(ImageInspect {
        id: record.image_id.to_string(),
        repo_tags,
        repo_digests,
        parent: String::new(),
        comment: text("comment"),
        created,
        docker_version: text("docker_version"),
        author: text("author"),
        config: config.get("config").cloned().unwrap_or(Value::Null),
        architecture: non_empty("architecture")
            .unwrap_or_else(|| record.platform.architecture.clone()),
        variant: non_empty("variant").or_else(|| record.platform.variant.clone()),
        os: non_empty("os").unwrap_or_else(|| record.platform.os.clone()),
        os_version: non_empty("os.version"),
        size,
        virtual_size: size,
        compressed_size: sizes.compressed,
        root_fs: RootFsInspect {
            kind: "layers".to_owned(),
            layers: diff_ids,
        },
        manifest_digest: record.manifest_digest.to_string(),
        manifest_media_type: record.manifest_media_type.clone(),
        index_digest: record.index_digest.as_ref().map(Digest::to_string),
        manifest,
    })
}

fn read_json(
    meta: &MetadataStore,
    record: &ImageRecord,
    what: &'static str,
    digest: &Digest,
    max: usize,
) -> Result<Value, ImageError> {
    let bytes = meta.content().read_to_vec_capped(digest, max as u64)?;
    serde_json::from_slice(&bytes).map_err(|source| ImageError::CorruptBlob {
        what,
        digest: digest.clone(),
        record: Box::new(record.clone()),
        source,
    })
}

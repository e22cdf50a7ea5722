//! docker-archive tarballs: `hoist save` writes what `docker save` writes, `hoist load` reads it
//! (and OCI image layout tarballs) into the store. docker's `image/tarexport` (`save.go`,
//! `load.go`, docker 20.10).
//!
//! | file | owns | docker counterpart |
//! |---|---|---|
//! | [`save`] | [`save_images`]: images of the store → one tar stream | `tarexporter.Save`, `saveSession` |
//! | [`legacy`] | v1-compatibility IDs and `json` files, chain IDs | `v1.CreateID`, `layer.CreateChainID` |
//! | [`load`] | what `load` reports; reading a possibly compressed stream (the load itself: `crate::copy::load_archive`, a copy into the store) | `tarexporter.Load` |
//! | `members` | reading the stream: path safety, spooling blobs, capped JSON | `safePath`, the extraction into a temp dir |
//! | `docker` | the manifests synthesized from `manifest.json` | `tarexporter.Load`'s loop |
//! | `oci` | the tags of an OCI layout's `index.json` entries | docker ≥ 25's OCI path |
//! | [`oci_layout`] | [`write_oci_layout`]: an OCI layout directory → one tar stream | skopeo's `oci-archive` |
//!
//! These are the formats. The `docker-archive:` and `oci-archive:` transports of `hoist copy`
//! (sources and sinks of the copy engine) are built on them in `crate::copy`'s
//! `archive_source` and `archive_sink`.
//!
//! # The format (`docker save`, docker 20.10)
//! ```text
//! <v1 id>/VERSION       "1.0"
//! <v1 id>/json          the layer's v1-compatibility image JSON
//! <v1 id>/layer.tar     the layer, UNCOMPRESSED (a symlink to the first copy for a repeated diffID)
//! <config hex>.json     the image config, byte for byte (its sha256 is the image ID)
//! manifest.json         [{"Config":"<hex>.json","RepoTags":["name:tag"],"Layers":["<v1 id>/layer.tar"]}]
//! repositories          {"name":{"tag":"<top v1 id>"}} (only when some image is tagged)
//! ```
//! A layer's diffID is the sha256 of its `layer.tar`, and must equal the config's
//! `rootfs.diff_ids[i]`; `hoist load` checks it and so does `docker load`.
//!
//! # The seam with push: loaded layers are uncompressed
//! A docker-archive carries no compressed layer blobs, only the tars. `hoist load` stores each
//! `layer.tar` as a blob as is (digest = diffID) and records a synthesized Docker schema 2
//! manifest whose layers have the **uncompressed** media type
//! `application/vnd.docker.image.rootfs.diff.tar` ([`crate::media::types::DOCKER_LAYER`]).
//! That media type, in the image record's layers ([`ImageLayer::media_type`]) and in the
//! stored manifest, is the mark: push compresses such layers while uploading and pushes a
//! manifest that references the compressed digests (it must not push the synthesized manifest
//! as is — registries would serve multi-gigabyte uncompressed layers). A `layer.tar` that is
//! itself gzip or zstd (some tools write that; docker's `DecompressStream` accepts it) is kept
//! compressed with the matching compressed media type, and can be pushed as is.
//!
//! [`ImageLayer::media_type`]: crate::store::metadata::ImageLayer::media_type

pub(crate) mod docker;
mod error;
pub mod legacy;
pub mod load;
pub(crate) mod members;
pub(crate) mod oci;
pub mod oci_layout;
pub mod save;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use error::ArchiveError;
pub use load::{LoadEvent, LoadReport, LoadedImage};
pub use oci_layout::write_oci_layout;
pub use save::{save_images, write_docker_archive, ArchiveImage, SaveReport};

/// `manifest.json`'s name.
pub const MANIFEST_FILE: &str = "manifest.json";
/// `repositories`' name (docker's `legacyRepositoriesFileName`).
pub const REPOSITORIES_FILE: &str = "repositories";
/// A layer's tar inside its v1 directory (docker's `legacyLayerFileName`).
pub const LAYER_FILE: &str = "layer.tar";
/// A layer's v1-compatibility JSON (docker's `legacyConfigFileName`).
pub const V1_JSON_FILE: &str = "json";
/// A layer's version file (docker's `legacyVersionFileName`).
pub const VERSION_FILE: &str = "VERSION";

/// One entry of `manifest.json` (docker's `manifestItem`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestItem {
    /// The config member, `<config hex>.json`.
    #[serde(rename = "Config")]
    pub config: String,
    /// Familiar tagged references; `null` for an image saved by ID (as docker writes it).
    #[serde(rename = "RepoTags")]
    pub repo_tags: Option<Vec<String>>,
    /// The layer members, bottom first.
    #[serde(rename = "Layers", default)]
    pub layers: Vec<String>,
    /// docker's `Parent` (locally built images only): read and ignored, never written.
    #[serde(rename = "Parent", default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// docker's `LayerSources` (foreign layers): read and ignored, never written.
    #[serde(
        rename = "LayerSources",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub layer_sources: Option<BTreeMap<String, serde_json::Value>>,
}

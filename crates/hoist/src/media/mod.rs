//! Media: what images are made of, as JSON documents and media types, and the decisions made
//! from them before any blob is fetched, the walk over their graph among them. Pure parsing
//! and logic; no I/O.
//!
//! An image is a graph of [`Descriptor`]s (DESIGN principle 1):
//!
//! ```text
//! index / manifest list ──(platform)──▶ image manifest ──▶ config (diffIDs, platform, history)
//!                                                      └──▶ layers (bottom first)
//! schema 1 manifest ──▶ fsLayers + history ──▶ layers + config built from v1Compatibility
//! ```
//!
//! | file | owns | docker / OCI counterpart |
//! |---|---|---|
//! | [`types`] | media-type constants; manifest, config (`ImageTypes`/`PluginTypes`) and layer (compression, foreign) classification | docker/distribution `schema2`, `manifestlist`, `schema1`, `ocischema` constants; moby `validateMediaType` |
//! | [`descriptor`] | [`Descriptor`] | OCI `descriptor.md`, `distribution.Descriptor` |
//! | [`manifest`] | [`Manifest::parse`]: format detection from `Content-Type` or body, size cap, validation, digest verification | `distribution.UnmarshalManifest`, `schema2ManifestDigest` |
//! | [`platform`] | [`Platform`], normalisation, host platform, [`PlatformMatcher`], [`NoMatchingManifest`] | containerd `platforms`, moby `filterManifests`, `noMatchesErr` |
//! | [`config`] | [`ImageConfig`]: platform, `rootfs.diff_ids`, history | moby `image.NewFromJSON`, `rootFSFromConfig` |
//! | [`schema1`] | [`Schema1Manifest`]: JWS payload and digest, layers and config as docker builds them | docker/distribution `schema1.SignedManifest`, moby `pullSchema1`, `v1.MakeConfigFromV1Config` |
//! | [`walk`] | [`Walker`]: the one walk over the descriptor graph (children, platform filter, depth and size limits, referrers as more roots), I/O left to the caller | containerd `images.Walk`, `ChildrenHandler`, `LimitManifests` |
//! | [`referrer`] | [`Referrer`]: a manifest with a `subject` as its referrers list names it; the list (an OCI index) written and read, capped | distribution-spec 1.1 "Listing Referrers", "Referrers Tag Schema" |
//!
//! How pull uses it: fetch the manifest (at most [`MAX_MANIFEST_SIZE`] bytes), call
//! [`Manifest::parse_with`] with the response's `Content-Type`, [`Manifest::verify`] it
//! against the digest asked for (or take [`Manifest::digest`] for a tag); for an
//! [`ImageIndex`] pick entries with [`PlatformMatcher::select`] and repeat; for an
//! [`ImageManifest`] fetch the config (≤ [`MAX_CONFIG_SIZE`]) and parse it with
//! [`ImageConfig::parse`], download `layers` (their [`LayerMediaType`]s say how to
//! decompress) and compare diffIDs with [`ImageConfig::diff_ids`]; for schema 1, take
//! [`Schema1Manifest::to_image`], download its layers, then build the config with
//! [`Schema1Image::config_json`].
//!
//! Invariants: every value that leaves this module parsed is validated — digests are
//! [`crate::digest::Digest`]s, sizes are within the caps, config media types are accepted ones,
//! layer media types are classified. No input can make it panic (a proptest feeds it
//! arbitrary bytes).
//!
//! oci-spec supplies the runtime `Config` and `History` types inside [`ImageConfig`]; the
//! manifest, index and descriptor types are hoist's own, because oci-spec's descriptors carry
//! a second digest type and do not say whether a document was OCI or Docker (see
//! [`manifest`]'s doc).

#![warn(missing_docs)]

pub mod config;
pub mod descriptor;
pub mod manifest;
pub mod platform;
pub mod referrer;
pub mod schema1;
mod schema1_signature;
pub mod types;
pub mod walk;

pub use config::{ConfigError, ImageConfig, RootFs, MAX_CONFIG_SIZE};
pub use descriptor::{Descriptor, DescriptorError};
pub use manifest::{
    ImageIndex, ImageManifest, Manifest, ManifestError, ManifestOptions, MAX_MANIFEST_SIZE,
};
pub use platform::{NoMatchingManifest, Platform, PlatformMatcher, PlatformParseError};
pub use referrer::{Referrer, ReferrersError, MAX_REFERRERS};
pub use schema1::{Schema1Error, Schema1Image, Schema1Manifest};
pub use types::{ConfigMediaType, LayerCompression, LayerMediaType, ManifestKind};
pub use walk::{Children, Node, WalkError, WalkLimits, Walker, MAX_INDEX_DEPTH};

/// JSON indented with three spaces, docker/distribution's `json.MarshalIndent(m, "", "   ")`:
/// how docker serialises the manifests it builds (a rewritten push manifest, a saved
/// archive's `manifest.json`), so the same content always gives the same digest.
pub(crate) fn to_json_indented<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    // Serialising plain structs into a Vec cannot fail.
    let _ = value.serialize(&mut serializer);
    out
}

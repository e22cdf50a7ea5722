//! Manifests: parsing registry bytes into an [`ImageManifest`], [`ImageIndex`] or
//! [`Schema1Manifest`], and the checks docker makes before pulling anything they reference.
//!
//! The format is chosen like docker/distribution's `UnmarshalManifest`: by the response's
//! `Content-Type` when it names one of the five manifest types; when it is generic
//! (`application/json`, `text/plain`, `application/octet-stream`, empty) or unknown, by the
//! body's `mediaType`, else its `schemaVersion` (1 ⇒ schema 1; 2 ⇒ index if it has
//! `manifests`, image manifest if it has `config`). docker would fall back to schema 1 for
//! every unknown type; reading the body instead makes OCI manifests served as
//! `application/json` (GitLab, S3-backed mirrors) pull too. A body `mediaType` that
//! contradicts a specific `Content-Type` is refused, as distribution's `ocischema`/`schema2`
//! unmarshalers refuse it.
//!
//! Checks, in order (each a [`ManifestError`] variant quoting what was wrong):
//! 1. size ≤ [`MAX_MANIFEST_SIZE`] (4 MiB, docker/distribution's `maxManifestBodySize`);
//! 2. well-formed JSON of the chosen format (serde's message names the field and position),
//!    `schemaVersion` 2 (1 for schema 1), every digest valid, every `urls` entry http(s);
//! 3. for image manifests: the config media type is one of the accepted types (docker's
//!    `ImageTypes` by default); a plugin config (`PluginTypes`) is refused saying a plugin was
//!    found, anything else as unknown (docker's `validateMediaType` /
//!    `invalidManifestClassError`); the config is ≤ [`MAX_CONFIG_SIZE`]; every layer has a
//!    layer media type hoist can unpack (docker would download anything and fail at unpack);
//! 4. schema 1 is refused with docker's "invalid manifest: not schema2" when
//!    [`ManifestOptions::require_schema2`] is set (docker's `Config.RequireSchema2`).
//!
//! OCI and Docker image manifests share one struct (they are the same JSON shape; docker's
//! `schema2.Manifest` and `ocischema.Manifest` differ only in media types), as do OCI indexes
//! and Docker manifest lists. oci-spec's `ImageManifest`/`ImageIndex` are not used because
//! their descriptors carry oci-spec's own digest type instead of [`crate::digest::Digest`] and
//! they cannot say which of the two formats a document was; hoist keeps one digest type across
//! registry, store and media.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::config::MAX_CONFIG_SIZE;
use super::descriptor::{null_as_default, Descriptor, DescriptorError};
use super::schema1::{Schema1Error, Schema1Manifest};
use super::types::{
    essence, is_generic_content_type, ConfigMediaType, LayerMediaType, ManifestKind,
    IMAGE_CONFIG_TYPES,
};
use crate::digest::Digest;

/// Largest manifest hoist reads: 4 MiB, docker/distribution's `maxManifestBodySize`. The
/// registry client should stop reading at this many bytes plus one.
pub const MAX_MANIFEST_SIZE: usize = 4 << 20;

/// A manifest of any format hoist pulls.
#[derive(Debug, Clone, PartialEq)]
// One manifest is handled at a time; boxing would only add an indirection to every match.
#[allow(clippy::large_enum_variant)]
pub enum Manifest {
    /// An OCI image manifest or a Docker schema 2 manifest.
    Image(ImageManifest),
    /// An OCI image index or a Docker manifest list.
    Index(ImageIndex),
    /// A Docker schema 1 manifest, signed or not (deprecated).
    Schema1(Schema1Manifest),
}

/// An OCI image manifest or Docker schema 2 manifest: one config and its layers, bottom first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The body's media type; after [`Manifest::parse`] always set (filled in from the
    /// `Content-Type` when the body omits it, as OCI allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// OCI 1.1 artifact type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The image config blob.
    pub config: Descriptor,
    /// The layer blobs, bottom-most first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub layers: Vec<Descriptor>,
    /// OCI 1.1 subject (the manifest this one refers to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image index or Docker manifest list: per-platform manifests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// The body's media type; after [`Manifest::parse`] always set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// OCI 1.1 artifact type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The entries; choose among them with [`super::platform::PlatformMatcher::select`].
    #[serde(default, deserialize_with = "null_as_default")]
    pub manifests: Vec<Descriptor>,
    /// OCI 1.1 subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
}

/// What the caller accepts (the parts of docker's `ImagePullConfig` / `Config` that concern
/// manifests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestOptions {
    /// Config media types accepted for image manifests (docker's `Schema2Types`; default
    /// `ImageTypes`).
    pub accepted_config_types: Vec<String>,
    /// Refuse schema 1 (docker's `RequireSchema2`).
    pub require_schema2: bool,
}

impl Default for ManifestOptions {
    fn default() -> Self {
        ManifestOptions {
            accepted_config_types: IMAGE_CONFIG_TYPES.iter().map(|t| t.to_string()).collect(),
            require_schema2: false,
        }
    }
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The body exceeds [`MAX_MANIFEST_SIZE`].
    #[error("manifest is {size} bytes, larger than the {limit}-byte (4 MiB) limit")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Neither the `Content-Type` nor the body tell which manifest format this is.
    #[error(
        "unsupported manifest format: Content-Type {content_type:?} and a body with no known \
         mediaType or schemaVersion"
    )]
    UnknownFormat {
        /// The response's `Content-Type`.
        content_type: String,
    },
    /// The body declares a media type that is not a manifest type hoist pulls.
    #[error("unsupported manifest media type {media_type:?}")]
    UnsupportedMediaType {
        /// The declared type.
        media_type: String,
    },
    /// The `Content-Type` and the body's `mediaType` name different formats.
    #[error("manifest Content-Type {content_type:?} does not match its mediaType {body:?}")]
    MediaTypeMismatch {
        /// The response's `Content-Type`.
        content_type: String,
        /// The body's `mediaType`.
        body: String,
    },
    /// The body is not valid JSON of the chosen format.
    #[error("malformed {format}: {source}")]
    Malformed {
        /// The format it was read as ("OCI image manifest", …).
        format: &'static str,
        /// serde's description: the field and position.
        #[source]
        source: serde_json::Error,
    },
    /// `schemaVersion` is not the one of the format.
    #[error("unsupported schemaVersion {found} in {format} (expected {expected})")]
    SchemaVersion {
        /// The format.
        format: &'static str,
        /// The version found.
        found: u32,
        /// The version required.
        expected: u32,
    },
    /// A descriptor is not well-formed.
    #[error("invalid {what} in {format}: {source}")]
    Descriptor {
        /// The format.
        format: &'static str,
        /// Which descriptor ("config", "layer 3", "manifest 2").
        what: String,
        /// The defect.
        #[source]
        source: DescriptorError,
    },
    /// The config is a docker plugin's (docker's `PluginTypes`).
    #[error(
        "encountered remote \"plugin\"({media_type}) when fetching: this is a docker plugin, \
         not an image"
    )]
    PluginConfig {
        /// The config media type.
        media_type: String,
    },
    /// The config media type is neither an image nor a plugin type, or not accepted.
    #[error(
        "encountered remote \"{class}\"({media_type}) when fetching: config media type \
         {media_type:?} is not an accepted image config type"
    )]
    UnacceptedConfig {
        /// docker's class name ("unknown", or "image" for a type the caller excluded).
        class: ConfigMediaType,
        /// The config media type.
        media_type: String,
    },
    /// The config descriptor announces more than [`MAX_CONFIG_SIZE`].
    #[error("image config {digest} is {size} bytes, larger than the {limit}-byte (4 MiB) limit")]
    ConfigTooLarge {
        /// The config digest.
        digest: Digest,
        /// Its announced size.
        size: u64,
        /// The limit.
        limit: usize,
    },
    /// A layer's media type is not a layer type hoist can unpack.
    #[error("layer {index} ({digest}) has unsupported media type {media_type:?}")]
    UnsupportedLayer {
        /// Position in `layers`, from 0.
        index: usize,
        /// The layer digest.
        digest: Digest,
        /// Its media type.
        media_type: String,
    },
    /// Schema 1 when schema 2 is required (docker's message).
    #[error("invalid manifest: not schema2 (the registry sent a deprecated schema 1 manifest and schema 2 is required)")]
    NotSchema2,
    /// A schema 1 manifest could not be read.
    #[error(transparent)]
    Schema1(#[from] Schema1Error),
    /// The manifest does not hash to the digest it was fetched by.
    #[error("manifest verification failed for digest {expected} (the content hashes to {actual})")]
    DigestMismatch {
        /// The digest asked for.
        expected: Digest,
        /// The digest of the content.
        actual: Digest,
    },
}

/// The few fields that tell the format of a body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    schema_version: Option<serde_json::Value>,
    #[serde(default)]
    manifests: Option<IgnoredAny>,
    #[serde(default)]
    config: Option<IgnoredAny>,
}

impl Manifest {
    /// Parses and validates with [`ManifestOptions::default`] (docker's `ImageTypes`, schema 1
    /// allowed).
    pub fn parse(content_type: &str, body: &[u8]) -> Result<Manifest, ManifestError> {
        Manifest::parse_with(content_type, body, &ManifestOptions::default())
    }

    /// Parses `body`, served with `content_type`, and validates it (see the module doc).
    pub fn parse_with(
        content_type: &str,
        body: &[u8],
        options: &ManifestOptions,
    ) -> Result<Manifest, ManifestError> {
        if body.len() > MAX_MANIFEST_SIZE {
            return Err(ManifestError::TooLarge {
                size: body.len(),
                limit: MAX_MANIFEST_SIZE,
            });
        }
        let kind = detect_kind(content_type, body)?;
        let manifest = match kind {
            ManifestKind::DockerSchema1 => {
                if options.require_schema2 {
                    return Err(ManifestError::NotSchema2);
                }
                Manifest::Schema1(Schema1Manifest::parse(body)?)
            }
            ManifestKind::OciManifest | ManifestKind::DockerManifest => {
                let mut m: ImageManifest = read_json(kind, body)?;
                m.media_type
                    .get_or_insert_with(|| kind.media_type().to_owned());
                m.validate(kind, options)?;
                Manifest::Image(m)
            }
            ManifestKind::OciIndex | ManifestKind::DockerManifestList => {
                let mut i: ImageIndex = read_json(kind, body)?;
                i.media_type
                    .get_or_insert_with(|| kind.media_type().to_owned());
                i.validate(kind)?;
                Manifest::Index(i)
            }
        };
        Ok(manifest)
    }

    /// Which of the five formats this is.
    pub fn kind(&self) -> ManifestKind {
        match self {
            Manifest::Image(m) => m.kind(),
            Manifest::Index(i) => i.kind(),
            Manifest::Schema1(_) => ManifestKind::DockerSchema1,
        }
    }

    /// The media type to record for this manifest (its descriptor in `index.json`, the
    /// `Content-Type` when serving it): the body's `mediaType`, or the format's type.
    pub fn media_type(&self) -> &str {
        match self {
            Manifest::Image(m) => m.media_type.as_deref().unwrap_or(m.kind().media_type()),
            Manifest::Index(i) => i.media_type.as_deref().unwrap_or(i.kind().media_type()),
            Manifest::Schema1(s) => s.media_type(),
        }
    }

    /// The manifest's sha256 digest as docker computes it: over the bytes as served (`body`),
    /// except for signed schema 1, whose digest is over the payload without the signature
    /// block ([`Schema1Manifest::canonical`]).
    pub fn digest(&self, body: &[u8]) -> Digest {
        match self {
            Manifest::Schema1(s) => s.digest(),
            _ => Digest::sha256_of(body),
        }
    }

    /// Checks that the manifest (served as `body`) has the digest it was fetched by
    /// (docker's `schema2ManifestDigest` / `verifySchema1Manifest`), using `expected`'s
    /// algorithm.
    pub fn verify(&self, body: &[u8], expected: &Digest) -> Result<(), ManifestError> {
        let hashed = match self {
            Manifest::Schema1(s) => s.canonical(),
            _ => body,
        };
        let actual = Digest::of(expected.algorithm(), hashed);
        if &actual == expected {
            Ok(())
        } else {
            Err(ManifestError::DigestMismatch {
                expected: expected.clone(),
                actual,
            })
        }
    }
}

impl ImageManifest {
    /// OCI image manifest or Docker schema 2 manifest, from the media type.
    pub fn kind(&self) -> ManifestKind {
        self.media_type
            .as_deref()
            .and_then(ManifestKind::from_media_type)
            .filter(|k| matches!(k, ManifestKind::DockerManifest))
            .unwrap_or(ManifestKind::OciManifest)
    }

    /// The layers with their classification, bottom first. After [`Manifest::parse`] every
    /// layer is classified.
    pub fn classified_layers(&self) -> impl Iterator<Item = (&Descriptor, LayerMediaType)> {
        self.layers
            .iter()
            .filter_map(|d| Some((d, d.layer_media_type()?)))
    }

    fn validate(&self, kind: ManifestKind, options: &ManifestOptions) -> Result<(), ManifestError> {
        let format = format_name(kind);
        check_schema_version(format, self.schema_version)?;
        let described = |what: String| {
            move |source| ManifestError::Descriptor {
                format,
                what,
                source,
            }
        };
        self.config
            .validate()
            .map_err(described("config".to_owned()))?;
        check_config_media_type(&self.config.media_type, options)?;
        if self.config.size > MAX_CONFIG_SIZE as u64 {
            return Err(ManifestError::ConfigTooLarge {
                digest: self.config.digest.clone(),
                size: self.config.size,
                limit: MAX_CONFIG_SIZE,
            });
        }
        for (index, layer) in self.layers.iter().enumerate() {
            layer
                .validate()
                .map_err(described(format!("layer {index}")))?;
            if layer.layer_media_type().is_none() {
                return Err(ManifestError::UnsupportedLayer {
                    index,
                    digest: layer.digest.clone(),
                    media_type: layer.media_type.clone(),
                });
            }
        }
        Ok(())
    }
}

impl ImageIndex {
    /// OCI image index or Docker manifest list, from the media type.
    pub fn kind(&self) -> ManifestKind {
        self.media_type
            .as_deref()
            .and_then(ManifestKind::from_media_type)
            .filter(|k| matches!(k, ManifestKind::DockerManifestList))
            .unwrap_or(ManifestKind::OciIndex)
    }

    fn validate(&self, kind: ManifestKind) -> Result<(), ManifestError> {
        let format = format_name(kind);
        check_schema_version(format, self.schema_version)?;
        for (index, entry) in self.manifests.iter().enumerate() {
            entry
                .validate()
                .map_err(|source| ManifestError::Descriptor {
                    format,
                    what: format!("manifest {index}"),
                    source,
                })?;
        }
        Ok(())
    }
}

/// docker's `validateMediaType`: the config media type must be accepted; plugins get their own
/// error.
fn check_config_media_type(
    media_type: &str,
    options: &ManifestOptions,
) -> Result<(), ManifestError> {
    let e = essence(media_type);
    if options
        .accepted_config_types
        .iter()
        .any(|t| essence(t) == e)
    {
        return Ok(());
    }
    match ConfigMediaType::classify(media_type) {
        ConfigMediaType::Plugin => Err(ManifestError::PluginConfig {
            media_type: media_type.to_owned(),
        }),
        class => Err(ManifestError::UnacceptedConfig {
            class,
            media_type: media_type.to_owned(),
        }),
    }
}

fn check_schema_version(format: &'static str, found: u32) -> Result<(), ManifestError> {
    if found == 2 {
        Ok(())
    } else {
        Err(ManifestError::SchemaVersion {
            format,
            found,
            expected: 2,
        })
    }
}

fn format_name(kind: ManifestKind) -> &'static str {
    match kind {
        ManifestKind::OciManifest => "OCI image manifest",
        ManifestKind::OciIndex => "OCI image index",
        ManifestKind::DockerManifest => "Docker schema 2 manifest",
        ManifestKind::DockerManifestList => "Docker manifest list",
        ManifestKind::DockerSchema1 => "Docker schema 1 manifest",
    }
}

fn read_json<'a, T: Deserialize<'a>>(
    kind: ManifestKind,
    body: &'a [u8],
) -> Result<T, ManifestError> {
    serde_json::from_slice(body).map_err(|source| ManifestError::Malformed {
        format: format_name(kind),
        source,
    })
}

/// Chooses the format from the `Content-Type`, or from the body when the header does not say.
fn detect_kind(content_type: &str, body: &[u8]) -> Result<ManifestKind, ManifestError> {
    let declared = ManifestKind::from_media_type(content_type);
    let probe = match serde_json::from_slice::<Probe>(body) {
        Ok(probe) => Some(probe),
        // With a specific Content-Type, the full parse reports the defect with the format name.
        Err(_) if declared.is_some() => None,
        Err(source) => {
            return Err(ManifestError::Malformed {
                format: "manifest",
                source,
            })
        }
    };
    let body_type = probe
        .as_ref()
        .and_then(|p| p.media_type.as_deref())
        .filter(|t| !t.trim().is_empty());

    if let Some(kind) = declared {
        if let Some(body_type) = body_type {
            let same = match ManifestKind::from_media_type(body_type) {
                Some(k) => k == kind,
                None => false,
            };
            if !same {
                return Err(ManifestError::MediaTypeMismatch {
                    content_type: content_type.to_owned(),
                    body: body_type.to_owned(),
                });
            }
        }
        return Ok(kind);
    }

    if let Some(body_type) = body_type {
        return ManifestKind::from_media_type(body_type).ok_or_else(|| {
            ManifestError::UnsupportedMediaType {
                media_type: body_type.to_owned(),
            }
        });
    }
    let unknown = || {
        if is_generic_content_type(content_type) {
            ManifestError::UnknownFormat {
                content_type: content_type.to_owned(),
            }
        } else {
            ManifestError::UnsupportedMediaType {
                media_type: content_type.to_owned(),
            }
        }
    };
    let Some(probe) = probe else {
        return Err(unknown());
    };
    match probe
        .schema_version
        .as_ref()
        .and_then(serde_json::Value::as_u64)
    {
        Some(1) => Ok(ManifestKind::DockerSchema1),
        Some(2) if probe.manifests.is_some() => Ok(ManifestKind::OciIndex),
        Some(2) if probe.config.is_some() => Ok(ManifestKind::OciManifest),
        _ => Err(unknown()),
    }
}

#[cfg(test)]
mod tests;

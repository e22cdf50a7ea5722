//! Docker image manifest v2, schema 1 (deprecated): parsing, the digest docker gives it, and
//! turning it into layers plus an image config the way docker 20.10 pulls it.
//!
//! - **Signed** (`application/vnd.docker.distribution.manifest.v1+prettyjws`): the JSON carries
//!   a `signatures` array of JWS blocks. As in libtrust's `ParsePrettySignature` /
//!   `JSONSignature.Payload` (used by docker/distribution `schema1.SignedManifest`), the
//!   signed payload ([`Schema1Manifest::canonical`]) is the first `formatLength` bytes of the
//!   body followed by the base64url-decoded `formatTail`, both read from each signature's
//!   `protected` header (all signatures must agree). The manifest's digest is the sha256 of
//!   that payload, not of the body. The signatures themselves are not verified: docker 20.10
//!   does not verify them on pull either (`verifySchema1Manifest` checks only the digest).
//! - **Unsigned** (`…manifest.v1+json`): the body is the payload.
//!
//! [`Schema1Manifest::to_image`] follows moby `distribution/pull_v2.go` `pullSchema1`:
//! `verifySchema1Manifest` (as many history entries as fsLayers, at least one),
//! `fixManifestLayers` (valid 64-hex v1 IDs, the base layer has no parent, no ID repeated
//! except consecutively, consecutive repeats collapsed, each parent is the next ID), then
//! fsLayers/history walked bottom-most first: every entry becomes a history item
//! (`v1.HistoryFromConfig`), and entries whose v1Compatibility says `"throwaway": true`
//! contribute no layer. [`Schema1Image::config_json`] then builds the config the way
//! `v1.MakeConfigFromV1Config` does from the top-most v1Compatibility once the diffIDs are
//! known (they come from downloading the layers): `id`, `parent`, `Size`, `parent_id`,
//! `layer_id`, `throwaway` removed, `rootfs` and `history` added, keys sorted, values kept
//! byte-for-byte (compacted, HTML characters escaped as Go's encoder does), so the image ID
//! matches docker's for images built by docker ≥ 1.8.3. For older images docker first
//! round-trips the JSON through its `V1Image` struct; hoist only keeps `V1Image`'s keys, so
//! such configs may differ from docker's in zero-valued fields.

use std::collections::BTreeMap;

use oci_spec::image::History;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::descriptor::null_as_default;
use super::platform::Platform;
use super::schema1_signature::{signed_payload, Envelope};
use super::types::{
    LayerCompression, DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED, DOCKER_SCHEMA1_LAYER,
};
use crate::digest::Digest;

/// docker's `noFallbackMinVersion`: configs from older docker are reduced to `V1Image` keys.
const NO_FALLBACK_MIN_VERSION: &str = "1.8.3";

/// The keys of docker's `image.V1Image`, in Go's field order: kept for configs from docker <
/// 1.8.3, and (without `id`, `parent`, `Size`) the v1 `json` of a saved image's top layer.
pub(crate) const V1_IMAGE_KEYS: [&str; 13] = [
    "id",
    "parent",
    "comment",
    "created",
    "container",
    "container_config",
    "docker_version",
    "author",
    "config",
    "architecture",
    "variant",
    "os",
    "Size",
];

/// Keys `MakeConfigFromV1Config` deletes.
const DROPPED_KEYS: [&str; 6] = ["id", "parent", "Size", "parent_id", "layer_id", "throwaway"];

/// Go's zero `time.Time`, which docker writes for a history entry without `created`.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A parsed schema 1 manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema1Manifest {
    /// Repository name as written in the manifest.
    pub name: String,
    /// Tag as written in the manifest.
    pub tag: String,
    /// Architecture as written in the manifest.
    pub architecture: String,
    /// Layer blob digests, top-most first (the manifest's order).
    pub fs_layers: Vec<Digest>,
    /// The v1Compatibility JSON strings, top-most first, one per fsLayer.
    pub history: Vec<String>,
    signed: bool,
    canonical: Vec<u8>,
}

/// The layers and config-to-be of a schema 1 image, ready for pull to copy its layers.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema1Image {
    /// Layer blob digests to download, bottom-most first, throwaway entries left out. Their
    /// sizes are unknown (schema 1 has none); their media type is
    /// [`DOCKER_SCHEMA1_LAYER`], normally gzip ([`Schema1Image::LAYER_COMPRESSION`]) but docker
    /// sniffs the stream, and so should the pipeline.
    pub layers: Vec<Digest>,
    /// History, bottom-most first, one entry per manifest entry (throwaway ones marked
    /// `empty_layer`).
    pub history: Vec<History>,
    /// The platform from the top-most v1Compatibility (`os`, `architecture`, `variant`),
    /// falling back to the manifest's `architecture` and `linux`.
    pub platform: Platform,
    top_v1_compatibility: String,
}

/// Why a schema 1 manifest was refused; messages follow docker's where docker has one.
#[derive(Debug, thiserror::Error)]
pub enum Schema1Error {
    /// JSON that does not have the expected shape.
    #[error("malformed {what}: {source}")]
    Malformed {
        /// What was being read ("schema 1 manifest", "v1Compatibility of history entry 2", …).
        what: String,
        /// serde's message: the field and position.
        #[source]
        source: serde_json::Error,
    },
    /// The JWS signature block cannot give the payload.
    #[error("invalid schema 1 signature: {0}")]
    Signature(String),
    /// `schemaVersion` is not 1.
    #[error("unsupported schema version {0} for a schema 1 manifest")]
    SchemaVersion(u32),
    /// fsLayers and history differ in length.
    #[error("length of history ({history}) not equal to number of layers ({fs_layers})")]
    LengthMismatch {
        /// Number of fsLayers.
        fs_layers: usize,
        /// Number of history entries.
        history: usize,
    },
    /// No fsLayers at all.
    #[error("no FSLayers in manifest")]
    NoLayers,
    /// A v1 ID is not 64 lowercase hex digits.
    #[error("image ID {0:?} is invalid")]
    InvalidId(String),
    /// The bottom-most entry names a parent.
    #[error("invalid parent ID in the base layer of the image")]
    BaseLayerHasParent,
    /// An ID appears twice, not consecutively.
    #[error("ID {0} appears multiple times in manifest")]
    DuplicateId(String),
    /// The parent chain is broken.
    #[error("invalid parent ID. Expected {expected}, got {got}")]
    InvalidParent {
        /// The next entry's ID.
        expected: String,
        /// The parent this entry names.
        got: String,
    },
    /// [`Schema1Image::config_json`] got a different number of diffIDs than layers.
    #[error("{diff_ids} diffIDs given for {layers} schema 1 layers")]
    DiffIdCount {
        /// Number of layers.
        layers: usize,
        /// Number of diffIDs given.
        diff_ids: usize,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: u32,
    #[serde(default, deserialize_with = "null_as_default")]
    name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    tag: String,
    #[serde(default, deserialize_with = "null_as_default")]
    architecture: String,
    #[serde(default, deserialize_with = "null_as_default")]
    fs_layers: Vec<RawFsLayer>,
    #[serde(default, deserialize_with = "null_as_default")]
    history: Vec<RawHistory>,
}

#[derive(Deserialize)]
struct RawFsLayer {
    #[serde(rename = "blobSum")]
    blob_sum: Digest,
}

#[derive(Deserialize)]
struct RawHistory {
    #[serde(rename = "v1Compatibility")]
    v1_compatibility: String,
}

/// The parts of a v1Compatibility docker reads (`image.V1Image`).
#[derive(Deserialize, Default)]
struct V1Compatibility {
    #[serde(default, deserialize_with = "null_as_default")]
    id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    parent: String,
    #[serde(default, deserialize_with = "null_as_default")]
    throwaway: bool,
    #[serde(default)]
    created: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    author: String,
    #[serde(default, deserialize_with = "null_as_default")]
    comment: String,
    #[serde(default)]
    container_config: Option<V1ContainerConfig>,
    #[serde(default, deserialize_with = "null_as_default")]
    os: String,
    #[serde(default, deserialize_with = "null_as_default")]
    architecture: String,
    #[serde(default, deserialize_with = "null_as_default")]
    variant: String,
}

#[derive(Deserialize, Default)]
struct V1ContainerConfig {
    /// docker's `strslice.StrSlice`: a string or an array of strings.
    #[serde(rename = "Cmd", default)]
    cmd: Option<serde_json::Value>,
}

impl Schema1Manifest {
    /// Parses a schema 1 manifest, signed or not.
    pub fn parse(body: &[u8]) -> Result<Schema1Manifest, Schema1Error> {
        let envelope: Envelope =
            serde_json::from_slice(body).map_err(|source| Schema1Error::Malformed {
                what: "schema 1 manifest".to_owned(),
                source,
            })?;
        let (signed, canonical) = match envelope.signatures {
            Some(signatures) => (true, signed_payload(body, &signatures)?),
            None => (false, body.to_vec()),
        };
        let raw: RawManifest =
            serde_json::from_slice(&canonical).map_err(|source| Schema1Error::Malformed {
                what: "schema 1 manifest payload".to_owned(),
                source,
            })?;
        if raw.schema_version != 1 {
            return Err(Schema1Error::SchemaVersion(raw.schema_version));
        }
        if raw.fs_layers.len() != raw.history.len() {
            return Err(Schema1Error::LengthMismatch {
                fs_layers: raw.fs_layers.len(),
                history: raw.history.len(),
            });
        }
        if raw.fs_layers.is_empty() {
            return Err(Schema1Error::NoLayers);
        }
        Ok(Schema1Manifest {
            name: raw.name,
            tag: raw.tag,
            architecture: raw.architecture,
            fs_layers: raw.fs_layers.into_iter().map(|l| l.blob_sum).collect(),
            history: raw
                .history
                .into_iter()
                .map(|h| h.v1_compatibility)
                .collect(),
            signed,
            canonical,
        })
    }

    /// Whether the manifest carried a JWS signature block.
    pub fn is_signed(&self) -> bool {
        self.signed
    }

    /// The media type to record for this manifest: `…v1+prettyjws` when signed, `…v1+json`
    /// when not.
    pub fn media_type(&self) -> &'static str {
        if self.signed {
            DOCKER_MANIFEST_V1_SIGNED
        } else {
            DOCKER_MANIFEST_V1
        }
    }

    /// The bytes docker hashes for the manifest digest: the signed payload, or the whole body
    /// when unsigned.
    pub fn canonical(&self) -> &[u8] {
        &self.canonical
    }

    /// The manifest digest docker reports (`digest.FromBytes(sm.Canonical)`).
    pub fn digest(&self) -> Digest {
        Digest::sha256_of(&self.canonical)
    }

    /// The layers, history and platform docker's `pullSchema1` derives (see the module doc).
    pub fn to_image(&self) -> Result<Schema1Image, Schema1Error> {
        let entries = self.fixed_entries()?;
        let mut layers = Vec::new();
        let mut history = Vec::with_capacity(entries.len());
        for entry in entries.iter().rev() {
            history.push(history_entry(&entry.v1, entry.v1.throwaway));
            if !entry.v1.throwaway {
                layers.push(entry.blob.clone());
            }
        }
        // Never None: parse refuses manifests without fsLayers.
        let top = entries.first().ok_or(Schema1Error::NoLayers)?;
        let os = non_empty(&top.v1.os).unwrap_or("linux");
        let architecture = non_empty(&top.v1.architecture).unwrap_or(&self.architecture);
        let platform = Platform::new(os, architecture, non_empty(&top.v1.variant));
        Ok(Schema1Image {
            layers,
            history,
            platform,
            top_v1_compatibility: top.json.to_owned(),
        })
    }

    /// docker's `fixManifestLayers`: validates IDs and the parent chain, and drops
    /// consecutive repeats. Returns the remaining entries top-most first.
    fn fixed_entries(&self) -> Result<Vec<Entry<'_>>, Schema1Error> {
        let mut parsed = Vec::with_capacity(self.history.len());
        for (i, json) in self.history.iter().enumerate() {
            let v1: V1Compatibility =
                serde_json::from_str(json).map_err(|source| Schema1Error::Malformed {
                    what: format!("v1Compatibility of history entry {i}"),
                    source,
                })?;
            if !is_v1_id(&v1.id) {
                return Err(Schema1Error::InvalidId(v1.id));
            }
            parsed.push(v1);
        }
        if parsed.last().is_some_and(|base| !base.parent.is_empty()) {
            return Err(Schema1Error::BaseLayerHasParent);
        }
        let mut seen = std::collections::HashSet::new();
        let mut last: Option<&str> = None;
        for v1 in &parsed {
            if last != Some(v1.id.as_str()) && seen.contains(v1.id.as_str()) {
                return Err(Schema1Error::DuplicateId(v1.id.clone()));
            }
            seen.insert(v1.id.as_str());
            last = Some(v1.id.as_str());
        }
        let mut keep = vec![true; parsed.len()];
        for i in (0..parsed.len().saturating_sub(1)).rev() {
            if parsed[i].id == parsed[i + 1].id {
                keep[i] = false;
            } else if parsed[i].parent != parsed[i + 1].id {
                return Err(Schema1Error::InvalidParent {
                    expected: parsed[i + 1].id.clone(),
                    got: parsed[i].parent.clone(),
                });
            }
        }
        Ok(self
            .fs_layers
            .iter()
            .zip(self.history.iter())
            .zip(parsed)
            .zip(keep)
            .filter(|(_, keep)| *keep)
            .map(|(((blob, json), v1), _)| Entry {
                blob,
                json: json.as_str(),
                v1,
            })
            .collect())
    }
}

/// One manifest entry after `fixManifestLayers`.
struct Entry<'a> {
    blob: &'a Digest,
    json: &'a str,
    v1: V1Compatibility,
}

impl Schema1Image {
    /// How schema 1 layers are normally compressed.
    pub const LAYER_COMPRESSION: LayerCompression = LayerCompression::Gzip;

    /// The media type to record for schema 1 layers.
    pub const LAYER_MEDIA_TYPE: &'static str = DOCKER_SCHEMA1_LAYER;

    /// The image config docker would store for this image (`v1.MakeConfigFromV1Config`),
    /// given the diffIDs of the downloaded layers, bottom first.
    pub fn config_json(&self, diff_ids: &[Digest]) -> Result<Vec<u8>, Schema1Error> {
        if diff_ids.len() != self.layers.len() {
            return Err(Schema1Error::DiffIdCount {
                layers: self.layers.len(),
                diff_ids: diff_ids.len(),
            });
        }
        let malformed = |source| Schema1Error::Malformed {
            what: "top-most v1Compatibility".to_owned(),
            source,
        };
        let mut fields: BTreeMap<String, Box<RawValue>> =
            serde_json::from_str(&self.top_v1_compatibility).map_err(malformed)?;
        let docker_version = fields
            .get("docker_version")
            .and_then(|v| serde_json::from_str::<String>(v.get()).ok())
            .unwrap_or_default();
        if go_version_less_than(&docker_version, NO_FALLBACK_MIN_VERSION) {
            fields.retain(|k, _| V1_IMAGE_KEYS.contains(&k.as_str()));
        }
        fields.retain(|k, _| !DROPPED_KEYS.contains(&k.as_str()));

        let rootfs = V1RootFs {
            kind: "layers",
            diff_ids,
        };
        fields.insert("rootfs".to_owned(), to_raw(&rootfs).map_err(malformed)?);
        fields.insert(
            "history".to_owned(),
            to_raw(&self.history).map_err(malformed)?,
        );

        let mut out = String::from("{");
        for (i, (key, value)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(key).map_err(malformed)?);
            out.push(':');
            compact_into(value.get(), &mut out);
        }
        out.push('}');
        Ok(go_html_escape(&out).into_bytes())
    }
}

/// docker's `image.RootFS` as it serialises: `type` first, `diff_ids` omitted when empty.
#[derive(serde::Serialize)]
struct V1RootFs<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "<[Digest]>::is_empty")]
    diff_ids: &'a [Digest],
}

/// docker's deprecation warning for a schema 1 image (pull_v2.go, shown for docker.io).
pub fn deprecation_warning(reference: &str) -> String {
    format!(
        "Image {reference} uses outdated schema1 manifest format. Please upgrade to a schema2 \
         image for better future compatibility. More information at \
         https://docs.docker.com/registry/spec/deprecated-schema-v1/"
    )
}

/// docker's notice for a schema 1 manifest found inside a manifest list.
pub fn manifest_list_deprecation_notice(reference: &str) -> String {
    format!(
        "[DEPRECATION NOTICE] v2 schema1 manifests in manifest lists are not supported and will \
         break in a future release. Suggest author of {reference} to upgrade to v2 schema2. More \
         information at https://docs.docker.com/registry/spec/deprecated-schema-v1/"
    )
}

/// docker's `v1.HistoryFromConfig`.
fn history_entry(v1: &V1Compatibility, empty_layer: bool) -> History {
    let cmd = v1
        .container_config
        .as_ref()
        .and_then(|c| c.cmd.as_ref())
        .map(str_slice)
        .unwrap_or_default();
    let mut h = History::default();
    h.set_created(Some(
        v1.created
            .clone()
            .unwrap_or_else(|| GO_ZERO_TIME.to_owned()),
    ));
    h.set_author(non_empty(&v1.author).map(str::to_owned));
    h.set_created_by(non_empty(&cmd.join(" ")).map(str::to_owned));
    h.set_comment(non_empty(&v1.comment).map(str::to_owned));
    h.set_empty_layer(empty_layer.then_some(true));
    h
}

/// docker's `strslice.StrSlice` reading: a string is one element, an array its strings.
fn str_slice(value: &serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// docker's `v1.ValidateID`: 64 lowercase hex digits.
fn is_v1_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// docker's `versions.LessThan`: dot-separated numeric comparison, non-numbers count as 0.
fn go_version_less_than(v: &str, other: &str) -> bool {
    let parts = |s: &str| -> Vec<u64> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    let (a, b) = (parts(v), parts(other));
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        if x != y {
            return x < y;
        }
    }
    false
}

fn to_raw<T: serde::Serialize>(value: &T) -> Result<Box<RawValue>, serde_json::Error> {
    serde_json::value::to_raw_value(value)
}

/// Appends `json` without insignificant whitespace (Go's `json.Compact`).
fn compact_into(json: &str, out: &mut String) {
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
}

/// Go's `encoding/json` HTML-safe escaping of `<`, `>`, `&`, U+2028 and U+2029. These can only
/// occur inside strings in valid JSON, so replacing them everywhere is exact.
fn go_html_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;

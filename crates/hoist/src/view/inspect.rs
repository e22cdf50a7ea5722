//! `hoist inspect docker://REF`: what `skopeo inspect` prints for a registry image, built from
//! the root manifest's digest, the repository's tags, the chosen image manifest and its config.
//!
//! Field names and order are skopeo's `inspect.Output` (`Name`, `Digest`, `RepoTags`,
//! `Created`, `DockerVersion`, `Labels`, `Architecture`, `Variant`, `Os`, `Layers`,
//! `LayersData`, `Env`): `Name` is the repository without tag or digest, `Digest` the digest
//! the reference resolves to (an index's own digest for a multi-platform image, as skopeo
//! shows it), the rest come from the image chosen for the platform. Absent values are `null`
//! as Go's `encoding/json` writes nil maps and slices, except `Variant`, left out when empty
//! (skopeo's `omitempty`).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::ChosenImage;
use crate::digest::Digest;
use crate::images::created::normalize;

/// skopeo's `inspect` output (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemoteInspect {
    /// The repository, canonical (`docker.io/library/busybox`).
    pub name: String,
    /// The digest the reference resolves to.
    pub digest: String,
    /// Every tag of the repository.
    pub repo_tags: Vec<String>,
    /// The config's `created`, RFC 3339 UTC, `null` when absent.
    pub created: Option<String>,
    /// The config's `docker_version`.
    pub docker_version: String,
    /// The config's `config.Labels`.
    pub labels: Option<BTreeMap<String, String>>,
    /// The config's architecture.
    pub architecture: String,
    /// The config's variant, left out when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub variant: String,
    /// The config's OS.
    pub os: String,
    /// The layers' digests, bottom first.
    pub layers: Vec<String>,
    /// The layers' descriptors.
    pub layers_data: Vec<InspectLayer>,
    /// The config's `config.Env`.
    pub env: Option<Vec<String>>,
}

/// One layer of [`RemoteInspect::layers_data`] (containers/image's `ImageInspectLayer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectLayer {
    /// The layer's media type.
    #[serde(rename = "MIMEType")]
    pub mime_type: String,
    /// Its digest.
    #[serde(rename = "Digest")]
    pub digest: String,
    /// Its (compressed) size.
    #[serde(rename = "Size")]
    pub size: u64,
    /// Its annotations, `null` when none.
    #[serde(rename = "Annotations")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl RemoteInspect {
    /// The output for the repository `name` (its `tags`), whose reference resolved to
    /// `digest` and gave `image`, whose config is `config`.
    pub fn new(
        name: String,
        digest: &Digest,
        tags: Vec<String>,
        image: &ChosenImage,
        config: &Value,
    ) -> RemoteInspect {
        let text = |pointer: &str| {
            config
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let labels = config
            .pointer("/config/Labels")
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let env = config
            .pointer("/config/Env")
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let layers = &image.manifest.layers;
        RemoteInspect {
            name,
            digest: digest.to_string(),
            repo_tags: tags,
            created: config
                .get("created")
                .and_then(Value::as_str)
                .and_then(normalize),
            docker_version: text("/docker_version"),
            labels,
            architecture: text("/architecture"),
            variant: text("/variant"),
            os: text("/os"),
            layers: layers.iter().map(|l| l.digest.to_string()).collect(),
            layers_data: layers
                .iter()
                .map(|l| InspectLayer {
                    mime_type: l.media_type.clone(),
                    digest: l.digest.to_string(),
                    size: l.size,
                    annotations: (!l.annotations.is_empty()).then(|| l.annotations.clone()),
                })
                .collect(),
            env,
        }
    }
}

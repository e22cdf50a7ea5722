//! OCI 1.1 referrers written independently of hoist: [`Artifact`], an artifact manifest
//! referring to a subject (what `oras attach` pushes), and [`ImagePusher::push_referrer`],
//! which pushes it to a registry without the referrers API the way the distribution spec
//! tells such a client to: the blobs, the manifest by digest, then the subject's referrers
//! tag (`sha256-HEX`, an OCI image index) read, extended and written back.
//!
//! Code of its own (plain JSON values, the pusher's requests), so a hoist bug in the same
//! place cannot hide itself.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::image::Blob;
use crate::push::{expect, ImagePusher};

/// The OCI image manifest media type.
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI image index media type.
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The referrers tag of `digest` (`sha256:H` ⇒ `sha256-H`).
pub fn referrers_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// An artifact manifest with a subject, and its blobs.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The manifest.
    pub manifest: Blob,
    /// The config, then one layer per file.
    pub blobs: Vec<Blob>,
    /// The artifact type.
    pub artifact_type: String,
    /// The subject's digest.
    pub subject: String,
}

impl Artifact {
    /// An artifact of `artifact_type` referring to the manifest `subject` (its media type,
    /// digest, size), with the empty config and one layer per `(name, bytes)` of `files`.
    pub fn new(artifact_type: &str, subject: &Blob, files: &[(&str, &[u8])]) -> Artifact {
        let config = Blob::new("application/vnd.oci.empty.v1+json", b"{}".to_vec());
        let layers: Vec<Blob> = files
            .iter()
            .map(|(_, bytes)| Blob::new("application/vnd.oci.image.layer.v1.tar", bytes.to_vec()))
            .collect();
        let layer_descriptors: Vec<Value> = layers
            .iter()
            .zip(files)
            .map(|(blob, (name, _))| {
                let mut d = blob.descriptor();
                d["annotations"] = json!({ "org.opencontainers.image.title": name });
                d
            })
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": config.descriptor(),
            "layers": layer_descriptors,
            "subject": subject.descriptor(),
            "annotations": { "org.example.written-by": "hoist-testkit" },
        });
        let bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        let mut blobs = vec![config];
        blobs.extend(layers);
        Artifact {
            manifest: Blob::new(OCI_MANIFEST, bytes),
            blobs,
            artifact_type: artifact_type.to_owned(),
            subject: subject.digest.clone(),
        }
    }

    /// The descriptor a referrers list holds for it.
    pub fn referrer_descriptor(&self) -> Value {
        let mut d = self.manifest.descriptor();
        d["artifactType"] = json!(self.artifact_type);
        d["annotations"] = json!({ "org.example.written-by": "hoist-testkit" });
        d
    }
}

impl ImagePusher {
    /// Pushes `artifact` into `repo` and adds it to its subject's referrers tag (see the
    /// module docs). Returns the manifest digest.
    pub async fn push_referrer(&self, repo: &str, artifact: &Artifact) -> Result<String> {
        for blob in &artifact.blobs {
            self.push_blob(repo, blob).await?;
        }
        let digest = self
            .push_manifest(repo, &artifact.manifest.digest, &artifact.manifest)
            .await?;
        let mut entries = self.referrers_index(repo, &artifact.subject).await?;
        if !entries.iter().any(|e| e["digest"] == json!(digest)) {
            entries.push(artifact.referrer_descriptor());
        }
        let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries });
        self.put_referrers_index(
            repo,
            &artifact.subject,
            serde_json::to_vec(&index).unwrap_or_default(),
        )
        .await?;
        Ok(digest)
    }

    /// Writes `bytes` as the referrers tag of `subject` (an OCI index; anything, for tests of
    /// hostile lists).
    pub async fn put_referrers_index(
        &self,
        repo: &str,
        subject: &str,
        bytes: Vec<u8>,
    ) -> Result<String> {
        let blob = Blob::new(OCI_INDEX, bytes);
        self.push_manifest(repo, &referrers_tag(subject), &blob)
            .await
    }

    /// The entries of `subject`'s referrers tag in `repo`; none when there is no tag.
    pub async fn referrers_index(&self, repo: &str, subject: &str) -> Result<Vec<Value>> {
        let url = format!(
            "{}/v2/{repo}/manifests/{}",
            self.base_url(),
            referrers_tag(subject)
        );
        let resp = self
            .send_accepting(repo, Method::GET, &url, None, None, Some(OCI_INDEX))
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        let resp = expect(resp, StatusCode::OK, "GET", &url).await?;
        let body: Value = resp
            .json()
            .await
            .map_err(|e| Error::Protocol(format!("GET {url}: {e}")))?;
        Ok(body["manifests"].as_array().cloned().unwrap_or_default())
    }
}

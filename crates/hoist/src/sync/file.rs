//! The list of images to sync, as a file: [`SourceFile`] — skopeo sync's YAML (`--src yaml`),
//! accepted as skopeo 1.22 reads it, or the same document in TOML.
//!
//! ```yaml
//! registry.example.com:            # a registry, as in a reference's domain
//!     images:                      # repository ⇒ tags or digests; [] (or nothing) = every tag
//!         busybox: []
//!         redis: ["1.0", "2.0", "sha256:0000…1111"]
//!     images-by-tag-regex:         # repository ⇒ the tags a regex (RE2) matches
//!         nginx: ^1\.13\.[12]-alpine-perl$
//!     images-by-semver:            # repository ⇒ the tags in a semantic version range
//!         alpine: ">= 3.12.0"
//!     credentials: {username: john, password: this is a secret}
//!     tls-verify: true             # false: skip certificate checks for this registry
//!     cert-dir: /home/john/certs   # *.crt CAs, client.cert + client.key
//! ```
//! The TOML form has the same keys, one table per registry
//! (`["registry.example.com".images]` then `busybox = []`); a file whose name ends in
//! `.toml` is read as TOML, any other as YAML.
//!
//! As in skopeo (`imagesToCopyFromRegistry`): a repository under `images` with references
//! takes exactly those (a reference that parses as a digest is a digest, anything else a
//! tag), without listing the repository; with none it takes every tag; the regex and semver
//! maps list the repository's tags and keep those that match (see `filter`). A repository
//! may appear under several keys; each is its own entry. A registry with no images is
//! allowed (skopeo warns). Unlike skopeo, keys it does not know are refused rather than
//! ignored, so that a misspelt `image:` does not quietly sync nothing; and the document's
//! order is not Go's random map order but sorted (registries, then repositories), so two runs
//! do the same work in the same order.
//!
//! Registry settings apply to the source registry only: credentials come before any stored
//! ones ([`SourceFile::credentials`]), `tls-verify: false` makes the host `insecure` and
//! `cert-dir` adds a directory of certificates to it ([`SourceFile::apply_to`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::filter::TagFilter;
use super::SyncError;
use crate::credentials::Credentials;
use crate::registry::{CredentialLookup, RegistryConfig};

/// A parsed source file: every registry and what to take from it.
#[derive(Debug, Clone, Default)]
pub struct SourceFile {
    /// Registries by name (`HOST[:PORT]`), in sorted order.
    pub registries: BTreeMap<String, RegistryImages>,
}

/// One registry of a [`SourceFile`].
#[derive(Debug, Clone, Default)]
pub struct RegistryImages {
    /// Repository paths with their filters, in the order the run takes them.
    pub repositories: Vec<(String, TagFilter)>,
    /// `credentials:` for this registry.
    pub credentials: Option<Credentials>,
    /// `tls-verify:` (`None`: as configured).
    pub tls_verify: Option<bool>,
    /// `cert-dir:`.
    pub cert_dir: Option<PathBuf>,
}

/// One registry as written (skopeo's `registrySyncConfig`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RegistryEntry {
    #[serde(default)]
    images: BTreeMap<String, Option<Vec<String>>>,
    #[serde(default)]
    images_by_tag_regex: BTreeMap<String, String>,
    #[serde(default)]
    images_by_semver: BTreeMap<String, String>,
    #[serde(default)]
    credentials: Option<CredentialsEntry>,
    #[serde(default)]
    tls_verify: Option<bool>,
    #[serde(default)]
    cert_dir: Option<PathBuf>,
}

/// containers/image's `DockerAuthConfig` as yaml.v3 names its fields (lower case).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsEntry {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    identitytoken: String,
}

impl SourceFile {
    /// Reads and parses the file at `path` (TOML when its name ends in `.toml`, else YAML).
    pub fn read(path: &Path) -> Result<SourceFile, SyncError> {
        let text = std::fs::read_to_string(path).map_err(|source| SyncError::Read {
            path: path.to_owned(),
            source,
        })?;
        let is_toml = path.extension().is_some_and(|e| e == "toml");
        let parsed = if is_toml {
            SourceFile::parse_toml(&text)
        } else {
            SourceFile::parse_yaml(&text)
        };
        parsed.map_err(|reason| match reason {
            SyncError::Syntax { reason, .. } => SyncError::Syntax {
                path: path.to_owned(),
                reason,
            },
            other => other,
        })
    }

    /// Parses skopeo sync's YAML.
    pub fn parse_yaml(text: &str) -> Result<SourceFile, SyncError> {
        // An empty document is an empty map to skopeo (yaml.v3), not an error.
        if text.trim().is_empty() {
            return Ok(SourceFile::default());
        }
        let entries: BTreeMap<String, Option<RegistryEntry>> =
            serde_yaml_ng::from_str(text).map_err(|e| syntax(e.to_string()))?;
        SourceFile::from_entries(entries)
    }

    /// Parses the TOML form.
    pub fn parse_toml(text: &str) -> Result<SourceFile, SyncError> {
        let entries: BTreeMap<String, Option<RegistryEntry>> =
            toml::from_str(text).map_err(|e| syntax(e.to_string()))?;
        SourceFile::from_entries(entries)
    }

    fn from_entries(
        entries: BTreeMap<String, Option<RegistryEntry>>,
    ) -> Result<SourceFile, SyncError> {
        let mut registries = BTreeMap::new();
        for (name, entry) in entries {
            let entry = entry.unwrap_or_else(|| RegistryEntry {
                images: BTreeMap::new(),
                images_by_tag_regex: BTreeMap::new(),
                images_by_semver: BTreeMap::new(),
                credentials: None,
                tls_verify: None,
                cert_dir: None,
            });
            registries.insert(name, RegistryImages::from_entry(entry)?);
        }
        Ok(SourceFile { registries })
    }

    /// The file's registry settings written into `config`: `tls-verify: false` makes the host
    /// insecure (and `true` secure, over the configuration), `cert-dir` is its
    /// [`crate::registry::HostConfig::cert_dir`].
    pub fn apply_to(&self, config: &mut RegistryConfig) {
        for (host, registry) in &self.registries {
            if registry.tls_verify.is_none() && registry.cert_dir.is_none() {
                continue;
            }
            let settings = config.registries.entry(host.clone()).or_default();
            if let Some(verify) = registry.tls_verify {
                settings.insecure = !verify;
            }
            if let Some(dir) = &registry.cert_dir {
                settings.cert_dir = Some(dir.clone());
            }
        }
    }

    /// A credential lookup that answers with the file's `credentials` for its registries and
    /// asks `fallback` (the stored credentials) for every other host.
    pub fn credentials(&self, fallback: Arc<dyn CredentialLookup>) -> FileCredentials {
        let by_host = self
            .registries
            .iter()
            .filter_map(|(host, r)| Some((host.clone(), r.credentials.clone()?)))
            .collect();
        FileCredentials { by_host, fallback }
    }
}

fn syntax(reason: String) -> SyncError {
    SyncError::Syntax {
        path: PathBuf::new(),
        reason,
    }
}

impl RegistryImages {
    fn from_entry(entry: RegistryEntry) -> Result<RegistryImages, SyncError> {
        let mut repositories = Vec::new();
        for (repository, references) in entry.images {
            let filter = match references {
                Some(list) if !list.is_empty() => TagFilter::Listed(list),
                _ => TagFilter::All,
            };
            repositories.push((repository, filter));
        }
        for (repository, pattern) in entry.images_by_tag_regex {
            let filter = TagFilter::regex(&repository, &pattern)?;
            repositories.push((repository, filter));
        }
        for (repository, range) in entry.images_by_semver {
            let filter = TagFilter::semver(&repository, &range)?;
            repositories.push((repository, filter));
        }
        let credentials = entry.credentials.and_then(|c| {
            if !c.identitytoken.is_empty() {
                Some(Credentials::IdentityToken {
                    username: c.username,
                    token: c.identitytoken,
                })
            } else if c.username.is_empty() && c.password.is_empty() {
                None
            } else {
                Some(Credentials::Basic {
                    username: c.username,
                    password: c.password,
                })
            }
        });
        Ok(RegistryImages {
            repositories,
            credentials,
            tls_verify: entry.tls_verify,
            cert_dir: entry.cert_dir,
        })
    }
}

/// Credentials of a [`SourceFile`] before the stored ones ([`SourceFile::credentials`]).
pub struct FileCredentials {
    by_host: BTreeMap<String, Credentials>,
    fallback: Arc<dyn CredentialLookup>,
}

impl CredentialLookup for FileCredentials {
    fn lookup(
        &self,
        registry_host: &str,
    ) -> Result<Option<Credentials>, Box<dyn std::error::Error + Send + Sync>> {
        match self.by_host.get(registry_host) {
            Some(credentials) => Ok(Some(credentials.clone())),
            None => self.fallback.lookup(registry_host),
        }
    }
}

#[cfg(test)]
mod tests;

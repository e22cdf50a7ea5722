//! podman's (containers/image's) `auth.json`, read for lookups only.
//!
//! Corresponds to `containers/image/pkg/docker/config`. The file is `$REGISTRY_AUTH_FILE` when
//! set, else `$XDG_RUNTIME_DIR/containers/auth.json`, then `$XDG_CONFIG_HOME/containers/auth.json`
//! (`~/.config/containers/auth.json`), the order podman reads them in. Its `auths` entries
//! have docker's shape (see [`super::auths`]). Keys are `host[:port]` (Docker Hub is
//! `docker.io`), legacy `http(s)://host/...` URLs, or `host/namespace/repo` for credentials
//! scoped to part of a registry; hoist looks up whole registries, so it uses the first two kinds
//! and leaves repository-scoped keys alone rather than apply them to every repository.
//!
//! hoist never writes this file: `hoist login` writes where docker would.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::auths;
use super::docker_config::parse_root;
use super::server_key::{convert_to_hostname, key_matches};
use super::{CredentialError, Credentials};

/// One parsed `auth.json`.
#[derive(Clone)]
pub struct PodmanAuthFile {
    path: PathBuf,
    auths: Map<String, Value>,
}

/// Redacted: the file holds secrets, so `Debug` shows only its path.
impl std::fmt::Debug for PodmanAuthFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodmanAuthFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl PodmanAuthFile {
    /// The files podman reads, in order, from the environment (see the module docs).
    pub fn default_paths() -> Vec<PathBuf> {
        let var = |name| std::env::var_os(name).filter(|value| !value.is_empty());
        if let Some(file) = var("REGISTRY_AUTH_FILE") {
            return vec![PathBuf::from(file)];
        }
        let mut paths = Vec::new();
        if let Some(runtime) = var("XDG_RUNTIME_DIR") {
            paths.push(PathBuf::from(runtime).join("containers/auth.json"));
        }
        let config_home = var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::home_dir().map(|home| home.join(".config")));
        if let Some(config_home) = config_home {
            paths.push(config_home.join("containers/auth.json"));
        }
        paths
    }

    /// Reads the file at `path`; `Ok(None)` when it does not exist.
    pub fn load(path: impl Into<PathBuf>) -> Result<Option<Self>, CredentialError> {
        let path = path.into();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CredentialError::Read { path, source }),
        };
        let mut root = parse_root(&path, &text)?;
        let auths = match root.remove("auths") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(auths)) => auths,
            Some(_) => {
                return Err(CredentialError::UnexpectedShape {
                    path,
                    what: "auths is not an object".into(),
                })
            }
        };
        Ok(Some(PodmanAuthFile { path, auths }))
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credentials for the registry filed under `key` (see [`super::server_key`]).
    pub fn auth(&self, key: &str) -> Result<Option<Credentials>, CredentialError> {
        let found = self.auths.get_key_value(key).or_else(|| {
            self.auths
                .iter()
                .find(|(stored, _)| names_whole_registry(stored) && key_matches(stored, key))
        });
        match found {
            Some((found_key, entry)) => auths::decode_entry(&self.path, found_key, entry),
            None => Ok(None),
        }
    }
}

/// Whether an `auth.json` key is for a whole registry: a bare `host[:port]`, or a legacy URL.
fn names_whole_registry(key: &str) -> bool {
    key.starts_with("http://") || key.starts_with("https://") || convert_to_hostname(key) == key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::server_key::server_key;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde_json::json;

    fn load(value: Value) -> (tempfile::TempDir, PodmanAuthFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
        let file = PodmanAuthFile::load(path).unwrap().unwrap();
        (dir, file)
    }

    fn basic(username: &str, password: &str) -> Credentials {
        Credentials::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    #[test]
    fn missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(PodmanAuthFile::load(dir.path().join("auth.json"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn docker_io_key_serves_docker_hub() {
        let (_dir, file) =
            load(json!({ "auths": { "docker.io": { "auth": STANDARD.encode("u:p") } } }));
        assert_eq!(
            file.auth(&server_key("docker.io")).unwrap(),
            Some(basic("u", "p"))
        );
    }

    #[test]
    fn host_key_and_legacy_url_key_are_found() {
        let (_dir, file) = load(json!({ "auths": {
            "quay.io": { "auth": STANDARD.encode("q:1") },
            "https://myreg:5000/v2/": { "auth": STANDARD.encode("m:2") },
        } }));
        assert_eq!(file.auth("quay.io").unwrap(), Some(basic("q", "1")));
        assert_eq!(file.auth("myreg:5000").unwrap(), Some(basic("m", "2")));
    }

    #[test]
    fn repository_scoped_key_is_not_used_for_the_whole_registry() {
        let (_dir, file) =
            load(json!({ "auths": { "quay.io/team/app": { "auth": STANDARD.encode("u:p") } } }));
        assert_eq!(file.auth("quay.io").unwrap(), None);
    }

    #[test]
    fn malformed_file_error_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        fs::write(&path, "{ not json").unwrap();
        let err = PodmanAuthFile::load(&path).unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
}

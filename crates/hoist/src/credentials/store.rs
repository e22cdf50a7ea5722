//! [`CredentialStore`]: where hoist finds, files and removes credentials for a registry.
//!
//! It composes docker's `config.json` ([`DockerConfigFile`]), its credential helpers
//! ([`CredentialHelper`]) and podman's `auth.json` ([`PodmanAuthFile`]) the way docker's CLI
//! does (`configfile.GetCredentialsStore`, `GetAuthConfig`), then adds podman's file:
//!
//! - **lookup**: the registry's key (see [`server_key`]) picks docker's store: the helper in
//!   `credHelpers[key]`, else `credsStore`, else the `auths` entry. A configured helper is
//!   authoritative for docker's file, as in docker (its "not found" is not followed by a look at
//!   `auths`, where docker leaves only a secret-free entry). When docker's configuration has
//!   nothing, podman's `auth.json` files are consulted in order.
//! - **store** (`docker login`): to the helper configured for the key, leaving the secret-free
//!   `auths` entry docker's `nativeStore` writes; else as an `auths` entry. Never to podman's
//!   file.
//! - **erase** (`docker logout`): from the helper configured for the key, and every `auths`
//!   entry naming the registry however its key is spelled (`host`, `https://host`,
//!   `http://host/v2/`, as docker's logout tries).
//!
//! The registry client asks a `CredentialStore` through the [`CredentialLookup`] trait.
//!
//! Every operation reads the files afresh, so a long-running process sees `hoist login`s made
//! meanwhile. All of it is blocking (file I/O, helper processes): async callers run it on
//! `spawn_blocking`.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use super::server_key::server_key;
use super::{CredentialError, CredentialHelper, Credentials, DockerConfigFile, PodmanAuthFile};
use crate::registry::CredentialLookup;

/// Where docker's and podman's credentials live, and the operations on them.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    docker_config: Option<PathBuf>,
    podman_auth_files: Vec<PathBuf>,
    helper_search_path: Option<OsString>,
}

/// Where credentials were stored or erased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A credential helper, by name (without `docker-credential-`).
    Helper(String),
    /// docker's `config.json` at this path.
    File(PathBuf),
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Helper(name) => write!(f, "credential helper docker-credential-{name}"),
            StoreLocation::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl CredentialStore {
    /// The locations docker and podman use, from the environment: `$DOCKER_CONFIG` or
    /// `~/.docker/config.json`; `$REGISTRY_AUTH_FILE` or podman's default files; helpers on
    /// `PATH`.
    pub fn from_env() -> Self {
        CredentialStore {
            docker_config: DockerConfigFile::default_path(),
            podman_auth_files: PodmanAuthFile::default_paths(),
            helper_search_path: None,
        }
    }

    /// A store over docker's `config.json` at `docker_config` only (no podman files, helpers
    /// on `PATH`).
    pub fn new(docker_config: impl Into<PathBuf>) -> Self {
        CredentialStore {
            docker_config: Some(docker_config.into()),
            podman_auth_files: Vec::new(),
            helper_search_path: None,
        }
    }

    /// Consults these podman `auth.json` files, in order, after docker's configuration.
    pub fn with_podman_auth_files(mut self, files: Vec<PathBuf>) -> Self {
        self.podman_auth_files = files;
        self
    }

    /// Finds `docker-credential-*` programs in `path` (a `PATH`-style list) instead of `PATH`.
    pub fn with_helper_search_path(mut self, path: impl Into<OsString>) -> Self {
        self.helper_search_path = Some(path.into());
        self
    }

    /// docker's `config.json` this store reads and writes, if one could be located.
    pub fn docker_config_path(&self) -> Option<&Path> {
        self.docker_config.as_deref()
    }

    /// The credentials for the registry `domain` (`docker.io`, `myreg:5000`, ...), or `None`
    /// for anonymous access.
    pub fn lookup(&self, domain: &str) -> Result<Option<Credentials>, CredentialError> {
        let key = server_key(domain);
        if let Some(path) = &self.docker_config {
            let file = DockerConfigFile::load(path)?;
            if let Some(name) = file.helper_for(&key)? {
                let found = self.helper(&name).get(&key)?;
                tracing::debug!(registry = %key, helper = %name, found = found.is_some(), "credential helper consulted");
                if found.is_some() {
                    return Ok(found);
                }
            } else if let Some(found) = file.auth(&key)? {
                tracing::debug!(registry = %key, file = %path.display(), "credentials found");
                return Ok(Some(found));
            }
        }
        for path in &self.podman_auth_files {
            let Some(file) = PodmanAuthFile::load(path)? else {
                continue;
            };
            if let Some(found) = file.auth(&key)? {
                tracing::debug!(registry = %key, file = %path.display(), "credentials found");
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Files `credentials` for `domain` where docker would (see the module docs).
    pub fn store(
        &self,
        domain: &str,
        credentials: &Credentials,
    ) -> Result<StoreLocation, CredentialError> {
        let key = server_key(domain);
        let path = self.require_docker_config()?;
        let mut file = DockerConfigFile::load(path)?;
        let location = match file.helper_for(&key)? {
            Some(name) => {
                self.helper(&name).store(&key, credentials)?;
                file.set_helper_marker(&key);
                StoreLocation::Helper(name)
            }
            None => {
                file.set_auth(&key, credentials);
                StoreLocation::File(path.to_path_buf())
            }
        };
        file.save()?;
        Ok(location)
    }

    /// Removes the credentials for `domain`; `None` when there were none to remove.
    pub fn erase(&self, domain: &str) -> Result<Option<StoreLocation>, CredentialError> {
        let key = server_key(domain);
        let path = self.require_docker_config()?;
        let mut file = DockerConfigFile::load(path)?;
        let keys = file.auth_keys(&key)?;
        let helper_name = file.helper_for(&key)?;
        let mut erased_from_helper = false;
        if let Some(name) = &helper_name {
            let helper = self.helper(name);
            erased_from_helper = helper.erase(&key)?;
            for legacy in keys.iter().filter(|stored| **stored != key) {
                erased_from_helper |= helper.erase(legacy)?;
            }
        }
        let removed_entries = file.remove_auths(&keys);
        if removed_entries {
            file.save()?;
        }
        Ok(match helper_name {
            Some(name) if erased_from_helper || removed_entries => {
                Some(StoreLocation::Helper(name))
            }
            None if removed_entries => Some(StoreLocation::File(path.to_path_buf())),
            _ => None,
        })
    }

    fn helper(&self, name: &str) -> CredentialHelper {
        let helper = CredentialHelper::new(name);
        match &self.helper_search_path {
            Some(path) => helper.with_search_path(path.clone()),
            None => helper,
        }
    }

    fn require_docker_config(&self) -> Result<&Path, CredentialError> {
        self.docker_config
            .as_deref()
            .ok_or(CredentialError::NoDockerConfig)
    }
}

/// The registry client's view: [`CredentialStore::lookup`], on the blocking thread the client
/// runs it on.
impl CredentialLookup for CredentialStore {
    fn lookup(
        &self,
        registry_host: &str,
    ) -> Result<Option<Credentials>, Box<dyn std::error::Error + Send + Sync>> {
        CredentialStore::lookup(self, registry_host).map_err(Into::into)
    }
}

#[cfg(test)]
mod tests;

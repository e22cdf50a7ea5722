//! docker CLI's `config.json`: reading credentials from it and writing them back as docker does.
//!
//! Corresponds to docker's `cli/config/configfile.ConfigFile`. The file lives at
//! `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json` (docker's `config.Dir()`); a
//! missing or empty file is an empty configuration, as in docker. The parts hoist uses:
//!
//! - `auths`: registry key → entry (see [`super::auths`]);
//! - `credsStore`: the `docker-credential-*` helper used for every registry;
//! - `credHelpers`: registry key → helper, which wins over `credsStore` (docker's
//!   `getConfiguredCredentialStore`).
//!
//! Invariants kept when writing:
//! - every top-level field hoist does not understand (`proxies`, `plugins`, `currentContext`,
//!   ...) and every `auths` entry it did not touch is written back unchanged;
//! - the file is replaced atomically: a temporary file in the same directory, created with
//!   mode 0600, fsynced, then renamed over the target (docker's `ConfigFile.Save`). Like docker,
//!   an existing file keeps its permission bits, a symlinked `config.json` stays a symlink (the
//!   link's target is replaced), and a missing directory is created with mode 0700.
//!
//! Like docker, hoist takes no lock: two processes writing the file at the same instant each
//! write a whole file, and the last rename wins.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize as _;
use serde_json::{Map, Value};

use super::auths;
use super::server_key::key_matches;
use super::{CredentialError, Credentials};

/// The parsed `config.json`, with everything it held kept for writing back.
#[derive(Clone)]
pub struct DockerConfigFile {
    path: PathBuf,
    root: Map<String, Value>,
}

/// Redacted: the file holds secrets, so `Debug` shows only its path.
impl std::fmt::Debug for DockerConfigFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerConfigFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl DockerConfigFile {
    /// Where docker's CLI keeps its configuration: `$DOCKER_CONFIG/config.json`, else
    /// `$HOME/.docker/config.json`. `None` when neither variable nor a home directory exists.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|dir| !dir.is_empty()) {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        std::env::home_dir().map(|home| home.join(".docker").join("config.json"))
    }

    /// Reads the file at `path`; a missing or empty (whitespace-only) file reads as empty.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, CredentialError> {
        let path = path.into();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(CredentialError::Read { path, source }),
        };
        let root = parse_root(&path, &text)?;
        let file = DockerConfigFile { path, root };
        // Check the shape of the parts hoist uses now, so that errors surface at load time.
        file.auths()?;
        file.cred_helpers()?;
        file.creds_store()?;
        Ok(file)
    }

    /// The file this configuration was read from and is written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The helper configured for the registry filed under `key` (see
    /// [`super::server_key`]): its `credHelpers` entry, else `credsStore`, else `None`.
    pub fn helper_for(&self, key: &str) -> Result<Option<String>, CredentialError> {
        let helpers = self.cred_helpers()?;
        let per_host = helpers
            .get(key)
            .or_else(|| find_matching(helpers, key).map(|(_, value)| value));
        let name = match per_host {
            Some(value) => value.as_str(),
            None => self.creds_store()?,
        };
        match name {
            None | Some("") => Ok(None),
            Some(name) if name.contains('/') => Err(CredentialError::InvalidHelperName {
                name: name.to_string(),
                path: self.path.clone(),
            }),
            Some(name) => Ok(Some(name.to_string())),
        }
    }

    /// The credentials in `auths` for the registry filed under `key`: the entry with exactly
    /// that key, else the first (in key order) whose host matches (docker's `ResolveAuthConfig`).
    pub fn auth(&self, key: &str) -> Result<Option<Credentials>, CredentialError> {
        let auths = self.auths()?;
        let entry = match auths.get_key_value(key) {
            Some(found) => Some(found),
            None => find_matching(auths, key),
        };
        match entry {
            Some((found_key, value)) => auths::decode_entry(&self.path, found_key, value),
            None => Ok(None),
        }
    }

    /// Every `auths` key that names the registry filed under `key`, however it was spelled.
    pub fn auth_keys(&self, key: &str) -> Result<Vec<String>, CredentialError> {
        let auths = self.auths()?;
        Ok(auths
            .keys()
            .filter(|stored| key_matches(stored, key))
            .cloned()
            .collect())
    }

    /// Files `credentials` under `key` in `auths`, replacing any entry there (docker's
    /// `fileStore.Store`).
    pub fn set_auth(&mut self, key: &str, credentials: &Credentials) {
        self.set_auth_entry(key, auths::encode_entry(credentials));
    }

    /// Files a secret-free entry under `key`: what docker's `nativeStore.Store` leaves in
    /// `auths` when the secret went to a helper, so that `docker logout` finds the login.
    pub fn set_helper_marker(&mut self, key: &str) {
        self.set_auth_entry(key, Value::Object(Map::new()));
    }

    /// Removes the `auths` entries with these exact keys; returns whether any existed.
    pub fn remove_auths(&mut self, keys: &[String]) -> bool {
        let Some(Value::Object(auths)) = self.root.get_mut("auths") else {
            return false;
        };
        let mut removed = false;
        for key in keys {
            removed |= auths.remove(key).is_some();
        }
        removed
    }

    /// Writes the configuration back, atomically, as described in the module docs.
    pub fn save(&self) -> Result<(), CredentialError> {
        let target = resolve_symlink(&self.path);
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CredentialError::Write { path, source }
        };
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(write_err(&dir))?;
        let bytes = self.to_json_bytes().map_err(write_err(&target))?;
        let mode = match fs::metadata(&target) {
            Ok(meta) => meta.permissions().mode() & 0o7777,
            Err(_) => 0o600,
        };
        let temp = temp_path(&dir, &target);
        let written = write_new_file(&temp, &bytes, mode).and_then(|()| fs::rename(&temp, &target));
        if let Err(source) = written {
            let _ = fs::remove_file(&temp);
            return Err(CredentialError::Write {
                path: target,
                source,
            });
        }
        // Make the rename durable; failing to sync a directory is not worth failing a login.
        if let Ok(handle) = fs::File::open(&dir) {
            let _ = handle.sync_all();
        }
        Ok(())
    }

    /// The JSON docker writes: tab-indented (`json.MarshalIndent(..., "", "\t")`).
    fn to_json_bytes(&self) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
        self.root
            .serialize(&mut serializer)
            .map_err(io::Error::from)?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    fn set_auth_entry(&mut self, key: &str, entry: Value) {
        let auths = self
            .root
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            // `load` refuses such files, so this only replaces a `null`.
            *auths = Value::Object(Map::new());
        }
        if let Value::Object(auths) = auths {
            auths.insert(key.to_string(), entry);
        }
    }

    fn auths(&self) -> Result<&Map<String, Value>, CredentialError> {
        self.object_field("auths")
    }

    fn cred_helpers(&self) -> Result<&Map<String, Value>, CredentialError> {
        let helpers = self.object_field("credHelpers")?;
        if let Some((host, _)) = helpers.iter().find(|(_, name)| !name.is_string()) {
            return Err(self.shape_error(format!("credHelpers entry {host:?} is not a string")));
        }
        Ok(helpers)
    }

    fn creds_store(&self) -> Result<Option<&str>, CredentialError> {
        match self.root.get("credsStore") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(name)) => Ok(Some(name)),
            Some(_) => Err(self.shape_error("credsStore is not a string".into())),
        }
    }

    fn object_field(&self, name: &str) -> Result<&Map<String, Value>, CredentialError> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        match self.root.get(name) {
            None | Some(Value::Null) => Ok(EMPTY.get_or_init(Map::new)),
            Some(Value::Object(map)) => Ok(map),
            Some(_) => Err(self.shape_error(format!("{name} is not an object"))),
        }
    }

    fn shape_error(&self, what: String) -> CredentialError {
        CredentialError::UnexpectedShape {
            path: self.path.clone(),
            what,
        }
    }
}

/// Parses a credential file's text into its top-level object (shared with podman's files).
pub(crate) fn parse_root(path: &Path, text: &str) -> Result<Map<String, Value>, CredentialError> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(root)) => Ok(root),
        Ok(_) => Err(CredentialError::UnexpectedShape {
            path: path.to_path_buf(),
            what: "the top level is not a JSON object".into(),
        }),
        Err(source) => Err(CredentialError::MalformedJson {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The first entry (in key order) whose key names the registry filed under `key`.
pub(crate) fn find_matching<'a>(
    map: &'a Map<String, Value>,
    key: &str,
) -> Option<(&'a String, &'a Value)> {
    map.iter().find(|(stored, _)| key_matches(stored, key))
}

/// The file a write must replace: the target of a symlinked `config.json` (docker evaluates
/// symlinks before saving), else the path itself.
fn resolve_symlink(path: &Path) -> PathBuf {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    }
}

/// A fresh temporary name next to `target`, unique within this process and across processes.
fn temp_path(dir: &Path, target: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.json".into());
    let serial = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{name}.{}.{serial}.tmp", std::process::id()))
}

fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    if mode != 0o600 {
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    file.sync_all()
}

#[cfg(test)]
mod tests;

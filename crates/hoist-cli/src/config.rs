//! hoist's configuration file (TOML), as laid out in DESIGN.md.
//!
//! ```toml
//! max_concurrent_downloads = 3
//! max_concurrent_uploads = 5
//! max_download_attempts = 5
//! range_fetch_threshold = 67108864   # bytes; 0: every layer as one stream
//! range_fetch_part_size = 16777216
//! range_fetch_connections = 4
//! range_fetch_probe = 8388608       # bytes first watched as one stream; 0: parts at once
//! certs_dirs = ["/etc/hoist/certs.d", "/etc/docker/certs.d"]
//! [registries."docker.io"]
//! mirrors = ["https://mirror.internal:5000"]
//! [registries."myreg:5001"]
//! ca_file = "/path/ca.crt"
//! insecure = false
//! ```
//!
//! Trust (`hoist pull`, `copy`, see `hoist::trust`): `policy = "/path/policy.json"` (used when
//! `--policy` is not given), `registries_d = "/path/registries.d"` (when `--registries.d` is
//! not), `sigstore_attachments = ["myreg:5001", "docker.io/myorg"]` (scopes whose signatures
//! are read from sigstore attachments, as registries.d's `use-sigstore-attachments: true`).
//!
//! It plays the part of dockerd's `daemon.json` options of the same meaning
//! (`max-concurrent-downloads`, `max-concurrent-uploads`, `max-download-attempts`,
//! `registry-mirrors`, `insecure-registries`), with mirrors per registry rather than for Docker
//! Hub only. The `range_fetch_*` keys are containerd 2.1's `concurrent_layer_fetch_buffer`
//! (with `max_concurrent_downloads`): a layer of at least the threshold is fetched as several
//! `Range` requests at once (`hoist::transfer::RangeFetch`), once the first
//! `range_fetch_probe` bytes, fetched as one stream, showed the link rather than hoist to be
//! the bottleneck.
//!
//! Where it is read from: `--config FILE` (or `$HOIST_CONFIG`), which must exist; otherwise the
//! first existing of `$XDG_CONFIG_HOME/hoist/config.toml` (`~/.config/hoist/config.toml`) and
//! `/etc/hoist/config.toml`; otherwise the defaults.
//!
//! Invariants: unknown keys are errors (a misspelt `mirors` must not silently do nothing);
//! counts are at least 1; mirrors are `http://` or `https://` URLs. Every error names the file
//! and the line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

/// Default of `max_concurrent_downloads` (dockerd's `defaultMaxConcurrentDownloads`).
pub const DEFAULT_MAX_CONCURRENT_DOWNLOADS: usize = 3;
/// Default of `max_concurrent_uploads` (dockerd's `defaultMaxConcurrentUploads`).
pub const DEFAULT_MAX_CONCURRENT_UPLOADS: usize = 5;
/// Default of `max_download_attempts` (dockerd's `defaultDownloadAttempts`).
pub const DEFAULT_MAX_DOWNLOAD_ATTEMPTS: usize = 5;
/// Default `certs_dirs`: hoist's own, then docker's.
pub const DEFAULT_CERTS_DIRS: [&str; 2] = ["/etc/hoist/certs.d", "/etc/docker/certs.d"];

/// The system-wide configuration file, read when there is no per-user one.
const SYSTEM_CONFIG: &str = "/etc/hoist/config.toml";

/// The whole configuration, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file it was read from, if any.
    pub source: Option<PathBuf>,
    /// Layers downloaded at once by a pull.
    pub max_concurrent_downloads: usize,
    /// Layers uploaded at once by a push.
    pub max_concurrent_uploads: usize,
    /// Attempts per layer download before a pull fails.
    pub max_download_attempts: usize,
    /// When a big layer is fetched as several `Range` requests at once.
    pub range_fetch: hoist::transfer::RangeFetch,
    /// Directories holding `HOST[:PORT]/{ca.crt,client.cert,client.key}`.
    pub certs_dirs: Vec<PathBuf>,
    /// Per-registry settings, by `host[:port]` as written in references (`docker.io`, ...).
    pub registries: BTreeMap<String, RegistryConfig>,
    /// The trust policy file (`policy.json`) when `--policy` does not name one.
    pub policy: Option<PathBuf>,
    /// The `registries.d` directory when `--registries.d` does not name one.
    pub registries_d: Option<PathBuf>,
    /// Registries, namespaces or repositories whose signatures are read from sigstore
    /// attachments, in addition to what `registries.d` enables.
    pub sigstore_attachments: Vec<String>,
}

/// Settings for one registry host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Mirrors tried, in order, before the registry itself for pulls.
    #[serde(default, deserialize_with = "mirror_urls")]
    pub mirrors: Vec<String>,
    /// A CA certificate (PEM) trusted for this host in addition to the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Allow plain HTTP and unverified TLS for this host.
    #[serde(default)]
    pub insecure: bool,
}

/// The file as written; `None` where a key is absent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    max_concurrent_downloads: Option<AtLeastOne>,
    max_concurrent_uploads: Option<AtLeastOne>,
    max_download_attempts: Option<AtLeastOne>,
    range_fetch_threshold: Option<u64>,
    range_fetch_part_size: Option<AtLeastOne>,
    range_fetch_connections: Option<AtLeastOne>,
    range_fetch_probe: Option<u64>,
    certs_dirs: Option<Vec<PathBuf>>,
    #[serde(default)]
    registries: BTreeMap<String, RegistryConfig>,
    policy: Option<PathBuf>,
    registries_d: Option<PathBuf>,
    #[serde(default)]
    sigstore_attachments: Vec<String>,
}

/// A count that must be at least 1; refused where it is written, so the error has its line.
struct AtLeastOne(usize);

impl<'de> Deserialize<'de> for AtLeastOne {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = usize::deserialize(deserializer)?;
        if value == 0 {
            return Err(serde::de::Error::custom("must be at least 1"));
        }
        Ok(AtLeastOne(value))
    }
}

fn mirror_urls<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let mirrors = Vec::<String>::deserialize(deserializer)?;
    for mirror in &mirrors {
        let rest = mirror
            .strip_prefix("https://")
            .or_else(|| mirror.strip_prefix("http://"));
        if rest.is_none_or(|host| host.is_empty() || host.starts_with('/')) {
            return Err(serde::de::Error::custom(format!(
                "mirror {mirror:?} is not an http:// or https:// URL with a host"
            )));
        }
    }
    Ok(mirrors)
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or not of the expected shape.
    #[error("invalid config file {path}{location}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// `, line L, column C` where known.
        location: Location,
        /// What is wrong.
        message: String,
    },
}

/// Where in a file an error is, if known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location(Option<(usize, usize)>);

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((line, column)) => write!(f, ", line {line}, column {column}"),
            None => Ok(()),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: None,
            max_concurrent_downloads: DEFAULT_MAX_CONCURRENT_DOWNLOADS,
            max_concurrent_uploads: DEFAULT_MAX_CONCURRENT_UPLOADS,
            max_download_attempts: DEFAULT_MAX_DOWNLOAD_ATTEMPTS,
            range_fetch: hoist::transfer::RangeFetch::default(),
            certs_dirs: DEFAULT_CERTS_DIRS.iter().map(PathBuf::from).collect(),
            registries: BTreeMap::new(),
            policy: None,
            registries_d: None,
            sigstore_attachments: Vec::new(),
        }
    }
}

impl Config {
    /// Loads the configuration: `explicit` (from `--config`/`$HOIST_CONFIG`) must exist;
    /// otherwise the first existing default file, or the defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        if let Some(path) = explicit {
            return Config::from_file(path);
        }
        for path in default_paths() {
            if path.is_file() {
                return Config::from_file(&path);
            }
        }
        Ok(Config::default())
    }

    /// The registry client's part of the configuration (`hoist::registry::RegistryConfig`).
    pub fn registry_config(&self) -> hoist::registry::RegistryConfig {
        let registries = self
            .registries
            .iter()
            .map(|(host, settings)| {
                let host_config = hoist::registry::HostConfig {
                    mirrors: settings.mirrors.clone(),
                    ca_file: settings.ca_file.clone(),
                    insecure: settings.insecure,
                    cert_dir: None,
                };
                (host.clone(), host_config)
            })
            .collect();
        hoist::registry::RegistryConfig {
            certs_dirs: self.certs_dirs.clone(),
            registries,
            ..Default::default()
        }
    }

    /// Reads and checks the file at `path`.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(path, &text)
    }

    /// Parses `text` as the contents of the file at `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|err| ConfigError::Invalid {
            path: path.to_path_buf(),
            location: Location(err.span().map(|span| line_and_column(text, span.start))),
            message: err.message().trim().to_string(),
        })?;
        let defaults = Config::default();
        Ok(Config {
            source: Some(path.to_path_buf()),
            max_concurrent_downloads: file
                .max_concurrent_downloads
                .map_or(defaults.max_concurrent_downloads, |n| n.0),
            max_concurrent_uploads: file
                .max_concurrent_uploads
                .map_or(defaults.max_concurrent_uploads, |n| n.0),
            max_download_attempts: file
                .max_download_attempts
                .map_or(defaults.max_download_attempts, |n| n.0),
            range_fetch: hoist::transfer::RangeFetch {
                threshold: file
                    .range_fetch_threshold
                    .unwrap_or(defaults.range_fetch.threshold),
                part_size: file
                    .range_fetch_part_size
                    .map_or(defaults.range_fetch.part_size, |n| n.0 as u64),
                connections: file
                    .range_fetch_connections
                    .map_or(defaults.range_fetch.connections, |n| n.0),
                probe: file.range_fetch_probe.unwrap_or(defaults.range_fetch.probe),
            },
            certs_dirs: file.certs_dirs.unwrap_or(defaults.certs_dirs),
            registries: file.registries,
            policy: file.policy,
            registries_d: file.registries_d,
            sigstore_attachments: file.sigstore_attachments,
        })
    }
}

/// The per-user file, then the system-wide one.
fn default_paths() -> Vec<PathBuf> {
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::home_dir().map(|home| home.join(".config")));
    let mut paths: Vec<PathBuf> = config_home
        .map(|dir| dir.join("hoist").join("config.toml"))
        .into_iter()
        .collect();
    paths.push(PathBuf::from(SYSTEM_CONFIG));
    paths
}

/// 1-based line and column of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/hoist/config.toml"), text)
    }

    #[test]
    fn empty_file_gives_the_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.max_concurrent_downloads, 3);
        assert_eq!(config.max_concurrent_uploads, 5);
        assert_eq!(config.max_download_attempts, 5);
        assert_eq!(
            config.certs_dirs,
            vec![
                PathBuf::from("/etc/hoist/certs.d"),
                PathBuf::from("/etc/docker/certs.d")
            ]
        );
        assert!(config.registries.is_empty());
    }

    #[test]
    fn design_example_is_read_in_full() {
        let config = parse(
            r#"
max_concurrent_downloads = 4
max_concurrent_uploads = 2
max_download_attempts = 7
certs_dirs = ["/certs"]
[registries."docker.io"]
mirrors = ["https://mirror.internal:5000"]
[registries."myreg:5001"]
ca_file = "/path/ca.crt"
insecure = true
"#,
        )
        .unwrap();
        assert_eq!(config.max_concurrent_downloads, 4);
        assert_eq!(config.max_concurrent_uploads, 2);
        assert_eq!(config.max_download_attempts, 7);
        assert_eq!(config.certs_dirs, vec![PathBuf::from("/certs")]);
        assert_eq!(
            config.registries["docker.io"].mirrors,
            vec!["https://mirror.internal:5000"]
        );
        let myreg = &config.registries["myreg:5001"];
        assert_eq!(myreg.ca_file, Some(PathBuf::from("/path/ca.crt")));
        assert!(myreg.insecure);
    }

    #[test]
    fn range_fetch_keys_set_the_parallel_fetch_of_big_layers() {
        let config = parse(
            "range_fetch_threshold = 0\nrange_fetch_part_size = 1048576\nrange_fetch_connections = 8\nrange_fetch_probe = 0\n",
        )
        .unwrap();
        assert_eq!(
            config.range_fetch,
            hoist::transfer::RangeFetch {
                threshold: 0,
                part_size: 1 << 20,
                connections: 8,
                probe: 0,
            }
        );
        assert_eq!(
            parse("").unwrap().range_fetch,
            hoist::transfer::RangeFetch::default()
        );
        assert!(parse("range_fetch_connections = 0\n").is_err());
    }

    #[test]
    fn registry_settings_reach_the_registry_client_config() {
        let config = parse(
            "certs_dirs = [\"/c\"]\n[registries.\"r:1\"]\nmirrors = [\"http://m:2\"]\ninsecure = true\n",
        )
        .unwrap();
        let client = config.registry_config();
        assert_eq!(client.certs_dirs, vec![PathBuf::from("/c")]);
        let host = client.host("r:1");
        assert_eq!(host.mirrors, vec!["http://m:2"]);
        assert!(host.insecure);
    }

    #[test]
    fn unknown_key_is_an_error_naming_file_and_line() {
        let err =
            parse("max_concurrent_downloads = 2\n[registries.\"x\"]\nmirors = []\n").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("/etc/hoist/config.toml"), "{message}");
        assert!(message.contains("line 3"), "{message}");
        assert!(message.contains("mirors"), "{message}");
    }

    #[test]
    fn zero_concurrency_is_refused_at_its_line() {
        let err = parse("\n\nmax_concurrent_uploads = 0\n").unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("line 3") && message.contains("at least 1"),
            "{message}"
        );
    }

    #[test]
    fn mirror_without_scheme_is_refused() {
        let err = parse("[registries.\"docker.io\"]\nmirrors = [\"mirror:5000\"]\n").unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("mirror:5000") && message.contains("line 2"),
            "{message}"
        );
    }

    #[test]
    fn toml_syntax_error_names_the_line() {
        let err = parse("max_concurrent_downloads = 3\ncerts_dirs = [\n").unwrap_err();
        assert!(
            err.to_string().contains("line 2") || err.to_string().contains("line 3"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_is_refused() {
        let err = parse("max_download_attempts = \"five\"\n").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.toml");
        let err = Config::load(Some(&path)).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
        assert!(err.to_string().contains("none.toml"), "{err}");
    }

    #[test]
    fn explicit_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "max_concurrent_downloads = 9\n").unwrap();
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.max_concurrent_downloads, 9);
        assert_eq!(config.source, Some(path));
    }
}

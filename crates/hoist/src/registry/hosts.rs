//! Host configuration: per-registry mirrors, CA file and `insecure`, plus the certs.d
//! directories, as read from the `[registries."HOST"]` tables and `certs_dirs` of hoist's
//! config file.
//!
//! Kept apart from the protocol code as containerd keeps `remotes/docker/config/hosts.go` apart
//! from its resolver. The types are serde-deserialisable so the CLI can embed them in its config
//! file struct (`#[serde(flatten)]` or a field). They correspond to docker's
//! `registry.ServiceOptions` (`Mirrors`, `InsecureRegistries`) and the daemon's
//! `/etc/docker/certs.d/HOST[:PORT]/` layout.
//!
//! Host keys are `HOST[:PORT]` exactly as in a reference's domain; `docker.io` configures
//! Docker Hub (whose API lives on `registry-1.docker.io`, see `endpoint`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The default certs.d directories, searched in this order.
pub const DEFAULT_CERTS_DIRS: [&str; 2] = ["/etc/hoist/certs.d", "/etc/docker/certs.d"];

/// Settings for one registry host (`[registries."HOST"]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Mirror base URLs (`https://mirror:5000`), tried in order before the registry for pulls.
    #[serde(default)]
    pub mirrors: Vec<String>,
    /// An extra CA bundle (PEM) trusted for this host, in addition to the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Allow plain HTTP and unverified TLS for this host (docker's `insecure-registries`).
    #[serde(default)]
    pub insecure: bool,
    /// A directory laid out as this host's certs.d directory (`*.crt` CAs, `client.cert` +
    /// `client.key`), searched before the certs.d directories: skopeo's `--cert-dir`, the
    /// `cert-dir` of a sync source file.
    #[serde(default)]
    pub cert_dir: Option<PathBuf>,
}

/// Everything the registry client needs from the configuration. Deserialises from the config
/// file's top level (unknown keys such as `max_concurrent_downloads` are ignored here).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegistryConfig {
    /// Directories holding `HOST[:PORT]/{ca.crt,*.crt,client.cert,client.key}`.
    #[serde(default = "default_certs_dirs")]
    pub certs_dirs: Vec<PathBuf>,
    /// Per-host settings keyed by `HOST[:PORT]`.
    #[serde(default)]
    pub registries: BTreeMap<String, HostConfig>,
    /// Extra headers sent with every registry request (docker's `Config.MetaHeaders`).
    #[serde(default)]
    pub meta_headers: BTreeMap<String, String>,
    /// Connection timeout (seconds in the file).
    #[serde(default = "default_connect_timeout", with = "secs")]
    pub connect_timeout: Duration,
    /// Timeout between two reads of an answer (seconds in the file): a stalled blob body
    /// fails the attempt, and the next one resumes with `Range`.
    #[serde(default = "default_read_timeout", with = "secs")]
    pub read_timeout: Duration,
    /// Deadline for the whole exchange of a small document (a manifest, a token, a listing
    /// page, the ping), headers and body (seconds in the file): a server dripping bytes keeps
    /// every read under `read_timeout` but cannot hold an operation longer than this. A
    /// missed deadline is retried like a timeout.
    #[serde(default = "default_document_timeout", with = "secs")]
    pub document_timeout: Duration,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            certs_dirs: default_certs_dirs(),
            registries: BTreeMap::new(),
            meta_headers: BTreeMap::new(),
            connect_timeout: default_connect_timeout(),
            read_timeout: default_read_timeout(),
            document_timeout: default_document_timeout(),
        }
    }
}

impl RegistryConfig {
    /// The settings for `host` (`HOST[:PORT]`), or the defaults when it has none.
    pub fn host(&self, host: &str) -> HostConfig {
        self.registries.get(host).cloned().unwrap_or_default()
    }
}

fn default_certs_dirs() -> Vec<PathBuf> {
    DEFAULT_CERTS_DIRS.iter().map(PathBuf::from).collect()
}

fn default_connect_timeout() -> Duration {
    // docker's registry dialer uses 30 s.
    Duration::from_secs(30)
}

fn default_read_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_document_timeout() -> Duration {
    // A 4 MiB manifest (the cap) at 64 KiB/s; real manifests and tokens are a few KiB.
    Duration::from_secs(120)
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_name_both_certs_dirs() {
        let c: RegistryConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(
            c.certs_dirs,
            vec![
                PathBuf::from("/etc/hoist/certs.d"),
                PathBuf::from("/etc/docker/certs.d")
            ]
        );
    }

    #[test]
    fn reads_registries_table() {
        let c: RegistryConfig = serde_json::from_str(
            r#"{"max_concurrent_downloads": 3,
                "registries": {"docker.io": {"mirrors": ["https://m:5000"]},
                               "myreg:5001": {"ca_file": "/p/ca.crt", "insecure": true}}}"#,
        )
        .unwrap();
        assert_eq!(
            c.host("docker.io").mirrors,
            vec!["https://m:5000".to_string()]
        );
        assert!(c.host("myreg:5001").insecure);
        assert_eq!(
            c.host("myreg:5001").ca_file,
            Some(PathBuf::from("/p/ca.crt"))
        );
        assert_eq!(c.host("other"), HostConfig::default());
    }

    #[test]
    fn unknown_host_key_is_refused() {
        let r: Result<HostConfig, _> = serde_json::from_str(r#"{"mirror": ["x"]}"#);
        assert!(r.is_err());
    }
}

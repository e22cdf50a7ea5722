//! The image config blob: platform, runtime defaults, `rootfs.diff_ids` and history.
//!
//! Matches what docker reads from a config on pull (`image.NewFromJSON`, `rootFSFromConfig`
//! in moby `distribution/pull_v2.go`, `ImageConfigStore.PlatformFromConfig`): the OS,
//! architecture and variant the image is for, and the ordered uncompressed-layer digests
//! (diffIDs) that the pulled layers must produce ("layers from manifest don't match image
//! configuration" otherwise; that check belongs to `pull`). `rootfs` must be present with
//! `type` `"layers"` (docker's `errRootFSInvalid` otherwise); every diffID is a valid
//! [`Digest`].
//!
//! The runtime part (`config`: Env, Cmd, Entrypoint, …) and `history` entries use oci-spec's
//! `Config` and `History`, which read Docker's configs as well (Docker-only fields such as
//! `Hostname` or `Healthcheck` are ignored here; the store keeps the original bytes, which
//! are what `hoist inspect` shows and what the image ID is computed over).
//!
//! Size: at most [`MAX_CONFIG_SIZE`] (4 MiB) is read, like containerd's config limit, so a
//! hostile registry cannot make hoist buffer an unbounded blob as "config".

use oci_spec::image::{Config as RuntimeConfig, History};
use serde::{Deserialize, Serialize};

use super::descriptor::null_as_default;
use super::platform::Platform;
use crate::digest::Digest;

/// Largest image config hoist reads: 4 MiB.
pub const MAX_CONFIG_SIZE: usize = 4 << 20;

/// The one `rootfs.type` docker supports (`image.TypeLayers`).
pub const ROOTFS_TYPE_LAYERS: &str = "layers";

/// An image config (OCI `application/vnd.oci.image.config.v1+json`, Docker
/// `application/vnd.docker.container.image.v1+json`). With the content store that keeps its
/// bytes ([`crate::store::ContentStore`]: docker's `Put`/`Get`), this is docker's
/// `ImageConfigStore`: [`ImageConfig::diff_ids`] is its `RootFSFromConfig`,
/// [`ImageConfig::platform`] its `PlatformFromConfig`.
#[doc(alias = "ImageConfigStore")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// CPU architecture (Go names).
    #[serde(default)]
    pub architecture: String,
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// CPU variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// OS version (Windows).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// OS features (Windows).
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    /// Creation time, RFC 3339, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Runtime defaults (Env, Cmd, Entrypoint, WorkingDir, User, Labels, ExposedPorts, …).
    /// `None` when absent or when it is not in the shape oci-spec reads (docker also accepts
    /// e.g. a plain string for `Cmd`): pulling does not depend on it, and the original bytes
    /// stay in the store.
    #[serde(
        default,
        deserialize_with = "lenient_runtime_config",
        skip_serializing_if = "Option::is_none"
    )]
    pub config: Option<RuntimeConfig>,
    /// The layers' diffIDs.
    pub rootfs: RootFs,
    /// One entry per build step, including those that made no layer (`empty_layer`).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub history: Vec<History>,
}

/// The config's `rootfs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `"layers"` once parsed.
    #[serde(rename = "type")]
    pub kind: String,
    /// Digests of the uncompressed layers, bottom first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub diff_ids: Vec<Digest>,
}

/// Why a config was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Larger than [`MAX_CONFIG_SIZE`].
    #[error("image config is {size} bytes, larger than the {limit}-byte (4 MiB) limit")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a JSON image config (serde's message names the field and position).
    #[error("malformed image config: {0}")]
    Malformed(#[source] serde_json::Error),
    /// `rootfs.type` is not `"layers"`.
    #[error("unsupported rootfs type {0:?} in image config (only \"layers\" is supported)")]
    RootFsType(String),
}

impl ImageConfig {
    /// Parses a config blob (already digest-verified by the caller), enforcing the size cap
    /// and the `rootfs` rules.
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig, ConfigError> {
        if bytes.len() > MAX_CONFIG_SIZE {
            return Err(ConfigError::TooLarge {
                size: bytes.len(),
                limit: MAX_CONFIG_SIZE,
            });
        }
        let config: ImageConfig = serde_json::from_slice(bytes).map_err(ConfigError::Malformed)?;
        if config.rootfs.kind != ROOTFS_TYPE_LAYERS {
            return Err(ConfigError::RootFsType(config.rootfs.kind));
        }
        Ok(config)
    }

    /// The platform the image is built for (docker's `PlatformFromConfig`).
    pub fn platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone().filter(|v| !v.is_empty()),
            os_version: self.os_version.clone().filter(|v| !v.is_empty()),
            os_features: self.os_features.clone().filter(|f| !f.is_empty()),
        }
    }

    /// The diffIDs the layers must produce, bottom first.
    pub fn diff_ids(&self) -> &[Digest] {
        &self.rootfs.diff_ids
    }
}

/// Reads the runtime `config` if oci-spec can, else `None` (see [`ImageConfig::config`]).
fn lenient_runtime_config<'de, D>(deserializer: D) -> Result<Option<RuntimeConfig>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Modelled on the buildkit config of `alpine` linux/arm/v7 (the diffID is made up).
    const ALPINE_ARM_V7: &str = r#"{"architecture":"arm","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"],"WorkingDir":"/","ArgsEscaped":true,"OnBuild":null},"created":"2024-09-06T12:05:36Z","history":[{"created":"2024-09-06T12:05:36Z","created_by":"ADD alpine-minirootfs-3.20.3-armv7.tar.gz / # buildkit","comment":"buildkit.dockerfile.v0"},{"created":"2024-09-06T12:05:36Z","created_by":"CMD [\"/bin/sh\"]","comment":"buildkit.dockerfile.v0","empty_layer":true}],"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:3e1d6a0aa3fa0b2e4f3d5d3c7f9f7da1b4c7a9d2b1c0e6f5a4d3c2b1a0f9e8d7"]},"variant":"v7"}"#;

    /// Modelled on a moby-builder config: Docker-only fields, Go-map ExposedPorts, null
    /// history (digests made up).
    const DOCKER_NGINX_LIKE: &str = r#"{"architecture":"amd64","config":{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"ExposedPorts":{"80/tcp":{}},"Tty":false,"Env":["NGINX_VERSION=1.25.3"],"Cmd":["nginx","-g","daemon off;"],"Image":"sha256:2b","Volumes":null,"WorkingDir":"","Entrypoint":["/docker-entrypoint.sh"],"OnBuild":null,"Labels":{"maintainer":"NGINX Docker Maintainers"},"StopSignal":"SIGQUIT"},"container":"0f4c","container_config":{"Hostname":"0f4c"},"created":"2023-12-19T14:32:13.041465563Z","docker_version":"20.10.23","history":null,"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:571ade696b261f0ff46e3cdcf5e2e8e1ad8e3b6d7d8d6cdb4b1b1b94e0e0a1a1","sha256:1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809"]}}"#;

    #[test]
    fn oci_config_gives_platform_and_diff_ids() {
        let c = ImageConfig::parse(ALPINE_ARM_V7.as_bytes()).unwrap();
        assert_eq!(c.platform(), Platform::new("linux", "arm", Some("v7")));
        assert_eq!(c.diff_ids().len(), 1);
        assert_eq!(c.history.len(), 2);
        assert_eq!(c.history[1].empty_layer(), Some(true));
        let runtime = c.config.unwrap();
        assert_eq!(runtime.cmd().as_deref(), Some(&["/bin/sh".to_owned()][..]));
    }

    #[test]
    fn docker_config_with_docker_only_fields_parses() {
        let c = ImageConfig::parse(DOCKER_NGINX_LIKE.as_bytes()).unwrap();
        assert_eq!(c.platform(), Platform::new("linux", "amd64", None));
        assert_eq!(c.diff_ids().len(), 2);
        assert!(c.history.is_empty());
        let runtime = c.config.unwrap();
        assert_eq!(
            runtime.exposed_ports().as_deref(),
            Some(&["80/tcp".to_owned()][..])
        );
        assert_eq!(runtime.stop_signal().as_deref(), Some("SIGQUIT"));
    }

    #[test]
    fn runtime_config_docker_accepts_but_oci_spec_does_not_is_skipped_not_fatal() {
        let json = br#"{"os":"linux","architecture":"amd64","config":{"Cmd":"/bin/sh"},
                        "rootfs":{"type":"layers","diff_ids":[]}}"#;
        let c = ImageConfig::parse(json).unwrap();
        assert!(c.config.is_none());
        assert_eq!(c.platform(), Platform::new("linux", "amd64", None));
    }

    #[test]
    fn config_larger_than_4_mib_is_refused() {
        let big = vec![b' '; MAX_CONFIG_SIZE + 1];
        let err = ImageConfig::parse(&big).unwrap_err();
        assert!(matches!(err, ConfigError::TooLarge { size, .. } if size == MAX_CONFIG_SIZE + 1));
        assert!(err.to_string().contains("4 MiB"), "{err}");
    }

    #[test]
    fn config_without_rootfs_is_refused_naming_rootfs() {
        let err = ImageConfig::parse(br#"{"architecture":"amd64","os":"linux"}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `rootfs`"), "{err}");
    }

    #[test]
    fn rootfs_type_other_than_layers_is_refused() {
        let err =
            ImageConfig::parse(br#"{"os":"linux","rootfs":{"type":"snapshot","diff_ids":[]}}"#)
                .unwrap_err();
        assert!(
            matches!(&err, ConfigError::RootFsType(t) if t == "snapshot"),
            "{err}"
        );
    }

    #[test]
    fn invalid_diff_id_is_refused_quoting_it() {
        let err =
            ImageConfig::parse(br#"{"rootfs":{"type":"layers","diff_ids":["sha256:nothex"]}}"#)
                .unwrap_err();
        assert!(err.to_string().contains("sha256:nothex"), "{err}");
    }

    #[test]
    fn truncated_config_is_an_error_not_a_panic() {
        let cut = &ALPINE_ARM_V7.as_bytes()[..ALPINE_ARM_V7.len() / 2];
        let err = ImageConfig::parse(cut).unwrap_err();
        assert!(err.to_string().contains("EOF"), "{err}");
    }
}

//! Platforms (`os/arch[/variant]`): parsing, normalisation, the host's platform, and choosing
//! manifests from an index.
//!
//! Matches containerd's `platforms` package as docker 20.10 uses it in `filterManifests`
//! (moby `distribution/pull_v2_unix.go`):
//!
//! - **Normalisation** ([`Platform::normalized`], containerd `platforms.Normalize`): names are
//!   lower-cased; `macos` ⇒ `darwin`; `x86_64`/`x86-64` ⇒ `amd64` (variant `v1` dropped);
//!   `i386` ⇒ `386`; `aarch64` ⇒ `arm64`, and `arm64` with no variant (or `8`, `v8.0`) ⇒ `v8`;
//!   `armhf` ⇒ `arm` `v7`; `armel` ⇒ `arm` `v6`; `arm` with no variant ⇒ `v7`, bare digits
//!   `5`…`8` ⇒ `v5`…`v8`.
//! - **Matching** ([`PlatformMatcher`], containerd `platforms.Only`): OS, architecture and
//!   variant must be equal after normalisation, except that an `arm` request also accepts
//!   older variants in order: `v8` ⇒ `v7` ⇒ `v6` ⇒ `v5`. Candidates are ranked exact first,
//!   then by that fallback order, and ties keep the index's order (docker's stable sort).
//!   `os.version` is not compared (docker only checks it for Windows hosts).
//! - **No match**: [`NoMatchingManifest`] says docker's sentence "no matching manifest for
//!   linux/arm64 in the manifest list entries" and then lists the platforms the index has.
//!
//! The requested platform is kept as the user wrote it for messages, and normalised only for
//! comparison, so `--platform linux/arm64` is reported as `linux/arm64`, not `linux/arm64/v8`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::descriptor::Descriptor;
use super::types::ManifestKind;

/// A platform as in an OCI descriptor's `platform` or an image config (`os`, `architecture`,
/// `variant`, `os.version`, `os.features`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// Operating system, e.g. `linux`, `windows`.
    #[serde(default)]
    pub os: String,
    /// CPU architecture in Go's names, e.g. `amd64`, `arm64`, `arm`.
    #[serde(default)]
    pub architecture: String,
    /// CPU variant, e.g. `v7` for `arm`, `v8` for `arm64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// OS version, used by Windows images (`10.0.17763.1234`).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// Required OS features (Windows `win32k`).
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
}

/// Why a `--platform` string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {input:?}: {reason}; expected os/arch[/variant], e.g. linux/arm64 or linux/arm/v7")]
pub struct PlatformParseError {
    /// The string given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Operating systems Go knows (`GOOS` values), used to tell `linux` from `arm64` in a
/// one-part platform string the way containerd's `platforms.Parse` does.
const KNOWN_OS: [&str; 16] = [
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "illumos",
    "ios",
    "js",
    "linux",
    "macos",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
];

impl Platform {
    /// A platform from its parts (not normalised).
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
            os_version: None,
            os_features: None,
        }
    }

    /// Parses a `--platform` value: `os/arch[/variant]`, or a single `os` (the host
    /// architecture is taken) or a single `arch` (the host OS is taken), like containerd's
    /// `platforms.Parse`. The result is as written, not normalised.
    pub fn parse(input: &str) -> Result<Platform, PlatformParseError> {
        let err = |reason| PlatformParseError {
            input: input.to_owned(),
            reason,
        };
        let parts: Vec<&str> = input.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(err("a component is empty"));
        }
        let valid = |p: &&str| {
            p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        };
        if !parts.iter().all(valid) {
            return Err(err(
                "components may contain only letters, digits, '_', '-' and '.'",
            ));
        }
        match parts.as_slice() {
            [one] => {
                let host = Platform::host();
                if KNOWN_OS.contains(&one.to_ascii_lowercase().as_str()) {
                    Ok(Platform::new(
                        one,
                        &host.architecture,
                        host.variant.as_deref(),
                    ))
                } else {
                    Ok(Platform::new(&host.os, one, None))
                }
            }
            [os, arch] => Ok(Platform::new(os, arch, None)),
            [os, arch, variant] => Ok(Platform::new(os, arch, Some(variant))),
            _ => Err(err("too many components")),
        }
    }

    /// The platform this process runs on, in Go's names (what docker uses when no
    /// `--platform` is given). On 32-bit ARM the variant is `v7`, containerd's default.
    pub fn host() -> Platform {
        let os = match std::env::consts::OS {
            "macos" => "darwin",
            other => other,
        };
        let (arch, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", None),
            "arm" => ("arm", Some("v7")),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "powerpc64" => ("ppc64", None),
            "mips64" if cfg!(target_endian = "little") => ("mips64le", None),
            "loongarch64" => ("loong64", None),
            other => (other, None),
        };
        Platform::new(os, arch, variant)
    }

    /// containerd's `platforms.Normalize`; see the module doc for the rules.
    pub fn normalized(&self) -> Platform {
        let os = match self.os.to_ascii_lowercase().as_str() {
            "macos" => "darwin".to_owned(),
            other => other.to_owned(),
        };
        let arch = self.architecture.to_ascii_lowercase();
        let variant = self
            .variant
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let (arch, variant): (&str, String) = match arch.as_str() {
            "i386" | "386" => ("386", String::new()),
            "x86_64" | "x86-64" | "amd64" => (
                "amd64",
                if variant == "v1" {
                    String::new()
                } else {
                    variant
                },
            ),
            "aarch64" | "arm64" => match variant.as_str() {
                "" | "8" | "v8" | "v8.0" => ("arm64", "v8".to_owned()),
                "9" | "9.0" | "v9.0" => ("arm64", "v9".to_owned()),
                _ => ("arm64", variant),
            },
            "armhf" => ("arm", "v7".to_owned()),
            "armel" => ("arm", "v6".to_owned()),
            "arm" => match variant.as_str() {
                "" | "7" => ("arm", "v7".to_owned()),
                "5" | "6" | "8" => ("arm", format!("v{variant}")),
                _ => ("arm", variant),
            },
            other => (other, variant),
        };
        Platform {
            os,
            architecture: arch.to_owned(),
            variant: (!variant.is_empty()).then_some(variant),
            os_version: self.os_version.clone(),
            os_features: self.os_features.clone(),
        }
    }
}

impl fmt::Display for Platform {
    /// `os[(os.version)]/arch[/variant]`, the form docker prints in "no matching manifest for
    /// windows(10.0.17763)/arm64/v8 in the manifest list entries".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.os)?;
        if let Some(version) = self.os_version.as_deref().filter(|v| !v.is_empty()) {
            write!(f, "({version})")?;
        }
        write!(f, "/{}", self.architecture)?;
        if let Some(variant) = self.variant.as_deref().filter(|v| !v.is_empty()) {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Platform {
    type Err = PlatformParseError;
    fn from_str(s: &str) -> Result<Platform, PlatformParseError> {
        Platform::parse(s)
    }
}

/// Decides which platforms satisfy a requested one, and ranks them (containerd's
/// `platforms.Only` matcher).
#[derive(Debug, Clone)]
pub struct PlatformMatcher {
    requested: Platform,
    /// Acceptable platforms (normalised), best first.
    order: Vec<Platform>,
}

impl PlatformMatcher {
    /// A matcher for `requested`, which is normalised for comparison.
    pub fn new(requested: &Platform) -> PlatformMatcher {
        let wanted = requested.normalized();
        let mut order = vec![wanted.clone()];
        if wanted.architecture == "arm" {
            // arm v8 (32-bit) runs v7, v7 runs v6, v6 runs v5: containerd's platformVector.
            let level = wanted
                .variant
                .as_deref()
                .and_then(|v| v.strip_prefix('v'))
                .and_then(|n| n.parse::<u8>().ok());
            if let Some(level) = level.filter(|l| (6..=8).contains(l)) {
                for older in (5..level).rev() {
                    let mut fallback = wanted.clone();
                    fallback.variant = Some(format!("v{older}"));
                    order.push(fallback);
                }
            }
        }
        PlatformMatcher {
            requested: requested.clone(),
            order,
        }
    }

    /// The platform asked for, as given.
    pub fn requested(&self) -> &Platform {
        &self.requested
    }

    /// The rank of `candidate` (0 is an exact match; higher is a fallback), or `None` if it
    /// does not satisfy the request.
    pub fn rank(&self, candidate: &Platform) -> Option<usize> {
        let c = candidate.normalized();
        self.order.iter().position(|p| {
            p.os == c.os && p.architecture == c.architecture && p.variant == c.variant
        })
    }

    /// Whether `candidate` satisfies the request.
    pub fn matches(&self, candidate: &Platform) -> bool {
        self.rank(candidate).is_some()
    }

    /// The manifests of an index that satisfy the request, best first (docker's
    /// `filterManifests`). Entries without a platform, or whose media type is not a manifest
    /// or index type (an empty one is let through: the fetched manifest's own type decides),
    /// are skipped, as docker skips them. The caller tries them in order
    /// (docker recurses into a nested index and moves on when it has no match).
    // Selection runs once per pull; the error's size does not matter there.
    #[allow(clippy::result_large_err)]
    pub fn select<'a>(
        &self,
        manifests: &'a [Descriptor],
    ) -> Result<Vec<&'a Descriptor>, NoMatchingManifest> {
        let mut ranked: Vec<(usize, &Descriptor)> = manifests
            .iter()
            .filter(|d| {
                d.media_type.trim().is_empty()
                    || ManifestKind::from_media_type(&d.media_type).is_some()
            })
            .filter_map(|d| {
                let platform = d.platform.as_ref()?;
                Some((self.rank(platform)?, d))
            })
            .collect();
        if ranked.is_empty() {
            return Err(NoMatchingManifest::new(&self.requested, manifests));
        }
        ranked.sort_by_key(|(rank, _)| *rank); // stable: ties keep the index's order
        Ok(ranked.into_iter().map(|(_, d)| d).collect())
    }
}

/// No entry of a manifest list / index fits the requested platform (docker's `noMatchesErr`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no matching manifest for {requested} in the manifest list entries{}", available_suffix(.available))]
pub struct NoMatchingManifest {
    /// The platform asked for, as given.
    pub requested: Platform,
    /// The platforms the index offers (deduplicated, in index order, attestation entries
    /// `unknown/unknown` left out).
    pub available: Vec<Platform>,
}

impl NoMatchingManifest {
    /// The error for `requested` against an index's `manifests`.
    pub fn new(requested: &Platform, manifests: &[Descriptor]) -> NoMatchingManifest {
        let mut available: Vec<Platform> = Vec::new();
        let listed = manifests.iter().filter(|d| !d.is_attestation());
        for p in listed.filter_map(|d| d.platform.as_ref()) {
            if !available.contains(p) {
                available.push(p.clone());
            }
        }
        NoMatchingManifest {
            requested: requested.clone(),
            available,
        }
    }
}

fn available_suffix(available: &[Platform]) -> String {
    if available.is_empty() {
        return String::new();
    }
    let list: Vec<String> = available.iter().map(Platform::to_string).collect();
    format!("; available platforms: {}", list.join(", "))
}

#[cfg(test)]
mod tests;

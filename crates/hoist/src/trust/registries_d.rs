//! [`SigstoreAttachments`]: which images' signatures are read from sigstore attachments
//! (`sha256-DIGEST.sig` tags), from containers' `registries.d` (containers-registries.d(5))
//! and hoist's own configuration.
//!
//! A `registries.d` directory holds YAML files (`*.yaml`, read in name order):
//! ```yaml
//! default-docker:
//!   use-sigstore-attachments: true
//! docker:
//!   registry.example.com/prod:
//!     use-sigstore-attachments: true
//! ```
//! For an image, the most specific `docker` entry that sets `use-sigstore-attachments` decides
//! (the same scopes as `policy.json`: `reg/ns/app:tag`, `reg/ns/app`, `reg/ns`, `reg`, `*.`
//! wildcards), else `default-docker`, else no. Other keys (`lookaside`, …) are accepted and
//! not used; the same scope in two files is an error, as in containers/image. hoist's config
//! adds scopes ([`SigstoreAttachments::enable`]) that turn attachments on, whatever the YAML
//! says.
//!
//! The directory: `--registries.d DIR`, else `$HOME/.config/containers/registries.d` when it
//! exists, else `/etc/containers/registries.d` ([`SigstoreAttachments::locate`]); a missing
//! directory is an empty configuration.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::subject::docker_scopes;
use super::PolicyError;
use crate::reference::Reference;

/// The system-wide `registries.d`.
pub const SYSTEM_REGISTRIES_D: &str = "/etc/containers/registries.d";

/// Where sigstore attachments are used. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct SigstoreAttachments {
    docker: BTreeMap<String, bool>,
    default: Option<bool>,
    enabled: BTreeSet<String>,
}

#[derive(Deserialize, Default)]
struct RegistriesFile {
    #[serde(rename = "default-docker")]
    default_docker: Option<Namespace>,
    #[serde(default)]
    docker: BTreeMap<String, Namespace>,
}

#[derive(Deserialize, Default)]
struct Namespace {
    #[serde(rename = "use-sigstore-attachments")]
    use_sigstore_attachments: Option<bool>,
}

impl SigstoreAttachments {
    /// The directory to read: `explicit`, else the user's when it exists, else the system's.
    pub fn locate(explicit: Option<&Path>, home: Option<&Path>) -> PathBuf {
        if let Some(dir) = explicit {
            return dir.to_owned();
        }
        match home.map(|home| home.join(".config/containers/registries.d")) {
            Some(user) if user.is_dir() => user,
            _ => PathBuf::from(SYSTEM_REGISTRIES_D),
        }
    }

    /// Reads every `*.yaml` of `dir` (none when it does not exist).
    pub fn load_dir(dir: &Path) -> Result<SigstoreAttachments, PolicyError> {
        let mut out = SigstoreAttachments::default();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(source) => {
                return Err(PolicyError::Read {
                    path: dir.to_owned(),
                    source,
                })
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        let mut seen_default: Option<PathBuf> = None;
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|source| PolicyError::Read {
                path: path.clone(),
                source,
            })?;
            let file = parse(&path, &text)?;
            if let Some(default) = file.default_docker {
                if let Some(first) = &seen_default {
                    return Err(invalid(
                        &path,
                        format!("default-docker is also set in {}", first.display()),
                    ));
                }
                seen_default = Some(path.clone());
                out.default = default.use_sigstore_attachments;
            }
            for (scope, namespace) in file.docker {
                if out.docker.contains_key(&scope) {
                    return Err(invalid(
                        &path,
                        format!("scope {scope:?} is set in two files"),
                    ));
                }
                if let Some(used) = namespace.use_sigstore_attachments {
                    out.docker.insert(scope, used);
                }
            }
        }
        Ok(out)
    }

    /// Turns attachments on for `scope` (a registry, namespace or repository; hoist's config
    /// `sigstore_attachments`).
    pub fn enable(&mut self, scope: &str) {
        self.enabled.insert(scope.to_owned());
    }

    /// Whether the signatures of `reference` are read from sigstore attachments.
    pub fn enabled_for(&self, reference: &Reference) -> bool {
        let scopes = docker_scopes(reference);
        if scopes.iter().any(|s| self.enabled.contains(s)) {
            return true;
        }
        scopes
            .iter()
            .find_map(|s| self.docker.get(s).copied())
            .or(self.default)
            .unwrap_or(false)
    }
}

fn parse(path: &Path, text: &str) -> Result<RegistriesFile, PolicyError> {
    if text.trim().is_empty() {
        return Ok(RegistriesFile::default());
    }
    serde_yaml_ng::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        PolicyError::Invalid {
            path: path.to_owned(),
            line,
            column,
            message: e.to_string(),
        }
    })
}

fn invalid(path: &Path, message: String) -> PolicyError {
    PolicyError::Invalid {
        path: path.to_owned(),
        line: 0,
        column: 0,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    #[test]
    fn the_most_specific_scope_decides_then_the_default() {
        let dir = dir_with(&[(
            "a.yaml",
            "default-docker:\n  use-sigstore-attachments: true\ndocker:\n  reg:5000/ns:\n    use-sigstore-attachments: false\n  reg:5000/ns/app:\n    use-sigstore-attachments: true\n    lookaside: https://x\n",
        )]);
        let config = SigstoreAttachments::load_dir(dir.path()).unwrap();
        assert!(config.enabled_for(&r("reg:5000/ns/app:v1")));
        assert!(!config.enabled_for(&r("reg:5000/ns/other:v1")));
        assert!(config.enabled_for(&r("elsewhere/app:v1")));
    }

    #[test]
    fn no_directory_means_no_attachments_unless_hoist_enables_them() {
        let mut config = SigstoreAttachments::load_dir(Path::new("/nonexistent/hoist")).unwrap();
        assert!(!config.enabled_for(&r("reg:5000/app:v1")));
        config.enable("reg:5000");
        assert!(config.enabled_for(&r("reg:5000/app:v1")));
    }

    #[test]
    fn a_scope_in_two_files_and_bad_yaml_are_errors_naming_the_file() {
        let twice = "docker:\n  reg:\n    use-sigstore-attachments: true\n";
        let dir = dir_with(&[("a.yaml", twice), ("b.yaml", twice)]);
        let err = SigstoreAttachments::load_dir(dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("b.yaml") && err.contains("two files"), "{err}");
        let dir = dir_with(&[("bad.yaml", "docker: [\n")]);
        let err = SigstoreAttachments::load_dir(dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.yaml:"), "{err}");
    }
}

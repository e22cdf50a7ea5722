//! [`Policy`]: containers' `policy.json` (containers-policy.json(5)), which decides whether
//! an image may be pulled or copied.
//!
//! # Format
//! ```json
//! {
//!   "default": [{"type": "insecureAcceptAnything"}],
//!   "transports": {
//!     "docker": {
//!       "registry.example.com/prod": [
//!         {"type": "sigstoreSigned", "keyPath": "/etc/keys/prod.pub",
//!          "signedIdentity": {"type": "matchRepoDigestOrExact"}}
//!       ],
//!       "registry.example.com": [{"type": "reject"}]
//!     }
//!   }
//! }
//! ```
//! Requirement types: `insecureAcceptAnything`, `reject`, `sigstoreSigned` (`keyPath`,
//! `keyPaths`, `keyData`, `keyDatas`, or `fulcio` (`caPath`/`caData`, `oidcIssuer`,
//! `subjectEmail`), each optionally with `rekorPublicKeyPath`/`…Paths`/`…Data`/`…Datas`, which
//! `fulcio` requires; `pki` is parsed and refused when it applies, "not supported yet") and
//! `signedBy` (GPG: parsed, refused when it applies). Every requirement of the list that
//! applies must be satisfied.
//!
//! # Which requirements apply ([`Policy::requirements`])
//! The transport's scopes, most specific first, as containers/image resolves them
//! (`docker/policyconfiguration`): for `docker` (and `hoist`, the local store, whose names
//! are docker references) `reg:5000/ns/app:v1` (or `…@sha256:…`), then `reg:5000/ns/app`,
//! `reg:5000/ns`, `reg:5000`, then `*.`-wildcards of the host without its port from the most
//! specific (`*.example.com`, `*.com`); for `oci`/`dir`, the absolute path (with `:TAG` for
//! `oci`) then its parent directories; archives have no scopes. Then the transport's `""`
//! scope, then `default`.
//!
//! # Where the file is
//! [`Policy::locate`]: `--policy FILE`, the config file's `policy`,
//! `$HOME/.config/containers/policy.json`, `/etc/containers/policy.json`; none of them means
//! no policy (every image accepted, today's behaviour).
//!
//! Invariant: a `Policy` exists only for a file that parsed completely; a malformed file is
//! one [`PolicyError::Invalid`] with its path, line and column.

mod raw;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::identity::SignedIdentity;
use super::PolicyError;

/// The system-wide policy file (containers-policy.json(5)).
pub const SYSTEM_POLICY: &str = "/etc/containers/policy.json";

/// A parsed `policy.json`. See the module docs.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The file, for messages (`(built-in)` when made in code).
    source: String,
    default: Vec<Requirement>,
    transports: BTreeMap<String, BTreeMap<String, Vec<Requirement>>>,
}

/// One policy requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `insecureAcceptAnything`: no check.
    InsecureAcceptAnything,
    /// `reject`: never.
    Reject,
    /// `signedBy`: a GPG signature (simple signing). Parsed; refused when it applies.
    SignedBy,
    /// `sigstoreSigned`: a sigstore signature by one of the keys.
    SigstoreSigned(Box<SigstoreSigned>),
}

/// A `sigstoreSigned` requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigstoreSigned {
    /// The public keys (`keyPath`, `keyPaths`, `keyData`, `keyDatas`); any one of them may
    /// have signed. Empty with `fulcio` or `pki`.
    pub keys: Vec<KeySource>,
    /// Fulcio certificates instead of keys.
    pub fulcio: Option<Fulcio>,
    /// Rekor public keys (`rekorPublicKey*`): when given, a signature needs a Rekor bundle
    /// signed by one of them.
    pub rekor: Vec<KeySource>,
    /// `pki` was given (not verified by hoist yet).
    pub pki: bool,
    /// Which identities a signature may claim.
    pub signed_identity: SignedIdentity,
}

impl SigstoreSigned {
    /// What this requirement asks that hoist cannot verify yet, if anything.
    pub fn unsupported(&self) -> Option<&'static str> {
        if self.pki {
            Some("sigstoreSigned with pki")
        } else {
            None
        }
    }
}

/// The `fulcio` object of a `sigstoreSigned` requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fulcio {
    /// `caPath` or `caData`.
    pub ca: KeySource,
    /// `oidcIssuer`.
    pub oidc_issuer: String,
    /// `subjectEmail`.
    pub subject_email: String,
}

/// Where a key (or certificate) is: a file, or inline (`…Data`, base64 in the file).
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A file, read when the requirement is evaluated.
    Path(PathBuf),
    /// The PEM bytes.
    Data(Vec<u8>),
}

impl KeySource {
    /// How messages name it: the path, or `keyData`.
    pub fn name(&self) -> String {
        match self {
            KeySource::Path(path) => path.display().to_string(),
            KeySource::Data(_) => "keyData".to_owned(),
        }
    }
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl Policy {
    /// Reads and parses the policy file `path`.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Policy::parse(path, &text)
    }

    /// Parses `text`, the content of the policy file `path` (named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Policy, PolicyError> {
        let file: raw::PolicyFile =
            serde_json::from_str(text).map_err(|e| PolicyError::Invalid {
                path: path.to_owned(),
                line: e.line(),
                column: e.column(),
                message: strip_position(&e.to_string()),
            })?;
        Ok(Policy {
            source: path.display().to_string(),
            default: file.default.0,
            transports: file
                .transports
                .into_iter()
                .map(|(t, scopes)| (t, scopes.0.into_iter().map(|(s, r)| (s, r.0)).collect()))
                .collect(),
        })
    }

    /// A policy accepting everything, as having no policy file does.
    pub fn accept_anything() -> Policy {
        Policy {
            source: "(built-in)".to_owned(),
            default: vec![Requirement::InsecureAcceptAnything],
            transports: BTreeMap::new(),
        }
    }

    /// The policy file to use: `explicit` (`--policy`, or the config file's `policy`; it must
    /// exist, [`Policy::load`] says so), else the first existing of
    /// `HOME/.config/containers/policy.json` and [`SYSTEM_POLICY`]; `None` when there is none.
    pub fn locate(explicit: Option<&Path>, home: Option<&Path>) -> Option<PathBuf> {
        if let Some(path) = explicit {
            return Some(path.to_owned());
        }
        let user = home.map(|home| home.join(".config/containers/policy.json"));
        user.into_iter()
            .chain(std::iter::once(PathBuf::from(SYSTEM_POLICY)))
            .find(|path| path.exists())
    }

    /// The file this policy came from, for messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The requirements for an image of `transport` whose scopes, most specific first, are
    /// `scopes` (see the module docs).
    pub fn requirements(&self, transport: &str, scopes: &[String]) -> &[Requirement] {
        if let Some(by_scope) = self.transports.get(transport) {
            let found = scopes
                .iter()
                .map(String::as_str)
                .chain(std::iter::once(""))
                .find_map(|scope| by_scope.get(scope));
            if let Some(requirements) = found {
                return requirements;
            }
        }
        &self.default
    }
}

/// serde_json's message without its own ` at line L column C` (the error says it once).
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests;

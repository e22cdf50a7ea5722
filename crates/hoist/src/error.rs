//! The errors people see: translation of library errors into docker's sentences.
//!
//! Corresponds to docker 20.10's `distribution.TranslatePullError` and its `notFoundError`
//! (`distribution/errors.go`). This is the ONE place those sentences are produced; the rest of
//! the library returns typed errors ([`RegistryError`] and friends) with their context.
//!
//! | registry answer (first error code) | sentence |
//! |---|---|
//! | `DENIED`, `UNAUTHORIZED` | `pull access denied for NAME, repository does not exist or may require 'docker login': MESSAGE` |
//! | `MANIFEST_UNKNOWN` (or a bare 404 on a manifest) | `manifest for REF not found: manifest unknown: MESSAGE` |
//! | `NAME_UNKNOWN` | `repository NAME not found: name unknown: MESSAGE` |
//! | anything else | the error itself |
//!
//! NAME is the familiar name (`ubuntu`, `me/app`, `localhost:5000/x`), REF the familiar
//! reference (`ubuntu:latest`). Deviation from docker 20.10, on purpose: `UNAUTHORIZED` is
//! translated like `DENIED`, because registries answer an anonymous pull of a private or missing
//! repository with either, and the person needs the same advice.
//!
//! The pull-side sentences that do not come from a registry answer ("no matching manifest for
//! OS/ARCH in the manifest list entries", "filesystem layer verification failed for digest D",
//! "layers from manifest don't match image configuration") are variants of
//! [`PullErrorMessage`] too, so pull produces them through this module.

use crate::reference::Reference;
use crate::registry::{ErrorCode, RegistryError};

/// A pull failure as docker words it.
#[derive(Debug, thiserror::Error)]
pub enum PullErrorMessage {
    /// `DENIED` / `UNAUTHORIZED` (docker's `notFoundError` for `ErrorCodeDenied`).
    #[error("pull access denied for {name}, repository does not exist or may require 'docker login': {message}")]
    AccessDenied {
        /// Familiar repository name.
        name: String,
        /// The registry's message.
        message: String,
        /// The registry error.
        #[source]
        source: RegistryError,
    },
    /// `MANIFEST_UNKNOWN`.
    #[error("manifest for {reference} not found: {cause}")]
    ManifestNotFound {
        /// Familiar reference.
        reference: String,
        /// `code: message` of the registry error.
        cause: String,
        /// The registry error.
        #[source]
        source: RegistryError,
    },
    /// `NAME_UNKNOWN`.
    #[error("repository {name} not found: {cause}")]
    RepositoryNotFound {
        /// Familiar repository name.
        name: String,
        /// `code: message` of the registry error.
        cause: String,
        /// The registry error.
        #[source]
        source: RegistryError,
    },
    /// No manifest of an index matches the platform asked for.
    #[error("no matching manifest for {platform} in the manifest list entries")]
    NoMatchingManifest {
        /// `OS/ARCH[/VARIANT]`.
        platform: String,
    },
    /// A layer's bytes did not hash to its digest.
    #[error("filesystem layer verification failed for digest {digest}")]
    LayerVerificationFailed {
        /// The layer digest.
        digest: String,
    },
    /// The layers' diffIDs differ from the config's `rootfs.diff_ids`.
    #[error("layers from manifest don't match image configuration")]
    LayersDontMatchConfig,
    /// Any other registry error, unchanged.
    #[error(transparent)]
    Registry(RegistryError),
}

impl PullErrorMessage {
    /// Whether retrying the pull can help (false for every translated not-found/denied).
    pub fn is_retryable(&self) -> bool {
        match self {
            PullErrorMessage::Registry(e) => e.is_retryable(),
            PullErrorMessage::LayerVerificationFailed { .. } => true,
            _ => false,
        }
    }
}

/// docker's `TranslatePullError(err, ref)`, for the reference being pulled.
pub fn translate_pull_error(err: RegistryError, reference: &Reference) -> PullErrorMessage {
    translate_pull_error_named(
        err,
        &reference.repository().familiar(),
        &reference.familiar(),
    )
}

/// [`translate_pull_error`] with the names already in familiar form: `name` as
/// `Repository::familiar()` gives it, `reference` as `Reference::familiar()` does.
pub fn translate_pull_error_named(
    err: RegistryError,
    name: &str,
    reference: &str,
) -> PullErrorMessage {
    let Some(entry) = err.entry().cloned() else {
        return PullErrorMessage::Registry(err);
    };
    match entry.code {
        ErrorCode::Denied | ErrorCode::Unauthorized => PullErrorMessage::AccessDenied {
            name: name.to_string(),
            message: if entry.message.is_empty() {
                entry.to_string()
            } else {
                entry.message.clone()
            },
            source: err,
        },
        ErrorCode::ManifestUnknown => PullErrorMessage::ManifestNotFound {
            reference: reference.to_string(),
            cause: entry.to_string(),
            source: err,
        },
        ErrorCode::NameUnknown => PullErrorMessage::RepositoryNotFound {
            name: name.to_string(),
            cause: entry.to_string(),
            source: err,
        },
        _ => PullErrorMessage::Registry(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::errcode::decode_errors;
    use crate::registry::error::ErrorEntries;

    fn api(status: u16, body: &str) -> RegistryError {
        RegistryError::Api {
            host: "registry-1.docker.io".into(),
            method: "GET".into(),
            url: "https://registry-1.docker.io/v2/x/manifests/latest".into(),
            status,
            errors: ErrorEntries(decode_errors(status, body.as_bytes())),
            retry_after: None,
        }
    }

    #[test]
    fn denied_becomes_pull_access_denied() {
        let e = api(
            403,
            r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#,
        );
        assert_eq!(
            translate_pull_error_named(e, "me/private", "me/private:latest").to_string(),
            "pull access denied for me/private, repository does not exist or may require 'docker login': requested access to the resource is denied"
        );
    }

    #[test]
    fn unauthorized_becomes_pull_access_denied() {
        let e = api(
            401,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        );
        let t = translate_pull_error_named(e, "x", "x:latest");
        assert!(matches!(t, PullErrorMessage::AccessDenied { .. }));
        assert!(t
            .to_string()
            .starts_with("pull access denied for x, repository does not exist"));
    }

    #[test]
    fn manifest_unknown_names_the_reference() {
        let e = api(
            404,
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
        );
        assert_eq!(
            translate_pull_error_named(e, "ubuntu", "ubuntu:nope").to_string(),
            "manifest for ubuntu:nope not found: manifest unknown: manifest unknown"
        );
    }

    #[test]
    fn name_unknown_names_the_repository() {
        let e = api(
            404,
            r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#,
        );
        assert_eq!(
            translate_pull_error_named(e, "localhost:5000/x", "localhost:5000/x:latest").to_string(),
            "repository localhost:5000/x not found: name unknown: repository name not known to registry"
        );
    }

    #[test]
    fn uses_the_familiar_forms_of_a_reference() {
        let e = api(
            404,
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
        );
        let r = Reference::parse("docker.io/library/ubuntu:nope").unwrap();
        assert_eq!(
            translate_pull_error(e, &r).to_string(),
            "manifest for ubuntu:nope not found: manifest unknown: manifest unknown"
        );
        let e = api(403, r#"{"errors":[{"code":"DENIED","message":"denied"}]}"#);
        let msg = translate_pull_error(e, &r).to_string();
        assert!(msg.starts_with("pull access denied for ubuntu, "), "{msg}");
    }

    #[test]
    fn other_errors_pass_through() {
        let e = api(500, "");
        let t = translate_pull_error_named(e, "x", "x:latest");
        assert!(matches!(t, PullErrorMessage::Registry(_)));
        assert!(t.is_retryable());
    }

    #[test]
    fn pull_sentences_match_docker() {
        assert_eq!(
            PullErrorMessage::NoMatchingManifest {
                platform: "linux/s390x".into()
            }
            .to_string(),
            "no matching manifest for linux/s390x in the manifest list entries"
        );
        assert_eq!(
            PullErrorMessage::LayersDontMatchConfig.to_string(),
            "layers from manifest don't match image configuration"
        );
    }
}

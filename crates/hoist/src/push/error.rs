//! [`PushError`]: why a push failed, worded as docker words it where docker has a sentence
//! (`distribution/push.go`, `push_v2.go`).

use crate::copy::CopyError;
use crate::digest::Digest;
use crate::reference::ReferenceError;
use crate::registry::RegistryError;
use crate::store::{MetadataError, StoreError};
use crate::transfer::{Interrupted, Retryable, SendError};

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The reference names a digest (docker: "cannot push a digest reference").
    #[error("cannot push a digest reference: {reference}")]
    DigestReference {
        /// The reference, familiar form.
        reference: String,
    },
    /// `--all-tags` with a tag (docker's CLI sentence).
    #[error("tag can't be used with --all-tags/-a: {reference}")]
    TagWithAllTags {
        /// The reference, familiar form.
        reference: String,
    },
    /// Nothing local to push under that name or tag (docker's sentence).
    #[error("An image does not exist locally with the tag: {reference}")]
    NotFound {
        /// The reference (or name), familiar form.
        reference: String,
    },
    /// The repository name is not allowed (`scratch`).
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The registry refused the credentials or the access (docker prints the registry's
    /// `denied: requested access to the resource is denied`).
    #[error("push access denied for {repository}: {detail}")]
    Denied {
        /// The repository, familiar form.
        repository: String,
        /// The registry's error code and message.
        detail: String,
        /// The registry's answer.
        #[source]
        source: Box<RegistryError>,
    },
    /// A registry request failed.
    #[error("{action}")]
    Registry {
        /// What was being done (`upload layer sha256:…`, `put manifest for TAG`).
        action: String,
        /// The registry's answer.
        #[source]
        source: Box<RegistryError>,
    },
    /// The local store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The metadata database could not be read or written.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// The stored image is inconsistent (manifest unreadable, record and manifest disagree).
    #[error("image {manifest} cannot be pushed: {reason}")]
    BadImage {
        /// The image manifest's digest.
        manifest: Digest,
        /// What is wrong.
        reason: String,
    },
    /// The transfer through the copy engine failed (a refusal of access is
    /// [`PushError::Denied`] instead).
    #[error(transparent)]
    Copy(Box<CopyError>),
    /// A blocking task (metadata access) ended abnormally: `the push was interrupted: …`.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

impl PushError {
    /// Wraps a registry error: refusals of access become [`PushError::Denied`].
    pub(crate) fn registry(
        action: impl Into<String>,
        repository: &str,
        source: RegistryError,
    ) -> PushError {
        if source.is_auth() || source.status() == Some(401) || source.status() == Some(403) {
            let detail = source
                .entry()
                .map(|e| e.to_string())
                .unwrap_or_else(|| source.to_string());
            return PushError::Denied {
                repository: repository.to_string(),
                detail,
                source: Box::new(source),
            };
        }
        PushError::Registry {
            action: action.into(),
            source: Box::new(source),
        }
    }

    /// Wraps a copy engine error, keeping access refusals as [`PushError::Denied`].
    pub(crate) fn from_copy(source: CopyError, repository: &str) -> PushError {
        match source {
            CopyError::Registry { source, .. } if is_refusal(&source) => {
                PushError::registry(String::new(), repository, *source)
            }
            CopyError::Send {
                location,
                digest,
                source,
            } => match *source {
                SendError::Registry(e) if is_refusal(&e) => {
                    PushError::registry(String::new(), repository, e)
                }
                source => PushError::Copy(Box::new(CopyError::Send {
                    location,
                    digest,
                    source: Box::new(source),
                })),
            },
            source => PushError::Copy(Box::new(source)),
        }
    }
}

impl Retryable for PushError {
    fn is_retryable(&self) -> bool {
        match self {
            PushError::Registry { source, .. } => source.is_retryable(),
            PushError::Metadata(e) => e.is_busy(),
            PushError::Copy(e) => e.is_retryable(),
            _ => false,
        }
    }

    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            PushError::Registry { source, .. } => source.retry_after(),
            PushError::Copy(e) => e.retry_after(),
            _ => None,
        }
    }
}

/// An answer that refuses the credentials or the access.
fn is_refusal(e: &RegistryError) -> bool {
    e.is_auth() || matches!(e.status(), Some(401 | 403))
}

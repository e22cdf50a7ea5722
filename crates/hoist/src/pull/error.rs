//! [`PullError`]: why a pull failed, typed, with the reference, digest or registry answer it
//! is about. Registry answers are worded by [`crate::error::translate_pull_error`] (docker's
//! `TranslatePullError`); the other sentences docker has ("no matching manifest for …",
//! "filesystem layer verification failed for digest …", "layers from manifest don't match
//! image configuration") come from the types that own them ([`NoMatchingManifest`],
//! [`TransferError`], [`RecordError`]).

use crate::copy::RecordError;
use crate::error::PullErrorMessage;
use crate::media::{ManifestError, NoMatchingManifest, Schema1Error};
use crate::reference::ReferenceError;
use crate::store::LocalStoreError;
use crate::transfer::{Interrupted, TransferError};

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The repository name cannot be pulled (docker's `ValidateRepoName`: `scratch`).
    #[error(transparent)]
    Reference(#[from] ReferenceError),

    /// `--all-tags` with a reference that names a tag or digest (docker CLI's refusal).
    #[error("tag can't be used with --all-tags/-a: {reference}")]
    AllTagsWithTag {
        /// The reference given.
        reference: String,
    },

    /// The registry refused or failed, worded as docker's `TranslatePullError` words it
    /// ("pull access denied for …", "manifest for … not found", "repository … not found").
    #[error(transparent)]
    Registry(Box<PullErrorMessage>),

    /// The manifest cannot be pulled (malformed, unsupported, a plugin, schema 1 refused).
    #[error("{source}")]
    Manifest {
        /// The reference (tag or digest) whose manifest it is, canonical.
        reference: String,
        /// What is wrong with it.
        #[source]
        source: Box<ManifestError>,
    },

    /// No entry of the index fits the platform; lists what the index offers.
    #[error(transparent)]
    NoMatchingManifest(Box<NoMatchingManifest>),

    /// Indexes nest deeper than hoist follows (an index naming itself would loop).
    #[error("{reference}: indexes nested more than {limit} deep")]
    IndexTooDeep {
        /// The reference pulled, canonical.
        reference: String,
        /// The depth followed.
        limit: usize,
    },

    /// The image could not be recorded in the store: its layers do not match the config's
    /// diffIDs ("layers from manifest don't match image configuration"; nothing was
    /// recorded), its config cannot be read, or the store failed while recording.
    #[error(transparent)]
    Record(Box<RecordError>),

    /// A blob could not be downloaded or verified ("filesystem layer verification failed for
    /// digest D" when its bytes did not match).
    #[error(transparent)]
    Transfer(#[from] TransferError),

    /// A schema 1 manifest could not be turned into an image.
    #[error(transparent)]
    Schema1(#[from] Schema1Error),

    /// The local store failed (a blob, `hoist.db`, or the layer store making a layer
    /// available).
    #[error(transparent)]
    Local(Box<LocalStoreError>),

    /// The copy of the image into the store failed in a way pull has no word of its own for.
    #[error(transparent)]
    Copy(Box<crate::copy::CopyError>),

    /// The verifier refused the image, or could not judge it (nothing was stored).
    #[error(transparent)]
    Trust(Box<crate::trust::TrustError>),

    /// A task of the pull ended abnormally (a panic, the runtime shutting down): `the pull was
    /// interrupted: …`.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

impl PullError {
    /// A reference could not point at the image because it is not recorded (an `rmi` removed
    /// it since the pull recorded it).
    pub(crate) fn is_image_not_recorded(&self) -> bool {
        matches!(self, PullError::Local(e)
            if matches!(**e, LocalStoreError::Metadata(crate::store::MetadataError::ImageNotRecorded { .. })))
    }

    /// The pull was interrupted because of `reason`.
    pub(crate) fn interrupted(reason: impl Into<String>) -> PullError {
        PullError::Interrupted(Interrupted::new("the pull", reason))
    }
}

impl From<NoMatchingManifest> for PullError {
    fn from(e: NoMatchingManifest) -> PullError {
        PullError::NoMatchingManifest(Box::new(e))
    }
}

impl<E: Into<LocalStoreError>> From<E> for PullError {
    fn from(e: E) -> PullError {
        PullError::Local(Box::new(e.into()))
    }
}

impl From<crate::trust::TrustError> for PullError {
    fn from(e: crate::trust::TrustError) -> PullError {
        PullError::Trust(Box::new(e))
    }
}

impl From<RecordError> for PullError {
    fn from(e: RecordError) -> PullError {
        PullError::Record(Box::new(e))
    }
}

impl PullError {
    /// A registry error worded for the reference being pulled.
    pub(crate) fn registry(message: PullErrorMessage) -> PullError {
        PullError::Registry(Box::new(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::store::MetadataError;

    #[test]
    fn a_reference_to_an_image_removed_meanwhile_is_told_apart_from_other_store_errors() {
        let gone = PullError::from(MetadataError::ImageNotRecorded {
            path: "hoist.db".into(),
            reference: "r/x@sha256:…".to_owned(),
            manifest: Digest::sha256_of(b"m"),
        });
        assert!(gone.is_image_not_recorded(), "{gone}");
        let other = PullError::from(MetadataError::NotADigestReference {
            reference: "r/x:v1".to_owned(),
        });
        assert!(!other.is_image_not_recorded(), "{other}");
        assert!(!PullError::interrupted("x").is_image_not_recorded());
    }
}

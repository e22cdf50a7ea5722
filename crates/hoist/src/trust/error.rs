//! The trust errors: a policy file that cannot be used ([`PolicyError`]), a key that cannot
//! be used ([`KeyError`]), and an image the policy refuses or that cannot be judged or signed
//! ([`TrustError`]). Each prints as one line naming the image, the file, the key or the
//! identity it is about, as `skopeo copy` says why it refused.

use std::path::PathBuf;

use crate::registry::RegistryError;

/// A policy or `registries.d` file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is malformed: `FILE:LINE:COLUMN: PROBLEM`.
    #[error("invalid {path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// What is wrong.
        message: String,
    },
}

/// A key file (public or private) that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read key {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The key is malformed or of a kind hoist does not use.
    #[error("key {path}: {reason}")]
    Invalid {
        /// The file (or `keyData` for inline keys).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The passphrase does not open the private key.
    #[error("key {path}: wrong passphrase (or the file is corrupt)")]
    Passphrase {
        /// The file.
        path: String,
    },
}

/// Why an image was refused, could not be judged, or could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The policy says `reject` for the image.
    #[error("{image} is rejected by policy {policy}")]
    Rejected {
        /// The image as the user named it.
        image: String,
        /// The policy file.
        policy: String,
    },
    /// A signature is required and the image has none.
    #[error("{image}: a signature was required by {policy}, but no signature exists{hint}")]
    NoSignature {
        /// The image as the user named it.
        image: String,
        /// The policy file.
        policy: String,
        /// Why none was looked for, when that is the reason (` (…)`), else empty.
        hint: String,
    },
    /// Signatures exist, and none satisfies the policy.
    #[error("{image}: no signature accepted by {policy}: {reasons}")]
    NotAccepted {
        /// The image as the user named it.
        image: String,
        /// The policy file.
        policy: String,
        /// Each signature's reason, `signature N: …`, joined with `; `.
        reasons: String,
    },
    /// The policy asks for something hoist cannot check yet (GPG `signedBy`, `pki`):
    /// refused, never accepted unchecked.
    #[error("{image}: {what} in {policy} is not supported yet")]
    Unsupported {
        /// The image as the user named it.
        image: String,
        /// The requirement or field.
        what: String,
        /// The policy file.
        policy: String,
    },
    /// A key named by the policy or the signing options cannot be used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The signatures could not be read from, or written to, the registry.
    #[error("{image}: {action}: {source}")]
    Registry {
        /// The image as the user named it.
        image: String,
        /// What was being done (`reading signatures sha256-….sig`).
        action: String,
        /// The registry's answer.
        #[source]
        source: Box<RegistryError>,
    },
    /// The signatures could not be read from, or written to, an OCI layout (an `oci:`
    /// directory, the local store).
    #[error("{image}: {action}: {source}")]
    Layout {
        /// The image as the user named it.
        image: String,
        /// What was being done (`reading signatures sha256-….sig`).
        action: String,
        /// What the layout answered.
        #[source]
        source: Box<crate::copy::CopyError>,
    },
    /// The signature manifest or a signature in it is outside the bounds hoist reads, or
    /// malformed.
    #[error("{image}: signature manifest {tag}: {reason}")]
    Attachments {
        /// The image as the user named it.
        image: String,
        /// The attachment tag (`sha256-….sig`).
        tag: String,
        /// What is wrong.
        reason: String,
    },
    /// Signing was asked for a destination that cannot hold sigstore signatures.
    #[error("cannot sign {destination}: {reason}")]
    CannotSign {
        /// The destination as written.
        destination: String,
        /// Why.
        reason: String,
    },
    /// A verifier plugged in by a library user refused the image, in its own words.
    #[error("{image}: {reason}")]
    Refused {
        /// The image as the user named it.
        image: String,
        /// The verifier's reason.
        reason: String,
    },
}

//! Errors of the `digest` module: a digest string that cannot be parsed, an algorithm hoist
//! does not implement, and content whose digest is not the expected one.
//!
//! These correspond to go-digest's `ErrDigestInvalidFormat`, `ErrDigestInvalidLength`,
//! `ErrDigestUnsupported`, and to the verification failure docker reports as
//! "filesystem layer verification failed for digest D" (translated in the `error` module).
//! Every message quotes the offending input.

use std::fmt;

use super::{Algorithm, Digest};

/// Why a digest could not be parsed, verified or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The string is not of the form `algorithm:hex` with the algorithm's hex length.
    #[error("invalid digest {input:?}: {reason}")]
    Malformed {
        /// The string that was parsed.
        input: String,
        /// What is wrong with it.
        reason: MalformedReason,
    },
    /// The string is a well-formed digest of an algorithm hoist does not implement.
    #[error(
        "unsupported digest algorithm {algorithm:?} in {input:?}: hoist supports sha256 and sha512"
    )]
    UnsupportedAlgorithm {
        /// The string that was parsed.
        input: String,
        /// The algorithm it names.
        algorithm: String,
    },
    /// Content hashed to a different digest than the one it was expected to have.
    #[error("digest mismatch: expected {expected}, content hashes to {actual}")]
    Mismatch {
        /// The digest the content should have had.
        expected: Digest,
        /// The digest the content actually has.
        actual: Digest,
    },
}

/// The specific defect of a malformed digest string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MalformedReason {
    /// No `:` between algorithm and hex.
    MissingSeparator,
    /// Nothing before the `:`.
    EmptyAlgorithm,
    /// Nothing after the `:`.
    EmptyHex,
    /// The algorithm is not of the OCI form `[a-z0-9]+([+._-][a-z0-9]+)*`.
    BadAlgorithmName,
    /// The hex part has the wrong number of characters for the algorithm.
    WrongLength {
        /// The algorithm named.
        algorithm: Algorithm,
        /// The length the algorithm requires.
        expected: usize,
        /// The length found.
        actual: usize,
    },
    /// A character of the hex part is not one of `0-9a-f`.
    NotLowercaseHex {
        /// The first offending character.
        found: char,
    },
}

impl fmt::Display for MalformedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MalformedReason::MissingSeparator => {
                f.write_str("missing ':' between algorithm and hex (expected e.g. \"sha256:<64 hex>\")")
            }
            MalformedReason::EmptyAlgorithm => {
                f.write_str("empty algorithm before ':' (expected \"sha256\" or \"sha512\")")
            }
            MalformedReason::EmptyHex => f.write_str("empty hex after ':'"),
            MalformedReason::BadAlgorithmName => f.write_str(
                "algorithm must be lowercase letters and digits, optionally joined by '+', '.', '_' or '-'",
            ),
            MalformedReason::WrongLength {
                algorithm,
                expected,
                actual,
            } => write!(
                f,
                "{algorithm} needs {expected} hex characters, found {actual}"
            ),
            MalformedReason::NotLowercaseHex { found } => write!(
                f,
                "character {found:?} is not lowercase hex (only 0-9 and a-f are allowed)"
            ),
        }
    }
}

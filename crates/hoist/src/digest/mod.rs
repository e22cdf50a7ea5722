//! Content digests: the `algorithm:hex` identifiers that name every blob and manifest.
//!
//! Owns the [`Digest`] type, its parsing (docker's `digest.Parse` from
//! `github.com/opencontainers/go-digest`), incremental hashing ([`Hasher`]), the verifying
//! reader and writer (in [`verify`]) through which every byte that enters the store passes,
//! and the hashing reader that computes a layer's diffID as its decompressed stream is read
//! (in [`hashing`]: [`HashingReader`], [`diff_id_of`]).
//!
//! # Rules (matching go-digest's `Digest.Validate`)
//! - The form is `algorithm ":" encoded`. A missing `:`, an empty algorithm or an empty encoded
//!   part is malformed (`ErrDigestInvalidFormat`).
//! - An algorithm hoist does not implement is refused as unsupported (`ErrDigestUnsupported`)
//!   when it is otherwise well-formed by the OCI grammar
//!   (`[a-z0-9]+([+._-][a-z0-9]+)*`), and as malformed otherwise.
//! - `sha256` needs exactly 64 and `sha512` exactly 128 *lowercase* hex characters
//!   (`ErrDigestInvalidLength`, `ErrDigestInvalidFormat`). Uppercase hex is refused, as
//!   go-digest does, so that one piece of content has exactly one digest string.
//!
//! sha384 is registered in go-digest but absent from the OCI spec's registered algorithms and
//! unused by registries; hoist treats it as unsupported.
//!
//! # Invariants
//! A [`Digest`] is always valid once built: its algorithm is supported and its hex part has the
//! algorithm's length and is lowercase hex. Equality, ordering and hashing are those of the
//! canonical string, so a `Digest` can key maps and sort deterministically.
//!
//! Hashing uses the `sha2` crate's default build, which detects SHA-NI / ARMv8 SHA extensions
//! at run time (through `cpufeatures`) and falls back to portable code.

mod error;
pub mod hashing;
pub mod verify;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

pub use error::{DigestError, MalformedReason};
pub use hashing::{diff_id_of, HashingReader};
pub use verify::{VerifyingReader, VerifyingWriter};

/// A digest algorithm hoist can compute and verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    /// SHA-256, the algorithm of every docker and OCI image in practice (go-digest's
    /// `Canonical`).
    Sha256,
    /// SHA-512, accepted by the OCI spec and by registries.
    Sha512,
}

impl Algorithm {
    /// The algorithm's name as it appears in a digest string: `"sha256"` or `"sha512"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// The number of hex characters in a digest of this algorithm (64 or 128).
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    /// The algorithm named `name`, if hoist supports it. Names are case-sensitive, as in
    /// go-digest.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

impl FromStr for Algorithm {
    type Err = DigestError;

    /// Parses `sha256` or `sha512`; anything else is [`DigestError::UnsupportedAlgorithm`].
    fn from_str(s: &str) -> Result<Algorithm, DigestError> {
        Algorithm::from_name(s).ok_or_else(|| DigestError::UnsupportedAlgorithm {
            input: s.to_owned(),
            algorithm: s.to_owned(),
        })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated content digest such as `sha256:e3b0c442…`.
///
/// Corresponds to go-digest's `digest.Digest`, except that it cannot hold an invalid value.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    /// The canonical string, `algorithm:hex`.
    full: String,
    algorithm: Algorithm,
}

impl Digest {
    /// Parses and validates a digest string (go-digest's `digest.Parse`).
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let malformed = |reason| DigestError::Malformed {
            input: s.to_owned(),
            reason,
        };
        let (name, hex) = s
            .split_once(':')
            .ok_or_else(|| malformed(MalformedReason::MissingSeparator))?;
        if name.is_empty() {
            return Err(malformed(MalformedReason::EmptyAlgorithm));
        }
        if hex.is_empty() {
            return Err(malformed(MalformedReason::EmptyHex));
        }
        let algorithm = match Algorithm::from_name(name) {
            Some(algorithm) => algorithm,
            None if is_oci_algorithm_name(name) => {
                return Err(DigestError::UnsupportedAlgorithm {
                    input: s.to_owned(),
                    algorithm: name.to_owned(),
                })
            }
            None => return Err(malformed(MalformedReason::BadAlgorithmName)),
        };
        if hex.len() != algorithm.hex_len() {
            return Err(malformed(MalformedReason::WrongLength {
                algorithm,
                expected: algorithm.hex_len(),
                actual: hex.len(),
            }));
        }
        if let Some(c) = hex.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(malformed(MalformedReason::NotLowercaseHex { found: c }));
        }
        Ok(Digest {
            full: s.to_owned(),
            algorithm,
        })
    }

    /// The digest with `algorithm` and hex part `hex`, validated like [`Digest::parse`] (for
    /// example from a blob's file name under an OCI layout's `blobs/sha256/`).
    pub fn from_hex(algorithm: Algorithm, hex: &str) -> Result<Digest, DigestError> {
        Digest::parse(&format!("{algorithm}:{hex}"))
    }

    /// The digest of `data` under `algorithm`.
    pub fn of(algorithm: Algorithm, data: &[u8]) -> Digest {
        let mut hasher = Hasher::new(algorithm);
        hasher.update(data);
        hasher.finish()
    }

    /// The sha256 digest of `data`.
    pub fn sha256_of(data: &[u8]) -> Digest {
        Digest::of(Algorithm::Sha256, data)
    }

    /// The sha512 digest of `data`.
    pub fn sha512_of(data: &[u8]) -> Digest {
        Digest::of(Algorithm::Sha512, data)
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex-encoded hash, without the algorithm (go-digest's `Encoded`).
    pub fn hex(&self) -> &str {
        // The separator sits right after the algorithm name, which is ASCII.
        &self.full[self.algorithm.as_str().len() + 1..]
    }

    /// The full digest string, `algorithm:hex`.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// Builds a digest from raw hash bytes; used by [`Hasher::finish`].
    fn from_hash_bytes(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        Digest {
            full: format!("{algorithm}:{}", hex::encode(bytes)),
            algorithm,
        }
    }
}

/// go-digest's `DigestRegexp` algorithm part: `[a-z0-9]+(?:[.+_-][a-z0-9]+)*`.
fn is_oci_algorithm_name(name: &str) -> bool {
    name.split(['.', '+', '_', '-']).all(|component| {
        !component.is_empty()
            && component
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.full)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Digest, DigestError> {
        Digest::parse(s)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.full
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.full)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(deserializer)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Incremental hashing under one algorithm (go-digest's `Digester`).
#[derive(Clone)]
pub struct Hasher {
    state: HashState,
    bytes_hashed: u64,
}

#[derive(Clone)]
enum HashState {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// A hasher that has seen no bytes yet.
    pub fn new(algorithm: Algorithm) -> Hasher {
        let state = match algorithm {
            Algorithm::Sha256 => HashState::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => HashState::Sha512(sha2::Sha512::new()),
        };
        Hasher {
            state,
            bytes_hashed: 0,
        }
    }

    /// The algorithm this hasher computes.
    pub fn algorithm(&self) -> Algorithm {
        match self.state {
            HashState::Sha256(_) => Algorithm::Sha256,
            HashState::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Feeds `data` to the hash.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            HashState::Sha256(h) => h.update(data),
            HashState::Sha512(h) => h.update(data),
        }
        self.bytes_hashed += data.len() as u64;
    }

    /// How many bytes have been fed so far.
    pub fn bytes_hashed(&self) -> u64 {
        self.bytes_hashed
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        match self.state {
            HashState::Sha256(h) => Digest::from_hash_bytes(Algorithm::Sha256, &h.finalize()),
            HashState::Sha512(h) => Digest::from_hash_bytes(Algorithm::Sha512, &h.finalize()),
        }
    }
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("algorithm", &self.algorithm())
            .field("bytes_hashed", &self.bytes_hashed)
            .finish()
    }
}

#[cfg(test)]
mod tests;

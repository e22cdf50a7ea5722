//! Image references: `[domain/]path[:tag][@digest]`, parsed, validated and normalised.
//!
//! Matches docker's `github.com/docker/distribution/reference` package as docker 20.10 uses it:
//! [`Reference::parse`] is `ParseNormalizedNamed` (no default tag added),
//! [`Reference::with_default_tag`] is `TagNameOnly`, [`Reference::familiar`] is
//! `FamiliarString`, [`Repository::familiar`] is `FamiliarName`, [`Reference::parse_docker_ref`]
//! is `ParseDockerRef`, and [`validate_repo_name`] is distribution's `ValidateRepoName`.
//! The grammar and the order of checks are documented in `parse.rs`; normalisation
//! (`docker.io`, `library/`, familiar names) in `normalize.rs`.
//!
//! # Invariants
//! - A [`Repository`] is always normalised: it has a domain (`docker.io` for Docker Hub, never
//!   `index.docker.io`), Docker Hub single-component paths carry `library/`, the path is
//!   lowercase and grammatical, and `domain/path` is at most 255 characters.
//! - A [`Tag`] always matches `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
//! - A [`Reference`] is a repository plus an optional tag and an optional digest; both may be
//!   present (docker keeps both; the digest is what identifies the content).
//! - `Display` prints the canonical form, and parsing it gives back an equal value.
//!
//! Parsing never panics on any input (fuzzed with proptest in `tests/prop.rs`).

mod error;
mod normalize;
mod parse;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::Digest;

pub use error::ReferenceError;
pub use parse::{NAME_TOTAL_LENGTH_MAX, TAG_LENGTH_MAX};

/// The domain of Docker Hub in normalised names (docker's `defaultDomain`). The registry's API
/// host is `registry-1.docker.io`; mapping to it is the registry client's business.
pub const DEFAULT_DOMAIN: &str = "docker.io";

/// The tag [`Reference::with_default_tag`] adds (docker's `defaultTag`).
pub const DEFAULT_TAG: &str = "latest";

/// The repository name docker reserves for "no base image" (docker's
/// `api.NoBaseImageSpecifier`), refused by [`validate_repo_name`].
pub const RESERVED_NAME: &str = "scratch";

/// A normalised repository name: a domain and a path, such as `docker.io` + `library/ubuntu`.
///
/// `Display` prints the full name, `docker.io/library/ubuntu`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Repository {
    /// `domain/path`.
    full: String,
    /// Byte length of the domain within `full`.
    domain_len: usize,
}

impl Repository {
    /// Parses a repository name alone, normalising it like [`Reference::parse`]. A tag or a
    /// digest is refused ([`ReferenceError::UnexpectedTag`], [`ReferenceError::UnexpectedDigest`]).
    pub fn parse(s: &str) -> Result<Repository, ReferenceError> {
        let parts = parse::parse_normalized(s)?;
        if let Some(tag) = parts.tag {
            return Err(ReferenceError::UnexpectedTag {
                input: s.to_owned(),
                tag: tag.0,
            });
        }
        if parts.digest.is_some() {
            return Err(ReferenceError::UnexpectedDigest {
                input: s.to_owned(),
            });
        }
        Ok(parts.repository)
    }

    /// Builds a repository from parts the parser has already validated.
    fn from_checked(domain: &str, path: &str) -> Repository {
        Repository {
            full: format!("{domain}/{path}"),
            domain_len: domain.len(),
        }
    }

    /// The domain, e.g. `docker.io`, `localhost:5000`, `[::1]:5000`.
    pub fn domain(&self) -> &str {
        &self.full[..self.domain_len]
    }

    /// The path within the registry, e.g. `library/ubuntu` (docker's `Path`, the name used in
    /// `/v2/<name>/…` URLs).
    pub fn path(&self) -> &str {
        &self.full[self.domain_len + 1..]
    }

    /// The full name, `domain/path` (docker's `Name`).
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The short form people type and docker prints (docker's `FamiliarName`): `ubuntu`,
    /// `user/app`, `localhost:5000/x`.
    pub fn familiar(&self) -> String {
        normalize::familiar_name(self.domain(), self.path())
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl fmt::Debug for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Repository({})", self.full)
    }
}

impl FromStr for Repository {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Repository, ReferenceError> {
        Repository::parse(s)
    }
}

/// A validated tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` (docker's `TagRegexp`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

impl Tag {
    /// Parses and validates a tag on its own (without the leading `:`).
    pub fn parse(s: &str) -> Result<Tag, ReferenceError> {
        parse::check_tag(s, s)
    }

    /// The default tag, `latest`.
    pub fn latest() -> Tag {
        Tag(DEFAULT_TAG.to_owned())
    }

    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({})", self.0)
    }
}

impl FromStr for Tag {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Tag, ReferenceError> {
        Tag::parse(s)
    }
}

/// A normalised image reference: a repository, optionally a tag, optionally a digest.
///
/// `Display` prints the canonical form, `docker.io/library/ubuntu:22.04@sha256:…`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    repository: Repository,
    tag: Option<Tag>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses what a person typed, normalising it (docker's `ParseNormalizedNamed`): `ubuntu`
    /// becomes `docker.io/library/ubuntu` with no tag (see [`Reference::with_default_tag`]).
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let parts = parse::parse_normalized(s)?;
        Ok(Reference {
            repository: parts.repository,
            tag: parts.tag,
            digest: parts.digest,
        })
    }

    /// Parses like docker's `ParseDockerRef`, the form docker pulls: a reference with both a
    /// tag and a digest keeps only the digest, and a bare name gets the tag `latest`.
    pub fn parse_docker_ref(s: &str) -> Result<Reference, ReferenceError> {
        let reference = Reference::parse(s)?;
        if reference.digest.is_some() {
            Ok(Reference {
                tag: None,
                ..reference
            })
        } else {
            Ok(reference.with_default_tag())
        }
    }

    /// A reference to `repository` with the given tag and digest.
    pub fn new(repository: Repository, tag: Option<Tag>, digest: Option<Digest>) -> Reference {
        Reference {
            repository,
            tag,
            digest,
        }
    }

    /// The repository.
    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&Tag> {
        self.tag.as_ref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Whether the reference has neither tag nor digest (docker's `IsNameOnly`).
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// Adds the tag `latest` when the reference has neither tag nor digest (docker's
    /// `TagNameOnly`); otherwise returns it unchanged.
    pub fn with_default_tag(self) -> Reference {
        if self.is_name_only() {
            Reference {
                tag: Some(Tag::latest()),
                ..self
            }
        } else {
            self
        }
    }

    /// The same reference with tag `tag` (replacing any tag, keeping any digest), like
    /// docker's `WithTag`.
    pub fn with_tag(&self, tag: Tag) -> Reference {
        Reference {
            repository: self.repository.clone(),
            tag: Some(tag),
            digest: self.digest.clone(),
        }
    }

    /// The same reference with digest `digest` (replacing any digest, keeping any tag), like
    /// docker's `WithDigest`.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            repository: self.repository.clone(),
            tag: self.tag.clone(),
            digest: Some(digest),
        }
    }

    /// The short form docker prints (docker's `FamiliarString`): `ubuntu:latest`,
    /// `localhost:5000/app@sha256:…`.
    pub fn familiar(&self) -> String {
        let mut out = self.repository.familiar();
        self.push_tag_and_digest(&mut out);
        out
    }

    fn push_tag_and_digest(&self, out: &mut String) {
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag.as_str());
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest.as_str());
        }
    }
}

impl From<Repository> for Reference {
    fn from(repository: Repository) -> Reference {
        Reference::new(repository, None, None)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = self.repository.full.clone();
        self.push_tag_and_digest(&mut out);
        f.write_str(&out)
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(s)
    }
}

/// Refuses the reserved repository name `scratch` (`docker.io/library/scratch`), as docker's
/// `distribution.ValidateRepoName` does before a pull or push.
pub fn validate_repo_name(repo: &Repository) -> Result<(), ReferenceError> {
    let familiar = repo.familiar();
    if familiar == RESERVED_NAME {
        return Err(ReferenceError::ReservedName { name: familiar });
    }
    Ok(())
}

/// Serialises the canonical string and parses it back, for types whose `Display` is their
/// canonical form.
macro_rules! serde_as_string {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$ty, D::Error> {
                let s = String::deserialize(deserializer)?;
                <$ty>::from_str(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_as_string!(Repository);
serde_as_string!(Tag);
serde_as_string!(Reference);

#[cfg(test)]
mod tests;

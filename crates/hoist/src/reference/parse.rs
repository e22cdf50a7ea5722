//! The reference grammar, written by hand so that each failure can say which part is wrong.
//!
//! Matches docker's `ParseNormalizedNamed` (normalize.go) followed by `Parse` (reference.go)
//! with the grammar of regexp.go:
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain "/"] path
//! domain           := host [":" port]
//! host             := domain-name | "[" ipv6 "]"
//! domain-name      := component ("." component)*
//! component        := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//! port             := [0-9]+
//! ipv6             := [a-fA-F0-9:]+
//! path             := path-component ("/" path-component)*
//! path-component   := [a-z0-9]+ (separator [a-z0-9]+)*
//! separator        := "." | "_" | "__" | "-"+
//! tag              := [\w][\w.-]{0,127}
//! digest           := see crate::digest (sha256 / sha512, lowercase hex)
//! ```
//!
//! Order of checks, as docker's: a 64-hex input is refused first (it is an image ID), then the
//! domain is split off, then uppercase in the path is reported (docker's
//! `ErrNameContainsUppercase`), then the grammar, then the length of the full name
//! (`domain/path` ≤ 255, as docker 20.10's `NameTotalLengthMax` check on the whole name).
//!
//! Deliberate differences from docker, all refusals of inputs docker accepted oddly:
//! - a first component that docker takes as a domain (it contains `.`/`:` or uppercase) but
//!   that is not a valid domain (`a_b.c/x`) is refused; docker's regexp would re-read it as a
//!   domain-less path and return a name with an empty domain, which is not normalised.
//! - the digest is validated by [`Digest::parse`], so its errors name the algorithm and
//!   length instead of "invalid reference format".

use super::normalize::{needs_official_prefix, split_docker_domain, OFFICIAL_REPO_PREFIX};
use super::{ReferenceError, Repository, Tag};
use crate::digest::Digest;

/// Maximum length of a full repository name, `domain/path` (docker's `NameTotalLengthMax`).
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Maximum length of a tag.
pub const TAG_LENGTH_MAX: usize = 128;

/// The parts of a parsed reference, each already validated and normalised.
pub(super) struct Parts {
    pub(super) repository: Repository,
    pub(super) tag: Option<Tag>,
    pub(super) digest: Option<Digest>,
}

/// Parses `input` as docker's `ParseNormalizedNamed` does.
pub(super) fn parse_normalized(input: &str) -> Result<Parts, ReferenceError> {
    if input.is_empty() {
        return Err(ReferenceError::Empty);
    }
    if is_image_id(input) {
        return Err(ReferenceError::HexRepositoryName {
            input: input.to_owned(),
        });
    }
    let err_input = || input.to_owned();

    let (domain, rest) = split_docker_domain(input);
    if rest.is_empty() {
        return Err(ReferenceError::MissingPath {
            input: err_input(),
            domain: domain.to_owned(),
        });
    }
    // Neither a path nor a tag can contain '@', and a path cannot contain ':', so the first
    // '@' starts the digest and the first ':' before it starts the tag.
    let (name, digest) = match rest.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (rest, None),
    };
    let (path, tag) = match name.split_once(':') {
        Some((path, tag)) => (path, Some(tag)),
        None => (name, None),
    };

    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ReferenceError::Uppercase {
            input: err_input(),
            name: path.to_owned(),
        });
    }
    check_domain(input, domain)?;
    check_path(input, path)?;

    let repository = if needs_official_prefix(domain, path) {
        Repository::from_checked(domain, &format!("{OFFICIAL_REPO_PREFIX}{path}"))
    } else {
        Repository::from_checked(domain, path)
    };
    let full_length = repository.as_str().len();
    if full_length > NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::NameTooLong {
            input: err_input(),
            name: repository.as_str().to_owned(),
            length: full_length,
        });
    }

    let tag = tag.map(|tag| check_tag(input, tag)).transpose()?;
    let digest = digest
        .map(|digest| parse_digest(input, digest))
        .transpose()?;
    Ok(Parts {
        repository,
        tag,
        digest,
    })
}

/// Whether `s` is exactly 64 lowercase hex characters (docker's `anchoredIdentifierRegexp`).
fn is_image_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks a domain: a host name or bracketed IPv6 address, with an optional decimal port.
fn check_domain(input: &str, domain: &str) -> Result<(), ReferenceError> {
    let (host, port) = split_port(input, domain)?;
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ReferenceError::InvalidPort {
                input: input.to_owned(),
                domain: domain.to_owned(),
                port: port.to_owned(),
            });
        }
    }
    if let Some(bracketed) = host.strip_prefix('[') {
        // `split_port` only returns a bracketed host that ends with its first ']'.
        let inner = bracketed.strip_suffix(']').unwrap_or(bracketed);
        if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err(ReferenceError::InvalidIpv6 {
                input: input.to_owned(),
                domain: domain.to_owned(),
            });
        }
        return Ok(());
    }
    for component in host.split('.') {
        check_domain_component(input, domain, component)?;
    }
    Ok(())
}

/// Splits `domain` into host and port. A bracketed IPv6 host keeps its brackets; anything but
/// `:PORT` after the closing bracket is refused.
fn split_port<'a>(
    input: &str,
    domain: &'a str,
) -> Result<(&'a str, Option<&'a str>), ReferenceError> {
    if domain.starts_with('[') {
        let Some(close) = domain.find(']') else {
            return Err(ReferenceError::InvalidIpv6 {
                input: input.to_owned(),
                domain: domain.to_owned(),
            });
        };
        let (host, after) = domain.split_at(close + 1);
        return match after.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None if after.is_empty() => Ok((host, None)),
            None => Err(ReferenceError::InvalidIpv6 {
                input: input.to_owned(),
                domain: domain.to_owned(),
            }),
        };
    }
    Ok(match domain.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    })
}

fn check_domain_component(
    input: &str,
    domain: &str,
    component: &str,
) -> Result<(), ReferenceError> {
    if component.is_empty() {
        return Err(ReferenceError::EmptyDomainComponent {
            input: input.to_owned(),
            domain: domain.to_owned(),
        });
    }
    if let Some(found) = component
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(ReferenceError::InvalidDomainCharacter {
            input: input.to_owned(),
            domain: domain.to_owned(),
            found,
        });
    }
    if component.starts_with('-') || component.ends_with('-') {
        return Err(ReferenceError::DomainComponentHyphen {
            input: input.to_owned(),
            domain: domain.to_owned(),
            component: component.to_owned(),
        });
    }
    Ok(())
}

/// Checks every `/`-separated component of a (lowercase) repository path.
fn check_path(input: &str, path: &str) -> Result<(), ReferenceError> {
    for component in path.split('/') {
        check_path_component(input, component)?;
    }
    Ok(())
}

fn check_path_component(input: &str, component: &str) -> Result<(), ReferenceError> {
    let is_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if component.is_empty() {
        return Err(ReferenceError::EmptyPathComponent {
            input: input.to_owned(),
        });
    }
    if let Some(found) = component
        .chars()
        .find(|c| !(is_alnum(*c) || matches!(c, '.' | '_' | '-')))
    {
        return Err(ReferenceError::InvalidPathCharacter {
            input: input.to_owned(),
            component: component.to_owned(),
            found,
        });
    }
    if !component.starts_with(is_alnum) || !component.ends_with(is_alnum) {
        return Err(ReferenceError::PathComponentEdge {
            input: input.to_owned(),
            component: component.to_owned(),
        });
    }
    // Only ASCII remains, and the component starts and ends with an alphanumeric, so every
    // non-empty piece between alphanumerics is a separator joining two alphanumeric runs.
    for separator in component.split(is_alnum).filter(|s| !s.is_empty()) {
        let allowed = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !allowed {
            return Err(ReferenceError::InvalidPathSeparator {
                input: input.to_owned(),
                component: component.to_owned(),
                separator: separator.to_owned(),
            });
        }
    }
    Ok(())
}

/// Checks a tag `[\w][\w.-]{0,127}`, where `\w` is ASCII `[A-Za-z0-9_]` as in Go's RE2.
pub(super) fn check_tag(input: &str, tag: &str) -> Result<Tag, ReferenceError> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let Some(first) = tag.chars().next() else {
        return Err(ReferenceError::EmptyTag {
            input: input.to_owned(),
        });
    };
    if let Some(found) = tag
        .chars()
        .find(|c| !(is_word(*c) || matches!(c, '.' | '-')))
    {
        return Err(ReferenceError::InvalidTagCharacter {
            input: input.to_owned(),
            tag: tag.to_owned(),
            found,
        });
    }
    if !is_word(first) {
        return Err(ReferenceError::InvalidTagStart {
            input: input.to_owned(),
            tag: tag.to_owned(),
            found: first,
        });
    }
    if tag.len() > TAG_LENGTH_MAX {
        return Err(ReferenceError::TagTooLong {
            input: input.to_owned(),
            tag: tag.to_owned(),
            length: tag.len(),
        });
    }
    Ok(Tag(tag.to_owned()))
}

fn parse_digest(input: &str, digest: &str) -> Result<Digest, ReferenceError> {
    if digest.is_empty() {
        return Err(ReferenceError::EmptyDigest {
            input: input.to_owned(),
        });
    }
    Digest::parse(digest).map_err(|source| ReferenceError::InvalidDigest {
        input: input.to_owned(),
        source,
    })
}

//! Normalisation between the names people type and the names registries use.
//!
//! Matches docker's `normalize.go`: `splitDockerDomain` (which first component is a domain,
//! `index.docker.io` ⇒ `docker.io`, `library/` for single-component Docker Hub names) and
//! `familiarizeName` (the reverse, for display: `docker.io/library/ubuntu` ⇒ `ubuntu`).
//!
//! Invariant: `split_docker_domain` only decides *where* the domain ends; it validates nothing.
//! The grammar checks live in `parse`.

use super::DEFAULT_DOMAIN;

/// Docker Hub's legacy ("Docker Index") domain, canonicalised to [`DEFAULT_DOMAIN`].
pub(super) const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";

/// The namespace of Docker Hub's official images.
pub(super) const OFFICIAL_REPO_PREFIX: &str = "library/";

/// The name reserved as a domain even without a `.` or `:`.
const LOCALHOST: &str = "localhost";

/// Splits `name` (a whole reference, tag and digest included) into its domain and the rest,
/// as docker's `splitDockerDomain` does, but without adding the `library/` prefix (see
/// [`needs_official_prefix`]).
///
/// The first `/`-separated component is the domain when it is `localhost`, contains `.` or
/// `:`, or has an uppercase letter (namespaces cannot, so docker reads it as a host name).
/// Otherwise the whole input is a Docker Hub path. A single component (`ubuntu:22.04`) is
/// always a Docker Hub name, even `localhost:5000`, which docker reads as `library/localhost`
/// tagged `5000`.
pub(super) fn split_docker_domain(name: &str) -> (&str, &str) {
    let Some((first, rest)) = name.split_once('/') else {
        return (DEFAULT_DOMAIN, name);
    };
    if first == LOCALHOST
        || first.contains(['.', ':'])
        || first.bytes().any(|b| b.is_ascii_uppercase())
    {
        if first == LEGACY_DEFAULT_DOMAIN {
            (DEFAULT_DOMAIN, rest)
        } else {
            (first, rest)
        }
    } else {
        (DEFAULT_DOMAIN, name)
    }
}

/// Whether a path on `domain` gets docker's `library/` prefix: single-component names on
/// Docker Hub only (`docker.io/ubuntu` ⇒ `docker.io/library/ubuntu`).
pub(super) fn needs_official_prefix(domain: &str, path: &str) -> bool {
    domain == DEFAULT_DOMAIN && !path.contains('/')
}

/// The familiar form of a repository name (docker's `familiarizeName`): Docker Hub names lose
/// `docker.io/`, and official images also lose `library/` (but not nested ones such as
/// `library/foo/bar`).
pub(super) fn familiar_name(domain: &str, path: &str) -> String {
    if domain != DEFAULT_DOMAIN {
        return format!("{domain}/{path}");
    }
    match path.strip_prefix(OFFICIAL_REPO_PREFIX) {
        Some(official) if !official.contains('/') => official.to_owned(),
        _ => path.to_owned(),
    }
}

//! `signedIdentity`: which identity a signature may claim for the image being admitted
//! (containers-policy.json(5), "signedIdentity"; containers/image's
//! `policy_reference_match.go`).
//!
//! The image's identity is the docker reference it is pulled or copied by (`docker.io/x/app:v1`
//! or `…@sha256:…`); the signature's is the `critical.identity.docker-reference` of its payload,
//! normalised as docker normalises (`busybox` ⇒ `docker.io/library/busybox`). Rules:
//!
//! | rule | accepts a signed identity S for image I when |
//! |---|---|
//! | `matchExact` | I and S both have a tag or digest, and are the same reference |
//! | `matchRepoDigestOrExact` (default) | I has a tag: S is the same reference; I has only a digest: S names the same repository (the digest itself is checked against the payload's) |
//! | `matchRepository` | S names I's repository |
//! | `exactReference` R | S is R (both with a tag or digest); I does not matter |
//! | `exactRepository` R | S names repository R; I does not matter |
//! | `remapIdentity` P ⇒ SP | I with its prefix P replaced by SP (when I starts with P at a `/` boundary), then as `matchRepoDigestOrExact` |
//!
//! A rule that needs I refuses when the image has no docker identity (an `oci:` layout).

use crate::reference::{Reference, Repository};

/// A `signedIdentity` rule. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedIdentity {
    /// `matchExact`.
    MatchExact,
    /// `matchRepoDigestOrExact`, the default for `sigstoreSigned`.
    MatchRepoDigestOrExact,
    /// `matchRepository`.
    MatchRepository,
    /// `exactReference` with its `dockerReference` (which has a tag or digest).
    ExactReference(Reference),
    /// `exactRepository` with its `dockerRepository`.
    ExactRepository(Repository),
    /// `remapIdentity`: `prefix` and `signedPrefix`, each a host, a namespace or a repository
    /// written in full (`docker.io/library`, not `library`).
    RemapIdentity {
        /// What the image's name starts with.
        prefix: String,
        /// What it is replaced by before matching.
        signed_prefix: String,
    },
}

impl SignedIdentity {
    /// The rule's name as the policy file spells it.
    pub fn name(&self) -> &'static str {
        match self {
            SignedIdentity::MatchExact => "matchExact",
            SignedIdentity::MatchRepoDigestOrExact => "matchRepoDigestOrExact",
            SignedIdentity::MatchRepository => "matchRepository",
            SignedIdentity::ExactReference(_) => "exactReference",
            SignedIdentity::ExactRepository(_) => "exactRepository",
            SignedIdentity::RemapIdentity { .. } => "remapIdentity",
        }
    }

    /// Whether a signature claiming `signed` is acceptable for the image known as `image`.
    pub fn accepts(&self, image: Option<&Reference>, signed: &str) -> bool {
        let Ok(signed) = Reference::parse(signed) else {
            return false;
        };
        match self {
            SignedIdentity::MatchExact => image.is_some_and(|image| exact(image, &signed)),
            SignedIdentity::MatchRepoDigestOrExact => {
                image.is_some_and(|image| repo_digest_or_exact(image, &signed))
            }
            SignedIdentity::MatchRepository => {
                image.is_some_and(|image| image.repository() == signed.repository())
            }
            SignedIdentity::ExactReference(wanted) => exact(wanted, &signed),
            SignedIdentity::ExactRepository(wanted) => wanted == signed.repository(),
            SignedIdentity::RemapIdentity {
                prefix,
                signed_prefix,
            } => image.is_some_and(|image| match remap(image, prefix, signed_prefix) {
                Some(Ok(remapped)) => repo_digest_or_exact(&remapped, &signed),
                // The rewritten name is not a valid reference: nothing can match it.
                Some(Err(())) => false,
                None => repo_digest_or_exact(image, &signed),
            }),
        }
    }
}

/// Both name one image by tag or digest, the same way.
fn exact(a: &Reference, b: &Reference) -> bool {
    !a.is_name_only() && !b.is_name_only() && a == b
}

fn repo_digest_or_exact(image: &Reference, signed: &Reference) -> bool {
    if signed.is_name_only() {
        return false;
    }
    if image.tag().is_some() {
        return image == signed;
    }
    // By digest only: the payload's digest is compared with the manifest's elsewhere, so the
    // repository is what is left to compare (a signature made for a tag covers the digest).
    image.digest().is_some() && image.repository() == signed.repository()
}

/// `image` with `prefix` replaced by `signed_prefix` when its name starts with `prefix` at a
/// `/` boundary (or is it); `None` when it does not.
fn remap(image: &Reference, prefix: &str, signed_prefix: &str) -> Option<Result<Reference, ()>> {
    let full = image.to_string();
    let name = image.repository().as_str();
    let rest = name.strip_prefix(prefix)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    // `full` starts with `name`, so this keeps the rest of the name, the tag and the digest.
    let tail = &full[prefix.len()..];
    Some(Reference::parse(&format!("{signed_prefix}{tail}")).map_err(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    const DIGEST: &str = "sha256:0123456789012345678901234567890123456789012345678901234567890123";

    #[test]
    fn match_exact_needs_the_same_tag() {
        let rule = SignedIdentity::MatchExact;
        assert!(rule.accepts(Some(&r("reg:5000/app:v1")), "reg:5000/app:v1"));
        assert!(!rule.accepts(Some(&r("reg:5000/app:v1")), "reg:5000/app:v2"));
        assert!(!rule.accepts(Some(&r("reg:5000/app:v1")), "reg:5000/app"));
        assert!(!rule.accepts(None, "reg:5000/app:v1"));
    }

    #[test]
    fn match_repo_digest_or_exact_compares_repositories_for_digests() {
        let rule = SignedIdentity::MatchRepoDigestOrExact;
        let by_digest = r(&format!("reg:5000/app@{DIGEST}"));
        assert!(rule.accepts(Some(&by_digest), "reg:5000/app:v1"));
        assert!(!rule.accepts(Some(&by_digest), "reg:5000/other:v1"));
        assert!(!rule.accepts(Some(&by_digest), "reg:5000/app"));
        assert!(rule.accepts(Some(&r("reg:5000/app:v1")), "reg:5000/app:v1"));
        assert!(!rule.accepts(Some(&r("reg:5000/app:v1")), "reg:5000/app:v2"));
    }

    #[test]
    fn signed_identities_are_normalised() {
        let rule = SignedIdentity::MatchRepoDigestOrExact;
        assert!(rule.accepts(Some(&r("docker.io/library/busybox:1")), "busybox:1"));
    }

    #[test]
    fn match_repository_ignores_tags() {
        let rule = SignedIdentity::MatchRepository;
        assert!(rule.accepts(Some(&r("reg/app:v1")), "reg/app:v2"));
        assert!(rule.accepts(Some(&r("reg/app:v1")), "reg/app"));
        assert!(!rule.accepts(Some(&r("reg/app:v1")), "reg/app2:v1"));
    }

    #[test]
    fn exact_rules_ignore_the_image() {
        let rule = SignedIdentity::ExactReference(r("reg/signed:v1"));
        assert!(rule.accepts(Some(&r("mirror/copy:v9")), "reg/signed:v1"));
        assert!(!rule.accepts(Some(&r("mirror/copy:v9")), "reg/signed:v2"));
        let rule = SignedIdentity::ExactRepository(Repository::parse("reg/signed").unwrap());
        assert!(rule.accepts(None, "reg/signed:v7"));
        assert!(!rule.accepts(None, "reg/other:v7"));
    }

    #[test]
    fn remap_identity_rewrites_the_prefix_at_a_boundary() {
        let rule = SignedIdentity::RemapIdentity {
            prefix: "mirror:5000/ns".into(),
            signed_prefix: "docker.io/upstream".into(),
        };
        let image = r("mirror:5000/ns/app:v1");
        assert!(rule.accepts(Some(&image), "docker.io/upstream/app:v1"));
        assert!(!rule.accepts(Some(&image), "mirror:5000/ns/app:v1"));
        // `ns2` does not start with the prefix `ns` at a boundary: no remapping.
        let other = r("mirror:5000/ns2/app:v1");
        assert!(rule.accepts(Some(&other), "mirror:5000/ns2/app:v1"));
        assert!(!rule.accepts(Some(&other), "docker.io/upstream2/app:v1"));
    }
}

//! What travels with the images of a sync besides them: referrers (OCI 1.1: signatures,
//! SBOMs, attestations) and cosign's signature tags — and what `--remove-signatures` and
//! `--no-referrers` leave out.
//!
//! - Referrers are carried by the copy engine ([`crate::copy::CopyOptions::referrers`], on
//!   unless `--no-referrers`, as on `hoist copy`): every manifest copied brings its
//!   referrers, recursively, into a registry (its referrers API, or the fallback tag kept by
//!   the client) or the layout of `--dest dir` (untagged `index.json` entries), from where
//!   `--src dir` carries them on.
//! - A repository synced with every tag lists the referrers fallback tags (`sha256-HEX`, on
//!   registries without the referrers API) among its tags. While referrers are carried, those
//!   tags are left out of the plan ([`is_referrers_tag`]): the destination's are kept by
//!   carrying the referrers themselves, and copying the source's index over them would undo
//!   what concurrent images put there.
//! - `--remove-signatures` (skopeo's flag: "do not copy signatures") leaves out the
//!   referrers that are signatures ([`is_signature`]: cosign's, sigstore bundles, Notary
//!   v2) through [`WithoutSignatures`], a source that does not list them, and cosign's
//!   signature tags `sha256-HEX.sig` ([`is_signature_tag`]) from every-tag listings. Other
//!   referrers (SBOMs, attestations) still travel.

use super::plan::SyncImage;
use crate::copy::{BlobStream, CopyFuture, ImageLocation, ImageSource};
use crate::digest::Digest;
use crate::media::Descriptor;
use crate::reference::Repository;
use crate::trust::sigstore::attachments::subject_of_tag;

/// Artifact types of signatures: cosign's referrer signatures, sigstore bundles (cosign 3
/// attaches those by default), Notary v2 (notation).
const SIGNATURE_TYPES: [&str; 3] = [
    "application/vnd.dev.cosign.artifact.sig",
    "application/vnd.dev.sigstore.bundle",
    "application/vnd.cncf.notary.signature",
];

/// Whether a referrer (as a referrers list describes it) is a signature.
pub fn is_signature(referrer: &Descriptor) -> bool {
    referrer
        .artifact_type
        .as_deref()
        .is_some_and(|t| SIGNATURE_TYPES.iter().any(|s| t.starts_with(s)))
}

/// `sha256-` and 64 lowercase hex digits, then `rest`.
fn digest_tag_with(tag: &str, rest: &str) -> bool {
    tag.strip_prefix("sha256-")
        .and_then(|t| t.strip_suffix(rest))
        .is_some_and(|hex| {
            hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

/// cosign's signature tag: `sha256-HEX.sig`.
pub fn is_signature_tag(tag: &str) -> bool {
    subject_of_tag(tag).is_some()
}

/// The referrers fallback tag (distribution-spec "Referrers Tag Schema"): `sha256-HEX`.
pub fn is_referrers_tag(tag: &str) -> bool {
    digest_tag_with(tag, "")
}

/// Whether `image` stays in a plan: not a fallback tag while `referrers` are carried, not a
/// signature tag when `remove_signatures`.
pub fn keeps(image: &SyncImage, referrers: bool, remove_signatures: bool) -> bool {
    let ImageLocation::Registry(reference) = &image.source else {
        return true;
    };
    let Some(tag) = reference.tag() else {
        return true;
    };
    let tag = tag.as_str();
    !((referrers && is_referrers_tag(tag)) || (remove_signatures && is_signature_tag(tag)))
}

/// A source that lists no signatures among its referrers (`--remove-signatures`).
pub struct WithoutSignatures(pub Box<dyn ImageSource>);

impl ImageSource for WithoutSignatures {
    fn location(&self) -> String {
        self.0.location()
    }

    fn resolve(&self) -> CopyFuture<'_, Descriptor> {
        self.0.resolve()
    }

    fn manifest<'a>(&'a self, descriptor: &'a Descriptor) -> CopyFuture<'a, bytes::Bytes> {
        self.0.manifest(descriptor)
    }

    fn prefetch_manifests<'a>(&'a self, manifests: &'a [Descriptor]) -> CopyFuture<'a, ()> {
        self.0.prefetch_manifests(manifests)
    }

    fn open_blob<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        offset: u64,
    ) -> CopyFuture<'a, BlobStream> {
        self.0.open_blob(descriptor, offset)
    }

    fn repository(&self) -> Option<Repository> {
        self.0.repository()
    }

    fn progress_id(&self, descriptor: &Descriptor) -> Digest {
        self.0.progress_id(descriptor)
    }

    fn referrers<'a>(
        &'a self,
        subject: &'a Descriptor,
        artifact_type: Option<&'a str>,
    ) -> CopyFuture<'a, Vec<Descriptor>> {
        Box::pin(async move {
            let mut listed = self.0.referrers(subject, artifact_type).await?;
            listed.retain(|r| !is_signature(r));
            Ok(listed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_tags_are_told_apart() {
        let hex = "ab".repeat(32);
        assert!(is_referrers_tag(&format!("sha256-{hex}")));
        assert!(!is_referrers_tag(&format!("sha256-{hex}.sig")));
        assert!(is_signature_tag(&format!("sha256-{hex}.sig")));
        assert!(!is_signature_tag(&format!("sha256-{hex}.att")));
        assert!(!is_referrers_tag("sha256-abc"));
        assert!(!is_referrers_tag("v1.0"));
        assert!(!is_referrers_tag(&format!("sha256-{}", "AB".repeat(32))));
    }

    #[test]
    fn signatures_are_known_by_artifact_type() {
        let digest = Digest::sha256_of(b"sig");
        let with = |t: &str| Descriptor {
            artifact_type: Some(t.to_owned()),
            ..Descriptor::new(
                "application/vnd.oci.image.manifest.v1+json",
                digest.clone(),
                1,
            )
        };
        assert!(is_signature(&with(
            "application/vnd.dev.sigstore.bundle.v0.3+json"
        )));
        assert!(is_signature(&with(
            "application/vnd.dev.cosign.artifact.sig.v1+json"
        )));
        assert!(is_signature(&with("application/vnd.cncf.notary.signature")));
        assert!(!is_signature(&with("application/spdx+json")));
        assert!(!is_signature(&Descriptor::new("x", digest.clone(), 1)));
    }
}

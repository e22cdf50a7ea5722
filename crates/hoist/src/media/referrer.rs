//! OCI 1.1 referrers: manifests that name another manifest as their `subject` (signatures,
//! SBOMs, attestations), and the image index that lists them.
//!
//! Spec: image-spec 1.1 `manifest.md` (`subject`, `artifactType`) and distribution-spec 1.1
//! "Listing Referrers" / "Referrers Tag Schema". A referrer is listed by a descriptor built
//! from its own manifest ([`Referrer::of`]), the same way by everyone who lists them — a
//! registry's referrers API, a client keeping the fallback tag, an OCI layout read by oras:
//! - `mediaType`, `digest`, `size`: the manifest's own;
//! - `artifactType`: the manifest's `artifactType`; when it has none, an image manifest's
//!   config `mediaType` (an index's is then omitted);
//! - `annotations`: every annotation of the manifest.
//!
//! The list itself is an OCI image index ([`referrers_index`]), read back with
//! [`read_referrers_index`]. Both are capped: a subject with more than [`MAX_REFERRERS`]
//! referrers is refused by the readers (registry, layouts, the walk), so a hostile registry
//! or layout cannot make a copy follow an unbounded list.
//!
//! Artifacts attached by `hoist attach` (oras's `attach`) have the empty config
//! ([`EMPTY_CONFIG`], content [`EMPTY_JSON`]) and one layer per file, named by the
//! [`TITLE_ANNOTATION`].

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::descriptor::{null_as_default, Descriptor};
use super::manifest::ImageIndex;
use super::types::{OCI_INDEX, OCI_MANIFEST};
use crate::digest::Digest;

/// The most referrers one subject may have before the readers refuse the list. A signature,
/// an SBOM and a few attestations per platform are tens; a thousand is already a registry
/// being abused.
pub const MAX_REFERRERS: usize = 1000;

/// The media type of the empty descriptor (image-spec 1.1 "Guidance for an Empty
/// Descriptor"): the config of an artifact that has none.
pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";

/// The content of the empty descriptor's blob: `{}`.
pub const EMPTY_JSON: &[u8] = b"{}";

/// The annotation naming a file an artifact's layer holds (what `oras pull` writes it as).
pub const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

/// A manifest with a `subject`: the subject, and the descriptor that lists the manifest among
/// the subject's referrers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    /// The manifest referred to.
    pub subject: Descriptor,
    /// The referrer as listed (see the module docs).
    pub descriptor: Descriptor,
}

/// The fields of a manifest a referrer's descriptor is made of.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    config: Option<RawConfig>,
    #[serde(default)]
    manifests: Option<IgnoredAny>,
    #[serde(default)]
    subject: Option<Descriptor>,
    #[serde(default, deserialize_with = "null_as_default")]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    media_type: Option<String>,
}

impl Referrer {
    /// The referrer the manifest `bytes` (whose digest and size `manifest` gives) is, or
    /// `None` when it has no `subject` or is not a manifest's JSON.
    pub fn of(manifest: &Descriptor, bytes: &[u8]) -> Option<Referrer> {
        let raw: Raw = serde_json::from_slice(bytes).ok()?;
        let subject = raw.subject?;
        let is_index = raw.manifests.is_some();
        let media_type = match raw.media_type.filter(|t| !t.is_empty()) {
            Some(own) => own,
            None if !manifest.media_type.is_empty() => manifest.media_type.clone(),
            None if is_index => OCI_INDEX.to_owned(),
            None => OCI_MANIFEST.to_owned(),
        };
        let artifact_type = raw.artifact_type.filter(|t| !t.is_empty()).or_else(|| {
            if is_index {
                None
            } else {
                raw.config.and_then(|c| c.media_type)
            }
        });
        let mut descriptor = Descriptor::new(&media_type, manifest.digest.clone(), manifest.size);
        descriptor.artifact_type = artifact_type;
        descriptor.annotations = raw.annotations;
        Some(Referrer {
            subject,
            descriptor,
        })
    }
}

/// Why a list of referrers was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReferrersError {
    /// The list is not an OCI image index.
    #[error("the referrers list is not an OCI image index: {reason}")]
    NotAnIndex {
        /// What it is instead.
        reason: String,
    },
    /// More than [`MAX_REFERRERS`] entries.
    #[error("{subject} has more than {limit} referrers")]
    TooMany {
        /// The subject.
        subject: Digest,
        /// The limit.
        limit: usize,
    },
}

/// The OCI image index listing `referrers` (the referrers API's answer, the fallback tag's
/// content), serialised compactly.
pub fn referrers_index(referrers: &[Descriptor]) -> Vec<u8> {
    let index = ImageIndex {
        schema_version: 2,
        media_type: Some(OCI_INDEX.to_owned()),
        artifact_type: None,
        manifests: referrers.to_vec(),
        subject: None,
        annotations: BTreeMap::new(),
    };
    // Serialising plain structs into a Vec cannot fail; an empty list is the fallback.
    serde_json::to_vec(&index).unwrap_or_default()
}

/// The entries of a referrers list for `subject`, at most [`MAX_REFERRERS`].
pub fn read_referrers_index(
    subject: &Digest,
    bytes: &[u8],
) -> Result<Vec<Descriptor>, ReferrersError> {
    let index: ImageIndex =
        serde_json::from_slice(bytes).map_err(|e| ReferrersError::NotAnIndex {
            reason: e.to_string(),
        })?;
    match index.media_type.as_deref() {
        None | Some(OCI_INDEX) => {}
        Some(other) => {
            return Err(ReferrersError::NotAnIndex {
                reason: format!("its mediaType is {other:?}"),
            })
        }
    }
    check_count(subject, index.manifests.len())?;
    Ok(index.manifests)
}

/// Refuses a list of more than [`MAX_REFERRERS`] referrers of `subject`.
pub fn check_count(subject: &Digest, count: usize) -> Result<(), ReferrersError> {
    if count > MAX_REFERRERS {
        return Err(ReferrersError::TooMany {
            subject: subject.clone(),
            limit: MAX_REFERRERS,
        });
    }
    Ok(())
}

/// Whether `descriptor` passes the `artifactType` filter (none: every one does).
pub fn matches_artifact_type(descriptor: &Descriptor, artifact_type: Option<&str>) -> bool {
    artifact_type.is_none_or(|wanted| descriptor.artifact_type.as_deref() == Some(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(bytes: &[u8]) -> Descriptor {
        Descriptor::new("", Digest::sha256_of(bytes), bytes.len() as u64)
    }

    const SUBJECT: &str = r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":7}"#;

    #[test]
    fn an_artifact_is_listed_by_its_artifact_type_and_annotations() {
        let bytes = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sbom","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}},"layers":[],"subject":{SUBJECT},"annotations":{{"a":"b"}}}}"#
        );
        let r = Referrer::of(&described(bytes.as_bytes()), bytes.as_bytes()).unwrap();
        assert_eq!(r.subject.size, 7);
        assert_eq!(r.descriptor.media_type, OCI_MANIFEST);
        assert_eq!(
            r.descriptor.artifact_type.as_deref(),
            Some("application/vnd.example.sbom")
        );
        assert_eq!(r.descriptor.annotations["a"], "b");
        assert_eq!(r.descriptor.digest, Digest::sha256_of(bytes.as_bytes()));
    }

    #[test]
    fn without_artifact_type_a_manifest_is_listed_by_its_config_type_and_an_index_by_none() {
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}},"layers":[],"subject":{SUBJECT}}}"#
        );
        let r = Referrer::of(&described(manifest.as_bytes()), manifest.as_bytes()).unwrap();
        assert_eq!(
            r.descriptor.artifact_type.as_deref(),
            Some("application/vnd.dev.cosign.simplesigning.v1+json")
        );
        let index = format!(r#"{{"schemaVersion":2,"manifests":[],"subject":{SUBJECT}}}"#);
        let r = Referrer::of(&described(index.as_bytes()), index.as_bytes()).unwrap();
        assert_eq!(r.descriptor.artifact_type, None);
        assert_eq!(r.descriptor.media_type, OCI_INDEX);
    }

    #[test]
    fn a_manifest_without_subject_is_no_referrer() {
        let bytes = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(Referrer::of(&described(bytes), bytes), None);
        assert_eq!(Referrer::of(&described(b"[1]"), b"[1]"), None);
    }

    #[test]
    fn a_list_round_trips_and_is_capped() {
        let subject = Digest::sha256_of(b"s");
        let entry = described(b"x");
        let bytes = referrers_index(std::slice::from_ref(&entry));
        assert_eq!(
            read_referrers_index(&subject, &bytes).unwrap(),
            vec![entry.clone()]
        );

        let many = vec![entry; MAX_REFERRERS + 1];
        let err = read_referrers_index(&subject, &referrers_index(&many)).unwrap_err();
        assert!(matches!(err, ReferrersError::TooMany { .. }), "{err}");
    }

    #[test]
    fn a_list_of_another_type_is_refused() {
        let bytes = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","manifests":[]}"#;
        let err = read_referrers_index(&Digest::sha256_of(b"s"), bytes).unwrap_err();
        assert!(matches!(err, ReferrersError::NotAnIndex { .. }), "{err}");
    }
}

//! Content descriptors: the edges of the image graph (OCI image-spec `descriptor.md`,
//! docker/distribution `distribution.Descriptor`).
//!
//! A [`Descriptor`] names a blob by media type, [`Digest`] and size, optionally with
//! alternative `urls` (non-distributable / foreign layers), `annotations` and, in an index, the
//! `platform` of the manifest it points to. The digest is a validated [`Digest`] from the moment
//! the JSON is read, so a descriptor that parsed is already well-formed in that respect;
//! [`Descriptor::validate`] checks the rest (URL schemes).
//!
//! JSON `null` for `urls` / `annotations` is read as empty, as Go's decoder does for nil
//! slices and maps; unknown fields (`data`, `features`, …) are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::platform::Platform;
use super::types::LayerMediaType;
use crate::digest::Digest;

/// A reference to a blob: what it is, its digest and its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The blob's media type; may be empty for a config (docker's `ImageTypes` allows it) or
    /// an index entry (which is then skipped).
    #[serde(default, deserialize_with = "null_as_default")]
    pub media_type: String,
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// Where else the blob may be fetched from (foreign / non-distributable layers).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub urls: Vec<String>,
    /// Arbitrary metadata.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    /// The platform of the manifest this entry points to (index entries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The artifact type (OCI 1.1), for artifacts referenced from an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// What is wrong with a descriptor beyond its JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptorError {
    /// A `urls` entry is not an absolute `http`/`https` URL.
    #[error("url {url:?} of {digest} is not an http or https URL")]
    BadUrl {
        /// The descriptor's digest.
        digest: Digest,
        /// The offending URL.
        url: String,
    },
}

impl Descriptor {
    /// A descriptor with no urls, annotations or platform.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
        }
    }

    /// Checks what parsing could not: every URL is `http://` or `https://` with a host
    /// (containerd refuses other schemes for foreign layers; a `file:` URL from a registry
    /// would read local files).
    pub fn validate(&self) -> Result<(), DescriptorError> {
        for url in &self.urls {
            let ok = match url::Url::parse(url) {
                Ok(u) => matches!(u.scheme(), "http" | "https") && u.host().is_some(),
                Err(_) => false,
            };
            if !ok {
                return Err(DescriptorError::BadUrl {
                    digest: self.digest.clone(),
                    url: url.clone(),
                });
            }
        }
        Ok(())
    }

    /// The layer classification of this descriptor's media type, if it is a layer type.
    pub fn layer_media_type(&self) -> Option<LayerMediaType> {
        LayerMediaType::classify(&self.media_type)
    }

    /// An index entry for an attestation manifest (BuildKit's provenance and SBOMs, platform
    /// `unknown/unknown`), which carries in-toto layers rather than an image: listed by no
    /// platform choice, recorded as no image.
    pub fn is_attestation(&self) -> bool {
        self.platform
            .as_ref()
            .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
    }
}

/// Reads JSON `null` as the type's default (Go's nil slice / map), any other value as usual.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALPINE_LAYER: &str =
        "sha256:4abcf20661432fb2d719aaf90656f55c287f8ca915dc1c92ec14ff61e67fbaf8";

    fn parse(json: &str) -> Result<Descriptor, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn descriptor_reads_all_oci_fields() {
        let d = parse(&format!(
            r#"{{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                "digest":"{ALPINE_LAYER}","size":3408729,
                "urls":["https://mcr.microsoft.com/v2/windows/blobs/{ALPINE_LAYER}"],
                "annotations":{{"org.opencontainers.image.title":"base"}},
                "platform":{{"os":"windows","architecture":"amd64","os.version":"10.0.17763.1"}}}}"#
        ))
        .unwrap();
        assert_eq!(d.size, 3408729);
        assert_eq!(d.urls.len(), 1);
        assert_eq!(d.annotations["org.opencontainers.image.title"], "base");
        assert_eq!(
            d.platform.as_ref().unwrap().os_version.as_deref(),
            Some("10.0.17763.1")
        );
        assert!(d.layer_media_type().is_some_and(|t| !t.distributable));
    }

    #[test]
    fn null_urls_and_annotations_read_as_empty() {
        let d = parse(&format!(
            r#"{{"mediaType":"x","digest":"{ALPINE_LAYER}","size":1,"urls":null,"annotations":null}}"#
        ))
        .unwrap();
        assert!(d.urls.is_empty() && d.annotations.is_empty());
    }

    #[test]
    fn invalid_digest_is_refused_naming_the_digest() {
        let err = parse(r#"{"mediaType":"x","digest":"sha256:abc","size":1}"#).unwrap_err();
        assert!(err.to_string().contains("sha256:abc"), "{err}");
    }

    #[test]
    fn negative_size_is_refused() {
        let err = parse(&format!(
            r#"{{"mediaType":"x","digest":"{ALPINE_LAYER}","size":-1}}"#
        ))
        .unwrap_err();
        assert!(err.to_string().contains("-1"), "{err}");
    }

    #[test]
    fn missing_digest_is_refused_by_name() {
        let err = parse(r#"{"mediaType":"x","size":1}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `digest`"), "{err}");
    }

    #[test]
    fn file_url_is_refused() {
        let mut d = Descriptor::new("x", Digest::parse(ALPINE_LAYER).unwrap(), 1);
        d.urls.push("file:///etc/shadow".into());
        assert!(matches!(
            d.validate(),
            Err(DescriptorError::BadUrl { url, .. }) if url == "file:///etc/shadow"
        ));
    }

    #[test]
    fn https_url_is_accepted() {
        let mut d = Descriptor::new("x", Digest::parse(ALPINE_LAYER).unwrap(), 1);
        d.urls.push("https://example.com/blob".into());
        assert_eq!(d.validate(), Ok(()));
    }
}

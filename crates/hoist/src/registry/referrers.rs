//! OCI 1.1 referrers on a registry: listing them (`GET /v2/NAME/referrers/DIGEST`) and, where
//! the registry lacks that API, the referrers tag schema both ways.
//!
//! Spec: distribution-spec 1.1, "Listing Referrers", "Referrers Tag Schema", "Pushing
//! Manifests with Subject" and "Unavailable Referrers API" (oras-go's and containerd's clients
//! do the same):
//! - **Listing** ([`RemoteRepository::referrers`]): `GET /v2/NAME/referrers/DIGEST`, with
//!   `?artifactType=T` when filtering; the answer is an OCI image index, paginated with
//!   `Link: <URL>; rel="next"` (followed on the same origin, as tag lists are: `tags`). A
//!   registry that applied the filter says `OCI-Filters-Applied: artifactType`; otherwise
//!   the filter is applied here. A `404` means the registry has no referrers API (one that
//!   has it must not answer 404): the list is then the image index tagged
//!   [`referrers_tag`]`(DIGEST)` (`sha256-HEX`), filtered here; no such tag, or a tag that is
//!   not an image index, means no referrers. The 404 is remembered for the endpoint
//!   ([`super::endpoint::Endpoint::lacks_referrers_api`]): the next lookups read the tag at
//!   once.
//! - **Pushing** a manifest with a `subject` (`manifests::put_manifest` calls
//!   `RemoteRepository::record_referrer`): a registry with the API answers the `PUT` with
//!   `OCI-Subject: DIGEST` and lists the manifest itself. Without that header the client keeps
//!   the fallback tag: read the index tagged `sha256-HEX` (none: start from an empty one;
//!   anything but an image index: refuse, changing nothing), add the manifest's descriptor
//!   unless already listed (`artifactType` and annotations as `media::referrer` builds them),
//!   and `PUT` the index back under the tag. CNCF distribution 2.8 (Debian's
//!   `docker-registry`) has no referrers API, so this is the path real tests take.
//!
//! **Known limitation: concurrent attaches.** The fallback tag's read-modify-write is not
//! atomic across clients: the spec leaves conditional requests (`If-Match` on the tag's
//! digest) optional and distribution 2.8 has none, so two clients adding a referrer to the
//! same subject at the same instant may each `PUT` an index holding only their own entry, and
//! the last one wins. The lost referrer's manifest is still in the registry (by digest), only
//! unlisted; attaching it again lists it (an entry is added once). oras-go (`oras attach`)
//! and every other client of the tag schema have the same race; a re-read after the `PUT`
//! would not close it (the other writer may `PUT` after the check), so none is attempted.
//! Registries with the referrers API list referrers themselves and are not affected.
//!
//! Bounds: a list is at most [`MAX_REFERRERS`] entries (API pages counted together; a
//! fallback index is also a manifest, capped at 4 MiB): more is
//! [`RegistryError::TooManyReferrers`], so neither a registry nor a tag can make a client
//! hold or follow an unbounded list.

use http::HeaderValue;
use url::Url;

use super::endpoint::{Endpoint, Purpose};
use super::error::RegistryError;
use super::tags::fetch_page;
use super::{Access, RemoteRepository};
use crate::digest::Digest;
use crate::media::referrer::{
    check_count, matches_artifact_type, read_referrers_index, referrers_index, ReferrersError,
};
use crate::media::types::OCI_INDEX;
use crate::media::{Descriptor, Referrer, MAX_REFERRERS};

/// The header a registry with the referrers API answers a manifest `PUT` with.
pub const OCI_SUBJECT: &str = "oci-subject";

/// The header saying which filters a referrers answer applied.
pub const OCI_FILTERS_APPLIED: &str = "oci-filters-applied";

/// The referrers tag of `digest` (distribution-spec "Referrers Tag Schema"): the algorithm
/// truncated to 32 characters, `-`, the encoded part truncated to 64; every character a tag
/// may not hold becomes `-`. `sha256:abc…` ⇒ `sha256-abc…`.
pub fn referrers_tag(digest: &Digest) -> String {
    let (algorithm, encoded) = digest
        .as_str()
        .split_once(':')
        .unwrap_or(("", digest.as_str()));
    let clean = |s: &str, n: usize| -> String {
        s.chars()
            .take(n)
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '.' | '-' => c,
                _ => '-',
            })
            .collect()
    };
    format!("{}-{}", clean(algorithm, 32), clean(encoded, 64))
}

/// How a list of referrers was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrersSource {
    /// The registry's referrers API.
    Api,
    /// The fallback tag (the registry has no referrers API).
    Tag,
}

impl RemoteRepository {
    /// The referrers of `subject` (only those of `artifact_type` when given), from the
    /// referrers API or, without one, the fallback tag (see the module docs).
    pub async fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<(Vec<Descriptor>, ReferrersSource), RegistryError> {
        let listed = self
            .client
            .with_endpoints(&self.domain, Purpose::Pull, |ep| {
                self.referrers_api_at(ep, subject, artifact_type)
            })
            .await?;
        if let Some(listed) = listed {
            return Ok((listed, ReferrersSource::Api));
        }
        let mut listed = self.referrers_by_tag(subject).await?.unwrap_or_default();
        listed.retain(|d| matches_artifact_type(d, artifact_type));
        Ok((listed, ReferrersSource::Tag))
    }

    /// The entries of the fallback tag of `subject`: `None` when there is no tag; an empty
    /// list when it is not an image index (the spec: assume no referrers).
    async fn referrers_by_tag(
        &self,
        subject: &Digest,
    ) -> Result<Option<Vec<Descriptor>>, RegistryError> {
        let tag = referrers_tag(subject);
        let fetched = match self.get_manifest(&tag).await {
            Ok(fetched) => fetched,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        match read_referrers_index(subject, &fetched.bytes) {
            Ok(listed) => Ok(Some(listed)),
            Err(ReferrersError::NotAnIndex { reason }) => {
                tracing::debug!(%tag, %reason, "the referrers tag holds no image index");
                Ok(Some(Vec::new()))
            }
            Err(ReferrersError::TooMany { subject, limit }) => {
                Err(RegistryError::TooManyReferrers {
                    subject: subject.to_string(),
                    limit,
                })
            }
        }
    }

    /// `GET /v2/NAME/referrers/DIGEST` page by page; `None` when the registry has no
    /// referrers API (404).
    async fn referrers_api_at(
        &self,
        ep: std::sync::Arc<Endpoint>,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<Descriptor>>, RegistryError> {
        if ep.lacks_referrers_api() {
            return Ok(None);
        }
        let mut url = ep.api_url(&format!("{}/referrers/{subject}", self.path))?;
        if let Some(t) = artifact_type {
            url.query_pairs_mut().append_pair("artifactType", t);
        }
        let scopes = self.scopes(Access::Pull);
        let accept = HeaderValue::from_static(OCI_INDEX);
        let mut listed = Vec::new();
        let mut next: Option<Url> = Some(url);
        let mut first = true;
        while let Some(url) = next.take() {
            let page =
                match fetch_page(&self.client, &ep, &scopes, &url, Some(accept.clone())).await {
                    Ok(page) => page,
                    Err(e) if first && e.status() == Some(404) => {
                        ep.mark_no_referrers_api();
                        return Ok(None);
                    }
                    Err(e) => return Err(e),
                };
            first = false;
            let filtered = page
                .headers
                .get_all(OCI_FILTERS_APPLIED)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|f| f.trim() == "artifactType");
            let mut entries = read_referrers_index(subject, &page.body).map_err(|e| match e {
                ReferrersError::TooMany { subject, limit } => RegistryError::TooManyReferrers {
                    subject: subject.to_string(),
                    limit,
                },
                other => RegistryError::Protocol {
                    url: url.to_string(),
                    reason: other.to_string(),
                },
            })?;
            if !filtered {
                entries.retain(|d| matches_artifact_type(d, artifact_type));
            }
            listed.extend(entries);
            check_count(subject, listed.len()).map_err(|_| RegistryError::TooManyReferrers {
                subject: subject.to_string(),
                limit: MAX_REFERRERS,
            })?;
            next = page.next;
        }
        Ok(Some(listed))
    }

    /// After the manifest `descriptor` (`bytes`) was `PUT` without an `OCI-Subject` answer:
    /// adds it to its subject's fallback tag when it has a subject (see the module docs).
    pub(super) async fn record_referrer(
        &self,
        descriptor: &Descriptor,
        bytes: &[u8],
    ) -> Result<(), RegistryError> {
        let Some(referrer) = Referrer::of(descriptor, bytes) else {
            return Ok(());
        };
        let subject = &referrer.subject.digest;
        let tag = referrers_tag(subject);
        let mut listed = match self.get_manifest(&tag).await {
            Ok(fetched) => read_referrers_index(subject, &fetched.bytes).map_err(|e| {
                RegistryError::Protocol {
                    url: format!("{}:{tag}", self.path),
                    reason: format!("cannot add {} to the referrers tag: {e}", descriptor.digest),
                }
            })?,
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(e),
        };
        if listed.iter().any(|d| d.digest == descriptor.digest) {
            return Ok(());
        }
        listed.push(referrer.descriptor);
        check_count(subject, listed.len()).map_err(|_| RegistryError::TooManyReferrers {
            subject: subject.to_string(),
            limit: MAX_REFERRERS,
        })?;
        tracing::debug!(%tag, referrer = %descriptor.digest, "updating the referrers tag");
        self.put_manifest_bytes(&tag, OCI_INDEX, referrers_index(&listed).into())
            .await
            .map(drop)
    }
}

/// Whether a manifest `PUT` answer says the registry lists referrers itself (`OCI-Subject`).
pub(super) fn lists_referrers(response: &reqwest::Response) -> bool {
    response.headers().contains_key(OCI_SUBJECT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_of_a_sha256_digest() {
        let d = Digest::sha256_of(b"x");
        assert_eq!(referrers_tag(&d), format!("sha256-{}", d.hex()));
    }

    proptest::proptest! {
        #[test]
        fn the_tag_is_always_a_valid_tag(bytes in proptest::collection::vec(0u8.., 0..64)) {
            let tag = referrers_tag(&Digest::sha256_of(&bytes));
            proptest::prop_assert!(tag.len() <= 128);
            proptest::prop_assert!(tag.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)));
        }
    }
}

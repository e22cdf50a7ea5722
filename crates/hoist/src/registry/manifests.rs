//! Manifest operations: HEAD, GET, PUT, DELETE on `/v2/NAME/manifests/REFERENCE`.
//!
//! Corresponds to docker/distribution's `registry/client/repository.go` `manifests` service
//! (`Exists`, `Get`, `Put`, `Delete`) and containerd's resolver (HEAD, GET fallback is the
//! caller's choice). Every read sends one `Accept` listing all manifest media types hoist
//! understands, so registries do not down-convert to schema1.
//!
//! Invariants: a manifest fetched by digest — or by tag, with the `Docker-Content-Digest` the
//! registry answered — is returned only if it has that digest
//! ([`RegistryError::DigestMismatch`] otherwise): its bytes hash to it or, for a signed schema 1
//! manifest, its signed payload does. docker/distribution's `schema1.SignedManifest` digest is
//! `digest.FromBytes(sm.Canonical)`, the payload without the `signatures` block, and that is
//! what a registry reports as `Docker-Content-Digest` and serves the manifest under; registry
//! 2.x even re-signs the manifest on every GET, so the served bytes never hash to it. Bodies are capped at [`Document::Manifest`]'s
//! 4 MiB ([`RegistryError::BodyTooLarge`], see `body`), as containerd caps them, so a hostile registry cannot
//! exhaust memory. A 404 without a body is reported as `MANIFEST_UNKNOWN`.
//!
//! A manifest `PUT` with a `subject` (OCI 1.1) that the registry does not acknowledge with
//! `OCI-Subject` is then added to the subject's referrers tag (`referrers`), as the
//! distribution spec requires of clients; every write path (push, copy, attach) gets it.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderValue, Method, StatusCode};

use super::body::{read_document, Document};
use super::endpoint::{Endpoint, Purpose};
use super::errcode::ErrorCode;
use super::error::RegistryError;
use super::referrers::lists_referrers;
use super::transport::{read_error, OutBody, Outgoing};
use super::Access;
use super::RemoteRepository;
use crate::digest::{Algorithm, Digest};
use crate::media::types::MANIFEST_ACCEPT;
use crate::media::{Descriptor, Schema1Manifest};

/// What a HEAD tells about a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestInfo {
    /// `Docker-Content-Digest`, when the registry sent a valid one.
    pub digest: Option<Digest>,
    /// `Content-Type`, parameters removed.
    pub media_type: String,
    /// `Content-Length`.
    pub size: Option<u64>,
}

/// A fetched manifest, unparsed: [`crate::media::Manifest::parse`] reads it, falling back to
/// the body's own `mediaType`/`schemaVersion` when the registry sends a generic type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    /// The exact bytes (digests are over these).
    pub bytes: Bytes,
    /// The `Content-Type` the registry declared, parameters removed (empty when none).
    pub media_type: String,
    /// The digest: the one asked for, or for a tag the registry's `Docker-Content-Digest`
    /// (verified either way), else sha256 of the bytes.
    pub digest: Digest,
}

/// One `Accept` listing every manifest media type hoist understands.
fn accept_header() -> HeaderValue {
    // Media types are ASCII constants, so this cannot fail; an empty Accept would be the fallback.
    HeaderValue::from_str(&MANIFEST_ACCEPT.join(", ")).unwrap_or(HeaderValue::from_static("*/*"))
}

impl RemoteRepository {
    /// HEAD the manifest `reference` (a tag or a digest string), mirrors first.
    pub async fn head_manifest(&self, reference: &str) -> Result<ManifestInfo, RegistryError> {
        self.client
            .with_endpoints(&self.domain, Purpose::Pull, |ep| {
                self.head_manifest_at(ep, reference)
            })
            .await
    }

    /// GET the manifest `reference` (a tag or a digest string), mirrors first. By digest, the
    /// bytes are verified against it; by tag, against the `Docker-Content-Digest` the
    /// registry sends with them, if any.
    pub async fn get_manifest(&self, reference: &str) -> Result<FetchedManifest, RegistryError> {
        self.client
            .with_endpoints(&self.domain, Purpose::Pull, |ep| {
                self.get_manifest_at(ep, reference)
            })
            .await
    }

    /// PUT a manifest under `reference` (tag or digest) with its media type; returns the
    /// digest of `bytes` (checked against `Docker-Content-Digest` when the registry sends one).
    /// A manifest with a `subject` that the registry does not list itself (no `OCI-Subject`
    /// in the answer) is then added to the subject's referrers tag (`referrers`).
    pub async fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Digest, RegistryError> {
        let (digest, listed) = self
            .put_manifest_bytes(reference, media_type, bytes.clone())
            .await?;
        if !listed {
            let descriptor = Descriptor::new(media_type, digest.clone(), bytes.len() as u64);
            self.record_referrer(&descriptor, &bytes).await?;
        }
        Ok(digest)
    }

    /// The `PUT` itself; also returns whether the registry answered `OCI-Subject` (it lists
    /// the manifest among its subject's referrers itself).
    pub(super) async fn put_manifest_bytes(
        &self,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<(Digest, bool), RegistryError> {
        let digest = Digest::sha256_of(&bytes);
        let content_type =
            HeaderValue::from_str(media_type).map_err(|e| RegistryError::Protocol {
                url: reference.to_string(),
                reason: format!("media type {media_type:?}: {e}"),
            })?;
        self.client
            .with_endpoints(&self.domain, Purpose::Push, |ep| {
                let (bytes, content_type, digest) =
                    (bytes.clone(), content_type.clone(), digest.clone());
                async move {
                    let url = ep.api_url(&format!("{}/manifests/{reference}", self.path))?;
                    let mut out = Outgoing::new(Method::PUT, url.clone())
                        .header(CONTENT_TYPE, content_type)
                        .with_deadline(self.client.config().document_timeout);
                    out.body = OutBody::Bytes(bytes);
                    let response = self
                        .client
                        .send(&ep, &self.scopes(Access::Push), out)
                        .await?;
                    if response.status() != StatusCode::CREATED && !response.status().is_success() {
                        return Err(read_error(&Method::PUT, &url, response).await);
                    }
                    if let Some(sent) = content_digest(&response) {
                        if sent.algorithm() == Algorithm::Sha256 && sent != digest {
                            return Err(RegistryError::DigestMismatch {
                                url: url.to_string(),
                                expected: digest.to_string(),
                                actual: sent.to_string(),
                            });
                        }
                    }
                    Ok((digest, lists_referrers(&response)))
                }
            })
            .await
    }

    /// DELETE the manifest `digest` (registries refuse deleting by tag).
    pub async fn delete_manifest(&self, digest: &Digest) -> Result<(), RegistryError> {
        self.client
            .with_endpoints(&self.domain, Purpose::Push, |ep| async move {
                let url = ep.api_url(&format!("{}/manifests/{digest}", self.path))?;
                let response = self
                    .client
                    .send(
                        &ep,
                        &self.scopes(Access::Delete),
                        Outgoing::new(Method::DELETE, url.clone()),
                    )
                    .await?;
                if !response.status().is_success() {
                    return Err(manifest_error(
                        read_error(&Method::DELETE, &url, response).await,
                    ));
                }
                Ok(())
            })
            .await
    }

    /// Sends a HEAD or GET for `reference` with the manifest `Accept`; an error answer becomes
    /// the registry's error (a bare 404 as `MANIFEST_UNKNOWN`).
    async fn read_manifest(
        &self,
        ep: &Endpoint,
        method: Method,
        reference: &str,
    ) -> Result<(url::Url, reqwest::Response), RegistryError> {
        let url = ep.api_url(&format!("{}/manifests/{reference}", self.path))?;
        let out = Outgoing::new(method.clone(), url.clone())
            .header(ACCEPT, accept_header())
            .with_deadline(self.client.config().document_timeout);
        let response = self
            .client
            .send(ep, &self.scopes(Access::Pull), out)
            .await?;
        if !response.status().is_success() {
            return Err(manifest_error(read_error(&method, &url, response).await));
        }
        Ok((url, response))
    }

    pub(super) async fn head_manifest_at(
        &self,
        ep: Arc<Endpoint>,
        reference: &str,
    ) -> Result<ManifestInfo, RegistryError> {
        let (_, response) = self.read_manifest(&ep, Method::HEAD, reference).await?;
        Ok(ManifestInfo {
            digest: content_digest(&response),
            media_type: content_type(&response).unwrap_or_default(),
            size: response
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
        })
    }

    async fn get_manifest_at(
        &self,
        ep: Arc<Endpoint>,
        reference: &str,
    ) -> Result<FetchedManifest, RegistryError> {
        let (url, response) = self.read_manifest(&ep, Method::GET, reference).await?;
        let header_type = content_type(&response);
        let stated = content_digest(&response);
        let body = read_document(&Method::GET, &url, response, Document::Manifest).await?;
        let digest = match (Digest::parse(reference), stated) {
            (Ok(expected), _) => verified(&url, &body, expected)?,
            // By tag, the registry's `Docker-Content-Digest` is what a HEAD would have said
            // and the bytes must have it: a body changed on the way is refused, not taken for
            // a new image.
            (Err(_), Some(stated)) => verified(&url, &body, stated)?,
            (Err(_), None) => Digest::sha256_of(&body),
        };
        Ok(FetchedManifest {
            bytes: Bytes::from(body),
            media_type: header_type.unwrap_or_default(),
            digest,
        })
    }
}

/// `expected` if `body` has that digest: its bytes hash to it or, for a signed schema 1
/// manifest, its signed payload does (see the module docs).
fn verified(url: &url::Url, body: &[u8], expected: Digest) -> Result<Digest, RegistryError> {
    let actual = Digest::of(expected.algorithm(), body);
    if actual != expected
        && signed_schema1_digest(expected.algorithm(), body) != Some(expected.clone())
    {
        return Err(RegistryError::DigestMismatch {
            url: url.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(expected)
}

/// The digest of a signed schema 1 manifest under `algorithm`: of its signed payload (see the
/// module docs). `None` for any other body. Only tried when the bytes' own digest differs.
fn signed_schema1_digest(algorithm: Algorithm, body: &[u8]) -> Option<Digest> {
    match Schema1Manifest::parse(body) {
        Ok(schema1) if schema1.is_signed() => Some(Digest::of(algorithm, schema1.canonical())),
        _ => None,
    }
}

/// A bare 404 on a manifest URL means the manifest is unknown.
fn manifest_error(mut e: RegistryError) -> RegistryError {
    if let RegistryError::Api { errors, .. } = &mut e {
        for entry in &mut errors.0 {
            if entry.code == ErrorCode::NotFound {
                entry.code = ErrorCode::ManifestUnknown;
            }
        }
    }
    e
}

/// `Docker-Content-Digest`, if valid.
pub(crate) fn content_digest(response: &reqwest::Response) -> Option<Digest> {
    let value = response
        .headers()
        .get("docker-content-digest")?
        .to_str()
        .ok()?;
    Digest::parse(value.trim()).ok()
}

fn content_type(response: &reqwest::Response) -> Option<String> {
    let value = response.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next().unwrap_or("").trim();
    (!media.is_empty()).then(|| media.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signed schema 1 manifest whose payload is `payload`: `signatures` inserted before
    /// the closing brace as libtrust's `PrettySignature` does (the signature itself is not
    /// checked by the digest).
    fn signed_schema1(payload: &str) -> Vec<u8> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let len = payload.trim_end().len() - 1;
        let len = payload[..len].trim_end().len();
        let protected = b64.encode(format!(
            r#"{{"formatLength":{len},"formatTail":"{}","time":"2020-01-01T00:00:00Z"}}"#,
            b64.encode(&payload[len..])
        ));
        format!(
            "{},\n   \"signatures\": [{{\"header\": {{\"alg\": \"ES256\"}}, \"signature\": \"AA\", \"protected\": \"{protected}\"}}]\n}}",
            &payload[..len]
        )
        .into_bytes()
    }

    const PAYLOAD: &str = "{\n   \"schemaVersion\": 1,\n   \"name\": \"a/b\",\n   \"tag\": \"v1\",\n   \"architecture\": \"amd64\",\n   \"fsLayers\": [\n      {\n         \"blobSum\": \"sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4\"\n      }\n   ],\n   \"history\": [\n      {\n         \"v1Compatibility\": \"{}\"\n      }\n   ]\n}";

    #[test]
    fn signed_schema1_digest_is_over_its_payload() {
        let body = signed_schema1(PAYLOAD);
        assert_ne!(
            Digest::sha256_of(&body),
            Digest::sha256_of(PAYLOAD.as_bytes())
        );
        assert_eq!(
            signed_schema1_digest(Algorithm::Sha256, &body),
            Some(Digest::sha256_of(PAYLOAD.as_bytes()))
        );
    }

    #[test]
    fn unsigned_schema1_and_other_manifests_have_no_payload_digest() {
        let other = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        for body in [PAYLOAD.as_bytes(), other.as_slice()] {
            assert_eq!(signed_schema1_digest(Algorithm::Sha256, body), None);
        }
    }

    #[test]
    fn accept_lists_every_media_type() {
        let accept = accept_header();
        let accept = accept.to_str().unwrap();
        for t in MANIFEST_ACCEPT {
            assert!(accept.contains(t), "{t} missing from Accept");
        }
    }
}

//! Blob uploads: the session of `POST /v2/NAME/blobs/uploads/`, `PATCH` chunks, `PUT
//! ?digest=`, monolithic uploads, and cross-repository mounts.
//!
//! Corresponds to docker/distribution's `blobs.Create` / `httpBlobUpload` (with
//! `WithMountFrom`), containerd's `pusher.go`, and the OCI distribution spec's "Pushing blobs"
//! section. Rules kept:
//! - every answer's `Location` replaces the session URL (it may change after each PATCH; it may
//!   be relative, and may carry query parameters that must be kept);
//! - chunked PATCHes carry `Content-Range: START-END` and `Content-Length`; the answer's
//!   `Range: 0-N` sets the next offset; `OCI-Chunk-Min-Length` from the POST is exposed so the
//!   caller sizes chunks (all but the last) at least that large;
//! - the closing `PUT` appends `digest=` to the session URL's query and may carry the last bytes;
//! - a mount (`POST ?mount=DIGEST&from=REPO`) answers 201 when the registry mounted the blob, or
//!   202 with an ordinary upload session when it would not (docker falls back to uploading).
//!
//! All requests of a session use one scope set (`pull,push` on the repository, plus `pull` on
//! the mount source), so they share one cached token.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Method, StatusCode};
use url::Url;

use super::endpoint::{Endpoint, Purpose};
use super::error::RegistryError;
use super::transport::{read_error, OutBody, Outgoing};
use super::{Access, RemoteRepository, ScopeSet};
use crate::digest::Digest;

/// An open upload session. A clone is another handle on the same session (no request is
/// made): a caller keeps one to resume after [`BlobUpload::finish`] fails.
#[derive(Clone)]
pub struct BlobUpload {
    repo: RemoteRepository,
    endpoint: Arc<Endpoint>,
    scopes: ScopeSet,
    location: Url,
    offset: u64,
    min_chunk: Option<u64>,
}

/// The answer to a mount request.
pub enum MountResult {
    /// The registry mounted the blob: nothing to upload.
    Mounted,
    /// The registry opened an upload session instead.
    Upload(BlobUpload),
}

impl std::fmt::Debug for BlobUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobUpload")
            .field("location", &self.location.as_str())
            .field("offset", &self.offset)
            .field("min_chunk", &self.min_chunk)
            .finish()
    }
}

impl RemoteRepository {
    /// Opens an upload session (`POST /v2/NAME/blobs/uploads/`).
    pub async fn start_upload(&self) -> Result<BlobUpload, RegistryError> {
        let scopes = self.scopes(Access::Push);
        let ep = self.push_endpoint().await?;
        let url = ep.api_url(&format!("{}/blobs/uploads/", self.path))?;
        let response = self.client.send(&ep, &scopes, post(url.clone())).await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(read_error(&Method::POST, &url, response).await);
        }
        BlobUpload::from_answer(self.clone(), ep, scopes, &url, &response)
    }

    /// Asks the registry to mount `digest` from the repository `from` (a path on the same
    /// registry) into this one.
    pub async fn mount_blob(
        &self,
        digest: &Digest,
        from: &str,
    ) -> Result<MountResult, RegistryError> {
        let mut scopes = self.scopes(Access::Push);
        scopes.add_repository(from, Access::Pull);
        let ep = self.push_endpoint().await?;
        let mut url = ep.api_url(&format!("{}/blobs/uploads/", self.path))?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", from);
        let response = self.client.send(&ep, &scopes, post(url.clone())).await?;
        match response.status() {
            StatusCode::CREATED => Ok(MountResult::Mounted),
            StatusCode::ACCEPTED => Ok(MountResult::Upload(BlobUpload::from_answer(
                self.clone(),
                ep,
                scopes,
                &url,
                &response,
            )?)),
            _ => Err(read_error(&Method::POST, &url, response).await),
        }
    }

    /// Uploads `bytes` as the blob `digest` in one PUT (POST, then `PUT ?digest=` with the
    /// whole body, the spec's "monolithic upload").
    pub async fn upload_blob(&self, digest: &Digest, bytes: Bytes) -> Result<(), RegistryError> {
        let session = self.start_upload().await?;
        session.finish(digest, Some(bytes)).await
    }

    async fn push_endpoint(&self) -> Result<Arc<Endpoint>, RegistryError> {
        self.client
            .with_endpoints(&self.domain, Purpose::Push, |ep| async move { Ok(ep) })
            .await
    }
}

impl BlobUpload {
    fn from_answer(
        repo: RemoteRepository,
        endpoint: Arc<Endpoint>,
        scopes: ScopeSet,
        url: &Url,
        response: &reqwest::Response,
    ) -> Result<BlobUpload, RegistryError> {
        let location = next_location(url, response)?;
        let min_chunk = response
            .headers()
            .get("oci-chunk-min-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        Ok(BlobUpload {
            repo,
            endpoint,
            scopes,
            location,
            offset: 0,
            min_chunk,
        })
    }

    /// Bytes the registry has acknowledged so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// `OCI-Chunk-Min-Length`: the smallest chunk (except the last) the registry accepts.
    pub fn min_chunk_size(&self) -> Option<u64> {
        self.min_chunk
    }

    /// The current session URL.
    pub fn location(&self) -> &Url {
        &self.location
    }

    /// Asks the registry how much of the session it holds (`GET` on the session URL, the
    /// spec's "upload progress"): `204` with `Range: 0-N` gives the offset N+1, which becomes
    /// [`BlobUpload::offset`]; the answer's `Location` becomes the session URL. A session the
    /// registry voided (distribution 2.8 after a connection reset mid-`PATCH`) answers an error
    /// such as `BLOB_UPLOAD_UNKNOWN` / `BLOB_UPLOAD_INVALID`: the caller starts a new one.
    ///
    /// distribution answers `Range: 0-0` both for an empty session and for one holding one
    /// byte; this reads it as empty (a resumed write then starts at 0, and a registry holding
    /// one byte refuses it, which costs a new session, never corrupt data).
    pub async fn refresh_offset(&mut self) -> Result<u64, RegistryError> {
        let url = self.location.clone();
        let response = self.send(Outgoing::new(Method::GET, url.clone())).await?;
        if !response.status().is_success() {
            return Err(read_error(&Method::GET, &url, response).await);
        }
        self.offset = response
            .headers()
            .get(http::header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_range_end)
            .map_or(0, |end| if end == 0 { 0 } else { end + 1 });
        if response.headers().contains_key(LOCATION) {
            self.location = next_location(&url, &response)?;
        }
        Ok(self.offset)
    }

    /// Sends one chunk (`PATCH` with `Content-Range: START-END`).
    pub async fn write_chunk(&mut self, chunk: Bytes) -> Result<(), RegistryError> {
        if chunk.is_empty() {
            return Ok(());
        }
        let start = self.offset;
        let end = start + chunk.len() as u64 - 1;
        let mut out = Outgoing::new(Method::PATCH, self.location.clone())
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            )
            .header(
                http::header::CONTENT_RANGE,
                header_value(&format!("{start}-{end}"))?,
            )
            .header(CONTENT_LENGTH, header_value(&chunk.len().to_string())?);
        out.body = OutBody::Bytes(chunk);
        self.patch(out, end + 1).await
    }

    /// Streams `body` of `length` bytes in one `PATCH` (the spec's "streamed upload"). Not
    /// re-sent on a 401: the token is fetched before the body leaves.
    pub async fn write_stream(
        &mut self,
        body: reqwest::Body,
        length: Option<u64>,
    ) -> Result<(), RegistryError> {
        let mut out = Outgoing::new(Method::PATCH, self.location.clone()).header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        if let Some(len) = length {
            out = out.header(CONTENT_LENGTH, header_value(&len.to_string())?);
        }
        out.body = OutBody::Stream(body);
        let expected = length.map(|l| self.offset + l).unwrap_or(0);
        self.patch(out, expected).await
    }

    async fn patch(&mut self, out: Outgoing, expected_offset: u64) -> Result<(), RegistryError> {
        let url = out.url.clone();
        let response = self.send(out).await?;
        if response.status() != StatusCode::ACCEPTED && !response.status().is_success() {
            return Err(read_error(&Method::PATCH, &url, response).await);
        }
        self.offset = acknowledged_offset(&response).unwrap_or(expected_offset);
        self.location = next_location(&url, &response)?;
        Ok(())
    }

    /// Closes the session with `PUT ?digest=DIGEST`, carrying `last` bytes if given. The
    /// registry verifies the digest; 201 means the blob exists.
    pub async fn finish(self, digest: &Digest, last: Option<Bytes>) -> Result<(), RegistryError> {
        let mut url = self.location.clone();
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let bytes = last.unwrap_or_default();
        let mut out = Outgoing::new(Method::PUT, url.clone())
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            )
            .header(CONTENT_LENGTH, header_value(&bytes.len().to_string())?);
        out.body = OutBody::Bytes(bytes);
        let response = self.send(out).await?;
        if response.status() != StatusCode::CREATED && !response.status().is_success() {
            return Err(read_error(&Method::PUT, &url, response).await);
        }
        Ok(())
    }

    /// One request of the session, with its endpoint and scopes.
    async fn send(&self, out: Outgoing) -> Result<reqwest::Response, RegistryError> {
        self.repo
            .client
            .send(&self.endpoint, &self.scopes, out)
            .await
    }

    /// Abandons the session (`DELETE` on its URL); the registry discards what it received.
    pub async fn cancel(self) -> Result<(), RegistryError> {
        let url = self.location.clone();
        let response = self
            .send(Outgoing::new(Method::DELETE, url.clone()))
            .await?;
        if !response.status().is_success() && response.status() != StatusCode::NOT_FOUND {
            return Err(read_error(&Method::DELETE, &url, response).await);
        }
        Ok(())
    }
}

fn post(url: Url) -> Outgoing {
    Outgoing::new(Method::POST, url).header(CONTENT_LENGTH, HeaderValue::from_static("0"))
}

fn header_value(s: &str) -> Result<HeaderValue, RegistryError> {
    HeaderValue::from_str(s).map_err(|e| RegistryError::Protocol {
        url: String::new(),
        reason: e.to_string(),
    })
}

/// The session URL from an answer's `Location`, resolved against the request URL.
fn next_location(request_url: &Url, response: &reqwest::Response) -> Result<Url, RegistryError> {
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| RegistryError::Protocol {
            url: request_url.to_string(),
            reason: "upload answer has no Location header".into(),
        })?;
    request_url.join(location).map_err(|e| RegistryError::Url {
        url: location.to_string(),
        reason: e.to_string(),
    })
}

/// `Range: 0-N` ⇒ N+1 bytes received.
fn acknowledged_offset(response: &reqwest::Response) -> Option<u64> {
    parse_range_end(response.headers().get(http::header::RANGE)?.to_str().ok()?).map(|n| n + 1)
}

fn parse_range_end(value: &str) -> Option<u64> {
    let value = value.trim().trim_start_matches("bytes=");
    let (_, end) = value.split_once('-')?;
    end.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upload_range() {
        assert_eq!(parse_range_end("0-1023"), Some(1023));
        assert_eq!(parse_range_end("bytes=0-9"), Some(9));
        assert_eq!(parse_range_end("garbage"), None);
    }
}

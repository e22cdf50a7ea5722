//! Blob reads: HEAD and streaming GET on `/v2/NAME/blobs/DIGEST`, with `Range` resumption
//! (`bytes=N-`) and part reads (`bytes=START-END`, [`RemoteRepository::get_blob_part`], for
//! the parallel fetch of a big blob: the caller checks [`BlobStream::content_range`], since a
//! registry or mirror may ignore the range and answer 200 with the whole blob).
//!
//! Corresponds to docker/distribution's `blobs.Stat` / `blobs.Open` (docker's
//! `httpReadSeeker` resumes with `Range: bytes=N-`) and containerd's `fetcher.go`.
//!
//! The GET body is streamed as `Bytes` chunks and never buffered whole; the caller hashes and
//! stores it (the content store verifies the digest: this module cannot, since a ranged read
//! sees only part of the blob). Redirects to object storage are followed by `transport`
//! without the registry's `Authorization`. A bare 404 is reported as `BLOB_UNKNOWN`.
//!
//! Time: a stalled body ends at the transport's read timeout (the no-progress timeout; the
//! download manager resumes with `Range`). An answer no larger than a config
//! ([`Document::SmallBlob`]) must also arrive whole within the document deadline
//! (`RegistryConfig::document_timeout`), as manifests and tokens must.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::{HeaderValue, Method, StatusCode};

use super::body::Document;
use super::endpoint::{Endpoint, Purpose};
use super::errcode::ErrorCode;
use super::error::RegistryError;
use super::transport::{read_error, Outgoing};
use super::{Access, RemoteRepository};
use crate::digest::Digest;

/// A blob body being received.
pub struct BlobStream {
    partial: bool,
    content_length: Option<u64>,
    total_length: Option<u64>,
    content_range: Option<std::ops::Range<u64>>,
    inner: BodyStream,
}

impl BlobStream {
    /// Whether the answer was `206 Partial Content`: the bytes start at the offset asked for.
    /// `false` after a non-zero offset means the registry ignored the range and the bytes
    /// start at 0.
    pub fn is_partial(&self) -> bool {
        self.partial
    }

    /// `Content-Length` of this answer (the remaining bytes for a 206).
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// The whole blob's length when the answer says it: the `/TOTAL` of a 206's
    /// `Content-Range` (else offset + `Content-Length`), the `Content-Length` of a 200.
    pub fn total_length(&self) -> Option<u64> {
        self.total_length
    }

    /// The bytes a 206 says it carries (`Content-Range: bytes START-END/…`, as `START..END+1`);
    /// `None` for a 200 or a 206 without a readable `Content-Range`.
    pub fn content_range(&self) -> Option<std::ops::Range<u64>> {
        self.content_range.clone()
    }
}

impl Stream for BlobStream {
    type Item = Result<Bytes, RegistryError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStream")
            .field("partial", &self.partial)
            .field("content_length", &self.content_length)
            .finish()
    }
}

impl RemoteRepository {
    /// The blob's size if the repository has it, `None` if it does not (404). `purpose`
    /// decides whether mirrors are asked (`Pull`) or only the registry (`Push`, to skip
    /// uploading what is already there).
    pub async fn stat_blob(
        &self,
        digest: &Digest,
        purpose: Purpose,
    ) -> Result<Option<u64>, RegistryError> {
        let access = if purpose == Purpose::Push {
            Access::Push
        } else {
            Access::Pull
        };
        let scopes = self.scopes(access);
        let result = self
            .client
            .with_endpoints(&self.domain, purpose, |ep| {
                let scopes = scopes.clone();
                async move {
                    let url = ep.api_url(&format!("{}/blobs/{digest}", self.path))?;
                    let response = self
                        .client
                        .send(&ep, &scopes, Outgoing::new(Method::HEAD, url.clone()))
                        .await?;
                    if !response.status().is_success() {
                        return Err(blob_error(read_error(&Method::HEAD, &url, response).await));
                    }
                    Ok(header_u64(&response, "content-length"))
                }
            })
            .await;
        match result {
            Ok(size) => Ok(Some(size.unwrap_or(0))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// GET the blob from `offset` (0 = whole blob; otherwise `Range: bytes=OFFSET-`), mirrors
    /// first. See [`BlobStream::is_partial`] for whether the range was honoured.
    pub async fn get_blob(
        &self,
        digest: &Digest,
        offset: u64,
    ) -> Result<BlobStream, RegistryError> {
        self.client
            .with_endpoints(&self.domain, Purpose::Pull, |ep| {
                self.get_blob_at(ep, digest, offset, None)
            })
            .await
    }

    /// GET the bytes `part` (end exclusive, not empty) of the blob, mirrors first:
    /// `Range: bytes=START-END`. The answer may still be a 200 with the whole blob, or a 206
    /// of other bytes: check [`BlobStream::content_range`].
    pub async fn get_blob_part(
        &self,
        digest: &Digest,
        part: std::ops::Range<u64>,
    ) -> Result<BlobStream, RegistryError> {
        let last = part.end.saturating_sub(1).max(part.start);
        self.client
            .with_endpoints(&self.domain, Purpose::Pull, |ep| {
                self.get_blob_at(ep, digest, part.start, Some(last))
            })
            .await
    }

    async fn get_blob_at(
        &self,
        ep: Arc<Endpoint>,
        digest: &Digest,
        offset: u64,
        last: Option<u64>,
    ) -> Result<BlobStream, RegistryError> {
        let url = ep.api_url(&format!("{}/blobs/{digest}", self.path))?;
        let mut out = Outgoing::new(Method::GET, url.clone());
        if offset > 0 || last.is_some() {
            let end = last.map(|last| last.to_string()).unwrap_or_default();
            let range = HeaderValue::from_str(&format!("bytes={offset}-{end}")).map_err(|e| {
                RegistryError::Protocol {
                    url: url.to_string(),
                    reason: e.to_string(),
                }
            })?;
            out = out.header(http::header::RANGE, range);
        }
        let response = self
            .client
            .send(&ep, &self.scopes(Access::Pull), out)
            .await?;
        let status = response.status();
        if status == StatusCode::RANGE_NOT_SATISFIABLE || !status.is_success() {
            return Err(blob_error(read_error(&Method::GET, &url, response).await));
        }
        let partial = status == StatusCode::PARTIAL_CONTENT;
        let content_length = response.content_length();
        let total_length = if partial {
            content_range_total(&response).or(content_length.map(|len| offset + len))
        } else {
            content_length
        };
        let content_range = partial.then(|| content_range_span(&response)).flatten();
        let final_url = response.url().to_string();
        let body = response.bytes_stream().map(move |r| {
            r.map_err(|e| RegistryError::Http {
                method: "GET".into(),
                url: final_url.clone(),
                source: e,
            })
        });
        let small = content_length.is_some_and(|n| n <= Document::SmallBlob.limit() as u64);
        let inner: BodyStream = if small {
            let deadline = tokio::time::Instant::now() + self.client.config().document_timeout;
            Box::pin(with_deadline(Box::pin(body), deadline, url.to_string()))
        } else {
            Box::pin(body)
        };
        Ok(BlobStream {
            partial,
            content_length,
            total_length,
            content_range,
            inner,
        })
    }
}

type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, RegistryError>> + Send>>;

/// `body`, ended with [`RegistryError::DeadlineExceeded`] if it is still arriving at
/// `deadline` (a small blob's answer, see [`Document::SmallBlob`]).
fn with_deadline(
    body: BodyStream,
    deadline: tokio::time::Instant,
    url: String,
) -> impl Stream<Item = Result<Bytes, RegistryError>> + Send {
    futures_util::stream::unfold(Some(body), move |state| {
        let url = url.clone();
        async move {
            let mut body = state?;
            match tokio::time::timeout_at(deadline, body.next()).await {
                Ok(Some(item)) => Some((item, Some(body))),
                Ok(None) => None,
                Err(_) => Some((
                    Err(RegistryError::DeadlineExceeded {
                        url,
                        document: Document::SmallBlob,
                    }),
                    None,
                )),
            }
        }
    })
}

fn header_u64(response: &reqwest::Response, name: &str) -> Option<u64> {
    response.headers().get(name)?.to_str().ok()?.parse().ok()
}

/// The `TOTAL` of `Content-Range: bytes START-END/TOTAL` (`None` for `*` or a malformed one).
fn content_range_total(response: &reqwest::Response) -> Option<u64> {
    let value = response
        .headers()
        .get(http::header::CONTENT_RANGE)?
        .to_str()
        .ok()?;
    value.rsplit_once('/')?.1.trim().parse().ok()
}

/// `START..END+1` of `Content-Range: bytes START-END/TOTAL` (`None` when malformed).
fn content_range_span(response: &reqwest::Response) -> Option<std::ops::Range<u64>> {
    let value = response
        .headers()
        .get(http::header::CONTENT_RANGE)?
        .to_str()
        .ok()?;
    let span = value.trim().strip_prefix("bytes ")?.split_once('/')?.0;
    let (start, end) = span.split_once('-')?;
    let (start, end): (u64, u64) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    (start <= end).then(|| start..end.saturating_add(1))
}

/// A bare 404 on a blob URL means the blob is unknown.
fn blob_error(mut e: RegistryError) -> RegistryError {
    if let RegistryError::Api { errors, .. } = &mut e {
        for entry in &mut errors.0 {
            if entry.code == ErrorCode::NotFound {
                entry.code = ErrorCode::BlobUnknown;
            }
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_content_range(value: &str) -> reqwest::Response {
        let response = http::Response::builder()
            .status(206)
            .header(http::header::CONTENT_RANGE, value)
            .body(Vec::new())
            .unwrap();
        reqwest::Response::from(response)
    }

    #[test]
    fn content_range_names_the_bytes_a_part_carries() {
        let span = |value| content_range_span(&with_content_range(value));
        assert_eq!(span("bytes 0-1023/4096"), Some(0..1024));
        assert_eq!(span("bytes 1024-1024/*"), Some(1024..1025));
        assert_eq!(span("bytes 9-3/100"), None);
        assert_eq!(span("bytes */4096"), None);
        assert_eq!(span("items 0-1/2"), None);
    }
}

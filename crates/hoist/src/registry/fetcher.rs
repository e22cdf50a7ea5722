//! The registry as a [`BlobFetcher`]: what the download manager calls to GET a blob from a
//! [`RemoteRepository`] (mirrors first, as every pull-side read).
//!
//! Corresponds to the `distribution.BlobStore.Open` + `Seek` docker's `v2LayerDescriptor`
//! uses (an `httpReadSeeker` that resumes with `Range: bytes=N-`) and containerd's
//! `fetcher.go`. This file only translates:
//! - `206 Partial Content` ⇒ [`BlobResponse::partial`]; a `200` to a ranged request is not
//!   partial, and the manager restarts from byte zero;
//! - the blob's total length from the 206's `Content-Range: bytes A-B/TOTAL` (else offset +
//!   `Content-Length`), or the 200's `Content-Length`;
//! - [`RegistryError`] ⇒ [`FetchError`] by [`RegistryError::retry_class`] (docker's
//!   `xfer.DoNotRetry` split: unauthorized, denied, not found, unsupported, refused
//!   connections, configuration errors and digest mismatches are permanent; 5xx, 429, 408,
//!   resets, timeouts and token-server hiccups are retried), carrying the server's
//!   `Retry-After` so a 429 is honoured.

use futures_util::StreamExt;

use super::error::RegistryError;
use super::RemoteRepository;
use crate::digest::Digest;
use crate::transfer::{BlobBody, BlobFetcher, BlobResponse, FetchError};

impl BlobFetcher for RemoteRepository {
    async fn fetch(&self, digest: &Digest, offset: u64) -> Result<BlobResponse, FetchError> {
        let stream = self.get_blob(digest, offset).await.map_err(fetch_error)?;
        let partial = stream.is_partial();
        let total_len = stream.total_length();
        let body: BlobBody = Box::pin(stream.map(|chunk| chunk.map_err(fetch_error)));
        Ok(BlobResponse {
            partial,
            total_len,
            body,
        })
    }
}

/// Classifies a registry error for the download manager's retry loop.
pub fn fetch_error(error: RegistryError) -> FetchError {
    if !error.is_retryable() {
        return FetchError::permanent(error);
    }
    match error.retry_after() {
        Some(after) => FetchError::retry_after(error, after),
        None => FetchError::retryable(error),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::registry::errcode::decode_errors;
    use crate::registry::error::ErrorEntries;

    fn api(status: u16, body: &str, retry_after: Option<Duration>) -> RegistryError {
        RegistryError::Api {
            host: "r.example".into(),
            method: "GET".into(),
            url: "https://r.example/v2/x/blobs/sha256:00".into(),
            status,
            errors: ErrorEntries(decode_errors(status, body.as_bytes())),
            retry_after,
        }
    }

    #[test]
    fn rate_limit_keeps_the_servers_retry_after() {
        let e = fetch_error(api(429, "", Some(Duration::from_secs(2))));
        assert!(e.is_retryable());
        assert_eq!(e.retry_after_duration(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn server_error_is_retryable_without_a_wait() {
        let e = fetch_error(api(503, "", None));
        assert!(e.is_retryable());
        assert_eq!(e.retry_after_duration(), None);
    }

    #[test]
    fn unknown_blob_and_denied_are_permanent() {
        let unknown = r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}"#;
        assert!(!fetch_error(api(404, unknown, None)).is_retryable());
        let denied = r#"{"errors":[{"code":"DENIED","message":"no"}]}"#;
        assert!(!fetch_error(api(403, denied, None)).is_retryable());
        assert!(!fetch_error(api(401, "", None)).is_retryable());
    }
}

//! The network side of a download, kept abstract: [`BlobFetcher`] is what the download
//! manager needs from a registry, so the registry client plugs in and tests use a loopback
//! server.
//!
//! Corresponds to what docker's `pull_v2.go` `v2LayerDescriptor.Download` asks of its
//! `distribution.BlobStore` (`Open` + `Seek` on an `httpReadSeeker`): a GET of
//! `/v2/NAME/blobs/DIGEST`, with `Range: bytes=OFFSET-` when resuming. Whether an error is
//! worth retrying is decided where the HTTP status is known (the fetcher), and carried as data
//! ([`FetchError::is_retryable`]), like docker's `xfer.DoNotRetry` wrapper.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;

use crate::digest::Digest;

/// The body of a blob response: chunks in order, an `Err` when the connection fails.
pub type BlobBody = Pin<Box<dyn Stream<Item = Result<Bytes, FetchError>> + Send>>;

/// Fetches blobs by digest from one source (a registry repository, a mirror, ...).
pub trait BlobFetcher: Send + Sync + 'static {
    /// Starts a GET of `digest` from byte `offset` (`Range: bytes=OFFSET-` when `offset > 0`).
    ///
    /// A success means the status was 200 or 206 and the body can be streamed. Errors say
    /// whether retrying may help: 5xx, 429 (with its `Retry-After`) and connection failures
    /// are retryable; 401, 403, 404 and unsupported operations are not.
    fn fetch(
        &self,
        digest: &Digest,
        offset: u64,
    ) -> impl Future<Output = Result<BlobResponse, FetchError>> + Send;
}

/// An answer to [`BlobFetcher::fetch`] whose body is ready to stream.
pub struct BlobResponse {
    /// The answer was `206 Partial Content`: the body starts at the requested offset. `false`
    /// for a `200`, whose body is the whole blob whatever the offset asked.
    pub partial: bool,
    /// The blob's total length when the server said it (`Content-Length` of a 200, the
    /// `/TOTAL` of a 206's `Content-Range`).
    pub total_len: Option<u64>,
    /// The bytes.
    pub body: BlobBody,
}

impl fmt::Debug for BlobResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobResponse")
            .field("partial", &self.partial)
            .field("total_len", &self.total_len)
            .finish_non_exhaustive()
    }
}

/// A failed fetch (or a body that failed mid-stream), with what the retry logic needs.
///
/// Cheap to clone (the source is shared), so one failure can be reported to every caller
/// waiting on a shared transfer.
#[derive(Debug, Clone)]
pub struct FetchError {
    retryable: bool,
    retry_after: Option<Duration>,
    source: Arc<dyn StdError + Send + Sync>,
}

impl FetchError {
    /// An error retrying may fix: 5xx, connection reset, timeout, truncated body.
    pub fn retryable(source: impl Into<Box<dyn StdError + Send + Sync>>) -> FetchError {
        FetchError {
            retryable: true,
            retry_after: None,
            source: Arc::from(source.into()),
        }
    }

    /// An error retrying cannot fix: unauthorized, denied, not found, unsupported.
    pub fn permanent(source: impl Into<Box<dyn StdError + Send + Sync>>) -> FetchError {
        FetchError {
            retryable: false,
            retry_after: None,
            source: Arc::from(source.into()),
        }
    }

    /// A retryable error whose server asked to wait (`429` with `Retry-After`, or a `503`
    /// with one).
    pub fn retry_after(
        source: impl Into<Box<dyn StdError + Send + Sync>>,
        after: Duration,
    ) -> FetchError {
        FetchError {
            retry_after: Some(after),
            ..FetchError::retryable(source)
        }
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// How long the server asked to wait before the next attempt.
    pub fn retry_after_duration(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The underlying error.
    pub fn inner(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.source
    }
}

impl super::Retryable for FetchError {
    fn is_retryable(&self) -> bool {
        self.retryable
    }

    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

impl StdError for FetchError {
    /// The underlying error's own cause: the underlying error itself is already this one's
    /// `Display`, so a cause chain does not print it twice.
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.source()
    }
}

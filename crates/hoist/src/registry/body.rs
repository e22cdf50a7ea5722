//! Bodies read whole into memory: the small documents of the registry protocol, each read
//! under a size cap.
//!
//! Everything a registry (or its token server) sends that is not a streamed blob is read into
//! memory to be parsed: manifests, tag and catalog pages, token answers, error answers. A
//! hostile or broken server can make any of them endless, so each [`Document`] kind has a cap
//! and [`read_document`] reads the body chunk by chunk, stopping with
//! [`RegistryError::BodyTooLarge`] as soon as the cap is passed (or at once when
//! `Content-Length` announces more). Memory per read is thus at most the cap plus one network
//! chunk, whatever the server does. A server that drips the bytes is stopped by the request's
//! deadline (`RegistryConfig::document_timeout`, set by the callers with
//! `Outgoing::with_deadline`): [`RegistryError::DeadlineExceeded`].
//!
//! The caps, and where they come from:
//! - manifests: [`MAX_MANIFEST_SIZE`] (4 MiB), docker/distribution's `maxManifestBodySize`
//!   and containerd's manifest limit;
//! - tag lists and catalog pages: [`MAX_LISTING_PAGE`] (16 MiB: names only, but Docker Hub
//!   repositories reach tens of thousands of tags in one unpaginated answer);
//! - token answers: [`MAX_TOKEN_ANSWER`] (1 MiB: a JWT with a refresh token is a few KiB;
//!   the largest cloud tokens are tens of KiB);
//! - error answers: [`MAX_ERROR_ANSWER`] (64 KiB: the body only adds a message to a status
//!   that already decides; a larger one is read as if empty, see `transport::read_error`).
//!
//! Config blobs are not read here: they are blobs, streamed through the content store, whose
//! ingest refuses more bytes than the descriptor's size (at most `MAX_CONFIG_SIZE`). A blob
//! answer that small is held to the document deadline all the same ([`Document::SmallBlob`],
//! applied in `blobs`), so a config dripped byte by byte cannot hold a pull either.

use std::fmt;

use http::Method;
use url::Url;

use super::error::RegistryError;
pub use crate::media::MAX_MANIFEST_SIZE;

/// The cap on one page of `tags/list` or `_catalog`.
pub const MAX_LISTING_PAGE: usize = 16 << 20;

/// The cap on a token server's answer.
pub const MAX_TOKEN_ANSWER: usize = 1 << 20;

/// The cap on an error answer's body.
pub const MAX_ERROR_ANSWER: usize = 64 << 10;

/// Blob answers of at most this many bytes (the config cap, `MAX_CONFIG_SIZE`) must arrive
/// whole within the document deadline: an image config is such a blob.
pub const MAX_SMALL_BLOB: usize = crate::media::MAX_CONFIG_SIZE;

/// What a body read whole is, which decides its cap and names it in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Document {
    /// A manifest or index (`/v2/NAME/manifests/REF`).
    Manifest,
    /// A page of `tags/list` or `_catalog`.
    Listing,
    /// A token server's answer.
    Token,
    /// The body of an error answer.
    ErrorAnswer,
    /// A blob no larger than a config may be ([`MAX_SMALL_BLOB`]): streamed like any blob,
    /// but held to the same deadline as the documents (see `blobs`).
    SmallBlob,
}

impl Document {
    /// The most bytes read for this kind of document.
    pub const fn limit(self) -> usize {
        match self {
            Document::Manifest => MAX_MANIFEST_SIZE,
            Document::Listing => MAX_LISTING_PAGE,
            Document::Token => MAX_TOKEN_ANSWER,
            Document::ErrorAnswer => MAX_ERROR_ANSWER,
            Document::SmallBlob => MAX_SMALL_BLOB,
        }
    }
}

impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Document::Manifest => "manifest",
            Document::Listing => "listing page",
            Document::Token => "token answer",
            Document::ErrorAnswer => "error answer",
            Document::SmallBlob => "blob",
        })
    }
}

/// Reads the body of `response` (to `method url`) whole, as a `document`: at most
/// [`Document::limit`] bytes, else [`RegistryError::BodyTooLarge`] without reading further.
pub async fn read_document(
    method: &Method,
    url: &Url,
    mut response: reqwest::Response,
    document: Document,
) -> Result<Vec<u8>, RegistryError> {
    let limit = document.limit();
    let too_large = || RegistryError::BodyTooLarge {
        url: url.to_string(),
        document,
        limit,
    };
    let announced = response.content_length();
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    // Announced lengths within the cap are trusted for the allocation only.
    let mut out = Vec::with_capacity(announced.map_or(0, |n| n as usize));
    loop {
        let chunk = response.chunk().await.map_err(|e| {
            if e.is_timeout() {
                RegistryError::DeadlineExceeded {
                    url: url.to_string(),
                    document,
                }
            } else {
                RegistryError::Http {
                    method: method.to_string(),
                    url: url.to_string(),
                    source: e,
                }
            }
        })?;
        let Some(chunk) = chunk else {
            return Ok(out);
        };
        if out.len() + chunk.len() > limit {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(body: Vec<u8>) -> reqwest::Response {
        reqwest::Response::from(http::Response::new(body))
    }

    fn url() -> Url {
        Url::parse("https://r.example/v2/x/manifests/latest").unwrap()
    }

    #[tokio::test]
    async fn bodies_over_the_cap_are_refused_naming_document_and_limit() {
        let body = vec![b' '; MAX_ERROR_ANSWER + 1];
        let err = read_document(&Method::GET, &url(), response(body), Document::ErrorAnswer)
            .await
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::BodyTooLarge { limit, document: Document::ErrorAnswer, .. } if limit == MAX_ERROR_ANSWER),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "error answer at https://r.example/v2/x/manifests/latest is larger than the 65536 bytes limit"
        );
        assert!(!err.is_retryable());
    }

    #[tokio::test]
    async fn bodies_at_the_cap_are_read() {
        let body = vec![b'{'; MAX_ERROR_ANSWER];
        let read = read_document(&Method::GET, &url(), response(body), Document::ErrorAnswer)
            .await
            .unwrap();
        assert_eq!(read.len(), MAX_ERROR_ANSWER);
    }
}

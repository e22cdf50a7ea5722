//! Registry error bodies: `{"errors":[{"code","message","detail"}]}` decoded into typed codes.
//!
//! Corresponds to docker/distribution's `registry/api/errcode` package and the v2 error codes
//! (`registry/api/v2/errors.go`), and to containerd's `remotes/docker/errcode.go`. The codes are
//! those of the [OCI distribution spec, "Error Codes"][spec] plus docker's `TOOMANYREQUESTS`.
//!
//! When a registry answers an error status without a decodable body (proxies, object storage,
//! HEAD requests, which have no body at all), the code is derived from the HTTP status the way
//! docker's `HandleErrorResponse` does: 401 ⇒ `UNAUTHORIZED`, 403 ⇒ `DENIED`,
//! 429 ⇒ `TOOMANYREQUESTS`, 405 ⇒ `UNSUPPORTED`, 404 ⇒ a generic not-found.
//!
//! [spec]: https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes

use std::fmt;

use serde::Deserialize;

/// One registry error code. Unknown codes keep their text in [`ErrorCode::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `BLOB_UNKNOWN`: the blob is not in the repository.
    BlobUnknown,
    /// `BLOB_UPLOAD_INVALID`: the upload session failed or was invalid.
    BlobUploadInvalid,
    /// `BLOB_UPLOAD_UNKNOWN`: the upload session is unknown to the registry.
    BlobUploadUnknown,
    /// `DIGEST_INVALID`: the uploaded content does not match the digest.
    DigestInvalid,
    /// `MANIFEST_BLOB_UNKNOWN`: a manifest references a blob the registry lacks.
    ManifestBlobUnknown,
    /// `MANIFEST_INVALID`: the manifest failed validation.
    ManifestInvalid,
    /// `MANIFEST_UNKNOWN`: no manifest for that tag or digest.
    ManifestUnknown,
    /// `MANIFEST_UNVERIFIED`: a schema1 signature failed.
    ManifestUnverified,
    /// `NAME_INVALID`: the repository name is invalid.
    NameInvalid,
    /// `NAME_UNKNOWN`: the repository is not known to the registry.
    NameUnknown,
    /// `SIZE_INVALID`: the content length does not match.
    SizeInvalid,
    /// `TAG_INVALID`: the tag does not match the manifest.
    TagInvalid,
    /// `UNAUTHORIZED`: authentication required (or the credentials were refused).
    Unauthorized,
    /// `DENIED`: authenticated, but access to the resource is denied.
    Denied,
    /// `UNSUPPORTED`: the operation is not supported by this registry.
    Unsupported,
    /// `TOOMANYREQUESTS`: rate limited.
    TooManyRequests,
    /// `UNKNOWN`: the registry's own catch-all.
    Unknown,
    /// No body, status 404: something was not found.
    NotFound,
    /// Any code this client does not know, kept verbatim.
    Other(String),
}

impl ErrorCode {
    /// Parses the code as the registry spells it (`MANIFEST_UNKNOWN`).
    pub fn from_name(name: &str) -> ErrorCode {
        match name {
            "BLOB_UNKNOWN" => ErrorCode::BlobUnknown,
            "BLOB_UPLOAD_INVALID" => ErrorCode::BlobUploadInvalid,
            "BLOB_UPLOAD_UNKNOWN" => ErrorCode::BlobUploadUnknown,
            "DIGEST_INVALID" => ErrorCode::DigestInvalid,
            "MANIFEST_BLOB_UNKNOWN" => ErrorCode::ManifestBlobUnknown,
            "MANIFEST_INVALID" => ErrorCode::ManifestInvalid,
            "MANIFEST_UNKNOWN" => ErrorCode::ManifestUnknown,
            "MANIFEST_UNVERIFIED" => ErrorCode::ManifestUnverified,
            "NAME_INVALID" => ErrorCode::NameInvalid,
            "NAME_UNKNOWN" => ErrorCode::NameUnknown,
            "SIZE_INVALID" => ErrorCode::SizeInvalid,
            "TAG_INVALID" => ErrorCode::TagInvalid,
            "UNAUTHORIZED" => ErrorCode::Unauthorized,
            "DENIED" => ErrorCode::Denied,
            "UNSUPPORTED" => ErrorCode::Unsupported,
            "TOOMANYREQUESTS" => ErrorCode::TooManyRequests,
            "UNKNOWN" => ErrorCode::Unknown,
            other => ErrorCode::Other(other.to_string()),
        }
    }

    /// The code as the registry spells it; `NOT_FOUND` for a bare 404.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::BlobUnknown => "BLOB_UNKNOWN",
            ErrorCode::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            ErrorCode::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            ErrorCode::DigestInvalid => "DIGEST_INVALID",
            ErrorCode::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            ErrorCode::ManifestInvalid => "MANIFEST_INVALID",
            ErrorCode::ManifestUnknown => "MANIFEST_UNKNOWN",
            ErrorCode::ManifestUnverified => "MANIFEST_UNVERIFIED",
            ErrorCode::NameInvalid => "NAME_INVALID",
            ErrorCode::NameUnknown => "NAME_UNKNOWN",
            ErrorCode::SizeInvalid => "SIZE_INVALID",
            ErrorCode::TagInvalid => "TAG_INVALID",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Denied => "DENIED",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::TooManyRequests => "TOOMANYREQUESTS",
            ErrorCode::Unknown => "UNKNOWN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Other(s) => s,
        }
    }

    /// The code docker's `HandleErrorResponse` derives from a bare HTTP status.
    pub fn from_status(status: u16) -> ErrorCode {
        match status {
            401 => ErrorCode::Unauthorized,
            403 => ErrorCode::Denied,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::Unsupported,
            429 => ErrorCode::TooManyRequests,
            _ => ErrorCode::Unknown,
        }
    }

    /// Whether something is missing (manifest, blob, repository, upload session).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            ErrorCode::BlobUnknown
                | ErrorCode::BlobUploadUnknown
                | ErrorCode::ManifestUnknown
                | ErrorCode::NameUnknown
                | ErrorCode::NotFound
        )
    }

    /// Whether retrying the same request can succeed. Authentication, authorisation, missing
    /// content, unsupported operations and invalid input cannot be fixed by retrying
    /// (docker's `retryOnError` / `xfer.DoNotRetry`).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ErrorCode::TooManyRequests | ErrorCode::Unknown | ErrorCode::Other(_)
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a registry error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryErrorEntry {
    /// The typed code.
    pub code: ErrorCode,
    /// The registry's message (may be empty).
    pub message: String,
    /// The registry's `detail`, re-serialised as compact JSON (`None` when absent or null).
    pub detail: Option<String>,
}

impl fmt::Display for RegistryErrorEntry {
    /// docker's `errcode.Error.Error()`: `lowercase code: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code.as_str().to_ascii_lowercase().replace('_', " ");
        if self.message.is_empty() {
            f.write_str(&code)
        } else {
            write!(f, "{code}: {}", self.message)
        }
    }
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    errors: Vec<RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    detail: Option<serde_json::Value>,
}

/// Decodes an error answer: the JSON body when there is one with at least one entry, else a
/// single entry derived from the status. Never fails: the result is never empty.
pub fn decode_errors(status: u16, body: &[u8]) -> Vec<RegistryErrorEntry> {
    let decoded: Vec<RegistryErrorEntry> = serde_json::from_slice::<Body>(body)
        .map(|b| {
            b.errors
                .into_iter()
                .filter(|e| !e.code.is_empty())
                .map(|e| RegistryErrorEntry {
                    code: ErrorCode::from_name(&e.code),
                    message: e.message,
                    detail: e.detail.filter(|d| !d.is_null()).map(|d| d.to_string()),
                })
                .collect()
        })
        .unwrap_or_default();
    if !decoded.is_empty() {
        return decoded;
    }
    vec![RegistryErrorEntry {
        code: ErrorCode::from_status(status),
        message: status_message(status, body),
        detail: None,
    }]
}

/// A short message for a body-less (or non-JSON) error answer: the status reason plus the
/// start of a plain-text body, if any.
fn status_message(status: u16, body: &[u8]) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let short: String = text.chars().take(200).collect();
    match (reason.is_empty(), short.is_empty()) {
        (_, false) if !text.starts_with('<') => format!("HTTP {status} {reason}: {short}"),
        _ => format!("HTTP {status} {reason}").trim_end().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_manifest_unknown_body() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}"#;
        let errs = decode_errors(404, body);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].code, ErrorCode::ManifestUnknown);
        assert_eq!(errs[0].message, "manifest unknown");
        assert_eq!(errs[0].detail.as_deref(), Some(r#"{"Tag":"nope"}"#));
    }

    #[test]
    fn decodes_several_entries_in_order() {
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"a"},{"code":"DENIED","message":"b"}]}"#;
        let codes: Vec<_> = decode_errors(401, body)
            .into_iter()
            .map(|e| e.code)
            .collect();
        assert_eq!(codes, vec![ErrorCode::Unauthorized, ErrorCode::Denied]);
    }

    #[test]
    fn keeps_unknown_code_verbatim() {
        let errs = decode_errors(
            400,
            br#"{"errors":[{"code":"PAYMENT_REQUIRED","message":"x"}]}"#,
        );
        assert_eq!(errs[0].code, ErrorCode::Other("PAYMENT_REQUIRED".into()));
    }

    #[test]
    fn empty_body_derives_code_from_status() {
        assert_eq!(decode_errors(401, b"")[0].code, ErrorCode::Unauthorized);
        assert_eq!(decode_errors(403, b"")[0].code, ErrorCode::Denied);
        assert_eq!(decode_errors(404, b"")[0].code, ErrorCode::NotFound);
        assert_eq!(decode_errors(429, b"")[0].code, ErrorCode::TooManyRequests);
        assert_eq!(decode_errors(502, b"")[0].code, ErrorCode::Unknown);
    }

    #[test]
    fn html_body_is_not_quoted_in_message() {
        let errs = decode_errors(502, b"<html><body>Bad Gateway</body></html>");
        assert_eq!(errs[0].message, "HTTP 502 Bad Gateway");
    }

    #[test]
    fn plain_text_body_is_quoted_in_message() {
        let errs = decode_errors(500, b"storage driver failed\n");
        assert_eq!(
            errs[0].message,
            "HTTP 500 Internal Server Error: storage driver failed"
        );
    }

    #[test]
    fn empty_errors_array_falls_back_to_status() {
        assert_eq!(
            decode_errors(403, br#"{"errors":[]}"#)[0].code,
            ErrorCode::Denied
        );
    }

    #[test]
    fn display_matches_docker_errcode_format() {
        let e = RegistryErrorEntry {
            code: ErrorCode::Denied,
            message: "requested access to the resource is denied".into(),
            detail: None,
        };
        assert_eq!(
            e.to_string(),
            "denied: requested access to the resource is denied"
        );
    }

    #[test]
    fn non_retryable_classes() {
        for c in [
            ErrorCode::Unauthorized,
            ErrorCode::Denied,
            ErrorCode::ManifestUnknown,
            ErrorCode::NameUnknown,
            ErrorCode::BlobUnknown,
            ErrorCode::NotFound,
            ErrorCode::Unsupported,
        ] {
            assert!(!c.is_retryable(), "{c} must not be retryable");
        }
        assert!(ErrorCode::TooManyRequests.is_retryable());
    }
}

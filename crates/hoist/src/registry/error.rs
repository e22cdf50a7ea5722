//! [`RegistryError`]: everything that can go wrong talking to a registry, with the context a
//! person needs (host, URL, status, registry error codes, digest).
//!
//! The user-facing sentences of docker's `TranslatePullError` are NOT produced here: that
//! happens once, in `crate::error`. This module only classifies: [`RegistryError::retry_class`]
//! says what retrying cannot fix (docker's `xfer.DoNotRetry`, hoist's one retry policy in
//! `crate::transfer::RetryPolicy`), and [`RegistryError::code`]
//! exposes the first registry error code for the translation.

use std::fmt;
use std::time::Duration;

use super::body::Document;
use super::errcode::{ErrorCode, RegistryErrorEntry};
use crate::transfer::{RetryClass, Retryable};

/// The registry's error entries, displayed as docker does (`code: message`, joined by `; `).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorEntries(pub Vec<RegistryErrorEntry>);

impl fmt::Display for ErrorEntries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// An error from the registry client.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry (or token server, or redirect target) answered an error status.
    #[error("{method} {url}: {errors}")]
    Api {
        /// The host that answered.
        host: String,
        /// The request method.
        method: String,
        /// The URL requested (never carries credentials).
        url: String,
        /// The HTTP status.
        status: u16,
        /// The decoded error entries (never empty).
        errors: ErrorEntries,
        /// How long the server asked to wait before retrying (`Retry-After`, in seconds or as
        /// an HTTP-date, sent with 429 and some 503 answers).
        retry_after: Option<Duration>,
    },
    /// The request could not be sent or the answer not read (DNS, connect, TLS, timeout, reset).
    /// Its sentence names the cause ([`transport_cause`]); the whole chain is its source.
    #[error("{method} {url}: {cause}", cause = transport_cause(source))]
    Http {
        /// The request method.
        method: String,
        /// The URL requested.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The endpoint answered `/v2/` but not as a v2 registry (no API-version header, status
    /// other than 200/401): most likely a v1-only registry, which hoist refuses like docker does
    /// since 17.12. docker's `ErrNoSupport` (a protocol the endpoint lacks): the next endpoint
    /// (mirror, then the registry) is tried.
    #[doc(alias = "ErrNoSupport")]
    #[error("{url} does not speak the registry v2 API (HTTP {status}); v1-only registries are not supported")]
    NotV2 {
        /// The `/v2/` URL pinged.
        url: String,
        /// The status it answered.
        status: u16,
    },
    /// None of a host's endpoints answered the ping; every attempt is listed.
    #[error("cannot reach registry {host}: {attempts}")]
    Unreachable {
        /// The registry host.
        host: String,
        /// `URL: error` for every endpoint tried, joined by `; `.
        attempts: String,
        /// Whether an endpoint refused the TLS handshake over certificates (unknown CA,
        /// missing client certificate): a configuration problem retrying cannot fix.
        certificate_rejected: bool,
        /// Whether every URL refused the connection: nothing listens there, and retrying
        /// only delays the error (skopeo and crane fail at once).
        connection_refused: bool,
    },
    /// The registry asked for authentication this client cannot perform.
    #[error("registry {host} asks for unsupported authentication: {challenge}")]
    UnsupportedAuth {
        /// The host.
        host: String,
        /// The `WWW-Authenticate` value.
        challenge: String,
    },
    /// The registry wants credentials and none are configured for it.
    #[error(
        "{host}: authentication required and no credentials are stored (run 'hoist login {host}')"
    )]
    NoCredentials {
        /// The host.
        host: String,
    },
    /// The token server's answer was not a usable token.
    #[error("token server {realm}: {reason}")]
    Token {
        /// The realm URL.
        realm: String,
        /// What was wrong.
        reason: String,
    },
    /// An HTTPS registry names a plain-HTTP token server (`realm`): what hoist would send
    /// there (Basic credentials, a refresh token, then the token itself) would cross the
    /// network in clear text. Refused unless the host is configured `insecure`.
    #[error(
        "registry {host} is served over HTTPS but its token server {realm} is plain HTTP; \
         refusing to send credentials in clear text (set `insecure = true` under \
         [registries.\"{config_key}\"] in the config to allow it)"
    )]
    InsecureRealm {
        /// The registry (or mirror) host.
        host: String,
        /// The `realm` of its Bearer challenge.
        realm: String,
        /// The `[registries."…"]` key that would allow it.
        config_key: String,
    },
    /// Looking up stored credentials failed.
    #[error("credentials for {host}: {reason}")]
    Credentials {
        /// The host.
        host: String,
        /// The lookup's error, as text.
        reason: String,
    },
    /// Reading the TLS material (certs.d, `ca_file`) failed.
    #[error("TLS configuration for {host}: {reason}")]
    Tls {
        /// The host.
        host: String,
        /// What was wrong, naming the file.
        reason: String,
    },
    /// A URL (mirror, `Location`, realm, `Link`) could not be used.
    #[error("invalid URL {url:?}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The registry broke the protocol (missing `Location`, bad header, …).
    #[error("{url}: protocol error: {reason}")]
    Protocol {
        /// The URL requested.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// A body read whole (manifest, listing page, token or error answer) exceeded its cap;
    /// reading stopped there (see `body`).
    #[error("{document} at {url} is larger than the {limit} bytes limit")]
    BodyTooLarge {
        /// The URL.
        url: String,
        /// What the body was.
        document: Document,
        /// The limit in bytes.
        limit: usize,
    },
    /// A small document's exchange outlasted `RegistryConfig::document_timeout` while its
    /// body was being read: the server sends too slowly. Retried like any timeout.
    #[error("{document} at {url} did not arrive within the document deadline (document_timeout): the server sends too slowly")]
    DeadlineExceeded {
        /// The URL.
        url: String,
        /// What the body was.
        document: Document,
    },
    /// Content fetched by digest did not hash to that digest.
    #[error("content at {url} does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The URL.
        url: String,
        /// The digest asked for.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// More redirects than allowed.
    #[error("{url}: too many redirects")]
    TooManyRedirects {
        /// The first URL.
        url: String,
    },
    /// A subject lists more referrers than a client follows (`media::MAX_REFERRERS`).
    #[error("{subject} has more than {limit} referrers; refusing to follow them")]
    TooManyReferrers {
        /// The subject's digest.
        subject: String,
        /// The limit.
        limit: usize,
    },
}

impl RegistryError {
    /// The first registry error code, when the registry answered one (or the status implied one).
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            RegistryError::Api { errors, .. } => errors.0.first().map(|e| &e.code),
            _ => None,
        }
    }

    /// The first registry error entry (code + message), if any.
    pub fn entry(&self) -> Option<&RegistryErrorEntry> {
        match self {
            RegistryError::Api { errors, .. } => errors.0.first(),
            _ => None,
        }
    }

    /// The HTTP status of an error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            RegistryError::Api { status, .. } | RegistryError::NotV2 { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The wait the server asked for before a retry (`Retry-After`), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RegistryError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the answer said "not found" (manifest, blob, repository, upload).
    pub fn is_not_found(&self) -> bool {
        self.code().is_some_and(ErrorCode::is_not_found)
    }

    /// Whether the answer was `UNAUTHORIZED` or `DENIED`.
    pub fn is_auth(&self) -> bool {
        matches!(
            self.code(),
            Some(ErrorCode::Unauthorized) | Some(ErrorCode::Denied)
        ) || matches!(self, RegistryError::NoCredentials { .. })
    }

    /// Whether retrying the same operation can succeed: network errors, 5xx answers and rate
    /// limiting can; authentication, authorisation, not-found, unsupported, invalid content,
    /// v1-only registries, a registry nothing listens for, content that does not match its
    /// digest and local configuration errors cannot (see [`RegistryError::retry_class`]).
    pub fn is_retryable(&self) -> bool {
        self.retry_class().is_retryable()
    }

    /// What kind of failure this is, for the one retry policy (`crate::transfer::RetryPolicy`,
    /// whose module docs give the reasons):
    /// - transient: 5xx, 429 and 408 answers with a retryable code, connection resets and
    ///   timeouts, a missed document deadline, a token server's unusable answer;
    /// - unreachable: the connection was refused (on every URL of the endpoint, for a ping);
    /// - configuration: TLS material, certificates refused either way, URLs, an insecure realm,
    ///   a credential helper that failed;
    /// - corrupt: content fetched by digest that hashes to another digest;
    /// - refused: every other answer (denied, not found, unsupported, not v2, too large).
    pub fn retry_class(&self) -> RetryClass {
        match self {
            RegistryError::Api { status, errors, .. } => {
                let code_retryable = errors.0.first().is_some_and(|e| e.code.is_retryable());
                if code_retryable && (*status >= 500 || *status == 429 || *status == 408) {
                    RetryClass::Transient
                } else {
                    RetryClass::Refused
                }
            }
            RegistryError::Http { source, .. } => {
                if source.is_builder() || is_certificate_error(source) {
                    RetryClass::Configuration
                } else if is_connection_refused(source) {
                    RetryClass::Unreachable
                } else if source.is_redirect() {
                    RetryClass::Refused
                } else {
                    RetryClass::Transient
                }
            }
            RegistryError::Unreachable {
                certificate_rejected: true,
                ..
            } => RetryClass::Configuration,
            RegistryError::Unreachable {
                connection_refused: true,
                ..
            } => RetryClass::Unreachable,
            RegistryError::Unreachable { .. }
            | RegistryError::Token { .. }
            | RegistryError::DeadlineExceeded { .. } => RetryClass::Transient,
            RegistryError::Tls { .. }
            | RegistryError::Url { .. }
            | RegistryError::InsecureRealm { .. }
            | RegistryError::Credentials { .. } => RetryClass::Configuration,
            RegistryError::DigestMismatch { .. } => RetryClass::Corrupt,
            RegistryError::NotV2 { .. }
            | RegistryError::UnsupportedAuth { .. }
            | RegistryError::NoCredentials { .. }
            | RegistryError::Protocol { .. }
            | RegistryError::BodyTooLarge { .. }
            | RegistryError::TooManyRedirects { .. }
            | RegistryError::TooManyReferrers { .. } => RetryClass::Refused,
        }
    }
}

impl Retryable for RegistryError {
    fn is_retryable(&self) -> bool {
        RegistryError::is_retryable(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        RegistryError::retry_after(self)
    }
}

/// Whether `err` or one of its sources is an `ECONNREFUSED`: nothing listens at the address.
pub fn is_connection_refused(err: &(dyn std::error::Error + 'static)) -> bool {
    sources(err).any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    })
}

/// Whether `err` or one of its sources is a TLS certificate failure (the server's certificate
/// not trusted, or ours refused): retrying the same request cannot succeed.
pub fn is_certificate_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let tls = sources(err).find_map(|e| e.downcast_ref::<rustls::Error>());
    matches!(
        tls,
        Some(
            rustls::Error::InvalidCertificate(_)
                | rustls::Error::NoCertificatesPresented
                | rustls::Error::AlertReceived(
                    rustls::AlertDescription::BadCertificate
                        | rustls::AlertDescription::UnknownCA
                        | rustls::AlertDescription::CertificateRequired
                        | rustls::AlertDescription::CertificateUnknown
                )
        )
    )
}

/// What went wrong with a request that got no answer, in a few words a person can act on:
/// `connection refused`, `connection reset by the server`, `timed out`, `TLS: …`, else the
/// innermost error's own words — not reqwest's "error sending request for url (…)", which
/// repeats the URL and hides the cause at the end of a chain.
pub fn transport_cause(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "timed out".to_owned();
    }
    for e in sources(err) {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return format!("TLS: {tls}");
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind;
            let cause = match io.kind() {
                ErrorKind::ConnectionRefused => "connection refused",
                ErrorKind::ConnectionReset => "connection reset by the server",
                ErrorKind::ConnectionAborted => "connection aborted",
                ErrorKind::UnexpectedEof => "connection closed before the answer was complete",
                ErrorKind::TimedOut => "timed out",
                _ => continue,
            };
            return cause.to_owned();
        }
    }
    let innermost = sources(err).last().map(|e| e.to_string());
    innermost.unwrap_or_else(|| err.to_string())
}

/// `err` and its sources, outermost first, stepping into the error an `io::Error` wraps.
fn sources<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(err), |e| {
        // `io::Error::source` skips the error it wraps (it returns that error's own source), so
        // step into a wrapped error through `get_ref`: that is where rustls's error sits.
        match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::errcode::decode_errors;

    fn api(status: u16, body: &[u8]) -> RegistryError {
        RegistryError::Api {
            host: "r.example".into(),
            method: "GET".into(),
            url: "https://r.example/v2/x/manifests/latest".into(),
            status,
            errors: ErrorEntries(decode_errors(status, body)),
            retry_after: None,
        }
    }

    #[test]
    fn server_errors_are_retryable() {
        assert!(api(503, b"").is_retryable());
        assert!(api(429, b"").is_retryable());
    }

    #[test]
    fn denied_and_unknown_manifest_are_not_retryable() {
        assert!(!api(403, b"").is_retryable());
        assert!(!api(
            404,
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"m"}]}"#
        )
        .is_retryable());
        assert!(!api(401, b"").is_retryable());
    }

    #[test]
    fn display_names_url_and_code() {
        let e = api(
            404,
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
        );
        assert_eq!(
            e.to_string(),
            "GET https://r.example/v2/x/manifests/latest: manifest unknown: manifest unknown"
        );
    }
}

//! The testkit's one error type.
//!
//! Every fallible testkit call returns [`Error`]; each variant carries the context a person
//! debugging a failed test needs (the path, the command, the URL, the registry's log tail).

use std::path::PathBuf;

/// What went wrong while setting up or driving a test fixture.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `/usr/bin/docker-registry` (or the configured binary) is not installed.
    #[error(
        "docker-registry not found at {path:?}: install it with `apt-get install -y docker-registry` (scripts/test.sh does this)"
    )]
    RegistryMissing {
        /// Where the binary was looked for.
        path: PathBuf,
    },
    /// The registry process exited or never answered `GET /v2/`.
    #[error("docker-registry on {addr} did not start: {reason}\n--- registry log (tail) ---\n{log_tail}")]
    RegistryStart {
        /// The `host:port` it was told to listen on.
        addr: String,
        /// Why the testkit gave up.
        reason: String,
        /// The last lines of the registry's log.
        log_tail: String,
    },
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What the testkit was doing (includes the path when there is one).
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Generating keys or certificates failed.
    #[error("certificate generation ({what}): {source}")]
    Cert {
        /// Which certificate.
        what: String,
        /// The underlying error.
        #[source]
        source: rcgen::Error,
    },
    /// Building a TLS configuration failed.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// An HTTP request made by the testkit failed at the transport level.
    #[error("HTTP {method} {url}: {source}")]
    Http {
        /// The method.
        method: String,
        /// The URL.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// A registry or token server answered with an unexpected status.
    #[error("HTTP {method} {url}: unexpected status {status}: {body}")]
    Status {
        /// The method.
        method: String,
        /// The URL.
        url: String,
        /// The status received.
        status: u16,
        /// The response body (truncated).
        body: String,
    },
    /// A protocol answer could not be understood (missing header, bad JSON, ...).
    #[error("protocol: {0}")]
    Protocol(String),
    /// Signing a token failed.
    #[error("signing a token: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
    /// Hashing a password failed.
    #[error("bcrypt: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
}

impl Error {
    /// An [`Error::Io`] for `what`.
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// An [`Error::Cert`] for `what`.
    pub(crate) fn cert(what: impl Into<String>, source: rcgen::Error) -> Self {
        Error::Cert {
            what: what.into(),
            source,
        }
    }
}

/// The testkit's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

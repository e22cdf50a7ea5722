//! Test support for hoist: real `docker-registry` processes on loopback, a token server, TLS
//! certificate authorities, small HTTP servers that misbehave on purpose, and image builders.
//!
//! This crate is deliberately independent of the `hoist` crate: it re-implements the little
//! protocol it needs (Basic and token auth, blob upload, manifest PUT) with plain `reqwest`, so
//! a hoist bug cannot hide itself by being present on both sides of a test.
//!
//! Parts:
//! - [`registry`]: [`TestRegistry`], a CNCF distribution 2.8 process (anonymous, htpasswd,
//!   token auth, TLS, proxy/mirror mode), killed on drop.
//! - [`tls`]: [`TestCa`], a certificate authority issuing server and client certificates and
//!   laying out docker's `certs.d` directories.
//!
//! HTTP clients made by the testkit ([`http_client`], [`TestCa::http_client`],
//! [`TestRegistry::client`]) never follow redirects and never use proxies, so tests see exactly
//! what the servers answer.

pub mod error;
pub mod registry;
pub mod tls;

pub use error::{Error, Result};
pub use registry::{AccessLogEntry, RegistryBuilder, TestRegistry, TokenAuthConfig};
pub use tls::{http_client, IssuedCert, TestCa};

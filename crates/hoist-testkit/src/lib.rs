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
//! - [`token`]: [`TokenServer`], the Docker token protocol (GET with Basic, OAuth2 POST with
//!   password and refresh-token grants), per-repository grants, every request recorded.
//! - [`redirect`]: [`RedirectServer`], a front that redirects blob GETs to another host and
//!   records what reaches it; [`V1OnlyServer`], a registry that only speaks v1.
//!
//! HTTP clients made by the testkit ([`http_client`], [`TestCa::http_client`],
//! [`TestRegistry::client`]) never follow redirects and never use proxies, so tests see exactly
//! what the servers answer.

pub mod error;
pub mod redirect;
pub mod registry;
mod server;
pub mod tls;
pub mod token;

pub use error::{Error, Result};
pub use redirect::{RecordedRequest, RedirectServer, V1OnlyServer};
pub use registry::{AccessLogEntry, RegistryBuilder, TestRegistry, TokenAuthConfig};
pub use tls::{http_client, IssuedCert, TestCa};
pub use token::{Credentials, TokenRequest, TokenServer, TokenServerBuilder};

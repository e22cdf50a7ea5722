//! Test support for hoist: real `docker-registry` processes on loopback, a token server, TLS
//! certificate authorities, small HTTP servers that misbehave on purpose, and image builders.
//!
//! This crate is deliberately independent of the `hoist` crate: it re-implements the little
//! protocol it needs (Basic and token auth, blob upload, manifest PUT) with plain `reqwest`, so
//! a hoist bug cannot hide itself by being present on both sides of a test. The one exception
//! is `store` (the `store` feature), which seeds a hoist store through hoist's own API.
//!
//! Parts:
//! - [`registry`]: [`TestRegistry`], a CNCF distribution 2.8 process (anonymous, htpasswd,
//!   token auth, TLS, proxy/mirror mode), killed on drop.
//! - [`tls`]: [`TestCa`], a certificate authority issuing server and client certificates and
//!   laying out docker's `certs.d` directories.
//! - [`token`]: [`TokenServer`], the Docker token protocol (GET with Basic, OAuth2 POST with
//!   password and refresh-token grants), per-repository grants, every request recorded.
//! - [`fault`]: [`FaultProxy`], an HTTP proxy in front of a registry that resets, truncates,
//!   corrupts, delays, throttles or answers requests itself as scripted [`Rule`]s say, and
//!   records every request.
//! - [`redirect`]: [`RedirectServer`], a front that redirects blob GETs to another host and
//!   records what reaches it; [`V1OnlyServer`], a registry that only speaks v1.
//! - [`image`]: in-memory test images ([`Layer`], [`ImageBuilder`], [`Image`], [`Index`]) in
//!   OCI or Docker schema2 format, every blob kept with its digest, size and bytes.
//! - [`push`]: [`ImagePusher`], seeding a registry with those images (Basic or token auth).
//! - [`referrer`]: OCI 1.1 artifacts referring to an image ([`Artifact`]) and an independent
//!   writer of them and of the referrers tag schema ([`ImagePusher::push_referrer`]).
//! - [`schema1`]: signed Docker schema 1 images ([`Schema1Builder`], [`Schema1Image`]) and the
//!   libtrust-style [`TrustKey`] that signs them, for a registry started with
//!   [`RegistryBuilder::accept_schema1`].
//! - [`sigstore`]: an independent sigstore signer and reader ([`CosignKey`], cosign's
//!   `.sig` attachment manifests), to check hoist's policy and signing against.
//! - [`fulcio`]: an independent keyless signer — a Fulcio-style CA issuing short-lived
//!   certificates for an e-mail and OIDC issuer, and a Rekor-style log key making bundles
//!   ([`KeylessSigner`], [`FulcioCa`], [`RekorKey`]).
//! - [`skopeo`]: skopeo run, and its raw view of a manifest or config in any transport — the
//!   independent reader and writer hoist's results are checked with.
//! - [`tree`]: directory trees read into memory and compared (what an unpack or export left).
//! - `store` (feature `store`): testkit images written into a hoist store the way a pull
//!   leaves them, for tests of the store, save, export and the CLI's store commands.
//!
//! A typical integration test (hoist's side of it elided):
//!
//! ```no_run
//! use hoist_testkit::{Image, ImagePusher, TestRegistry, TokenServer};
//!
//! # async fn example() -> hoist_testkit::Result<()> {
//! let tokens = TokenServer::builder()
//!     .admin("admin", "adm1n")
//!     .user("dev", "d3v")
//!     .grant("dev", "team/*", &["pull"])
//!     .start()?;
//! let registry = TestRegistry::builder()
//!     .token_auth(tokens.auth_config())
//!     .start()
//!     .await?;
//! let image = Image::from_files(&[("hello.txt", b"hello\n")])?;
//! ImagePusher::new(&registry)
//!     .credentials("admin", "adm1n")
//!     .push_image("team/app", "v1", &image)
//!     .await?;
//! tokens.clear_requests();
//! // ... pull `registry.host()`/team/app:v1 with hoist as dev/d3v, compare with `image`,
//! // count `tokens.requests()` and `registry.access_log()` ...
//! # Ok(())
//! # }
//! ```
//!
//! HTTP clients made by the testkit ([`http_client`], [`TestCa::http_client`],
//! [`TestRegistry::client`]) never follow redirects and never use proxies, so tests see exactly
//! what the servers answer.

pub mod error;
pub mod fault;
pub mod fulcio;
pub mod image;
pub mod push;
pub mod redirect;
pub mod referrer;
pub mod registry;
pub mod schema1;
mod server;
pub mod sigstore;
pub mod skopeo;
#[cfg(feature = "store")]
pub mod store;
pub mod tls;
pub mod token;
pub mod tree;

pub use error::{Error, Result};
pub use fault::{FaultProxy, Outcome, ProxiedRequest, Rule};
pub use fulcio::{FulcioCa, FulcioCert, KeylessSigner, Leaf, RekorKey};
pub use image::{
    sha256_digest, Attrs, Blob, Image, ImageBuilder, Index, Layer, LayerBuilder, LayerEncoding,
    ManifestFormat, Platform,
};
pub use push::ImagePusher;
pub use redirect::{RecordedRequest, RedirectServer, V1OnlyServer};
pub use referrer::{referrers_tag, Artifact};
pub use registry::{unused_port, AccessLogEntry, RegistryBuilder, TestRegistry, TokenAuthConfig};
pub use schema1::{Schema1Builder, Schema1Image, TrustKey, SCHEMA1_SIGNED_MEDIA_TYPE};
pub use sigstore::{CosignKey, SignatureLayer};
pub use tls::{http_client, IssuedCert, TestCa};
pub use token::{Credentials, TokenRequest, TokenServer, TokenServerBuilder};

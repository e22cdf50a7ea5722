//! The HTTP client for container registries (the OCI distribution API, registry v2).
//!
//! Corresponds to docker 20.10's `distribution.NewV2Repository` (a `distribution.Repository`
//! with its `Manifests()`, `Blobs()` and `Tags()` services) and `registry` package (endpoints,
//! auth, ping), and is laid out like containerd's `core/remotes/docker/`: one file per role.
//!
//! | file        | owns |
//! |-------------|------|
//! | `hosts`     | host configuration: mirrors, `ca_file`, `insecure`, `certs_dirs`, meta headers |
//! | `endpoint`  | endpoint order (mirrors first for pulls), HTTPS/HTTP, the `/v2/` ping |
//! | `tls`       | rustls configuration per host (system roots, certs.d, client certificates) |
//! | `transport` | sending: User-Agent, meta headers, timeouts, proxies, safe redirects |
//! | `rate_limit` | a host that answered 429 with `Retry-After`: every request to it waits that long |
//! | `body`      | the small documents read whole (manifests, listings, tokens, errors), capped |
//! | `auth/`     | challenges, scopes, Basic, Bearer tokens and their cache, the 401 retry |
//! | `errcode`   | registry error bodies ⇒ typed [`ErrorCode`]s |
//! | `error`     | [`RegistryError`] and its retry classification |
//! | `manifests`, `blobs`, `upload`, `tags`, `delete` | the API operations |
//! | `referrers` | OCI 1.1 referrers: the referrers API, the fallback tag kept on manifest `PUT`s |
//! | `read_ahead` | [`read_ahead::READ_AHEAD`]: how many small reads a command keeps in flight |
//!
//! Use: build one [`RegistryClient`] per process (it caches pings, TLS clients and tokens), and
//! a [`RemoteRepository`] per repository. Pull-side reads go through the host's mirrors first:
//! any mirror error (unreachable, not found, unauthorized) falls through to the next endpoint
//! and finally the registry, whose error is the one returned (docker's `continueOnError` for
//! mirror endpoints). Writes go to the registry only.
//!
//! Invariants: credentials go only to the endpoint they were looked up for (never to a mirror
//! of another host, never across a redirect); nothing here panics on what a registry sends.

pub mod auth;
pub mod blobs;
pub mod body;
pub mod delete;
pub mod endpoint;
pub mod errcode;
pub mod error;
pub mod hosts;
pub mod manifests;
mod rate_limit;
pub mod read_ahead;
pub mod referrers;
pub mod tags;
pub mod tls;
pub mod transport;
pub mod upload;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use http::{Method, StatusCode};
use tokio::sync::Mutex;

pub use auth::scope::{Access, ScopeSet};
pub use auth::{CredentialLookup, StaticCredentials};
pub use blobs::BlobStream;
pub use delete::DeleteError;
pub use endpoint::{Endpoint, Purpose};
pub use errcode::{ErrorCode, RegistryErrorEntry};
pub use error::RegistryError;
pub use hosts::{HostConfig, RegistryConfig};
pub use manifests::{FetchedManifest, ManifestInfo};
pub use referrers::{referrers_tag, ReferrersSource};
pub use tags::{Catalog, TagList};
pub use upload::{BlobUpload, MountResult};

use crate::credentials::Credentials;
use auth::token::fetch_token;
use auth::Authorizer;
use endpoint::{candidates, ping, EndpointCandidate};
use rate_limit::RateLimits;
use transport::{read_error, Outgoing, Transport};

/// A registry client: configuration, transport, authorisation and the endpoints already
/// pinged. Cheap to clone (shared state).
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    authorizer: Authorizer,
    pinged: Mutex<HashMap<String, Arc<Endpoint>>>,
    rate_limits: RateLimits,
}

impl RegistryClient {
    /// A client for `config`, asking `credentials` for credentials per host.
    pub fn new(
        config: RegistryConfig,
        credentials: Arc<dyn CredentialLookup>,
    ) -> Result<RegistryClient, RegistryError> {
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                transport: Transport::new(Arc::new(config))?,
                authorizer: Authorizer::new(credentials),
                pinged: Mutex::new(HashMap::new()),
                rate_limits: RateLimits::default(),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RegistryConfig {
        self.inner.transport.config()
    }

    /// The repository `path` (`library/ubuntu`) of the registry `domain` (`docker.io`,
    /// `localhost:5000`), as `Repository::domain()` / `Repository::path()` give them.
    pub fn repository(&self, domain: &str, path: &str) -> RemoteRepository {
        RemoteRepository {
            client: self.clone(),
            domain: domain.to_string(),
            path: path.to_string(),
        }
    }

    /// Pings the registry `domain` itself (not its mirrors) and returns the endpoint admitted.
    pub async fn ping(&self, domain: &str) -> Result<Arc<Endpoint>, RegistryError> {
        let all = candidates(self.config(), domain, Purpose::Push)?;
        match all.last() {
            Some(c) => self.pinged(c).await,
            None => Err(RegistryError::Unreachable {
                host: domain.to_string(),
                attempts: String::new(),
                certificate_rejected: false,
                connection_refused: false,
            }),
        }
    }

    /// The stored credentials the client presents to the registry `domain` itself (not a
    /// mirror), or `None` for anonymous access. Push uses them for docker's v2 metadata HMAC
    /// (`ComputeV2MetadataHMACKey`); they are looked up once per host and cached.
    pub async fn credentials_for(
        &self,
        domain: &str,
    ) -> Result<Option<Credentials>, RegistryError> {
        let all = candidates(self.config(), domain, Purpose::Push)?;
        match all.last() {
            Some(c) => {
                self.inner
                    .authorizer
                    .credentials_for(&c.credential_host)
                    .await
            }
            None => Ok(None),
        }
    }

    /// Verifies `credentials` against the registry `domain` before `hoist login` stores them,
    /// as docker's `loginV2` does: ping; with a token server, fetch a token for the empty scope
    /// with these credentials asking for offline access (`offline_token=true`); then
    /// `GET /v2/` authorised, which must answer 200. Refused credentials give an
    /// `UNAUTHORIZED` [`RegistryError::Api`].
    ///
    /// When the token server returns a refresh token, it is in
    /// [`LoginCheck::identity_token`]: docker then stores it as `identitytoken` instead of the
    /// password, and so should `hoist login`.
    pub async fn check_login(
        &self,
        domain: &str,
        credentials: &Credentials,
    ) -> Result<LoginCheck, RegistryError> {
        let endpoint = self.ping(domain).await?;
        let transport = &self.inner.transport;
        let mut identity_token = None;
        let authorization = if let Some(bearer) = endpoint.challenges.iter().find(|c| c.is_bearer())
        {
            let server = auth::token_server(transport.config(), &endpoint, bearer)?;
            let token = fetch_token(
                transport,
                &server,
                &ScopeSet::empty(),
                Some(credentials),
                true,
            )
            .await?;
            identity_token = token.refresh_token.clone();
            auth::basic::bearer_header(&token.token)
        } else {
            auth::basic::basic_header(credentials)
        };
        let url = endpoint.api_url("")?;
        let response = transport
            .execute(Outgoing::new(Method::GET, url.clone()).with_authorization(authorization))
            .await?;
        if response.status() == StatusCode::OK {
            return Ok(LoginCheck { identity_token });
        }
        Err(read_error(&Method::GET, &url, response).await)
    }

    /// Runs `op` on each endpoint of `domain` for `purpose` in order until one succeeds;
    /// mirror failures fall through, the registry's own error is returned.
    pub(crate) async fn with_endpoints<T, F, Fut>(
        &self,
        domain: &str,
        purpose: Purpose,
        mut op: F,
    ) -> Result<T, RegistryError>
    where
        F: FnMut(Arc<Endpoint>) -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        let all = candidates(self.config(), domain, purpose)?;
        let mut last = None;
        for candidate in &all {
            let result = match self.pinged(candidate).await {
                Ok(endpoint) => op(endpoint).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(v) => {
                    tracing::debug!(endpoint = %candidate.host, mirror = candidate.mirror, "served by");
                    return Ok(v);
                }
                Err(e) if candidate.mirror => {
                    tracing::debug!(mirror = %candidate.host, error = %e, "mirror failed, trying next endpoint");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| RegistryError::Unreachable {
            host: domain.to_string(),
            attempts: String::new(),
            certificate_rejected: false,
            connection_refused: false,
        }))
    }

    /// Sends a request to `endpoint` with the authorisation `scopes` need.
    pub(crate) async fn send(
        &self,
        endpoint: &Endpoint,
        scopes: &ScopeSet,
        out: Outgoing,
    ) -> Result<reqwest::Response, RegistryError> {
        // A host that asked for a pause (429, `Retry-After`) gets it from every request.
        self.inner.rate_limits.wait(&endpoint.host).await;
        let response = self
            .inner
            .authorizer
            .send(&self.inner.transport, endpoint, scopes, out)
            .await?;
        let limits = &self.inner.rate_limits;
        limits.note(&endpoint.host, response.status(), response.headers());
        Ok(response)
    }

    /// The pinged endpoint for `candidate`, pinging it on first use. Failed pings are not
    /// remembered: the next operation pings again (a mirror may come back).
    async fn pinged(&self, candidate: &EndpointCandidate) -> Result<Arc<Endpoint>, RegistryError> {
        let key = candidate
            .urls
            .iter()
            .map(|u| u.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(e) = self.inner.pinged.lock().await.get(&key) {
            return Ok(e.clone());
        }
        let endpoint = Arc::new(ping(&self.inner.transport, candidate).await?);
        self.inner.pinged.lock().await.insert(key, endpoint.clone());
        Ok(endpoint)
    }
}

/// The outcome of a successful [`RegistryClient::check_login`].
#[derive(Clone, PartialEq, Eq)]
pub struct LoginCheck {
    /// A refresh token the token server issued for these credentials (docker's
    /// `IdentityToken`), to store instead of the password.
    pub identity_token: Option<String>,
}

impl std::fmt::Debug for LoginCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token = self.identity_token.as_ref().map(|_| "<redacted>");
        f.debug_struct("LoginCheck")
            .field("identity_token", &token)
            .finish()
    }
}

/// One repository of one registry: the handle the operations (`manifests`, `blobs`, `upload`,
/// `tags`) hang off. Corresponds to docker's `distribution.Repository` from `NewV2Repository`.
#[derive(Clone)]
pub struct RemoteRepository {
    client: RegistryClient,
    domain: String,
    path: String,
}

impl RemoteRepository {
    /// The registry domain (`docker.io`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path (`library/ubuntu`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Pings the registry itself (not its mirrors), as the first push request would: the
    /// endpoint is kept, so requests made at once after this one do not each ping it.
    pub async fn ping(&self) -> Result<Arc<Endpoint>, RegistryError> {
        self.client.ping(&self.domain).await
    }

    /// The scope set for `access` on this repository.
    fn scopes(&self, access: Access) -> ScopeSet {
        ScopeSet::repository(&self.path, access)
    }
}

//! Authentication: which `Authorization` a request carries, and the one retry after a 401.
//!
//! Corresponds to docker/distribution's `registry/client/auth` (`NewAuthorizer`, the token and
//! Basic handlers, `challenge.Manager`) and containerd's `remotes/docker/authorizer.go`.
//!
//! Flow for one request to an endpoint, for a [`ScopeSet`]:
//! 1. the endpoint's challenges (from its ping, or from a later 401) decide the scheme:
//!    `Bearer` ⇒ a token for the scope set, from the [`token::TokenCache`] or the token server;
//!    `Basic` ⇒ the stored user/password; none ⇒ anonymous;
//! 2. on a 401, the answer's challenges replace the endpoint's, scopes the challenge names are
//!    added, the refused token is dropped from the cache, and the request is sent once more
//!    with a fresh token (only when its body can be re-sent). Basic credentials that were
//!    refused are not retried: the 401 is the answer ("unauthorized").
//!
//! Credentials come from a [`CredentialLookup`] (the credential store implements it), asked
//! once per host, on a blocking thread. Credentials are looked up by the endpoint's host, so a
//! mirror never receives the credentials of the registry it mirrors.

pub mod basic;
pub mod challenge;
pub mod scope;
pub mod token;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use http::{HeaderValue, StatusCode};

use crate::credentials::Credentials;
use challenge::{parse_challenges, Challenge};
use scope::ScopeSet;
use token::{fetch_token, TokenCache, TokenKey, TokenServer};

use super::endpoint::Endpoint;
use super::error::RegistryError;
use super::hosts::RegistryConfig;
use super::transport::{Outgoing, Transport};

/// Where the registry client finds credentials for a host (`HOST[:PORT]`, e.g. `docker.io`
/// for Docker Hub, `registry-1.docker.io` never asked). Blocking (it may run a
/// `docker-credential-*` program); called on a blocking thread.
pub trait CredentialLookup: Send + Sync {
    /// The credentials for `registry_host`, or `None` for anonymous access.
    fn lookup(
        &self,
        registry_host: &str,
    ) -> Result<Option<Credentials>, Box<dyn std::error::Error + Send + Sync>>;
}

/// A fixed map of credentials by host (tests, `hoist login`'s verification, embedding).
#[derive(Debug, Clone, Default)]
pub struct StaticCredentials {
    by_host: HashMap<String, Credentials>,
}

impl StaticCredentials {
    /// No credentials at all.
    pub fn none() -> StaticCredentials {
        StaticCredentials::default()
    }

    /// Adds credentials for `host`.
    pub fn with(mut self, host: &str, credentials: Credentials) -> StaticCredentials {
        self.by_host.insert(host.to_string(), credentials);
        self
    }
}

impl CredentialLookup for StaticCredentials {
    fn lookup(
        &self,
        registry_host: &str,
    ) -> Result<Option<Credentials>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.by_host.get(registry_host).cloned())
    }
}

/// Decides and refreshes authorisation; one per [`super::RegistryClient`].
pub struct Authorizer {
    lookup: Arc<dyn CredentialLookup>,
    credentials: Mutex<HashMap<String, Option<Credentials>>>,
    challenges: Mutex<HashMap<String, Vec<Challenge>>>,
    tokens: TokenCache,
    /// Held while a token is fetched, so that concurrent requests needing the same token (a
    /// pull's parallel layer downloads) wait for the first fetch and then hit the cache,
    /// instead of each asking the token server.
    fetching: tokio::sync::Mutex<()>,
}

/// What a request was sent with, to decide whether a 401 is worth a retry.
enum Sent {
    Nothing,
    Basic,
    Token(TokenKey),
}

impl Authorizer {
    /// An authorizer asking `lookup` for credentials.
    pub fn new(lookup: Arc<dyn CredentialLookup>) -> Authorizer {
        Authorizer {
            lookup,
            credentials: Mutex::new(HashMap::new()),
            challenges: Mutex::new(HashMap::new()),
            tokens: TokenCache::default(),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// Sends `out` to `endpoint` with the authorisation `scopes` need; retries once on a 401
    /// that a fresh token can fix. Returns the answer whatever its status.
    pub async fn send(
        &self,
        transport: &Transport,
        endpoint: &Endpoint,
        scopes: &ScopeSet,
        out: Outgoing,
    ) -> Result<reqwest::Response, RegistryError> {
        let credentials = self.credentials_for(&endpoint.credential_host).await?;
        let challenges = self.challenges_for(endpoint);
        let retry = out.try_clone();
        let (authorization, sent) = self
            .authorization(
                transport,
                endpoint,
                &challenges,
                scopes,
                credentials.as_ref(),
            )
            .await?;
        let response = transport
            .execute(out.with_authorization(authorization))
            .await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let fresh = parse_challenges(
            response
                .headers()
                .get_all(http::header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        let Some(retry) = retry else {
            return Ok(response);
        };
        let worth_retrying = match &sent {
            Sent::Token(key) => {
                self.tokens.remove(key);
                true
            }
            Sent::Basic => false,
            Sent::Nothing => fresh
                .iter()
                .any(|c| c.is_bearer() || (c.is_basic() && credentials.is_some())),
        };
        if !worth_retrying || fresh.is_empty() {
            return Ok(response);
        }
        let mut scopes = scopes.clone();
        for c in fresh.iter().filter(|c| c.is_bearer()) {
            if let Some(s) = c.param("scope") {
                scopes.add_challenge_scope(s);
            }
        }
        self.remember_challenges(endpoint, fresh.clone());
        let (authorization, _) = self
            .authorization(transport, endpoint, &fresh, &scopes, credentials.as_ref())
            .await?;
        transport
            .execute(retry.with_authorization(authorization))
            .await
    }

    /// The header for a request under `challenges`.
    async fn authorization(
        &self,
        transport: &Transport,
        endpoint: &Endpoint,
        challenges: &[Challenge],
        scopes: &ScopeSet,
        credentials: Option<&Credentials>,
    ) -> Result<(Option<HeaderValue>, Sent), RegistryError> {
        if let Some(bearer) = challenges.iter().find(|c| c.is_bearer()) {
            let server = token_server(transport.config(), endpoint, bearer)?;
            let key = TokenKey {
                host: endpoint.host.clone(),
                server: server.clone(),
                scopes: scopes.clone(),
            };
            let token = match self.tokens.get(&key) {
                Some(t) => t,
                None => {
                    let _guard = self.fetching.lock().await;
                    match self.tokens.get(&key) {
                        Some(t) => t,
                        None => {
                            let t =
                                fetch_token(transport, &server, scopes, credentials, false).await?;
                            self.tokens.put(key.clone(), &t);
                            t.token
                        }
                    }
                }
            };
            return Ok((basic::bearer_header(&token), Sent::Token(key)));
        }
        if challenges.iter().any(Challenge::is_basic) {
            return match credentials {
                Some(c @ Credentials::Basic { .. }) => Ok((basic::basic_header(c), Sent::Basic)),
                _ => Ok((None, Sent::Nothing)),
            };
        }
        if let Some(c) = challenges.first() {
            return Err(RegistryError::UnsupportedAuth {
                host: endpoint.host.clone(),
                challenge: c.scheme.clone(),
            });
        }
        Ok((None, Sent::Nothing))
    }

    fn challenges_for(&self, endpoint: &Endpoint) -> Vec<Challenge> {
        self.challenges
            .lock()
            .ok()
            .and_then(|m| m.get(endpoint.base.as_str()).cloned())
            .unwrap_or_else(|| endpoint.challenges.clone())
    }

    fn remember_challenges(&self, endpoint: &Endpoint, challenges: Vec<Challenge>) {
        if let Ok(mut m) = self.challenges.lock() {
            m.insert(endpoint.base.to_string(), challenges);
        }
    }

    /// The stored credentials for `host`, asked once.
    pub(crate) async fn credentials_for(
        &self,
        host: &str,
    ) -> Result<Option<Credentials>, RegistryError> {
        if let Some(c) = self
            .credentials
            .lock()
            .ok()
            .and_then(|m| m.get(host).cloned())
        {
            return Ok(c);
        }
        let lookup = self.lookup.clone();
        let key = host.to_string();
        let found =
            tokio::task::spawn_blocking(move || lookup.lookup(&key).map_err(|e| e.to_string()))
                .await
                .map_err(|e| RegistryError::Credentials {
                    host: host.to_string(),
                    reason: e.to_string(),
                })?
                .map_err(|reason| RegistryError::Credentials {
                    host: host.to_string(),
                    reason,
                })?;
        if let Ok(mut m) = self.credentials.lock() {
            m.insert(host.to_string(), found.clone());
        }
        Ok(found)
    }
}

/// The token server of a Bearer challenge; a realm is required.
///
/// A plain-HTTP realm named by an endpoint reached over HTTPS is refused
/// ([`RegistryError::InsecureRealm`]) unless the endpoint's host is configured `insecure`:
/// the token request carries the stored credentials (Basic, or the refresh token of an OAuth2
/// POST), and the token it returns authorises every request to the registry, so sending it
/// over HTTP would undo the registry's TLS. Neither docker nor containerd checks this; the
/// loopback exemption plain-HTTP registries get does not apply either, since the realm may
/// be anywhere.
pub fn token_server(
    config: &RegistryConfig,
    endpoint: &Endpoint,
    bearer: &Challenge,
) -> Result<TokenServer, RegistryError> {
    let realm = bearer
        .param("realm")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| RegistryError::UnsupportedAuth {
            host: endpoint.host.clone(),
            challenge: "Bearer challenge without realm".into(),
        })?;
    let clear_text = endpoint.base.scheme() == "https"
        && realm
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
    let insecure =
        config.host(&endpoint.credential_host).insecure || config.host(&endpoint.host).insecure;
    if clear_text && !insecure {
        return Err(RegistryError::InsecureRealm {
            host: endpoint.host.clone(),
            realm: realm.to_string(),
            config_key: endpoint.credential_host.clone(),
        });
    }
    Ok(TokenServer {
        realm: realm.to_string(),
        service: bearer.param("service").unwrap_or("").to_string(),
    })
}

#[cfg(test)]
mod tests;

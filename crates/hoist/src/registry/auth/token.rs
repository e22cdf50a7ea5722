//! Bearer tokens: fetching them from the token server a `Bearer` challenge names, and caching
//! them per (registry host, realm, service, scope set).
//!
//! Corresponds to docker/distribution's `registry/client/auth/session.go` (`tokenHandler`):
//! - with Basic credentials (or none): `GET realm?service=S&scope=A&scope=B&account=USER` with
//!   HTTP Basic (`fetchTokenWithBasicAuth`);
//! - with an identity token: OAuth2 `POST realm` with `grant_type=refresh_token`,
//!   `refresh_token`, `service`, `scope` (space-separated) and `client_id`
//!   (`fetchTokenWithOAuth`).
//!
//! Lifetime: `expires_in` seconds, at least 60 s (docker's `minimumTokenLifetimeSeconds`), and
//! 60 s when absent. A cached token is dropped a few seconds before it expires.
//!
//! The answer is read under [`Document::Token`]'s cap: a realm answering an endless body
//! stops at 1 MiB with [`RegistryError::BodyTooLarge`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{HeaderMap, Method};
use serde::Deserialize;
use url::Url;

use super::basic::basic_header;
use super::scope::ScopeSet;
use crate::credentials::Credentials;
use crate::registry::body::{read_document, Document};
use crate::registry::error::RegistryError;
use crate::registry::transport::{read_error, OutBody, Outgoing, Transport};

/// docker's `minimumTokenLifetimeSeconds`.
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// Tokens are dropped this long before their announced expiry, so a request never leaves with
/// a token that expires on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(5);

/// The OAuth2 `client_id` hoist presents (docker presents `docker`).
const CLIENT_ID: &str = "hoist";

/// Where to ask for a token: the `realm` and `service` of a Bearer challenge.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenServer {
    /// The realm URL.
    pub realm: String,
    /// The `service` parameter (may be empty).
    pub service: String,
}

/// A token as the token server answered it.
#[derive(Debug, Clone)]
pub struct Token {
    /// The bearer token.
    pub token: String,
    /// How long it is valid (already raised to the minimum).
    pub lifetime: Duration,
    /// A refresh token, when the server returned one (`offline_token=true`).
    pub refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// Fetches a token for `scopes` from `server` with `credentials`.
/// `offline` asks for a refresh token (`offline_token=true`, as docker's login does).
pub async fn fetch_token(
    transport: &Transport,
    server: &TokenServer,
    scopes: &ScopeSet,
    credentials: Option<&Credentials>,
    offline: bool,
) -> Result<Token, RegistryError> {
    let realm = Url::parse(&server.realm).map_err(|e| RegistryError::Url {
        url: server.realm.clone(),
        reason: e.to_string(),
    })?;
    if !matches!(realm.scheme(), "http" | "https") {
        return Err(RegistryError::Url {
            url: server.realm.clone(),
            reason: "token realm must be http or https".into(),
        });
    }
    let out = match credentials {
        Some(Credentials::IdentityToken { token, .. }) => {
            oauth_request(realm, server, scopes, token)
        }
        other => basic_request(realm, server, scopes, other, offline),
    }
    .with_deadline(transport.config().document_timeout);
    let method = out.method.clone();
    let url = out.url.clone();
    let response = transport.execute(out).await?;
    if !response.status().is_success() {
        return Err(read_error(&method, &url, response).await);
    }
    let body = read_document(&method, &url, response, Document::Token).await?;
    parse_token_response(&server.realm, &body)
}

fn basic_request(
    mut realm: Url,
    server: &TokenServer,
    scopes: &ScopeSet,
    credentials: Option<&Credentials>,
    offline: bool,
) -> Outgoing {
    {
        let mut q = realm.query_pairs_mut();
        if !server.service.is_empty() {
            q.append_pair("service", &server.service);
        }
        for scope in scopes.to_strings() {
            q.append_pair("scope", &scope);
        }
        if let Some(Credentials::Basic { username, .. }) = credentials {
            q.append_pair("account", username);
        }
        if offline {
            q.append_pair("offline_token", "true");
            q.append_pair("client_id", CLIENT_ID);
        }
    }
    let authorization = credentials.and_then(basic_header);
    Outgoing::new(Method::GET, realm).with_authorization(authorization)
}

fn oauth_request(
    realm: Url,
    server: &TokenServer,
    scopes: &ScopeSet,
    refresh_token: &str,
) -> Outgoing {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", refresh_token)
        .append_pair("service", &server.service)
        .append_pair("scope", &scopes.to_string())
        .append_pair("client_id", CLIENT_ID)
        .finish();
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
    );
    let mut out = Outgoing::new(Method::POST, realm);
    out.headers = headers;
    out.body = OutBody::Bytes(body.into());
    out
}

/// Decodes a token server answer: `token` or `access_token`, `expires_in`, `refresh_token`.
pub fn parse_token_response(realm: &str, body: &[u8]) -> Result<Token, RegistryError> {
    let r: TokenResponse = serde_json::from_slice(body).map_err(|e| RegistryError::Token {
        realm: realm.to_string(),
        reason: format!("answer is not a token: {e}"),
    })?;
    let token = if r.token.is_empty() {
        r.access_token
    } else {
        r.token
    };
    if token.is_empty() {
        return Err(RegistryError::Token {
            realm: realm.to_string(),
            reason: "answer holds no token".into(),
        });
    }
    let lifetime = Duration::from_secs(r.expires_in.unwrap_or(0)).max(MIN_TOKEN_LIFETIME);
    Ok(Token {
        token,
        lifetime,
        refresh_token: r.refresh_token.filter(|t| !t.is_empty()),
    })
}

/// The cache key: the same scopes at the same token server for the same registry host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenKey {
    /// The registry host the token is for (credentials are per host).
    pub host: String,
    /// The token server.
    pub server: TokenServer,
    /// The scopes.
    pub scopes: ScopeSet,
}

/// Tokens by [`TokenKey`], each until its expiry.
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<TokenKey, (String, Instant)>>,
}

impl TokenCache {
    /// A cached, still valid token.
    pub fn get(&self, key: &TokenKey) -> Option<String> {
        let mut entries = self.entries.lock().ok()?;
        match entries.get(key) {
            Some((token, until)) if Instant::now() < *until => Some(token.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Stores a token for its lifetime.
    pub fn put(&self, key: TokenKey, token: &Token) {
        let until = Instant::now() + token.lifetime.saturating_sub(EXPIRY_MARGIN);
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(key, (token.token.clone(), until));
        }
    }

    /// Forgets a token the registry refused.
    pub fn remove(&self, key: &TokenKey) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_expiry_is_raised_to_sixty_seconds() {
        let t = parse_token_response("r", br#"{"token":"t","expires_in":10}"#).unwrap();
        assert_eq!(t.lifetime, Duration::from_secs(60));
    }

    #[test]
    fn missing_expiry_means_sixty_seconds() {
        let t = parse_token_response("r", br#"{"token":"t"}"#).unwrap();
        assert_eq!(t.lifetime, MIN_TOKEN_LIFETIME);
    }

    #[test]
    fn long_expiry_is_kept() {
        let t = parse_token_response("r", br#"{"token":"t","expires_in":300}"#).unwrap();
        assert_eq!(t.lifetime, Duration::from_secs(300));
    }

    #[test]
    fn access_token_is_accepted() {
        let t = parse_token_response("r", br#"{"access_token":"a","refresh_token":"rt"}"#).unwrap();
        assert_eq!(t.token, "a");
        assert_eq!(t.refresh_token.as_deref(), Some("rt"));
    }

    #[test]
    fn answer_without_token_is_an_error() {
        let e = parse_token_response("https://t/token", br#"{"expires_in":300}"#).unwrap_err();
        assert!(e.to_string().contains("no token"), "{e}");
    }

    #[test]
    fn cache_returns_token_until_removed() {
        let cache = TokenCache::default();
        let key = TokenKey {
            host: "h".into(),
            server: TokenServer {
                realm: "r".into(),
                service: "s".into(),
            },
            scopes: ScopeSet::empty(),
        };
        cache.put(
            key.clone(),
            &Token {
                token: "x".into(),
                lifetime: MIN_TOKEN_LIFETIME,
                refresh_token: None,
            },
        );
        assert_eq!(cache.get(&key).as_deref(), Some("x"));
        cache.remove(&key);
        assert!(cache.get(&key).is_none());
    }
}

//! A real Docker token server for tests: [`TokenServer`].
//!
//! It implements the token protocol docker's registry client (`registry/auth`, the
//! `tokenHandler` of docker/distribution) speaks, against which a [`crate::TestRegistry`]
//! configured with `auth.token` checks every request:
//!
//! - `GET /token?service=S&scope=T:NAME:ACTIONS&scope=…[&offline_token=true]`, anonymous or
//!   with Basic auth; several `scope` parameters (or space-separated scopes) at once.
//!   Answers `{"token", "access_token", "expires_in", "issued_at"[, "refresh_token"]}`.
//! - `POST /token` (OAuth2, form-encoded): `grant_type=password` with `username`/`password`
//!   (and `access_type=offline` for a `refresh_token`), or `grant_type=refresh_token` with
//!   `refresh_token`; `scope` is space-separated. Answers `{"access_token", "expires_in",
//!   "issued_at", "scope"[, "refresh_token"]}`.
//!
//! Invalid credentials (wrong password, unknown user, unknown refresh token) get `401` with a
//! registry-style error body; malformed requests get `400`.
//!
//! Tokens are ES256 JWTs accepted by distribution 2.8's `registry/auth/token` verifier: header
//! `x5c` = [the signing certificate, standard base64 DER], which chains to `rootcertbundle`
//! (that same self-signed certificate, written to [`TokenServer::cert_path`]); claims `iss`
//! (the issuer), `aud` (the service, as a string), `sub`, `exp`/`nbf`/`iat`, `jti` and
//! `access`.
//!
//! Policy: users with passwords, and grants (repository pattern → actions) per user and for
//! anonymous clients. A token carries only the intersection of what was asked and what is
//! granted, which is how per-repository token scope is tested: a token for `a` is refused by the
//! registry for `b` (`insufficient_scope`).
//!
//! It serves plain HTTP, or HTTPS with a certificate of a [`crate::TestCa`]
//! ([`TokenServerBuilder::tls`]), as the token server of a registry served over TLS is.
//!
//! Every request is recorded as a [`TokenRequest`] so tests can assert token caching ("one token
//! request for three manifest GETs"). Passwords are never recorded.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use axum::routing::get;
use axum::Router;
use base64::Engine;
use rcgen::{CertificateParams, DnType, KeyPair};
use tempfile::TempDir;

use crate::error::{Error, Result};
use crate::registry::TokenAuthConfig;
use crate::server::BackgroundServer;
use crate::tls::IssuedCert;

mod policy;
mod protocol;

use policy::{Grant, Policy};
use protocol::{get_token, post_token};

/// Default `service` (the registry's name, the token's `aud`).
pub const DEFAULT_SERVICE: &str = "hoist-testkit-registry";
/// Default `issuer` (the token's `iss`).
pub const DEFAULT_ISSUER: &str = "hoist-testkit-token-server";

/// How the credentials of a token request fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// None were sent: anonymous grants apply.
    None,
    /// Valid user/password or refresh token.
    Valid,
    /// Wrong password, unknown user or unknown refresh token: answered 401.
    Invalid,
}

/// One request the token server received.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// When it arrived.
    pub at: SystemTime,
    /// `GET` or `POST`.
    pub method: String,
    /// The OAuth2 `grant_type` of a POST (`password`, `refresh_token`), `None` for GET.
    pub grant_type: Option<String>,
    /// The `service` asked for.
    pub service: Option<String>,
    /// The scopes asked for, one per entry (`repository:NAME:pull,push`).
    pub scopes: Vec<String>,
    /// The user name presented (Basic, form `username`, or the refresh token's owner).
    pub user: Option<String>,
    /// Whether the credentials were valid.
    pub credentials: Credentials,
    /// Whether a refresh token was asked for (`offline_token=true` / `access_type=offline`).
    pub offline: bool,
    /// The scopes the issued token carries (empty when refused).
    pub granted: Vec<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// The token was made invalid on purpose ([`TokenServer::issue_invalid_tokens`]).
    pub deliberately_invalid: bool,
}

/// Configures a [`TokenServer`]; obtain with [`TokenServer::builder`].
#[derive(Debug, Clone)]
pub struct TokenServerBuilder {
    users: HashMap<String, String>,
    grants: Vec<Grant>,
    expires_in: u64,
    service: String,
    issuer: String,
    tls: Option<IssuedCert>,
}

impl TokenServerBuilder {
    /// Adds a user (no grants by itself).
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.insert(name.to_string(), password.to_string());
        self
    }

    /// Adds a user granted every action on everything (`*` → `*`), e.g. for seeding images.
    pub fn admin(self, name: &str, password: &str) -> Self {
        self.user(name, password).grant(name, "*", &["*"])
    }

    /// Grants `user` the `actions` (`pull`, `push`, `delete`, `*`) on repositories matching
    /// `pattern` (`*`, `prefix/*`, or an exact name).
    pub fn grant(mut self, user: &str, pattern: &str, actions: &[&str]) -> Self {
        self.grants.push(Grant {
            user: Some(user.to_string()),
            pattern: pattern.to_string(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        });
        self
    }

    /// Grants anonymous clients (no credentials) `actions` on repositories matching `pattern`.
    pub fn grant_anonymous(mut self, pattern: &str, actions: &[&str]) -> Self {
        self.grants.push(Grant {
            user: None,
            pattern: pattern.to_string(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        });
        self
    }

    /// The `expires_in` of issued tokens, in seconds (default 300). The JWT's `exp` matches it.
    pub fn expires_in(mut self, seconds: u64) -> Self {
        self.expires_in = seconds;
        self
    }

    /// The service name (default [`DEFAULT_SERVICE`]).
    pub fn service(mut self, service: &str) -> Self {
        self.service = service.to_string();
        self
    }

    /// Serves HTTPS with `cert` (e.g. [`TestCa::server_cert`](crate::TestCa::server_cert)),
    /// so the realm is `https://127.0.0.1:PORT/token`, as a registry served over TLS has it.
    pub fn tls(mut self, cert: IssuedCert) -> Self {
        self.tls = Some(cert);
        self
    }

    /// Generates the signing key and certificate and starts serving on `127.0.0.1`.
    pub fn start(self) -> Result<TokenServer> {
        let dir = tempfile::Builder::new()
            .prefix("hoist-tokenserver-")
            .tempdir()
            .map_err(|e| Error::io("creating the token server directory", e))?;
        let key = KeyPair::generate().map_err(|e| Error::cert("token signing key", e))?;
        let mut params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| Error::cert("token signing", e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "hoist testkit token signer");
        let cert = params
            .self_signed(&key)
            .map_err(|e| Error::cert("token signing", e))?;
        let cert_path = dir.path().join("token-signer.crt");
        std::fs::write(&cert_path, cert.pem())
            .map_err(|e| Error::io(format!("writing {}", cert_path.display()), e))?;
        let state = Arc::new(Shared {
            policy: Mutex::new(Policy {
                users: self.users,
                grants: self.grants,
                expires_in: self.expires_in,
            }),
            signing_key: jsonwebtoken::EncodingKey::from_ec_der(&key.serialize_der()),
            x5c: base64::engine::general_purpose::STANDARD.encode(cert.der()),
            service: self.service,
            issuer: self.issuer,
            refresh_tokens: Mutex::new(HashMap::new()),
            invalid_next: Mutex::new(0),
            log: Mutex::new(Vec::new()),
        });
        let router = Router::new()
            .route("/token", get(get_token).post(post_token))
            .with_state(state.clone());
        let server = match &self.tls {
            None => BackgroundServer::start("127.0.0.1", router)?,
            Some(cert) => BackgroundServer::start_tls("127.0.0.1", router, server_config(cert)?)?,
        };
        Ok(TokenServer {
            server,
            state,
            _dir: dir,
            cert_path,
            https: self.tls.is_some(),
        })
    }
}

/// A running token server; stops when dropped. See the module docs.
pub struct TokenServer {
    server: BackgroundServer,
    state: Arc<Shared>,
    _dir: TempDir,
    cert_path: PathBuf,
    /// Served over TLS ([`TokenServerBuilder::tls`]).
    https: bool,
}

/// The rustls server configuration (ring provider) presenting `cert`.
fn server_config(cert: &IssuedCert) -> Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(cert.cert_der.clone())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_der.clone())),
    )
    .map_err(|e| Error::Tls(format!("token server certificate: {e}")))?;
    Ok(Arc::new(config))
}

impl std::fmt::Debug for TokenServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenServer")
            .field("addr", &self.server.addr())
            .field("service", &self.state.service)
            .finish_non_exhaustive()
    }
}

impl TokenServer {
    /// A builder with no users, no grants, `expires_in` 300 s.
    pub fn builder() -> TokenServerBuilder {
        TokenServerBuilder {
            users: HashMap::new(),
            grants: Vec::new(),
            expires_in: 300,
            service: DEFAULT_SERVICE.to_string(),
            issuer: DEFAULT_ISSUER.to_string(),
            tls: None,
        }
    }

    /// `http://127.0.0.1:PORT` (no path; `https://` when served over TLS).
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.server.addr())
    }

    /// `127.0.0.1:PORT`: the host to configure trust for when served over TLS.
    pub fn host(&self) -> String {
        self.server.addr().to_string()
    }

    /// The realm clients are sent to: `http://127.0.0.1:PORT/token` (`https://` over TLS).
    pub fn realm(&self) -> String {
        format!("{}/token", self.url())
    }

    /// The service name (the tokens' `aud`).
    pub fn service(&self) -> &str {
        &self.state.service
    }

    /// The issuer name (the tokens' `iss`).
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// The PEM of the signing certificate: the registry's `rootcertbundle`.
    pub fn cert_path(&self) -> PathBuf {
        self.cert_path.clone()
    }

    /// The `auth.token` settings for [`crate::RegistryBuilder::token_auth`].
    pub fn auth_config(&self) -> TokenAuthConfig {
        TokenAuthConfig {
            realm: self.realm(),
            service: self.service().to_string(),
            issuer: self.issuer().to_string(),
            rootcertbundle: self.cert_path(),
        }
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<TokenRequest> {
        lock(&self.state.log).clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.state.log).clear();
    }

    /// Changes `expires_in` for tokens issued from now on.
    pub fn set_expires_in(&self, seconds: u64) {
        lock(&self.state.policy).expires_in = seconds;
    }

    /// Makes the next `count` tokens (answered 200 as usual) carry an audience the registry
    /// does not accept, so the registry answers 401 to them: for testing "a 401 after a token
    /// retries once with a fresh token". Their [`TokenRequest::deliberately_invalid`] is set.
    pub fn issue_invalid_tokens(&self, count: usize) {
        *lock(&self.state.invalid_next) = count;
    }

    /// Invalidates every refresh token issued so far.
    pub fn revoke_refresh_tokens(&self) {
        lock(&self.state.refresh_tokens).clear();
    }
}

pub(crate) struct Shared {
    policy: Mutex<Policy>,
    signing_key: jsonwebtoken::EncodingKey,
    x5c: String,
    service: String,
    issuer: String,
    /// refresh token → user.
    refresh_tokens: Mutex<HashMap<String, String>>,
    log: Mutex<Vec<TokenRequest>>,
    /// How many of the next issued tokens get a wrong `aud` on purpose.
    invalid_next: Mutex<usize>,
}

/// A poisoned lock only means another test thread panicked; the data is still usable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

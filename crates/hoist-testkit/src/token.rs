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
//! Every request is recorded as a [`TokenRequest`] so tests can assert token caching ("one token
//! request for three manifest GETs"). Passwords are never recorded.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use rcgen::{CertificateParams, DnType, KeyPair};
use serde::Serialize;
use serde_json::json;
use tempfile::TempDir;

use crate::error::{Error, Result};
use crate::registry::TokenAuthConfig;
use crate::server::BackgroundServer;

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
}

/// One grant: repositories matching `pattern` may get `actions`.
#[derive(Debug, Clone)]
struct Grant {
    /// `None` for anonymous clients.
    user: Option<String>,
    pattern: String,
    actions: Vec<String>,
}

impl Grant {
    /// `*` matches every resource of every type (also `registry:catalog:*`); `prefix/*` matches
    /// repositories under `prefix/`; anything else matches one repository exactly.
    fn matches(&self, resource_type: &str, name: &str) -> bool {
        if self.pattern == "*" {
            return true;
        }
        if resource_type != "repository" {
            return false;
        }
        match self.pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == self.pattern,
        }
    }
}

/// Configures a [`TokenServer`]; obtain with [`TokenServer::builder`].
#[derive(Debug, Clone)]
pub struct TokenServerBuilder {
    users: HashMap<String, String>,
    grants: Vec<Grant>,
    expires_in: u64,
    service: String,
    issuer: String,
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
            log: Mutex::new(Vec::new()),
        });
        let router = Router::new()
            .route("/token", get(get_token).post(post_token))
            .with_state(state.clone());
        let server = BackgroundServer::start("127.0.0.1", router)?;
        Ok(TokenServer {
            server,
            state,
            _dir: dir,
            cert_path,
        })
    }
}

/// A running token server; stops when dropped. See the module docs.
pub struct TokenServer {
    server: BackgroundServer,
    state: Arc<Shared>,
    _dir: TempDir,
    cert_path: PathBuf,
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
        }
    }

    /// `http://127.0.0.1:PORT` (no path).
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The realm clients are sent to: `http://127.0.0.1:PORT/token`.
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

    /// Invalidates every refresh token issued so far.
    pub fn revoke_refresh_tokens(&self) {
        lock(&self.state.refresh_tokens).clear();
    }
}

struct Policy {
    users: HashMap<String, String>,
    grants: Vec<Grant>,
    expires_in: u64,
}

struct Shared {
    policy: Mutex<Policy>,
    signing_key: jsonwebtoken::EncodingKey,
    x5c: String,
    service: String,
    issuer: String,
    /// refresh token → user.
    refresh_tokens: Mutex<HashMap<String, String>>,
    log: Mutex<Vec<TokenRequest>>,
}

/// A poisoned lock only means another test thread panicked; the data is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One parsed scope: `type:name:actions`. The type may carry a class (`repository(plugin)`);
/// split at the first and the last colon.
#[derive(Debug, Clone)]
struct Scope {
    resource_type: String,
    name: String,
    actions: Vec<String>,
}

impl Scope {
    fn parse(s: &str) -> Option<Scope> {
        let (resource_type, rest) = s.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        Some(Scope {
            resource_type: resource_type.to_string(),
            name: name.to_string(),
            actions: actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }
}

/// The request's fields common to GET and POST.
struct Ask {
    method: &'static str,
    grant_type: Option<String>,
    service: Option<String>,
    scopes: Vec<String>,
    offline: bool,
}

#[derive(Serialize)]
struct Access {
    #[serde(rename = "type")]
    resource_type: String,
    name: String,
    actions: Vec<String>,
}

#[derive(Serialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    access: Vec<Access>,
}

async fn get_token(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let ask = Ask {
        method: "GET",
        grant_type: None,
        service: param(&params, "service"),
        scopes: scopes(&params),
        offline: param(&params, "offline_token").as_deref() == Some("true"),
    };
    let basic = basic_credentials(&headers);
    let (user, credentials) = match &basic {
        None => (None, Credentials::None),
        Some((u, p)) => (Some(u.clone()), check_password(&state, u, p)),
    };
    respond(&state, ask, user, credentials, false)
}

async fn post_token(
    State(state): State<Arc<Shared>>,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    let grant_type = param(&params, "grant_type");
    let ask = Ask {
        method: "POST",
        grant_type: grant_type.clone(),
        service: param(&params, "service"),
        scopes: scopes(&params),
        offline: param(&params, "access_type").as_deref() == Some("offline"),
    };
    let (user, credentials) = match grant_type.as_deref() {
        Some("password") => {
            let user = param(&params, "username").unwrap_or_default();
            let password = param(&params, "password").unwrap_or_default();
            let check = check_password(&state, &user, &password);
            (Some(user), check)
        }
        Some("refresh_token") => {
            let token = param(&params, "refresh_token").unwrap_or_default();
            match lock(&state.refresh_tokens).get(&token) {
                Some(user) => (Some(user.clone()), Credentials::Valid),
                None => (None, Credentials::Invalid),
            }
        }
        _ => {
            record(&state, &ask, None, Credentials::None, Vec::new(), 400);
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "unsupported_grant_type"})),
            )
                .into_response();
        }
    };
    let is_refresh = grant_type.as_deref() == Some("refresh_token");
    respond(&state, ask, user, credentials, is_refresh)
}

/// Issues (or refuses) a token and records the request.
fn respond(
    state: &Shared,
    ask: Ask,
    user: Option<String>,
    credentials: Credentials,
    used_refresh_token: bool,
) -> Response {
    if credentials == Credentials::Invalid {
        record(state, &ask, user, credentials, Vec::new(), 401);
        let body = json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required", "detail": null}]});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    if let Some(service) = &ask.service {
        if service != &state.service {
            record(state, &ask, user, credentials, Vec::new(), 400);
            let body = json!({"errors": [{"code": "DENIED", "message": format!("unknown service {service:?}")}]});
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
    }
    let (access, expires_in) = {
        let policy = lock(&state.policy);
        (
            grant_access(&policy, user.as_deref(), &ask.scopes),
            policy.expires_in,
        )
    };
    let granted: Vec<String> = access
        .iter()
        .map(|a| format!("{}:{}:{}", a.resource_type, a.name, a.actions.join(",")))
        .collect();
    let token = match sign(state, user.as_deref().unwrap_or(""), access, expires_in) {
        Ok(t) => t,
        Err(e) => {
            record(state, &ask, user, credentials, Vec::new(), 500);
            return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
        }
    };
    let now = SystemTime::now();
    let mut body = json!({
        "access_token": token,
        "expires_in": expires_in,
        "issued_at": rfc3339(now),
    });
    if ask.method == "GET" {
        body["token"] = json!(token);
    } else {
        body["scope"] = json!(ask.scopes.join(" "));
    }
    if let (Some(u), Credentials::Valid) = (&user, credentials) {
        if used_refresh_token {
            if let Some((t, _)) = lock(&state.refresh_tokens)
                .iter()
                .find(|(_, owner)| *owner == u)
            {
                body["refresh_token"] = json!(t);
            }
        } else if ask.offline {
            let refresh = random_id();
            lock(&state.refresh_tokens).insert(refresh.clone(), u.clone());
            body["refresh_token"] = json!(refresh);
        }
    }
    record(state, &ask, user, credentials, granted, 200);
    (StatusCode::OK, Json(body)).into_response()
}

/// The intersection of the asked scopes with the user's (or anonymous) grants.
fn grant_access(policy: &Policy, user: Option<&str>, asked: &[String]) -> Vec<Access> {
    let mut out: Vec<Access> = Vec::new();
    for scope in asked.iter().filter_map(|s| Scope::parse(s)) {
        let mut actions: Vec<String> = Vec::new();
        for grant in policy
            .grants
            .iter()
            .filter(|g| g.user.as_deref() == user && g.matches(&scope.resource_type, &scope.name))
        {
            for action in &scope.actions {
                let allowed = grant.actions.iter().any(|a| a == "*" || a == action);
                if allowed && !actions.contains(action) {
                    actions.push(action.clone());
                }
            }
        }
        if actions.is_empty() {
            continue;
        }
        match out
            .iter_mut()
            .find(|a| a.resource_type == scope.resource_type && a.name == scope.name)
        {
            Some(existing) => {
                for a in actions {
                    if !existing.actions.contains(&a) {
                        existing.actions.push(a);
                    }
                }
            }
            None => out.push(Access {
                resource_type: scope.resource_type,
                name: scope.name,
                actions,
            }),
        }
    }
    out
}

fn sign(state: &Shared, subject: &str, access: Vec<Access>, expires_in: u64) -> Result<String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let claims = Claims {
        iss: state.issuer.clone(),
        sub: subject.to_string(),
        aud: state.service.clone(),
        exp: now + expires_in,
        nbf: now,
        iat: now,
        jti: random_id(),
        access,
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.x5c = Some(vec![state.x5c.clone()]);
    Ok(jsonwebtoken::encode(&header, &claims, &state.signing_key)?)
}

fn check_password(state: &Shared, user: &str, password: &str) -> Credentials {
    match lock(&state.policy).users.get(user) {
        Some(p) if p == password => Credentials::Valid,
        _ => Credentials::Invalid,
    }
}

fn record(
    state: &Shared,
    ask: &Ask,
    user: Option<String>,
    credentials: Credentials,
    granted: Vec<String>,
    status: u16,
) {
    lock(&state.log).push(TokenRequest {
        at: SystemTime::now(),
        method: ask.method.to_string(),
        grant_type: ask.grant_type.clone(),
        service: ask.service.clone(),
        scopes: ask.scopes.clone(),
        user,
        credentials,
        offline: ask.offline,
        granted,
        status,
    });
}

fn param(params: &[(String, String)], key: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

/// Every `scope` parameter, each split at spaces (POST joins scopes with spaces).
fn scopes(params: &[(String, String)]) -> Vec<String> {
    params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn random_id() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}

/// RFC 3339 UTC timestamp (`issued_at`), without a date crate.
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_a_known_instant() {
        let t = UNIX_EPOCH + Duration::from_secs(1_798_338_896);
        assert_eq!(rfc3339(t), "2026-12-27T02:34:56Z");
    }

    #[test]
    fn scope_with_class_and_several_actions_is_parsed() {
        let s = Scope::parse("repository(plugin):team/x:pull,push").unwrap();
        assert_eq!(s.resource_type, "repository(plugin)");
        assert_eq!(s.name, "team/x");
        assert_eq!(s.actions, vec!["pull", "push"]);
    }

    #[test]
    fn token_carries_only_the_intersection_of_asked_and_granted() {
        let policy = Policy {
            users: HashMap::new(),
            grants: vec![Grant {
                user: Some("u".into()),
                pattern: "team/*".into(),
                actions: vec!["pull".into()],
            }],
            expires_in: 60,
        };
        let asked = vec![
            "repository:team/a:pull,push".to_string(),
            "repository:other/b:pull".to_string(),
        ];
        let got = grant_access(&policy, Some("u"), &asked);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "team/a");
        assert_eq!(got[0].actions, vec!["pull"]);
        assert!(grant_access(&policy, None, &asked).is_empty());
    }
}

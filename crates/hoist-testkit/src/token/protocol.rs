//! The HTTP side of the token server: the GET and OAuth2 POST handlers, JWT signing, and the
//! request log. See the parent module for the protocol.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::Serialize;
use serde_json::json;

use super::policy::{grant_access, Access};
use super::{lock, Credentials, Shared, TokenRequest};
use crate::error::Result;

/// The request's fields common to GET and POST.
struct Ask {
    method: &'static str,
    grant_type: Option<String>,
    service: Option<String>,
    scopes: Vec<String>,
    offline: bool,
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

pub(super) async fn get_token(
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

pub(super) async fn post_token(
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
            record(
                &state,
                &ask,
                None,
                Credentials::None,
                Vec::new(),
                400,
                false,
            );
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
        record(state, &ask, user, credentials, Vec::new(), 401, false);
        let body = json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required", "detail": null}]});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    if let Some(service) = &ask.service {
        if service != &state.service {
            record(state, &ask, user, credentials, Vec::new(), 400, false);
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
    let (token, sabotaged) = match sign(state, user.as_deref().unwrap_or(""), access, expires_in) {
        Ok(signed) => signed,
        Err(e) => {
            record(state, &ask, user, credentials, Vec::new(), 500, false);
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
    record(state, &ask, user, credentials, granted, 200, sabotaged);
    (StatusCode::OK, Json(body)).into_response()
}

/// Signs a token; returns it and whether it was made invalid on purpose.
fn sign(
    state: &Shared,
    subject: &str,
    access: Vec<Access>,
    expires_in: u64,
) -> Result<(String, bool)> {
    let sabotage = {
        let mut left = lock(&state.invalid_next);
        let s = *left > 0;
        *left = left.saturating_sub(1);
        s
    };
    let audience = if sabotage {
        format!("{}-not-this-registry", state.service)
    } else {
        state.service.clone()
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let claims = Claims {
        iss: state.issuer.clone(),
        sub: subject.to_string(),
        aud: audience,
        exp: now + expires_in,
        nbf: now,
        iat: now,
        jti: random_id(),
        access,
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.x5c = Some(vec![state.x5c.clone()]);
    Ok((
        jsonwebtoken::encode(&header, &claims, &state.signing_key)?,
        sabotage,
    ))
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
    deliberately_invalid: bool,
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
        deliberately_invalid,
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
}

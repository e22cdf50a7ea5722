//! HTTP Basic authorisation values (RFC 7617), for registries that answer a `Basic` challenge
//! and for token servers (docker's `basicHandler` and the token handler's `SetBasicAuth`).

use base64::Engine;
use http::HeaderValue;

use crate::credentials::Credentials;

/// `Basic base64(user:password)` for Basic credentials; `None` for an identity token, which is
/// never sent as Basic (it is exchanged with the OAuth2 refresh-token flow instead).
pub fn basic_header(credentials: &Credentials) -> Option<HeaderValue> {
    match credentials {
        Credentials::Basic { username, password } => basic_header_for(username, password),
        Credentials::IdentityToken { .. } => None,
    }
}

/// `Basic base64(user:password)`, marked sensitive so it is never logged by the HTTP stack.
pub fn basic_header_for(username: &str, password: &str) -> Option<HeaderValue> {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// `Bearer TOKEN`, marked sensitive. `None` when the token holds bytes a header cannot.
pub fn bearer_header(token: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_user_and_password() {
        let v = basic_header(&Credentials::Basic {
            username: "aladdin".into(),
            password: "opensesame".into(),
        });
        assert_eq!(
            v.unwrap().to_str().unwrap(),
            "Basic YWxhZGRpbjpvcGVuc2VzYW1l"
        );
    }

    #[test]
    fn identity_token_is_never_basic() {
        let v = basic_header(&Credentials::IdentityToken {
            username: "u".into(),
            token: "t".into(),
        });
        assert!(v.is_none());
    }

    #[test]
    fn header_is_sensitive() {
        assert!(bearer_header("abc").unwrap().is_sensitive());
    }
}

//! One entry of an `auths` map, as docker's `config.json` and podman's `auth.json` hold it.
//!
//! An entry is docker's `types.AuthConfig` serialised by `configfile.Save`: `auth` is
//! base64(`user:password`) and wins over plain `username`/`password` fields (docker's
//! `decodeAuth`); `identitytoken` holds an OAuth2 refresh token. An empty entry (`{}`) is what
//! docker leaves when the secret lives in a credential helper: it means "no credentials here".
//!
//! Reading works on `serde_json::Value`s so that the caller can keep everything it does not
//! understand; writing produces a fresh entry the way docker's `fileStore.Store` replaces one.

use std::path::Path;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use serde_json::{Map, Value};

use super::{CredentialError, Credentials};

/// Decodes one `auths` entry; `Ok(None)` for an entry without credentials.
pub(crate) fn decode_entry(
    path: &Path,
    key: &str,
    entry: &Value,
) -> Result<Option<Credentials>, CredentialError> {
    let Value::Object(fields) = entry else {
        return Err(CredentialError::UnexpectedShape {
            path: path.to_path_buf(),
            what: format!("auths entry {key:?} is not an object"),
        });
    };
    let field = |name: &str| string_field(path, key, fields, name);
    let mut username = field("username")?;
    let mut password = field("password")?;
    let auth = field("auth")?;
    let identity_token = field("identitytoken")?;

    if !auth.is_empty() {
        (username, password) = decode_auth(path, key, &auth)?;
    }
    if !identity_token.is_empty() {
        return Ok(Some(Credentials::IdentityToken {
            username,
            token: identity_token,
        }));
    }
    if username.is_empty() && password.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials::Basic { username, password }))
}

/// The entry docker writes for `credentials`: `auth` = base64(`user:password`), plus
/// `identitytoken` for a refresh token (with `auth` = base64(`user:`), as docker's
/// `encodeAuth` produces once the password is cleared).
pub(crate) fn encode_entry(credentials: &Credentials) -> Value {
    let mut entry = Map::new();
    let (username, password, token) = match credentials {
        Credentials::Basic { username, password } => (username, password.as_str(), None),
        Credentials::IdentityToken { username, token } => (username, "", Some(token)),
    };
    if !username.is_empty() || !password.is_empty() {
        let auth = STANDARD.encode(format!("{username}:{password}"));
        entry.insert("auth".into(), Value::String(auth));
    }
    if let Some(token) = token {
        entry.insert("identitytoken".into(), Value::String(token.clone()));
    }
    Value::Object(entry)
}

/// A string field of an entry; absent or `null` reads as empty, like Go's zero value.
fn string_field(
    path: &Path,
    key: &str,
    fields: &Map<String, Value>,
    name: &str,
) -> Result<String, CredentialError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(value)) => Ok(value.clone()),
        Some(_) => Err(CredentialError::UnexpectedShape {
            path: path.to_path_buf(),
            what: format!("field {name:?} of auths entry {key:?} is not a string"),
        }),
    }
}

/// docker's `decodeAuth`: base64, then split at the first `:`; NUL padding is trimmed from the
/// password as docker does. Unpadded base64 (written by some tools) is accepted too.
fn decode_auth(path: &Path, key: &str, auth: &str) -> Result<(String, String), CredentialError> {
    let bad = |reason| CredentialError::BadAuth {
        path: path.to_path_buf(),
        key: key.to_string(),
        reason,
    };
    let bytes = STANDARD
        .decode(auth)
        .or_else(|_| STANDARD_NO_PAD.decode(auth))
        .map_err(|_| bad("not valid base64"))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("not valid UTF-8 once decoded"))?;
    let (user, password) = text
        .split_once(':')
        .ok_or_else(|| bad("decodes to something without the ':' between user and password"))?;
    Ok((user.to_string(), password.trim_matches('\0').to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(entry: Value) -> Result<Option<Credentials>, CredentialError> {
        decode_entry(Path::new("/x/config.json"), "myreg:5000", &entry)
    }

    fn basic(username: &str, password: &str) -> Credentials {
        Credentials::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    #[test]
    fn auth_field_decodes_to_user_and_password() {
        let entry = json!({ "auth": STANDARD.encode("alice:s3cr:et") });
        assert_eq!(decode(entry).unwrap(), Some(basic("alice", "s3cr:et")));
    }

    #[test]
    fn auth_field_wins_over_plain_username_and_password() {
        let entry =
            json!({ "auth": STANDARD.encode("alice:pw"), "username": "bob", "password": "x" });
        assert_eq!(decode(entry).unwrap(), Some(basic("alice", "pw")));
    }

    #[test]
    fn plain_username_and_password_are_read() {
        let entry = json!({ "username": "bob", "password": "pw" });
        assert_eq!(decode(entry).unwrap(), Some(basic("bob", "pw")));
    }

    #[test]
    fn identity_token_gives_identity_token_credentials() {
        let entry = json!({ "auth": STANDARD.encode("alice:"), "identitytoken": "refresh" });
        let expected = Credentials::IdentityToken {
            username: "alice".into(),
            token: "refresh".into(),
        };
        assert_eq!(decode(entry).unwrap(), Some(expected));
    }

    #[test]
    fn empty_entry_has_no_credentials() {
        assert_eq!(decode(json!({})).unwrap(), None);
        assert_eq!(decode(json!({ "auth": "", "email": "a@b" })).unwrap(), None);
    }

    #[test]
    fn invalid_base64_is_an_error_naming_key_and_file_without_the_value() {
        let err = decode(json!({ "auth": "!!!secret!!!" })).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, CredentialError::BadAuth { .. }), "{err:?}");
        assert!(message.contains("myreg:5000") && message.contains("/x/config.json"));
        assert!(message.contains("base64"), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }

    #[test]
    fn auth_without_colon_is_an_error() {
        let err = decode(json!({ "auth": STANDARD.encode("nocolon") })).unwrap_err();
        assert!(err.to_string().contains("':'"), "{err}");
    }

    #[test]
    fn unpadded_base64_is_accepted() {
        let entry = json!({ "auth": STANDARD_NO_PAD.encode("ab:c") });
        assert_eq!(decode(entry).unwrap(), Some(basic("ab", "c")));
    }

    #[test]
    fn non_string_field_is_a_shape_error() {
        let err = decode(json!({ "auth": 42 })).unwrap_err();
        assert!(
            matches!(err, CredentialError::UnexpectedShape { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn encode_then_decode_round_trips_both_kinds() {
        for credentials in [
            basic("alice", "p:w"),
            Credentials::IdentityToken {
                username: "alice".into(),
                token: "t".into(),
            },
        ] {
            let decoded = decode(encode_entry(&credentials)).unwrap();
            assert_eq!(decoded, Some(credentials));
        }
    }

    #[test]
    fn encoded_basic_entry_is_exactly_what_docker_writes() {
        let entry = encode_entry(&basic("alice", "pw"));
        assert_eq!(entry, json!({ "auth": STANDARD.encode("alice:pw") }));
    }
}

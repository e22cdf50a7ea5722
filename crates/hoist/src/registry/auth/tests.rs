//! The 401 retry, against a real token-auth registry: a cached token the registry refuses is
//! dropped and the request is sent once more with a fresh one. The cache is poisoned from
//! inside the crate because a real token cannot be made to expire before hoist's own cache
//! drops it (distribution accepts tokens 60 s past `exp`).

use std::sync::Arc;

use bytes::Bytes;
use hoist_testkit::{TestRegistry, TokenServer};

use super::scope::{Access, ScopeSet};
use super::token::{Token, TokenKey, TokenServer as Server, MIN_TOKEN_LIFETIME};
use super::StaticCredentials;
use crate::credentials::Credentials;
use crate::digest::Digest;
use crate::registry::{RegistryClient, RegistryConfig};

#[tokio::test]
async fn refused_cached_token_is_replaced_once_and_the_request_retried() {
    let tokens = TokenServer::builder()
        .user("dev", "d3v")
        .grant("dev", "team/*", &["pull", "push"])
        .start()
        .unwrap();
    let reg = TestRegistry::builder()
        .token_auth(tokens.auth_config())
        .start()
        .await
        .unwrap();
    let creds = StaticCredentials::none().with(
        &reg.host(),
        Credentials::Basic {
            username: "dev".into(),
            password: "d3v".into(),
        },
    );
    let config = RegistryConfig {
        certs_dirs: Vec::new(),
        ..RegistryConfig::default()
    };
    let client = RegistryClient::new(config, Arc::new(creds)).unwrap();
    let repo = client.repository(&reg.host(), "team/a");
    let data = Bytes::from_static(b"retry me");
    let digest = Digest::sha256_of(&data);
    repo.upload_blob(&digest, data).await.unwrap();

    let key = TokenKey {
        host: reg.host(),
        server: Server {
            realm: tokens.realm(),
            service: tokens.service().to_string(),
        },
        scopes: ScopeSet::repository("team/a", Access::Pull),
    };
    let bogus = Token {
        token: "not-a-valid-jwt".into(),
        lifetime: MIN_TOKEN_LIFETIME,
        refresh_token: None,
    };
    client.inner.authorizer.tokens.put(key.clone(), &bogus);
    tokens.clear_requests();
    reg.clear_log().unwrap();

    assert_eq!(
        repo.stat_blob(&digest, crate::registry::Purpose::Pull)
            .await
            .unwrap(),
        Some(8)
    );
    assert_eq!(tokens.requests().len(), 1, "exactly one fresh token");
    let statuses: Vec<u16> = reg
        .access_log()
        .iter()
        .filter(|e| e.method == "HEAD")
        .map(|e| e.status)
        .collect();
    assert_eq!(statuses, [401, 200]);
    assert_ne!(
        client.inner.authorizer.tokens.get(&key).as_deref(),
        Some("not-a-valid-jwt")
    );
}

#[tokio::test]
async fn refused_fresh_token_is_not_retried_forever() {
    let tokens = TokenServer::builder().user("dev", "d3v").start().unwrap();
    let reg = TestRegistry::builder()
        .token_auth(tokens.auth_config())
        .start()
        .await
        .unwrap();
    let creds = StaticCredentials::none().with(
        &reg.host(),
        Credentials::Basic {
            username: "dev".into(),
            password: "d3v".into(),
        },
    );
    let config = RegistryConfig {
        certs_dirs: Vec::new(),
        ..RegistryConfig::default()
    };
    let client = RegistryClient::new(config, Arc::new(creds)).unwrap();
    reg.clear_log().unwrap();
    // dev has no grant at all: every token is empty, the registry refuses each.
    let err = client
        .repository(&reg.host(), "team/a")
        .head_manifest("v1")
        .await
        .unwrap_err();
    assert!(err.is_auth(), "{err}");
    let heads = reg
        .access_log()
        .iter()
        .filter(|e| e.method == "HEAD")
        .count();
    assert_eq!(heads, 2, "one request and one retry");
}

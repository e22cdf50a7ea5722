//! Authentication against real registries: htpasswd (Basic), token auth with the testkit's
//! token server (anonymous and user tokens, per-repository scope, caching, refresh tokens),
//! login verification, and redirected blob GETs that must not carry credentials.

mod support;

use bytes::Bytes;
use hoist::credentials::Credentials;
use hoist::digest::Digest;
use hoist::registry::{ErrorCode, MountResult};
use hoist_testkit::{RedirectServer, TestRegistry, TokenServer};
use support::registry::{basic, client, collect, image, seed, test_config, Push};

async fn token_setup() -> (TokenServer, TestRegistry) {
    let tokens = TokenServer::builder()
        .admin("admin", "adm1n")
        .user("dev", "d3v")
        .grant("dev", "team/*", &["pull", "push"])
        .grant_anonymous("public/*", &["pull"])
        .start()
        .unwrap();
    let reg = TestRegistry::builder()
        .token_auth(tokens.auth_config())
        .start()
        .await
        .unwrap();
    (tokens, reg)
}

async fn seed_as_admin(
    reg: &TestRegistry,
    repo: &str,
    seed_name: &str,
) -> support::registry::SeedImage {
    let img = image(seed_name, 4096);
    seed(
        &img,
        reg,
        repo,
        "v1",
        Push {
            creds: Some(("admin", "adm1n")),
        },
    )
    .await;
    img
}

#[tokio::test]
async fn htpasswd_credentials_read_manifest_and_blob() {
    let reg = TestRegistry::htpasswd("alice", "s3cret").await.unwrap();
    let img = image("auth-basic", 2048);
    seed(
        &img,
        &reg,
        "priv/app",
        "v1",
        Push {
            creds: Some(("alice", "s3cret")),
        },
    )
    .await;
    let repo = client(test_config(), &reg.host(), Some(basic("alice", "s3cret")))
        .repository(&reg.host(), "priv/app");
    assert_eq!(
        repo.get_manifest("v1").await.unwrap().digest,
        img.manifest_digest
    );
    assert_eq!(
        collect(repo.get_blob(&img.layer_digest, 0).await.unwrap()).await,
        img.layer
    );
}

#[tokio::test]
async fn htpasswd_wrong_password_is_unauthorized() {
    let reg = TestRegistry::htpasswd("alice", "s3cret").await.unwrap();
    let repo = client(test_config(), &reg.host(), Some(basic("alice", "wrong")))
        .repository(&reg.host(), "priv/app");
    let err = repo.get_manifest("v1").await.unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::Unauthorized), "{err}");
    assert!(err.to_string().contains("unauthorized"), "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn htpasswd_without_credentials_is_unauthorized() {
    let reg = TestRegistry::htpasswd("alice", "s3cret").await.unwrap();
    let repo = client(test_config(), &reg.host(), None).repository(&reg.host(), "priv/app");
    let err = repo.head_manifest("v1").await.unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::Unauthorized), "{err}");
}

#[tokio::test]
async fn token_auth_anonymous_pull_of_public_repository() {
    let (tokens, reg) = token_setup().await;
    let img = seed_as_admin(&reg, "public/base", "auth-public").await;
    tokens.clear_requests();
    let repo = client(test_config(), &reg.host(), None).repository(&reg.host(), "public/base");
    assert_eq!(
        repo.get_manifest("v1").await.unwrap().digest,
        img.manifest_digest
    );
    let reqs = tokens.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].user, None);
    assert_eq!(reqs[0].scopes, ["repository:public/base:pull"]);
}

#[tokio::test]
async fn token_auth_user_reads_private_repository() {
    let (tokens, reg) = token_setup().await;
    let img = seed_as_admin(&reg, "team/a", "auth-team").await;
    tokens.clear_requests();
    let repo = client(test_config(), &reg.host(), Some(basic("dev", "d3v")))
        .repository(&reg.host(), "team/a");
    assert_eq!(
        collect(repo.get_blob(&img.config_digest, 0).await.unwrap()).await,
        img.config
    );
    assert_eq!(tokens.requests()[0].user.as_deref(), Some("dev"));
}

#[tokio::test]
async fn token_auth_wrong_password_is_unauthorized() {
    let (_tokens, reg) = token_setup().await;
    let repo = client(test_config(), &reg.host(), Some(basic("dev", "nope")))
        .repository(&reg.host(), "team/a");
    let err = repo.get_manifest("v1").await.unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::Unauthorized), "{err}");
    assert_eq!(err.status(), Some(401));
}

#[tokio::test]
async fn token_scope_is_per_repository() {
    let (tokens, reg) = token_setup().await;
    seed_as_admin(&reg, "team/a", "auth-scope-a").await;
    seed_as_admin(&reg, "other/b", "auth-scope-b").await;
    tokens.clear_requests();
    let c = client(test_config(), &reg.host(), Some(basic("dev", "d3v")));
    c.repository(&reg.host(), "team/a")
        .get_manifest("v1")
        .await
        .unwrap();
    let err = c
        .repository(&reg.host(), "other/b")
        .get_manifest("v1")
        .await
        .unwrap_err();
    assert!(err.is_auth(), "dev has no grant on other/b: {err}");
    let scopes: Vec<Vec<String>> = tokens.requests().into_iter().map(|r| r.scopes).collect();
    assert_eq!(scopes[0], ["repository:team/a:pull"]);
    assert!(
        scopes[1..]
            .iter()
            .all(|s| s == &["repository:other/b:pull"]),
        "{scopes:?}"
    );
    let msg = hoist::error::translate_pull_error_named(err, "other/b", "other/b:v1").to_string();
    assert!(msg.starts_with("pull access denied for other/b, repository does not exist or may require 'docker login'"), "{msg}");
}

#[tokio::test]
async fn token_is_cached_for_its_scope() {
    let (tokens, reg) = token_setup().await;
    let img = seed_as_admin(&reg, "team/cache", "auth-cache").await;
    tokens.clear_requests();
    let repo = client(test_config(), &reg.host(), Some(basic("dev", "d3v")))
        .repository(&reg.host(), "team/cache");
    repo.head_manifest("v1").await.unwrap();
    repo.get_manifest("v1").await.unwrap();
    repo.get_manifest(img.manifest_digest.as_str())
        .await
        .unwrap();
    collect(repo.get_blob(&img.layer_digest, 0).await.unwrap()).await;
    assert_eq!(tokens.requests().len(), 1, "one token serves four reads");
}

#[tokio::test]
async fn push_and_mount_ask_every_scope_in_one_token_request() {
    let (tokens, reg) = token_setup().await;
    let c = client(test_config(), &reg.host(), Some(basic("dev", "d3v")));
    let data = Bytes::from_static(b"scoped upload");
    let digest = Digest::sha256_of(&data);
    c.repository(&reg.host(), "team/src")
        .upload_blob(&digest, data.clone())
        .await
        .unwrap();
    assert_eq!(
        tokens.requests().last().unwrap().scopes,
        ["repository:team/src:pull,push"]
    );
    tokens.clear_requests();
    let dst = c.repository(&reg.host(), "team/dst");
    assert!(matches!(
        dst.mount_blob(&digest, "team/src").await.unwrap(),
        MountResult::Mounted
    ));
    let reqs = tokens.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].scopes,
        ["repository:team/dst:pull,push", "repository:team/src:pull"]
    );
}

#[tokio::test]
async fn concurrent_requests_share_one_token_fetch() {
    let (tokens, reg) = token_setup().await;
    let img = seed_as_admin(&reg, "team/many", "auth-many").await;
    tokens.clear_requests();
    let repo = client(test_config(), &reg.host(), Some(basic("dev", "d3v")))
        .repository(&reg.host(), "team/many");
    let digests = [
        &img.layer_digest,
        &img.config_digest,
        &img.layer_digest,
        &img.layer_digest,
        &img.config_digest,
    ];
    let stats = digests.map(|d| repo.stat_blob(d, hoist::registry::Purpose::Pull));
    for size in futures_util::future::join_all(stats).await {
        assert!(size.unwrap().is_some());
    }
    assert_eq!(tokens.requests().len(), 1);
}

async fn refresh_token_for(tokens: &TokenServer, user: &str, password: &str) -> String {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "password")
        .append_pair("username", user)
        .append_pair("password", password)
        .append_pair("service", tokens.service())
        .append_pair("access_type", "offline")
        .append_pair("client_id", "hoist-test")
        .finish();
    let resp = hoist_testkit::http_client()
        .unwrap()
        .post(tokens.realm())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    v["refresh_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn identity_token_uses_oauth2_refresh_flow() {
    let (tokens, reg) = token_setup().await;
    let img = seed_as_admin(&reg, "team/oauth", "auth-oauth").await;
    let refresh = refresh_token_for(&tokens, "dev", "d3v").await;
    tokens.clear_requests();
    let creds = Credentials::IdentityToken {
        username: "dev".into(),
        token: refresh,
    };
    let repo =
        client(test_config(), &reg.host(), Some(creds)).repository(&reg.host(), "team/oauth");
    assert_eq!(
        repo.get_manifest("v1").await.unwrap().digest,
        img.manifest_digest
    );
    let reqs = tokens.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].grant_type.as_deref(), Some("refresh_token"));
    assert_eq!(reqs[0].scopes, ["repository:team/oauth:pull"]);
}

#[tokio::test]
async fn revoked_identity_token_is_unauthorized() {
    let (tokens, reg) = token_setup().await;
    let refresh = refresh_token_for(&tokens, "dev", "d3v").await;
    tokens.revoke_refresh_tokens();
    let creds = Credentials::IdentityToken {
        username: "dev".into(),
        token: refresh,
    };
    let err = client(test_config(), &reg.host(), Some(creds))
        .repository(&reg.host(), "team/a")
        .get_manifest("v1")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::Unauthorized), "{err}");
}

#[tokio::test]
async fn check_login_accepts_good_and_refuses_bad_token_credentials() {
    let (tokens, reg) = token_setup().await;
    let c = client(test_config(), &reg.host(), None);
    let ok = c
        .check_login(&reg.host(), &basic("dev", "d3v"))
        .await
        .unwrap();
    let last = tokens.requests().pop().unwrap();
    assert!(
        last.scopes.is_empty(),
        "login asks a token for no scope: {:?}",
        last.scopes
    );
    assert!(
        last.offline,
        "login asks for a refresh token like docker login"
    );
    let refresh = ok
        .identity_token
        .expect("the token server issued a refresh token");
    let err = c
        .check_login(&reg.host(), &basic("dev", "bad"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::Unauthorized), "{err}");
    // The identity token works in place of the password.
    let c = client(test_config(), &reg.host(), None);
    c.check_login(
        &reg.host(),
        &Credentials::IdentityToken {
            username: "dev".into(),
            token: refresh,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        tokens.requests().last().unwrap().grant_type.as_deref(),
        Some("refresh_token")
    );
}

#[tokio::test]
async fn check_login_accepts_good_and_refuses_bad_basic_credentials() {
    let reg = TestRegistry::htpasswd("alice", "s3cret").await.unwrap();
    let c = client(test_config(), &reg.host(), None);
    c.check_login(&reg.host(), &basic("alice", "s3cret"))
        .await
        .unwrap();
    let err = c
        .check_login(&reg.host(), &basic("alice", "bad"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::Unauthorized), "{err}");
}

#[tokio::test]
async fn redirected_blob_get_carries_no_authorization() {
    let reg = TestRegistry::htpasswd("alice", "s3cret").await.unwrap();
    let img = image("auth-redirect", 50_000);
    seed(
        &img,
        &reg,
        "priv/r",
        "v1",
        Push {
            creds: Some(("alice", "s3cret")),
        },
    )
    .await;
    let front = RedirectServer::start(&reg).unwrap();
    let mut config = test_config();
    config
        .meta_headers
        .insert("X-Meta-Origin".into(), "hoist-test".into());
    let repo = client(config, &front.host(), Some(basic("alice", "s3cret")))
        .repository(&front.host(), "priv/r");
    let whole = collect(repo.get_blob(&img.layer_digest, 0).await.unwrap()).await;
    assert!(whole == img.layer, "redirected bytes differ");
    assert_eq!(front.redirects(), 1);
    assert!(
        !front.storage_requests().is_empty(),
        "the bytes came from the storage host"
    );
    assert_eq!(front.storage_requests_with_authorization(), 0);
    let first = &front.storage_requests()[0];
    assert!(first
        .header("user-agent")
        .is_some_and(|ua| ua.starts_with("hoist/")));
    assert_eq!(first.header("x-meta-origin"), Some("hoist-test"));
    // A resumed GET is redirected too, still carries no Authorization to storage, and its Range
    // is honoured there.
    let resumed = repo.get_blob(&img.layer_digest, 10_000).await.unwrap();
    assert!(resumed.is_partial());
    let tail = collect(resumed).await;
    assert!(tail == img.layer[10_000..], "resumed bytes differ");
    let last = front.storage_requests().pop().unwrap();
    assert_eq!(last.header("range"), Some("bytes=10000-"));
    assert_eq!(front.storage_requests_with_authorization(), 0);
}

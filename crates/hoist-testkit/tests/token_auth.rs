//! Token auth end to end: a registry configured with `auth.token` trusting the testkit's
//! token server.

mod common;

use common::{bearer_challenge, get_token, token, upload_blob};
use hoist_testkit::{Credentials, TestRegistry, TokenServer};

const BLOB: &[u8] = b"token-protected blob";

async fn setup() -> (TokenServer, TestRegistry) {
    let tokens = TokenServer::builder()
        .admin("admin", "adm1n")
        .user("dev", "d3v")
        .grant("dev", "team/a", &["pull", "push"])
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

/// `type:name:actions` with the actions sorted: distribution lists a challenge's actions in no
/// fixed order (`pull,push` or `push,pull`), and the token server grants them as asked.
fn sorted_scope(scope: &str) -> String {
    let (resource, actions) = scope.rsplit_once(':').unwrap();
    let mut actions: Vec<&str> = actions.split(',').collect();
    actions.sort_unstable();
    format!("{resource}:{}", actions.join(","))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn challenge_then_token_then_200() {
    let (tokens, reg) = setup().await;
    let resp = reg
        .client()
        .post(format!("{}/v2/team/a/blobs/uploads/", reg.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let ch = bearer_challenge(&resp);
    assert_eq!(ch["realm"], tokens.realm());
    assert_eq!(ch["service"], tokens.service());
    assert_eq!(sorted_scope(&ch["scope"]), "repository:team/a:pull,push");

    let t = token(
        &ch["realm"],
        &ch["service"],
        &[&ch["scope"]],
        Some(("dev", "d3v")),
    )
    .await;
    let digest = upload_blob(&reg, "team/a", BLOB, Some(&bearer(&t))).await;
    let got = reg
        .client()
        .get(format!("{}/v2/team/a/blobs/{digest}", reg.url()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    let reqs = tokens.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].user.as_deref(), Some("dev"));
    assert_eq!(reqs[0].credentials, Credentials::Valid);
    let granted: Vec<String> = reqs[0].granted.iter().map(|s| sorted_scope(s)).collect();
    assert_eq!(granted, vec!["repository:team/a:pull,push"]);
}

#[tokio::test]
async fn token_for_one_repository_is_refused_for_another() {
    let (tokens, reg) = setup().await;
    let admin = token(
        &tokens.realm(),
        tokens.service(),
        &["repository:team/b:pull,push"],
        Some(("admin", "adm1n")),
    )
    .await;
    let digest = upload_blob(&reg, "team/b", BLOB, Some(&bearer(&admin))).await;
    // dev asks for team/b too, but is granted only team/a: the token carries nothing for b.
    let dev = token(
        &tokens.realm(),
        tokens.service(),
        &["repository:team/a:pull", "repository:team/b:pull"],
        Some(("dev", "d3v")),
    )
    .await;
    assert_eq!(tokens.requests()[1].granted, vec!["repository:team/a:pull"]);
    let refused = reg
        .client()
        .get(format!("{}/v2/team/b/blobs/{digest}", reg.url()))
        .bearer_auth(&dev)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let challenge = refused.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
}

#[tokio::test]
async fn wrong_password_gets_401_and_is_recorded_invalid() {
    let (tokens, _reg) = setup().await;
    let resp = get_token(
        &tokens.realm(),
        tokens.service(),
        &["repository:team/a:pull"],
        Some(("dev", "wrong")),
    )
    .await;
    assert_eq!(resp.status(), 401);
    let req = &tokens.requests()[0];
    assert_eq!(req.credentials, Credentials::Invalid);
    assert!(req.granted.is_empty());
}

#[tokio::test]
async fn anonymous_token_pulls_public_but_cannot_push() {
    let (tokens, reg) = setup().await;
    let admin = token(
        &tokens.realm(),
        tokens.service(),
        &["repository:public/img:pull,push"],
        Some(("admin", "adm1n")),
    )
    .await;
    let digest = upload_blob(&reg, "public/img", BLOB, Some(&bearer(&admin))).await;
    let anon = token(
        &tokens.realm(),
        tokens.service(),
        &["repository:public/img:pull,push"],
        None,
    )
    .await;
    let pulled = reg
        .client()
        .get(format!("{}/v2/public/img/blobs/{digest}", reg.url()))
        .bearer_auth(&anon)
        .send()
        .await
        .unwrap();
    assert_eq!(pulled.status(), 200);
    let pushed = reg
        .client()
        .post(format!("{}/v2/public/img/blobs/uploads/", reg.url()))
        .bearer_auth(&anon)
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 401);
    assert_eq!(tokens.requests()[1].credentials, Credentials::None);
}

#[tokio::test]
async fn oauth2_password_grant_issues_a_refresh_token_that_works() {
    let (tokens, reg) = setup().await;
    let client = hoist_testkit::http_client().unwrap();
    let first: serde_json::Value = client
        .post(tokens.realm())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(common::form(&[
            ("grant_type", "password"),
            ("username", "dev"),
            ("password", "d3v"),
            ("service", tokens.service()),
            ("scope", "repository:team/a:pull,push"),
            ("client_id", "hoist-testkit"),
            ("access_type", "offline"),
        ]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh = first["refresh_token"].as_str().unwrap();
    let resp = client
        .post(tokens.realm())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(common::form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("service", tokens.service()),
            ("scope", "repository:team/a:pull,push"),
            ("client_id", "hoist-testkit"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let second: serde_json::Value = resp.json().await.unwrap();
    let access = second["access_token"].as_str().unwrap();
    upload_blob(&reg, "team/a", BLOB, Some(&bearer(access))).await;
    let reqs = tokens.requests();
    assert_eq!(reqs[1].grant_type.as_deref(), Some("refresh_token"));
    assert_eq!(reqs[1].user.as_deref(), Some("dev"));

    tokens.revoke_refresh_tokens();
    let revoked = client
        .post(tokens.realm())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(common::form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("service", tokens.service()),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 401);
}

#[tokio::test]
async fn get_with_offline_token_returns_a_refresh_token_and_expires_in() {
    let tokens = TokenServer::builder()
        .user("u", "p")
        .expires_in(90)
        .start()
        .unwrap();
    let resp = hoist_testkit::http_client()
        .unwrap()
        .get(format!(
            "{}?service={}&offline_token=true",
            tokens.realm(),
            tokens.service()
        ))
        .basic_auth("u", Some("p"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["refresh_token"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    assert_eq!(body["expires_in"], 90);
    assert!(body["issued_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn proxy_registry_logs_in_to_a_token_upstream() {
    let (tokens, upstream) = setup().await;
    let admin = token(
        &tokens.realm(),
        tokens.service(),
        &["repository:team/a:pull,push"],
        Some(("admin", "adm1n")),
    )
    .await;
    let digest = upload_blob(&upstream, "team/a", BLOB, Some(&bearer(&admin))).await;
    let mirror = TestRegistry::builder()
        .proxy(&upstream.url(), Some(("dev", "d3v")))
        .start()
        .await
        .unwrap();
    let got = mirror
        .client()
        .get(format!("{}/v2/team/a/blobs/{digest}", mirror.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), BLOB);
    assert!(tokens
        .requests()
        .iter()
        .any(|r| r.user.as_deref() == Some("dev")));
}

#[tokio::test]
async fn deliberately_invalid_token_is_refused_then_a_fresh_one_works() {
    let (tokens, reg) = setup().await;
    tokens.issue_invalid_tokens(1);
    let scope = ["repository:team/a:pull"];
    let url = format!("{}/v2/team/a/tags/list", reg.url());
    let bad = token(
        &tokens.realm(),
        tokens.service(),
        &scope,
        Some(("dev", "d3v")),
    )
    .await;
    let refused = reg
        .client()
        .get(&url)
        .bearer_auth(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let good = token(
        &tokens.realm(),
        tokens.service(),
        &scope,
        Some(("dev", "d3v")),
    )
    .await;
    let accepted = reg
        .client()
        .get(&url)
        .bearer_auth(&good)
        .send()
        .await
        .unwrap();
    // The repository is empty: NAME_UNKNOWN, but past authentication.
    assert_eq!(accepted.status(), 404);
    let reqs = tokens.requests();
    assert!(reqs[0].deliberately_invalid);
    assert!(!reqs[1].deliberately_invalid);
}

#[tokio::test]
async fn admin_token_lists_the_catalog_and_a_plain_user_cannot() {
    let (tokens, reg) = setup().await;
    let url = format!("{}/v2/_catalog", reg.url());
    let scope = ["registry:catalog:*"];
    let admin = token(
        &tokens.realm(),
        tokens.service(),
        &scope,
        Some(("admin", "adm1n")),
    )
    .await;
    let listed = reg
        .client()
        .get(&url)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let dev = token(
        &tokens.realm(),
        tokens.service(),
        &scope,
        Some(("dev", "d3v")),
    )
    .await;
    let refused = reg
        .client()
        .get(&url)
        .bearer_auth(&dev)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
}

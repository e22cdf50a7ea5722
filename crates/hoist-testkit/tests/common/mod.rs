//! Helpers shared by the testkit's own tests: raw registry requests with plain reqwest.
#![allow(dead_code)]

use hoist_testkit::TestRegistry;
use sha2::{Digest, Sha256};

/// Monolithic blob upload (POST then PUT ?digest=) with optional Basic credentials.
pub async fn upload_blob(
    reg: &TestRegistry,
    repo: &str,
    data: &[u8],
    basic: Option<&str>,
) -> String {
    let client = reg.client();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(data)));
    let mut post = client.post(format!("{}/v2/{repo}/blobs/uploads/", reg.url()));
    if let Some(b) = basic {
        post = post.header("Authorization", b);
    }
    let resp = post.send().await.unwrap();
    assert_eq!(resp.status(), 202, "POST upload");
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let location = if location.starts_with('/') {
        format!("{}{location}", reg.url())
    } else {
        location
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let mut put = client
        .put(format!("{location}{sep}digest={digest}"))
        .body(data.to_vec());
    if let Some(b) = basic {
        put = put.header("Authorization", b);
    }
    let resp = put.send().await.unwrap();
    assert_eq!(resp.status(), 201, "PUT upload");
    digest
}

/// The parameters of a `WWW-Authenticate: Bearer k="v",…` challenge.
pub fn bearer_challenge(resp: &reqwest::Response) -> std::collections::HashMap<String, String> {
    let header = resp.headers()["www-authenticate"].to_str().unwrap();
    let rest = header.strip_prefix("Bearer ").expect(header);
    let mut out = std::collections::HashMap::new();
    // Values are quoted and may contain commas (scope actions), so split on `",`.
    for part in rest.split("\",") {
        let (k, v) = part.split_once('=').unwrap();
        out.insert(k.trim().to_string(), v.trim_matches('"').to_string());
    }
    out
}

/// GET realm?service=&scope=… with optional Basic credentials; returns the response.
pub async fn get_token(
    realm: &str,
    service: &str,
    scopes: &[&str],
    basic: Option<(&str, &str)>,
) -> reqwest::Response {
    let mut url = reqwest::Url::parse(realm).unwrap();
    url.query_pairs_mut().append_pair("service", service);
    for s in scopes {
        url.query_pairs_mut().append_pair("scope", s);
    }
    let mut req = hoist_testkit::http_client().unwrap().get(url);
    if let Some((u, p)) = basic {
        req = req.basic_auth(u, Some(p));
    }
    req.send().await.unwrap()
}

/// Like [`get_token`] but returns the token string, asserting 200.
pub async fn token(
    realm: &str,
    service: &str,
    scopes: &[&str],
    basic: Option<(&str, &str)>,
) -> String {
    let resp = get_token(realm, service, scopes, basic).await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}

/// An `application/x-www-form-urlencoded` body.
pub fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

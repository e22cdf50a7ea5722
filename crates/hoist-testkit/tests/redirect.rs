//! The redirecting front and the v1-only server.

mod common;

use common::upload_blob;
use hoist_testkit::{http_client, RedirectServer, TestRegistry, V1OnlyServer};

const BLOB: &[u8] = b"bytes that live in object storage";

/// Uploads BLOB to `team/app` through the front (POST, then PUT to the Location it returned).
async fn front_upload(front: &RedirectServer, reg: &TestRegistry, basic: Option<&str>) -> String {
    // Upload through the front: proves requests, bodies and the Location header round-trip.
    let client = reg.client();
    let mut post = client.post(format!("{}/v2/team/app/blobs/uploads/", front.url()));
    if let Some(b) = basic {
        post = post.header("Authorization", b);
    }
    let resp = post.send().await.unwrap();
    assert_eq!(resp.status(), 202);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&front.url()) || location.starts_with('/'),
        "{location}"
    );
    let digest = format!("sha256:{}", {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(BLOB))
    });
    let url = if location.starts_with('/') {
        format!("{}{location}", front.url())
    } else {
        location
    };
    let mut put = client
        .put(format!("{url}&digest={digest}"))
        .body(BLOB.to_vec());
    if let Some(b) = basic {
        put = put.header("Authorization", b);
    }
    let resp = put.send().await.unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["docker-content-digest"], digest.as_str());
    digest
}

#[tokio::test]
async fn blob_get_is_redirected_to_another_host_that_serves_the_bytes() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let front = RedirectServer::start(&reg).unwrap();
    let digest = front_upload(&front, &reg, None).await;
    let resp = http_client()
        .unwrap()
        .get(format!("{}/v2/team/app/blobs/{digest}", front.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 307);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&format!("http://{}/", front.storage_host())));
    assert!(front.storage_host().starts_with("127.0.0.2:"));
    let blob = http_client().unwrap().get(&location).send().await.unwrap();
    assert_eq!(blob.status(), 200);
    assert_eq!(blob.bytes().await.unwrap().as_ref(), BLOB);
    let ranged = http_client()
        .unwrap()
        .get(&location)
        .header("Range", "bytes=6-")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), &BLOB[6..]);
    assert_eq!(front.redirects(), 1);
}

#[tokio::test]
async fn storage_server_records_whether_authorization_reached_it() {
    let reg = TestRegistry::htpasswd("u", "p").await.unwrap();
    let front = RedirectServer::start(&reg).unwrap();
    let basic = "Basic dTpw"; // u:p
    let digest = front_upload(&front, &reg, Some(basic)).await;

    let blob_url = format!("{}/v2/team/app/blobs/{digest}", front.url());
    // Without credentials the registry's 401 and challenge come back through the front.
    let anon = http_client().unwrap().get(&blob_url).send().await.unwrap();
    assert_eq!(anon.status(), 401);
    assert!(anon.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));

    // A client that (wrongly) re-sends Authorization to the redirect target is caught...
    let redirected = http_client()
        .unwrap()
        .get(&blob_url)
        .header("Authorization", basic)
        .send()
        .await
        .unwrap();
    assert_eq!(redirected.status(), 307);
    let location = redirected.headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    http_client()
        .unwrap()
        .get(&location)
        .header("Authorization", basic)
        .send()
        .await
        .unwrap();
    assert_eq!(front.storage_requests_with_authorization(), 1);

    // ...and one that drops it on the cross-host hop is not.
    let follower = reqwest::Client::builder()
        .use_preconfigured_tls(
            hoist_testkit::TestCa::new()
                .unwrap()
                .client_config(None)
                .unwrap(),
        )
        .no_proxy()
        .build()
        .unwrap();
    let body = follower
        .get(&blob_url)
        .header("Authorization", basic)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.as_ref(), BLOB);
    let reqs = front.storage_requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1].header("authorization").is_none());
    assert_eq!(front.storage_requests_with_authorization(), 1);
}

#[tokio::test]
async fn head_and_manifest_requests_pass_through_unchanged() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let front = RedirectServer::start(&reg).unwrap();
    let digest = upload_blob(&reg, "team/app", BLOB, None).await;
    let head = http_client()
        .unwrap()
        .head(format!("{}/v2/team/app/blobs/{digest}", front.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        BLOB.len().to_string().as_str()
    );
    assert_eq!(head.headers()["docker-content-digest"], digest.as_str());
    let missing = http_client()
        .unwrap()
        .get(format!("{}/v2/team/app/manifests/nope", front.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "MANIFEST_UNKNOWN");
    assert_eq!(front.redirects(), 0);
}

#[tokio::test]
async fn v1_only_server_has_no_v2_api_but_answers_v1_ping() {
    let v1 = V1OnlyServer::start().unwrap();
    let client = http_client().unwrap();
    let v2 = client
        .get(format!("{}/v2/", v1.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(v2.status(), 404);
    assert!(v2
        .headers()
        .get("docker-distribution-api-version")
        .is_none());
    let ping = client
        .get(format!("{}/v1/_ping", v1.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 200);
}

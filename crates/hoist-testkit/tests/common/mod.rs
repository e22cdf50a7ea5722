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

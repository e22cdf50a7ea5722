//! A registry started with `accept_schema1` stores signed schema 1 manifests the testkit
//! builds: it verifies their signature, reports the canonical digest, and serves them (re-signed
//! with its own key) by tag and by that digest.

use hoist_testkit::ImagePusher;
use hoist_testkit::{
    sha256_digest, Layer, Schema1Builder, TestRegistry, TrustKey, SCHEMA1_SIGNED_MEDIA_TYPE,
};

fn image() -> hoist_testkit::Schema1Image {
    Schema1Builder::new("legacy/app", "v1")
        .layer(Layer::from_files(&[("base.txt", b"base")]).unwrap())
        .empty_layer("/bin/sh -c #(nop)  ENV A=1")
        .unwrap()
        .layer(Layer::from_files(&[("app.txt", b"app")]).unwrap())
        .build(&TrustKey::generate())
        .unwrap()
}

/// The payload of a pretty JWS body, as libtrust's `ParsePrettySignature` recovers it.
fn payload_of(body: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    let protected = b64
        .decode(json["signatures"][0]["protected"].as_str().unwrap())
        .unwrap();
    let protected: serde_json::Value = serde_json::from_slice(&protected).unwrap();
    let len = protected["formatLength"].as_u64().unwrap() as usize;
    let mut payload = body[..len].to_vec();
    payload.extend(
        b64.decode(protected["formatTail"].as_str().unwrap())
            .unwrap(),
    );
    payload
}

#[tokio::test]
async fn default_registry_cannot_store_schema1() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let err = ImagePusher::new(&registry)
        .push_schema1("legacy/app", "v1", &image())
        .await
        .unwrap_err();
    // Registry 2.8.2 without `compatibility.schema1.enabled` has no way to store it and
    // answers a bare 500 UNKNOWN.
    let text = err.to_string();
    assert!(text.contains("unexpected status 500"), "{text}");
    assert!(text.contains("UNKNOWN"), "{text}");
}

#[tokio::test]
async fn schema1_registry_stores_a_signed_manifest_under_its_canonical_digest() {
    let registry = TestRegistry::builder()
        .accept_schema1()
        .start()
        .await
        .unwrap();
    let image = image();

    let digest = ImagePusher::new(&registry)
        .push_schema1("legacy/app", "v1", &image)
        .await
        .unwrap();

    assert_eq!(digest, sha256_digest(&image.payload));
    assert_ne!(digest, sha256_digest(&image.manifest.bytes));
    for reference in ["v1", digest.as_str()] {
        let resp = registry
            .client()
            .get(format!(
                "{}/v2/legacy/app/manifests/{reference}",
                registry.url()
            ))
            .header("Accept", SCHEMA1_SIGNED_MEDIA_TYPE)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{reference}");
        assert_eq!(resp.headers()["content-type"], SCHEMA1_SIGNED_MEDIA_TYPE);
        assert_eq!(resp.headers()["docker-content-digest"], digest.as_str());
        let body = resp.bytes().await.unwrap();
        assert_eq!(payload_of(&body), image.payload, "{reference}");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let kid = &json["signatures"][0]["header"]["jwk"]["kid"];
        assert_eq!(kid, &registry.schema1_key().unwrap().key_id());
    }
}

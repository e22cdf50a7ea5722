//! TLS registries: the handshake works with the test CA and fails without it.

use hoist_testkit::{http_client, TestCa, TestRegistry};

#[tokio::test]
async fn tls_registry_answers_a_client_trusting_the_test_ca() {
    let ca = TestCa::new().unwrap();
    let reg = TestRegistry::builder().tls(&ca).start().await.unwrap();
    assert!(reg.url().starts_with("https://127.0.0.1:"));
    let resp = ca
        .http_client(None)
        .unwrap()
        .get(format!("{}/v2/", reg.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // `localhost` is a SAN too.
    let via_name = ca
        .http_client(None)
        .unwrap()
        .get(format!("https://localhost:{}/v2/", reg.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(via_name.status(), 200);
}

#[tokio::test]
async fn tls_registry_is_refused_by_a_client_without_the_ca() {
    let ca = TestCa::new().unwrap();
    let reg = TestRegistry::builder().tls(&ca).start().await.unwrap();
    let err = http_client()
        .unwrap()
        .get(format!("{}/v2/", reg.url()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let other_ca = TestCa::new().unwrap();
    let err = other_ca
        .http_client(None)
        .unwrap()
        .get(format!("{}/v2/", reg.url()))
        .send()
        .await;
    assert!(err.is_err());
}

#[tokio::test]
async fn client_cert_registry_requires_a_certificate_from_the_ca() {
    let ca = TestCa::new().unwrap();
    let reg = TestRegistry::builder()
        .tls(&ca)
        .require_client_cert()
        .start()
        .await
        .unwrap();
    let url = format!("{}/v2/", reg.url());
    let without = ca.http_client(None).unwrap().get(&url).send().await;
    assert!(
        without.is_err(),
        "handshake without a client cert must fail"
    );
    let id = ca.client_cert("tester").unwrap();
    let with = ca
        .http_client(Some(&id))
        .unwrap()
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), 200);
}

#[test]
fn certs_d_layout_matches_docker() {
    let ca = TestCa::new().unwrap();
    let id = ca.client_cert("tester").unwrap();
    let root = tempfile::tempdir().unwrap();
    let host_dir = ca
        .write_certs_d(root.path(), "127.0.0.1:5000", Some(&id))
        .unwrap();
    assert_eq!(host_dir, root.path().join("127.0.0.1:5000"));
    assert_eq!(
        std::fs::read_to_string(host_dir.join("ca.crt")).unwrap(),
        ca.cert_pem()
    );
    assert_eq!(
        std::fs::read_to_string(host_dir.join("client.cert")).unwrap(),
        id.cert_pem
    );
    assert!(std::fs::read_to_string(host_dir.join("client.key"))
        .unwrap()
        .contains("PRIVATE KEY"));
}

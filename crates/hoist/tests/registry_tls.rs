//! TLS registries: trust from certs.d (`ca.crt`), from `ca_file`, client certificates from
//! certs.d, `insecure` hosts, a clear failure without the CA, and a plain-HTTP token realm
//! refused for an HTTPS registry.

mod support;

use std::path::PathBuf;

use hoist::digest::Digest;
use hoist::registry::{HostConfig, Purpose, RegistryConfig, RegistryError};
use hoist_testkit::{TestCa, TestRegistry, TokenServer};
use support::registry::{basic, client, image, seed, test_config, Push};
use tempfile::TempDir;

fn certs_d_config(dir: &TempDir) -> RegistryConfig {
    RegistryConfig {
        certs_dirs: vec![
            PathBuf::from("/nonexistent-certs.d"),
            dir.path().to_path_buf(),
        ],
        ..test_config()
    }
}

#[tokio::test]
async fn certs_d_ca_makes_a_tls_registry_trusted() {
    let ca = TestCa::new().unwrap();
    let reg = TestRegistry::builder().tls(&ca).start().await.unwrap();
    let img = image("tls-certsd", 300);
    seed(&img, &reg, "secure/app", "v1", Push::default()).await;
    let certs = TempDir::new().unwrap();
    ca.write_certs_d(certs.path(), &reg.host(), None).unwrap();
    let c = client(certs_d_config(&certs), &reg.host(), None);
    let ep = c.ping(&reg.host()).await.unwrap();
    assert_eq!(ep.base.scheme(), "https");
    let repo = c.repository(&reg.host(), "secure/app");
    assert_eq!(
        repo.head_manifest("v1").await.unwrap().digest,
        Some(img.manifest_digest.clone())
    );
    assert_eq!(
        repo.get_manifest("v1").await.unwrap().digest,
        img.manifest_digest
    );
}

#[tokio::test]
async fn ca_file_makes_a_tls_registry_trusted() {
    let ca = TestCa::new().unwrap();
    let reg = TestRegistry::builder().tls(&ca).start().await.unwrap();
    let mut config = test_config();
    config.registries.insert(
        reg.host(),
        HostConfig {
            ca_file: Some(ca.cert_path()),
            ..Default::default()
        },
    );
    let ep = client(config, &reg.host(), None)
        .ping(&reg.host())
        .await
        .unwrap();
    assert_eq!(ep.base.scheme(), "https");
}

#[tokio::test]
async fn unknown_ca_fails_with_the_tls_reason() {
    let ca = TestCa::new().unwrap();
    let reg = TestRegistry::builder().tls(&ca).start().await.unwrap();
    let err = client(test_config(), &reg.host(), None)
        .ping(&reg.host())
        .await
        .unwrap_err();
    let RegistryError::Unreachable { attempts, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(attempts.to_lowercase().contains("certificate"), "{err}");
    assert!(
        !err.is_retryable(),
        "an untrusted certificate is not retried: {err:?}"
    );
}

#[tokio::test]
async fn insecure_host_skips_verification() {
    let ca = TestCa::new().unwrap();
    let reg = TestRegistry::builder().tls(&ca).start().await.unwrap();
    let mut config = test_config();
    config.registries.insert(
        reg.host(),
        HostConfig {
            insecure: true,
            ..Default::default()
        },
    );
    let ep = client(config, &reg.host(), None)
        .ping(&reg.host())
        .await
        .unwrap();
    assert_eq!(ep.base.scheme(), "https");
}

#[tokio::test]
async fn client_certificate_from_certs_d_is_presented() {
    let ca = TestCa::new().unwrap();
    let reg = TestRegistry::builder()
        .tls(&ca)
        .require_client_cert()
        .start()
        .await
        .unwrap();
    let identity = reg.client_identity().unwrap();
    let certs = TempDir::new().unwrap();
    ca.write_certs_d(certs.path(), &reg.host(), Some(identity))
        .unwrap();
    let img = image("tls-client", 300);
    seed(&img, &reg, "mtls/app", "v1", Push::default()).await;
    let repo =
        client(certs_d_config(&certs), &reg.host(), None).repository(&reg.host(), "mtls/app");
    assert_eq!(
        repo.get_manifest("v1").await.unwrap().digest,
        img.manifest_digest
    );

    let no_client_cert = TempDir::new().unwrap();
    ca.write_certs_d(no_client_cert.path(), &reg.host(), None)
        .unwrap();
    let err = client(certs_d_config(&no_client_cert), &reg.host(), None)
        .ping(&reg.host())
        .await
        .unwrap_err();
    // Not asserted non-retryable: under TLS 1.3 the server's refusal of a missing client
    // certificate arrives after the handshake, sometimes as an alert, sometimes as a plain close.
    assert!(matches!(err, RegistryError::Unreachable { .. }), "{err:?}");
}

#[tokio::test]
async fn client_certificate_without_key_is_a_clear_error() {
    let ca = TestCa::new().unwrap();
    let reg = TestRegistry::builder().tls(&ca).start().await.unwrap();
    let certs = TempDir::new().unwrap();
    let host_dir = ca.write_certs_d(certs.path(), &reg.host(), None).unwrap();
    std::fs::write(host_dir.join("client.cert"), ca.cert_pem()).unwrap();
    let err = client(certs_d_config(&certs), &reg.host(), None)
        .ping(&reg.host())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("client.key"), "{err}");
}

/// A TLS registry whose token server is the testkit's plain-HTTP one, and a configuration
/// trusting its CA (`insecure` as given).
async fn tls_registry_with_http_realm(
    ca: &TestCa,
    insecure: bool,
) -> (TokenServer, TestRegistry, RegistryConfig) {
    let tokens = TokenServer::builder()
        .user("dev", "d3v")
        .grant("dev", "team/*", &["pull"])
        .start()
        .unwrap();
    let reg = TestRegistry::builder()
        .tls(ca)
        .token_auth(tokens.auth_config())
        .start()
        .await
        .unwrap();
    let mut config = test_config();
    config.registries.insert(
        reg.host(),
        HostConfig {
            ca_file: Some(ca.cert_path()),
            insecure,
            ..Default::default()
        },
    );
    (tokens, reg, config)
}

#[tokio::test]
async fn http_token_realm_of_an_https_registry_is_refused() {
    let ca = TestCa::new().unwrap();
    let (tokens, reg, config) = tls_registry_with_http_realm(&ca, false).await;
    let repo =
        client(config, &reg.host(), Some(basic("dev", "d3v"))).repository(&reg.host(), "team/a");
    let err = repo.head_manifest("v1").await.unwrap_err();
    let RegistryError::InsecureRealm { realm, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(realm, &tokens.realm());
    let text = err.to_string();
    assert!(text.contains(&tokens.realm()), "{text}");
    assert!(text.contains("insecure = true"), "{text}");
    assert!(!err.is_retryable(), "{err:?}");
    assert!(
        tokens.requests().is_empty(),
        "the credentials never left: {:?}",
        tokens.requests()
    );
}

#[tokio::test]
async fn http_token_realm_is_used_when_the_registry_is_insecure() {
    let ca = TestCa::new().unwrap();
    let (tokens, reg, config) = tls_registry_with_http_realm(&ca, true).await;
    let repo =
        client(config, &reg.host(), Some(basic("dev", "d3v"))).repository(&reg.host(), "team/a");
    let absent = Digest::sha256_of(b"not pushed");
    assert_eq!(repo.stat_blob(&absent, Purpose::Pull).await.unwrap(), None);
    assert_eq!(tokens.requests()[0].user.as_deref(), Some("dev"));
}

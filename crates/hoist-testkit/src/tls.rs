//! A throw-away certificate authority for TLS tests: [`TestCa`].
//!
//! The CA (ECDSA P-256, generated with rcgen on the ring backend) issues server certificates
//! whose SANs always include `127.0.0.1` and `localhost`, and client certificates (extended key
//! usage `clientAuth`) for registries that require them (`http.tls.clientcas`). Every PEM it
//! makes is written under the CA's own temporary directory, so the registry process can read
//! them; the directory is removed when the `TestCa` is dropped.
//!
//! It also lays out docker's per-host certificate directory
//! (`/etc/docker/certs.d/<host:port>/{ca.crt,client.cert,client.key}`), which is how docker —
//! and hoist — pick up a private CA and client identity for one registry.
//!
//! Clients: [`TestCa::http_client`] builds a `reqwest::Client` whose rustls configuration trusts
//! only this CA (ring provider, no system roots, proxies disabled), so a test proves the
//! handshake works *because of* this CA; [`crate::http_client`] trusts nothing and is for
//! plain-HTTP servers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tempfile::TempDir;

use crate::error::{Error, Result};

/// A certificate (server or client) issued by a [`TestCa`], with its key.
#[derive(Clone)]
pub struct IssuedCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key (PKCS#8), PEM.
    pub key_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The private key (PKCS#8), DER.
    pub key_der: Vec<u8>,
    /// Where the certificate PEM was written.
    pub cert_path: PathBuf,
    /// Where the key PEM was written.
    pub key_path: PathBuf,
}

impl std::fmt::Debug for IssuedCert {
    // The key stays out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCert")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

/// A certificate authority made for one test run; see the module docs.
pub struct TestCa {
    dir: TempDir,
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: Vec<u8>,
    issued: AtomicUsize,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl TestCa {
    /// Generates a new CA (key + self-signed certificate) and writes `ca.crt` to its directory.
    pub fn new() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("hoist-testca-")
            .tempdir()
            .map_err(|e| Error::io("creating the CA directory", e))?;
        let key = KeyPair::generate().map_err(|e| Error::cert("CA key", e))?;
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| Error::cert("CA", e))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "hoist testkit CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(|e| Error::cert("CA", e))?;
        let cert_pem = cert.pem();
        write(&dir.path().join("ca.crt"), &cert_pem)?;
        Ok(TestCa {
            issuer: Issuer::new(params, key),
            cert_pem,
            cert_der: cert.der().to_vec(),
            dir,
            issued: AtomicUsize::new(0),
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Path of the CA certificate PEM (`<ca dir>/ca.crt`), e.g. for a `ca_file` setting.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// Issues a server certificate for `127.0.0.1`, `localhost` and `extra_names` (DNS names or
    /// IP addresses), with extended key usage `serverAuth`.
    pub fn server_cert(&self, extra_names: &[&str]) -> Result<IssuedCert> {
        let mut names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        names.extend(extra_names.iter().map(|n| n.to_string()));
        let mut params =
            CertificateParams::new(names).map_err(|e| Error::cert("server names", e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "hoist testkit server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.issue(params, "server")
    }

    /// Issues a client certificate with common name `common_name` and extended key usage
    /// `clientAuth`.
    pub fn client_cert(&self, common_name: &str) -> Result<IssuedCert> {
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| Error::cert("client", e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.issue(params, "client")
    }

    fn issue(&self, params: CertificateParams, kind: &str) -> Result<IssuedCert> {
        let key = KeyPair::generate().map_err(|e| Error::cert(kind, e))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| Error::cert(kind, e))?;
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        let cert_path = self.dir.path().join(format!("{kind}-{n}.crt"));
        let key_path = self.dir.path().join(format!("{kind}-{n}.key"));
        let issued = IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
            cert_path,
            key_path,
        };
        write(&issued.cert_path, &issued.cert_pem)?;
        write(&issued.key_path, &issued.key_pem)?;
        Ok(issued)
    }

    /// Lays out docker's certs.d entry for `host` (e.g. `"127.0.0.1:5000"`) under `certs_dir`:
    /// `<certs_dir>/<host>/ca.crt`, and with `client` also `client.cert` + `client.key`.
    /// Returns the host directory.
    pub fn write_certs_d(
        &self,
        certs_dir: &Path,
        host: &str,
        client: Option<&IssuedCert>,
    ) -> Result<PathBuf> {
        let host_dir = certs_dir.join(host);
        std::fs::create_dir_all(&host_dir)
            .map_err(|e| Error::io(format!("creating {}", host_dir.display()), e))?;
        write(&host_dir.join("ca.crt"), &self.cert_pem)?;
        if let Some(client) = client {
            write(&host_dir.join("client.cert"), &client.cert_pem)?;
            write(&host_dir.join("client.key"), &client.key_pem)?;
        }
        Ok(host_dir)
    }

    /// A rustls client configuration (ring provider) trusting only this CA, presenting
    /// `identity` as client certificate when given.
    pub fn client_config(&self, identity: Option<&IssuedCert>) -> Result<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.cert_der.clone()))
            .map_err(|e| Error::Tls(format!("adding the test CA to the roots: {e}")))?;
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots);
        match identity {
            None => Ok(builder.with_no_client_auth()),
            Some(id) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from(id.cert_der.clone())],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key_der.clone())),
                )
                .map_err(|e| Error::Tls(format!("client certificate: {e}"))),
        }
    }

    /// A `reqwest::Client` trusting only this CA (and presenting `identity` if given), with
    /// proxies disabled.
    pub fn http_client(&self, identity: Option<&IssuedCert>) -> Result<reqwest::Client> {
        build_client(self.client_config(identity)?)
    }
}

/// A `reqwest::Client` for plain-HTTP test servers: proxies disabled, and a rustls
/// configuration that trusts no certificate at all (so it never reaches a real host by HTTPS).
pub fn http_client() -> Result<reqwest::Client> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Tls(e.to_string()))?
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    build_client(config)
}

/// Like [`http_client`] but with no overall timeout, for forwarding large or throttled bodies
/// (the fault proxy's upstream client).
pub(crate) fn streaming_http_client() -> Result<reqwest::Client> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Tls(e.to_string()))?
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::Tls(format!("building the HTTP client: {e}")))
}

fn build_client(config: rustls::ClientConfig) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| Error::Tls(format!("building the HTTP client: {e}")))
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

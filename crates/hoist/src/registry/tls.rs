//! TLS for registry hosts: a rustls `ClientConfig` per host, with the `ring` provider.
//!
//! Trust = the system roots (rustls-native-certs) + every `*.crt` in the host's `cert_dir`
//! and in `CERTS_DIR/HOST[:PORT]/` for each certs.d directory + the host's `ca_file`. A client
//! certificate is presented when the same directory holds `client.cert` and `client.key`
//! (docker's `registry.ReadCertsDirectory`, which pairs `*.cert` with `*.key`). A host
//! configured `insecure` gets a verifier that accepts any certificate (docker's
//! `InsecureSkipVerify` for insecure registries).
//!
//! Everything here reads files: call [`client_tls_config`] from a blocking thread.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::error::RegistryError;
use super::hosts::RegistryConfig;

/// Builds the TLS configuration for `host` (`HOST[:PORT]`, as the certs.d directory is named).
/// Blocking: reads the system roots (once per process) and the host's files.
pub fn client_tls_config(
    config: &RegistryConfig,
    host: &str,
) -> Result<ClientConfig, RegistryError> {
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(host, e.to_string()))?;
    let host_config = config.host(host);
    let builder = if host_config.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
    } else {
        let mut roots = RootCertStore::empty();
        // Unparseable platform certificates are skipped, like Go's `x509.SystemCertPool`.
        let (_added, _ignored) = roots.add_parsable_certificates(system_roots().iter().cloned());
        for dir in host_dirs(config, host) {
            for path in crt_files(&dir, host)? {
                add_pem_certs(&mut roots, &path, host)?;
            }
        }
        if let Some(ca_file) = &host_config.ca_file {
            add_pem_certs(&mut roots, ca_file, host)?;
        }
        builder.with_root_certificates(roots)
    };
    let mut tls = match client_identity(config, host)? {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls_err(host, format!("client certificate: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tls)
}

/// The system roots, loaded once. Certificates the platform store holds but rustls cannot
/// parse are skipped (logged), like Go's `x509.SystemCertPool`.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let result = rustls_native_certs::load_native_certs();
        for e in &result.errors {
            tracing::debug!("skipping system certificate: {e}");
        }
        result.certs
    })
}

/// The host's own `cert_dir`, then the existing `CERTS_DIR/HOST` directories, in configured
/// order.
fn host_dirs(config: &RegistryConfig, host: &str) -> Vec<std::path::PathBuf> {
    // A host name never contains '/', but a malformed one must not escape the certs dir.
    if host.contains('/') || host.contains("..") {
        return Vec::new();
    }
    let own = config.host(host).cert_dir;
    let certs_d = config.certs_dirs.iter().map(|d| d.join(host));
    own.into_iter()
        .chain(certs_d)
        .filter(|d| d.is_dir())
        .collect()
}

fn crt_files(dir: &Path, host: &str) -> Result<Vec<std::path::PathBuf>, RegistryError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| tls_err(host, format!("reading {}: {e}", dir.display())))?;
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "crt"))
        .collect();
    files.sort();
    Ok(files)
}

fn add_pem_certs(roots: &mut RootCertStore, path: &Path, host: &str) -> Result<(), RegistryError> {
    let pem = std::fs::read(path)
        .map_err(|e| tls_err(host, format!("reading {}: {e}", path.display())))?;
    let mut added = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| tls_err(host, format!("{}: {e}", path.display())))?;
        roots
            .add(cert)
            .map_err(|e| tls_err(host, format!("{}: {e}", path.display())))?;
        added += 1;
    }
    if added == 0 {
        return Err(tls_err(
            host,
            format!("{}: no PEM certificate found", path.display()),
        ));
    }
    Ok(())
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// `client.cert` + `client.key` from the first certs.d directory holding a `client.cert`.
/// A certificate without its key (or the reverse) is an error, as in docker.
fn client_identity(config: &RegistryConfig, host: &str) -> Result<Option<Identity>, RegistryError> {
    for dir in host_dirs(config, host) {
        let cert_path = dir.join("client.cert");
        let key_path = dir.join("client.key");
        match (cert_path.is_file(), key_path.is_file()) {
            (false, false) => continue,
            (true, false) => {
                return Err(tls_err(
                    host,
                    format!(
                        "missing key client.key for client certificate {}",
                        cert_path.display()
                    ),
                ))
            }
            (false, true) => {
                return Err(tls_err(
                    host,
                    format!(
                        "missing client certificate client.cert for key {}",
                        key_path.display()
                    ),
                ))
            }
            (true, true) => {}
        }
        let cert_pem = std::fs::read(&cert_path)
            .map_err(|e| tls_err(host, format!("reading {}: {e}", cert_path.display())))?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| tls_err(host, format!("{}: {e}", cert_path.display())))?;
        let key_pem = std::fs::read(&key_path)
            .map_err(|e| tls_err(host, format!("reading {}: {e}", key_path.display())))?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| tls_err(host, format!("{}: {e}", key_path.display())))?;
        return Ok(Some((chain, key)));
    }
    Ok(None)
}

fn tls_err(host: &str, reason: String) -> RegistryError {
    RegistryError::Tls {
        host: host.to_string(),
        reason,
    }
}

/// The verifier for hosts configured `insecure`: any certificate is accepted, but handshake
/// signatures are still checked so the connection is at least to the holder of that key.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

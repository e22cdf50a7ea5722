//! TLS for registry hosts: a rustls `ClientConfig` per host, with the `ring` provider.
//!
//! Trust = the system roots (rustls-native-certs) + every `*.crt` in the host's `cert_dir`
//! and in `CERTS_DIR/HOST[:PORT]/` for each certs.d directory + the host's `ca_file`. A client
//! certificate is presented when the same directory holds `client.cert` and `client.key`
//! (docker's `registry.ReadCertsDirectory`, which pairs `*.cert` with `*.key`). A host
//! configured `insecure` gets a verifier that accepts any certificate (docker's
//! `InsecureSkipVerify` for insecure registries).
//!
//! Everything here reads files: call [`client_tls_config`] from a blocking thread. The one
//! exception is deliberate and limited to hosts that may be reached over plain HTTP (loopback,
//! `insecure`): for those the system roots are read by the first certificate verification,
//! inside the handshake (once per process, about 8 ms; `Trust::Roots` says why).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::endpoint::allows_plain_http;
use super::error::RegistryError;
use super::hosts::RegistryConfig;

/// Builds the TLS configuration for `host` (`HOST[:PORT]`, as the certs.d directory is named).
/// Blocking: reads the host's files and, unless the host may be reached over plain HTTP, the
/// system roots (once per process; see `Trust::Roots`).
pub fn client_tls_config(
    config: &RegistryConfig,
    host: &str,
) -> Result<ClientConfig, RegistryError> {
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(host, e.to_string()))?;
    let host_config = config.host(host);
    let trust = if host_config.insecure {
        Trust::Any
    } else {
        // The host's own CAs are read now, so that a bad file is reported before any request;
        // the system roots only when a certificate is to be verified (see `Trust::Roots`).
        let mut own = RootCertStore::empty();
        for dir in host_dirs(config, host) {
            for path in crt_files(&dir, host)? {
                add_pem_certs(&mut own, &path, host)?;
            }
        }
        if let Some(ca_file) = &host_config.ca_file {
            add_pem_certs(&mut own, ca_file, host)?;
        }
        Trust::Roots {
            own,
            system: system_roots,
            verifier: OnceLock::new(),
        }
    };
    let verifier = HostVerifier { provider, trust };
    if !allows_plain_http(config, host) {
        // Every request to this host is HTTPS: build the webpki verifier here, on the caller's
        // blocking thread, rather than in the first handshake.
        verifier.prepare();
    }
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut tls = match client_identity(config, host)? {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls_err(host, format!("client certificate: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tls)
}

/// The system roots, loaded once, when a certificate is first verified (`Trust::Roots`).
/// Certificates the platform store cannot give are skipped (logged).
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

/// How a host's server certificate is checked. The handshake signatures are checked with the
/// provider's algorithms either way.
#[derive(Debug)]
struct HostVerifier {
    provider: Arc<CryptoProvider>,
    trust: Trust,
}

#[derive(Debug)]
enum Trust {
    /// A host configured `insecure`: any certificate is accepted, but handshake signatures
    /// are still checked so the connection is at least to the holder of that key.
    Any,
    /// The system roots and the host's own CAs (`own`), as webpki checks them. For a host
    /// that may be reached over plain HTTP (loopback, `insecure`) the system roots (`system`)
    /// are read at the first certificate to verify, not when the client is built: such a
    /// registry often speaks plain HTTP, its HTTPS attempt fails at the ClientHello, and it
    /// then never pays for them. Reading the roots of Debian's `/etc/ssl/certs` (the bundle
    /// and the 140 files beside it, as Go reads both) was 8 ms of a 24 ms `hoist pull` of an
    /// image already stored (hyperfine, loopback registry). Every other host is HTTPS only:
    /// its verifier is built with the client ([`HostVerifier::prepare`]), off the runtime.
    Roots {
        own: RootCertStore,
        system: fn() -> &'static [CertificateDer<'static>],
        verifier: OnceLock<Result<Arc<WebPkiServerVerifier>, rustls::Error>>,
    },
}

impl HostVerifier {
    /// Builds the webpki verifier of `Trust::Roots` now, reading the system roots if no
    /// verifier did yet (a failure is kept, and reported by the first verification).
    fn prepare(&self) {
        if let Trust::Roots {
            own,
            system,
            verifier,
        } = &self.trust
        {
            let _ = self.webpki(own, *system, verifier);
        }
    }

    /// The webpki verifier of `Trust::Roots`, built on first use.
    fn webpki(
        &self,
        own: &RootCertStore,
        system: fn() -> &'static [CertificateDer<'static>],
        verifier: &OnceLock<Result<Arc<WebPkiServerVerifier>, rustls::Error>>,
    ) -> Result<Arc<WebPkiServerVerifier>, rustls::Error> {
        let built = verifier.get_or_init(|| {
            let mut roots = own.clone();
            // Unparseable platform certificates are skipped, like Go's `x509.SystemCertPool`.
            let (_added, _ignored) = roots.add_parsable_certificates(system().iter().cloned());
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(format!("no certificate to trust: {e}")))
        });
        built.clone()
    }
}

impl ServerCertVerifier for HostVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.trust {
            Trust::Any => Ok(ServerCertVerified::assertion()),
            Trust::Roots {
                own,
                system,
                verifier,
            } => self.webpki(own, *system, verifier)?.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_testkit::TestCa;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static SYSTEM_LOADS: AtomicUsize = AtomicUsize::new(0);

    /// Stands for the system store: counts its loads, holds nothing.
    fn counted_system_roots() -> &'static [CertificateDer<'static>] {
        SYSTEM_LOADS.fetch_add(1, Ordering::SeqCst);
        &[]
    }

    fn verifier(own: RootCertStore) -> HostVerifier {
        HostVerifier {
            provider: Arc::new(ring::default_provider()),
            trust: Trust::Roots {
                own,
                system: counted_system_roots,
                verifier: OnceLock::new(),
            },
        }
    }

    fn verify(verifier: &HostVerifier, cert: &[u8]) -> Result<ServerCertVerified, rustls::Error> {
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let cert = CertificateDer::from(cert.to_vec());
        verifier.verify_server_cert(&cert, &[], &name, &[], UnixTime::now())
    }

    #[test]
    fn system_roots_are_read_once_at_the_first_certificate_or_when_prepared() {
        let (ca, other) = (TestCa::new().unwrap(), TestCa::new().unwrap());
        let mut own = RootCertStore::empty();
        own.add(CertificateDer::from(ca.cert_der().to_vec()))
            .unwrap();
        let host = verifier(own.clone());
        assert!(!host.supported_verify_schemes().is_empty());
        assert_eq!(
            SYSTEM_LOADS.load(Ordering::SeqCst),
            0,
            "read before a handshake"
        );

        verify(&host, &ca.server_cert(&[]).unwrap().cert_der).unwrap();
        assert_eq!(SYSTEM_LOADS.load(Ordering::SeqCst), 1);
        let untrusted = verify(&host, &other.server_cert(&[]).unwrap().cert_der).unwrap_err();
        assert!(
            matches!(untrusted, rustls::Error::InvalidCertificate(_)),
            "{untrusted:?}"
        );
        verify(&host, &ca.server_cert(&[]).unwrap().cert_der).unwrap();
        assert_eq!(SYSTEM_LOADS.load(Ordering::SeqCst), 1, "read again");

        // An HTTPS-only host's verifier is built with its client: read before any handshake.
        let prepared = verifier(own);
        prepared.prepare();
        assert_eq!(SYSTEM_LOADS.load(Ordering::SeqCst), 2);
        verify(&prepared, &ca.server_cert(&[]).unwrap().cert_der).unwrap();
        assert_eq!(SYSTEM_LOADS.load(Ordering::SeqCst), 2, "read again");

        // Nothing to trust at all: every certificate is refused, with the reason.
        let empty = verifier(RootCertStore::empty());
        let err = verify(&empty, &ca.server_cert(&[]).unwrap().cert_der).unwrap_err();
        assert!(err.to_string().contains("no certificate to trust"), "{err}");
    }
}

//! Fulcio certificates: a signature made with a short-lived key whose certificate, issued by
//! a Fulcio CA for an OIDC identity, travels in the signature's annotations —
//! `dev.sigstore.cosign/certificate` (the leaf, PEM) and `dev.sigstore.cosign/chain` (its
//! intermediates then the root, PEM), as `cosign sign` attaches them.
//!
//! [`FulcioRoot::verify`] judges a certificate as containers/image's
//! `verifyFulcioCertificateAtTime` does (skopeo 1.22), at the time the Rekor log recorded the
//! signature (see [`super::rekor`]):
//! 1. the leaf is exactly one certificate; the chain annotation's certificates but the last
//!    (the root, which must come from the policy, never from the image) are intermediates;
//! 2. the leaf chains to one of the policy's CA certificates (`caPath`/`caData`), every
//!    certificate of the path valid at that time, for code signing when it names extended
//!    key usages (rustls-webpki builds and checks the path, as Go's `x509.Verify` does);
//! 3. the OIDC issuer Fulcio recorded — extension 1.3.6.1.4.1.57264.1.1 (raw bytes) and/or
//!    1.3.6.1.4.1.57264.1.8 (a DER string); both present must agree, one must be — equals
//!    the policy's `oidcIssuer`;
//! 4. one of the leaf's e-mail subject alternative names equals `subjectEmail` exactly.
//!
//! It returns the leaf's public key, which must then verify the payload signature. Only
//! ECDSA P-256 leaf keys (cosign's) are used; the CA and intermediates may be ECDSA P-256 or
//! P-384, Ed25519 or RSA. As containers/image, hoist checks no SCT: the Rekor entry already
//! records the certificate.

use std::time::{Duration, UNIX_EPOCH};

use p256::ecdsa::VerifyingKey;
use p256::pkcs8::DecodePublicKey;
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use webpki::{EndEntityCert, KeyUsage};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use crate::images::created::format_rfc3339;
use crate::trust::pem;

/// The annotation holding the signing certificate (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// The annotation holding the certificate's chain (PEM, intermediates then root).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";

/// Fulcio's OIDC issuer extension, first version: the issuer's bytes as they are.
const OID_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
/// Its second version: the issuer as a DER string.
const OID_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), the value bytes of the OID.
const EKU_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// What a CA or intermediate may sign with (what Go's `x509.Verify` accepts in a chain).
static ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::ED25519,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512,
    webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

/// A `fulcio` requirement made ready: the CA certificates and the identity required.
#[derive(Debug, Clone)]
pub struct FulcioRoot {
    /// The CA file (or `caData`), for messages.
    ca_name: String,
    /// The CA certificates, DER.
    anchors: Vec<CertificateDer<'static>>,
    oidc_issuer: String,
    subject_email: String,
}

impl FulcioRoot {
    /// The root for the CA certificates in `ca_pem` (the file `ca_name`): every PEM block
    /// that is a certificate, as Go's `AppendCertsFromPEM` takes them; none is an error.
    pub fn new(
        ca_name: &str,
        ca_pem: &[u8],
        oidc_issuer: &str,
        subject_email: &str,
    ) -> Result<FulcioRoot, String> {
        let anchors: Vec<CertificateDer<'static>> = pem::decode_all(ca_pem)
            .into_iter()
            .filter(|block| block.label == "CERTIFICATE")
            .map(|block| CertificateDer::from(block.der))
            .filter(|der| webpki::anchor_from_trusted_cert(der).is_ok())
            .collect();
        if anchors.is_empty() {
            return Err("no CA certificate in it".into());
        }
        Ok(FulcioRoot {
            ca_name: ca_name.to_owned(),
            anchors,
            oidc_issuer: oidc_issuer.to_owned(),
            subject_email: subject_email.to_owned(),
        })
    }

    /// The e-mail the certificate must name, for messages.
    pub fn subject_email(&self) -> &str {
        &self.subject_email
    }

    /// The public key of the certificate `certificate` (the annotation's PEM) with the chain
    /// `chain`, when it is valid at `integrated_time` (seconds since 1970) for the required
    /// identity; else why not.
    pub fn verify(
        &self,
        integrated_time: i64,
        certificate: &[u8],
        chain: Option<&[u8]>,
    ) -> Result<VerifyingKey, String> {
        let mut intermediates = match chain {
            Some(chain) if !chain.is_empty() => {
                certificates(chain).map_err(|e| format!("the certificate chain {e}"))?
            }
            _ => Vec::new(),
        };
        intermediates.pop();
        let leaf = match certificates(certificate)
            .map_err(|e| format!("the certificate {e}"))?
            .as_slice()
        {
            [leaf] => leaf.clone(),
            [] => return Err("no certificate in the certificate annotation".into()),
            _ => return Err("more than one certificate in the certificate annotation".into()),
        };
        self.verify_path(integrated_time, &leaf, &intermediates)?;
        let (_, parsed) = X509Certificate::from_der(&leaf)
            .map_err(|e| format!("the certificate cannot be read: {e}"))?;
        let issuer = oidc_issuer(&parsed)?;
        if issuer != self.oidc_issuer {
            return Err(format!(
                "the certificate's OIDC issuer is {issuer:?}, not {:?}",
                self.oidc_issuer
            ));
        }
        let emails = emails(&parsed)?;
        if !emails.contains(&self.subject_email.as_str()) {
            return Err(format!(
                "the certificate is for {emails:?}, not {:?}",
                self.subject_email
            ));
        }
        VerifyingKey::from_public_key_der(parsed.public_key().raw).map_err(|_| {
            "the certificate's key is not ECDSA P-256 (the only kind hoist verifies payloads with)"
                .to_owned()
        })
    }

    /// Whether `leaf` chains to the CA through `intermediates`, valid at `integrated_time`.
    fn verify_path(
        &self,
        integrated_time: i64,
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), String> {
        let seconds = u64::try_from(integrated_time)
            .map_err(|_| format!("the Rekor integratedTime {integrated_time} is before 1970"))?;
        let time = UnixTime::since_unix_epoch(Duration::from_secs(seconds));
        let anchors: Vec<_> = self
            .anchors
            .iter()
            .filter_map(|der| webpki::anchor_from_trusted_cert(der).ok())
            .collect();
        let end_entity = EndEntityCert::try_from(leaf)
            .map_err(|e| format!("the certificate cannot be used: {e}"))?;
        let at = || format_rfc3339(UNIX_EPOCH + Duration::from_secs(seconds));
        let when = |t: UnixTime| format_rfc3339(UNIX_EPOCH + Duration::from_secs(t.as_secs()));
        end_entity
            .verify_for_usage(
                ALGORITHMS,
                &anchors,
                intermediates,
                time,
                KeyUsage::required_if_present(EKU_CODE_SIGNING),
                None,
                None,
            )
            .map(drop)
            .map_err(|e| match e {
                // No CA of that name, or one of that name that did not sign it.
                webpki::Error::UnknownIssuer | webpki::Error::InvalidSignatureForPublicKey => {
                    format!("the certificate is not issued by the Fulcio CA {}", self.ca_name)
                }
                webpki::Error::CertExpired { not_after, .. } => format!(
                    "the certificate chain is not valid at the Rekor integratedTime {}: expired at {}",
                    at(),
                    when(not_after)
                ),
                webpki::Error::CertNotValidYet { not_before, .. } => format!(
                    "the certificate chain is not valid at the Rekor integratedTime {}: valid from {}",
                    at(),
                    when(not_before)
                ),
                other => format!(
                    "the certificate does not chain to the Fulcio CA {}: {other}",
                    self.ca_name
                ),
            })
    }
}

/// The certificates of a PEM annotation, DER, as sigstore's `UnmarshalCertificatesFromPEM`
/// reads them: blocks up to the end (blanks around them allowed), each a certificate.
fn certificates(text: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut out = Vec::new();
    let mut rest = text.trim_ascii();
    while !rest.is_empty() {
        let (block, after) = pem::decode(rest).ok_or("is not PEM")?;
        X509Certificate::from_der(&block.der)
            .ok()
            .filter(|(trailing, _)| trailing.is_empty())
            .ok_or("holds something that is not a certificate")?;
        out.push(CertificateDer::from(block.der));
        rest = after.trim_ascii();
    }
    Ok(out)
}

/// The OIDC issuer Fulcio recorded in `cert`.
fn oidc_issuer(cert: &X509Certificate<'_>) -> Result<String, String> {
    let mut v1: Option<String> = None;
    let mut v2: Option<String> = None;
    for extension in cert.extensions() {
        let (slot, value) = match extension.oid.to_id_string().as_str() {
            OID_ISSUER_V1 => (
                &mut v1,
                String::from_utf8_lossy(extension.value).into_owned(),
            ),
            OID_ISSUER_V2 => (
                &mut v2,
                der_string(extension.value)
                    .ok_or("the certificate's OIDC issuer (v2) extension is not a DER string")?,
            ),
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err("the certificate has a duplicate OIDC issuer extension".into());
        }
    }
    match (v1, v2) {
        (Some(v1), Some(v2)) if v1 != v2 => Err(format!(
            "the certificate's OIDC issuer extensions disagree: {v1:?} and {v2:?}"
        )),
        (Some(issuer), _) | (None, Some(issuer)) => Ok(issuer),
        (None, None) => Err("the certificate has no OIDC issuer extension".into()),
    }
}

/// A DER UTF8String, PrintableString or IA5String with nothing after it (what Go's
/// `asn1.Unmarshal` reads into a string).
fn der_string(der: &[u8]) -> Option<String> {
    let (&tag, rest) = der.split_first()?;
    if !matches!(tag, 0x0c | 0x13 | 0x16) {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |n, b| (n << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    if rest.len() != len {
        return None;
    }
    String::from_utf8(rest.to_vec()).ok()
}

/// The e-mail subject alternative names of `cert`.
fn emails<'a>(cert: &'a X509Certificate<'_>) -> Result<Vec<&'a str>, String> {
    let names = cert
        .subject_alternative_name()
        .map_err(|e| format!("the certificate's subject alternative names cannot be read: {e}"))?;
    Ok(names
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::RFC822Name(email) => Some(*email),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_strings_are_read_whole() {
        assert_eq!(der_string(b"\x0c\x03abc").as_deref(), Some("abc"));
        assert_eq!(der_string(b"\x16\x01a").as_deref(), Some("a"));
        assert_eq!(der_string(b"\x0c\x03abcd"), None);
        assert_eq!(der_string(b"\x04\x01a"), None);
        let long = [&[0x0c, 0x81, 200][..], &[b'x'; 200]].concat();
        assert_eq!(der_string(&long).map(|s| s.len()), Some(200));
    }

    proptest::proptest! {
        #[test]
        fn any_certificate_annotation_is_refused_without_panicking(
            text in "\\PC*",
            der in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
        ) {
            let root = FulcioRoot {
                ca_name: "ca".into(),
                anchors: Vec::new(),
                oidc_issuer: "i".into(),
                subject_email: "e".into(),
            };
            let wrapped = pem::encode("CERTIFICATE", &der);
            for certificate in [text.as_bytes(), wrapped.as_bytes()] {
                proptest::prop_assert!(root.verify(0, certificate, Some(certificate)).is_err());
            }
            let _ = der_string(&der);
        }
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let err = FulcioRoot::new("/ca.pem", b"not pem", "i", "e").unwrap_err();
        assert_eq!(err, "no CA certificate in it");
    }
}

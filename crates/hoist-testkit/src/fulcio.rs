//! An independent keyless (Fulcio + Rekor) signer, as `cosign sign` without a key makes
//! signatures: a Fulcio-style CA ([`FulcioCa`], a root and optionally an intermediate) issues
//! a short-lived certificate ([`FulcioCert`]) for an e-mail and an OIDC issuer; its key signs
//! the payload; a Rekor-style log key ([`RekorKey`]) signs the entry that records it. Written
//! with rcgen, p256 and serde_json directly, never with hoist's trust code, so tests check
//! hoist's verification against a second implementation of the format.
//!
//! What it writes, as cosign 2 and Fulcio/Rekor do:
//! - the leaf: X.509 v3, empty subject, the e-mail as a critical rfc822Name SAN, key usage
//!   digitalSignature, extended key usage codeSigning, the OIDC issuer in extension
//!   1.3.6.1.4.1.57264.1.1 (raw bytes) and/or 1.3.6.1.4.1.57264.1.8 (DER UTF8String), an
//!   ECDSA P-256 key; the CA is ECDSA P-384 (as Fulcio's is);
//! - the signature layer's annotations: `dev.cosignproject.cosign/signature`,
//!   `dev.sigstore.cosign/certificate` (leaf PEM), `dev.sigstore.cosign/chain`
//!   (intermediate then root PEM) and `dev.sigstore.cosign/bundle`;
//! - the bundle: `{"SignedEntryTimestamp": B64, "Payload": {"body", "integratedTime",
//!   "logIndex", "logID"}}`, the SET being ECDSA P-256 over the SHA-256 of the payload in
//!   canonical JSON (keys sorted, no blanks), the body a `hashedrekord` 0.0.1 entry naming
//!   the payload's SHA-256, the signature and the certificate PEM.
//!
//! Every part can be made wrong on purpose (another e-mail, issuer, CA, Rekor key, body or
//! time) by building it from the pieces: [`FulcioCa::issue`] with a [`Leaf`],
//! [`FulcioCert::sign`], [`RekorKey::record`] or [`RekorKey::bundle`].

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::sigstore::{payload, SignatureLayer};

/// The annotation holding the leaf certificate (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// The annotation holding the chain (PEM, intermediate then root).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// The annotation holding the Rekor bundle (JSON).
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

const OID_ISSUER_V1: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 1];
const OID_ISSUER_V2: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 8];

/// Seconds since 1970, now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A Fulcio-style certificate authority: a root, and optionally an intermediate that issues
/// the leaves.
pub struct FulcioCa {
    root: Issuer<'static, KeyPair>,
    root_pem: String,
    intermediate: Option<(Issuer<'static, KeyPair>, String)>,
}

impl std::fmt::Debug for FulcioCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FulcioCa")
            .field("intermediate", &self.intermediate.is_some())
            .finish_non_exhaustive()
    }
}

/// Which of Fulcio's two OIDC issuer extensions a leaf carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerExtensions {
    /// 1.3.6.1.4.1.57264.1.1 only (Fulcio before 2022).
    V1,
    /// 1.3.6.1.4.1.57264.1.8 only.
    V2,
    /// Both, as Fulcio writes today.
    Both,
}

/// What a leaf certificate says.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// The e-mail SAN.
    pub email: String,
    /// The OIDC issuer.
    pub issuer: String,
    /// Which issuer extensions carry it.
    pub extensions: IssuerExtensions,
    /// A different issuer for the v2 extension (only with [`IssuerExtensions::Both`]).
    pub issuer_v2: Option<String>,
    /// Valid from (seconds since 1970).
    pub not_before: i64,
    /// Valid until (seconds since 1970).
    pub not_after: i64,
}

impl Leaf {
    /// A leaf for `email` from `issuer`, valid from a minute ago for ten minutes (Fulcio's
    /// lifetime), with both issuer extensions.
    pub fn new(email: &str, issuer: &str) -> Leaf {
        let now = now();
        Leaf {
            email: email.to_owned(),
            issuer: issuer.to_owned(),
            extensions: IssuerExtensions::Both,
            issuer_v2: None,
            not_before: now - 60,
            not_after: now + 540,
        }
    }
}

impl FulcioCa {
    /// A CA whose root issues the leaves itself (the chain annotation is the root alone).
    pub fn new() -> Result<FulcioCa> {
        let (root, root_pem) = ca("hoist testkit fulcio root", None)?;
        Ok(FulcioCa {
            root,
            root_pem,
            intermediate: None,
        })
    }

    /// A CA whose intermediate, signed by the root, issues the leaves (as sigstore's does).
    pub fn with_intermediate() -> Result<FulcioCa> {
        let (root, root_pem) = ca("hoist testkit fulcio root", None)?;
        let intermediate = ca("hoist testkit fulcio intermediate", Some(&root))?;
        Ok(FulcioCa {
            root,
            root_pem,
            intermediate: Some(intermediate),
        })
    }

    /// The root certificate, PEM: what a policy's `caPath` names.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// The chain annotation: the intermediate (if any) then the root, PEM.
    pub fn chain_pem(&self) -> String {
        match &self.intermediate {
            Some((_, pem)) => format!("{pem}{}", self.root_pem),
            None => self.root_pem.clone(),
        }
    }

    /// A certificate for `leaf`, issued by the intermediate (or the root).
    pub fn issue(&self, leaf: &Leaf) -> Result<FulcioCert> {
        let key = KeyPair::generate().map_err(|e| Error::cert("fulcio leaf key", e))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        let email = leaf
            .email
            .clone()
            .try_into()
            .map_err(|e| Error::cert("fulcio leaf e-mail", e))?;
        params.subject_alt_names = vec![SanType::Rfc822Name(email)];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.not_before = time_at(leaf.not_before)?;
        params.not_after = time_at(leaf.not_after)?;
        params.use_authority_key_identifier_extension = true;
        let v1 = CustomExtension::from_oid_content(OID_ISSUER_V1, leaf.issuer.as_bytes().to_vec());
        let v2_issuer = leaf.issuer_v2.as_deref().unwrap_or(&leaf.issuer);
        let v2 = CustomExtension::from_oid_content(OID_ISSUER_V2, der_utf8_string(v2_issuer));
        params.custom_extensions = match leaf.extensions {
            IssuerExtensions::V1 => vec![v1],
            IssuerExtensions::V2 => vec![v2],
            IssuerExtensions::Both => vec![v1, v2],
        };
        let issuer = self.intermediate.as_ref().map_or(&self.root, |(i, _)| i);
        let cert = params
            .signed_by(&key, issuer)
            .map_err(|e| Error::cert("fulcio leaf", e))?;
        let signing = SigningKey::from_pkcs8_der(&key.serialize_der())
            .map_err(|e| Error::Protocol(format!("fulcio leaf key: {e}")))?;
        Ok(FulcioCert {
            cert_pem: cert.pem(),
            chain_pem: self.chain_pem(),
            key: signing,
        })
    }
}

/// A CA certificate (P-384), self-signed or signed by `parent`, and its PEM.
fn ca(
    name: &str,
    parent: Option<&Issuer<'static, KeyPair>>,
) -> Result<(Issuer<'static, KeyPair>, String)> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)
        .map_err(|e| Error::cert("fulcio CA key", e))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "hoist testkit");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    if parent.is_some() {
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    }
    params.not_before = time_at(now() - 86_400)?;
    params.not_after = time_at(now() + 10 * 365 * 86_400)?;
    let cert = match parent {
        Some(parent) => params.signed_by(&key, parent),
        None => params.self_signed(&key),
    }
    .map_err(|e| Error::cert("fulcio CA", e))?;
    Ok((Issuer::new(params, key), cert.pem()))
}

fn time_at(seconds: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(seconds)
        .map_err(|e| Error::Protocol(format!("time {seconds}: {e}")))
}

/// DER UTF8String of `text`.
fn der_utf8_string(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = vec![0x0c];
    match bytes.len() {
        len @ 0..=0x7f => out.push(len as u8),
        len @ 0x80..=0xff => out.extend([0x81, len as u8]),
        len => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(bytes);
    out
}

/// A short-lived certificate and its key.
pub struct FulcioCert {
    /// The leaf, PEM.
    pub cert_pem: String,
    /// The chain annotation (intermediate then root), PEM.
    pub chain_pem: String,
    key: SigningKey,
}

impl std::fmt::Debug for FulcioCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FulcioCert")
    }
}

impl FulcioCert {
    /// `payload` signed with the certificate's key: the layer with the signature,
    /// certificate and chain annotations (no bundle yet).
    pub fn sign(&self, payload: Vec<u8>) -> SignatureLayer {
        let signature: Signature = self.key.sign(&payload);
        SignatureLayer {
            signature: STANDARD.encode(signature.to_der().as_bytes()),
            payload,
            annotations: BTreeMap::from([
                (CERTIFICATE_ANNOTATION.to_owned(), self.cert_pem.clone()),
                (CHAIN_ANNOTATION.to_owned(), self.chain_pem.clone()),
            ]),
        }
    }

    /// cosign's payload for `digest` as `identity`, signed (no bundle yet).
    pub fn signature(&self, digest: &str, identity: &str) -> SignatureLayer {
        self.sign(payload(digest, identity))
    }
}

/// A Rekor-style log key (ECDSA P-256, as the public log's).
#[derive(Clone)]
pub struct RekorKey {
    key: SigningKey,
}

impl std::fmt::Debug for RekorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RekorKey")
    }
}

impl RekorKey {
    /// A new random key.
    pub fn generate() -> RekorKey {
        loop {
            let bytes: [u8; 32] = rand::random();
            if let Ok(key) = SigningKey::from_slice(&bytes) {
                return RekorKey { key };
            }
        }
    }

    /// The public key, PEM (what `rekorPublicKeyPath` names).
    pub fn public_pem(&self) -> String {
        self.key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    /// The log ID: hex SHA-256 of the public key's DER, as Rekor names its logs.
    pub fn log_id(&self) -> String {
        let der = self
            .key
            .verifying_key()
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        hex::encode(Sha256::digest(der))
    }

    /// A bundle recording the entry `body` at `integrated_time`.
    pub fn bundle(&self, body: &[u8], integrated_time: i64) -> String {
        let body = STANDARD.encode(body);
        let log_id = self.log_id();
        let log_index = 1000 + integrated_time % 1000;
        // RFC 8785 for exactly these four fields: keys in code-point order, no blanks; the
        // values are base64, hex and integers, which need no escaping.
        let canonical = format!(
            r#"{{"body":"{body}","integratedTime":{integrated_time},"logID":"{log_id}","logIndex":{log_index}}}"#
        );
        let set: Signature = self.key.sign(canonical.as_bytes());
        json!({
            "SignedEntryTimestamp": STANDARD.encode(set.to_der().as_bytes()),
            "Payload": {
                "body": body,
                "integratedTime": integrated_time,
                "logIndex": log_index,
                "logID": log_id,
            },
        })
        .to_string()
    }

    /// Adds to `layer` the bundle of its own entry, logged at `integrated_time`.
    pub fn record(&self, layer: &mut SignatureLayer, integrated_time: i64) {
        let bundle = self.bundle(&hashedrekord(layer), integrated_time);
        layer
            .annotations
            .insert(BUNDLE_ANNOTATION.to_owned(), bundle);
    }
}

/// The `hashedrekord` 0.0.1 entry of `layer`: its payload's SHA-256, its signature and its
/// certificate.
pub fn hashedrekord(layer: &SignatureLayer) -> Vec<u8> {
    let certificate = layer
        .annotations
        .get(CERTIFICATE_ANNOTATION)
        .map(String::as_str)
        .unwrap_or_default();
    hashedrekord_entry(&layer.payload, &layer.signature, certificate)
}

/// The `hashedrekord` 0.0.1 entry of the base64 `signature` of `payload` by the certificate
/// or public key `public_pem`.
pub fn hashedrekord_entry(payload: &[u8], signature: &str, public_pem: &str) -> Vec<u8> {
    json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(payload))}},
            "signature": {
                "content": signature,
                "publicKey": {"content": STANDARD.encode(public_pem)},
            },
        },
    })
    .to_string()
    .into_bytes()
}

/// A keyless signer: a CA and a log key, signing and recording in one step.
#[derive(Debug)]
pub struct KeylessSigner {
    /// The CA.
    pub ca: FulcioCa,
    /// The log key.
    pub rekor: RekorKey,
}

impl KeylessSigner {
    /// A new CA (root + intermediate) and log key.
    pub fn new() -> Result<KeylessSigner> {
        Ok(KeylessSigner {
            ca: FulcioCa::with_intermediate()?,
            rekor: RekorKey::generate(),
        })
    }

    /// A signature layer for `digest` as `identity` by `leaf`, recorded now.
    pub fn signature(&self, leaf: &Leaf, digest: &str, identity: &str) -> Result<SignatureLayer> {
        let mut layer = self.ca.issue(leaf)?.signature(digest, identity);
        self.rekor.record(&mut layer, now());
        Ok(layer)
    }
}

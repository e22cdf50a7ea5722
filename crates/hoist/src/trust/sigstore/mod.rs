//! Sigstore signatures: where they are ([`attachments`], in a [`SignatureHome`]), what they sign ([`payload`]), who
//! may have signed them ([`TrustRoot`]: public keys, or Fulcio certificates proven by Rekor
//! bundles — [`fulcio`], [`rekor`]), and the two operations on one signature — [`check`] (is
//! it a valid signature by this trust root for this digest and an accepted identity?) and
//! [`sign`] (make one).
//!
//! A signature is ECDSA P-256 over the SHA-256 of the payload bytes, ASN.1 DER, base64 in the
//! layer annotation (cosign's `SignerVerifier` with its default hash). [`check`] follows
//! containers/image's `isSignatureAccepted` order: which keys may have signed (with Fulcio,
//! the Rekor bundle first, then the certificate at the bundle's time; with keys and Rekor
//! keys, the key the bundle names), then the cryptographic signature, then the payload's
//! digest, then its identity.

pub mod attachments;
pub mod fulcio;
mod home;
pub mod payload;
pub mod rekor;
mod remembered;

use base64::Engine;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature as EcdsaSignature, SigningKey, VerifyingKey};
use p256::pkcs8::EncodePublicKey;

pub use attachments::{
    Signature, SignatureHome, MAX_PAYLOAD, MAX_SIGNATURES, SIGNATURE_ANNOTATION, SIMPLE_SIGNING,
};
pub use fulcio::{FulcioRoot, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION};
pub use payload::Payload;
pub use rekor::BUNDLE_ANNOTATION;
pub use remembered::{RememberedSignatures, MAX_REMEMBERED};

use crate::digest::Digest;
use crate::reference::Reference;
use crate::trust::identity::SignedIdentity;
use crate::trust::pem;

/// Who may have signed, as a `sigstoreSigned` requirement says (containers/image's
/// `sigstoreSignedTrustRoot`). Keys are named for messages (their file, or `keyData`).
#[derive(Debug, Clone, Default)]
pub struct TrustRoot {
    /// Public keys, any of which may have signed (`keyPath`, `keyPaths`, `keyData`, …).
    pub keys: Vec<(String, VerifyingKey)>,
    /// Fulcio certificates instead of keys.
    pub fulcio: Option<FulcioRoot>,
    /// Rekor keys: when any are given, a signature needs a Rekor bundle signed by one.
    pub rekor: Vec<(String, VerifyingKey)>,
}

impl TrustRoot {
    /// A root of public keys alone.
    pub fn keys(keys: Vec<(String, VerifyingKey)>) -> TrustRoot {
        TrustRoot {
            keys,
            ..TrustRoot::default()
        }
    }
}

/// Why one signature was not accepted (each becomes `signature N: …` in the refusal).
pub fn check(
    signature: &Signature,
    root: &TrustRoot,
    digest: &Digest,
    identity: &SignedIdentity,
    image: Option<&Reference>,
) -> Result<(), String> {
    let encoded = annotation(signature, SIGNATURE_ANNOTATION)?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| "the signature is not base64".to_owned())?;
    let ecdsa = EcdsaSignature::from_der(&der)
        .map_err(|_| "the signature is not an ECDSA P-256 signature".to_owned())?;
    let keys = signers(signature, root, &der)?;
    if !keys
        .iter()
        .any(|(_, key)| key.verify(&signature.payload, &ecdsa).is_ok())
    {
        let names: Vec<&str> = keys.iter().map(|(name, _)| name.as_str()).collect();
        return Err(format!("not signed by {}", names.join(" or ")));
    }
    let payload =
        Payload::parse(&signature.payload).map_err(|e| format!("invalid payload: {e}"))?;
    if payload.manifest_digest != digest.as_str() {
        return Err(format!(
            "signed for digest {}, not {digest}",
            payload.manifest_digest
        ));
    }
    if !identity.accepts(image, &payload.docker_reference) {
        let image = image.map_or("an image without a docker reference".to_owned(), |r| {
            r.to_string()
        });
        return Err(format!(
            "identity {:?} not accepted by signedIdentity {} for {image}",
            payload.docker_reference,
            identity.name()
        ));
    }
    Ok(())
}

/// The keys that may have made `signature` (whose bytes are `der`) under `root`: the Fulcio
/// certificate's, once its Rekor bundle and chain hold; with Rekor keys, the one key the
/// bundle records; else all of the root's keys.
fn signers(
    signature: &Signature,
    root: &TrustRoot,
    der: &[u8],
) -> Result<Vec<(String, VerifyingKey)>, String> {
    if let Some(fulcio) = &root.fulcio {
        let bundle = annotation(signature, BUNDLE_ANNOTATION)?;
        let certificate = annotation(signature, CERTIFICATE_ANNOTATION)?;
        let leaf = pem::decode(certificate.as_bytes())
            .filter(|(_, rest)| rest.is_empty())
            .ok_or("the certificate annotation is not one PEM block")?
            .0;
        let time = rekor::verify_set(&root.rekor, bundle, &leaf.der, der, &signature.payload)?;
        let chain = signature.annotations.get(CHAIN_ANNOTATION);
        let key = fulcio.verify(time, certificate.as_bytes(), chain.map(|c| c.as_bytes()))?;
        let name = format!("the Fulcio certificate of {}", fulcio.subject_email());
        return Ok(vec![(name, key)]);
    }
    if root.rekor.is_empty() {
        return Ok(root.keys.clone());
    }
    let bundle = annotation(signature, BUNDLE_ANNOTATION)?;
    let mut failures = Vec::new();
    for (name, key) in &root.keys {
        let spki = key
            .to_public_key_der()
            .map_err(|e| format!("key {name}: {e}"))?;
        match rekor::verify_set(
            &root.rekor,
            bundle,
            spki.as_bytes(),
            der,
            &signature.payload,
        ) {
            Ok(_) => return Ok(vec![(name.clone(), *key)]),
            Err(reason) => failures.push(format!("{name}: {reason}")),
        }
    }
    Err(format!(
        "no key matches the Rekor bundle ({})",
        failures.join(", ")
    ))
}

/// The annotation `name` of `signature`, or why its absence refuses it.
fn annotation<'a>(signature: &'a Signature, name: &str) -> Result<&'a str, String> {
    signature
        .annotations
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| format!("no {name} annotation"))
}

/// A signature of `digest` as `identity` by `key`: the payload bytes and the base64
/// signature for the layer annotation.
pub fn sign(key: &SigningKey, digest: &Digest, identity: &Reference) -> (Vec<u8>, String) {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let payload = Payload {
        manifest_digest: digest.to_string(),
        docker_reference: identity.to_string(),
    }
    .to_bytes(timestamp);
    let signature: EcdsaSignature = key.sign(&payload);
    let encoded = base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes());
    (payload, encoded)
}

#[cfg(test)]
mod tests;

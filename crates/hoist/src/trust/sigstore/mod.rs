//! Sigstore signatures: where they are ([`attachments`]), what they sign ([`payload`]), and
//! the two operations on one signature — [`check`] (is it a valid signature by one of these
//! keys for this digest and an accepted identity?) and [`sign`] (make one).
//!
//! A signature is ECDSA P-256 over the SHA-256 of the payload bytes, ASN.1 DER, base64 in the
//! layer annotation (cosign's `SignerVerifier` with its default hash). [`check`] follows
//! containers/image's order: the cryptographic signature first, then the payload's digest,
//! then its identity.

pub mod attachments;
pub mod payload;

use base64::Engine;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature as EcdsaSignature, SigningKey, VerifyingKey};

pub use attachments::{
    Signature, MAX_PAYLOAD, MAX_SIGNATURES, SIGNATURE_ANNOTATION, SIMPLE_SIGNING,
};
pub use payload::Payload;

use crate::digest::Digest;
use crate::reference::Reference;
use crate::trust::identity::SignedIdentity;

/// Why one signature was not accepted (each becomes `signature N: …` in the refusal).
pub fn check(
    signature: &Signature,
    keys: &[(String, VerifyingKey)],
    digest: &Digest,
    identity: &SignedIdentity,
    image: Option<&Reference>,
) -> Result<(), String> {
    let encoded = signature
        .annotations
        .get(SIGNATURE_ANNOTATION)
        .ok_or_else(|| format!("no {SIGNATURE_ANNOTATION} annotation"))?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| "the signature is not base64".to_owned())?;
    let ecdsa = EcdsaSignature::from_der(&der)
        .map_err(|_| "the signature is not an ECDSA P-256 signature".to_owned())?;
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

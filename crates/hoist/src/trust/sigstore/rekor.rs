//! Rekor bundles: the proof, in a signature's `dev.sigstore.cosign/bundle` annotation, that
//! the transparency log recorded the signature — and when.
//!
//! A bundle is cosign's `{"SignedEntryTimestamp": B64, "Payload": {"body": B64,
//! "integratedTime": SECONDS, "logIndex": N, "logID": HEX}}`. The SignedEntryTimestamp (SET)
//! is the log's ECDSA signature (ASN.1 DER) over the SHA-256 of the payload in canonical JSON
//! (RFC 8785: keys sorted, no blanks); the body is the log entry, a `hashedrekord` 0.0.1:
//! `{"kind": "hashedrekord", "apiVersion": "0.0.1", "spec": {"data": {"hash": {"algorithm":
//! "sha256", "value": HEX}}, "signature": {"content": B64, "publicKey": {"content":
//! B64(PEM)}}}}`.
//!
//! [`verify_set`] checks a bundle as containers/image's `VerifyRekorSET` does (skopeo 1.22):
//! the bundle has exactly its two fields and the payload exactly its four (no unknown or
//! duplicated ones); the SET verifies with one of the policy's Rekor keys; the entry is a
//! `hashedrekord` 0.0.1 whose public key (the DER of its first PEM block, nothing after it)
//! is the signer's certificate or key, whose signature is this signature's bytes and whose
//! SHA-256 is that of this payload. It returns `integratedTime`, the time the certificate
//! must be valid at. Integers beyond 2^53 are refused: RFC 8785 writes numbers as IEEE
//! doubles, so no log signs them exactly.

use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature as EcdsaSignature, VerifyingKey};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest as _, Sha256};

use crate::trust::pem;

/// The annotation holding the Rekor bundle.
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// The only entry kind and version a bundle may carry (what cosign uploads).
const KIND: &str = "hashedrekord";
const API_VERSION: &str = "0.0.1";
/// The largest integer an RFC 8785 number holds exactly.
const MAX_EXACT: i64 = 1 << 53;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Bundle<'a> {
    #[serde(rename = "SignedEntryTimestamp")]
    set: String,
    #[serde(rename = "Payload", borrow)]
    payload: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SetPayload {
    body: String,
    integrated_time: i64,
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

/// The log entry; fields beyond these are ignored, as Go's decoder does.
#[derive(Deserialize)]
struct Entry {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    spec: Option<Spec>,
}

#[derive(Deserialize)]
struct Spec {
    data: Option<Data>,
    signature: Option<EntrySignature>,
}

#[derive(Deserialize)]
struct Data {
    hash: Option<Hash>,
}

#[derive(Deserialize)]
struct Hash {
    algorithm: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
struct EntrySignature {
    content: Option<String>,
    #[serde(rename = "publicKey")]
    public_key: Option<Content>,
}

#[derive(Deserialize)]
struct Content {
    content: Option<String>,
}

/// Checks the bundle `bundle` (the annotation's text) for the signature `signature` (its
/// bytes) of `payload` by the certificate or key whose DER is `signer_der`, with the Rekor
/// keys `keys` (each with the name messages use). Returns the entry's `integratedTime`
/// (seconds since 1970), or why the bundle is refused.
pub fn verify_set(
    keys: &[(String, VerifyingKey)],
    bundle: &str,
    signer_der: &[u8],
    signature: &[u8],
    payload: &[u8],
) -> Result<i64, String> {
    let bundle: Bundle<'_> =
        serde_json::from_str(bundle).map_err(|e| format!("invalid Rekor bundle: {e}"))?;
    let set: SetPayload = serde_json::from_str(bundle.payload.get())
        .map_err(|e| format!("invalid Rekor bundle payload: {e}"))?;
    let canonical = canonical(&set)?;
    let set_signature = base64_decode(&bundle.set)
        .and_then(|der| EcdsaSignature::from_der(&der).ok())
        .ok_or("the Rekor SignedEntryTimestamp is not a base64 ECDSA signature")?;
    if !keys
        .iter()
        .any(|(_, key)| key.verify(&canonical, &set_signature).is_ok())
    {
        let names: Vec<&str> = keys.iter().map(|(name, _)| name.as_str()).collect();
        return Err(format!(
            "the Rekor SET is not signed by {}",
            names.join(" or ")
        ));
    }
    check_entry(&set.body, signer_der, signature, payload)?;
    Ok(set.integrated_time)
}

/// The payload's RFC 8785 form: keys in order, strings as JSON escapes them, integers.
fn canonical(set: &SetPayload) -> Result<Vec<u8>, String> {
    for (name, value) in [
        ("integratedTime", set.integrated_time),
        ("logIndex", set.log_index),
    ] {
        if !(-MAX_EXACT..=MAX_EXACT).contains(&value) {
            return Err(format!("Rekor bundle {name} {value} is out of range"));
        }
    }
    let string = |s: &str| serde_json::to_string(s).map_err(|e| e.to_string());
    Ok(format!(
        r#"{{"body":{},"integratedTime":{},"logID":{},"logIndex":{}}}"#,
        string(&set.body)?,
        set.integrated_time,
        string(&set.log_id)?,
        set.log_index
    )
    .into_bytes())
}

/// Whether the log entry `body` (base64) records this signature of this payload by this
/// signer.
fn check_entry(
    body: &str,
    signer_der: &[u8],
    signature: &[u8],
    payload: &[u8],
) -> Result<(), String> {
    let body = base64_decode(body).ok_or("the Rekor entry body is not base64")?;
    let entry: Entry =
        serde_json::from_slice(&body).map_err(|e| format!("invalid Rekor entry: {e}"))?;
    if entry.kind != KIND {
        return Err(format!(
            "the Rekor entry is a {:?}, not a {KIND:?}",
            entry.kind
        ));
    }
    if entry.api_version.as_deref() != Some(API_VERSION) {
        return Err(format!(
            "unsupported Rekor {KIND} version {:?}",
            entry.api_version.unwrap_or_default()
        ));
    }
    let missing = |field: &str| format!("the Rekor entry has no {field}");
    let spec = entry.spec.ok_or_else(|| missing("spec"))?;
    let recorded = spec.signature.ok_or_else(|| missing("spec.signature"))?;
    let key_pem = recorded
        .public_key
        .and_then(|k| k.content)
        .and_then(|c| base64_decode(&c))
        .ok_or_else(|| missing("base64 spec.signature.publicKey.content"))?;
    match pem::decode(&key_pem) {
        Some((block, rest)) if rest.is_empty() && block.der == signer_der => {}
        Some((_, rest)) if !rest.is_empty() => {
            return Err("the Rekor entry's public key has trailing data".into())
        }
        Some(_) => return Err("the Rekor entry is for another certificate or key".into()),
        None => return Err("the Rekor entry's public key is not PEM".into()),
    }
    let content = recorded
        .content
        .and_then(|c| base64_decode(&c))
        .ok_or_else(|| missing("base64 spec.signature.content"))?;
    if content != signature {
        return Err("the Rekor entry is for another signature".into());
    }
    let hash = spec
        .data
        .and_then(|d| d.hash)
        .ok_or_else(|| missing("spec.data.hash"))?;
    if hash.algorithm.as_deref() != Some("sha256") {
        return Err(format!(
            "the Rekor entry's hash algorithm {:?} is not sha256",
            hash.algorithm.unwrap_or_default()
        ));
    }
    let value = hash
        .value
        .and_then(|v| hex::decode(v).ok())
        .ok_or_else(|| missing("hex spec.data.hash.value"))?;
    if value != Sha256::digest(payload).as_slice() {
        return Err("the Rekor entry is for another payload".into());
    }
    Ok(())
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_payload_sorts_keys_and_has_no_blanks() {
        let set: SetPayload = serde_json::from_str(
            r#"{ "logIndex": 7, "logID": "ab\"c", "integratedTime": 1700000000, "body": "Ym9k" }"#,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(canonical(&set).unwrap()).unwrap(),
            r#"{"body":"Ym9k","integratedTime":1700000000,"logID":"ab\"c","logIndex":7}"#
        );
    }

    #[test]
    fn bundles_with_unknown_duplicated_or_missing_fields_are_refused() {
        let payload = r#"{"body":"","integratedTime":1,"logIndex":1,"logID":""}"#;
        for bundle in [
            format!(r#"{{"SignedEntryTimestamp":"","Payload":{payload},"x":1}}"#),
            format!(r#"{{"SignedEntryTimestamp":"","SignedEntryTimestamp":"","Payload":{payload}}}"#),
            r#"{"SignedEntryTimestamp":""}"#.to_owned(),
            r#"{"SignedEntryTimestamp":"","Payload":{"body":"","integratedTime":1,"logIndex":1,"logID":"","extra":0}}"#.to_owned(),
        ] {
            let err = verify_set(&[], &bundle, b"", b"", b"").unwrap_err();
            assert!(err.starts_with("invalid Rekor bundle"), "{bundle}: {err}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bundle_is_refused_without_panicking(bundle in "\\PC*", entry in "\\PC*") {
            proptest::prop_assert!(verify_set(&[], &bundle, b"", b"", b"").is_err());
            proptest::prop_assert!(check_entry(&entry, b"", b"", b"").is_err());
        }
    }

    #[test]
    fn integers_a_log_cannot_sign_exactly_are_refused() {
        let set = SetPayload {
            body: String::new(),
            integrated_time: MAX_EXACT + 1,
            log_index: 0,
            log_id: String::new(),
        };
        assert!(canonical(&set).unwrap_err().contains("out of range"));
    }
}

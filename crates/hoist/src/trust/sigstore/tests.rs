use std::collections::BTreeMap;

use bytes::Bytes;

use super::*;
use crate::trust::keys;

const DIGEST: &str = "sha256:0123456789012345678901234567890123456789012345678901234567890123";

fn digest() -> Digest {
    Digest::parse(DIGEST).unwrap()
}

fn signed(key: &SigningKey, digest: &Digest, identity: &str) -> Signature {
    let (payload, signature) = sign(key, digest, &Reference::parse(identity).unwrap());
    Signature {
        payload: Bytes::from(payload),
        annotations: BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), signature)]),
    }
}

fn check_with(signature: &Signature, key: &SigningKey, image: &str) -> Result<(), String> {
    let keys = [("k.pub".to_owned(), *key.verifying_key())];
    let image = Reference::parse(image).unwrap();
    check(
        signature,
        &keys,
        &digest(),
        &SignedIdentity::MatchRepoDigestOrExact,
        Some(&image),
    )
}

#[test]
fn a_signature_by_the_key_for_the_digest_and_identity_is_accepted() {
    let key = keys::generate();
    let signature = signed(&key, &digest(), "reg:5000/app:v1");
    assert_eq!(check_with(&signature, &key, "reg:5000/app:v1"), Ok(()));
}

#[test]
fn another_key_is_named_in_the_refusal() {
    let signature = signed(&keys::generate(), &digest(), "reg:5000/app:v1");
    let err = check_with(&signature, &keys::generate(), "reg:5000/app:v1").unwrap_err();
    assert_eq!(err, "not signed by k.pub");
}

#[test]
fn a_payload_lying_about_the_digest_is_refused() {
    let key = keys::generate();
    let other = Digest::sha256_of(b"another manifest");
    let signature = signed(&key, &other, "reg:5000/app:v1");
    let err = check_with(&signature, &key, "reg:5000/app:v1").unwrap_err();
    assert_eq!(err, format!("signed for digest {other}, not {DIGEST}"));
}

#[test]
fn another_identity_is_refused_naming_rule_and_image() {
    let key = keys::generate();
    let signature = signed(&key, &digest(), "reg:5000/other:v1");
    let err = check_with(&signature, &key, "reg:5000/app:v1").unwrap_err();
    assert_eq!(
        err,
        "identity \"reg:5000/other:v1\" not accepted by signedIdentity matchRepoDigestOrExact for reg:5000/app:v1"
    );
}

#[test]
fn a_payload_changed_after_signing_fails_the_signature() {
    let key = keys::generate();
    let mut signature = signed(&key, &digest(), "reg:5000/app:v1");
    let text = String::from_utf8(signature.payload.to_vec()).unwrap();
    signature.payload = Bytes::from(text.replace("app:v1", "app:v2"));
    assert_eq!(
        check_with(&signature, &key, "reg:5000/app:v2").unwrap_err(),
        "not signed by k.pub"
    );
}

#[test]
fn malformed_annotations_are_refused() {
    let key = keys::generate();
    let mut signature = signed(&key, &digest(), "reg:5000/app:v1");
    signature.annotations.clear();
    assert!(check_with(&signature, &key, "reg:5000/app:v1")
        .unwrap_err()
        .contains("no dev.cosignproject.cosign/signature"));
    signature
        .annotations
        .insert(SIGNATURE_ANNOTATION.into(), "***".into());
    assert_eq!(
        check_with(&signature, &key, "reg:5000/app:v1").unwrap_err(),
        "the signature is not base64"
    );
    signature
        .annotations
        .insert(SIGNATURE_ANNOTATION.into(), "AAAA".into());
    assert!(check_with(&signature, &key, "reg:5000/app:v1")
        .unwrap_err()
        .contains("not an ECDSA"));
}

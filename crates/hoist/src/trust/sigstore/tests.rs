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
    let root = TrustRoot::keys(vec![("k.pub".to_owned(), *key.verifying_key())]);
    let image = Reference::parse(image).unwrap();
    check(
        signature,
        &root,
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

mod keyless {
    use hoist_testkit::fulcio::{hashedrekord, now, KeylessSigner, Leaf, BUNDLE_ANNOTATION};
    use hoist_testkit::SignatureLayer;

    use super::*;

    const EMAIL: &str = "dev@example.com";
    const ISSUER: &str = "https://issuer.example.com";

    /// The testkit's layer as hoist reads it from the registry.
    fn read(layer: &SignatureLayer) -> Signature {
        let mut annotations = layer.annotations.clone();
        annotations.insert(SIGNATURE_ANNOTATION.to_owned(), layer.signature.clone());
        Signature {
            payload: Bytes::from(layer.payload.clone()),
            annotations,
        }
    }

    fn root(signer: &KeylessSigner) -> TrustRoot {
        let rekor = keys::public_key(signer.rekor.public_pem().as_bytes(), "rekor.pub").unwrap();
        TrustRoot {
            keys: Vec::new(),
            fulcio: Some(
                FulcioRoot::new("ca.pem", signer.ca.root_pem().as_bytes(), ISSUER, EMAIL).unwrap(),
            ),
            rekor: vec![("rekor.pub".to_owned(), rekor)],
        }
    }

    fn check_keyless(signer: &KeylessSigner, signature: &Signature) -> Result<(), String> {
        let image = Reference::parse("reg:5000/app:v1").unwrap();
        check(
            signature,
            &root(signer),
            &digest(),
            &SignedIdentity::MatchRepoDigestOrExact,
            Some(&image),
        )
    }

    fn signed(signer: &KeylessSigner) -> SignatureLayer {
        signer
            .signature(&Leaf::new(EMAIL, ISSUER), DIGEST, "reg:5000/app:v1")
            .unwrap()
    }

    #[test]
    fn a_logged_keyless_signature_is_accepted() {
        let signer = KeylessSigner::new().unwrap();
        assert_eq!(check_keyless(&signer, &read(&signed(&signer))), Ok(()));
    }

    #[test]
    fn the_payload_rules_still_apply_to_a_keyless_signature() {
        let signer = KeylessSigner::new().unwrap();
        let layer = signer
            .signature(&Leaf::new(EMAIL, ISSUER), DIGEST, "reg:5000/other:v1")
            .unwrap();
        let err = check_keyless(&signer, &read(&layer)).unwrap_err();
        assert!(err.contains("not accepted by signedIdentity"), "{err}");
    }

    #[test]
    fn a_certificate_annotation_with_more_than_one_block_is_refused() {
        let signer = KeylessSigner::new().unwrap();
        let mut signature = read(&signed(&signer));
        let certificate = signature.annotations[CERTIFICATE_ANNOTATION].clone();
        signature.annotations.insert(
            CERTIFICATE_ANNOTATION.to_owned(),
            format!("{certificate}{certificate}"),
        );
        assert_eq!(
            check_keyless(&signer, &signature).unwrap_err(),
            "the certificate annotation is not one PEM block"
        );
    }

    #[test]
    fn a_chain_that_is_not_certificates_is_refused() {
        let signer = KeylessSigner::new().unwrap();
        let mut signature = read(&signed(&signer));
        signature
            .annotations
            .insert(CHAIN_ANNOTATION.to_owned(), "garbage".to_owned());
        assert_eq!(
            check_keyless(&signer, &signature).unwrap_err(),
            "the certificate chain is not PEM"
        );
    }

    #[test]
    fn a_missing_chain_leaves_the_intermediate_unknown() {
        let signer = KeylessSigner::new().unwrap();
        let mut signature = read(&signed(&signer));
        signature.annotations.remove(CHAIN_ANNOTATION);
        let err = check_keyless(&signer, &signature).unwrap_err();
        assert!(err.contains("not issued by the Fulcio CA ca.pem"), "{err}");
    }

    #[test]
    fn an_entry_of_another_kind_or_version_is_refused() {
        let signer = KeylessSigner::new().unwrap();
        let layer = signed(&signer);
        let entry: serde_json::Value = serde_json::from_slice(&hashedrekord(&layer)).unwrap();
        for (field, value, says) in [
            ("kind", "rekord", "not a \"hashedrekord\""),
            (
                "apiVersion",
                "0.0.2",
                "unsupported Rekor hashedrekord version \"0.0.2\"",
            ),
        ] {
            let mut changed = entry.clone();
            changed[field] = value.into();
            let mut signature = read(&layer);
            signature.annotations.insert(
                BUNDLE_ANNOTATION.to_owned(),
                signer.rekor.bundle(changed.to_string().as_bytes(), now()),
            );
            let err = check_keyless(&signer, &signature).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn a_bundle_whose_payload_was_changed_after_signing_is_refused() {
        let signer = KeylessSigner::new().unwrap();
        let mut signature = read(&signed(&signer));
        let bundle = &signature.annotations[BUNDLE_ANNOTATION];
        let mut value: serde_json::Value = serde_json::from_str(bundle).unwrap();
        let time = value["Payload"]["integratedTime"].as_i64().unwrap();
        value["Payload"]["integratedTime"] = (time + 1).into();
        signature
            .annotations
            .insert(BUNDLE_ANNOTATION.to_owned(), value.to_string());
        assert_eq!(
            check_keyless(&signer, &signature).unwrap_err(),
            "the Rekor SET is not signed by rekor.pub"
        );
    }
}

#[test]
fn the_attachment_tag_names_its_digest_and_nothing_else_does() {
    let tag = attachments::tag_for(&digest());
    assert_eq!(attachments::subject_of_tag(&tag), Some(digest()));
    let hex = DIGEST.trim_start_matches("sha256:");
    for other in [
        format!("sha256-{hex}"),
        format!("sha256-{hex}.att"),
        format!("sha256-{}.sig", "AB".repeat(32)),
        format!("sha256-{}.sig", &hex[1..]),
        format!("sha512-{hex}.sig"),
        "v1.sig".to_owned(),
    ] {
        assert_eq!(attachments::subject_of_tag(&other), None, "{other}");
    }
}

//! hoist against the exact bytes cosign 3.1 and skopeo 1.22 write (`tests/fixtures/peers`,
//! made by `scripts/interop-sign.sh`'s peers): their encrypted private keys open with the
//! passphrase and refuse another, and their signatures verify under the `signedIdentity`
//! rules containers/image applies to them — cosign's claims the repository only, so it needs
//! `matchRepository`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use hoist::digest::Digest;
use hoist::reference::Reference;
use hoist::trust::sigstore::{check, Signature, TrustRoot, SIGNATURE_ANNOTATION};
use hoist::trust::{keys, KeyError, SignedIdentity};

const SIGNED: &str = "sha256:af0b36ddb431de407a12f9d61ac287a34db2535d154e8b486eeb72bbee3d1878";
const PASSPHRASE: &[u8] = b"interop-pass";

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/peers")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn signature(tool: &str) -> Signature {
    let annotation = String::from_utf8(fixture(&format!("{tool}.signature"))).unwrap();
    Signature {
        payload: Bytes::from(fixture(&format!("{tool}.payload"))),
        annotations: BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), annotation)]),
    }
}

fn verify(tool: &str, identity: &SignedIdentity, image: &str) -> Result<(), String> {
    let key = keys::public_key(&fixture(&format!("{tool}.pub")), tool).unwrap();
    let image = Reference::parse(image).unwrap();
    check(
        &signature(tool),
        &TrustRoot::keys(vec![(tool.to_owned(), key)]),
        &Digest::parse(SIGNED).unwrap(),
        identity,
        Some(&image),
    )
}

#[test]
fn cosign_and_skopeo_private_keys_open_with_their_passphrase_only() {
    for (private, public) in [
        ("cosign.key", "cosign.pub"),
        ("skopeo.private", "skopeo.pub"),
    ] {
        let key = keys::decrypt_private_key(&fixture(private), PASSPHRASE, private).unwrap();
        let expected = keys::public_key(&fixture(public), public).unwrap();
        assert_eq!(key.verifying_key(), &expected, "{private}");
        let wrong = keys::decrypt_private_key(&fixture(private), b"not it", private);
        assert!(
            matches!(wrong, Err(KeyError::Passphrase { .. })),
            "{private}"
        );
    }
}

#[test]
fn skopeos_signature_verifies_for_its_tag() {
    let rule = SignedIdentity::MatchRepoDigestOrExact;
    assert_eq!(
        verify("skopeo", &rule, "127.0.0.1:51181/skopeo/app:v1"),
        Ok(())
    );
    let other = verify("skopeo", &rule, "127.0.0.1:51181/skopeo/app:v2").unwrap_err();
    assert!(other.contains("not accepted by signedIdentity"), "{other}");
}

#[test]
fn cosigns_repository_only_signature_needs_match_repository() {
    let image = "127.0.0.1:51181/cosign/app:v1";
    assert_eq!(
        verify("cosign", &SignedIdentity::MatchRepository, image),
        Ok(())
    );
    let exact = verify("cosign", &SignedIdentity::MatchRepoDigestOrExact, image).unwrap_err();
    assert!(
        exact.contains("\"127.0.0.1:51181/cosign/app\" not accepted"),
        "{exact}"
    );
}

#[test]
fn a_peers_signature_does_not_verify_with_the_other_peers_key() {
    let key = keys::public_key(&fixture("skopeo.pub"), "skopeo.pub").unwrap();
    let image = Reference::parse("127.0.0.1:51181/cosign/app:v1").unwrap();
    let refused = check(
        &signature("cosign"),
        &TrustRoot::keys(vec![("skopeo.pub".to_owned(), key)]),
        &Digest::parse(SIGNED).unwrap(),
        &SignedIdentity::MatchRepository,
        Some(&image),
    );
    assert_eq!(refused, Err("not signed by skopeo.pub".to_owned()));
}

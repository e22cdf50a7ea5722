//! A pull under a `policy.json`: images signed by the testkit's independent cosign-style
//! signer in a real registry are accepted or refused before any layer is fetched, and a
//! refused image leaves nothing in the store.

mod support;

use std::sync::Arc;

use hoist::pull::PullOptions;
use hoist::trust::{PolicyVerifier, SigstoreAttachments, TrustError};
use hoist_testkit::sigstore::{self, CosignKey, SignatureLayer};
use hoist_testkit::{Blob, ImagePusher};
use support::pull::{fast_options, reference, Store};
use support::trust::{assert_nothing_stored, refusal, Setup};

const SIGNED_BY_KEY: &str = r#"[{"type": "sigstoreSigned", "keyPath": "KEY"}]"#;

#[tokio::test]
async fn an_image_signed_by_the_key_is_pulled() {
    let setup = Setup::new().await;
    setup.sign_as("team/app:v1").await;

    let (store, result) = setup.pull(setup.policy(SIGNED_BY_KEY), "team/app:v1").await;

    result.unwrap();
    assert!(store
        .blobs()
        .iter()
        .any(|d| d.as_str() == setup.image.digest()));
}

#[tokio::test]
async fn an_unchanged_image_is_judged_again_from_the_stored_manifest() {
    let setup = Setup::new().await;
    setup.sign_as("team/app:v1").await;
    let options = || setup.options(setup.policy(SIGNED_BY_KEY));
    let store = Store::new();
    let target = reference(&setup.registry, "team/app:v1");
    let progress = hoist::progress::NoProgress;
    store
        .puller(options())
        .pull(&target, &progress)
        .await
        .unwrap();
    setup.registry.clear_log().unwrap();

    let outcome = store
        .puller(options())
        .pull(&target, &progress)
        .await
        .unwrap();

    assert!(!outcome.updated);
    // Judged again (its signature read again), the image's own manifest only HEADed.
    let image_manifest = [
        "/v2/team/app/manifests/v1".to_owned(),
        format!("/v2/team/app/manifests/{}", setup.image.digest()),
    ];
    let log = setup.registry.access_log();
    let read: Vec<_> = log
        .iter()
        .filter(|e| e.user_agent.starts_with("hoist/") && image_manifest.contains(&e.path))
        .map(|e| format!("{} {}", e.method, e.path))
        .collect();
    assert_eq!(read, [format!("HEAD {}", image_manifest[0])], "{log:?}");
    assert!(
        log.iter()
            .any(|e| e.path.ends_with(".sig") && e.method == "GET"),
        "{log:?}"
    );
}

#[tokio::test]
async fn an_unsigned_image_is_refused_before_any_layer_and_nothing_is_stored() {
    let setup = Setup::new().await;
    setup.registry.clear_log().unwrap();

    let (store, result) = setup.pull(setup.policy(SIGNED_BY_KEY), "team/app:v1").await;

    let err = refusal(result);
    assert!(matches!(err, TrustError::NoSignature { .. }), "{err}");
    let line = err.to_string();
    assert!(
        line.contains("a signature was required") && !line.contains('\n'),
        "{line}"
    );
    assert_nothing_stored(&store);
    assert_eq!(
        setup.registry.count_requests("GET", "/v2/team/app/blobs/"),
        0
    );
}

#[tokio::test]
async fn a_signature_by_another_key_is_refused_naming_the_key() {
    let setup = Setup::new().await;
    let other = CosignKey::generate();
    let layer = other.signature(setup.image.digest(), &setup.name("team/app:v1"));
    setup
        .attach("team/app", setup.image.digest(), &[layer])
        .await;

    let (store, result) = setup.pull(setup.policy(SIGNED_BY_KEY), "team/app:v1").await;

    let line = refusal(result).to_string();
    assert!(
        line.contains("signature 1: not signed by") && line.contains("key.pub"),
        "{line}"
    );
    assert_nothing_stored(&store);
}

#[tokio::test]
async fn a_signature_for_another_identity_is_refused_naming_it() {
    let setup = Setup::new().await;
    setup.sign_as("team/other:v1").await;

    let (store, result) = setup.pull(setup.policy(SIGNED_BY_KEY), "team/app:v1").await;

    let line = refusal(result).to_string();
    assert!(
        line.contains("team/other:v1\" not accepted by signedIdentity matchRepoDigestOrExact"),
        "{line}"
    );
    assert_nothing_stored(&store);
}

#[tokio::test]
async fn a_payload_lying_about_the_digest_is_refused() {
    let setup = Setup::new().await;
    // A valid signature for another digest, stored under this image's `.sig` tag.
    let other = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    let layer = setup.key.signature(other, &setup.name("team/app:v1"));
    setup
        .attach("team/app", setup.image.digest(), &[layer])
        .await;

    let (store, result) = setup.pull(setup.policy(SIGNED_BY_KEY), "team/app:v1").await;

    let line = refusal(result).to_string();
    assert!(
        line.contains(&format!("signed for digest {other}")),
        "{line}"
    );
    assert_nothing_stored(&store);
}

#[tokio::test]
async fn one_good_signature_among_bad_ones_is_enough() {
    let setup = Setup::new().await;
    let bad = CosignKey::generate().signature(setup.image.digest(), &setup.name("team/app:v1"));
    let good = setup
        .key
        .signature(setup.image.digest(), &setup.name("team/app:v1"));
    setup
        .attach("team/app", setup.image.digest(), &[bad, good])
        .await;

    let (_store, result) = setup.pull(setup.policy(SIGNED_BY_KEY), "team/app:v1").await;

    result.unwrap();
}

#[tokio::test]
async fn reject_refuses_and_insecure_accept_anything_accepts() {
    let setup = Setup::new().await;
    let (store, result) = setup
        .pull(setup.policy(r#"[{"type": "reject"}]"#), "team/app:v1")
        .await;
    let err = refusal(result);
    let policy = setup.dir.path().join("policy.json");
    assert!(matches!(err, TrustError::Rejected { .. }), "{err}");
    assert!(
        err.to_string()
            .ends_with(&format!("is rejected by policy {}", policy.display())),
        "{err}"
    );
    assert_nothing_stored(&store);

    let accept = setup.policy(r#"[{"type": "insecureAcceptAnything"}]"#);
    setup.pull(accept, "team/app:v1").await.1.unwrap();
}

#[tokio::test]
async fn key_data_inline_and_key_paths_accept_any_listed_key() {
    let setup = Setup::new().await;
    setup.sign_as("team/app:v1").await;
    let data = base64_std(setup.key.public_pem().as_bytes());
    let inline = setup.policy(&format!(
        r#"[{{"type": "sigstoreSigned", "keyData": "{data}"}}]"#
    ));
    setup.pull(inline, "team/app:v1").await.1.unwrap();

    let other = setup.dir.path().join("other.pub");
    std::fs::write(&other, CosignKey::generate().public_pem()).unwrap();
    let listed = setup.policy(&format!(
        r#"[{{"type": "sigstoreSigned", "keyPaths": ["{}", "KEY"]}}]"#,
        other.display()
    ));
    setup.pull(listed, "team/app:v1").await.1.unwrap();
}

#[tokio::test]
async fn remap_identity_accepts_a_mirror_of_a_signed_image() {
    let setup = Setup::new().await;
    // The mirror holds the image and the upstream signature, made for `upstream/app:v1`.
    ImagePusher::new(&setup.registry)
        .push_image("mirror/app", "v1", &setup.image)
        .await
        .unwrap();
    let layer = setup
        .key
        .signature(setup.image.digest(), &setup.name("upstream/app:v1"));
    setup
        .attach("mirror/app", setup.image.digest(), &[layer])
        .await;
    let remap = format!(
        r#"[{{"type": "sigstoreSigned", "keyPath": "KEY", "signedIdentity": {{"type": "remapIdentity", "prefix": "{}", "signedPrefix": "{}"}}}}]"#,
        setup.name("mirror"),
        setup.name("upstream")
    );

    setup
        .pull(setup.policy(&remap), "mirror/app:v1")
        .await
        .1
        .unwrap();
    let (_store, refused) = setup
        .pull(setup.policy(SIGNED_BY_KEY), "mirror/app:v1")
        .await;
    assert!(refusal(refused).to_string().contains("upstream/app:v1"));
}

#[tokio::test]
async fn without_attachments_enabled_no_signature_is_read_and_the_error_says_how() {
    let setup = Setup::new().await;
    setup.sign_as("team/app:v1").await;
    let verifier = PolicyVerifier::new(setup.policy(SIGNED_BY_KEY), SigstoreAttachments::default());
    let store = Store::new();
    let options = PullOptions {
        verifier: Some(Arc::new(verifier)),
        ..fast_options()
    };

    let result = store
        .puller(options)
        .pull(
            &reference(&setup.registry, "team/app:v1"),
            &hoist::progress::NoProgress,
        )
        .await;

    let line = refusal(result.map(drop)).to_string();
    assert!(line.contains("use-sigstore-attachments"), "{line}");
}

#[tokio::test]
async fn pki_and_gpg_requirements_are_refused_as_not_supported_yet() {
    let setup = Setup::new().await;
    let pki = r#"[{"type": "sigstoreSigned", "pki": {"caRootsPath": "/roots.pem", "subjectEmail": "a@b"}}]"#;
    let (_store, result) = setup.pull(setup.policy(pki), "team/app:v1").await;
    let line = refusal(result).to_string();
    assert!(
        line.contains("sigstoreSigned with pki in ") && line.ends_with("is not supported yet"),
        "{line}"
    );
    assert!(line.contains("policy.json"), "{line}");

    let gpg = r#"[{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k.gpg"}]"#;
    let (_store, result) = setup.pull(setup.policy(gpg), "team/app:v1").await;
    assert!(matches!(refusal(result), TrustError::Unsupported { .. }));
}

#[tokio::test]
async fn a_signature_manifest_with_thousands_of_layers_is_refused_unread() {
    let setup = Setup::new().await;
    let layer = setup
        .key
        .signature(setup.image.digest(), &setup.name("team/app:v1"));
    let layers = vec![layer; 3000];
    setup
        .attach("team/app", setup.image.digest(), &layers)
        .await;
    setup.registry.clear_log().unwrap();

    let (store, result) = setup.pull(setup.policy(SIGNED_BY_KEY), "team/app:v1").await;

    let line = refusal(result).to_string();
    assert!(line.contains("3000 layers, more than the 128"), "{line}");
    assert_eq!(
        setup.registry.count_requests("GET", "/v2/team/app/blobs/"),
        0
    );
    assert_nothing_stored(&store);
}

#[tokio::test]
async fn a_huge_signature_payload_is_refused_unread() {
    let setup = Setup::new().await;
    let mut payload = sigstore::payload(setup.image.digest(), &setup.name("team/app:v1"));
    payload.resize(300 << 10, b' ');
    let layer = SignatureLayer::signed(&setup.key, payload.clone());
    setup
        .attach("team/app", setup.image.digest(), &[layer])
        .await;
    let blob = Blob::new(sigstore::SIMPLE_SIGNING_TYPE, payload);
    setup.registry.clear_log().unwrap();

    let (_store, result) = setup.pull(setup.policy(SIGNED_BY_KEY), "team/app:v1").await;

    let line = refusal(result).to_string();
    assert!(line.contains("more than the 262144 hoist reads"), "{line}");
    let path = format!("/v2/team/app/blobs/{}", blob.digest);
    assert_eq!(setup.registry.count_requests("GET", &path), 0);
}

#[tokio::test]
async fn a_digest_reference_is_judged_by_repository() {
    let setup = Setup::new().await;
    setup.sign_as("team/app:v1").await;
    let by_digest = format!("team/app@{}", setup.image.digest());

    setup
        .pull(setup.policy(SIGNED_BY_KEY), &by_digest)
        .await
        .1
        .unwrap();
    let exact = r#"[{"type": "sigstoreSigned", "keyPath": "KEY", "signedIdentity": {"type": "matchExact"}}]"#;
    let (_store, result) = setup.pull(setup.policy(exact), &by_digest).await;
    assert!(matches!(refusal(result), TrustError::NotAccepted { .. }));
}

/// `sigstoreSigned` with this setup's key and the `signedIdentity` object `identity` (JSON).
fn signed_with_identity(identity: &str) -> String {
    format!(r#"[{{"type": "sigstoreSigned", "keyPath": "KEY", "signedIdentity": {identity}}}]"#)
}

#[tokio::test]
async fn a_repository_only_identity_as_cosign_signs_needs_match_repository_or_exact_repository() {
    let setup = Setup::new().await;
    // `cosign sign` claims the repository without a tag; containers/image's default refuses it.
    setup.sign_as("team/app").await;

    let (store, default) = setup.pull(setup.policy(SIGNED_BY_KEY), "team/app:v1").await;
    let line = refusal(default).to_string();
    assert!(
        line.contains("team/app\" not accepted by signedIdentity matchRepoDigestOrExact"),
        "{line}"
    );
    assert_nothing_stored(&store);

    let repository = signed_with_identity(r#"{"type": "matchRepository"}"#);
    setup
        .pull(setup.policy(&repository), "team/app:v1")
        .await
        .1
        .unwrap();
    let exact = signed_with_identity(&format!(
        r#"{{"type": "exactRepository", "dockerRepository": "{}"}}"#,
        setup.name("team/app")
    ));
    setup
        .pull(setup.policy(&exact), "team/app:v1")
        .await
        .1
        .unwrap();
    let elsewhere = signed_with_identity(&format!(
        r#"{{"type": "exactRepository", "dockerRepository": "{}"}}"#,
        setup.name("team/other")
    ));
    let (_store, refused) = setup.pull(setup.policy(&elsewhere), "team/app:v1").await;
    assert!(refusal(refused)
        .to_string()
        .contains("not accepted by signedIdentity exactRepository"),);
}

#[tokio::test]
async fn match_exact_accepts_the_signed_tag_only_and_match_repository_any_tag() {
    let setup = Setup::new().await;
    setup.sign_as("team/app:v1").await;
    // The same image under another tag: the `.sig` tag (by digest) is shared.
    ImagePusher::new(&setup.registry)
        .push_image("team/app", "v2", &setup.image)
        .await
        .unwrap();
    let exact = signed_with_identity(r#"{"type": "matchExact"}"#);
    let repository = signed_with_identity(r#"{"type": "matchRepository"}"#);

    setup
        .pull(setup.policy(&exact), "team/app:v1")
        .await
        .1
        .unwrap();
    let (store, refused) = setup.pull(setup.policy(&exact), "team/app:v2").await;
    assert!(refusal(refused)
        .to_string()
        .contains("not accepted by signedIdentity matchExact"),);
    assert_nothing_stored(&store);
    let (_store, refused) = setup.pull(setup.policy(SIGNED_BY_KEY), "team/app:v2").await;
    assert!(matches!(refusal(refused), TrustError::NotAccepted { .. }));
    setup
        .pull(setup.policy(&repository), "team/app:v2")
        .await
        .1
        .unwrap();
}

#[tokio::test]
async fn exact_reference_accepts_a_signature_for_that_reference_whatever_the_image_is_called() {
    let setup = Setup::new().await;
    let release = "registry.example.com/release/app:1.0";
    let layer = setup.key.signature(setup.image.digest(), release);
    setup
        .attach("team/app", setup.image.digest(), &[layer])
        .await;
    let rule = |reference: &str| {
        signed_with_identity(&format!(
            r#"{{"type": "exactReference", "dockerReference": "{reference}"}}"#
        ))
    };

    setup
        .pull(setup.policy(&rule(release)), "team/app:v1")
        .await
        .1
        .unwrap();
    let other = "registry.example.com/release/app:2.0";
    let (store, refused) = setup.pull(setup.policy(&rule(other)), "team/app:v1").await;
    assert!(refusal(refused)
        .to_string()
        .contains("not accepted by signedIdentity exactReference"),);
    assert_nothing_stored(&store);
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

//! Copy under a verifier (a refused source writes nothing), and signing: hoist's signatures
//! read back and verified by the testkit's independent reader, appended to the signatures
//! already there, and accepted by hoist's own policy.

mod support;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use hoist::copy::{CopyError, CopyOptions, ImageLocation};
use hoist::digest::Digest;
use hoist::reference::Reference;
use hoist::trust::{
    keys, ImageVerifier, Policy, PolicyVerifier, SigstoreAttachments, SigstoreSigner, Subject,
    TrustError, Verification,
};
use hoist_testkit::sigstore::{self, CosignKey};
use hoist_testkit::{Image, ImagePusher, TestRegistry};
use support::copy::{copy_between, fast_copy_options};
use support::pull::anonymous_client;

async fn registry_with_app() -> (TestRegistry, Image) {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = Image::from_files(&[("hello.txt", b"hello\n")]).unwrap();
    ImagePusher::new(&registry)
        .push_image("team/app", "v1", &image)
        .await
        .unwrap();
    (registry, image)
}

fn verification(location: &str, verifier: Arc<dyn ImageVerifier>) -> Verification {
    let location = ImageLocation::parse(location).unwrap();
    Verification {
        verifier,
        subject: Subject::from_location(&location, &anonymous_client()),
    }
}

fn reject_all() -> Arc<dyn ImageVerifier> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.json");
    std::fs::write(&path, r#"{"default": [{"type": "reject"}]}"#).unwrap();
    let policy = Policy::load(&path).unwrap();
    Arc::new(PolicyVerifier::new(policy, SigstoreAttachments::default()))
}

#[tokio::test]
async fn a_refused_source_writes_nothing_to_the_destination() {
    let (registry, _image) = registry_with_app().await;
    let src = format!("docker://{}/team/app:v1", registry.host());
    let options = CopyOptions {
        verify: Some(verification(&src, reject_all())),
        ..fast_copy_options()
    };

    let (result, _) = copy_between(
        &src,
        &format!("docker://{}/copy/app:v1", registry.host()),
        options,
    )
    .await;

    let Err(CopyError::Trust(err)) = result else {
        panic!("{result:?}")
    };
    assert!(matches!(*err, TrustError::Rejected { .. }), "{err}");
    assert_eq!(registry.count_requests("PUT", "/v2/copy/app/"), 0);
    assert_eq!(registry.count_requests("POST", "/v2/copy/app/"), 0);
}

/// A verifier of a library user's own (containerd's image-verifier idea), which sees the
/// subject's docker reference and the resolved digest.
struct OnlyDigest(String);

impl ImageVerifier for OnlyDigest {
    fn verify<'a>(
        &'a self,
        subject: &'a Subject,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<(), TrustError>> {
        Box::pin(async move {
            if digest.as_str() == self.0 && subject.reference().is_some() {
                Ok(())
            } else {
                Err(TrustError::Refused {
                    image: subject.name().to_owned(),
                    reason: format!("digest {digest} is not on the allow list"),
                })
            }
        })
    }
}

#[tokio::test]
async fn a_plugged_in_verifier_decides_the_copy() {
    let (registry, image) = registry_with_app().await;
    let src = format!("docker://{}/team/app:v1", registry.host());
    let dst = format!("docker://{}/copy/app:v1", registry.host());
    let allow = |digest: &str| CopyOptions {
        verify: Some(verification(&src, Arc::new(OnlyDigest(digest.to_owned())))),
        ..fast_copy_options()
    };

    let (refused, _) = copy_between(&src, &dst, allow("sha256:00")).await;
    let message = refused.unwrap_err().to_string();
    assert!(message.ends_with("is not on the allow list"), "{message}");
    let (copied, _) = copy_between(&src, &dst, allow(image.digest())).await;
    assert_eq!(copied.unwrap().root.digest.as_str(), image.digest());
}

#[tokio::test]
async fn hoist_signatures_verify_independently_and_keep_earlier_ones() {
    let (registry, image) = registry_with_app().await;
    let cosign = CosignKey::generate();
    let earlier = cosign.signature(image.digest(), &format!("{}/team/app:v1", registry.host()));
    sigstore::push_signatures(
        &ImagePusher::new(&registry),
        "team/app",
        image.digest(),
        &[earlier],
    )
    .await
    .unwrap();
    let (key, second) = (keys::generate(), keys::generate());
    let public = keys::public_key_pem(key.verifying_key()).unwrap();
    let second_public = keys::public_key_pem(second.verifying_key()).unwrap();
    let client = anonymous_client();
    let reference = Reference::parse(&format!("{}/team/app:v1", registry.host())).unwrap();
    let repo = client.repository(
        reference.repository().domain(),
        reference.repository().path(),
    );
    let digest = Digest::parse(image.digest()).unwrap();

    for key in [key, second] {
        let signer = SigstoreSigner::new(key);
        signer.sign(&repo, &reference, &digest).await.unwrap();
    }

    let found = sigstore::read_signatures(
        &registry.client(),
        &registry.url(),
        "team/app",
        image.digest(),
    )
    .await
    .unwrap();
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(sigstore::verifies(&cosign.public_pem(), &found[0]));
    assert!(sigstore::verifies(&public, &found[1]));
    assert!(sigstore::verifies(&second_public, &found[2]));
    for layer in &found[1..] {
        let payload: serde_json::Value = serde_json::from_slice(&layer.payload).unwrap();
        assert_eq!(
            payload["critical"]["image"]["docker-manifest-digest"],
            image.digest()
        );
        assert_eq!(
            payload["critical"]["identity"]["docker-reference"],
            reference.to_string()
        );
        assert_eq!(
            payload["critical"]["type"],
            "cosign container image signature"
        );
    }
}

#[tokio::test]
async fn an_image_hoist_signed_passes_hoists_policy_with_a_custom_identity() {
    let (registry, image) = registry_with_app().await;
    let key = keys::generate();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("k.pub"),
        keys::public_key_pem(key.verifying_key()).unwrap(),
    )
    .unwrap();
    let identity = Reference::parse("registry.example.com/release/app:1.0").unwrap();
    let client = anonymous_client();
    let reference = Reference::parse(&format!("{}/team/app:v1", registry.host())).unwrap();
    let repo = client.repository(
        reference.repository().domain(),
        reference.repository().path(),
    );
    let digest = Digest::parse(image.digest()).unwrap();
    SigstoreSigner::new(key)
        .with_identity(identity)
        .sign(&repo, &reference, &digest)
        .await
        .unwrap();
    let policy_path = dir.path().join("policy.json");
    std::fs::write(
        &policy_path,
        format!(
            r#"{{"default": [{{"type": "sigstoreSigned", "keyPath": "{}", "signedIdentity": {{"type": "exactReference", "dockerReference": "registry.example.com/release/app:1.0"}}}}]}}"#,
            dir.path().join("k.pub").display()
        ),
    )
    .unwrap();
    let mut attachments = SigstoreAttachments::default();
    attachments.enable(&registry.host());
    let verifier = Arc::new(PolicyVerifier::new(
        Policy::load(&policy_path).unwrap(),
        attachments,
    ));
    let src = format!("docker://{}/team/app:v1", registry.host());
    let dst = format!("oci:{}:v1", dir.path().join("layout").display());
    let options = CopyOptions {
        verify: Some(verification(&src, verifier)),
        ..fast_copy_options()
    };

    let (result, _) = copy_between(&src, &dst, options).await;

    assert_eq!(result.unwrap().root.digest.as_str(), image.digest());
}

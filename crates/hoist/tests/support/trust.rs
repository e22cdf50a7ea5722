//! Pulls under a `policy.json` against a real registry: an image in a fresh registry, the
//! testkit's independent signers (a cosign key, a keyless Fulcio + Rekor signer) with their
//! public halves on disk, policies naming them, and checks that a refusal stored nothing.

use std::sync::Arc;

use hoist::pull::{PullError, PullOptions};
use hoist::trust::{Policy, PolicyVerifier, SigstoreAttachments, TrustError};
use hoist_testkit::sigstore::{self, CosignKey, SignatureLayer};
use hoist_testkit::{Image, ImagePusher, KeylessSigner, TestRegistry};
use tempfile::TempDir;

use super::pull::{fast_options, reference, Store};

/// A registry holding `team/app:v1` and the signers of a trust test.
pub struct Setup {
    pub registry: TestRegistry,
    pub image: Image,
    /// A cosign key; `KEY` in a policy names its public half.
    pub key: CosignKey,
    /// A keyless signer; `CA` and `REKOR` in a policy name its root and log key.
    pub keyless: KeylessSigner,
    pub dir: TempDir,
}

impl Setup {
    /// `team/app:v1` in a fresh registry, a key whose public half is `DIR/key.pub`, and a
    /// keyless signer whose CA root is `DIR/ca.pem` and log key `DIR/rekor.pub`.
    pub async fn new() -> Setup {
        let registry = TestRegistry::anonymous().await.unwrap();
        let image = Image::from_files(&[("hello.txt", b"hello\n")]).unwrap();
        ImagePusher::new(&registry)
            .push_image("team/app", "v1", &image)
            .await
            .unwrap();
        let key = CosignKey::generate();
        let dir = TempDir::new().unwrap();
        std::fs::write(dir.path().join("key.pub"), key.public_pem()).unwrap();
        let keyless = KeylessSigner::new().unwrap();
        std::fs::write(dir.path().join("ca.pem"), keyless.ca.root_pem()).unwrap();
        std::fs::write(dir.path().join("rekor.pub"), keyless.rekor.public_pem()).unwrap();
        Setup {
            registry,
            image,
            key,
            keyless,
            dir,
        }
    }

    pub fn name(&self, repo: &str) -> String {
        format!("{}/{repo}", self.registry.host())
    }

    pub async fn attach(&self, repo: &str, digest: &str, layers: &[SignatureLayer]) {
        sigstore::push_signatures(&ImagePusher::new(&self.registry), repo, digest, layers)
            .await
            .unwrap();
    }

    /// The image signed for `identity` (`HOST/` is prepended).
    pub async fn sign_as(&self, identity: &str) {
        let layer = self
            .key
            .signature(self.image.digest(), &self.name(identity));
        self.attach("team/app", self.image.digest(), &[layer]).await;
    }

    /// A policy whose `docker` default is `requirements` (JSON), where `KEY`, `CA` and
    /// `REKOR` are the paths of this setup's key, CA root and log key.
    pub fn policy(&self, requirements: &str) -> Policy {
        let path = |name: &str| self.dir.path().join(name).display().to_string();
        let requirements = requirements
            .replace("KEY", &path("key.pub"))
            .replace("\"CA\"", &format!("{:?}", path("ca.pem")))
            .replace("REKOR", &path("rekor.pub"));
        let text = format!(
            r#"{{"default": [{{"type": "reject"}}], "transports": {{"docker": {{"": {requirements}}}}}}}"#
        );
        let path = self.dir.path().join("policy.json");
        std::fs::write(&path, &text).unwrap();
        Policy::load(&path).unwrap()
    }

    /// Pull options judging by `policy`, sigstore attachments read from the registry.
    pub fn options(&self, policy: Policy) -> PullOptions {
        let mut attachments = SigstoreAttachments::default();
        attachments.enable(&self.registry.host());
        PullOptions {
            verifier: Some(Arc::new(PolicyVerifier::new(policy, attachments))),
            ..fast_options()
        }
    }

    pub async fn pull(&self, policy: Policy, target: &str) -> (Store, Result<(), PullError>) {
        let options = self.options(policy);
        let store = Store::new();
        let result = store
            .puller(options)
            .pull(
                &reference(&self.registry, target),
                &hoist::progress::NoProgress,
            )
            .await
            .map(drop);
        (store, result)
    }
}

/// The trust error a pull failed with.
pub fn refusal(result: Result<(), PullError>) -> TrustError {
    match result {
        Err(PullError::Trust(e)) => *e,
        other => panic!("expected a trust refusal, got {other:?}"),
    }
}

/// Nothing of the image reached the store: no blob at all.
pub fn assert_nothing_stored(store: &Store) {
    let blobs = store.root().join("blobs/sha256");
    let count = std::fs::read_dir(&blobs).map_or(0, |d| d.count());
    assert_eq!(count, 0, "blobs stored for a refused image");
}

//! An index under a policy: each platform manifest pulled or copied is judged by its own
//! signature, never the index — containers/image's rule (`copySingleImage` checks the policy
//! of each image it copies, never a list), which `scripts/interop-sign.sh` found skopeo 1.22
//! applying: a cosign signature of the index alone admits no platform. Signed with the
//! testkit's independent cosign-style signer against a real registry.

mod support;

use std::sync::Arc;

use hoist::copy::{CopyError, CopyOptions, ImageLocation};
use hoist::media::Platform;
use hoist::pull::{PullError, PullOptions};
use hoist::trust::{
    Policy, PolicyVerifier, SigstoreAttachments, Subject, TrustError, Verification,
};
use hoist_testkit::sigstore::{self, CosignKey};
use hoist_testkit::{FaultProxy, ImagePusher, Index, ManifestFormat, Rule, TestRegistry};
use support::copy::{copy_between, fast_copy_options, seed_index, two_platform_index};
use support::pull::{anonymous_client, fast_options, reference, Store};
use tempfile::TempDir;

struct Setup {
    registry: TestRegistry,
    index: Index,
    key: CosignKey,
    verifier: Arc<PolicyVerifier>,
    _dir: TempDir,
}

impl Setup {
    /// `team/app:v1`, an OCI index of linux/amd64 and linux/arm64/v8, unsigned; a policy
    /// requiring a signature by `key` for every docker image.
    async fn new() -> Setup {
        let registry = TestRegistry::anonymous().await.unwrap();
        let index = two_platform_index(ManifestFormat::Oci);
        seed_index(&registry, "team/app", "v1", &index).await;
        let key = CosignKey::generate();
        let dir = TempDir::new().unwrap();
        let public = dir.path().join("key.pub");
        std::fs::write(&public, key.public_pem()).unwrap();
        let path = dir.path().join("policy.json");
        let policy = format!(
            r#"{{"default": [{{"type": "sigstoreSigned", "keyPath": "{}"}}]}}"#,
            public.display()
        );
        std::fs::write(&path, policy).unwrap();
        let mut attachments = SigstoreAttachments::default();
        attachments.enable(&registry.host());
        let verifier = Arc::new(PolicyVerifier::new(
            Policy::load(&path).unwrap(),
            attachments,
        ));
        Setup {
            registry,
            index,
            key,
            verifier,
            _dir: dir,
        }
    }

    /// Signs the manifest `digest` (the index's or a platform's) as `team/app:v1`.
    async fn sign(&self, digest: &str) {
        let identity = format!("{}/team/app:v1", self.registry.host());
        let layer = self.key.signature(digest, &identity);
        sigstore::push_signatures(
            &ImagePusher::new(&self.registry),
            "team/app",
            digest,
            &[layer],
        )
        .await
        .unwrap();
    }

    fn amd64(&self) -> &str {
        &self.index.images[0].manifest.digest
    }

    fn arm64(&self) -> &str {
        &self.index.images[1].manifest.digest
    }

    async fn pull(&self, platform: &str, all_platforms: bool) -> (Store, Result<(), PullError>) {
        self.pull_keeping(platform, all_platforms, false).await
    }

    /// [`Setup::pull`], storing the signatures with `keep` (what `hoist pull` does where
    /// attachments are enabled).
    async fn pull_keeping(
        &self,
        platform: &str,
        all_platforms: bool,
        keep: bool,
    ) -> (Store, Result<(), PullError>) {
        let options = PullOptions {
            platform: Some(Platform::parse(platform).unwrap()),
            all_platforms,
            verifier: Some(Arc::clone(&self.verifier) as _),
            signatures: keep,
            ..fast_options()
        };
        let store = Store::new();
        let result = store
            .puller(options)
            .pull(
                &reference(&self.registry, "team/app:v1"),
                &hoist::progress::NoProgress,
            )
            .await
            .map(drop);
        (store, result)
    }

    async fn copy(&self, platform: Option<&str>) -> Result<(), CopyError> {
        let src = format!("docker://{}/team/app:v1", self.registry.host());
        let location = ImageLocation::parse(&src).unwrap();
        let options = CopyOptions {
            platform: platform.map(|p| Platform::parse(p).unwrap()),
            verify: Some(Verification {
                verifier: Arc::clone(&self.verifier) as _,
                subject: Subject::from_location(&location, &anonymous_client()),
            }),
            ..fast_copy_options()
        };
        let dst = format!("docker://{}/copy/app:v1", self.registry.host());
        copy_between(&src, &dst, options).await.0.map(drop)
    }
}

fn assert_no_signature(result: Result<(), PullError>) {
    match result {
        Err(PullError::Trust(e)) => assert!(matches!(*e, TrustError::NoSignature { .. }), "{e}"),
        other => panic!("expected a trust refusal, got {other:?}"),
    }
}

fn assert_nothing_stored(store: &Store) {
    assert!(store.blobs().is_empty(), "{:?}", store.blobs());
}

#[tokio::test]
async fn an_index_signed_alone_admits_none_of_its_platforms() {
    let setup = Setup::new().await;
    setup.sign(setup.index.index.digest.as_str()).await;
    setup.registry.clear_log().unwrap();

    let (store, result) = setup.pull("linux/amd64", false).await;

    assert_no_signature(result);
    assert_nothing_stored(&store);
    assert_eq!(
        setup.registry.count_requests("GET", "/v2/team/app/blobs/"),
        0
    );
}

#[tokio::test]
async fn the_platform_pulled_is_judged_by_its_own_signature() {
    let setup = Setup::new().await;
    setup.sign(setup.amd64()).await;

    let (store, result) = setup.pull("linux/amd64", false).await;
    result.unwrap();
    assert!(store.blobs().iter().any(|d| d.as_str() == setup.amd64()));

    let (store, result) = setup.pull("linux/arm64", false).await;
    assert_no_signature(result);
    assert_nothing_stored(&store);
}

#[tokio::test]
async fn all_platforms_needs_every_platform_signed() {
    let setup = Setup::new().await;
    setup.sign(setup.amd64()).await;

    let (store, result) = setup.pull("linux/amd64", true).await;
    assert_no_signature(result);
    assert_nothing_stored(&store);

    setup.sign(setup.arm64()).await;
    let (store, result) = setup.pull("linux/amd64", true).await;
    result.unwrap();
    assert!(store.blobs().iter().any(|d| d.as_str() == setup.arm64()));
}

#[tokio::test]
async fn all_platforms_reads_each_signature_once_and_stores_the_ones_judged() {
    let setup = Setup::new().await;
    setup.sign(setup.amd64()).await;
    setup.sign(setup.arm64()).await;
    setup.registry.clear_log().unwrap();

    let (store, result) = setup.pull_keeping("linux/amd64", true, true).await;

    result.unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.root().join("index.json")).unwrap()).unwrap();
    for digest in [setup.amd64(), setup.arm64()] {
        let tag = format!("{}.sig", digest.replacen(':', "-", 1));
        // Judged by the verifier, then kept by the platform's copy: one read.
        let path = format!("/v2/team/app/manifests/{tag}");
        assert_eq!(setup.registry.count_requests("GET", &path), 1, "{tag}");
        let names = index["manifests"].as_array().unwrap().iter();
        let mut names =
            names.filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str());
        assert!(names.any(|name| name == tag), "{tag} not stored: {index}");
    }
}

#[tokio::test]
async fn a_copy_between_registries_writes_the_platforms_signatures_at_once() {
    let setup = Setup::new().await;
    setup.sign(setup.amd64()).await;
    setup.sign(setup.arm64()).await;
    let proxy = FaultProxy::start(&setup.registry).await.unwrap();
    let tag = |digest: &str| format!("{}.sig", digest.replacen(':', "-", 1));
    let (held, other) = (
        format!("/v2/copy/app/manifests/{}", tag(setup.amd64())),
        format!("/v2/copy/app/manifests/{}", tag(setup.arm64())),
    );
    let hold = std::time::Duration::from_secs(3);
    proxy.rule(Rule::matching(&format!("PUT {held}")).delay(hold));
    let src = format!("docker://{}/team/app:v1", setup.registry.host());
    let dst = format!("docker://{}/copy/app:v1", proxy.host());
    let options = CopyOptions {
        signatures: true,
        ..fast_copy_options()
    };
    let copy = tokio::spawn(async move { copy_between(&src, &dst, options).await.0 });

    // One tag after the other, arm64's would be written only once amd64's was.
    let put = |requests: &[hoist_testkit::ProxiedRequest], path: &str| {
        let put = requests
            .iter()
            .find(|r| r.method == "PUT" && r.path == path);
        put.map(|r| r.status.is_some())
    };
    loop {
        let requests = proxy.requests();
        match (put(&requests, &held), put(&requests, &other)) {
            (Some(false), Some(_)) => break,
            (Some(true), _) => panic!("{other} not written while {held} was held"),
            _ => assert!(!copy.is_finished(), "{requests:#?}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let outcome = copy.await.unwrap().unwrap();
    assert_eq!(outcome.signatures, 2);
}

#[tokio::test]
async fn a_copy_judges_each_platform_it_copies_and_writes_nothing_when_one_is_refused() {
    let setup = Setup::new().await;
    setup.sign(setup.index.index.digest.as_str()).await;
    setup.sign(setup.amd64()).await;

    let refused = setup.copy(None).await;
    let Err(CopyError::Trust(err)) = refused else {
        panic!("{refused:?}")
    };
    assert!(matches!(*err, TrustError::NoSignature { .. }), "{err}");
    assert_eq!(setup.registry.count_requests("PUT", "/v2/copy/app/"), 0);
    assert_eq!(setup.registry.count_requests("POST", "/v2/copy/app/"), 0);

    setup.copy(Some("linux/amd64")).await.unwrap();
    setup.sign(setup.arm64()).await;
    setup.copy(None).await.unwrap();
}

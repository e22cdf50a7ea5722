//! Signatures attached by tag (cosign's `sha256-DIGEST.sig`) carried through every transport
//! that can hold them, with the built binary: `pull` stores them in the store's layout (an
//! `index.json` entry named `sha256-DIGEST.sig`), `push` and `copy` carry them from there and
//! from `oci:` layouts to another registry, where hoist's own verifier accepts them under a
//! `sigstoreSigned` policy; `--remove-signatures` leaves them out; a copy that would rewrite a
//! signed manifest (`--dest-compress`) is refused; garbage collection drops
//! them with their image; a `.sig` outside the bounds fails the copy with one line. The
//! signatures are made by the testkit's independent signer, never by hoist.

mod sandbox;

use std::path::{Path, PathBuf};

use hoist_testkit::sigstore::{push_signatures, read_signatures, verifies, CosignKey};
use hoist_testkit::{skopeo, Image, ImagePusher, TestRegistry};
use sandbox::{push_index, registry_with_image, stderr, Sandbox};

/// A registry holding `team/app:v1` signed by `key` (as `HOST/team/app:v1`) with the
/// testkit's signer.
async fn signed_registry(key: &CosignKey) -> (TestRegistry, Image) {
    let (registry, image) = registry_with_image().await;
    sign(&registry, key, "team/app", image.digest()).await;
    (registry, image)
}

async fn sign(registry: &TestRegistry, key: &CosignKey, repo: &str, digest: &str) {
    let identity = format!("{}/{repo}:v1", registry.host());
    push_signatures(
        &ImagePusher::new(registry),
        repo,
        digest,
        &[key.signature(digest, &identity)],
    )
    .await
    .unwrap();
}

/// A sandbox whose config enables sigstore attachments for each of `registries`.
fn sandbox_for(registries: &[&TestRegistry]) -> Sandbox {
    let sandbox = Sandbox::new();
    let scopes: Vec<String> = registries
        .iter()
        .map(|r| format!("\"{}\"", r.host()))
        .collect();
    let config = format!("sigstore_attachments = [{}]\n", scopes.join(", "));
    std::fs::write(sandbox.config_path(), config).unwrap();
    sandbox
}

async fn hoist_ok(sandbox: &Sandbox, args: &[&str]) {
    let out = sandbox.hoist(args).await;
    assert!(out.status.success(), "hoist {args:?}: {}", stderr(&out));
}

/// The `index.json` entries of the layout at `root` named `sha256-….sig`, as (name, digest).
fn signature_entries(root: &Path) -> Vec<(String, String)> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| {
            let name = m["annotations"]["org.opencontainers.image.ref.name"].as_str()?;
            let digest = m["digest"].as_str()?;
            name.ends_with(".sig")
                .then(|| (name.to_owned(), digest.to_owned()))
        })
        .collect()
}

fn tag_of(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

fn blob(root: &Path, digest: &str) -> PathBuf {
    root.join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// skopeo reads the `.sig` manifest of `digest` in the layout at `root` by its name, as it
/// would have written it (`oci:ROOT:sha256-HEX.sig`).
fn assert_skopeo_reads_signature(root: &Path, digest: &str) {
    let raw = skopeo::inspect_raw(&format!("oci:{}:{}", root.display(), tag_of(digest)));
    assert!(String::from_utf8_lossy(&raw).contains("simplesigning"));
}

/// The signatures of `digest` in `repo` at `registry`, read by the testkit.
async fn signatures_at(
    registry: &TestRegistry,
    repo: &str,
    digest: &str,
) -> Vec<hoist_testkit::SignatureLayer> {
    read_signatures(&registry.client(), &registry.url(), repo, digest)
        .await
        .unwrap()
}

/// Pulls `team/app:v1` from `from` into `sandbox` and tags it for `to`.
async fn pull_for(sandbox: &Sandbox, from: &TestRegistry, to: &TestRegistry) {
    let (source, target) = (
        format!("{}/team/app:v1", from.host()),
        format!("{}/team/app:v1", to.host()),
    );
    hoist_ok(sandbox, &["pull", "-q", &source]).await;
    hoist_ok(sandbox, &["tag", &source, &target]).await;
}

/// The payload digests a `.sig` manifest in the layout at `root` names.
fn payloads(root: &Path, manifest_digest: &str) -> Vec<String> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(root, manifest_digest)).unwrap()).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect()
}

/// A policy requiring `key`'s signature for every docker image, signed as `identity_repo`.
fn policy(dir: &Path, key: &CosignKey, identity_repo: &str) -> String {
    let key_path = dir.join("key.pub");
    std::fs::write(&key_path, key.public_pem()).unwrap();
    let policy = format!(
        r#"{{"default": [{{"type": "reject"}}],
            "transports": {{"docker": {{"": [{{"type": "sigstoreSigned", "keyPath": "{}",
              "signedIdentity": {{"type": "exactRepository", "dockerRepository": "{identity_repo}"}}}}]}}}}}}"#,
        key_path.display()
    );
    let path = dir.join("policy.json");
    std::fs::write(&path, policy).unwrap();
    path.display().to_string()
}

/// Pulls `reference` with hoist's verifier under `policy` in a fresh sandbox reading
/// attachments of `registry`: whether it was accepted, and stderr.
async fn verified_pull(registry: &TestRegistry, policy: &str, reference: &str) -> (bool, String) {
    let sandbox = sandbox_for(&[registry]);
    let out = sandbox
        .hoist(&["pull", "-q", "--policy", policy, reference])
        .await;
    (out.status.success(), stderr(&out))
}

#[tokio::test]
async fn pull_stores_signatures_and_push_carries_them_to_a_registry_where_they_verify() {
    let key = CosignKey::generate();
    let (a, image) = signed_registry(&key).await;
    let b = TestRegistry::anonymous().await.unwrap();
    let sandbox = sandbox_for(&[&a]);
    let (ha, hb) = (a.host(), b.host());

    pull_for(&sandbox, &a, &b).await;
    let entries = signature_entries(&sandbox.root());
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].0, tag_of(image.digest()));
    let stored = payloads(&sandbox.root(), &entries[0].1);
    assert_eq!(stored.len(), 1);
    assert!(blob(&sandbox.root(), &stored[0]).is_file());
    // The store stays a layout skopeo reads, the signature included.
    assert_skopeo_reads_signature(&sandbox.root(), image.digest());

    hoist_ok(&sandbox, &["push", "-q", &format!("{hb}/team/app:v1")]).await;

    let pushed = signatures_at(&b, "team/app", image.digest()).await;
    assert_eq!(pushed.len(), 1);
    assert!(verifies(&key.public_pem(), &pushed[0]));
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), &key, &format!("{ha}/team/app"));
    let (accepted, err) = verified_pull(&b, &policy, &format!("{hb}/team/app:v1")).await;
    assert!(accepted, "{err}");
    // Pushed again: the signature is there already, not added twice.
    hoist_ok(&sandbox, &["push", "-q", &format!("{hb}/team/app:v1")]).await;
    let again = signatures_at(&b, "team/app", image.digest()).await;
    assert_eq!(again.len(), 1);
}

#[tokio::test]
async fn pull_stores_no_signatures_where_attachments_are_not_enabled() {
    let key = CosignKey::generate();
    let (a, _image) = signed_registry(&key).await;
    let sandbox = Sandbox::new();

    hoist_ok(
        &sandbox,
        &["pull", "-q", &format!("{}/team/app:v1", a.host())],
    )
    .await;

    assert!(signature_entries(&sandbox.root()).is_empty());
}

#[tokio::test]
async fn copy_through_an_oci_layout_and_the_store_carries_signatures() {
    let key = CosignKey::generate();
    let (a, image) = signed_registry(&key).await;
    let b = TestRegistry::anonymous().await.unwrap();
    let sandbox = Sandbox::new();
    let (ha, hb) = (a.host(), b.host());
    let layout = sandbox.dir.path().join("layout");
    let oci = format!("oci:{}:v1", layout.display());

    hoist_ok(
        &sandbox,
        &["copy", "-q", &format!("docker://{ha}/team/app:v1"), &oci],
    )
    .await;
    let entries = signature_entries(&layout);
    assert_eq!(entries.len(), 1, "{entries:?}");
    // skopeo reads the signature manifest by its name, as it would have written it.
    assert_skopeo_reads_signature(&layout, image.digest());

    // oci: → registry.
    hoist_ok(
        &sandbox,
        &[
            "copy",
            "-q",
            &oci,
            &format!("docker://{hb}/from-oci/app:v1"),
        ],
    )
    .await;
    // oci: → store → registry.
    hoist_ok(&sandbox, &["copy", "-q", &oci, "hoist:local/app:v1"]).await;
    assert_eq!(signature_entries(&sandbox.root()).len(), 1);
    hoist_ok(
        &sandbox,
        &[
            "copy",
            "-q",
            "hoist:local/app:v1",
            &format!("docker://{hb}/from-store/app:v1"),
        ],
    )
    .await;
    // store → oci:
    let back = sandbox.dir.path().join("back");
    hoist_ok(
        &sandbox,
        &[
            "copy",
            "-q",
            "hoist:local/app:v1",
            &format!("oci:{}", back.display()),
        ],
    )
    .await;
    assert_eq!(signature_entries(&back).len(), 1);
    // Untagged, the layout's one image is still found: a signature entry is no image.
    hoist_ok(
        &sandbox,
        &[
            "copy",
            "-q",
            &format!("oci:{}", back.display()),
            &format!("docker://{hb}/from-back/app:v1"),
        ],
    )
    .await;
    assert_eq!(
        signatures_at(&b, "from-back/app", image.digest())
            .await
            .len(),
        1
    );

    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), &key, &format!("{ha}/team/app"));
    for repo in ["from-oci/app", "from-store/app"] {
        let found = signatures_at(&b, repo, image.digest()).await;
        assert_eq!(found.len(), 1, "{repo}");
        assert!(verifies(&key.public_pem(), &found[0]), "{repo}");
        let (accepted, err) = verified_pull(&b, &policy, &format!("{hb}/{repo}:v1")).await;
        assert!(accepted, "{repo}: {err}");
    }
}

#[tokio::test]
async fn a_copy_under_a_policy_reads_the_signatures_it_judged_once_and_carries_them() {
    let key = CosignKey::generate();
    let (a, image) = signed_registry(&key).await;
    let sandbox = sandbox_for(&[&a]);
    let dir = tempfile::tempdir().unwrap();
    let ha = a.host();
    let policy = policy(dir.path(), &key, &format!("{ha}/team/app"));
    let layout = sandbox.dir.path().join("layout");
    a.clear_log().unwrap();

    hoist_ok(
        &sandbox,
        &[
            "copy",
            "-q",
            "--policy",
            &policy,
            &format!("docker://{ha}/team/app:v1"),
            &format!("oci:{}:v1", layout.display()),
        ],
    )
    .await;

    // Judged, then carried: one read of the tag (two before the judgement shared the
    // source's).
    let tag = format!("/v2/team/app/manifests/{}", tag_of(image.digest()));
    assert_eq!(a.count_requests("GET", &tag), 1);
    assert_eq!(signature_entries(&layout).len(), 1);
    assert_skopeo_reads_signature(&layout, image.digest());
}

#[tokio::test]
async fn every_platform_and_the_index_keep_their_signatures_through_a_layout() {
    let key = CosignKey::generate();
    let a = TestRegistry::anonymous().await.unwrap();
    let b = TestRegistry::anonymous().await.unwrap();
    let index = push_index(&a, "team/app", &["amd64", "arm64"]).await;
    let digests: Vec<String> = std::iter::once(&index.index)
        .chain(index.images.iter().map(|i| &i.manifest))
        .map(|m| m.digest.clone())
        .collect();
    for digest in &digests {
        sign(&a, &key, "team/app", digest).await;
    }
    let sandbox = Sandbox::new();
    let layout = sandbox.dir.path().join("layout");
    let oci = format!("oci:{}:v1", layout.display());

    hoist_ok(
        &sandbox,
        &[
            "copy",
            "-q",
            &format!("docker://{}/team/app:v1", a.host()),
            &oci,
        ],
    )
    .await;
    hoist_ok(
        &sandbox,
        &[
            "copy",
            "-q",
            &oci,
            &format!("docker://{}/team/app:v1", b.host()),
        ],
    )
    .await;

    let mut names: Vec<String> = signature_entries(&layout)
        .into_iter()
        .map(|e| e.0)
        .collect();
    names.sort();
    let mut wanted: Vec<String> = digests.iter().map(|d| tag_of(d)).collect();
    wanted.sort();
    assert_eq!(names, wanted);
    for digest in &digests {
        let found = signatures_at(&b, "team/app", digest).await;
        assert_eq!(found.len(), 1, "{digest}");
        assert!(verifies(&key.public_pem(), &found[0]), "{digest}");
    }

    // A pull stores the signatures of the platform it pulls and of the index.
    let pulling = sandbox_for(&[&a]);
    hoist_ok(
        &pulling,
        &[
            "pull",
            "-q",
            "--platform",
            "linux/arm64",
            &format!("{}/team/app:v1", a.host()),
        ],
    )
    .await;
    let mut names: Vec<String> = signature_entries(&pulling.root())
        .into_iter()
        .map(|e| e.0)
        .collect();
    names.sort();
    let mut wanted = vec![
        tag_of(&digests[0]),
        tag_of(&index.images[1].manifest.digest),
    ];
    wanted.sort();
    assert_eq!(names, wanted);
}

#[tokio::test]
async fn remove_signatures_leaves_them_out_of_copy_and_push() {
    let key = CosignKey::generate();
    let (a, image) = signed_registry(&key).await;
    let b = TestRegistry::anonymous().await.unwrap();
    let sandbox = sandbox_for(&[&a]);
    let (ha, hb) = (a.host(), b.host());
    let layout = sandbox.dir.path().join("layout");

    hoist_ok(
        &sandbox,
        &[
            "copy",
            "-q",
            "--remove-signatures",
            &format!("docker://{ha}/team/app:v1"),
            &format!("oci:{}:v1", layout.display()),
        ],
    )
    .await;
    assert!(signature_entries(&layout).is_empty());

    pull_for(&sandbox, &a, &b).await;
    assert_eq!(signature_entries(&sandbox.root()).len(), 1);
    hoist_ok(
        &sandbox,
        &[
            "push",
            "-q",
            "--remove-signatures",
            &format!("{hb}/team/app:v1"),
        ],
    )
    .await;
    let pushed = signatures_at(&b, "team/app", image.digest()).await;
    assert!(pushed.is_empty());
}

#[tokio::test]
async fn compressing_the_layers_of_a_signed_image_is_refused_unless_signatures_are_removed() {
    let key = CosignKey::generate();
    let (a, image) = signed_registry(&key).await;
    let sandbox = sandbox_for(&[&a]);
    let src = format!("docker://{}/team/app:v1", a.host());
    let layout = sandbox.dir.path().join("zstd");
    let dst = format!("oci:{}:v1", layout.display());

    // gzip layers into zstd: the manifest would be rewritten, its signature would not match.
    let out = sandbox
        .hoist(&["copy", "-q", "--dest-compress", "zstd", &src, &dst])
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(image.digest()), "{err}");
    assert!(err.contains("--remove-signatures"), "{err}");
    assert_eq!(
        std::fs::read_dir(layout.join("blobs/sha256")).map_or(0, |d| d.count()),
        0,
        "something was written before the refusal"
    );

    hoist_ok(
        &sandbox,
        &[
            "copy",
            "-q",
            "--dest-compress",
            "zstd",
            "--remove-signatures",
            &src,
            &dst,
        ],
    )
    .await;
    assert!(signature_entries(&layout).is_empty());

    // gzip layers into gzip: nothing changes, the signature goes along.
    let same = sandbox.dir.path().join("gzip");
    let dst = format!("oci:{}:v1", same.display());
    hoist_ok(
        &sandbox,
        &["copy", "-q", "--dest-compress", "gzip", &src, &dst],
    )
    .await;
    assert_eq!(signature_entries(&same).len(), 1);
}

#[tokio::test]
async fn garbage_collection_drops_a_signature_with_its_image() {
    let key = CosignKey::generate();
    let (a, _image) = signed_registry(&key).await;
    let sandbox = sandbox_for(&[&a]);
    let reference = format!("{}/team/app:v1", a.host());
    hoist_ok(&sandbox, &["pull", "-q", &reference]).await;
    let entries = signature_entries(&sandbox.root());
    assert_eq!(entries.len(), 1);
    let files: Vec<PathBuf> = std::iter::once(entries[0].1.clone())
        .chain(payloads(&sandbox.root(), &entries[0].1))
        .map(|d| blob(&sandbox.root(), &d))
        .collect();

    // An unrelated image removed: the signature of the one still there stays.
    hoist_ok(&sandbox, &["tag", &reference, "other/app:v1"]).await;
    hoist_ok(&sandbox, &["rmi", "other/app:v1"]).await;
    assert_eq!(signature_entries(&sandbox.root()), entries);
    assert!(files.iter().all(|f| f.is_file()));

    hoist_ok(&sandbox, &["rmi", &reference]).await;

    assert!(signature_entries(&sandbox.root()).is_empty());
    for file in &files {
        assert!(!file.exists(), "{} kept", file.display());
    }
}

#[tokio::test]
async fn a_signature_manifest_out_of_bounds_fails_the_copy_in_one_line() {
    let key = CosignKey::generate();
    let (a, image) = registry_with_image().await;
    let one = key.signature(image.digest(), &format!("{}/team/app:v1", a.host()));
    // 129 layers (the same payload): more than hoist reads.
    let layers = vec![one; 129];
    push_signatures(&ImagePusher::new(&a), "team/app", image.digest(), &layers)
        .await
        .unwrap();
    let sandbox = sandbox_for(&[&a]);
    let layout = sandbox.dir.path().join("layout");
    let src = format!("docker://{}/team/app:v1", a.host());
    let dst = format!("oci:{}:v1", layout.display());

    let out = sandbox.hoist(&["copy", "-q", &src, &dst]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&tag_of(image.digest())), "{err}");
    assert!(err.contains("more than the 128 signatures"), "{err}");
    // Nothing of the image was written.
    assert_eq!(
        std::fs::read_dir(layout.join("blobs/sha256")).map_or(0, |d| d.count()),
        0
    );

    let out = sandbox
        .hoist(&["pull", "-q", &format!("{}/team/app:v1", a.host())])
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("more than the 128 signatures"),
        "{}",
        stderr(&out)
    );

    hoist_ok(&sandbox, &["copy", "-q", "--remove-signatures", &src, &dst]).await;
}

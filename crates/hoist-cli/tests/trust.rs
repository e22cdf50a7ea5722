//! Trust end to end with the built binary: `generate-sigstore-key`, signing on `copy` and
//! `push` (checked by the testkit's independent reader), `pull --policy` accepting what was
//! signed and refusing what was not with one line, malformed policies, wrong passphrases.

mod sandbox;

use std::path::PathBuf;

use hoist_testkit::sigstore::{read_signatures, verifies};
use hoist_testkit::{Image, TestRegistry};
use sandbox::{push_index, registry_with_image, stderr, Sandbox};

/// A sandbox with a key pair `k.private`/`k.pub` made by `hoist generate-sigstore-key`
/// (passphrase in `pass`), and a policy requiring that key for every docker image.
struct Signing {
    sandbox: Sandbox,
}

impl Signing {
    async fn new() -> Signing {
        let sandbox = Sandbox::new();
        std::fs::write(sandbox.dir.path().join("pass"), "s3cret\n").unwrap();
        let prefix = sandbox.dir.path().join("k");
        let out = sandbox
            .hoist(&[
                "generate-sigstore-key",
                "--output-prefix",
                prefix.to_str().unwrap(),
                "--passphrase-file",
                sandbox.dir.path().join("pass").to_str().unwrap(),
            ])
            .await;
        assert!(out.status.success(), "{}", stderr(&out));
        let policy = format!(
            r#"{{"default": [{{"type": "insecureAcceptAnything"}}],
                "transports": {{"docker": {{"": [{{"type": "sigstoreSigned", "keyPath": "{}"}}]}}}}}}"#,
            sandbox.dir.path().join("k.pub").display()
        );
        std::fs::write(sandbox.dir.path().join("policy.json"), policy).unwrap();
        Signing { sandbox }
    }

    fn path(&self, name: &str) -> String {
        self.sandbox.dir.path().join(name).display().to_string()
    }

    fn public_pem(&self) -> String {
        std::fs::read_to_string(self.path("k.pub")).unwrap()
    }

    /// `hoist copy --sign-by-sigstore-private-key k.private … SRC DST`.
    async fn signed_copy(
        &self,
        src: &str,
        dst: &str,
        passphrase_file: &str,
    ) -> std::process::Output {
        self.sandbox
            .hoist(&[
                "copy",
                "--sign-by-sigstore-private-key",
                &self.path("k.private"),
                "--sign-passphrase-file",
                &self.path(passphrase_file),
                src,
                dst,
            ])
            .await
    }

    /// Reads signatures of `host`'s images from sigstore attachments (hoist's config).
    fn enable_attachments(&self, registry: &TestRegistry) {
        let config = format!("sigstore_attachments = [\"{}\"]\n", registry.host());
        std::fs::write(self.sandbox.config_path(), config).unwrap();
    }
}

fn blob_count(root: PathBuf) -> usize {
    std::fs::read_dir(root.join("blobs/sha256")).map_or(0, |d| d.count())
}

async fn signatures(
    registry: &TestRegistry,
    repo: &str,
    image: &Image,
) -> Vec<hoist_testkit::SignatureLayer> {
    read_signatures(&registry.client(), &registry.url(), repo, image.digest())
        .await
        .unwrap()
}

#[tokio::test]
async fn generated_keys_sign_a_copy_and_the_policy_accepts_only_the_signed_image() {
    let (registry, image) = registry_with_image().await;
    let signing = Signing::new().await;
    let private = std::fs::read_to_string(signing.path("k.private")).unwrap();
    assert!(private.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
    assert!(!private.contains("s3cret"));
    let host = registry.host();

    let out = signing
        .signed_copy(
            &format!("docker://{host}/team/app:v1"),
            &format!("docker://{host}/signed/app:v1"),
            "pass",
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));

    let found = signatures(&registry, "signed/app", &image).await;
    assert_eq!(found.len(), 1);
    assert!(verifies(&signing.public_pem(), &found[0]));
    signing.enable_attachments(&registry);
    let policy = signing.path("policy.json");
    let out = signing
        .sandbox
        .hoist(&[
            "pull",
            "-q",
            "--policy",
            &policy,
            &format!("{host}/signed/app:v1"),
        ])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));

    let unsigned = Sandbox::new();
    std::fs::copy(signing.sandbox.config_path(), unsigned.config_path()).unwrap();
    let out = unsigned
        .hoist(&["pull", "--policy", &policy, &format!("{host}/team/app:v1")])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("Error: docker://{host}/team/app:v1: a signature was required by {policy}, but no signature exists")),
        "{err}"
    );
    assert_eq!(blob_count(unsigned.root()), 0);
}

#[tokio::test]
async fn push_signs_every_tag_it_pushes() {
    let (registry, image) = registry_with_image().await;
    let signing = Signing::new().await;
    let host = registry.host();
    let sandbox = &signing.sandbox;
    assert!(sandbox
        .hoist(&["pull", "-q", &format!("{host}/team/app:v1")])
        .await
        .status
        .success());
    let out = sandbox
        .hoist(&[
            "push",
            "-q",
            "--sign-by-sigstore-private-key",
            &signing.path("k.private"),
            "--sign-passphrase-file",
            &signing.path("pass"),
            "--sign-identity",
            "registry.example.com/app:1",
            &format!("{host}/team/app:v1"),
        ])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));

    let found = signatures(&registry, "team/app", &image).await;
    assert_eq!(found.len(), 1);
    assert!(verifies(&signing.public_pem(), &found[0]));
    let payload: serde_json::Value = serde_json::from_slice(&found[0].payload).unwrap();
    assert_eq!(
        payload["critical"]["identity"]["docker-reference"],
        "registry.example.com/app:1"
    );
}

#[tokio::test]
async fn a_wrong_passphrase_fails_before_anything_is_copied() {
    let (registry, _image) = registry_with_image().await;
    let signing = Signing::new().await;
    std::fs::write(signing.path("wrong"), "not it\n").unwrap();
    let host = registry.host();

    let out = signing
        .signed_copy(
            &format!("docker://{host}/team/app:v1"),
            &format!("docker://{host}/signed/app:v1"),
            "wrong",
        )
        .await;

    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(
        err.trim_end(),
        format!(
            "Error: key {}: wrong passphrase (or the file is corrupt)",
            signing.path("k.private")
        )
    );
    assert_eq!(registry.count_requests("PUT", "/v2/signed/app/"), 0);
}

#[tokio::test]
async fn signing_into_a_layout_is_refused_before_the_copy() {
    let (registry, _image) = registry_with_image().await;
    let signing = Signing::new().await;
    let layout = signing.path("layout");

    let out = signing
        .signed_copy(
            &format!("docker://{}/team/app:v1", registry.host()),
            &format!("oci:{layout}:v1"),
            "pass",
        )
        .await;

    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot sign oci:"),
        "{}",
        stderr(&out)
    );
    assert!(!std::path::Path::new(&layout).exists());
}

#[tokio::test]
async fn a_malformed_policy_is_one_line_naming_file_and_line() {
    let (registry, _image) = registry_with_image().await;
    let sandbox = Sandbox::new();
    let policy = sandbox.dir.path().join("policy.json");
    std::fs::write(
        &policy,
        "{\n  \"default\": [{\"type\": \"insecureAcceptAnything\"}],\n  \"transport\": {}\n}\n",
    )
    .unwrap();

    let out = sandbox
        .hoist(&[
            "pull",
            "--policy",
            policy.to_str().unwrap(),
            &format!("{}/team/app:v1", registry.host()),
        ])
        .await;

    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("Error: invalid {}:3:", policy.display())),
        "{err}"
    );
    assert!(err.contains("unknown field `transport`"), "{err}");
}

#[tokio::test]
async fn registries_d_enables_attachments_and_copy_checks_the_policy() {
    let (registry, image) = registry_with_image().await;
    let signing = Signing::new().await;
    let host = registry.host();
    let out = signing
        .signed_copy(
            &format!("docker://{host}/team/app:v1"),
            &format!("docker://{host}/signed/app:v1"),
            "pass",
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = signing.path("registries.d");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        format!("{dir}/local.yaml"),
        format!("docker:\n  {host}/signed:\n    use-sigstore-attachments: true\n"),
    )
    .unwrap();
    let policy = signing.path("policy.json");
    let copy = |src: String, dst: String| {
        let args = [
            "copy",
            "--policy",
            &policy,
            "--registries.d",
            &dir,
            &src,
            &dst,
        ]
        .map(str::to_owned);
        signing
            .sandbox
            .command(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let layout = signing.path("layout");
    let out = copy(
        format!("docker://{host}/signed/app:v1"),
        format!("oci:{layout}:v1"),
    )
    .output()
    .await
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read_to_string(format!("{layout}/index.json"))
        .unwrap()
        .contains(image.digest()));

    let refused = signing.path("refused");
    let out = copy(
        format!("docker://{host}/team/app:v1"),
        format!("oci:{refused}:v1"),
    )
    .output()
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("sigstore attachments are not enabled"),
        "{}",
        stderr(&out)
    );
    assert!(!std::path::Path::new(&refused).exists());
}

#[tokio::test]
async fn signing_an_index_signs_it_and_each_platform_as_skopeo_does() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let index = push_index(&registry, "team/app", &["amd64", "arm64"]).await;
    let signing = Signing::new().await;
    let host = registry.host();

    let out = signing
        .signed_copy(
            &format!("docker://{host}/team/app:v1"),
            &format!("docker://{host}/signed/app:v1"),
            "pass",
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));

    let manifests = std::iter::once(&index.index).chain(index.images.iter().map(|i| &i.manifest));
    for manifest in manifests {
        let found = read_signatures(
            &registry.client(),
            &registry.url(),
            "signed/app",
            &manifest.digest,
        )
        .await
        .unwrap();
        assert_eq!(found.len(), 1, "{}: {found:?}", manifest.digest);
        assert!(verifies(&signing.public_pem(), &found[0]));
        let payload: serde_json::Value = serde_json::from_slice(&found[0].payload).unwrap();
        assert_eq!(
            payload["critical"]["image"]["docker-manifest-digest"],
            manifest.digest.as_str()
        );
        assert_eq!(
            payload["critical"]["identity"]["docker-reference"],
            format!("{host}/signed/app:v1")
        );
    }
}

#[tokio::test]
async fn copy_carries_signatures_between_registries_unless_removed() {
    let (registry, image) = registry_with_image().await;
    let signing = Signing::new().await;
    let host = registry.host();
    let out = signing
        .signed_copy(
            &format!("docker://{host}/team/app:v1"),
            &format!("docker://{host}/signed/app:v1"),
            "pass",
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let copy = |dst: &str, remove: bool| {
        let mut args = vec!["copy".to_owned(), "-q".to_owned()];
        if remove {
            args.push("--remove-signatures".to_owned());
        }
        args.push(format!("docker://{host}/signed/app:v1"));
        args.push(format!("docker://{host}/{dst}:v1"));
        signing
            .sandbox
            .command(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let out = copy("carried/app", false).output().await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = copy("bare/app", true).output().await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let original = signatures(&registry, "signed/app", &image).await;
    let carried = signatures(&registry, "carried/app", &image).await;
    assert_eq!(carried.len(), 1);
    assert_eq!(carried[0].payload, original[0].payload);
    assert_eq!(carried[0].signature, original[0].signature);
    assert!(verifies(&signing.public_pem(), &carried[0]));
    assert!(signatures(&registry, "bare/app", &image).await.is_empty());
    // Copied again: the signature is already there, not added twice.
    let out = copy("carried/app", false).output().await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(signatures(&registry, "carried/app", &image).await.len(), 1);
}

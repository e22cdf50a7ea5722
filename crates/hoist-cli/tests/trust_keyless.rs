//! `hoist pull --policy` with a keyless requirement (`fulcio` + `rekorPublicKeyPath`), end to
//! end with the built binary: a signature made by the testkit's independent keyless signer
//! (its own Fulcio-style CA and Rekor key) is accepted, and the same signature under a policy
//! naming another e-mail is refused with one line saying so and nothing stored.

mod sandbox;

use hoist_testkit::fulcio::{KeylessSigner, Leaf};
use hoist_testkit::sigstore::push_signatures;
use hoist_testkit::ImagePusher;
use sandbox::{registry_with_image, stderr, Sandbox};

const EMAIL: &str = "ci@example.com";
const ISSUER: &str = "https://token.example.com";

/// A sandbox reading `host`'s signatures, with the signer's CA root and Rekor key on disk and
/// a policy requiring a keyless signature by `email`; returns the sandbox and the policy path.
fn sandbox_requiring(signer: &KeylessSigner, host: &str, email: &str) -> (Sandbox, String) {
    let sandbox = Sandbox::new();
    let dir = sandbox.dir.path();
    std::fs::write(dir.join("ca.pem"), signer.ca.root_pem()).unwrap();
    std::fs::write(dir.join("rekor.pub"), signer.rekor.public_pem()).unwrap();
    let config = format!("sigstore_attachments = [\"{host}\"]\n");
    std::fs::write(sandbox.config_path(), config).unwrap();
    let policy = format!(
        r#"{{"default": [{{"type": "reject"}}], "transports": {{"docker": {{"": [{{
            "type": "sigstoreSigned",
            "fulcio": {{"caPath": "{}", "oidcIssuer": "{ISSUER}", "subjectEmail": "{email}"}},
            "rekorPublicKeyPath": "{}"}}]}}}}}}"#,
        dir.join("ca.pem").display(),
        dir.join("rekor.pub").display()
    );
    let path = dir.join("policy.json");
    std::fs::write(&path, policy).unwrap();
    (sandbox, path.display().to_string())
}

#[tokio::test]
async fn pull_accepts_a_keyless_signature_and_refuses_another_email_in_one_line() {
    let (registry, image) = registry_with_image().await;
    let host = registry.host();
    let signer = KeylessSigner::new().unwrap();
    let identity = format!("{host}/team/app:v1");
    let layer = signer
        .signature(&Leaf::new(EMAIL, ISSUER), image.digest(), &identity)
        .unwrap();
    push_signatures(
        &ImagePusher::new(&registry),
        "team/app",
        image.digest(),
        &[layer],
    )
    .await
    .unwrap();

    let (accepting, policy) = sandbox_requiring(&signer, &host, EMAIL);
    let out = accepting
        .hoist(&["pull", "-q", "--policy", &policy, &identity])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));

    let (refusing, policy) = sandbox_requiring(&signer, &host, "other@example.com");
    let out = refusing
        .hoist(&["pull", "-q", "--policy", &policy, &identity])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        err.trim_end(),
        format!(
            "Error: docker://{identity}: no signature accepted by {policy}: signature 1: \
             the certificate is for [\"{EMAIL}\"], not \"other@example.com\""
        )
    );
    let blobs = std::fs::read_dir(refusing.root().join("blobs/sha256")).map_or(0, |d| d.count());
    assert_eq!(blobs, 0);
}

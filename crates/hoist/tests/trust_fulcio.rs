//! A pull under a `sigstoreSigned` requirement with `fulcio` and a Rekor key: keyless
//! signatures made by the testkit's independent signer (its own Fulcio-style CA and Rekor
//! key) in a real registry are accepted only when the certificate chains to the CA, names the
//! e-mail and OIDC issuer, and was valid when the Rekor bundle — signed by the Rekor key, for
//! this very signature — says it was logged. Each refusal is one line saying which check
//! failed, and stores nothing.

mod support;

use hoist::trust::TrustError;
use hoist_testkit::fulcio::{
    hashedrekord, hashedrekord_entry, now, IssuerExtensions, BUNDLE_ANNOTATION,
};
use hoist_testkit::{FulcioCa, Leaf, RekorKey, SignatureLayer};
use support::trust::{assert_nothing_stored, refusal, Setup};

const EMAIL: &str = "release@example.com";
const ISSUER: &str = "https://accounts.example.com";

/// The policy every test pulls under: this setup's CA and Rekor key, [`EMAIL`], [`ISSUER`].
const KEYLESS: &str = r#"[{"type": "sigstoreSigned",
    "fulcio": {"caPath": "CA", "oidcIssuer": "https://accounts.example.com", "subjectEmail": "release@example.com"},
    "rekorPublicKeyPath": "REKOR"}]"#;

impl Setup {
    /// The image signed for `team/app:v1` by a certificate for `leaf`, not yet logged.
    fn keyless_unlogged(&self, leaf: &Leaf) -> SignatureLayer {
        self.keyless
            .ca
            .issue(leaf)
            .unwrap()
            .signature(self.image.digest(), &self.name("team/app:v1"))
    }

    /// The image signed for `team/app:v1` by a certificate for `leaf`, logged now.
    fn keyless_logged(&self, leaf: &Leaf) -> SignatureLayer {
        let mut layer = self.keyless_unlogged(leaf);
        self.keyless.rekor.record(&mut layer, now());
        layer
    }

    /// `layer` with a bundle, by this setup's Rekor key, recording the log entry `entry`.
    fn logged_as(&self, mut layer: SignatureLayer, entry: &[u8]) -> SignatureLayer {
        let bundle = self.keyless.rekor.bundle(entry, now());
        layer
            .annotations
            .insert(BUNDLE_ANNOTATION.to_owned(), bundle);
        layer
    }

    /// Attaches `layer` to the image and pulls it under [`KEYLESS`]: the refusal's line.
    async fn refused(&self, layer: SignatureLayer) -> String {
        self.attach("team/app", self.image.digest(), &[layer]).await;
        let (store, result) = self.pull(self.policy(KEYLESS), "team/app:v1").await;
        let err = refusal(result);
        assert!(matches!(err, TrustError::NotAccepted { .. }), "{err}");
        assert_nothing_stored(&store);
        let line = err.to_string();
        assert!(!line.contains('\n'), "{line}");
        line
    }

    async fn accepted(&self, layer: SignatureLayer) {
        self.attach("team/app", self.image.digest(), &[layer]).await;
        let (store, result) = self.pull(self.policy(KEYLESS), "team/app:v1").await;
        result.unwrap();
        assert!(store
            .blobs()
            .iter()
            .any(|d| d.as_str() == self.image.digest()));
    }
}

#[tokio::test]
async fn a_keyless_signature_logged_in_rekor_is_pulled() {
    let setup = Setup::new().await;
    let layer = setup.keyless_logged(&Leaf::new(EMAIL, ISSUER));
    setup.accepted(layer).await;
}

#[tokio::test]
async fn a_certificate_issued_by_the_root_itself_is_pulled() {
    let setup = Setup::new().await;
    // A root-only CA: the chain annotation holds the root alone, which is never used as an
    // intermediate, and the policy's CA is that root.
    let ca = FulcioCa::new().unwrap();
    std::fs::write(setup.dir.path().join("ca.pem"), ca.root_pem()).unwrap();
    let mut layer = ca
        .issue(&Leaf::new(EMAIL, ISSUER))
        .unwrap()
        .signature(setup.image.digest(), &setup.name("team/app:v1"));
    setup.keyless.rekor.record(&mut layer, now());
    setup.accepted(layer).await;
}

#[tokio::test]
async fn either_oidc_issuer_extension_is_read() {
    for extensions in [IssuerExtensions::V1, IssuerExtensions::V2] {
        let setup = Setup::new().await;
        let leaf = Leaf {
            extensions,
            ..Leaf::new(EMAIL, ISSUER)
        };
        let layer = setup.keyless_logged(&leaf);
        setup.accepted(layer).await;
    }
}

#[tokio::test]
async fn a_certificate_for_another_email_is_refused_naming_both() {
    let setup = Setup::new().await;
    let layer = setup.keyless_logged(&Leaf::new("intruder@example.com", ISSUER));

    let line = setup.refused(layer).await;

    assert!(
        line.contains(r#"signature 1: the certificate is for ["intruder@example.com"], not "release@example.com""#),
        "{line}"
    );
}

#[tokio::test]
async fn a_certificate_from_another_oidc_issuer_is_refused_naming_both() {
    let setup = Setup::new().await;
    let layer = setup.keyless_logged(&Leaf::new(EMAIL, "https://evil.example.net"));

    let line = setup.refused(layer).await;

    assert!(
        line.contains(r#"the certificate's OIDC issuer is "https://evil.example.net", not "https://accounts.example.com""#),
        "{line}"
    );
}

#[tokio::test]
async fn disagreeing_oidc_issuer_extensions_are_refused() {
    let setup = Setup::new().await;
    let leaf = Leaf {
        issuer_v2: Some("https://evil.example.net".into()),
        ..Leaf::new(EMAIL, ISSUER)
    };
    let layer = setup.keyless_logged(&leaf);

    let line = setup.refused(layer).await;

    assert!(line.contains("OIDC issuer extensions disagree"), "{line}");
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_as_untrusted() {
    let setup = Setup::new().await;
    let other = FulcioCa::with_intermediate().unwrap();
    let mut layer = other
        .issue(&Leaf::new(EMAIL, ISSUER))
        .unwrap()
        .signature(setup.image.digest(), &setup.name("team/app:v1"));
    setup.keyless.rekor.record(&mut layer, now());

    let line = setup.refused(layer).await;

    assert!(
        line.contains("the certificate is not issued by the Fulcio CA") && line.contains("ca.pem"),
        "{line}"
    );
}

#[tokio::test]
async fn a_signature_without_a_rekor_bundle_is_refused() {
    let setup = Setup::new().await;
    let layer = setup.keyless_unlogged(&Leaf::new(EMAIL, ISSUER));

    let line = setup.refused(layer).await;

    assert!(
        line.contains("signature 1: no dev.sigstore.cosign/bundle annotation"),
        "{line}"
    );
}

#[tokio::test]
async fn a_bundle_signed_by_another_rekor_key_is_refused() {
    let setup = Setup::new().await;
    let mut layer = setup.keyless_unlogged(&Leaf::new(EMAIL, ISSUER));
    RekorKey::generate().record(&mut layer, now());

    let line = setup.refused(layer).await;

    assert!(
        line.contains("the Rekor SET is not signed by") && line.contains("rekor.pub"),
        "{line}"
    );
}

#[tokio::test]
async fn a_bundle_for_another_signature_is_refused() {
    let setup = Setup::new().await;
    let cert = setup.keyless.ca.issue(&Leaf::new(EMAIL, ISSUER)).unwrap();
    let layer = cert.signature(setup.image.digest(), &setup.name("team/app:v1"));
    // A valid bundle, by the right key, for an entry of another signature by the same
    // certificate (another payload).
    let other = cert.signature(setup.image.digest(), &setup.name("team/other:v1"));
    let layer = setup.logged_as(layer, &hashedrekord(&other));

    let line = setup.refused(layer).await;

    assert!(
        line.contains("the Rekor entry is for another signature"),
        "{line}"
    );
}

#[tokio::test]
async fn a_bundle_whose_entry_names_another_payload_is_refused() {
    let setup = Setup::new().await;
    let layer = setup.keyless_unlogged(&Leaf::new(EMAIL, ISSUER));
    let mut entry: serde_json::Value = serde_json::from_slice(&hashedrekord(&layer)).unwrap();
    entry["spec"]["data"]["hash"]["value"] = "00".repeat(32).into();
    let layer = setup.logged_as(layer, entry.to_string().as_bytes());

    let line = setup.refused(layer).await;

    assert!(
        line.contains("the Rekor entry is for another payload"),
        "{line}"
    );
}

#[tokio::test]
async fn an_integrated_time_outside_the_certificate_validity_is_refused() {
    let setup = Setup::new().await;
    let leaf = Leaf::new(EMAIL, ISSUER);
    for (time, says) in [
        (leaf.not_after + 3600, "expired at"),
        (leaf.not_before - 3600, "valid from"),
    ] {
        let mut layer = setup.keyless_unlogged(&leaf);
        setup.keyless.rekor.record(&mut layer, time);

        let line = setup.refused(layer).await;

        assert!(
            line.contains("the certificate chain is not valid at the Rekor integratedTime")
                && line.contains(says),
            "{line}"
        );
    }
}

#[tokio::test]
async fn a_keyless_signature_does_not_satisfy_a_key_and_a_key_signature_not_fulcio() {
    let setup = Setup::new().await;
    let layer = setup.keyless_logged(&Leaf::new(EMAIL, ISSUER));
    setup
        .attach("team/app", setup.image.digest(), &[layer])
        .await;
    let keyed = setup.policy(r#"[{"type": "sigstoreSigned", "keyPath": "KEY"}]"#);
    let (_store, result) = setup.pull(keyed, "team/app:v1").await;
    assert!(refusal(result).to_string().contains("not signed by"));

    setup.sign_as("team/app:v1").await;
    let line = setup.refused_as_is().await;
    assert!(
        line.contains("no dev.sigstore.cosign/bundle annotation"),
        "{line}"
    );
}

#[tokio::test]
async fn a_key_with_a_rekor_key_needs_a_bundle_for_that_key() {
    let setup = Setup::new().await;
    let policy = r#"[{"type": "sigstoreSigned", "keyPath": "KEY", "rekorPublicKeyPath": "REKOR"}]"#;
    let layer = setup
        .key
        .signature(setup.image.digest(), &setup.name("team/app:v1"));
    setup
        .attach(
            "team/app",
            setup.image.digest(),
            std::slice::from_ref(&layer),
        )
        .await;
    let (_store, result) = setup.pull(setup.policy(policy), "team/app:v1").await;
    assert!(refusal(result)
        .to_string()
        .contains("no dev.sigstore.cosign/bundle annotation"));

    // The entry of a key-signed signature names the public key's PEM.
    let entry = hashedrekord_entry(&layer.payload, &layer.signature, &setup.key.public_pem());
    let layer = setup.logged_as(layer, &entry);
    setup
        .attach("team/app", setup.image.digest(), &[layer])
        .await;
    let (_store, result) = setup.pull(setup.policy(policy), "team/app:v1").await;
    result.unwrap();
}

impl Setup {
    /// Pulls under [`KEYLESS`] whatever is attached: the refusal's line.
    async fn refused_as_is(&self) -> String {
        let (store, result) = self.pull(self.policy(KEYLESS), "team/app:v1").await;
        assert_nothing_stored(&store);
        refusal(result).to_string()
    }
}

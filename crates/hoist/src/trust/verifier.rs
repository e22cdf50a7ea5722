//! [`ImageVerifier`]: the hook pull and copy call with the digest of each image manifest
//! they will pull or copy (a reference's platform manifests, never an index), before any
//! layer is fetched (containerd's image-verifier idea: a plug-in judges `name` +
//! descriptor), and [`PolicyVerifier`], the one that enforces a `policy.json`.
//!
//! [`PolicyVerifier`] takes the requirements that apply to the subject (see
//! [`super::policy`]) and checks each, as containers/image's `IsRunningImageAllowed` does:
//! `insecureAcceptAnything` passes, `reject` refuses, `sigstoreSigned` needs one signature
//! that verifies with one of its keys (or with a Fulcio certificate its CA issued for the
//! required e-mail and OIDC issuer, recorded in Rekor — see [`super::sigstore::fulcio`]),
//! signs the digest, and claims an accepted identity; requirements hoist cannot check
//! (`signedBy`, `pki`) refuse with "not supported yet" naming the policy file — never
//! accepted unchecked. The keys and CA certificates a requirement names are read when it
//! applies (as containers/image's `prepareTrustRoot`); one that cannot be read fails the
//! image with a [`KeyError`]. The signatures are read
//! once per image, from the sigstore attachments of the subject's repository when
//! [`SigstoreAttachments`] enables them for it; otherwise there are none and the refusal says
//! how to enable them.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::TryStreamExt;
use p256::ecdsa::VerifyingKey;

use super::policy::{Fulcio, KeySource, Requirement, SigstoreSigned};
use super::sigstore::{self, attachments, FulcioRoot, Signature, TrustRoot};
use super::{keys, KeyError, Policy, SigstoreAttachments, Subject, TrustError};
use crate::digest::Digest;
use crate::registry::read_ahead;

/// Judges whether an image may be pulled or copied. Implement it to plug in another
/// verifier (notation, an admission service); hoist's is [`PolicyVerifier`].
pub trait ImageVerifier: Send + Sync {
    /// Accepts or refuses the image manifest `digest` of `subject` (the manifest its
    /// reference names, or one platform's from the index it names). Called before anything
    /// of the image is stored.
    fn verify<'a>(
        &'a self,
        subject: &'a Subject,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<(), TrustError>>;
}

/// A verifier with the image it judges, as a copy carries it
/// ([`crate::copy::CopyOptions::verify`]).
#[derive(Clone)]
pub struct Verification {
    /// The verifier.
    pub verifier: Arc<dyn ImageVerifier>,
    /// The copy's source.
    pub subject: Subject,
}

impl Verification {
    /// Runs the verifier on the image manifest `digest` of the source.
    pub async fn check(&self, digest: &Digest) -> Result<(), TrustError> {
        self.verifier.verify(&self.subject, digest).await
    }

    /// Runs the verifier on each image manifest `digests` of the source ([`verify_each`]).
    pub async fn check_each(&self, digests: &[Digest]) -> Result<(), TrustError> {
        verify_each(&*self.verifier, &self.subject, digests).await
    }
}

/// Judges each image manifest `digests` of `subject` (an index's platforms), several at once
/// ([`read_ahead::in_order`]): each judgement may read signatures from the registry, a round
/// trip or more.
/// The refusal reported is the first in `digests`' order, as judging them one after the other
/// would report; a few judgements after it may have run (they read, never write).
pub async fn verify_each(
    verifier: &dyn ImageVerifier,
    subject: &Subject,
    digests: &[Digest],
) -> Result<(), TrustError> {
    let checks: Vec<_> = digests
        .iter()
        .map(|d| verifier.verify(subject, d))
        .collect();
    read_ahead::in_order(checks)
        .try_for_each(|()| async { Ok(()) })
        .await
}

impl std::fmt::Debug for Verification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verification")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Enforces a [`Policy`]. See the module docs.
#[derive(Debug, Clone)]
pub struct PolicyVerifier {
    policy: Arc<Policy>,
    attachments: SigstoreAttachments,
}

impl PolicyVerifier {
    /// A verifier of `policy`, reading signatures where `attachments` says.
    pub fn new(policy: Policy, attachments: SigstoreAttachments) -> PolicyVerifier {
        PolicyVerifier {
            policy: Arc::new(policy),
            attachments,
        }
    }

    async fn judge(&self, subject: &Subject, digest: &Digest) -> Result<(), TrustError> {
        let requirements = self
            .policy
            .requirements(subject.transport(), subject.scopes());
        let mut signatures: Option<Vec<Signature>> = None;
        for requirement in requirements {
            match requirement {
                Requirement::InsecureAcceptAnything => {}
                Requirement::Reject => {
                    return Err(TrustError::Rejected {
                        image: subject.name().to_owned(),
                        policy: self.policy.source().to_owned(),
                    })
                }
                Requirement::SignedBy => return Err(self.unsupported(subject, "signedBy (GPG)")),
                Requirement::SigstoreSigned(rule) => {
                    if let Some(what) = rule.unsupported() {
                        return Err(self.unsupported(subject, what));
                    }
                    if signatures.is_none() {
                        signatures = Some(self.signatures(subject, digest).await?);
                    }
                    let found = signatures.as_deref().unwrap_or_default();
                    self.sigstore_signed(rule, subject, digest, found)?;
                }
            }
        }
        tracing::debug!(image = subject.name(), %digest, policy = self.policy.source(), "image accepted by policy");
        Ok(())
    }

    fn unsupported(&self, subject: &Subject, what: &str) -> TrustError {
        TrustError::Unsupported {
            image: subject.name().to_owned(),
            what: what.to_owned(),
            policy: self.policy.source().to_owned(),
        }
    }

    /// The image's signatures: its sigstore attachments when enabled, else none.
    async fn signatures(
        &self,
        subject: &Subject,
        digest: &Digest,
    ) -> Result<Vec<Signature>, TrustError> {
        let (Some(reference), Some(home)) = (subject.reference(), subject.signature_home()) else {
            return Ok(Vec::new());
        };
        if !self.attachments.enabled_for(reference) {
            return Ok(Vec::new());
        }
        let found = attachments::read(home, digest, subject.name()).await?;
        if found.others > 0 {
            tracing::debug!(
                others = found.others,
                "attachments that are not signatures skipped"
            );
        }
        Ok(found.signatures)
    }

    fn sigstore_signed(
        &self,
        rule: &SigstoreSigned,
        subject: &Subject,
        digest: &Digest,
        signatures: &[Signature],
    ) -> Result<(), TrustError> {
        if signatures.is_empty() {
            return Err(TrustError::NoSignature {
                image: subject.name().to_owned(),
                policy: self.policy.source().to_owned(),
                hint: self.hint(subject),
            });
        }
        let root = trust_root(rule)?;
        let mut reasons = Vec::with_capacity(signatures.len());
        for (i, signature) in signatures.iter().enumerate() {
            match sigstore::check(
                signature,
                &root,
                digest,
                &rule.signed_identity,
                subject.reference(),
            ) {
                Ok(()) => return Ok(()),
                Err(reason) => reasons.push(format!("signature {}: {reason}", i + 1)),
            }
        }
        Err(TrustError::NotAccepted {
            image: subject.name().to_owned(),
            policy: self.policy.source().to_owned(),
            reasons: reasons.join("; "),
        })
    }

    /// Why no signature was looked for, when that is why there is none.
    fn hint(&self, subject: &Subject) -> String {
        match (subject.reference(), subject.repository()) {
            (Some(reference), Some(_)) if !self.attachments.enabled_for(reference) => format!(
                " (sigstore attachments are not enabled for {}: use-sigstore-attachments in registries.d, or sigstore_attachments in hoist's config)",
                reference.repository()
            ),
            (_, None) => format!(" (hoist reads signatures from registries only, not from {} images)", subject.transport()),
            _ => String::new(),
        }
    }
}

impl ImageVerifier for PolicyVerifier {
    fn verify<'a>(
        &'a self,
        subject: &'a Subject,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<(), TrustError>> {
        Box::pin(self.judge(subject, digest))
    }
}

/// What a requirement trusts, read from its files and inline data.
fn trust_root(rule: &SigstoreSigned) -> Result<TrustRoot, TrustError> {
    Ok(TrustRoot {
        keys: load_keys(&rule.keys, "keyData")?,
        fulcio: rule.fulcio.as_ref().map(load_fulcio).transpose()?,
        rekor: load_keys(&rule.rekor, "rekorPublicKeyData")?,
    })
}

/// The public keys of a requirement, each with the name messages use (the file, or
/// `inline` for data in the policy).
fn load_keys(
    sources: &[KeySource],
    inline: &str,
) -> Result<Vec<(String, VerifyingKey)>, TrustError> {
    let mut out = Vec::with_capacity(sources.len());
    for source in sources {
        let name = named(source, inline);
        let key = keys::public_key(&read(source, &name)?, &name)?;
        out.push((name, key));
    }
    Ok(out)
}

/// The Fulcio CA certificates and identity of a requirement.
fn load_fulcio(fulcio: &Fulcio) -> Result<FulcioRoot, TrustError> {
    let name = named(&fulcio.ca, "caData");
    let pem = read(&fulcio.ca, &name)?;
    FulcioRoot::new(&name, &pem, &fulcio.oidc_issuer, &fulcio.subject_email).map_err(|reason| {
        TrustError::Key(KeyError::Invalid {
            path: name.clone(),
            reason,
        })
    })
}

/// How messages name `source`: its path, or the policy field `inline` for inline data.
fn named(source: &KeySource, inline: &str) -> String {
    match source {
        KeySource::Path(_) => source.name(),
        KeySource::Data(_) => inline.to_owned(),
    }
}

/// The bytes of a key or certificate source (`name` in errors).
fn read(source: &KeySource, name: &str) -> Result<Vec<u8>, KeyError> {
    match source {
        KeySource::Path(path) => std::fs::read(path).map_err(|e| KeyError::Read {
            path: name.to_owned(),
            source: e,
        }),
        KeySource::Data(data) => Ok(data.clone()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::copy::ImageLocation;

    /// Refuses the digests it is given, the later ones faster; counts judgements at once.
    struct Refusing {
        refused: Vec<Digest>,
        order: Vec<Digest>,
        running: AtomicUsize,
        peak: AtomicUsize,
    }

    impl ImageVerifier for Refusing {
        fn verify<'a>(
            &'a self,
            _: &'a Subject,
            digest: &'a Digest,
        ) -> BoxFuture<'a, Result<(), TrustError>> {
            Box::pin(async move {
                let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
                self.peak.fetch_max(now, Ordering::SeqCst);
                let position = self.order.iter().position(|d| d == digest).unwrap_or(0);
                let later_is_faster = (self.order.len() - position) as u64;
                tokio::time::sleep(Duration::from_millis(5 * later_is_faster)).await;
                self.running.fetch_sub(1, Ordering::SeqCst);
                match self.refused.contains(digest) {
                    true => Err(TrustError::Rejected {
                        image: digest.to_string(),
                        policy: "p".into(),
                    }),
                    false => Ok(()),
                }
            })
        }
    }

    #[tokio::test]
    async fn the_first_refusal_in_order_is_reported_though_judged_at_once() {
        let digests: Vec<Digest> = (0..12u8).map(|i| Digest::sha256_of(&[i])).collect();
        let verifier = Refusing {
            refused: vec![digests[3].clone(), digests[9].clone()],
            order: digests.clone(),
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        };
        let location = ImageLocation::parse("oci:/x").unwrap();
        let credentials = Arc::new(crate::registry::auth::StaticCredentials::none());
        let client = crate::registry::RegistryClient::new(Default::default(), credentials);
        let subject = Subject::from_location(&location, &client.unwrap());

        let err = verify_each(&verifier, &subject, &digests)
            .await
            .unwrap_err();

        assert!(err.to_string().starts_with(digests[3].as_str()), "{err}");
        assert!(verifier.peak.load(Ordering::SeqCst) > 1);
        assert!(verifier.peak.load(Ordering::SeqCst) <= read_ahead::READ_AHEAD);
        let all_good = &digests[..3];
        verify_each(&verifier, &subject, all_good).await.unwrap();
    }
}

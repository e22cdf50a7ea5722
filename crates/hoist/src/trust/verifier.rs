//! [`ImageVerifier`]: the hook pull and copy call with the digest of each image manifest
//! they will pull or copy (a reference's platform manifests, never an index), before any
//! layer is fetched (containerd's image-verifier idea: a plug-in judges `name` +
//! descriptor), and [`PolicyVerifier`], the one that enforces a `policy.json`.
//!
//! [`PolicyVerifier`] takes the requirements that apply to the subject (see
//! [`super::policy`]) and checks each, as containers/image's `IsRunningImageAllowed` does:
//! `insecureAcceptAnything` passes, `reject` refuses, `sigstoreSigned` needs one signature
//! that verifies with one of its keys, signs the digest, and claims an accepted identity;
//! requirements hoist cannot check (`signedBy`, Fulcio, Rekor, `pki`) refuse with "not
//! supported yet" naming the policy file — never accepted unchecked. The signatures are read
//! once per image, from the sigstore attachments of the subject's repository when
//! [`SigstoreAttachments`] enables them for it; otherwise there are none and the refusal says
//! how to enable them.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use p256::ecdsa::VerifyingKey;

use super::policy::{KeySource, Requirement, SigstoreSigned};
use super::sigstore::{self, attachments, Signature};
use super::{keys, KeyError, Policy, SigstoreAttachments, Subject, TrustError};
use crate::digest::Digest;

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
        let (Some(reference), Some(repository)) = (subject.reference(), subject.repository())
        else {
            return Ok(Vec::new());
        };
        if !self.attachments.enabled_for(reference) {
            return Ok(Vec::new());
        }
        let found = attachments::read(repository, digest, subject.name()).await?;
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
        let keys = load_keys(&rule.keys)?;
        let mut reasons = Vec::with_capacity(signatures.len());
        for (i, signature) in signatures.iter().enumerate() {
            match sigstore::check(
                signature,
                &keys,
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

/// The public keys of a requirement, each with the name messages use.
fn load_keys(sources: &[KeySource]) -> Result<Vec<(String, VerifyingKey)>, TrustError> {
    let mut out = Vec::with_capacity(sources.len());
    for source in sources {
        let name = source.name();
        let pem = match source {
            KeySource::Path(path) => std::fs::read(path).map_err(|source| KeyError::Read {
                path: name.clone(),
                source,
            })?,
            KeySource::Data(data) => data.clone(),
        };
        let key = keys::public_key(&pem, &name)?;
        out.push((name, key));
    }
    Ok(out)
}

//! Trust: whether an image may be pulled or copied (containers' `policy.json`, sigstore
//! signatures), and signing what push and copy write.
//!
//! DESIGN.md principle 6, "trust before bytes": when a verifier is configured, pull
//! ([`crate::pull::PullOptions::verifier`]) and copy ([`crate::copy::CopyOptions::verify`])
//! call it with the digest of each image manifest they will pull or copy, after reading the
//! manifests and before any layer is fetched or anything stored, so a refused image leaves
//! nothing behind and the error says why in one line.
//!
//! # Parts
//! | file | owns |
//! |------|------|
//! | `policy` | [`Policy`]: `policy.json` parsed strictly (errors with file, line, column), requirements per transport and scope |
//! | `identity` | [`SignedIdentity`]: the `signedIdentity` rules |
//! | `subject` | [`Subject`]: the image judged — transport, scopes, docker identity, where its signatures are |
//! | `registries_d` | [`SigstoreAttachments`]: `registries.d`'s `use-sigstore-attachments`, and hoist's config |
//! | `sigstore` | signatures as cosign stores them: the `.sig` tag ([`sigstore::attachments`]), the payload, Fulcio certificates and Rekor bundles, checking and making one |
//! | `keys` | cosign's key files: public keys, encrypted private keys, new keys |
//! | `pem` | PEM blocks as Go's `encoding/pem` reads and writes them |
//! | `verifier` | [`ImageVerifier`] (the hook; plug in your own) and [`PolicyVerifier`] (the policy's) |
//! | `sign` | [`SigstoreSigner`]: `--sign-by-sigstore-private-key` for push and copy |
//! | `error` | [`PolicyError`], [`KeyError`], [`TrustError`] |
//!
//! What is not verified yet: `pki` and GPG `signedBy` — a requirement naming them refuses the
//! image with "not supported yet", never accepts it. Fulcio certificates and Rekor bundles
//! are verified as skopeo 1.22 does ([`sigstore::fulcio`], [`sigstore::rekor`]).
//! Signatures are judged from registries only (sigstore attachments), so `sigstoreSigned`
//! refuses images read from `oci:`, `dir:`, archives and the local store — even though
//! copies, pulls and pushes carry the signatures through `oci:` layouts and the store
//! ([`sigstore::attachments`], `copy::layout_signatures`). As containers/image
//! (skopeo, podman) does, each image manifest is judged by its own digest and `.sig`, never
//! an index: an index signed alone (`cosign sign` without `--recursive`) does not admit its
//! platforms; `cosign sign --recursive` and `skopeo copy --all --sign-by-…` sign each.

mod error;
mod identity;
pub mod keys;
mod pem;
pub mod policy;
mod registries_d;
mod sign;
pub mod sigstore;
mod subject;
mod verifier;

pub use error::{KeyError, PolicyError, TrustError};
pub use identity::SignedIdentity;
pub use policy::{Policy, Requirement};
pub use registries_d::{SigstoreAttachments, SYSTEM_REGISTRIES_D};
pub use sign::{read_passphrase_file, SigstoreSigner};
pub use subject::Subject;
pub use verifier::{verify_each, ImageVerifier, PolicyVerifier, Verification};

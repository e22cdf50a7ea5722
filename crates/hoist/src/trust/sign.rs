//! [`SigstoreSigner`]: signing what push and copy wrote to a registry, as `skopeo copy
//! --sign-by-sigstore-private-key` does.
//!
//! The payload names the manifest (or index) digest written and the identity: `--sign-identity`
//! when given, else the destination reference as written (with its tag). The signature is
//! appended to the destination's `sha256-DIGEST.sig` manifest, keeping the signatures already
//! there ([`super::sigstore::attachments::append`]). The private key is cosign's encrypted
//! format ([`super::keys`]); it is opened once, and neither it nor the passphrase is ever
//! logged (`Debug` shows neither).

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use p256::ecdsa::SigningKey;

use super::sigstore::{self, attachments, Signature, SIGNATURE_ANNOTATION};
use super::{keys, KeyError, TrustError};
use crate::digest::Digest;
use crate::reference::Reference;
use crate::registry::RemoteRepository;

/// Signs images with one private key. See the module docs.
pub struct SigstoreSigner {
    key: SigningKey,
    identity: Option<Reference>,
}

impl SigstoreSigner {
    /// A signer with `key`.
    pub fn new(key: SigningKey) -> SigstoreSigner {
        SigstoreSigner {
            key,
            identity: None,
        }
    }

    /// Opens the encrypted private key file `path` with `passphrase`.
    pub fn open(path: &Path, passphrase: &[u8]) -> Result<SigstoreSigner, KeyError> {
        let name = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| KeyError::Read {
            path: name.clone(),
            source,
        })?;
        Ok(SigstoreSigner::new(keys::decrypt_private_key(
            &pem, passphrase, &name,
        )?))
    }

    /// Signs as `identity` rather than as the destination (`--sign-identity`).
    pub fn with_identity(self, identity: Reference) -> SigstoreSigner {
        SigstoreSigner {
            identity: Some(identity),
            ..self
        }
    }

    /// Signs `digest`, just written to `repo` as `destination`, and attaches the signature.
    pub async fn sign(
        &self,
        repo: &RemoteRepository,
        destination: &Reference,
        digest: &Digest,
    ) -> Result<(), TrustError> {
        let identity = self.identity.as_ref().unwrap_or(destination);
        let (payload, signature) = sigstore::sign(&self.key, digest, identity);
        let image = format!("docker://{}", destination.familiar());
        let signature = Signature {
            payload: Bytes::from(payload),
            annotations: BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), signature)]),
        };
        attachments::append(repo, digest, signature, &image).await?;
        tracing::debug!(%digest, identity = %identity, "signature attached");
        Ok(())
    }
}

impl std::fmt::Debug for SigstoreSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigstoreSigner")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// The passphrase in `path`: its first line, without the line ending (containers/image's
/// `ReadPassphraseFile`).
pub fn read_passphrase_file(path: &Path) -> Result<Vec<u8>, KeyError> {
    let bytes = std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    Ok(line.strip_suffix(b"\r").unwrap_or(line).to_vec())
}

//! Deleting an image from a registry: `hoist delete REF` (skopeo's `delete`, crane's `delete`).
//!
//! The distribution API deletes manifests by digest only (`DELETE /v2/NAME/manifests/DIGEST`;
//! registries refuse a tag there), and deleting the manifest removes every tag pointing at
//! it. So a tag is first resolved to its digest with a HEAD on the registry itself (never a
//! mirror: the digest must be the one the registry holds), as skopeo does, then the digest is
//! deleted. A registry with deletes disabled answers `405 UNSUPPORTED` (CNCF distribution's
//! default, `storage.delete.enabled: false`): that is [`DeleteError::Disabled`], which says
//! so in words, not the bare status.

use super::endpoint::Purpose;
use super::errcode::ErrorCode;
use super::error::RegistryError;
use super::RemoteRepository;
use crate::digest::Digest;

/// Why a registry delete failed.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    /// The registry does not allow deleting (405 / `UNSUPPORTED`).
    #[error(
        "the registry {host} does not allow deleting images (deletes are disabled in its \
         configuration: CNCF distribution's storage.delete.enabled)"
    )]
    Disabled {
        /// The registry.
        host: String,
        /// Its answer.
        #[source]
        source: Box<RegistryError>,
    },

    /// The registry answered the HEAD of the tag without a `Docker-Content-Digest`.
    #[error(
        "the registry {host} did not say which digest the tag {tag} names, so it cannot be deleted"
    )]
    NoDigest {
        /// The registry.
        host: String,
        /// The tag.
        tag: String,
    },

    /// Another registry failure (not found, denied, unreachable).
    #[error(transparent)]
    Registry(#[from] Box<RegistryError>),
}

impl RemoteRepository {
    /// Deletes the manifest `reference` names (a digest, or a tag resolved to one first) and
    /// returns the digest deleted. See the module docs.
    pub async fn delete_image(&self, reference: &str) -> Result<Digest, DeleteError> {
        let digest = match Digest::parse(reference) {
            Ok(digest) => digest,
            Err(_) => {
                let info = self
                    .stat_manifest_on_registry(reference)
                    .await
                    .map_err(Box::new)?;
                info.ok_or_else(|| DeleteError::NoDigest {
                    host: self.domain.clone(),
                    tag: reference.to_owned(),
                })?
            }
        };
        match self.delete_manifest(&digest).await {
            Ok(()) => Ok(digest),
            Err(e) if is_unsupported(&e) => Err(DeleteError::Disabled {
                host: self.domain.clone(),
                source: Box::new(e),
            }),
            Err(e) => Err(Box::new(e).into()),
        }
    }

    /// The digest the registry itself (not a mirror) holds under `tag`, `None` when it does
    /// not say.
    async fn stat_manifest_on_registry(&self, tag: &str) -> Result<Option<Digest>, RegistryError> {
        self.client
            .with_endpoints(&self.domain, Purpose::Push, |ep| async move {
                self.head_manifest_at(ep, tag).await.map(|info| info.digest)
            })
            .await
    }
}

fn is_unsupported(e: &RegistryError) -> bool {
    e.code() == Some(&ErrorCode::Unsupported) || e.status() == Some(405)
}

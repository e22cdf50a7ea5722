//! Resolving a reference to a manifest digest and reading manifests by digest.
//!
//! docker 20.10's `pullV2Tag` GETs the tag; containerd's resolver HEADs it first and GETs
//! only when HEAD says nothing useful. hoist does both, by what the store knows:
//! - a tag the store holds is HEADed first, so pulling an unchanged image costs no manifest
//!   GET (what Docker Hub counts against its pull limit), and GET follows when HEAD fails
//!   (the GET's error body says NAME_UNKNOWN where a bodiless HEAD 404 cannot) or has no
//!   `Docker-Content-Digest`, or says the manifest is schema 1 (never stored, so its body is
//!   needed from the registry anyway: one GET by tag instead of HEAD + GET by digest);
//! - a tag it does not hold cannot be up to date, and its manifest is needed whatever HEAD
//!   says: it is GET at once (as crane and skopeo do), one round trip less than HEAD + GET by
//!   digest — what every pull into a fresh store (a CI job) pays on a link with latency.
//!
//! Manifests are then read by digest, from the store when present (a stored blob is verified
//! by construction) or from the registry (verified by the client), and stored; a verifier's
//! reads, made before anything of the image is stored, take the store's copy too when there
//! is one. Schema 1 manifests are not stored: pull converts them (`image::pull_schema1`), and
//! their digest is not the digest of their bytes.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;

use super::{PullError, Puller};
use crate::digest::Digest;
use crate::error::translate_pull_error;
use crate::media::{Manifest, ManifestKind, MAX_MANIFEST_SIZE};
use crate::reference::Reference;
use crate::registry::{FetchedManifest, RegistryError, RemoteRepository};

/// A manifest read by digest.
pub(super) struct ReadManifest {
    /// Parsed and validated.
    pub(super) manifest: Manifest,
    /// The bytes as served (their length is the manifest's size).
    pub(super) bytes: Bytes,
}

impl Puller {
    /// Runs a registry read under the download [`RetryPolicy`](crate::transfer::RetryPolicy)
    /// (5xx, 429 with its `Retry-After`, resets and timeouts are retried).
    pub(super) async fn with_retries<T, F, Fut>(&self, op: F) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        let policy = self.options.download.retry_policy();
        policy.run("registry read", op).await
    }

    /// The digest `target` names: its own, or the tag's as the registry resolves it. A GET
    /// made for the purpose is returned so the manifest is not fetched twice.
    pub(super) async fn resolve(
        &self,
        repo: &RemoteRepository,
        target: &Reference,
    ) -> Result<(Digest, Option<ReadManifest>), PullError> {
        if let Some(digest) = target.digest() {
            return Ok((digest.clone(), None));
        }
        let tag = target.tag().map(|t| t.as_str()).unwrap_or("latest");
        if self.holds_reference(target).await {
            match self.with_retries(|| repo.head_manifest(tag)).await {
                Ok(info) => {
                    // Schema 1 is not stored, so its body must come from the registry: GET it
                    // by tag now rather than by digest after (the client verifies either way:
                    // a signed schema 1's digest is over its payload, see
                    // `registry::manifests`).
                    let schema1 = ManifestKind::from_media_type(&info.media_type)
                        == Some(ManifestKind::DockerSchema1);
                    if let (Some(digest), false) = (info.digest, schema1) {
                        return Ok((digest, None));
                    }
                }
                // Credentials problems will not change with a GET.
                Err(e) if e.is_auth() => {
                    return Err(PullError::registry(translate_pull_error(e, target)));
                }
                Err(e) => tracing::debug!(error = %e, "HEAD of the tag failed; trying GET"),
            }
        }
        let fetched = self
            .with_retries(|| repo.get_manifest(tag))
            .await
            .map_err(|e| PullError::registry(translate_pull_error(e, target)))?;
        let read = self.parse(fetched, target)?;
        let digest = read.manifest.digest(&read.bytes);
        Ok((digest, Some(read)))
    }

    /// Whether the store has `target` (a tag) recorded: only then can the registry's answer be
    /// what the store already holds (see the module docs). A store that cannot say is taken
    /// to hold it (HEAD first, the cautious way).
    async fn holds_reference(&self, target: &Reference) -> bool {
        let metadata = Arc::clone(&self.metadata);
        let target = target.clone();
        let read = match self.blocking(move || metadata.reference(&target)).await {
            Ok(read) => read.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        read.map(|found| found.is_some()).unwrap_or_else(|error| {
            tracing::debug!(%error, "cannot read the tag's record; HEAD first");
            true
        })
    }

    /// The manifest `digest` of `repo`: `prefetched` if the tag's GET already has it, else
    /// from the store, else from the registry; stored unless it is schema 1.
    pub(super) async fn read_manifest(
        &self,
        repo: &RemoteRepository,
        digest: &Digest,
        prefetched: Option<ReadManifest>,
        target: &Reference,
    ) -> Result<ReadManifest, PullError> {
        if let Some(read) = prefetched {
            self.store_manifest(digest, &read).await?;
            return Ok(read);
        }
        if let Some(read) = self.stored_manifest(digest, target).await? {
            return Ok(read);
        }
        let read = self.fetch_manifest(repo, digest, target).await?;
        self.store_manifest(digest, &read).await?;
        Ok(read)
    }

    /// The manifest `digest` of `repo` from the store when it is there, else from the
    /// registry, and not stored: what a verifier reads before anything of the image is stored
    /// (an unchanged image, HEADed, is judged without a GET).
    pub(super) async fn peek_manifest(
        &self,
        repo: &RemoteRepository,
        digest: &Digest,
        target: &Reference,
    ) -> Result<ReadManifest, PullError> {
        match self.stored_manifest(digest, target).await? {
            Some(read) => Ok(read),
            None => self.fetch_manifest(repo, digest, target).await,
        }
    }

    /// The manifest `digest` if the store has it (verified when it was stored).
    async fn stored_manifest(
        &self,
        digest: &Digest,
        target: &Reference,
    ) -> Result<Option<ReadManifest>, PullError> {
        let content = self.content.clone();
        let wanted = digest.clone();
        let local = self
            .blocking(move || {
                if content.has(&wanted)? {
                    content
                        .read_to_vec_capped(&wanted, MAX_MANIFEST_SIZE as u64)
                        .map(Some)
                } else {
                    Ok(None)
                }
            })
            .await??;
        let Some(bytes) = local else {
            return Ok(None);
        };
        // The store does not keep media types; the body's own mediaType decides.
        let fetched = FetchedManifest {
            bytes: Bytes::from(bytes),
            media_type: String::new(),
            digest: digest.clone(),
        };
        self.parse(fetched, target).map(Some)
    }

    /// The manifest `digest` of `repo` from the registry (verified by the client), not
    /// stored.
    async fn fetch_manifest(
        &self,
        repo: &RemoteRepository,
        digest: &Digest,
        target: &Reference,
    ) -> Result<ReadManifest, PullError> {
        let reference = digest.to_string();
        let fetched = self
            .with_retries(|| repo.get_manifest(&reference))
            .await
            .map_err(|e| PullError::registry(translate_pull_error(e, target)))?;
        self.parse(fetched, target)
    }

    fn parse(
        &self,
        fetched: FetchedManifest,
        target: &Reference,
    ) -> Result<ReadManifest, PullError> {
        let manifest = Manifest::parse_with(
            &fetched.media_type,
            &fetched.bytes,
            &self.options.manifest_options(),
        )
        .map_err(|source| PullError::Manifest {
            reference: target.to_string(),
            source: Box::new(source),
        })?;
        Ok(ReadManifest {
            manifest,
            bytes: fetched.bytes,
        })
    }

    async fn store_manifest(&self, digest: &Digest, read: &ReadManifest) -> Result<(), PullError> {
        if matches!(read.manifest, Manifest::Schema1(_)) {
            return Ok(());
        }
        let content = self.content.clone();
        let digest = digest.clone();
        let bytes = read.bytes.clone();
        self.blocking(move || content.write_blob(&digest, &bytes))
            .await??;
        Ok(())
    }
}

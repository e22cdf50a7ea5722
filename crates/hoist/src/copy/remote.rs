//! A registry repository as an [`ImageSource`] and an [`ImageSink`]: [`RegistryImage`].
//!
//! go-containerregistry's `remote.Image` / `remote.Write` over hoist's [`RemoteRepository`]:
//! - **resolve**: `HEAD` the tag (or digest) for `Docker-Content-Digest`, `Content-Type` and
//!   `Content-Length`; a `GET` when the `HEAD` says too little. A one-shot copy
//!   ([`RegistryImage::reading_at_once`]) `GET`s a tag at once instead, as skopeo and crane
//!   do, and the walk then reads those bytes: one round trip less (`sync` keeps the `HEAD`:
//!   an unchanged image costs it no `GET`). Manifest reads are retried while retryable (5xx,
//!   429 after its `Retry-After`, connection errors), 5 times in all;
//! - **manifests** read by `GET` (verified) are kept, up to [`KEPT_MANIFEST_BYTES`], and read
//!   again from there: a copy judged by a policy walks the graph twice (the judgement before
//!   the sink opens, then the copy), and fetched every child manifest twice. An index's
//!   entries are read ahead ([`read_ahead::READ_AHEAD`] at a time) when a walk that follows
//!   them all reaches it ([`ImageSource::prefetch_manifests`]): a walk visits manifests one by
//!   one, which on a registry far away was one round trip per platform;
//! - **blobs** are streamed (`GET`, `Range: bytes=N-` from an offset); a registry that ignores
//!   the range has the prefix skipped here, so the stream always starts at the offset (a
//!   failed blob read is retried by the copy's scheduler, which honours `Retry-After`). Parts
//!   of a big blob (`Range: bytes=START-END`) are served only when the answer is a 206 whose
//!   `Content-Range` names exactly those bytes; otherwise the part is declined (`None`) and
//!   the store falls back to one stream;
//! - **sink**: `HEAD` for "has blob" (on the registry itself, never a mirror), a cross-repository
//!   mount when the source is another repository of the same registry (docker's "Mounted from
//!   R"; a declined mount's session is cancelled and the blob uploaded), uploads by
//!   `RemoteBlobWriter` (`remote_upload`: blobs as the source holds them and layers
//!   compressed on the way alike), manifests `PUT` by digest, the root under the tag;
//! - **referrers** (OCI 1.1) listed and kept by the client (`registry::referrers`): the
//!   referrers API, or the fallback tag `sha256-HEX` on registries without it;
//! - **signatures** (`sha256-HEX.sig`) read as a source through one [`RememberedSignatures`]
//!   shared by clones: a policy's judgement given the same home
//!   ([`crate::trust::Subject::with_signatures`], as `hoist copy` does) and the copy that
//!   carries them read each once, and what is carried is what was judged. As a sink, the
//!   repository itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

use super::remote_upload::RemoteBlobWriter;
use super::sink::{BlobInput, BlobStore, DynBlobWriter, ImageSink, StoredManifest};
use super::source::{BlobStream, CopyFuture, ImageSource};
use super::CopyError;
use crate::digest::Digest;
use crate::media::{Descriptor, MAX_MANIFEST_SIZE};
use crate::reference::{Reference, Repository};
use crate::registry::body::Document;
use crate::registry::read_ahead;
use crate::registry::{MountResult, Purpose, RegistryClient, RegistryError, RemoteRepository};
use crate::transfer::{Backoff, RetryPolicy, SendPolicy};
use crate::trust::sigstore::{RememberedSignatures, SignatureHome};

/// Manifest reads and writes (`HEAD`, `GET`, `PUT`, referrers lists): 5 attempts (docker's
/// count), a short backoff, and a registry's `Retry-After` honoured up to a minute, so that
/// a registry rate-limiting a mirror's many `HEAD`s (429) slows a sync down rather than
/// failing its images.
const MANIFEST_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    backoff: Backoff::Linear {
        step: Duration::from_millis(200),
    },
    max_retry_after: Duration::from_secs(60),
};

/// One image reference on a registry, readable and writable. Cheap to clone.
#[derive(Clone)]
pub struct RegistryImage {
    repo: RemoteRepository,
    reference: Reference,
    policy: SendPolicy,
    /// Resolve a tag with `GET` rather than `HEAD` ([`RegistryImage::reading_at_once`]).
    get_at_once: bool,
    /// Manifests read (verified), by digest; shared by clones.
    kept: Arc<Mutex<KeptManifests>>,
    /// The `.sig` tags and payloads read as a source; shared by clones.
    signatures: RememberedSignatures,
}

/// The most manifest bytes one [`RegistryImage`] keeps (see the module docs); a manifest
/// past it is read again when asked again.
pub const KEPT_MANIFEST_BYTES: usize = 8 << 20;

/// At most how many of one index's entries are read ahead.
const PREFETCH_ENTRIES: usize = 64;

/// Manifests already read, by digest.
#[derive(Default)]
struct KeptManifests {
    by_digest: HashMap<Digest, Bytes>,
    bytes: usize,
}

impl KeptManifests {
    fn keep(&mut self, digest: Digest, bytes: Bytes) {
        if self.bytes + bytes.len() <= KEPT_MANIFEST_BYTES && !self.by_digest.contains_key(&digest)
        {
            self.bytes += bytes.len();
            self.by_digest.insert(digest, bytes);
        }
    }
}

impl std::fmt::Debug for RegistryImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryImage")
            .field("reference", &self.reference.to_string())
            .finish()
    }
}

impl RegistryImage {
    /// `reference` (a name means `:latest`) through `client`.
    pub fn new(client: &RegistryClient, reference: &Reference) -> RegistryImage {
        let reference = reference.clone().with_default_tag();
        let repository = reference.repository();
        let repo = client.repository(repository.domain(), repository.path());
        RegistryImage {
            signatures: RememberedSignatures::new(Arc::new(repo.clone())),
            repo,
            reference,
            policy: SendPolicy::default(),
            get_at_once: false,
            kept: Arc::default(),
        }
    }

    /// Resolves a tag with one `GET` and keeps its bytes for the walk (see the module docs):
    /// for a copy made once; not for `sync`, whose `HEAD` spares an unchanged image a `GET`.
    pub fn reading_at_once(mut self) -> RegistryImage {
        self.get_at_once = true;
        self
    }

    /// With the monolithic / streamed / chunked thresholds of `policy` for uploads.
    pub fn with_send_policy(mut self, policy: SendPolicy) -> RegistryImage {
        self.policy = policy;
        self
    }

    /// The reference.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// `docker://REF`, for messages.
    pub fn describe(&self) -> String {
        format!("docker://{}", self.reference)
    }

    /// The tag or digest string the reference names on the registry.
    fn reference_string(&self) -> String {
        match (self.reference.digest(), self.reference.tag()) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.as_str().to_owned(),
            (None, None) => "latest".to_owned(),
        }
    }

    async fn resolve_inner(&self) -> Result<Descriptor, CopyError> {
        let location = self.describe();
        let wanted = self.reference_string();
        let not_found = |e: RegistryError| CopyError::NotFound {
            location: location.clone(),
            reference: wanted.clone(),
            source: Some(Box::new(e)),
        };
        let by_tag_at_once = self.get_at_once && self.reference.digest().is_none();
        let head = match by_tag_at_once {
            true => None,
            false => Some(with_retries(|| self.repo.head_manifest(&wanted)).await),
        };
        match head {
            None => {}
            Some(Ok(info)) => {
                if let (Some(digest), Some(size)) = (info.digest, info.size) {
                    let expected = self.reference.digest();
                    if expected.is_none_or(|d| *d == digest) && !info.media_type.is_empty() {
                        return Ok(Descriptor::new(&info.media_type, digest, size));
                    }
                }
            }
            Some(Err(e)) if e.is_not_found() => return Err(not_found(e)),
            Some(Err(e)) if e.is_auth() => {
                return Err(CopyError::registry(
                    &location,
                    format!("resolve {wanted}"),
                    e,
                ))
            }
            Some(Err(e)) => tracing::debug!(error = %e, "HEAD of the manifest failed; trying GET"),
        }
        let fetched = with_retries(|| self.repo.get_manifest(&wanted))
            .await
            .map_err(|e| {
                if e.is_not_found() {
                    not_found(e)
                } else {
                    CopyError::registry(&location, format!("resolve {wanted}"), e)
                }
            })?;
        let descriptor = Descriptor::new(
            &fetched.media_type,
            fetched.digest.clone(),
            fetched.bytes.len() as u64,
        );
        self.keep(fetched.digest, fetched.bytes);
        Ok(descriptor)
    }

    fn keep(&self, digest: Digest, bytes: Bytes) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.keep(digest, bytes);
    }

    /// The bytes of `digest` if they were read already.
    fn kept(&self, digest: &Digest) -> Option<Bytes> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.by_digest.get(digest).cloned()
    }
}

impl ImageSource for RegistryImage {
    fn location(&self) -> String {
        self.describe()
    }

    fn resolve(&self) -> CopyFuture<'_, Descriptor> {
        Box::pin(self.resolve_inner())
    }

    fn manifest<'a>(&'a self, descriptor: &'a Descriptor) -> CopyFuture<'a, Bytes> {
        Box::pin(async move {
            if descriptor.size > MAX_MANIFEST_SIZE as u64 {
                return Err(CopyError::registry(
                    &self.describe(),
                    format!("read manifest {}", descriptor.digest),
                    RegistryError::BodyTooLarge {
                        url: descriptor.digest.to_string(),
                        document: Document::Manifest,
                        limit: MAX_MANIFEST_SIZE,
                    },
                ));
            }
            if let Some(bytes) = self.kept(&descriptor.digest) {
                return Ok(bytes);
            }
            let reference = descriptor.digest.to_string();
            // The client verifies the bytes against the digest they were asked by.
            let fetched = with_retries(|| self.repo.get_manifest(&reference))
                .await
                .map_err(|e| {
                    CopyError::registry(&self.describe(), format!("read manifest {reference}"), e)
                })?;
            self.keep(fetched.digest, fetched.bytes.clone());
            Ok(fetched.bytes)
        })
    }

    fn prefetch_manifests<'a>(&'a self, manifests: &'a [Descriptor]) -> CopyFuture<'a, ()> {
        Box::pin(async move {
            let unread = manifests
                .iter()
                .take(PREFETCH_ENTRIES)
                .filter(|d| self.kept(&d.digest).is_none());
            futures_util::stream::iter(unread)
                .for_each_concurrent(read_ahead::READ_AHEAD, |d| async move {
                    if let Err(e) = self.manifest(d).await {
                        tracing::debug!(manifest = %d.digest, error = %e, "reading ahead failed; the walk reads it again");
                    }
                })
                .await;
            Ok(())
        })
    }

    fn open_blob<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        offset: u64,
    ) -> CopyFuture<'a, BlobStream> {
        Box::pin(async move {
            let location = self.describe();
            let action = format!("read blob {}", descriptor.digest);
            let stream = self
                .repo
                .get_blob(&descriptor.digest, offset)
                .await
                .map_err(|e| CopyError::registry(&location, action.clone(), e))?;
            // A registry that ignored the range sent the whole blob: skip to the offset.
            let skip = if offset > 0 && !stream.is_partial() {
                offset
            } else {
                0
            };
            let body = stream
                .map_err(move |e| CopyError::registry(&location, action.clone(), e))
                .scan(skip, |left, item| {
                    let out = match item {
                        Ok(mut chunk) if *left > 0 => {
                            let cut = (*left).min(chunk.len() as u64);
                            *left -= cut;
                            // `cut` ≤ chunk.len(), so it fits a usize.
                            Ok(chunk.split_off(cut as usize))
                        }
                        other => other,
                    };
                    futures_util::future::ready(Some(out))
                })
                .try_filter(|chunk| futures_util::future::ready(!chunk.is_empty()));
            Ok(Box::pin(body) as BlobStream)
        })
    }

    fn open_blob_part<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        part: std::ops::Range<u64>,
    ) -> CopyFuture<'a, Option<BlobStream>> {
        Box::pin(async move {
            let location = self.describe();
            let action = format!("read blob {}", descriptor.digest);
            let stream = self
                .repo
                .get_blob_part(&descriptor.digest, part.clone())
                .await
                .map_err(|e| CopyError::registry(&location, action.clone(), e))?;
            if stream.content_range() != Some(part.clone()) {
                // Dropping the stream closes that connection without reading the body.
                tracing::info!(
                    blob = %descriptor.digest,
                    asked = ?part,
                    answered = ?stream.content_range(),
                    partial = stream.is_partial(),
                    "the registry did not serve the range; fetching the blob as one stream"
                );
                return Ok(None);
            }
            let body = stream.map_err(move |e| CopyError::registry(&location, action.clone(), e));
            Ok(Some(Box::pin(body) as BlobStream))
        })
    }

    fn repository(&self) -> Option<Repository> {
        Some(self.reference.repository().clone())
    }

    fn referrers<'a>(
        &'a self,
        subject: &'a Descriptor,
        artifact_type: Option<&'a str>,
    ) -> CopyFuture<'a, Vec<Descriptor>> {
        Box::pin(async move {
            let (listed, _) = with_retries(|| self.repo.referrers(&subject.digest, artifact_type))
                .await
                .map_err(|e| {
                    CopyError::registry(
                        &self.describe(),
                        format!("list the referrers of {}", subject.digest),
                        e,
                    )
                })?;
            Ok(listed)
        })
    }

    fn signatures(&self) -> Option<Box<dyn SignatureHome>> {
        Some(Box::new(self.signatures.clone()))
    }
}

impl ImageSink for RegistryImage {
    fn location(&self) -> String {
        self.describe()
    }

    fn tag(&self) -> Option<String> {
        match self.reference.digest() {
            Some(_) => None,
            None => Some(self.reference_string()),
        }
    }

    fn blobs(&self) -> &dyn BlobStore {
        self
    }

    fn prepare(&self) -> CopyFuture<'_, ()> {
        Box::pin(async move {
            self.repo
                .ping()
                .await
                .map(drop)
                .map_err(|e| CopyError::registry(&self.describe(), "ping", e))
        })
    }

    fn try_mount<'a>(&'a self, d: &'a Descriptor, from: &'a Repository) -> CopyFuture<'a, bool> {
        Box::pin(self.mount_from(d, from))
    }

    fn put_manifest<'a>(&'a self, manifest: &'a StoredManifest) -> CopyFuture<'a, ()> {
        Box::pin(self.put_manifest_inner(manifest))
    }

    /// A referrer is `PUT` by digest like any child: the registry client keeps the subject's
    /// fallback tag when the registry has no referrers API (`registry::referrers`).
    fn signatures(&self) -> Option<Box<dyn SignatureHome>> {
        Some(Box::new(self.repo.clone()))
    }

    fn holds_referrers(&self) -> bool {
        true
    }

    fn puts_referrers_at_once(&self) -> bool {
        true
    }
}

impl BlobStore for RegistryImage {
    fn has_blob<'a>(&'a self, descriptor: &'a Descriptor) -> CopyFuture<'a, bool> {
        Box::pin(async move {
            let found = self
                .repo
                .stat_blob(&descriptor.digest, Purpose::Push)
                .await
                .map_err(|e| {
                    CopyError::registry(
                        &self.describe(),
                        format!("check blob {}", descriptor.digest),
                        e,
                    )
                })?;
            Ok(found.is_some())
        })
    }

    fn blob_writer(&self, _: &dyn BlobInput) -> Box<dyn DynBlobWriter> {
        Box::new(RemoteBlobWriter::new(
            self.repo.clone(),
            self.describe(),
            self.policy,
        ))
    }
}

impl RegistryImage {
    /// docker's cross-repository mount: `POST ?mount=D&from=R` on the same registry.
    async fn mount_from(
        &self,
        descriptor: &Descriptor,
        from: &Repository,
    ) -> Result<bool, CopyError> {
        if from.domain() != self.repo.domain() || from.path() == self.repo.path() {
            return Ok(false);
        }
        match self.repo.mount_blob(&descriptor.digest, from.path()).await {
            Ok(MountResult::Mounted) => Ok(true),
            Ok(MountResult::Upload(session)) => {
                // Best effort: the registry purges abandoned sessions anyway.
                let _ = session.cancel().await;
                Ok(false)
            }
            Err(e) if e.is_retryable() => Err(CopyError::registry(
                &self.describe(),
                format!("mount blob {} from {}", descriptor.digest, from.path()),
                e,
            )),
            // docker: a failed mount is forgotten and the blob uploaded.
            Err(e) => {
                tracing::debug!(error = %e, from = %from.path(), "mount refused; uploading");
                Ok(false)
            }
        }
    }

    /// `PUT` of a manifest by digest, or under the tag for the root; the digest the registry
    /// answers must be the one sent.
    async fn put_manifest_inner(&self, manifest: &StoredManifest) -> Result<(), CopyError> {
        let (descriptor, bytes) = (&manifest.descriptor, &manifest.bytes);
        let reference = match (manifest.root, ImageSink::tag(self)) {
            (true, Some(tag)) => tag,
            _ => descriptor.digest.to_string(),
        };
        let action = format!("put manifest {reference}");
        let sent = with_retries(|| {
            self.repo
                .put_manifest(&reference, &descriptor.media_type, bytes.clone())
        })
        .await
        .map_err(|e| CopyError::registry(&self.describe(), action, e))?;
        if sent != descriptor.digest {
            return Err(CopyError::DigestMismatch {
                location: self.describe(),
                expected: descriptor.digest.clone(),
                actual: sent,
            });
        }
        Ok(())
    }
}

/// Runs a registry call under [`MANIFEST_RETRY`].
async fn with_retries<T, F, Fut>(op: F) -> Result<T, RegistryError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, RegistryError>>,
{
    MANIFEST_RETRY.run("registry request", op).await
}

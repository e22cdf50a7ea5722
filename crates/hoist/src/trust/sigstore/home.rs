//! [`SignatureHome`]: where an image's `.sig` manifests live, as [`super::attachments`] reads
//! and writes them — a registry repository ([`RemoteRepository`], by tag) or an OCI layout
//! (an `oci:` directory or the local store, by `index.json` entry: `copy::layout_signatures`).
//!
//! Four operations, all a `.sig` needs: its manifest by tag (`None` when there is none), a
//! blob read whole (at most its declared size; the caller checks the digest), a blob written,
//! the manifest written under its tag. Bounds and merging are [`super::attachments`]'s, the
//! same for every home.

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;

use crate::digest::Digest;
use crate::media::types::OCI_MANIFEST;
use crate::media::Descriptor;
use crate::registry::{RegistryError, RemoteRepository};
use crate::trust::TrustError;

/// What a [`SignatureHome`]'s methods return.
pub type HomeFuture<'a, T> = BoxFuture<'a, Result<T, TrustError>>;

/// Where `.sig` manifests are read and written. See the module docs. `image` names the image
/// in errors.
pub trait SignatureHome: Send + Sync {
    /// The manifest under `tag` (`sha256-HEX.sig`), `None` when there is none.
    fn sig_manifest<'a>(&'a self, tag: &'a str, image: &'a str) -> HomeFuture<'a, Option<Bytes>>;

    /// The blob `blob` names, at most `blob.size` bytes, unverified.
    fn sig_blob<'a>(&'a self, blob: &'a Descriptor, image: &'a str) -> HomeFuture<'a, Bytes>;

    /// Stores what `put` says: a blob (already hashed by the caller) or the OCI image
    /// manifest of a tag, replacing what was there.
    fn put_sig<'a>(&'a self, put: SigPut<'a>) -> HomeFuture<'a, ()>;
}

/// One write to a [`SignatureHome`].
pub struct SigPut<'a> {
    /// What is written.
    pub item: SigItem<'a>,
    /// Its bytes.
    pub bytes: Bytes,
    /// The image, for errors.
    pub image: &'a str,
}

/// What a [`SigPut`] writes.
pub enum SigItem<'a> {
    /// A payload or config blob, by its digest.
    Blob(&'a Digest),
    /// The `.sig` manifest, under its tag.
    Manifest(&'a str),
}

impl SignatureHome for RemoteRepository {
    fn sig_manifest<'a>(&'a self, tag: &'a str, image: &'a str) -> HomeFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            match self.get_manifest(tag).await {
                Ok(fetched) => Ok(Some(fetched.bytes)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(registry(image, format!("reading signatures {tag}"), e)),
            }
        })
    }

    fn sig_blob<'a>(&'a self, blob: &'a Descriptor, image: &'a str) -> HomeFuture<'a, Bytes> {
        Box::pin(async move {
            let what = || format!("reading signature blob {}", blob.digest);
            let mut stream = self
                .get_blob(&blob.digest, 0)
                .await
                .map_err(|e| registry(image, what(), e))?;
            let limit = usize::try_from(blob.size).unwrap_or(usize::MAX);
            let mut bytes = Vec::with_capacity(limit.min(super::MAX_PAYLOAD as usize));
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| registry(image, what(), e))?;
                if bytes.len() + chunk.len() > limit {
                    break;
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(Bytes::from(bytes))
        })
    }

    fn put_sig<'a>(&'a self, put: SigPut<'a>) -> HomeFuture<'a, ()> {
        Box::pin(async move {
            let SigPut { item, bytes, image } = put;
            match item {
                SigItem::Blob(digest) => self
                    .upload_blob(digest, bytes)
                    .await
                    .map_err(|e| registry(image, format!("uploading signature blob {digest}"), e)),
                SigItem::Manifest(tag) => self
                    .put_manifest(tag, OCI_MANIFEST, bytes)
                    .await
                    .map(drop)
                    .map_err(|e| registry(image, format!("writing signatures {tag}"), e)),
            }
        })
    }
}

/// A registry's error while reading or writing `image`'s signatures.
pub(crate) fn registry(image: &str, action: String, e: RegistryError) -> TrustError {
    TrustError::Registry {
        image: image.to_owned(),
        action,
        source: Box::new(e),
    }
}

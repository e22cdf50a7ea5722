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

    /// The blob `descriptor` names, at most `descriptor.size` bytes, unverified.
    fn sig_blob<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        image: &'a str,
        tag: &'a str,
    ) -> HomeFuture<'a, Bytes>;

    /// Stores the blob `bytes` (already hashed to `digest` by the caller).
    fn put_sig_blob<'a>(
        &'a self,
        digest: &'a Digest,
        bytes: Bytes,
        image: &'a str,
    ) -> HomeFuture<'a, ()>;

    /// Stores the OCI image manifest `bytes` under `tag`, replacing what was there.
    fn put_sig_manifest<'a>(
        &'a self,
        tag: &'a str,
        bytes: Bytes,
        image: &'a str,
    ) -> HomeFuture<'a, ()>;
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

    fn sig_blob<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        image: &'a str,
        tag: &'a str,
    ) -> HomeFuture<'a, Bytes> {
        Box::pin(async move {
            let what = || format!("reading signature blob {} of {tag}", descriptor.digest);
            let mut stream = self
                .get_blob(&descriptor.digest, 0)
                .await
                .map_err(|e| registry(image, what(), e))?;
            let limit = usize::try_from(descriptor.size).unwrap_or(usize::MAX);
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

    fn put_sig_blob<'a>(
        &'a self,
        digest: &'a Digest,
        bytes: Bytes,
        image: &'a str,
    ) -> HomeFuture<'a, ()> {
        Box::pin(async move {
            self.upload_blob(digest, bytes)
                .await
                .map_err(|e| registry(image, format!("uploading signature blob {digest}"), e))
        })
    }

    fn put_sig_manifest<'a>(
        &'a self,
        tag: &'a str,
        bytes: Bytes,
        image: &'a str,
    ) -> HomeFuture<'a, ()> {
        Box::pin(async move {
            self.put_manifest(tag, OCI_MANIFEST, bytes)
                .await
                .map(drop)
                .map_err(|e| registry(image, format!("writing signatures {tag}"), e))
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

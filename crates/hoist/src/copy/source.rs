//! [`ImageSource`]: what `copy` reads an image from — a registry repository, an OCI layout
//! directory, the local store.
//!
//! The shape is go-containerregistry's `v1.Image`/`v1.ImageIndex` cut down to what a copy
//! needs, addressed by descriptor rather than by object: resolve the reference the source was
//! opened with to a root [`Descriptor`], read a manifest's bytes, open a blob's bytes from an
//! offset. Everything else (which children to visit, what to verify) is the walker's.
//!
//! Methods return boxed futures so the trait is object-safe: the CLI picks a source at run
//! time (`docker://…` or `oci:…`) and hands `&dyn ImageSource` to [`super::copy`].
//!
//! Contract: [`ImageSource::manifest`] returns bytes that hash to the descriptor's digest
//! (implementations verify); [`ImageSource::open_blob`] streams raw bytes that the *sink*
//! verifies, because only the sink sees them all (a resumed read sees a suffix).

use std::path::PathBuf;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::CopyError;
use crate::compress::Compression;
use crate::digest::Digest;
use crate::media::Descriptor;
use crate::reference::Repository;
use crate::trust::sigstore::SignatureHome;

/// A blob's bytes from some offset, in order; an `Err` item ends the stream (the sink may
/// reopen it at the offset it reached).
pub type BlobStream = BoxStream<'static, Result<Bytes, CopyError>>;

/// The receiving end of a thread producing a blob's bytes, as a [`BlobStream`]: a channel that
/// closes before the thread set `done` (it panicked) ends the stream with `stopped`'s error,
/// never cleanly on bytes that may not be the whole blob.
pub(crate) fn ended_checked(
    received: mpsc::Receiver<Result<Bytes, CopyError>>,
    done: Arc<AtomicBool>,
    stopped: impl Fn() -> CopyError + Send + Sync + 'static,
) -> BlobStream {
    let stopped = Arc::new(stopped);
    futures_util::stream::unfold(Some(received), move |received| {
        let (done, stopped) = (Arc::clone(&done), Arc::clone(&stopped));
        async move {
            let mut received = received?;
            match received.recv().await {
                Some(item) => Some((item, Some(received))),
                None if done.load(Ordering::Acquire) => None,
                None => Some((Err(stopped()), None)),
            }
        }
    })
    .boxed()
}

/// What the copy traits' methods return: a boxed future of a [`CopyError`] result, so the
/// traits stay object-safe (`&dyn ImageSource`, `&dyn ImageSink`).
pub type CopyFuture<'a, T> = BoxFuture<'a, Result<T, CopyError>>;

/// Where a copy reads from. See the module docs.
pub trait ImageSource: Send + Sync {
    /// The source as the user wrote it (`docker://host/app:v1`, `oci:/dir:v1`), for messages.
    fn location(&self) -> String;

    /// The descriptor of the image the source was opened with (a tag, a digest, a layout
    /// entry): an image manifest or an index. A reference the source does not hold is
    /// [`CopyError::NotFound`].
    fn resolve(&self) -> CopyFuture<'_, Descriptor>;

    /// The exact bytes of the manifest `descriptor` names, verified against its digest.
    fn manifest<'a>(&'a self, descriptor: &'a Descriptor) -> CopyFuture<'a, Bytes>;

    /// Reads ahead, at once, the manifests an index names that a walk is about to visit one
    /// by one, so that its [`manifest`](Self::manifest) calls find them read — for a source
    /// where every read is a round trip. Failures are left for those calls to meet. By
    /// default nothing: a local source reads as fast on demand.
    fn prefetch_manifests<'a>(&'a self, manifests: &'a [Descriptor]) -> CopyFuture<'a, ()> {
        let _ = manifests;
        Box::pin(async { Ok(()) })
    }

    /// The bytes of the blob `descriptor` names, from byte `offset` on.
    fn open_blob<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        offset: u64,
    ) -> CopyFuture<'a, BlobStream>;

    /// The file that holds the blob `descriptor`, when the source keeps its blobs as local
    /// files (`oci:`, `dir:`, the store, an archive's staged members): a blocking step (the
    /// compression step) reads it directly instead of through [`open_blob`](Self::open_blob)'s
    /// stream. Opened as `open_blob` opens it — a regular file only, never through a symlink —
    /// and unverified alike. `None` (the default) for sources that stream (registries).
    fn blob_file(&self, _descriptor: &Descriptor) -> Result<Option<PathBuf>, CopyError> {
        Ok(None)
    }

    /// The bytes `part` (end exclusive) of the blob `descriptor`, for the parallel fetch of a
    /// big blob (`store_parts`); `Ok(None)` when the source does not serve parts — the
    /// default, and a registry that ignored the `Range` or answered other bytes — so the
    /// caller falls back to one stream ([`ImageSource::open_blob`]).
    fn open_blob_part<'a>(
        &'a self,
        _descriptor: &'a Descriptor,
        _part: std::ops::Range<u64>,
    ) -> CopyFuture<'a, Option<BlobStream>> {
        Box::pin(async { Ok(None) })
    }

    /// The registry repository the blobs live in, when the source is one: a sink on the same
    /// registry can mount them from there instead of receiving their bytes.
    fn repository(&self) -> Option<Repository> {
        None
    }

    /// The digest whose short id names the progress lines of the blob `descriptor`
    /// (`Preparing`, `Pushing`, `Pushed` …). The default is the blob's own digest, as a copy
    /// between registries names them; push names a layer by its diffID, as docker does.
    fn progress_id(&self, descriptor: &Descriptor) -> Digest {
        descriptor.digest.clone()
    }

    /// Whether the blobs were verified when they were stored, in a place only hoist writes
    /// (push's local store): a step that re-reads a layer (the compression step) then counts
    /// its bytes instead of hashing them again, as docker's push trusts its layer store.
    /// `false` (the default): every byte is checked against the descriptor.
    fn verified_at_rest(&self) -> bool {
        false
    }

    /// A blob holding the uncompressed layer `descriptor` compressed with `compression` that
    /// the source already has (push: the blob an earlier push compressed and kept), so a copy
    /// with [`CopyOptions::compression`](super::CopyOptions::compression) sends it as is
    /// instead of compressing again. Its digest and size; `None` (the default) when there is
    /// none.
    fn compressed_blob<'a>(
        &'a self,
        _: &'a Descriptor,
        _: Compression,
    ) -> CopyFuture<'a, Option<Descriptor>> {
        Box::pin(async { Ok(None) })
    }

    /// The referrers (OCI 1.1) the source holds for the manifest `subject` — only those of
    /// `artifact_type` when given — as a referrers list describes them
    /// ([`crate::media::Referrer`]): a registry's referrers API or fallback tag, the untagged
    /// entries of a layout's `index.json`. At most [`crate::media::MAX_REFERRERS`]. The
    /// default, for sources that keep none (`dir:`, archives), is none.
    /// Signatures attached by tag (cosign's `sha256-HEX.sig`) are no referrers: they travel
    /// through [`signatures`](Self::signatures).
    fn referrers<'a>(
        &'a self,
        _subject: &'a Descriptor,
        _artifact_type: Option<&'a str>,
    ) -> CopyFuture<'a, Vec<Descriptor>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Where the source keeps the signatures attached to its manifests by tag (cosign's
    /// `sha256-HEX.sig`): a registry repository, an OCI layout (`oci:`, the store; see
    /// `layout_signatures`). A copy with [`CopyOptions::signatures`](super::CopyOptions::signatures)
    /// carries them from here into the sink's. `None` (the default) for sources that keep
    /// none (`dir:`, archives).
    fn signatures(&self) -> Option<Box<dyn SignatureHome>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the stream yields after `sent` pieces, the producer having set `done` or not
    /// (a panic) before its sender went away.
    async fn drained(sent: usize, done: bool) -> Vec<Result<Bytes, String>> {
        let (tx, rx) = mpsc::channel(4);
        let flag = Arc::new(AtomicBool::new(false));
        let stream = ended_checked(rx, Arc::clone(&flag), || {
            CopyError::interrupted("the producer stopped".to_owned())
        });
        for _ in 0..sent {
            tx.send(Ok(Bytes::from_static(b"ab"))).await.unwrap();
        }
        flag.store(done, Ordering::Release);
        drop(tx);
        let items: Vec<_> = stream.collect().await;
        items
            .into_iter()
            .map(|i| i.map_err(|e| e.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn a_producer_that_finished_ends_cleanly_and_one_that_stopped_ends_in_an_error() {
        let finished = drained(2, true).await;
        assert_eq!(finished.len(), 2);
        assert!(finished.iter().all(Result::is_ok));

        let stopped = drained(2, false).await;
        assert_eq!(stopped.len(), 3, "{stopped:?}");
        let last = stopped.last().unwrap().as_ref().unwrap_err();
        assert!(last.contains("the producer stopped"), "{last}");
    }
}

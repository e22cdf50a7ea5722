//! Push's adapter on the copy engine's source: [`PushSource`], the local store
//! ([`StoreSource`]) with docker's names for push progress lines.
//!
//! docker names a layer's push lines by the short id of the layer's **diffID** (its
//! uncompressed digest: `v2PushDescriptor.ID()`), not of the blob's digest as a copy between
//! registries does; [`ImageSource::progress_id`] says so for every layer of the image(s)
//! being pushed. For an uncompressed layer the engine is asked to compress, the source offers
//! the compressed blob an earlier push kept in the store ([`ImageSource::compressed_blob`],
//! see `super::convert`). Everything else is [`StoreSource`]'s: manifests and blobs read from the
//! content store, verified by the engine and the sink.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use super::convert::reusable_blob;
use super::run::{DiffIds, Target};
use crate::compress::Compression;
use crate::copy::{BlobStream, CopyError, ImageSource, StoreSource};
use crate::digest::Digest;
use crate::media::Descriptor;
use crate::transfer::blocking;

/// The stored image(s) of one tag, as the copy engine's source.
pub(crate) struct PushSource {
    store: StoreSource,
    run: Arc<Target>,
    /// Blob digest ⇒ diffID of every layer pushed.
    diff_ids: Arc<DiffIds>,
}

impl PushSource {
    pub(crate) fn new(store: StoreSource, run: Arc<Target>, diff_ids: Arc<DiffIds>) -> PushSource {
        PushSource {
            store,
            run,
            diff_ids,
        }
    }

    async fn reusable(
        &self,
        descriptor: &Descriptor,
        compression: Compression,
    ) -> Result<Option<Descriptor>, CopyError> {
        let diff_id = self.progress_id(descriptor);
        let (metadata, content, key) = (
            Arc::clone(&self.run.metadata),
            self.run.content.clone(),
            diff_id.clone(),
        );
        let found = blocking("the copy", move || {
            reusable_blob(&metadata, &content, &key, compression)
        })
        .await?
        .map_err(|source| CopyError::Metadata {
            location: self.location(),
            action: format!("look up compressed blobs of layer {diff_id}"),
            source: Box::new(source),
        })?;
        Ok(found.map(|blob| {
            self.diff_ids.insert(blob.digest.clone(), diff_id);
            Descriptor::new("", blob.digest, blob.size)
        }))
    }
}

impl ImageSource for PushSource {
    fn location(&self) -> String {
        self.store.location()
    }

    /// The local store: every blob was verified when it entered it.
    fn verified_at_rest(&self) -> bool {
        true
    }

    fn resolve(&self) -> BoxFuture<'_, Result<Descriptor, CopyError>> {
        self.store.resolve()
    }

    fn manifest<'a>(
        &'a self,
        descriptor: &'a Descriptor,
    ) -> BoxFuture<'a, Result<Bytes, CopyError>> {
        self.store.manifest(descriptor)
    }

    fn open_blob<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        offset: u64,
    ) -> BoxFuture<'a, Result<BlobStream, CopyError>> {
        self.store.open_blob(descriptor, offset)
    }

    fn blob_file(&self, descriptor: &Descriptor) -> Result<Option<PathBuf>, CopyError> {
        self.store.blob_file(descriptor)
    }

    fn progress_id(&self, descriptor: &Descriptor) -> Digest {
        self.diff_ids
            .get(&descriptor.digest)
            .unwrap_or_else(|| descriptor.digest.clone())
    }

    fn compressed_blob<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        compression: Compression,
    ) -> BoxFuture<'a, Result<Option<Descriptor>, CopyError>> {
        Box::pin(self.reusable(descriptor, compression))
    }

    fn signatures(&self) -> Option<Box<dyn crate::trust::sigstore::SignatureHome>> {
        self.store.signatures()
    }
}

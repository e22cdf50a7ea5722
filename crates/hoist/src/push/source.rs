//! Push's adapter on the copy engine's source: [`PushSource`], the local store
//! ([`StoreSource`]) with docker's names for push progress lines.
//!
//! docker names a layer's push lines by the short id of the layer's **diffID** (its
//! uncompressed digest: `v2PushDescriptor.ID()`), not of the blob's digest as a copy between
//! registries does; [`ImageSource::progress_id`] says so for every layer of the image(s)
//! being pushed. Everything else is [`StoreSource`]'s: manifests and blobs read from the
//! content store, verified by the engine and the sink.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::copy::{BlobStream, CopyError, ImageSource, StoreSource};
use crate::digest::Digest;
use crate::media::Descriptor;

/// The stored image(s) of one tag, as the copy engine's source.
pub(crate) struct PushSource {
    store: StoreSource,
    /// Blob digest ⇒ diffID of every layer pushed.
    diff_ids: Arc<HashMap<Digest, Digest>>,
}

impl PushSource {
    pub(crate) fn new(store: StoreSource, diff_ids: Arc<HashMap<Digest, Digest>>) -> PushSource {
        PushSource { store, diff_ids }
    }
}

impl ImageSource for PushSource {
    fn location(&self) -> String {
        self.store.location()
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

    fn progress_id(&self, descriptor: &Descriptor) -> Digest {
        self.diff_ids
            .get(&descriptor.digest)
            .cloned()
            .unwrap_or_else(|| descriptor.digest.clone())
    }
}

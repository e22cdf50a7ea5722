//! The local store as an [`ImageSource`]: [`StoreSource`], and [`complete_index`], the test of
//! whether a pulled index can be pushed whole.
//!
//! The store's root is an OCI layout, so manifests and blobs are read exactly as
//! [`super::layout::LayoutSource`] reads them; only resolution differs: a reference is looked up
//! in the reference store (`hoist.db`), which points at an image record. When that image was
//! chosen from an index and the store holds the **whole** index — every child manifest
//! recorded as an image with its config and layers present, which `hoist pull
//! --all-platforms` ensures — the reference resolves to the index, so a copy (or a push)
//! sends every platform and then the index's exact bytes. Otherwise it resolves to the one
//! platform manifest the store holds (what a plain pull leaves).

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use super::layout::LayoutFiles;
use super::source::{CopyFuture, ImageSource};
use super::CopyError;
use crate::digest::Digest;
use crate::media::{Descriptor, WalkLimits, Walker, MAX_MANIFEST_SIZE};
use crate::reference::Reference;
use crate::store::{ContentStore, MetadataError, MetadataStore, StoreError};
use crate::transfer::blocking;

/// An image of the local store, by reference. For push this is docker's
/// `PushLayerProvider`: the stored layers ([`crate::store::metadata::ImageLayer`], docker's
/// `PushLayer`) of the image, read from the content store.
#[doc(alias = "PushLayerProvider")]
#[derive(Debug, Clone)]
pub struct StoreSource {
    content: ContentStore,
    metadata: Arc<MetadataStore>,
    reference: Reference,
}

/// An index the store holds whole.
#[derive(Debug, Clone)]
pub struct CompleteIndex {
    /// The index's descriptor (media type from its body).
    pub descriptor: Descriptor,
    /// Its exact bytes.
    pub bytes: Bytes,
    /// Its child manifests, as the index lists them.
    pub children: Vec<Descriptor>,
}

impl StoreSource {
    /// The image `reference` (a name means `:latest`) of the store `metadata` belongs to.
    pub fn new(metadata: Arc<MetadataStore>, reference: &Reference) -> StoreSource {
        StoreSource {
            content: metadata.content().clone(),
            metadata,
            reference: reference.clone().with_default_tag(),
        }
    }

    async fn resolve_inner(&self) -> Result<Descriptor, CopyError> {
        let (metadata, reference) = (Arc::clone(&self.metadata), self.reference.clone());
        let location = ImageSource::location(self);
        let found = blocking("the copy", move || {
            let Some(target) = metadata.reference(&reference)? else {
                return Ok(None);
            };
            let Some(record) = metadata.image(&target.manifest_digest)? else {
                return Ok(None);
            };
            if let Some(whole) = tagged_index(&metadata, &reference)? {
                return Ok(Some(whole.descriptor));
            }
            Ok::<_, IndexCheckError>(Some(Descriptor::new(
                &record.manifest_media_type,
                record.manifest_digest.clone(),
                record.manifest_size,
            )))
        })
        .await?
        .map_err(|source| CopyError::Local {
            location: location.clone(),
            source: Box::new(source),
        })?;
        found.ok_or_else(|| CopyError::NotFound {
            location,
            reference: self.reference.familiar(),
            source: None,
        })
    }
}

impl LayoutFiles for StoreSource {
    fn describe(&self) -> String {
        format!("hoist:{}", self.reference)
    }

    fn layout_root(&self) -> PathBuf {
        self.content.root().to_owned()
    }

    fn resolve_root(&self) -> CopyFuture<'_, Descriptor> {
        Box::pin(self.resolve_inner())
    }
}

/// Why [`complete_index`] could not answer.
#[derive(Debug, thiserror::Error)]
pub enum IndexCheckError {
    /// A blob could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The metadata database could not be read.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

/// The index to send for `reference`: the one its image came with when the reference was
/// recorded ([`MetadataStore::reference_index`]: a pull or copy of an index, or a tag of such
/// an image), when the store holds it whole. Not the image record's index: a record is
/// shared by every name of its manifest, and its index follows the last recording, so a later
/// `hoist copy oci:DIR hoist:other` of an index holding the same manifest would otherwise
/// turn a single-manifest tag into someone else's index (issue 11, bug 1). Blocking.
pub fn tagged_index(
    metadata: &MetadataStore,
    reference: &Reference,
) -> Result<Option<CompleteIndex>, IndexCheckError> {
    match metadata.reference_index(reference)? {
        Some(index) => complete_index(metadata, &index),
        None => Ok(None),
    }
}

/// The index `digest` if the store holds it whole: its bytes, and for every child manifest an
/// image record whose manifest, config and layers are all stored. `None` otherwise (a plain
/// pull keeps one platform), or when the blob is not an index. The index's entries are those
/// the one descriptor walk ([`Walker`]) gives; what each names is known from its image record,
/// so no child manifest is read. Blocking.
pub fn complete_index(
    metadata: &MetadataStore,
    digest: &Digest,
) -> Result<Option<CompleteIndex>, IndexCheckError> {
    let content = metadata.content();
    if !content.has(digest)? {
        return Ok(None);
    }
    let root = Descriptor::new("", digest.clone(), 0);
    let mut walker = Walker::new([root], WalkLimits::default());
    let mut index = None;
    while let Some(next) = walker.next_manifest() {
        if index.is_none() {
            let bytes = content.read_to_vec_capped(digest, MAX_MANIFEST_SIZE as u64)?;
            match walker.visit(bytes.into()) {
                Ok(Some(node)) if node.children.is_index() => index = Some(node.clone()),
                _ => return Ok(None),
            }
            continue;
        }
        let Some(record) = metadata.image(&next.digest)? else {
            return Ok(None);
        };
        let mut needed = vec![&record.manifest_digest, &record.image_id];
        needed.extend(record.layers.iter().map(|l| &l.digest));
        for blob in needed {
            if !content.has(blob)? {
                return Ok(None);
            }
        }
        walker.skip();
    }
    let Some(index) = index else {
        return Ok(None);
    };
    let mut descriptor = index.descriptor;
    descriptor.size = index.bytes.len() as u64;
    Ok(Some(CompleteIndex {
        descriptor,
        bytes: index.bytes,
        children: index.children.manifests.unwrap_or_default(),
    }))
}

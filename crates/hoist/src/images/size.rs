//! The sizes docker shows for a stored image: the *unpacked* size of each layer (the files
//! the layer store holds for its chain ID, docker's layer `DiffSize`) and their sum (docker's
//! image `Size`), rather than the compressed blob sizes the manifest lists.
//!
//! A layer not unpacked (`pull --no-unpack`, a `load`ed image not yet unpacked) has no
//! unpacked size: its blob size stands in for it, and [`ImageSizes::complete`] says whether
//! every layer was measured unpacked.

use crate::store::metadata::ImageRecord;
use crate::store::{ChainId, MetadataStore};

use super::ImageError;

/// The sizes of one stored image (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSizes {
    /// Per layer, bottom first: the unpacked size, or the blob size when not unpacked.
    pub layers: Vec<u64>,
    /// The sum of [`ImageSizes::layers`].
    pub total: u64,
    /// The sum of the compressed blob sizes (what a pull downloads).
    pub compressed: u64,
    /// Whether every layer's size is its unpacked size.
    pub complete: bool,
}

/// The sizes of the image `record` (see the module docs).
pub fn image_sizes(meta: &MetadataStore, record: &ImageRecord) -> Result<ImageSizes, ImageError> {
    let diff_ids: Vec<_> = record.layers.iter().map(|l| l.diff_id.clone()).collect();
    let mut layers = Vec::with_capacity(record.layers.len());
    let mut complete = true;
    for (layer, chain_id) in record.layers.iter().zip(ChainId::chain(&diff_ids)) {
        match meta.layer(chain_id.digest())? {
            Some(unpacked) => layers.push(unpacked.size),
            None => {
                complete = false;
                layers.push(layer.size);
            }
        }
    }
    Ok(ImageSizes {
        total: layers.iter().sum(),
        compressed: record.layers.iter().map(|l| l.size).sum(),
        layers,
        complete,
    })
}

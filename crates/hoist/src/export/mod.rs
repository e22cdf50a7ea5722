//! `hoist export`: an image's flattened root filesystem in a directory — what `umoci unpack`
//! writes to its bundle's `rootfs/`, and what docker's `container export` of a fresh container
//! holds: the layers applied in order, whiteouts and opaque directories honoured, ownership,
//! modes, xattrs and times as the layer tars said.
//!
//! # Two sources, one result
//! - **Layers** (fast path): when every layer of the image is unpacked in the layer store
//!   ([`LayerStore::get`] for each chain ID), each `layers/<chainID>/diff` is copied onto the
//!   target in order, whiteouts executed (`crate::unpack`'s `apply_dir`, `DiffApplier`).
//!   Files are copied (reflink when possible), never hardlinked to the store.
//! - **Blobs** (fallback, DESIGN.md principle 4: the content store is the truth): each layer
//!   blob is decompressed and applied with [`unpack_layer`](crate::unpack::unpack_layer) in apply mode, its diffID checked.
//! - **A source** ([`export_from_source`], `source`): the blobs of an image that is not in the
//!   store, read from a registry (or any [`ImageSource`](crate::copy::ImageSource)) as they are
//!   applied, verified on the way, nothing stored.
//!
//! # Rules
//! - The target must be empty or absent, unless [`ExportOptions::force`]: then the image is
//!   applied over what is there.
//! - An absent target appears whole or not at all: the tree is written into a hidden sibling
//!   and renamed into place at the end; what an export killed midway left there is removed by
//!   the next export to the same directory (`target`).
//! - A failed export removes what it wrote (its sibling, or the contents of the empty
//!   directory it was given); over a non-empty target (`force`) what it wrote stays.
//! - Both routes give the tree umoci gives: a layer's parent directories without entries of
//!   their own are resolved through lower layers' symlinks, its `./` entry sets the target's
//!   own metadata, and a target that is a symlink is followed (once, at the start).
//! - Sparse files stay sparse (holes are not copied, from the layer store or from blobs).
//! - A [`Lease`](crate::store::Lease) is held throughout, so gc does not delete a layer or
//!   blob being read.
//! - Without privileges, ownership and device nodes cannot be applied: the blob path records
//!   them in the report's `unapplied` list (as `umoci unpack --rootless` does, umoci in an
//!   xattr); the layer path copies what the layer directories hold (already rootless).

mod flatten;
mod source;
mod tar_out;
mod target;

use std::io;
use std::path::{Path, PathBuf};

pub use flatten::FlattenError;
pub use source::{export_from_source, export_tar_from_source, SourceExport};
pub use tar_out::{export_tar, TarReport};
use target::Target;

use crate::copy::CopyError;
use crate::digest::Digest;
use crate::store::layers::{compression_of, unpack_checked, LayerMeta};
use crate::store::metadata::ImageRecord;
use crate::store::{ChainId, FileError, LayerError, LayerStore, MetadataStore, StoreError};
use crate::trust::TrustError;
use crate::unpack::{DiffApplier, TarFacts, Unapplied, UnpackError, UnpackMode, UnpackOptions};
use crate::view::ViewError;

/// How to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Write into a non-empty directory (over its contents).
    pub force: bool,
    /// Use the layer store when every layer is unpacked there (default true).
    pub prefer_layers: bool,
    /// How blobs are applied on the fallback path (apply mode is enforced); its privileges
    /// also decide whether the layer path chowns.
    pub unpack: UnpackOptions,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            force: false,
            prefer_layers: true,
            unpack: UnpackOptions::apply(),
        }
    }
}

/// Where the exported tree came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportSource {
    /// The unpacked layer directories.
    Layers,
    /// The layer blobs, unpacked on the fly.
    Blobs,
    /// An image source outside the store (a registry), read as the layers were applied.
    Source,
}

/// What an export did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// The source used.
    pub source: ExportSource,
    /// Layers applied.
    pub layers: usize,
    /// What could not be applied without privileges (blob path only).
    pub unapplied: Vec<Unapplied>,
    /// The image's platform, from its config (read only by [`export_from_source`]; `None`
    /// for a stored image).
    pub platform: Option<crate::media::Platform>,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The target holds files and `force` was not given.
    #[error("{path} is not empty; export into an empty directory, or pass --force to write over its contents")]
    NotEmpty {
        /// The target.
        path: PathBuf,
    },
    /// A file operation on the target.
    #[error(transparent)]
    Io(#[from] FileError),
    /// Copying an unpacked layer failed.
    #[error("cannot apply layer {chain_id} from {path}")]
    Layer {
        /// The layer.
        chain_id: ChainId,
        /// Its directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Applying a layer blob failed.
    #[error("cannot apply layer blob {blob}")]
    Unpack {
        /// The blob.
        blob: Digest,
        /// The cause.
        #[source]
        source: UnpackError,
    },
    /// The layer store, or a layer blob that does not decompress to the diffID its image
    /// records ([`LayerError::DiffIdMismatch`], the sentence both routes share).
    #[error(transparent)]
    Layers(#[from] LayerError),
    /// The content store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading the image from a source: its manifest, config, or a blob's bytes (a blob that
    /// does not hash to its digest is [`ViewError::BlobVerification`]).
    #[error(transparent)]
    View(#[from] Box<ViewError>),
    /// A source's blob could not be read, retries included.
    #[error(transparent)]
    Source(Box<CopyError>),
    /// The trust policy refused the image.
    #[error(transparent)]
    Trust(#[from] Box<TrustError>),
    /// The image's config names another number of diffIDs than its manifest has layers.
    #[error("image {image} has {layers} layers but its config lists {diff_ids} diffIDs; the image is malformed")]
    DiffIdCount {
        /// The image manifest.
        image: Digest,
        /// Its layers.
        layers: usize,
        /// The config's `rootfs.diff_ids`.
        diff_ids: usize,
    },
    /// A layer blob is not a tar that can be read ([`export_tar`]).
    #[error("cannot read layer blob {blob} as a tar")]
    Tar {
        /// The blob.
        blob: Digest,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// An entry of a layer that no export writes ([`export_tar`]).
    #[error("layer blob {blob}: entry {name:?}: {problem}")]
    TarEntry {
        /// The blob.
        blob: Digest,
        /// The entry's name as the layer has it.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Writing the tar failed (a closed pipe, a full disk: [`export_tar`]).
    #[error("cannot write the tar")]
    Write(#[source] io::Error),
    /// The layers cannot be written as one tar in the order it is streamed.
    #[error(transparent)]
    Flatten(#[from] FlattenError),
    /// Applying a layer stopped without an error of its own.
    #[error("applying layer blob {blob} stopped: {reason}")]
    Stopped {
        /// The blob.
        blob: Digest,
        /// What happened.
        reason: String,
    },
}

/// Writes the root filesystem of `image` into `dir` (see the module docs). `layers` is the
/// layer store to take the fast path from, if any. Blocking.
pub fn export_image(
    metadata: &MetadataStore,
    layers: Option<&LayerStore>,
    image: &ImageRecord,
    dir: &Path,
    options: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    let _lease = metadata.content().lease()?;
    let target = Target::prepare(dir, options.force)?;
    let result = export_into(metadata, layers, image, target.dir(), options);
    target.finish(result)
}

fn export_into(
    metadata: &MetadataStore,
    layers: Option<&LayerStore>,
    image: &ImageRecord,
    dir: &Path,
    options: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    let chain = ChainId::chain(
        &image
            .layers
            .iter()
            .map(|l| l.diff_id.clone())
            .collect::<Vec<_>>(),
    );
    if let Some(layers) = layers.filter(|_| options.prefer_layers) {
        if let Some(metas) = unpacked_layers(layers, &chain)? {
            return export_from_layers(layers, &chain, metas, dir, options);
        }
    }
    export_from_blobs(metadata, image, dir, options)
}

/// Each layer's description when every one is unpacked with the facts of its tar that the
/// fast path needs (layers unpacked by an older hoist lack them: the blobs are used).
fn unpacked_layers(
    layers: &LayerStore,
    chain: &[ChainId],
) -> Result<Option<Vec<(LayerMeta, TarFacts)>>, LayerError> {
    let mut metas = Vec::with_capacity(chain.len());
    for chain_id in chain {
        if layers.get(chain_id)?.is_none() {
            return Ok(None);
        }
        let path = layers.layer_path(chain_id);
        let Ok(mut meta) = LayerMeta::read(&path) else {
            return Ok(None);
        };
        let Some(tar) = meta.tar.take() else {
            return Ok(None);
        };
        metas.push((meta, tar));
    }
    Ok(Some(metas))
}

fn export_from_layers(
    layers: &LayerStore,
    chain: &[ChainId],
    metas: Vec<(LayerMeta, TarFacts)>,
    dir: &Path,
    options: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    for (chain_id, (meta, tar)) in chain.iter().zip(metas) {
        let path = layers.layer_path(chain_id);
        let error = |source| ExportError::Layer {
            chain_id: chain_id.clone(),
            path: path.clone(),
            source,
        };
        let applier = DiffApplier::new(meta.whiteout_format(), options.unpack.privileges, tar);
        applier
            .apply(&layers.diff_path(chain_id), dir)
            .map_err(error)?;
    }
    Ok(ExportReport {
        source: ExportSource::Layers,
        layers: chain.len(),
        unapplied: Vec::new(),
        platform: None,
    })
}

fn export_from_blobs(
    metadata: &MetadataStore,
    image: &ImageRecord,
    dir: &Path,
    options: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    let unpack = UnpackOptions {
        mode: UnpackMode::Apply,
        ..options.unpack.clone()
    };
    let mut unapplied = Vec::new();
    for layer in &image.layers {
        let compression = compression_of(layer)?;
        let blob = metadata.content().open_blob(&layer.digest)?;
        let report = unpack_checked(compression, blob, layer, dir, &unpack, |source| {
            ExportError::Unpack {
                blob: layer.digest.clone(),
                source,
            }
        })?;
        unapplied.extend(report.unapplied);
    }
    Ok(ExportReport {
        source: ExportSource::Blobs,
        layers: image.layers.len(),
        unapplied,
        platform: None,
    })
}

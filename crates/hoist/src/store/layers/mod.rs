//! The layer store: unpacked layers, one directory per chain ID — docker's `layer.Store`
//! (`layer_store.go`: `Register`, `Get`, `Release`) and the registering half of
//! `RootFSDownloadManager`.
//!
//! # Layout
//! ```text
//! ROOT/layers/
//!   <chainID hex>/diff/           the layer's own changes (diff mode; whiteouts kept, see
//!                                 `unpack::whiteout`: overlay format as root, markers otherwise)
//!   <chainID hex>/layer.json      diffID, whiteout format, privileges, size
//!   <chainID hex>/unapplied.jsonl unprivileged: ownership/devices/xattrs the unpack recorded
//!   .tmp-<pid>-<n>-<nanos>/       a layer being unpacked: never read, removed on failure
//!   .lock                         flock serialising publication between processes
//! ```
//! The record (diffID, parent chain ID, size, reference count) is in `hoist.db`
//! ([`LayerRecord`]); which image holds which layer in `layer_holds`.
//!
//! # The content store is the truth, the layer store a cache (DESIGN.md principle 4)
//! Blobs stay in `blobs/`; a layer directory can always be rebuilt from them
//! ([`LayerStore::register_image`] does so for any layer it finds missing, e.g. after
//! `pull --no-unpack`), and export works from blobs alone.
//!
//! # Invariants
//! - **No half layer is ever visible.** Unpacking happens in a `.tmp-` directory, renamed to
//!   `layers/<chainID>` only after the unpack succeeded, the blob's digest and the diffID were
//!   verified (the download pipeline calls the sink's `finish` only then) and pull checked the
//!   diffIDs against the config. A layer is visible when its record exists *and* its directory
//!   does: the rename comes first, the record second, so a crash in between leaves a directory
//!   without a record, which publication and gc treat as garbage.
//! - **A layer whose chain ID exists is not unpacked again**: [`LayerStore::needs_unpack`]
//!   tells pull (from the diffIDs the metadata store already knows for the blobs, docker's
//!   `V2MetadataService` cache) which layers need a sink, and publication keeps the first copy
//!   when two processes race.
//! - **Reference counting**: an image holds every layer of its chain
//!   ([`MetadataStore::hold_layers`]); deleting the image record (rmi, prune) drops its holds;
//!   gc ([`sweep_layers`]) deletes layers nothing holds and no layer sits on, top first.
//! - **Concurrency with gc**: publication and holding happen under a [`Lease`](super::Lease),
//!   gc under the exclusive [`GcLock`](super::GcLock), so a layer published but not yet held
//!   is never collected, and `.tmp-` directories gc finds belong to dead processes.

mod chain;
mod layer_sink;
mod sink;
pub mod staging;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub use chain::ChainId;
pub use layer_sink::{LayerSink, LayerSinkFactory};
pub use staging::LayerMeta;

use super::lock::{lock_exclusive, open_lock_file, Wait};
use super::metadata::{ImageLayer, ImageRecord, LayerRecord};
use super::{ContentStore, FileError, MetadataError, MetadataStore, StoreError};
use crate::compress::{Compression, DecodeAhead, Decoder};
use crate::digest::{diff_id_of, Algorithm, Digest, HashingReader};
use crate::media::LayerMediaType;
use crate::unpack::nofollow::remove_tree;
use crate::unpack::{unpack_layer, UnpackError, UnpackOptions, UnpackReport};
use staging::{TempLayer, DIFF_DIR, TEMP_PREFIX};

/// `layers/` at the store root.
pub const LAYERS_DIR: &str = "layers";
/// The lock file serialising publication, inside `layers/`.
const PUBLISH_LOCK: &str = ".lock";

/// Why a layer could not be made available.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// A file operation in `layers/`.
    #[error(transparent)]
    Io(#[from] FileError),
    /// The metadata database.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// The content store (the blob to unpack from).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Unpacking a stored blob failed.
    #[error("cannot unpack layer {blob}")]
    Unpack {
        /// The layer blob.
        blob: Digest,
        /// Why.
        #[source]
        source: UnpackError,
    },
    /// A stored blob does not decompress to the diffID its image says.
    #[error("layer {blob} decompresses to {actual}, not the diffID {expected} its image records")]
    DiffIdMismatch {
        /// The layer blob.
        blob: Digest,
        /// The diffID the image record names.
        expected: Digest,
        /// What the blob's bytes hash to.
        actual: Digest,
    },
    /// The layer's media type names no compression hoist can read.
    #[error("layer {blob} has media type {media_type:?}, which is not a layer hoist can unpack")]
    UnknownMediaType {
        /// The layer blob.
        blob: Digest,
        /// Its media type.
        media_type: String,
    },
}

fn io_error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LayerError + 'a {
    move |source| LayerError::Io(FileError::at(op, path)(source))
}

/// A layer unpacked by a sink, waiting for its image to be registered.
pub(crate) struct Staged {
    pub(crate) diff_id: Digest,
    pub(crate) size: u64,
    pub(crate) temp: TempLayer,
}

/// The layer store of one root. Cheap to clone; clones share staged layers. docker's
/// `RootFSDownloadManager` (what `ImagePullConfig` registers downloaded layers into) is this,
/// given to a pull as [`crate::pull::PullOptions::layers`].
#[doc(alias = "RootFSDownloadManager")]
#[derive(Clone)]
pub struct LayerStore {
    inner: Arc<Inner>,
}

struct Inner {
    content: ContentStore,
    metadata: Arc<MetadataStore>,
    dir: PathBuf,
    options: UnpackOptions,
    staged: Mutex<HashMap<Digest, Staged>>,
}

impl std::fmt::Debug for LayerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerStore")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

impl LayerStore {
    /// The layer store beside `metadata` (creating `layers/`), unpacking with
    /// [`UnpackOptions::diff`] (the detected privileges).
    pub fn open(metadata: Arc<MetadataStore>) -> Result<LayerStore, LayerError> {
        LayerStore::open_with(metadata, UnpackOptions::diff())
    }

    /// [`LayerStore::open`] with chosen unpack options (diff mode is enforced).
    pub fn open_with(
        metadata: Arc<MetadataStore>,
        options: UnpackOptions,
    ) -> Result<LayerStore, LayerError> {
        let content = metadata.content().clone();
        let dir = content.root().join(LAYERS_DIR);
        crate::store::layout::create_private_dir(&dir).map_err(io_error("create", &dir))?;
        Ok(LayerStore {
            inner: Arc::new(Inner {
                content,
                metadata,
                dir,
                options: UnpackOptions {
                    mode: crate::unpack::UnpackMode::Diff,
                    ..options
                },
                staged: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// `ROOT/layers`.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The metadata store the records are in.
    pub fn metadata(&self) -> &Arc<MetadataStore> {
        &self.inner.metadata
    }

    /// How layers are unpacked.
    pub fn unpack_options(&self) -> &UnpackOptions {
        &self.inner.options
    }

    /// `layers/<chainID hex>`.
    pub fn layer_path(&self, chain_id: &ChainId) -> PathBuf {
        self.inner.dir.join(chain_id.hex())
    }

    /// `layers/<chainID hex>/diff`: the layer's changes.
    pub fn diff_path(&self, chain_id: &ChainId) -> PathBuf {
        self.layer_path(chain_id).join(DIFF_DIR)
    }

    /// The layer's record when it is visible (record and directory both present).
    pub fn get(&self, chain_id: &ChainId) -> Result<Option<LayerRecord>, LayerError> {
        let Some(record) = self.inner.metadata.layer(chain_id.digest())? else {
            return Ok(None);
        };
        let diff = self.diff_path(chain_id);
        match fs::symlink_metadata(&diff) {
            Ok(meta) if meta.is_dir() => Ok(Some(record)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("inspect", &diff)(e)),
        }
    }

    /// For each layer blob of an image (bottom first): whether it must be unpacked, i.e. its
    /// chain ID is not visible yet. The chain is computed from the diffIDs the metadata store
    /// already knows for the blobs; from the first unknown one on, every layer needs it
    /// (docker's `xfer` check before "Already exists").
    pub fn needs_unpack(&self, blobs: &[Digest]) -> Result<Vec<bool>, LayerError> {
        let mut needs = Vec::with_capacity(blobs.len());
        let mut parent: Option<ChainId> = None;
        for blob in blobs {
            let known = if needs.last() == Some(&true) {
                None
            } else {
                self.inner.metadata.diff_id_of(blob)?
            };
            let Some(diff_id) = known else {
                needs.push(true);
                continue;
            };
            let chain = ChainId::next(parent.as_ref(), &diff_id);
            needs.push(self.get(&chain)?.is_none());
            parent = Some(chain);
        }
        Ok(needs)
    }

    /// Makes every layer of `image` visible and held by it; returns its chain IDs (bottom
    /// first). Uses what the sinks staged for its blobs; a layer neither visible nor staged is
    /// unpacked from its blob in the content store (verified against the recorded diffID).
    /// Blocking. Takes a lease for its duration.
    pub fn register_image(&self, image: &ImageRecord) -> Result<Vec<ChainId>, LayerError> {
        let _lease = self.inner.content.lease()?;
        let diff_ids: Vec<Digest> = image.layers.iter().map(|l| l.diff_id.clone()).collect();
        let chain = ChainId::chain(&diff_ids);
        let mut parent: Option<&ChainId> = None;
        for (layer, chain_id) in image.layers.iter().zip(&chain) {
            if self.get(chain_id)?.is_none() {
                let staged = match self.take_staged(&layer.digest, &layer.diff_id) {
                    Some(staged) => staged,
                    None => self.unpack_from_blob(layer)?,
                };
                self.publish(chain_id, parent, staged)?;
            }
            parent = Some(chain_id);
        }
        let digests: Vec<Digest> = chain.iter().map(|c| c.digest().clone()).collect();
        let metadata = &self.inner.metadata;
        match metadata.hold_layers(&image.manifest_digest, &digests) {
            // A concurrent `rmi` or `prune` deleted the record the caller just wrote; the
            // callers' lease kept its blobs (no collection ran), so record it again, as a pull
            // that started after the removal would (found by scripts/chaos.sh's soak).
            Err(MetadataError::ImageRemoved { .. }) => {
                metadata.put_image(image)?;
                metadata.hold_layers(&image.manifest_digest, &digests)?;
            }
            held => held?,
        }
        Ok(chain)
    }

    /// Unpacks the stored blob of `layer` now, verifying it against its diffID, and stages
    /// it for the next [`LayerStore::register_image`] naming it: a copy into the store checks
    /// the diffIDs of what it received before it records anything, without unpacking twice.
    /// Blocking.
    pub(crate) fn stage_from_blob(&self, layer: &ImageLayer) -> Result<(), LayerError> {
        let staged = self.unpack_from_blob(layer)?;
        self.stage(layer.digest.clone(), staged);
        Ok(())
    }

    /// Drops what the sinks staged for `blobs` and nobody registered (a failed pull).
    pub fn discard_staged(&self, blobs: &[Digest]) {
        let mut staged = self.staged();
        for blob in blobs {
            staged.remove(blob);
        }
    }

    pub(crate) fn stage(&self, blob: Digest, layer: Staged) {
        // A previous staging of the same blob (a restarted download) is replaced and removed.
        self.staged().insert(blob, layer);
    }

    fn take_staged(&self, blob: &Digest, diff_id: &Digest) -> Option<Staged> {
        let mut staged = self.staged();
        match staged.get(blob) {
            Some(s) if &s.diff_id == diff_id => staged.remove(blob),
            _ => None,
        }
    }

    fn staged(&self) -> MutexGuard<'_, HashMap<Digest, Staged>> {
        self.inner
            .staged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Unpacks the stored blob of `layer` into a temporary directory, checking its diffID.
    fn unpack_from_blob(&self, layer: &ImageLayer) -> Result<Staged, LayerError> {
        let compression = compression_of(layer)?;
        let blob = self.inner.content.open_blob(&layer.digest)?;
        let temp = TempLayer::create(&self.inner.dir).map_err(io_error("create in", self.dir()))?;
        let report = unpack_checked(
            compression,
            blob,
            layer,
            &temp.diff(),
            &self.inner.options,
            |source| LayerError::Unpack {
                blob: layer.digest.clone(),
                source,
            },
        )?;
        let actual = layer.diff_id.clone();
        let options = &self.inner.options;
        let meta = temp
            .describe(&actual, options.whiteouts, options.privileges, &report)
            .map_err(io_error("describe", temp.path()))?;
        Ok(Staged {
            diff_id: actual,
            size: meta.size,
            temp,
        })
    }

    /// Renames `staged` to `layers/<chain_id>` and records it, unless another process
    /// published it first (then `staged` is dropped, i.e. removed).
    fn publish(
        &self,
        chain_id: &ChainId,
        parent: Option<&ChainId>,
        staged: Staged,
    ) -> Result<(), LayerError> {
        let lock_path = self.inner.dir.join(PUBLISH_LOCK);
        let lock = open_lock_file(&lock_path).map_err(io_error("open", &lock_path))?;
        lock_exclusive(&lock, Wait::Block).map_err(io_error("lock", &lock_path))?;
        if self.get(chain_id)?.is_some() {
            return Ok(());
        }
        let target = self.layer_path(chain_id);
        discard_orphan(&target)?;
        staged
            .temp
            .publish(&target)
            .map_err(io_error("rename a layer into", &target))?;
        self.inner.metadata.insert_layer(&LayerRecord {
            chain_id: chain_id.digest().clone(),
            diff_id: staged.diff_id,
            parent: parent.map(|p| p.digest().clone()),
            size: staged.size,
            ref_count: 0,
        })?;
        drop(lock);
        Ok(())
    }
}

/// A directory at `target` without a visible record (a crash between rename and record, or a
/// record deleted before its directory): moved aside and removed.
fn discard_orphan(target: &Path) -> Result<(), LayerError> {
    match fs::symlink_metadata(target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error("inspect", target)(e)),
        Ok(_) => {}
    }
    let Some(parent) = target.parent() else {
        return Ok(());
    };
    let aside = TempLayer::create(parent).map_err(io_error("create in", parent))?;
    let graveyard = aside.path().join("orphan");
    fs::rename(target, &graveyard).map_err(io_error("move aside", target))?;
    drop(aside); // removes it, orphan included
    Ok(())
}

/// What [`sweep_layers`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerSweep {
    /// Chain IDs of the layers deleted (records and directories).
    pub removed: Vec<Digest>,
    /// Temporary and orphaned directories removed.
    pub stale_dirs: usize,
}

/// Garbage collection of the layer store: deletes every layer no image holds (top first,
/// which may free its parent), then `.tmp-` directories and directories without a record.
/// Call it only while holding the [`GcLock`](super::GcLock): then no writer is publishing
/// or unpacking, so every temporary directory is a dead process's.
pub fn sweep_layers(metadata: &MetadataStore) -> Result<LayerSweep, LayerError> {
    let dir = metadata.content().root().join(LAYERS_DIR);
    let mut sweep = LayerSweep::default();
    loop {
        let unheld = metadata.unheld_layers()?;
        if unheld.is_empty() {
            break;
        }
        for chain_id in unheld {
            // Record first: a crash after it leaves an orphan directory, never a record
            // naming a half-deleted tree.
            if metadata.delete_layer(&chain_id)? {
                let path = dir.join(chain_id.hex());
                remove_tree(&path).map_err(io_error("remove", &path))?;
                sweep.removed.push(chain_id);
            }
        }
    }
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(sweep),
        Err(e) => return Err(io_error("list", &dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_error("list", &dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let stale = if name.starts_with(TEMP_PREFIX) {
            true
        } else if let Ok(digest) = Digest::from_hex(Algorithm::Sha256, name) {
            metadata.layer(&digest)?.is_none()
        } else {
            false
        };
        if stale {
            let path = entry.path();
            remove_tree(&path).map_err(io_error("remove", &path))?;
            sweep.stale_dirs += 1;
        }
    }
    Ok(sweep)
}

/// The compression of a layer from its media type.
pub(crate) fn compression_of(layer: &ImageLayer) -> Result<Compression, LayerError> {
    let kind = LayerMediaType::classify(&layer.media_type).ok_or_else(|| {
        LayerError::UnknownMediaType {
            blob: layer.digest.clone(),
            media_type: layer.media_type.clone(),
        }
    })?;
    Ok(kind.compression.into())
}

/// The diffID of the stored blob of `layer`: its bytes decompressed as its media type says,
/// hashed (what [`LayerStore::register_image`] checks while unpacking, for a blob that is not
/// unpacked). An uncompressed sha256 blob is its own diffID: the content store committed it
/// only once its bytes hashed to that digest, so it is not read again (`hoist load` of a
/// docker-archive, whose layers are all uncompressed). Blocking.
pub(crate) fn diff_id_of_blob(
    content: &ContentStore,
    layer: &ImageLayer,
) -> Result<Digest, LayerError> {
    let compression = compression_of(layer)?;
    if compression == Compression::None
        && layer.digest.algorithm() == crate::digest::Algorithm::Sha256
        && content.has(&layer.digest)?
    {
        return Ok(layer.digest.clone());
    }
    let blob = content.open_blob(&layer.digest)?;
    let (diff_id, _) =
        diff_id_of(decoder(compression, blob, &layer.digest)?).map_err(|source| {
            LayerError::Io(FileError {
                op: "decompress",
                path: content.path_of(&layer.digest),
                source,
            })
        })?;
    Ok(diff_id)
}

/// Unpacks the `blob` of `layer` (compressed with `compression`: the stored file, or a
/// stream) into `dir`, hashing the tar as it goes by: a diffID other than the layer's is
/// [`LayerError::DiffIdMismatch`], an unpack error is what `unpack_error` makes of it (the
/// layer store and export word it each their way).
pub(crate) fn unpack_checked<E: From<LayerError>>(
    compression: Compression,
    blob: impl io::Read + Send + 'static,
    layer: &ImageLayer,
    dir: &Path,
    options: &UnpackOptions,
    unpack_error: impl FnOnce(UnpackError) -> E,
) -> Result<UnpackReport, E> {
    let decoded = decoder(compression, blob, &layer.digest)?;
    unpack_decoded(decoded, layer, dir, options, unpack_error)
}

/// [`unpack_checked`] of a blob whose [`decoder`] was started already (so that it decodes
/// ahead while the layer before it is applied).
pub(crate) fn unpack_decoded<E: From<LayerError>>(
    decoded: DecodeAhead,
    layer: &ImageLayer,
    dir: &Path,
    options: &UnpackOptions,
    unpack_error: impl FnOnce(UnpackError) -> E,
) -> Result<UnpackReport, E> {
    let mut reader = HashingReader::new(decoded);
    let report = unpack_layer(&mut reader, dir, options).map_err(unpack_error)?;
    check_diff_id(layer, reader.finish())?;
    Ok(report)
}

/// That `actual`, the hash of `layer`'s decompressed bytes, is the diffID its image records.
pub(crate) fn check_diff_id(layer: &ImageLayer, actual: Digest) -> Result<(), LayerError> {
    if actual != layer.diff_id {
        return Err(LayerError::DiffIdMismatch {
            blob: layer.digest.clone(),
            expected: layer.diff_id.clone(),
            actual,
        });
    }
    Ok(())
}

/// A decompressing reader of a blob (buffered, so that an uncompressed tar is not read a
/// header at a time), decoding on a thread of its own so that the caller's hashing and
/// untarring overlap it ([`DecodeAhead`]).
pub(crate) fn decoder(
    compression: Compression,
    blob: impl io::Read + Send + 'static,
    digest: &Digest,
) -> Result<DecodeAhead, LayerError> {
    Decoder::new(compression, io::BufReader::with_capacity(1 << 16, blob))
        .and_then(DecodeAhead::spawn)
        .map_err(|source| {
            LayerError::Io(FileError {
                op: "start decompressing",
                path: PathBuf::from(digest.as_str()),
                source,
            })
        })
}

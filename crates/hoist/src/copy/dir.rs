//! skopeo's `dir:PATH` layout as an [`ImageSource`] and an [`ImageSink`]: [`DirSource`],
//! [`DirSink`].
//!
//! The format is containers/image's `directory` transport, version 1.1:
//! ```text
//! version                 "Directory Transport Version: 1.1\n"
//! manifest.json           the root manifest (an image manifest, or an index with --all)
//! <hex>.manifest.json     each child manifest of an index, by its digest's hex
//! <hex>                   every blob (configs and layers), by its digest's hex
//! ```
//! There is no tag: a directory holds one image. Bytes are kept exactly (no manifest is
//! rewritten), so a copy through `dir:` keeps every digest.
//!
//! - The **source** only reads. `manifest.json`'s media type is its `mediaType` field, or what
//!   its shape says (containers/image's `GuessMIMEType`; an OCI manifest may omit the field).
//!   The `version` file is not required (skopeo does not check it either). Every file is
//!   opened as `blob_file` says: never through a symlink, regular files only.
//! - The **sink** follows skopeo's `newImageDestination`: the directory is created if missing;
//!   an existing non-empty directory is overwritten only when it has a `version` file (it is
//!   then emptied first), otherwise it is refused ("not a containers image directory, don't
//!   want to overwrite important data"). Blobs go through a content store's ingest in the
//!   hidden staging directory `.hoist-ingest/` (hashed as written, committed only when the
//!   digest matches, resumed by the next attempt: the one blob writer of a layout) and are
//!   then renamed to `<hex>`; the staging directory is removed when the sink is dropped.
//!   Manifests are written by a temporary file and a rename.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::blob_file::{read_manifest_file, read_small_file, stream_blob_file};
use super::layout::{blob_path, LayoutSink};
use super::sink::{
    BlobInput, BlobStore, BlobWriter, DynBlobWriter, ImageSink, Progress, StoredManifest,
};
use super::source::{BlobStream, CopyFuture, ImageSource};
use super::staging::StagingDir;
use super::CopyError;
use crate::digest::Digest;
use crate::media::{Descriptor, Manifest};
use crate::store::layout::write_atomically;
use crate::store::StoreError;
use crate::transfer::blocking;

/// The `version` file's name and content (containers/image's `version`).
pub const DIR_VERSION_FILE: &str = "version";
/// What `version` holds.
pub const DIR_VERSION: &str = "Directory Transport Version: 1.1\n";
/// The root manifest's file name.
pub const DIR_MANIFEST_FILE: &str = "manifest.json";
/// The sink's staging directory for blobs in flight.
const STAGING_DIR: &str = ".hoist-ingest";

/// The file of a child manifest.
fn child_manifest_path(root: &Path, digest: &Digest) -> PathBuf {
    root.join(format!("{}.manifest.json", digest.hex()))
}

/// The file of a blob.
fn dir_blob_path(root: &Path, digest: &Digest) -> PathBuf {
    root.join(digest.hex())
}

/// A `dir:` directory to copy from.
#[derive(Debug, Clone)]
pub struct DirSource {
    root: PathBuf,
}

impl DirSource {
    /// The directory at `root`.
    pub fn new(root: &Path) -> DirSource {
        DirSource {
            root: root.to_owned(),
        }
    }

    async fn resolve_inner(&self) -> Result<Descriptor, CopyError> {
        let location = ImageSource::location(self);
        let path = self.root.join(DIR_MANIFEST_FILE);
        let bytes = read_root_manifest(&location, &path).await?;
        let manifest = Manifest::parse("", &bytes).map_err(|e| CopyError::Manifest {
            digest: Digest::sha256_of(&bytes),
            source: Box::new(e),
        })?;
        Ok(Descriptor::new(
            manifest.media_type(),
            Digest::sha256_of(&bytes),
            bytes.len() as u64,
        ))
    }
}

/// `manifest.json`, capped (its digest is what it hashes to); a missing one says the
/// directory is not an image directory.
async fn read_root_manifest(location: &str, path: &Path) -> Result<Vec<u8>, CopyError> {
    match read_small_file(location, path).await {
        Err(CopyError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Err(CopyError::Location {
                input: location.to_owned(),
                reason: format!(
                    "{} is not an image directory (no {DIR_MANIFEST_FILE})",
                    path.parent().unwrap_or(path).display()
                ),
            })
        }
        other => other,
    }
}

impl ImageSource for DirSource {
    fn location(&self) -> String {
        format!("dir:{}", self.root.display())
    }

    fn resolve(&self) -> CopyFuture<'_, Descriptor> {
        Box::pin(self.resolve_inner())
    }

    fn manifest<'a>(&'a self, descriptor: &'a Descriptor) -> CopyFuture<'a, Bytes> {
        Box::pin(async move {
            let location = ImageSource::location(self);
            // The root is `manifest.json`; a child is `<hex>.manifest.json`. Which one a
            // descriptor names is told by the digest: try the child's file first.
            let child = child_manifest_path(&self.root, &descriptor.digest);
            match read_manifest_file(location.clone(), &child, descriptor).await {
                Err(CopyError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                    let root = self.root.join(DIR_MANIFEST_FILE);
                    read_manifest_file(location, &root, descriptor).await
                }
                other => other,
            }
        })
    }

    fn open_blob<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        offset: u64,
    ) -> CopyFuture<'a, BlobStream> {
        let path = dir_blob_path(&self.root, &descriptor.digest);
        Box::pin(async move { stream_blob_file(ImageSource::location(self), &path, offset).await })
    }

    fn blob_file(&self, descriptor: &Descriptor) -> Result<Option<PathBuf>, CopyError> {
        Ok(Some(dir_blob_path(&self.root, &descriptor.digest)))
    }
}

/// A `dir:` directory to copy into. See the module docs.
#[derive(Debug, Clone)]
pub struct DirSink {
    root: PathBuf,
    staging: Arc<StagingDir>,
    blobs: LayoutSink,
}

impl DirSink {
    /// Opens `root` as skopeo does (see the module docs) and writes its `version` file.
    /// Blocking.
    pub fn open(root: &Path) -> Result<DirSink, CopyError> {
        let location = format!("dir:{}", root.display());
        let io = |action, source| CopyError::Io {
            location: location.clone(),
            action,
            path: root.display().to_string(),
            source,
        };
        match std::fs::read_dir(root) {
            Ok(entries) => {
                let entries: Vec<_> = entries
                    .collect::<Result<_, _>>()
                    .map_err(|e| io("read", e))?;
                if !entries.is_empty() {
                    if !root.join(DIR_VERSION_FILE).is_file() {
                        return Err(CopyError::Location {
                            input: location,
                            reason: "not a containers image directory, don't want to overwrite important data".to_owned(),
                        });
                    }
                    for entry in entries {
                        let path = entry.path();
                        let kind = entry.file_type().map_err(|e| io("inspect", e))?;
                        let removed = if kind.is_dir() {
                            std::fs::remove_dir_all(&path)
                        } else {
                            std::fs::remove_file(&path)
                        };
                        removed.map_err(|e| io("empty", e))?;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir_all(root).map_err(|e| io("create", e))?;
            }
            Err(e) => return Err(io("open", e)),
        }
        write_atomically(root, &root.join(DIR_VERSION_FILE), DIR_VERSION.as_bytes())
            .map_err(|e| CopyError::store(&location, "write the version file", e))?;
        let staging = StagingDir::create_at(&root.join(STAGING_DIR), &location)?;
        let blobs = LayoutSink::for_store(staging.content().clone(), location);
        Ok(DirSink {
            root: root.to_owned(),
            staging: Arc::new(staging),
            blobs,
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        action: String,
        f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, CopyError> {
        let location = ImageSink::location(self);
        blocking("the copy", f)
            .await?
            .map_err(|e| CopyError::store(&location, action, e))
    }
}

impl ImageSink for DirSink {
    fn location(&self) -> String {
        format!("dir:{}", self.root.display())
    }

    fn tag(&self) -> Option<String> {
        None
    }

    fn blobs(&self) -> &dyn BlobStore {
        self
    }

    fn put_manifest<'a>(&'a self, manifest: &'a StoredManifest) -> CopyFuture<'a, ()> {
        let dir = self.root.clone();
        let digest = &manifest.descriptor.digest;
        let target = match manifest.root {
            true => dir.join(DIR_MANIFEST_FILE),
            false => child_manifest_path(&dir, digest),
        };
        let bytes = manifest.bytes.clone();
        let action = format!("store manifest {digest}");
        Box::pin(self.blocking(action, move || write_atomically(&dir, &target, &bytes)))
    }
}

impl BlobStore for DirSink {
    fn has_blob<'a>(&'a self, descriptor: &'a Descriptor) -> CopyFuture<'a, bool> {
        let path = dir_blob_path(&self.root, &descriptor.digest);
        let size = descriptor.size;
        Box::pin(async move {
            // Only a blob this sink committed can be there (the directory was emptied).
            Ok(tokio::fs::symlink_metadata(&path)
                .await
                .is_ok_and(|m| m.is_file() && m.len() == size))
        })
    }

    fn blob_writer(&self, input: &dyn BlobInput) -> Box<dyn DynBlobWriter> {
        Box::new(DirBlobWriter {
            sink: self.clone(),
            staged: self.blobs.blob_writer(input),
        })
    }
}

/// A blob through the staging layout's ingest, then renamed to `<hex>`.
struct DirBlobWriter {
    sink: DirSink,
    staged: Box<dyn DynBlobWriter>,
}

impl BlobWriter for DirBlobWriter {
    async fn write(
        &mut self,
        input: &dyn BlobInput,
        progress: Progress<'_>,
    ) -> Result<Descriptor, CopyError> {
        let blob = self.staged.write_dyn(input, progress).await?;
        let from = blob_path(self.sink.staging.path(), &blob.digest);
        let to = dir_blob_path(&self.sink.root, &blob.digest);
        self.sink
            .blocking(format!("store blob {}", blob.digest), move || {
                std::fs::rename(&from, &to).map_err(|e| StoreError::io("rename", &to, e))
            })
            .await?;
        Ok(blob)
    }
}

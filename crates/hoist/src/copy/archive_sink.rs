//! `docker-archive:PATH[:REF]` and `oci-archive:PATH[:TAG]` as [`ImageSink`]s:
//! [`DockerArchiveSink`], [`OciArchiveSink`].
//!
//! A tarball is written whole, after every blob is known, so both sinks receive the image
//! into a private `StagingDir` beside PATH (through a [`LayoutSink`]: each blob hashed as
//! written and committed only when its digest matches — the one blob writer of a layout), and
//! write the tarball when the root manifest arrives (the engine sends it last, after every
//! blob and child manifest was confirmed): into a temporary file beside PATH, renamed over
//! PATH only when complete (docker's `CopyToFile`), so a failed copy never leaves a truncated
//! archive. The staging directory goes with the sink.
//!
//! - **docker-archive** holds what `docker save` writes (see [`crate::archive`]), through the
//!   same writer as `hoist save` ([`write_docker_archive`]): layers **uncompressed** (a
//!   compressed layer is decompressed and its diffID checked on the way), one image, no index
//!   and no manifest — so layer and manifest digests change, the image ID (config digest)
//!   does not. A copy into it takes one platform: the caller chooses it
//!   ([`super::ImageLocation::holds_index`]; an index root is refused here), as skopeo picks
//!   one instance for `docker-archive:`. REF becomes `RepoTags` (none: saved by ID).
//! - **oci-archive** holds an OCI image layout ([`write_oci_layout`]): every blob and
//!   manifest as it is (digests kept, an index with all its platforms), the root in
//!   `index.json` named TAG.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::layout::LayoutSink;
use super::sink::{BlobStore, ImageSink, StoredManifest};
use super::source::CopyFuture;
use super::staging::StagingDir;
use super::CopyError;
use crate::archive::{write_docker_archive, write_oci_layout, ArchiveError, ArchiveImage};
use crate::media::{Descriptor, ImageConfig, Manifest, MAX_CONFIG_SIZE};
use crate::reference::Reference;
use crate::store::metadata::ImageLayer;
use crate::store::{ContentStore, WritebackFile};

/// The directory PATH is in.
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Writes `path` through a temporary file beside it and a rename. Blocking.
fn write_replacing(
    location: &str,
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<(), ArchiveError>,
) -> Result<(), CopyError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = parent_of(path).join(format!(".hoist_temp_{}_{n}", std::process::id()));
    let io = |action, source| CopyError::Io {
        location: location.to_owned(),
        action,
        path: path.display().to_string(),
        source,
    };
    let result = (|| {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| io("create a temporary file for", e))?;
        let mut out = BufWriter::with_capacity(1 << 20, WritebackFile::new(file));
        write(&mut out).map_err(|source| CopyError::Archive {
            location: location.to_owned(),
            source: Box::new(source),
        })?;
        let file = out
            .into_inner()
            .map_err(|e| io("write", e.into_error()))?
            .into_inner();
        file.sync_all().map_err(|e| io("write", e))?;
        std::fs::rename(&temp, path).map_err(|e| io("rename the temporary file to", e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Runs `f` on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CopyError> + Send + 'static,
) -> Result<T, CopyError> {
    crate::transfer::blocking("the copy", f).await?
}

/// A `docker save` tarball to copy into. See the module docs.
#[derive(Debug, Clone)]
pub struct DockerArchiveSink {
    path: PathBuf,
    tag: Option<Reference>,
    blobs: LayoutSink,
    staging: Arc<StagingDir>,
}

impl DockerArchiveSink {
    /// The tarball `path`, the image tagged `tag` in it. Blocking (creates the staging
    /// directory).
    pub fn open(path: &Path, tag: Option<&Reference>) -> Result<DockerArchiveSink, CopyError> {
        let location = format!("docker-archive:{}", path.display());
        let staging = StagingDir::create_in(&parent_of(path), &location)?;
        Ok(DockerArchiveSink {
            path: path.to_owned(),
            tag: tag.cloned(),
            blobs: LayoutSink::for_store(staging.content().clone(), location),
            staging: Arc::new(staging),
        })
    }

    /// Writes the tarball for the image manifest `bytes`. Blocking.
    fn write_archive(&self, descriptor: &Descriptor, bytes: &[u8]) -> Result<(), CopyError> {
        let location = ImageSink::location(self);
        let manifest = match Manifest::parse(&descriptor.media_type, bytes) {
            Ok(Manifest::Image(manifest)) => manifest,
            Ok(_) => {
                return Err(CopyError::Location {
                    input: location,
                    reason: "a docker-archive holds one image, not an index: choose a platform"
                        .to_owned(),
                })
            }
            Err(e) => {
                return Err(CopyError::Manifest {
                    digest: descriptor.digest.clone(),
                    source: Box::new(e),
                })
            }
        };
        let content: &ContentStore = self.staging.content();
        let config = content
            .read_to_vec_capped(&manifest.config.digest, MAX_CONFIG_SIZE as u64)
            .map_err(|e| CopyError::store(&location, "read the config", e))?;
        let config = ImageConfig::parse(&config).map_err(|source| CopyError::Archive {
            location: location.clone(),
            source: Box::new(ArchiveError::Config {
                name: manifest.config.digest.to_string(),
                source,
            }),
        })?;
        let diff_ids = config.diff_ids();
        let layers = manifest
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| ImageLayer {
                // A count that differs from the config's is refused by the writer.
                diff_id: diff_ids
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| layer.digest.clone()),
                digest: layer.digest.clone(),
                size: layer.size,
                media_type: layer.media_type.clone(),
            })
            .collect();
        let image = ArchiveImage {
            image_id: manifest.config.digest.clone(),
            layers,
            tags: self.tag.iter().cloned().collect(),
        };
        write_replacing(&location, &self.path, |out| {
            write_docker_archive(content, &[image], out)
        })
    }
}

impl ImageSink for DockerArchiveSink {
    fn location(&self) -> String {
        match &self.tag {
            Some(tag) => format!("docker-archive:{}:{}", self.path.display(), tag.familiar()),
            None => format!("docker-archive:{}", self.path.display()),
        }
    }

    fn tag(&self) -> Option<String> {
        self.tag
            .as_ref()
            .and_then(|t| t.tag().map(|t| t.as_str().to_owned()))
    }

    fn blobs(&self) -> &dyn BlobStore {
        &self.blobs
    }

    /// docker's format stores layers uncompressed (containers/image's docker-archive
    /// destination asks for them decompressed): compressing them on the way is refused.
    fn takes_compressed_layers(&self) -> bool {
        false
    }

    fn put_manifest<'a>(&'a self, manifest: &'a StoredManifest) -> CopyFuture<'a, ()> {
        if !manifest.root {
            return self.blobs.put_manifest(manifest);
        }
        let (sink, manifest) = (self.clone(), manifest.clone());
        Box::pin(blocking(move || {
            sink.write_archive(&manifest.descriptor, &manifest.bytes)
        }))
    }
}

/// A tarball of an OCI layout to copy into. See the module docs.
#[derive(Debug, Clone)]
pub struct OciArchiveSink {
    path: PathBuf,
    layout: LayoutSink,
    staging: Arc<StagingDir>,
}

impl OciArchiveSink {
    /// The tarball `path`, the root named `tag` in its `index.json`. Blocking (creates the
    /// staging layout).
    pub fn open(path: &Path, tag: Option<&str>) -> Result<OciArchiveSink, CopyError> {
        let location = format!("oci-archive:{}", path.display());
        let staging = StagingDir::create_in(&parent_of(path), &location)?;
        let layout = LayoutSink::open(staging.path(), tag)?;
        Ok(OciArchiveSink {
            path: path.to_owned(),
            layout,
            staging: Arc::new(staging),
        })
    }
}

impl ImageSink for OciArchiveSink {
    fn location(&self) -> String {
        match self.layout.tag() {
            Some(tag) => format!("oci-archive:{}:{tag}", self.path.display()),
            None => format!("oci-archive:{}", self.path.display()),
        }
    }

    fn tag(&self) -> Option<String> {
        self.layout.tag()
    }

    fn blobs(&self) -> &dyn BlobStore {
        &self.layout
    }

    fn put_manifest<'a>(&'a self, manifest: &'a StoredManifest) -> CopyFuture<'a, ()> {
        Box::pin(async move {
            self.layout.put_manifest(manifest).await?;
            if !manifest.root {
                return Ok(());
            }
            let (location, path) = (ImageSink::location(self), self.path.clone());
            let staging = Arc::clone(&self.staging);
            blocking(move || {
                write_replacing(&location, &path, |out| {
                    write_oci_layout(staging.path(), out)
                })
            })
            .await
        })
    }
}

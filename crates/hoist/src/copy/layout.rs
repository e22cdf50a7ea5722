//! An OCI image layout directory (`oci:PATH[:TAG]`) as an [`ImageSource`] and an
//! [`ImageSink`]: [`LayoutSource`], [`LayoutSink`].
//!
//! go-containerregistry's `layout` package; the `oci:` transport of skopeo and umoci
//! ([image-layout spec](https://github.com/opencontainers/image-spec/blob/main/image-layout.md)):
//! - **TAG** is the `org.opencontainers.image.ref.name` annotation of an `index.json` entry.
//!   Without one, a source must hold exactly one manifest (skopeo's rule), and a sink adds the
//!   root without a name.
//! - The **source** only reads (`index.json`, `blobs/<alg>/<hex>`): it never creates or locks
//!   anything in a directory it copies from. Manifests are verified against their digest here;
//!   blob bytes are verified by the sink. Every blob file is opened without following a
//!   symlink and must be a regular file (`blob_file`, issue 15's finding 4).
//! - The **sink** is a [`ContentStore`] opened on the directory — hoist's store *is* an OCI
//!   layout — so every blob goes through the store's ingest: hashed as written, renamed into
//!   `blobs/` only when the digest matches, resumed from what an interrupted attempt left.
//!   `oci-layout` and `index.json` are created if missing and replaced atomically; an entry
//!   with the same name is replaced (the tag moves, as with `skopeo copy`). The store also
//!   leaves its `ingest/` directory and `index.json.lock` beside them, which OCI readers
//!   ignore.
//!
//! [`super::StoreSource`] reads the local store the same way, resolving a reference through the
//! metadata store instead of `index.json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use serde::Deserialize;

use super::blob_file::{read_manifest_file, read_small_file, stream_blob_file};
use super::sink::{BlobWriter, ImageSink};
use super::source::{BlobStream, ImageSource};
use super::CopyError;
use crate::digest::Digest;
use crate::media::Descriptor;
use crate::progress::{ProgressSink, PushReporter};
use crate::store::layout::{BLOBS_DIR, INDEX_FILE, OCI_LAYOUT_FILE, REF_NAME_ANNOTATION};
use crate::store::{ContentStore, IndexEntry, Ingest, StoreError};

/// Bytes gathered from the source before one blocking write into the ingest.
const WRITE_BATCH: usize = 1 << 20;

/// An OCI layout directory to copy from.
#[derive(Debug, Clone)]
pub struct LayoutSource {
    root: PathBuf,
    tag: Option<String>,
}

#[derive(Deserialize)]
struct IndexFile {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

impl LayoutSource {
    /// The layout at `root`, image `tag` (or its only image).
    pub fn new(root: &Path, tag: Option<&str>) -> LayoutSource {
        LayoutSource {
            root: root.to_owned(),
            tag: tag.map(str::to_owned),
        }
    }

    fn io(&self, action: &'static str, path: &Path, source: std::io::Error) -> CopyError {
        CopyError::Io {
            location: ImageSource::location(self),
            action,
            path: path.display().to_string(),
            source,
        }
    }

    async fn resolve_inner(&self) -> Result<Descriptor, CopyError> {
        let location = ImageSource::location(self);
        let missing = || CopyError::NotFound {
            location: location.clone(),
            reference: self
                .tag
                .clone()
                .unwrap_or_else(|| "(the only image)".into()),
            source: None,
        };
        let marker = self.root.join(OCI_LAYOUT_FILE);
        if !tokio::fs::try_exists(&marker).await.unwrap_or(false) {
            return Err(CopyError::Location {
                input: location.clone(),
                reason: format!(
                    "{} is not an OCI layout (no {OCI_LAYOUT_FILE})",
                    self.root.display()
                ),
            });
        }
        let path = self.root.join(INDEX_FILE);
        let bytes = read_small_file(&location, &path).await?;
        let index: IndexFile = serde_json::from_slice(&bytes).map_err(|e| {
            self.io(
                "parse",
                &path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        match &self.tag {
            Some(tag) => index
                .manifests
                .into_iter()
                .find(|d| d.annotations.get(REF_NAME_ANNOTATION) == Some(tag))
                .ok_or_else(missing),
            None if index.manifests.len() == 1 => {
                index.manifests.into_iter().next().ok_or_else(missing)
            }
            None if index.manifests.is_empty() => Err(missing()),
            None => Err(CopyError::Location {
                input: location.clone(),
                reason: format!(
                    "the layout holds {} images: name one with oci:PATH:TAG",
                    index.manifests.len()
                ),
            }),
        }
    }
}

impl ImageSource for LayoutSource {
    fn location(&self) -> String {
        match &self.tag {
            Some(tag) => format!("oci:{}:{tag}", self.root.display()),
            None => format!("oci:{}", self.root.display()),
        }
    }

    fn resolve(&self) -> BoxFuture<'_, Result<Descriptor, CopyError>> {
        Box::pin(self.resolve_inner())
    }

    fn manifest<'a>(
        &'a self,
        descriptor: &'a Descriptor,
    ) -> BoxFuture<'a, Result<Bytes, CopyError>> {
        Box::pin(read_manifest(
            self.root.clone(),
            ImageSource::location(self),
            descriptor,
        ))
    }

    fn open_blob<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        offset: u64,
    ) -> BoxFuture<'a, Result<BlobStream, CopyError>> {
        Box::pin(open_blob_file(
            self.root.clone(),
            ImageSource::location(self),
            descriptor.digest.clone(),
            offset,
        ))
    }
}

/// `blobs/<alg>/<hex>` under `root`.
pub(crate) fn blob_path(root: &Path, digest: &Digest) -> PathBuf {
    root.join(BLOBS_DIR)
        .join(digest.algorithm().as_str())
        .join(digest.hex())
}

/// A manifest blob of the layout at `root`, capped and verified against its digest (a
/// symlink or any other non-regular file is refused: see `blob_file`).
pub(crate) async fn read_manifest(
    root: PathBuf,
    location: String,
    descriptor: &Descriptor,
) -> Result<Bytes, CopyError> {
    read_manifest_file(location, &blob_path(&root, &descriptor.digest), descriptor).await
}

/// The blob file `digest` of the layout at `root` from `offset` (a regular file only).
pub(crate) async fn open_blob_file(
    root: PathBuf,
    location: String,
    digest: Digest,
    offset: u64,
) -> Result<BlobStream, CopyError> {
    stream_blob_file(location, &blob_path(&root, &digest), offset).await
}

/// An OCI layout directory to copy into (created if missing). See the module docs.
#[derive(Debug, Clone)]
pub struct LayoutSink {
    content: ContentStore,
    tag: Option<String>,
    /// The location shown in messages instead of `oci:ROOT[:TAG]` (the store sink's).
    label: Option<String>,
}

impl LayoutSink {
    /// Opens (creating if needed) the layout at `root`; the root is stored as `tag`. Blocks
    /// (file system): call it before entering async code or from a blocking thread.
    pub fn open(root: &Path, tag: Option<&str>) -> Result<LayoutSink, CopyError> {
        let content = ContentStore::open(root).map_err(|e| {
            CopyError::store(&format!("oci:{}", root.display()), "open the layout", e)
        })?;
        Ok(LayoutSink {
            content,
            tag: tag.map(str::to_owned),
            label: None,
        })
    }

    /// The blob half of the local store's sink ([`super::StoreSink`]): blobs into `content`
    /// through its ingest, manifests by digest, nothing in `index.json` (the store's
    /// references are kept by its metadata store); `label` names it in messages.
    pub(crate) fn for_store(content: ContentStore, label: String) -> LayoutSink {
        LayoutSink {
            content,
            tag: None,
            label: Some(label),
        }
    }

    /// The content store the blobs go to.
    pub(crate) fn content(&self) -> &ContentStore {
        &self.content
    }

    async fn blocking<T: Send + 'static>(
        &self,
        action: String,
        f: impl FnOnce(&ContentStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, CopyError> {
        let content = self.content.clone();
        tokio::task::spawn_blocking(move || f(&content))
            .await
            .map_err(|e| CopyError::Interrupted {
                reason: e.to_string(),
            })?
            .map_err(|e| CopyError::store(&ImageSink::location(self), action, e))
    }
}

impl ImageSink for LayoutSink {
    fn location(&self) -> String {
        if let Some(label) = &self.label {
            return label.clone();
        }
        let root = self.content.root().display();
        match &self.tag {
            Some(tag) => format!("oci:{root}:{tag}"),
            None => format!("oci:{root}"),
        }
    }

    fn tag(&self) -> Option<String> {
        self.tag.clone()
    }

    fn has_blob<'a>(
        &'a self,
        descriptor: &'a Descriptor,
    ) -> BoxFuture<'a, Result<bool, CopyError>> {
        let digest = descriptor.digest.clone();
        Box::pin(self.blocking(format!("check blob {digest}"), move |c| c.has(&digest)))
    }

    fn blob_writer(&self, descriptor: &Descriptor) -> Box<dyn BlobWriter> {
        Box::new(LayoutBlobWriter {
            sink: self.clone(),
            descriptor: descriptor.clone(),
        })
    }

    fn put_manifest<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        bytes: Bytes,
        root: bool,
    ) -> BoxFuture<'a, Result<(), CopyError>> {
        let entry = root.then(|| IndexEntry {
            media_type: descriptor.media_type.clone(),
            digest: descriptor.digest.clone(),
            size: descriptor.size,
            ref_name: self.tag.clone(),
        });
        let digest = descriptor.digest.clone();
        Box::pin(
            self.blocking(format!("store manifest {digest}"), move |content| {
                content.write_blob(&digest, &bytes)?;
                if let Some(entry) = entry {
                    content.index_add(&entry)?;
                }
                Ok(())
            }),
        )
    }
}

/// Writes one blob into the layout through an ingest (resumed across attempts by the store).
struct LayoutBlobWriter {
    sink: LayoutSink,
    descriptor: Descriptor,
}

impl LayoutBlobWriter {
    async fn attempt(
        &self,
        source: &dyn ImageSource,
        progress: Option<&Arc<dyn ProgressSink>>,
    ) -> Result<(), CopyError> {
        let (digest, size) = (self.descriptor.digest.clone(), self.descriptor.size);
        let action = format!("write blob {digest}");
        let ingest = self
            .sink
            .blocking(action.clone(), move |c| c.begin(&digest, Some(size)))
            .await?;
        if ingest.is_present() {
            return Ok(());
        }
        let mut reporter =
            PushReporter::new(progress, &self.descriptor.digest, self.descriptor.size);
        let mut offset = ingest.offset();
        // A process killed after the last byte and before the commit left every byte: there
        // is nothing to fetch (a registry answers a `Range` from the end with 416), only to
        // verify and commit.
        let mut stream: BlobStream = if size > 0 && offset >= size {
            Box::pin(futures_util::stream::empty())
        } else {
            source.open_blob(&self.descriptor, offset).await?
        };
        let mut ingest = Some(ingest);
        let mut batch = BytesMut::new();
        let mut ended = false;
        while !ended {
            // Network chunks are small: write them in batches, one blocking call each.
            let next = stream.next().await;
            match next {
                Some(Ok(chunk)) => batch.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    // What arrived before the failure is kept for the next attempt.
                    if let Some(current) = ingest.take() {
                        let pending = batch.split().freeze();
                        let _ = self
                            .sink
                            .blocking(action.clone(), move |_| write_chunk(current, &pending))
                            .await;
                    }
                    return Err(e);
                }
                None => ended = true,
            }
            if batch.len() < WRITE_BATCH && !ended {
                continue;
            }
            let (Some(current), pending) = (ingest.take(), batch.split().freeze()) else {
                break;
            };
            offset += pending.len() as u64;
            ingest = Some(
                self.sink
                    .blocking(action.clone(), move |_| write_chunk(current, &pending))
                    .await?,
            );
            reporter.report(offset);
        }
        let Some(ingest) = ingest else {
            return Err(CopyError::Interrupted {
                reason: format!("{action}: the ingest was lost"),
            });
        };
        if offset < size {
            // Dropped, the ingest keeps its bytes for the next attempt to resume.
            drop(ingest);
            return Err(CopyError::Interrupted {
                reason: format!(
                    "{}: blob {} ended after {offset} of {size} bytes",
                    source.location(),
                    self.descriptor.digest
                ),
            });
        }
        // The store checks size and digest before the rename into blobs/.
        self.sink
            .blocking(action, move |_| ingest.commit().map(|_| ()))
            .await
    }
}

fn write_chunk(mut ingest: Ingest, chunk: &[u8]) -> Result<Ingest, StoreError> {
    ingest.write_chunk(chunk)?;
    Ok(ingest)
}

impl BlobWriter for LayoutBlobWriter {
    fn write<'a>(
        &'a mut self,
        source: &'a dyn ImageSource,
        progress: Option<&'a Arc<dyn ProgressSink>>,
    ) -> BoxFuture<'a, Result<(), CopyError>> {
        Box::pin(self.attempt(source, progress))
    }
}

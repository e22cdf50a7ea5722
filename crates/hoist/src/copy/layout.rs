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
//! metadata store instead of `index.json`. Both keep referrers (OCI 1.1) as untagged
//! `index.json` entries, as oras does (`layout_referrers`).

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::Deserialize;

use super::blob_file::{read_manifest_file, read_small_file, stream_blob_file};
use super::layout_referrers::{layout_referrers, record_in_layout, without_referrers};
use super::layout_signatures::LayoutSignatures;
use super::sink::{
    BlobInput, BlobStore, BlobWriter, DynBlobWriter, ImageSink, Progress, StoredManifest,
};
use super::source::{BlobStream, CopyFuture, ImageSource};
use super::CopyError;
use crate::digest::Digest;
use crate::media::Descriptor;
use crate::progress::{PushReporter, Wording};
use crate::store::layout::{BLOBS_DIR, INDEX_FILE, OCI_LAYOUT_FILE, REF_NAME_ANNOTATION};
use crate::store::{BlobInfo, ContentStore, IndexEntry, Ingest, Spool, StoreError};
use crate::transfer::blocking;
use crate::trust::sigstore::SignatureHome;

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
        let mut manifests = index.manifests;
        if self.tag.is_none() && manifests.len() > 1 {
            // Referrers (untagged entries with a subject) are not images of their own.
            manifests = without_referrers(self.root.clone(), &location, manifests).await?;
        }
        match &self.tag {
            Some(tag) => manifests
                .into_iter()
                .find(|d| d.annotations.get(REF_NAME_ANNOTATION) == Some(tag))
                .ok_or_else(missing),
            None if manifests.len() == 1 => manifests.into_iter().next().ok_or_else(missing),
            None if manifests.is_empty() => Err(missing()),
            None => Err(CopyError::Location {
                input: location.clone(),
                reason: format!(
                    "the layout holds {} images: name one with oci:PATH:TAG",
                    manifests.len()
                ),
            }),
        }
    }
}

impl LayoutFiles for LayoutSource {
    fn describe(&self) -> String {
        match &self.tag {
            Some(tag) => format!("oci:{}:{tag}", self.root.display()),
            None => format!("oci:{}", self.root.display()),
        }
    }

    fn layout_root(&self) -> PathBuf {
        self.root.clone()
    }

    fn resolve_root(&self) -> CopyFuture<'_, Descriptor> {
        Box::pin(self.resolve_inner())
    }
}

/// A source whose manifests and blobs are the files of an OCI layout — an `oci:` directory
/// ([`LayoutSource`]) or the local store ([`super::StoreSource`]) — and differ only in how
/// they resolve the reference they were opened with. Every one is an [`ImageSource`] that
/// reads `blobs/<alg>/<hex>` (manifests verified against their digest, regular files only).
pub trait LayoutFiles: Send + Sync {
    /// The source as the user wrote it ([`ImageSource::location`]).
    fn describe(&self) -> String;
    /// The layout's root directory.
    fn layout_root(&self) -> PathBuf;
    /// The image the source was opened with ([`ImageSource::resolve`]).
    fn resolve_root(&self) -> CopyFuture<'_, Descriptor>;
}

impl<T: LayoutFiles> ImageSource for T {
    fn location(&self) -> String {
        self.describe()
    }

    fn resolve(&self) -> CopyFuture<'_, Descriptor> {
        self.resolve_root()
    }

    fn manifest<'a>(&'a self, descriptor: &'a Descriptor) -> CopyFuture<'a, Bytes> {
        Box::pin(read_manifest(
            self.layout_root(),
            self.describe(),
            descriptor,
        ))
    }

    fn open_blob<'a>(&'a self, descriptor: &'a Descriptor, at: u64) -> CopyFuture<'a, BlobStream> {
        let digest = descriptor.digest.clone();
        Box::pin(open_blob_file(
            self.layout_root(),
            self.describe(),
            digest,
            at,
        ))
    }

    fn blob_file(&self, descriptor: &Descriptor) -> Result<Option<PathBuf>, CopyError> {
        Ok(Some(blob_path(&self.layout_root(), &descriptor.digest)))
    }

    fn referrers<'a>(
        &'a self,
        subject: &'a Descriptor,
        artifact_type: Option<&'a str>,
    ) -> CopyFuture<'a, Vec<Descriptor>> {
        Box::pin(layout_referrers(
            self.layout_root(),
            self.describe(),
            subject,
            artifact_type,
        ))
    }

    fn signatures(&self) -> Option<Box<dyn SignatureHome>> {
        let home = LayoutSignatures::reading(self.layout_root(), self.describe());
        Some(Box::new(home))
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
    /// The words of its byte counts: `Pushing`, or `Downloading` in the local store.
    wording: Wording,
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
            wording: Wording::Push,
        })
    }

    /// The blob half of a sink that keeps blobs in a content store of its own (the local
    /// store, a staging directory): blobs into `content` through its ingest, manifests by
    /// digest, nothing in `index.json`; `label` names it in messages.
    pub(crate) fn for_store(content: ContentStore, label: String) -> LayoutSink {
        LayoutSink {
            content,
            tag: None,
            label: Some(label),
            wording: Wording::Push,
        }
    }

    /// Counts bytes in `wording`'s words (the local store: `Downloading`).
    pub(crate) fn speaking(mut self, wording: Wording) -> LayoutSink {
        self.wording = wording;
        self
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
        blocking("the copy", move || f(&content))
            .await?
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

    fn blobs(&self) -> &dyn BlobStore {
        self
    }

    fn put_manifest<'a>(&'a self, manifest: &'a StoredManifest) -> CopyFuture<'a, ()> {
        let d = &manifest.descriptor;
        let entry = manifest.root.then(|| IndexEntry {
            media_type: d.media_type.clone(),
            digest: d.digest.clone(),
            size: d.size,
            ref_name: self.tag.clone(),
        });
        let (digest, bytes) = (d.digest.clone(), manifest.bytes.clone());
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

    fn holds_referrers(&self) -> bool {
        true
    }

    fn signatures(&self) -> Option<Box<dyn SignatureHome>> {
        let location = ImageSink::location(self);
        let home = LayoutSignatures::writing(self.content.clone(), location);
        Some(Box::new(home))
    }

    fn put_referrer<'a>(
        &'a self,
        manifest: &'a StoredManifest,
        _subject: &'a Descriptor,
    ) -> CopyFuture<'a, ()> {
        let (descriptor, bytes) = (manifest.descriptor.clone(), manifest.bytes.clone());
        Box::pin(self.blocking(
            format!("store referrer {}", descriptor.digest),
            move |content| record_in_layout(content, &descriptor, &bytes),
        ))
    }
}

impl BlobStore for LayoutSink {
    fn has_blob<'a>(&'a self, descriptor: &'a Descriptor) -> CopyFuture<'a, bool> {
        let digest = descriptor.digest.clone();
        Box::pin(self.blocking(format!("check blob {digest}"), move |c| c.has(&digest)))
    }

    fn blob_writer(&self, _: &dyn BlobInput) -> Box<dyn DynBlobWriter> {
        Box::new(LayoutBlobWriter { sink: self.clone() })
    }
}

/// Writes one blob into the layout: a blob of known digest through an ingest (resumed across
/// attempts by the store), a compressed layer through a spool committed under the digest its
/// bytes have (written again from the start by each attempt).
struct LayoutBlobWriter {
    sink: LayoutSink,
}

/// Where the bytes go.
enum Target {
    Ingest(Ingest),
    // Boxed: a spool carries its hasher's state.
    Spool(Box<Spool>),
}

impl Target {
    fn offset(&self) -> u64 {
        match self {
            Target::Ingest(ingest) => ingest.offset(),
            Target::Spool(_) => 0,
        }
    }

    /// Blocking.
    fn write(mut self, chunk: &[u8]) -> Result<Target, StoreError> {
        match &mut self {
            Target::Ingest(ingest) => ingest.write_chunk(chunk)?,
            Target::Spool(spool) => spool.write_chunk(chunk)?,
        }
        Ok(self)
    }

    /// Blocking. The store checks size and digest before the rename into `blobs/`.
    fn commit(self) -> Result<BlobInfo, StoreError> {
        match self {
            Target::Ingest(ingest) => ingest.commit(),
            Target::Spool(spool) => spool.commit(),
        }
    }
}

impl LayoutBlobWriter {
    async fn target(
        &self,
        input: &dyn BlobInput,
        action: &str,
    ) -> Result<Option<Target>, CopyError> {
        let Some(known) = input.descriptor() else {
            let spool = self.sink.blocking(action.to_owned(), |c| c.spool()).await?;
            return Ok(Some(Target::Spool(Box::new(spool))));
        };
        let (digest, size) = (known.digest.clone(), known.size);
        let ingest = self
            .sink
            .blocking(action.to_owned(), move |c| c.begin(&digest, Some(size)))
            .await?;
        Ok((!ingest.is_present()).then_some(Target::Ingest(ingest)))
    }

    async fn put(&self, action: &str, target: Target, chunk: Bytes) -> Result<Target, CopyError> {
        self.sink
            .blocking(action.to_owned(), move |_| target.write(&chunk))
            .await
    }
}

impl BlobWriter for LayoutBlobWriter {
    async fn write(
        &mut self,
        input: &dyn BlobInput,
        progress: Progress<'_>,
    ) -> Result<Descriptor, CopyError> {
        let action = format!("write blob {}", input.id());
        let Some(target) = self.target(input, &action).await? else {
            // Present already; only a blob of known digest can be.
            return input
                .descriptor()
                .cloned()
                .ok_or(CopyError::interrupted(format!(
                    "{action}: the blob was lost"
                )));
        };
        let measure = input.measure();
        let mut reporter =
            PushReporter::new(progress, input.id(), measure.total()).worded(self.sink.wording);
        let mut offset = target.offset();
        // A process killed after the last byte and before the commit left every byte: there
        // is nothing to fetch (a registry answers a `Range` from the end with 416), only to
        // verify and commit.
        let complete = input
            .descriptor()
            .is_some_and(|d| d.size > 0 && offset >= d.size);
        let mut stream: BlobStream = if complete {
            Box::pin(futures_util::stream::empty())
        } else {
            input.open(offset).await?
        };
        let mut target = Some(target);
        let mut batch = BytesMut::new();
        let mut ended = false;
        while !ended {
            // Network chunks are small: write them in batches, one blocking call each.
            match stream.next().await {
                Some(Ok(chunk)) => batch.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    // What arrived before the failure is kept for the next attempt.
                    if let Some(current @ Target::Ingest(_)) = target.take() {
                        let _ = self.put(&action, current, batch.split().freeze()).await;
                    }
                    return Err(e);
                }
                None => ended = true,
            }
            if batch.len() < WRITE_BATCH && !ended {
                continue;
            }
            let (Some(current), pending) = (target.take(), batch.split().freeze()) else {
                break;
            };
            offset += pending.len() as u64;
            target = Some(self.put(&action, current, pending).await?);
            reporter.report(measure.at(offset));
        }
        let Some(target) = target else {
            return Err(CopyError::interrupted(format!(
                "{action}: the ingest was lost"
            )));
        };
        if let Some(size) = input
            .descriptor()
            .map(|d| d.size)
            .filter(|size| offset < *size)
        {
            // Dropped, the ingest keeps its bytes for the next attempt to resume.
            drop(target);
            return Err(CopyError::interrupted(format!(
                "{}: blob {} ended after {offset} of {size} bytes",
                input.location(),
                input.id()
            )));
        }
        let info = self.sink.blocking(action, move |_| target.commit()).await?;
        Ok(Descriptor::new(input.media_type(), info.digest, info.size))
    }
}

//! Copy: one generic function that moves an image (an index with all its platforms, or one
//! manifest) from any [`ImageSource`] to any [`ImageSink`], verified, without the local
//! store in between (the store is one more source and sink: [`StoreSource`], [`StoreSink`]).
//!
//! DESIGN.md principle 3 ("sources and sinks share traits"), modelled on go-containerregistry's
//! `pkg/v1`: one small read interface ([`ImageSource`]: resolve, manifest bytes, blob stream)
//! and one small write interface ([`ImageSink`]: find blob, blob writer, put manifest),
//! so copying between any two is [`copy`]. Principle 1 ("descriptors drive everything"): the
//! walk over the descriptor graph is [`walk::plan`], and `copy` is its handler.
//!
//! # Parts
//! | file | owns |
//! |------|------|
//! | `source`, `sink` | the traits |
//! | `walk` | the descriptor graph ⇒ blobs and manifests in sink order |
//! | `remote`, `remote_upload`, `remote_compress` | [`RegistryImage`] (source and sink), its streaming blob upload, and its upload compressing a layer |
//! | `convert` | layers compressed on the way: media types, manifests rewritten |
//! | `layout` | [`LayoutSource`], [`LayoutSink`]: `oci:PATH[:TAG]` directories |
//! | `archive_source`, `archive_sink` | [`ArchiveSource`], [`DockerArchiveSink`], [`OciArchiveSink`]: `docker-archive:` and `oci-archive:` tarballs, on [`crate::archive`]'s formats |
//! | `load` | [`load_archive`]: `hoist load`, every image of an archive copied into a [`StoreSink`] |
//! | `dir` | [`DirSource`], [`DirSink`]: skopeo's `dir:PATH` directories |
//! | `staging` | the private content store file transports write blobs through |
//! | `blob_file` | opening blob files of directories: regular files only, symlinks never followed |
//! | `store` | [`StoreSource`]: the local store by reference; [`complete_index`] |
//! | `store_sink`, `store_layer`, `store_record` | [`StoreSink`]: the local store as a destination, layers streamed in one pass, images recorded as pull records them |
//! | `location` | [`ImageLocation`]: `docker://REF`, bare `REF`, `oci:PATH[:TAG]`, `hoist:REF`, `dir:PATH`, `docker-archive:PATH[:REF]`, `oci-archive:PATH[:TAG]` |
//! | `error` | [`CopyError`] |
//!
//! # What [`copy`] does
//! 1. Reads every manifest under the root from the source, verifying each against its
//!    descriptor (digest and size). All platforms of an index by default, like `skopeo copy
//!    --all` and `crane copy`; with [`CopyOptions::platform`] the best matching manifest alone
//!    becomes the root (docker's platform matching).
//! 2. Blobs, each once, through the [`UploadManager`] (bounded concurrency, 5 by default;
//!    retries with backoff; docker's `Preparing`, `Waiting`, `Retrying in N seconds`): the
//!    layers, then the configs (docker's push sends the config after the layers, so a refusal
//!    stops the copy at the first layer). Each the cheapest way ([`ImageSink::find_blob`]):
//!    already in the sink ⇒ `Layer already exists`; mounted from another repository of the
//!    same registry ⇒ `Mounted from R` (by default from the source's repository; a sink with
//!    its own knowledge — push — picks its own candidates); else its bytes are streamed from
//!    the source to the sink's [`BlobWriter`] (`Pushing`, `Pushed`), never held whole. Config
//!    blobs get no progress line, as in `docker push`; lines are named by
//!    [`ImageSource::progress_id`] (the digest; push: the layer's diffID). The words are the
//!    sink's ([`ImageSink::wording`]): a sink speaking [`Wording::Pull`] (the local store)
//!    gets docker's pull lines instead — every layer it lacks announced `Pulling fs layer`
//!    and every layer it holds `Already exists` before any waits for a slot, its writer's
//!    `Downloading`, `Verifying Checksum`, `Download complete`, then `Pull complete`.
//! 3. With [`CopyOptions::compression`] (skopeo's `--dest-compress`, see `convert`),
//!    uncompressed layers are compressed on the way: a compressed blob the source already
//!    holds ([`ImageSource::compressed_blob`]) goes as any blob; otherwise the sink compresses
//!    while receiving ([`ImageSink::compressing_writer`]; a sink that cannot fails the copy
//!    with [`CopyError::CannotCompress`] before any manifest is written). Once every blob is
//!    in, the manifests naming those layers are rewritten (zstd ⇒ OCI), then the indexes naming
//!    rewritten manifests; [`CopyOutcome::converted`] and [`CopyOutcome::rewritten`] say what
//!    changed.
//! 4. Manifests, children before parents, each only after everything it names is in the
//!    sink; the root last, under the sink's tag. Then docker's line `TAG: digest: D size: N`.
//!
//! # Invariants
//! - A sink never holds a manifest whose blobs or child manifests are missing (order of step
//!   4, and step 4 starts only when every blob of steps 2–3 succeeded: the first failure stops
//!   the copy, as docker's push does).
//! - Every byte is verified: manifests by the walker; blobs by the sink's writer (the layout's
//!   ingest, the registry writer's running hash), before they become visible.
//! - Nothing is written to the sink before the source resolved and every manifest was read:
//!   a missing tag or an unreadable manifest leaves the destination untouched.
//!
//! # Which operations go through `copy`
//! - `hoist copy`: yes, for every pair of `docker://`, `oci:`, `dir:`, `docker-archive:`,
//!   `oci-archive:` and `hoist:` locations. Compression (`--dest-compress`) into a registry
//!   ([`RegistryImage`]: `remote_compress`); the other sinks do not compress and refuse it.
//! - `load`: yes ([`load_archive`]): each image of the archive is copied from its
//!   [`ArchiveSource`] into a [`StoreSink`], so a loaded image is recorded by the same code
//!   as a pulled or copied one.
//! - `save`: writes with the same writer as the docker-archive sink
//!   ([`crate::archive::write_docker_archive`]), but from the store's image records rather
//!   than through `copy`: what docker's `save` writes is what the image record says (its
//!   layers as recorded, checked against the config's diffIDs while written), and a record
//!   whose blobs do not match fails the save instead of silently writing the manifest's.
//!   `hoist copy hoist:REF docker-archive:F` goes through `copy` and writes the same bytes.
//! - registry → store and layout → store (`hoist copy docker://R/app:v1 hoist:app:v1`,
//!   `hoist copy oci:DIR:v1 hoist:app:v1`, e.g. to import an image on an air-gapped site):
//!   yes, into [`StoreSink`], which streams each layer in one pass (fetch → sha256 →
//!   decompress → diffID → untar, `store_layer`), speaks docker's pull statuses, and records
//!   what it received exactly as `hoist pull` does (image records, tag, digest references,
//!   blob sources, diffIDs checked against the config, layers unpacked) with pull's own
//!   recording code; an index copied whole is recorded as `hoist pull --all-platforms` does,
//!   so [`complete_index`] holds for it. From a registry, the store is left as `hoist pull`
//!   leaves it and the per-layer lines are pull's (`tests/pull_copy_parity.rs`).
//! - store → registry or layout (`hoist copy hoist:app:v1 oci:DIR:v1`): yes, from
//!   [`StoreSource`].
//! - `push`: yes. [`crate::push`] copies from its source adapter (the store, layers named by
//!   diffID, compressed blobs kept by earlier pushes) to its sink adapter (a
//!   [`RegistryImage`] plus docker's v2 metadata: blobs confirmed earlier in the run, `HEAD`
//!   on digests known in the repository, ranked and budgeted mount candidates, recording what
//!   was confirmed with the credentials' HMAC, compressing uncompressed layers while uploading
//!   and keeping the result). A whole pulled index (`--all-platforms`) is a root like any
//!   other, found with [`complete_index`].
//! - `pull`: yes. [`crate::pull`] chooses the tags and the platform, reads the manifests
//!   (schema 1 conversion, the up-to-date shortcut and docker's statuses are its own), then
//!   copies each image manifest from the registry into a [`StoreSink`] opened for it (the
//!   image recorded with the index it came from; pull records the references itself), with
//!   docker's download concurrency and no closing digest line
//!   ([`CopyOptions::without_digest_line`]); a schema 1 image's layers go through
//!   [`copy_layers`], the blob half of [`copy`].

pub mod archive_sink;
pub mod archive_source;
mod blob_file;
mod convert;
pub mod dir;
mod error;
pub mod layout;
pub mod load;
pub mod location;
pub mod remote;
pub mod remote_compress;
pub(crate) mod remote_upload;
pub mod sink;
pub mod source;
mod staging;
pub mod store;
mod store_layer;
mod store_record;
pub mod store_sink;
pub mod walk;

use std::sync::Arc;

use bytes::Bytes;

pub use archive_sink::{DockerArchiveSink, OciArchiveSink};
pub use archive_source::{Archive, ArchiveEntry, ArchiveFormat, ArchiveSource};
pub use convert::{
    compressed_layer_type, compressed_media_type, needs_compression, oci_layer_type, pushes_as_oci,
    Rewritten,
};
pub use dir::{DirSink, DirSource};
pub use error::CopyError;
pub use layout::{LayoutSink, LayoutSource};
pub use load::load_archive;
pub use location::{ArchiveImage, ImageLocation};
pub use remote::RegistryImage;
pub use sink::{BlobWriter, CompressingWriter, Found, ImageSink};
pub use source::{BlobStream, ImageSource};
pub use store::{complete_index, tagged_index, CompleteIndex, IndexCheckError, StoreSource};
pub use store_sink::StoreSink;
pub use walk::{plan, Plan};

use crate::digest::Digest;
use crate::media::{Descriptor, Platform};
use crate::progress::{short_id, ChannelProgress, ProgressEvent, ProgressSink, Status, Wording};
use crate::pull::forward_until_done;
use crate::transfer::{Compression, UploadConfig, UploadJob, UploadManager};

/// How to copy.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// Copy only the manifest of this platform from an index (`--platform`); `None` copies
    /// every platform and the index itself.
    pub platform: Option<Platform>,
    /// Concurrency (default 5 blobs at once), attempts and backoff.
    pub upload: UploadConfig,
    /// Compress uncompressed layers on the way (skopeo's `--dest-compress`; see `convert`):
    /// [`Compression::Gzip`] or [`Compression::Zstd`] (which makes those manifests OCI).
    /// [`Compression::None`] (default) copies every layer as it is.
    pub compression: Compression,
    /// Threads compressing one layer; 0 (default) means every core. The compressed bytes do
    /// not depend on it.
    pub compression_workers: usize,
    /// Leave out docker's closing `TAG: digest: D size: N` line (`hoist pull` prints its own
    /// `Digest: D` and `Status: …` lines instead).
    pub without_digest_line: bool,
}

/// What one [`copy`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOutcome {
    /// The root now in the sink (under its tag, if it has one).
    pub root: Descriptor,
    /// Manifests stored (the root included).
    pub manifests: usize,
    /// Blobs whose bytes were sent.
    pub copied: usize,
    /// Blobs mounted from the source repository.
    pub mounted: usize,
    /// Blobs the sink already had.
    pub existing: usize,
    /// Layers compressed on the way ([`CopyOptions::compression`]): the layer as the source
    /// holds it ⇒ the compressed blob the sink now has (digest and size).
    pub converted: Vec<(Descriptor, Descriptor)>,
    /// Manifests rewritten to name compressed layers (or rewritten children), children
    /// first; the root among them when it was rewritten.
    pub rewritten: Vec<Rewritten>,
}

/// Copies the image `root` (from [`ImageSource::resolve`]) from `source` to `sink`. See the
/// module docs. Progress events reach `progress` from the calling task, in order.
pub async fn copy(
    source: &dyn ImageSource,
    sink: &dyn ImageSink,
    root: &Descriptor,
    options: &CopyOptions,
    progress: &dyn ProgressSink,
) -> Result<CopyOutcome, CopyError> {
    let (channel, events) = ChannelProgress::new();
    let work = copy_graph(source, sink, root, options, Arc::new(channel));
    forward_until_done(work, events, progress).await
}

async fn copy_graph(
    source: &dyn ImageSource,
    sink: &dyn ImageSink,
    root: &Descriptor,
    options: &CopyOptions,
    progress: Arc<dyn ProgressSink>,
) -> Result<CopyOutcome, CopyError> {
    let plan = walk::plan(source, root, options.platform.as_ref()).await?;
    let uploads = UploadManager::new(options.upload.clone());
    let done = send_blobs(source, sink, &plan.blobs, options, &uploads, &progress).await?;
    let count = |kind: BlobResult| done.iter().filter(|(d, _)| *d == kind).count();
    let converted: Vec<(Descriptor, Descriptor)> =
        done.iter().filter_map(|(_, c)| c.clone()).collect();

    let (manifests, rewritten) = if converted.is_empty() {
        (plan.manifests.clone(), Vec::new())
    } else {
        let by_digest = converted
            .iter()
            .map(|(old, new)| (old.digest.clone(), new.clone()))
            .collect();
        convert::rewrite_manifests(&plan.manifests, &by_digest, options.compression)?
    };
    let root = match manifests.last() {
        Some((descriptor, _)) => descriptor.clone(),
        None => plan.root.clone(),
    };
    let last = manifests.len().saturating_sub(1);
    for (i, (descriptor, bytes)) in manifests.iter().enumerate() {
        let job = ManifestJob {
            sink,
            descriptor,
            bytes: bytes.clone(),
            root: i == last,
        };
        uploads.run(job, &*progress).await?;
    }
    if !options.without_digest_line {
        let line = match sink.tag() {
            Some(tag) => format!("{tag}: digest: {} size: {}", root.digest, root.size),
            None => format!("digest: {} size: {}", root.digest, root.size),
        };
        progress.emit(ProgressEvent::message("", line));
    }
    Ok(CopyOutcome {
        root,
        manifests: manifests.len(),
        copied: count(BlobResult::Copied),
        mounted: count(BlobResult::Mounted),
        existing: count(BlobResult::Existing),
        converted,
        rewritten,
    })
}

/// The blob half of [`copy`], for an image whose manifest is made only after its layers
/// arrived (pull's Docker schema 1 conversion): `layers` from `source` into `sink`, each
/// once, scheduled, retried and worded as [`copy`] does; no manifest is written.
pub async fn copy_layers(
    source: &dyn ImageSource,
    sink: &dyn ImageSink,
    layers: &[Descriptor],
    options: &CopyOptions,
    progress: &dyn ProgressSink,
) -> Result<(), CopyError> {
    let (channel, events) = ChannelProgress::new();
    let blobs: Vec<(Descriptor, bool)> = layers.iter().map(|d| (d.clone(), false)).collect();
    let uploads = UploadManager::new(options.upload.clone());
    let progress_arc: Arc<dyn ProgressSink> = Arc::new(channel);
    let work = send_blobs(source, sink, &blobs, options, &uploads, &progress_arc);
    forward_until_done(work, events, progress).await.map(drop)
}

/// Every blob of `blobs` (with whether it is a config) into the sink, cheapest way first:
/// the layers, then the configs (docker's push sends the config after the layers, so a
/// refusal on the first layer stops the copy before anything else is sent).
async fn send_blobs(
    source: &dyn ImageSource,
    sink: &dyn ImageSink,
    blobs: &[(Descriptor, bool)],
    options: &CopyOptions,
    uploads: &UploadManager,
    progress: &Arc<dyn ProgressSink>,
) -> Result<Vec<BlobOutput>, CopyError> {
    let from = source.repository();
    let workers = match options.compression_workers {
        0 => crate::compress::default_workers(),
        n => n,
    };
    let job = |descriptor: &Descriptor, silent: bool| BlobJob {
        source,
        sink,
        id: source.progress_id(descriptor),
        descriptor: descriptor.clone(),
        convert: (!silent && needs_compression(&descriptor.media_type, options.compression))
            .then_some((options.compression, workers)),
        converted: None,
        silent,
        from: from.clone(),
        wording: sink.wording(),
        writer: None,
        compressor: None,
        progress: Arc::clone(progress),
    };
    let layers = blobs.iter().filter(|(_, config)| !config);
    let configs = blobs.iter().filter(|(_, config)| *config);
    let layer_jobs = layers.map(|(d, c)| job(d, *c)).collect();
    let mut done = match sink.wording() {
        Wording::Push => uploads.run_all(layer_jobs, &**progress).await?,
        Wording::Pull => {
            let (mut present, pending) = announce_pull(layer_jobs).await?;
            present.extend(uploads.run_all_announced(pending, &**progress).await?);
            present
        }
    };
    done.extend(
        uploads
            .run_all(configs.map(|(d, c)| job(d, *c)).collect(), &**progress)
            .await?,
    );
    Ok(done)
}

/// How a blob reached the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlobResult {
    Existing,
    Mounted,
    Copied,
}

/// One blob, cheapest way first (see the module docs).
struct BlobJob<'a> {
    source: &'a dyn ImageSource,
    sink: &'a dyn ImageSink,
    /// Names the progress lines ([`ImageSource::progress_id`]).
    id: Digest,
    /// The blob as it goes to the sink: for a layer compressed on the way, once the
    /// compressed blob is known, that blob.
    descriptor: Descriptor,
    /// For a layer still to compress: the compression and its threads.
    convert: Option<(Compression, usize)>,
    /// For a compressed layer: the layer as the source holds it.
    converted: Option<Descriptor>,
    silent: bool,
    from: Option<crate::reference::Repository>,
    /// The sink's words for the blob's steps.
    wording: Wording,
    writer: Option<Box<dyn BlobWriter>>,
    compressor: Option<Box<dyn CompressingWriter>>,
    progress: Arc<dyn ProgressSink>,
}

impl BlobJob<'_> {
    fn say(&self, status: Status) {
        if !self.silent {
            self.progress.emit(ProgressEvent::new(&self.id, status));
        }
    }

    /// The progress sink for a writer that names its lines by `digest`, renaming them to
    /// the progress id.
    fn writer_progress(&self, digest: &Digest) -> Option<Arc<dyn ProgressSink>> {
        if self.silent {
            return None;
        }
        Some(if self.id == *digest {
            Arc::clone(&self.progress)
        } else {
            Arc::new(Renamed::new(Arc::clone(&self.progress), digest, &self.id))
        })
    }

    async fn once(&mut self) -> Result<BlobResult, CopyError> {
        if let Some((compression, workers)) = self.convert {
            match self
                .source
                .compressed_blob(&self.descriptor, compression)
                .await?
            {
                Some(mut blob) => {
                    blob.media_type =
                        compressed_layer_type(&self.descriptor.media_type, compression).to_owned();
                    self.converted = Some(std::mem::replace(&mut self.descriptor, blob));
                    self.convert = None;
                }
                None => return self.compress(compression, workers).await,
            }
        }
        if let Some(found) = self
            .sink
            .find_blob(&self.descriptor, self.from.as_ref())
            .await?
        {
            return Ok(self.found(found));
        }
        let sink = self.sink;
        let progress = self.writer_progress(&self.descriptor.digest);
        let writer = self
            .writer
            .get_or_insert_with(|| sink.blob_writer(&self.descriptor));
        writer.write(self.source, progress.as_ref()).await?;
        self.say(self.wording.done());
        Ok(BlobResult::Copied)
    }

    /// The blob was made present without its bytes: says so, in the sink's words.
    fn found(&self, found: Found) -> BlobResult {
        match found {
            Found::Existing => {
                self.say(self.wording.present());
                BlobResult::Existing
            }
            Found::Mounted(repository) => {
                self.say(Status::MountedFrom { repository });
                BlobResult::Mounted
            }
        }
    }

    /// The layer compressed into the sink; afterwards the job is about the compressed blob.
    async fn compress(
        &mut self,
        compression: Compression,
        workers: usize,
    ) -> Result<BlobResult, CopyError> {
        let progress = self.writer_progress(&self.descriptor.digest);
        if self.compressor.is_none() {
            let Some(writer) = self
                .sink
                .compressing_writer(&self.descriptor, compression, workers)
            else {
                return Err(CopyError::CannotCompress {
                    location: self.sink.location(),
                    digest: self.descriptor.digest.clone(),
                });
            };
            self.compressor = Some(writer);
        }
        let Some(writer) = self.compressor.as_mut() else {
            return Err(CopyError::Interrupted {
                reason: "compressing writer lost".into(),
            });
        };
        let mut blob = writer.write(self.source, progress.as_ref()).await?;
        blob.media_type =
            compressed_layer_type(&self.descriptor.media_type, compression).to_owned();
        self.converted = Some(std::mem::replace(&mut self.descriptor, blob));
        self.convert = None;
        self.say(self.wording.done());
        Ok(BlobResult::Copied)
    }
}

impl UploadJob for BlobJob<'_> {
    type Output = BlobOutput;
    type Error = CopyError;

    fn progress_id(&self) -> Option<&Digest> {
        (!self.silent).then_some(&self.id)
    }

    async fn attempt(&mut self) -> Result<Self::Output, CopyError> {
        let result = self.once().await?;
        let converted = self
            .converted
            .clone()
            .map(|original| (original, self.descriptor.clone()));
        Ok((result, converted))
    }
}

/// What one blob job yields: how it reached the sink, and the layer it was compressed from.
type BlobOutput = (BlobResult, Option<(Descriptor, Descriptor)>);

/// docker's pull order, for a sink speaking [`Wording::Pull`]: a layer the sink already holds
/// is `Already exists` and is never scheduled; every other one is announced `Pulling fs
/// layer` before any of them waits for a slot. Returns the blobs found and the jobs left.
async fn announce_pull<'a>(
    jobs: Vec<BlobJob<'a>>,
) -> Result<(Vec<BlobOutput>, Vec<BlobJob<'a>>), CopyError> {
    let mut found = Vec::new();
    let mut pending = Vec::with_capacity(jobs.len());
    for job in jobs {
        let present = match job.convert {
            None => {
                job.sink
                    .find_blob(&job.descriptor, job.from.as_ref())
                    .await?
            }
            // Whether the compressed blob is present is only known once it is made.
            Some(_) => None,
        };
        match present {
            Some(present) => found.push((job.found(present), None)),
            None => {
                job.say(Wording::Pull.announced());
                pending.push(job);
            }
        }
    }
    Ok((found, pending))
}

/// Passes events on with the lines of one blob renamed from its digest to its progress id
/// (what a [`BlobWriter`] reports under the digest, a push shows under the diffID).
pub(crate) struct Renamed {
    inner: Arc<dyn ProgressSink>,
    from: String,
    to: String,
}

impl Renamed {
    pub(crate) fn new(inner: Arc<dyn ProgressSink>, from: &Digest, to: &Digest) -> Renamed {
        Renamed {
            inner,
            from: short_id(from),
            to: short_id(to),
        }
    }
}

impl ProgressSink for Renamed {
    fn emit(&self, mut event: ProgressEvent) {
        if event.id == self.from {
            event.id.clone_from(&self.to);
        }
        self.inner.emit(event);
    }
}

/// One manifest `PUT` (retried like a blob).
struct ManifestJob<'a> {
    sink: &'a dyn ImageSink,
    descriptor: &'a Descriptor,
    bytes: Bytes,
    root: bool,
}

impl UploadJob for ManifestJob<'_> {
    type Output = ();
    type Error = CopyError;

    fn progress_id(&self) -> Option<&Digest> {
        None
    }

    fn attempt(&mut self) -> impl std::future::Future<Output = Result<(), CopyError>> + Send {
        self.sink
            .put_manifest(self.descriptor, self.bytes.clone(), self.root)
    }
}

//! Copy: one generic function that moves an image (an index with all its platforms, or one
//! manifest) from any [`ImageSource`] to any [`ImageSink`], verified, without the local
//! store in between (the store is one more source and sink: [`StoreSource`], [`StoreSink`]).
//!
//! DESIGN.md principle 3 ("sources and sinks share traits"), modelled on go-containerregistry's
//! `pkg/v1`: one small read interface ([`ImageSource`]: resolve, manifest bytes, blob stream)
//! and one small write interface ([`ImageSink`]: has blob, mount, blob writer, put manifest),
//! so copying between any two is [`copy`]. Principle 1 ("descriptors drive everything"): the
//! walk over the descriptor graph is [`walk::plan`], and `copy` is its handler.
//!
//! # Parts
//! | file | owns |
//! |------|------|
//! | `source`, `sink` | the traits |
//! | `walk` | the descriptor graph ⇒ blobs and manifests in sink order |
//! | `remote`, `remote_upload` | [`RegistryImage`] (source and sink) and its streaming blob upload |
//! | `layout` | [`LayoutSource`], [`LayoutSink`]: `oci:PATH[:TAG]` directories |
//! | `store` | [`StoreSource`]: the local store by reference; [`complete_index`] |
//! | `store_sink`, `store_record` | [`StoreSink`]: the local store as a destination, recording images as pull does |
//! | `location` | [`ImageLocation`]: `docker://REF`, bare `REF`, `oci:PATH[:TAG]`, `hoist:REF` |
//! | `error` | [`CopyError`] |
//!
//! # What [`copy`] does
//! 1. Reads every manifest under the root from the source, verifying each against its
//!    descriptor (digest and size). All platforms of an index by default, like `skopeo copy
//!    --all` and `crane copy`; with [`CopyOptions::platform`] the best matching manifest alone
//!    becomes the root (docker's platform matching).
//! 2. Blobs (configs and layers), each once, through the [`UploadManager`] (bounded
//!    concurrency, 5 by default; retries with backoff; docker's `Preparing`, `Waiting`,
//!    `Retrying in N seconds`), each the cheapest way: already in the sink ⇒ `Layer already
//!    exists`; the source is a repository of the same registry ⇒ cross-repository mount,
//!    `Mounted from R`; else its bytes are streamed from the source to the sink (`Pushing`,
//!    `Pushed`), never held whole. Config blobs get no progress line, as in `docker push`.
//! 3. Manifests, children before parents, each only after everything it names is in the
//!    sink; the root last, under the sink's tag. Then docker's line `TAG: digest: D size: N`.
//!
//! # Invariants
//! - A sink never holds a manifest whose blobs or child manifests are missing (order of step
//!   3, and step 3 starts only when every blob of step 2 succeeded: the first failure stops the
//!   copy, as docker's push does).
//! - Every byte is verified: manifests by the walker; blobs by the sink's writer (the layout's
//!   ingest, the registry writer's running hash), before they become visible.
//! - Nothing is written to the sink before the source resolved and every manifest was read:
//!   a missing tag or an unreadable manifest leaves the destination untouched.
//!
//! # Which operations go through `copy`
//! - `hoist copy`: yes, for every pair of `docker://`, `oci:` and `hoist:` locations.
//! - registry → store and layout → store (`hoist copy docker://R/app:v1 hoist:app:v1`,
//!   `hoist copy oci:DIR:v1 hoist:app:v1`, e.g. to import an image on an air-gapped site):
//!   yes, into [`StoreSink`], which records what it received exactly as `hoist pull` does
//!   (image records, tag, digest references, blob sources, diffIDs checked against the
//!   config, layers unpacked) with pull's own recording code, and records an index copied
//!   whole as `hoist pull --all-platforms` does, so [`complete_index`] holds for it.
//! - store → registry or layout (`hoist copy hoist:app:v1 oci:DIR:v1`): yes, from
//!   [`StoreSource`].
//! - `pull`: **not** through `copy`. `hoist pull` keeps its own one-pass download pipeline
//!   (`crate::pull`): each layer is fetched, hashed, decompressed and untarred in a single
//!   stream (a copy into the store writes the blob first and unpacks it from disk after), and
//!   it prints docker's pull progress (`Downloading`, `Extracting`, `Pull complete`,
//!   `Status: Downloaded newer image`), not the push statuses the engine emits. Both record
//!   with the same code (`crate::pull::record_image` and its neighbours).
//! - `push`: **not yet**. It keeps its own code (`crate::push`) because it does what a generic
//!   sink cannot know about: docker's v2 metadata (mount candidates from any repository where a
//!   diffID was seen, ranked, with the credentials HMAC), diffID-named progress lines, and
//!   recording the digests it confirmed. [`StoreSource`] is the seam: `copy(StoreSource,
//!   RegistryImage)` pushes a stored image correctly today, only without those optimisations.
//!   Push of a whole index (`--all-platforms` pulls) uses [`complete_index`] from here.

mod error;
pub mod layout;
pub mod location;
pub mod remote;
pub(crate) mod remote_upload;
pub mod sink;
pub mod source;
pub mod store;
mod store_record;
pub mod store_sink;
pub mod walk;

use std::sync::Arc;

use bytes::Bytes;

pub use error::CopyError;
pub use layout::{LayoutSink, LayoutSource};
pub use location::ImageLocation;
pub use remote::RegistryImage;
pub use sink::{BlobWriter, ImageSink};
pub use source::{BlobStream, ImageSource, RepositoryName};
pub use store::{complete_index, CompleteIndex, IndexCheckError, StoreSource};
pub use store_sink::StoreSink;
pub use walk::{plan, Plan};

use crate::digest::Digest;
use crate::media::{Descriptor, Platform};
use crate::progress::{ChannelProgress, ProgressEvent, ProgressSink, Status};
use crate::pull::forward_until_done;
use crate::transfer::{UploadConfig, UploadJob, UploadManager};

/// How to copy.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// Copy only the manifest of this platform from an index (`--platform`); `None` copies
    /// every platform and the index itself.
    pub platform: Option<Platform>,
    /// Concurrency (default 5 blobs at once), attempts and backoff.
    pub upload: UploadConfig,
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
    let from = source.repository();
    let jobs: Vec<BlobJob<'_>> = plan
        .blobs
        .iter()
        .map(|(descriptor, config)| BlobJob {
            source,
            sink,
            descriptor: descriptor.clone(),
            silent: *config,
            from: from.clone(),
            writer: None,
            progress: Arc::clone(&progress),
        })
        .collect();
    let done = uploads.run_all(jobs, &*progress).await?;
    let count = |kind: BlobResult| done.iter().filter(|d| **d == kind).count();

    let last = plan.manifests.len().saturating_sub(1);
    for (i, (descriptor, bytes)) in plan.manifests.iter().enumerate() {
        let job = ManifestJob {
            sink,
            descriptor,
            bytes: bytes.clone(),
            root: i == last,
        };
        uploads.run(job, &*progress).await?;
    }
    let line = match sink.tag() {
        Some(tag) => format!(
            "{tag}: digest: {} size: {}",
            plan.root.digest, plan.root.size
        ),
        None => format!("digest: {} size: {}", plan.root.digest, plan.root.size),
    };
    progress.emit(ProgressEvent::message("", line));
    Ok(CopyOutcome {
        root: plan.root.clone(),
        manifests: plan.manifests.len(),
        copied: count(BlobResult::Copied),
        mounted: count(BlobResult::Mounted),
        existing: count(BlobResult::Existing),
    })
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
    descriptor: Descriptor,
    silent: bool,
    from: Option<RepositoryName>,
    writer: Option<Box<dyn BlobWriter>>,
    progress: Arc<dyn ProgressSink>,
}

impl BlobJob<'_> {
    fn say(&self, status: Status) {
        if !self.silent {
            self.progress
                .emit(ProgressEvent::new(&self.descriptor.digest, status));
        }
    }

    async fn once(&mut self) -> Result<BlobResult, CopyError> {
        if self.sink.has_blob(&self.descriptor).await? {
            self.say(Status::LayerAlreadyExists);
            return Ok(BlobResult::Existing);
        }
        if let Some(from) = &self.from {
            if self.sink.try_mount(&self.descriptor, from).await? {
                self.say(Status::MountedFrom {
                    repository: from.path.clone(),
                });
                return Ok(BlobResult::Mounted);
            }
        }
        let sink = self.sink;
        let writer = self
            .writer
            .get_or_insert_with(|| sink.blob_writer(&self.descriptor));
        let progress = (!self.silent).then_some(&self.progress);
        writer.write(self.source, progress).await?;
        self.say(Status::Pushed);
        Ok(BlobResult::Copied)
    }
}

impl UploadJob for BlobJob<'_> {
    type Output = BlobResult;
    type Error = CopyError;

    fn progress_id(&self) -> Option<&Digest> {
        (!self.silent).then_some(&self.descriptor.digest)
    }

    fn attempt(
        &mut self,
    ) -> impl std::future::Future<Output = Result<BlobResult, CopyError>> + Send {
        self.once()
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

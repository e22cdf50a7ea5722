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
//! | `source`, `sink` | the traits: [`ImageSource`], [`ImageSink`], [`BlobStore`], [`BlobWriter`] |
//! | `blob_input` | [`BlobInput`]: what a writer reads — a blob as the source holds it ([`SourceBlob`]) or a layer compressed on the way |
//! | `compress_step` | the compression step on the source side: a layer (re)compressed as it streams, its digest learnt at the end |
//! | `blob_job` | the blob half of [`copy`]: each blob found, mounted or written, scheduled and retried |
//! | `walk` | the descriptor graph ⇒ blobs and manifests in sink order |
//! | `put_order` | manifests and referrers in waves: children before parents, siblings at once |
//! | `remote`, `remote_upload` | [`RegistryImage`] (source and sink) and its one blob writer (streamed, chunked, resumed; digest known up front or at the end) |
//! | `convert` | layers compressed on the way: which, their media types, manifests rewritten |
//! | `layout` | [`LayoutSource`], [`LayoutSink`]: `oci:PATH[:TAG]` directories |
//! | `layout_referrers` | referrers in a layout (an `oci:` directory, the store): untagged `index.json` entries, listed and recorded |
//! | `layout_signatures` | [`LayoutSignatures`]: signatures attached by tag (`sha256-HEX.sig`) in a layout, as `index.json` entries of that name |
//! | `artifact` | [`ArtifactSource`]: local files as an artifact referring to a subject (`hoist attach`) |
//! | `archive_source`, `archive_sink` | [`ArchiveSource`], [`DockerArchiveSink`], [`OciArchiveSink`]: `docker-archive:` and `oci-archive:` tarballs, on [`crate::archive`]'s formats |
//! | `load` | [`load_archive`]: `hoist load`, every image of an archive copied into a [`StoreSink`] |
//! | `dir` | [`DirSource`], [`DirSink`]: skopeo's `dir:PATH` directories |
//! | `discover` | [`discover()`]: a manifest's referrers and theirs, as a tree (`hoist discover`) |
//! | `staging` | the private content store file transports write blobs through |
//! | `blob_file` | opening blob files of directories: regular files only, symlinks never followed |
//! | `store` | [`StoreSource`]: the local store by reference; [`complete_index`] |
//! | `store_sink`, `store_layer`, `store_record` | [`StoreSink`]: the local store as a destination, layers streamed in one pass, images recorded as pull records them |
//! | `store_parts` | the parallel range fetch of a big layer into the store (several `Range` requests at once, resumable) |
//! | `location` | [`ImageLocation`]: `docker://REF`, bare `REF`, `oci:PATH[:TAG]`, `hoist:REF`, `dir:PATH`, `docker-archive:PATH[:REF]`, `oci-archive:PATH[:TAG]` |
//! | `error` | [`CopyError`] |
//!
//! # What [`copy`] does
//! 1. Reads every manifest under the root from the source, verifying each against its
//!    descriptor (digest and size). All platforms of an index by default, like `skopeo copy
//!    --all` and `crane copy`; with [`CopyOptions::platform`] the best matching manifest alone
//!    becomes the root (docker's platform matching). Then, with [`CopyOptions::verify`],
//!    each image manifest to be copied is judged by its own digest ([`crate::trust`]; never
//!    an index, as containers/image judges each single image it copies); a refusal stops
//!    the copy before any blob is read or anything written ([`verify_source`] does the same
//!    for a caller that must judge before opening its sink). With
//!    [`CopyOptions::signatures`], the signatures attached by tag to every manifest to be
//!    written (`sha256-HEX.sig`, the index's too) are read from the source
//!    ([`ImageSource::signatures`]), bounded; one that cannot be read fails the copy here,
//!    before anything is written, as skopeo's does.
//! 2. Blobs, each once, through the [`Scheduler`] (bounded concurrency, 5 by default;
//!    retries with backoff; docker's `Preparing`, `Waiting`, `Retrying in N seconds`): the
//!    layers, then the configs (docker's push sends the config after the layers, so a refusal
//!    stops the copy at the first layer). Each the cheapest way ([`ImageSink::find_blob`]):
//!    already in the sink ⇒ `Layer already exists`; mounted from another repository of the
//!    same registry ⇒ `Mounted from R` (by default from the source's repository; a sink with
//!    its own knowledge — push — picks its own candidates); else its bytes are streamed from
//!    the source to the sink's [`BlobWriter`] (`Pushing`, `Pushed`), never held whole. Config
//!    blobs get no progress line, as in `docker push`; lines are named by
//!    [`ImageSource::progress_id`] (the digest; push: the layer's diffID). The words are the
//!    sink's ([`ImageSink::wording`]): a sink speaking [`Wording::Pull`](crate::progress::Wording::Pull) (the local store)
//!    gets docker's pull lines instead — every layer it lacks announced `Pulling fs layer`
//!    and every layer it holds `Already exists` before any waits for a slot, its writer's
//!    `Downloading`, `Verifying Checksum`, `Download complete`, then `Pull complete`.
//! 3. With [`CopyOptions::compression`] (skopeo's `--dest-compress`, see `convert`),
//!    uncompressed layers (with [`CopyOptions::recompress`], also layers in another format)
//!    are compressed on the way: a compressed blob the source already holds
//!    ([`ImageSource::compressed_blob`]) goes as any blob; otherwise the compression step
//!    (`compress_step`, containers/image's `blobPipelineCompressionStep`) streams the layer
//!    compressed into the sink's one [`BlobWriter`], which learns the digest at the end — the
//!    same writer as for any blob, so every sink takes it (a sink that declines compressed
//!    layers, the docker-archive, fails the copy with [`CopyError::CannotCompress`] before any
//!    manifest is written). Once every blob is in, the manifests naming those layers are
//!    rewritten (zstd ⇒ OCI), then the indexes naming rewritten manifests;
//!    [`CopyOutcome::converted`] and [`CopyOutcome::rewritten`] say what changed.
//! 4. Manifests, children before parents, each only after everything it names is in the
//!    sink, those whose children are all in sent at once (`put_order`: an index's platform
//!    manifests together); the root last, under the sink's tag. Then, with
//!    [`CopyOptions::referrers`], the referrers (OCI 1.1) the walk found, each after its
//!    subject, through
//!    [`ImageSink::put_referrer`] (their blobs went with the others in step 2, as they are;
//!    into a registry, those of different subjects at once: `put_order`).
//!    Then the signatures read in step 1 are added to the sink's ([`ImageSink::signatures`]:
//!    a registry's `.sig` tag, a layout's `sha256-HEX.sig` entry), those already there kept
//!    and none twice (a signed manifest the copy would rewrite was refused in step 1). Then
//!    docker's line `TAG: digest: D size: N`.
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
//!   `oci-archive:` and `hoist:` locations. Compression (`--dest-compress`) into every sink but
//!   a docker-archive: into the store, the recompressed blobs and rewritten manifest are what
//!   is stored and recorded (the diffIDs, and so the unpacked layers, do not change).
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
pub mod artifact;
mod blob_file;
mod blob_input;
mod blob_job;
mod compress_step;
mod convert;
pub mod dir;
pub mod discover;
mod error;
pub mod layout;
mod layout_referrers;
pub mod layout_signatures;
pub mod load;
pub mod location;
mod put_order;
pub mod remote;
pub(crate) mod remote_upload;
pub mod sink;
pub mod source;
mod staging;
pub mod store;
mod store_layer;
mod store_parts;
mod store_record;
pub mod store_sink;
pub mod walk;

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::future::try_join_all;

pub use archive_sink::{DockerArchiveSink, OciArchiveSink};
pub use archive_source::{Archive, ArchiveEntry, ArchiveFormat, ArchiveSource};
pub use artifact::ArtifactSource;
pub use convert::{
    compressed_layer_type, compressed_media_type, needs_compression, oci_layer_type, pushes_as_oci,
    Rewritten,
};
pub use dir::{DirSink, DirSource};
pub use discover::{discover, Discovered};
pub use error::{CopyError, RecordError};
pub use layout::{LayoutSink, LayoutSource};
pub use layout_signatures::LayoutSignatures;
pub use load::load_archive;
pub use location::{ArchiveImage, ImageLocation};
pub use remote::RegistryImage;
pub use sink::{
    BlobInput, BlobStore, BlobWriter, DynBlobWriter, Found, ImageSink, Measure, Progress,
    SourceBlob, StoredManifest,
};
pub use source::{BlobStream, CopyFuture, ImageSource};
pub use store::{complete_index, tagged_index, CompleteIndex, IndexCheckError, StoreSource};
pub(crate) use store_record::{record_child_reference, record_image, record_references};
pub use store_sink::StoreSink;
pub use walk::{plan, Plan, PlannedReferrer};

use crate::compress::Compression;
use crate::digest::Digest;
use crate::media::{Descriptor, Platform};
use crate::progress::{forward_until_done, ChannelProgress, ProgressEvent, ProgressSink};
use crate::transfer::{Scheduler, TransferConfig, TransferJob};
use crate::trust::sigstore::{attachments, SignatureHome};
use blob_job::{send_blobs, BlobResult};

/// How to copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Copy only the manifest of this platform from an index (`--platform`); `None` copies
    /// every platform and the index itself.
    pub platform: Option<Platform>,
    /// Concurrency (default [`TransferConfig::uploads`]: 5 blobs at once), attempts and
    /// backoff.
    pub upload: TransferConfig,
    /// Compress uncompressed layers on the way (skopeo's `--dest-compress`; see `convert`):
    /// [`Compression::Gzip`] or [`Compression::Zstd`] (which makes those manifests OCI).
    /// [`Compression::None`] (default) copies every layer as it is.
    pub compression: Compression,
    /// Also recompress layers compressed in another format (a gzip layer for zstd), as
    /// `skopeo copy --dest-compress-format` does; `false` (default, and push: docker sends
    /// compressed layers as they are) compresses uncompressed layers only.
    pub recompress: bool,
    /// Threads compressing one layer; 0 (default) means every core. The compressed bytes do
    /// not depend on it.
    pub compression_workers: usize,
    /// Leave out docker's closing `TAG: digest: D size: N` line (`hoist pull` prints its own
    /// `Digest: D` and `Status: …` lines instead).
    pub without_digest_line: bool,
    /// Carry the referrers (OCI 1.1: signatures, SBOMs, attestations) of every manifest
    /// copied, recursively, into a sink that keeps them ([`ImageSink::holds_referrers`]), as
    /// `oras copy -r` does. `false` by default (docker's pull and push carry none); `hoist
    /// copy` sets it unless `--no-referrers`. Referrers of a manifest that `compression`
    /// rewrites are left out: they name a digest the destination does not hold.
    pub referrers: bool,
    /// Carry the signatures attached by tag (cosign's `sha256-HEX.sig`) to each manifest
    /// copied unchanged — every platform's and the index's — from the source's
    /// [`ImageSource::signatures`] to the sink's [`ImageSink::signatures`], when both keep
    /// them: read before any blob is sent (a `.sig` that cannot be read, or is outside
    /// [`crate::trust::sigstore::attachments`]' bounds, fails the copy, as skopeo's does),
    /// added after the manifests to those the sink has (none twice). `false` by default
    /// (sync carries `.sig` tags as tags); `hoist copy` and `hoist push` set it unless
    /// `--remove-signatures`, `hoist pull` where sigstore attachments are enabled. A
    /// manifest `compression` rewrites would have a digest its signatures do not name: a
    /// signed one fails the copy before anything is sent
    /// ([`CopyError::WouldInvalidateSignatures`], as skopeo refuses).
    pub signatures: bool,
    /// Judge each image manifest copied before any blob is read or anything written
    /// (`hoist copy --policy`, see [`crate::trust`]); `None` accepts every image.
    pub verify: Option<crate::trust::Verification>,
}

impl Default for CopyOptions {
    /// Every platform, docker's upload settings, layers as they are.
    fn default() -> CopyOptions {
        CopyOptions {
            platform: None,
            upload: TransferConfig::uploads(),
            compression: Compression::default(),
            recompress: false,
            compression_workers: 0,
            without_digest_line: false,
            referrers: false,
            signatures: false,
            verify: None,
        }
    }
}

/// What one [`copy`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOutcome {
    /// The root now in the sink (under its tag, if it has one).
    pub root: Descriptor,
    /// Every manifest of the image now in the sink — each platform's, then the index —
    /// children first, the root last (referrers not included): what a signer signs, as
    /// containers/image signs each image it copies and the list.
    pub written: Vec<Digest>,
    /// Manifests stored (the root and referrers included).
    pub manifests: usize,
    /// Signatures attached by tag added at the sink ([`CopyOptions::signatures`]).
    pub signatures: usize,
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
    let slots = Scheduler::new(options.upload.clone());
    copy_sharing(source, sink, root, options, &slots, progress).await
}

/// [`copy`], its blobs and manifests run through `slots`, a scheduler other copies share
/// (a puller's: one `max-concurrent-downloads` for all its pulls, as docker's download manager
/// is one per daemon). The limits are `slots`' own, not [`CopyOptions::upload`]'s.
pub(crate) async fn copy_sharing(
    source: &dyn ImageSource,
    sink: &dyn ImageSink,
    root: &Descriptor,
    options: &CopyOptions,
    slots: &Scheduler,
    progress: &dyn ProgressSink,
) -> Result<CopyOutcome, CopyError> {
    let (channel, events) = ChannelProgress::new();
    let work = copy_graph(source, sink, root, options, slots, Arc::new(channel));
    forward_until_done(work, events, progress).await
}

/// Judges the image under `root` in `source` as [`copy`] does with [`CopyOptions::verify`]
/// (each image manifest the copy would write, see [`Plan::images`]), reading its manifests
/// and nothing else: for a caller that must decide before it opens its sink.
pub async fn verify_source(
    source: &dyn ImageSource,
    root: &Descriptor,
    platform: Option<&Platform>,
    verification: &crate::trust::Verification,
) -> Result<(), CopyError> {
    let plan = walk::plan(source, root, platform, false).await?;
    verify_images(verification, &plan.images).await
}

async fn verify_images(
    verification: &crate::trust::Verification,
    images: &[Digest],
) -> Result<(), CopyError> {
    verification.check_each(images).await.map_err(Box::new)?;
    Ok(())
}

async fn copy_graph(
    source: &dyn ImageSource,
    sink: &dyn ImageSink,
    root: &Descriptor,
    options: &CopyOptions,
    uploads: &Scheduler,
    progress: Arc<dyn ProgressSink>,
) -> Result<CopyOutcome, CopyError> {
    let referrers = options.referrers && sink.holds_referrers();
    let (plan, ()) = tokio::try_join!(
        walk::plan(source, root, options.platform.as_ref(), referrers),
        sink.prepare(),
    )?;
    if let Some(verification) = &options.verify {
        verify_images(verification, &plan.images).await?;
    }
    let signatures = read_signatures(source, sink, &plan, options).await?;
    let done = send_blobs(source, sink, &plan.blobs, options, uploads, &progress).await?;
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
    for wave in put_order::waves(&manifests) {
        let jobs = wave
            .into_iter()
            .map(|i| ManifestJob {
                sink,
                manifest: StoredManifest {
                    descriptor: manifests[i].0.clone(),
                    bytes: manifests[i].1.clone(),
                    root: i == last,
                },
                subject: None,
            })
            .collect();
        uploads.run_all(jobs, &*progress).await?;
    }
    // Referrers of rewritten manifests name digests the sink does not hold: left out, and
    // so are their own referrers.
    let mut dropped: HashSet<Digest> = rewritten
        .iter()
        .map(|r| r.original.digest.clone())
        .collect();
    let mut kept = Vec::new();
    for referrer in &plan.referrers {
        if dropped.contains(&referrer.subject.digest) {
            dropped.extend(referrer.manifests.last().map(|(d, _)| d.digest.clone()));
        } else {
            kept.push(referrer);
        }
    }
    let carried: usize = kept.iter().map(|r| r.manifests.len()).sum();
    let waves = match sink.puts_referrers_at_once() {
        true => put_order::referrer_waves(&kept),
        false => (0..kept.len()).map(|i| vec![i]).collect(),
    };
    for wave in waves {
        let puts = wave
            .into_iter()
            .map(|i| put_referrer(sink, kept[i], uploads, &progress));
        try_join_all(puts).await?;
    }
    let signatures = match signatures {
        Some((home, found)) => {
            let kept = found
                .into_iter()
                .filter(|(digest, _)| !rewritten.iter().any(|r| &r.original.digest == digest))
                .collect();
            attachments::append_each(&*home, kept, &source.location())
                .await
                .map_err(Box::new)?
        }
        None => 0,
    };
    if !options.without_digest_line {
        let line = match sink.tag() {
            Some(tag) => format!("{tag}: digest: {} size: {}", root.digest, root.size),
            None => format!("digest: {} size: {}", root.digest, root.size),
        };
        progress.emit(ProgressEvent::message("", line));
    }
    Ok(CopyOutcome {
        root,
        written: manifests.iter().map(|(d, _)| d.digest.clone()).collect(),
        manifests: manifests.len() + carried,
        signatures,
        copied: count(BlobResult::Copied),
        mounted: count(BlobResult::Mounted),
        existing: count(BlobResult::Existing),
        converted,
        rewritten,
    })
}

/// The signatures attached by tag to each manifest of `plan`, read from the source, and the
/// sink's home for them; `None` when the copy carries none ([`CopyOptions::signatures`]).
async fn read_signatures(
    source: &dyn ImageSource,
    sink: &dyn ImageSink,
    plan: &Plan,
    options: &CopyOptions,
) -> Result<Option<(Box<dyn SignatureHome>, SignaturesFound)>, CopyError> {
    let (Some(from), Some(to)) = (
        options.signatures.then(|| source.signatures()).flatten(),
        sink.signatures(),
    ) else {
        return Ok(None);
    };
    let digests: Vec<Digest> = plan
        .manifests
        .iter()
        .map(|(d, _)| d.digest.clone())
        .collect();
    let found = attachments::read_each(&*from, &digests, &source.location())
        .await
        .map_err(Box::new)?;
    let rewritten = convert::will_rewrite(&plan.manifests, options.compression, options.recompress);
    if let Some((digest, signatures)) = found.iter().find(|(d, _)| rewritten.contains(d)) {
        return Err(CopyError::WouldInvalidateSignatures {
            location: source.location(),
            digest: digest.clone(),
            count: signatures.len(),
        });
    }
    Ok(Some((to, found)))
}

/// What [`attachments::read_each`] found: signatures by the digest they sign.
type SignaturesFound = Vec<(Digest, Vec<crate::trust::sigstore::Signature>)>;

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
    let uploads = Scheduler::new(options.upload.clone());
    let progress_arc: Arc<dyn ProgressSink> = Arc::new(channel);
    let work = send_blobs(source, sink, &blobs, options, &uploads, &progress_arc);
    forward_until_done(work, events, progress).await.map(drop)
}

/// Stores one referrer: its child manifests by digest, then itself as its subject's
/// referrer, each retried like a blob.
async fn put_referrer(
    sink: &dyn ImageSink,
    referrer: &PlannedReferrer,
    uploads: &Scheduler,
    progress: &Arc<dyn ProgressSink>,
) -> Result<(), CopyError> {
    let last = referrer.manifests.len().saturating_sub(1);
    for (i, (descriptor, bytes)) in referrer.manifests.iter().enumerate() {
        let job = ManifestJob {
            sink,
            manifest: StoredManifest {
                descriptor: descriptor.clone(),
                bytes: bytes.clone(),
                root: false,
            },
            subject: (i == last).then_some(&referrer.subject),
        };
        uploads.run(job, &**progress).await?;
    }
    Ok(())
}

/// One manifest `PUT` (retried like a blob); a referrer's with its subject.
struct ManifestJob<'a> {
    sink: &'a dyn ImageSink,
    manifest: StoredManifest,
    subject: Option<&'a Descriptor>,
}

impl TransferJob for ManifestJob<'_> {
    type Output = ();
    type Error = CopyError;

    fn progress_id(&self) -> Option<&Digest> {
        None
    }

    fn attempt(&mut self) -> impl std::future::Future<Output = Result<(), CopyError>> + Send {
        match self.subject {
            Some(subject) => self.sink.put_referrer(&self.manifest, subject),
            None => self.sink.put_manifest(&self.manifest),
        }
    }
}

//! Carrying out a [`SyncPlan`]: [`run`] takes each image in turn and returns a
//! [`SyncReport`].
//!
//! For each image, cheapest first:
//! 1. the source is resolved (one `HEAD` on a registry, `index.json` of a layout);
//! 2. the destination is asked for the same name (one `HEAD`, or its layout's `index.json`):
//!    when it already names the digest the copy would put there — the source's root, or with
//!    a platform the manifest chosen for it — the image is **up to date** and nothing more
//!    is sent or read. The destination is the only state: no side database, so two runs
//!    from different machines agree;
//! 3. otherwise [`crate::copy::copy`] moves it, the one engine: every blob the destination
//!    holds is skipped (`Layer already exists`), a blob of another repository of the same
//!    registry is mounted (`sink`: the source's repository, and the destination
//!    repositories this run already filled with it), the rest streamed, retried and
//!    verified; manifests last, children first. Nothing is rewritten (no compression, no
//!    format change), so every digest is kept: `--preserve-digests` holds by construction.
//!
//! With `dry_run`, step 3 is replaced by an estimate: the manifests are read from the
//! source and each blob's presence is asked of the destination (a `HEAD`, a file), so the
//! report says how many blobs and bytes would move; nothing is written, not even a layout
//! directory.
//!
//! A failure ends the run unless `keep_going`: then it is recorded and the next image
//! taken, and the report lists every failure (skopeo's `--keep-going`). Without
//! `keep_going`, repositories that could not be planned fail the run before anything is
//! copied.

use std::path::Path;

use super::plan::{SyncImage, SyncPlan};
use super::sink::{Filled, SyncSink};
use super::SyncError;
use crate::copy::{
    copy, plan as walk_plan, CopyError, CopyOptions, CopyOutcome, DirSource, ImageLocation,
    ImageSink, ImageSource, LayoutSink, LayoutSource, RegistryImage,
};
use crate::digest::Digest;
use crate::media::Descriptor;
use crate::progress::{ProgressEvent, ProgressSink};
use crate::registry::RegistryClient;
use crate::store::layout::OCI_LAYOUT_FILE;

/// How to sync.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// How each image is copied: its platform (`None`: every platform and the index, the
    /// default, skopeo's `--all`), concurrency and retries.
    pub copy: CopyOptions,
    /// Estimate instead of copying (`--dry-run`).
    pub dry_run: bool,
    /// Go on after a failure and report them all (`--keep-going`).
    pub keep_going: bool,
}

/// What happened to one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageOutcome {
    /// The destination already named this digest: nothing was sent.
    UpToDate(Digest),
    /// Copied (boxed: a copy's outcome is large).
    Copied(Box<CopyOutcome>),
    /// `dry_run`: what a copy would send.
    WouldCopy(Estimate),
}

/// What a copy would send ([`SyncOptions::dry_run`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Estimate {
    /// The digest the destination would name.
    pub digest: Option<Digest>,
    /// Manifests that would be stored.
    pub manifests: usize,
    /// Blobs the destination lacks.
    pub blobs: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Blobs it already holds.
    pub present: usize,
}

/// One image and what happened to it.
#[derive(Debug, Clone)]
pub struct SyncedImage {
    /// The image.
    pub image: SyncImage,
    /// What happened.
    pub outcome: ImageOutcome,
}

/// A failure: an image, or a repository that could not be planned.
#[derive(Debug)]
pub struct SyncFailure {
    /// The image's source, or the repository.
    pub subject: String,
    /// Why.
    pub error: SyncError,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Images synced (or estimated), in order.
    pub images: Vec<SyncedImage>,
    /// Every failure, planning ones first.
    pub failures: Vec<SyncFailure>,
    /// Images of the plan not attempted because an earlier failure ended the run.
    pub skipped: usize,
}

impl SyncReport {
    /// Whether everything planned was synced.
    pub fn succeeded(&self) -> bool {
        self.failures.is_empty() && self.skipped == 0
    }
}

/// Syncs every image of `plan` (see the module docs). Progress lines (an `Copying N/M` line
/// per image, then the copy's own) go to `progress`.
pub async fn run(
    client: &RegistryClient,
    plan: SyncPlan,
    options: &SyncOptions,
    progress: &dyn ProgressSink,
) -> SyncReport {
    let mut report = SyncReport::default();
    for failure in plan.failures {
        report.failures.push(SyncFailure {
            subject: failure.repository,
            error: failure.error,
        });
    }
    if !report.failures.is_empty() && !options.keep_going {
        report.skipped = plan.images.len();
        return report;
    }
    let total = plan.images.len();
    let mut filled = Filled::default();
    let mut images = plan.images.into_iter().enumerate();
    for (i, image) in images.by_ref() {
        let verb = if options.dry_run {
            "Would copy"
        } else {
            "Copying"
        };
        progress.emit(ProgressEvent::message(
            "",
            format!(
                "{verb} image {}/{total}: {} to {}",
                i + 1,
                image.source,
                image.destination
            ),
        ));
        match sync_image(client, &image, options, &mut filled, progress).await {
            Ok(outcome) => report.images.push(SyncedImage { image, outcome }),
            Err(error) => {
                report.failures.push(SyncFailure {
                    subject: image.source.to_string(),
                    error: SyncError::Copy {
                        source_name: image.source.to_string(),
                        destination: image.destination.to_string(),
                        source: Box::new(error),
                    },
                });
                if !options.keep_going {
                    break;
                }
            }
        }
    }
    report.skipped = images.count();
    report
}

/// One image: resolve, compare, then copy or estimate.
async fn sync_image(
    client: &RegistryClient,
    image: &SyncImage,
    options: &SyncOptions,
    filled: &mut Filled,
    progress: &dyn ProgressSink,
) -> Result<ImageOutcome, CopyError> {
    let source = open_source(client, &image.source)?;
    let root = source.resolve().await?;
    let platform = options.copy.platform.as_ref();
    let expected = match platform {
        None => root.digest.clone(),
        Some(_) => {
            walk_plan(source.as_ref(), &root, platform, false)
                .await?
                .root
                .digest
        }
    };
    if destination_digest(client, &image.destination).await? == Some(expected.clone()) {
        progress.emit(ProgressEvent::message(
            "",
            format!("{}: up to date ({expected})", image.destination),
        ));
        return Ok(ImageOutcome::UpToDate(expected));
    }
    if options.dry_run {
        let estimate =
            estimate(client, source.as_ref(), &root, &image.destination, options).await?;
        return Ok(ImageOutcome::WouldCopy(estimate));
    }
    let sink = open_sink(client, &image.destination, filled)?;
    let outcome = copy(source.as_ref(), &sink, &root, &options.copy, progress).await?;
    if let Some((repository, digests)) = sink.into_record() {
        filled.record(&repository, digests);
    }
    Ok(ImageOutcome::Copied(Box::new(outcome)))
}

/// The source `location` names (the locations a plan makes: registry, layout, `dir:`).
fn open_source(
    client: &RegistryClient,
    location: &ImageLocation,
) -> Result<Box<dyn ImageSource>, CopyError> {
    match location {
        ImageLocation::Registry(reference) => Ok(Box::new(RegistryImage::new(client, reference))),
        ImageLocation::Layout { path, tag } => {
            Ok(Box::new(LayoutSource::new(path, tag.as_deref())))
        }
        ImageLocation::Dir(path) => Ok(Box::new(DirSource::new(path))),
        other => Err(unsupported(other)),
    }
}

/// The destination `location` names, as a sink that also mounts from repositories the run
/// filled (`sink`).
fn open_sink<'a>(
    client: &RegistryClient,
    location: &ImageLocation,
    filled: &'a Filled,
) -> Result<SyncSink<'a>, CopyError> {
    let sink: Box<dyn ImageSink> = match location {
        ImageLocation::Registry(reference) => Box::new(RegistryImage::new(client, reference)),
        ImageLocation::Layout { path, tag } => Box::new(LayoutSink::open(path, tag.as_deref())?),
        other => return Err(unsupported(other)),
    };
    let repository = match location {
        ImageLocation::Registry(reference) => Some(reference.repository().clone()),
        _ => None,
    };
    Ok(SyncSink::new(sink, repository, filled))
}

fn unsupported(location: &ImageLocation) -> CopyError {
    CopyError::Location {
        input: location.to_string(),
        reason: "sync reads registries, OCI layouts and dir: directories, and writes \
                 registries and OCI layouts"
            .to_owned(),
    }
}

/// The digest the destination's name holds now, `None` when it holds nothing there.
async fn destination_digest(
    client: &RegistryClient,
    location: &ImageLocation,
) -> Result<Option<Digest>, CopyError> {
    let found = match location {
        ImageLocation::Registry(reference) => RegistryImage::new(client, reference).resolve().await,
        ImageLocation::Layout { path, tag } => {
            if !has_layout(path).await {
                return Ok(None);
            }
            LayoutSource::new(path, tag.as_deref()).resolve().await
        }
        other => return Err(unsupported(other)),
    };
    match found {
        Ok(descriptor) => Ok(Some(descriptor.digest)),
        Err(CopyError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn has_layout(path: &Path) -> bool {
    tokio::fs::try_exists(path.join(OCI_LAYOUT_FILE))
        .await
        .unwrap_or(false)
}

/// What copying `root` to `destination` would send: the manifests read from the source, the
/// destination asked for each blob, nothing written.
async fn estimate(
    client: &RegistryClient,
    source: &dyn ImageSource,
    root: &Descriptor,
    destination: &ImageLocation,
    options: &SyncOptions,
) -> Result<Estimate, CopyError> {
    let plan = walk_plan(
        source,
        root,
        options.copy.platform.as_ref(),
        options.copy.referrers,
    )
    .await?;
    let mut estimate = Estimate {
        digest: Some(plan.root.digest.clone()),
        manifests: plan.manifests.len(),
        ..Estimate::default()
    };
    for (blob, _) in &plan.blobs {
        if destination_has_blob(client, destination, blob).await? {
            estimate.present += 1;
        } else {
            estimate.blobs += 1;
            estimate.bytes += blob.size;
        }
    }
    Ok(estimate)
}

/// Whether the destination holds `blob`, asked without writing anything.
async fn destination_has_blob(
    client: &RegistryClient,
    destination: &ImageLocation,
    blob: &Descriptor,
) -> Result<bool, CopyError> {
    match destination {
        ImageLocation::Registry(reference) => {
            let image = RegistryImage::new(client, reference);
            ImageSink::blobs(&image).has_blob(blob).await
        }
        ImageLocation::Layout { path, .. } => {
            let file = crate::copy::layout::blob_path(path, &blob.digest);
            Ok(tokio::fs::try_exists(file).await.unwrap_or(false))
        }
        other => Err(unsupported(other)),
    }
}

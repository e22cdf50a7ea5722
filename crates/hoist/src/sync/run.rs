//! Carrying out a [`SyncPlan`]: [`run`] syncs its images, [`SyncOptions::concurrency`] at a
//! time, and returns a [`SyncReport`].
//!
//! For each image, cheapest first:
//! 1. the source is resolved (one `HEAD` on a registry, `index.json` of a layout);
//! 2. the destination is asked for the same name (one `HEAD`, or its layout's `index.json`;
//!    with `--since`, also the previous export's `index.json`): when it already names the
//!    digest the copy would put there — the source's root, or with a platform the manifest
//!    chosen for it — the image is **up to date** and nothing more is sent or read, unless
//!    referrers are carried and the source lists one of the root's that the destination
//!    lacks (`destination`). The destination is the only state: no side database, so two
//!    runs from different machines agree;
//! 3. otherwise [`crate::copy::copy`] moves it, the one engine: every blob the destination
//!    holds is skipped (`Layer already exists`), a blob of another repository of the same
//!    registry is mounted (`sink`: the source's repository, and the destination
//!    repositories this run filled with it), a blob another image of the run is sending is
//!    waited for and then found or mounted (`inflight`), the rest streamed, retried and
//!    verified; manifests last, children first, then the referrers (`attachments`). Nothing
//!    is rewritten (no compression, no format change), so every digest is kept:
//!    `--preserve-digests` holds by construction.
//!
//! With `dry_run`, step 3 is replaced by an estimate: the manifests are read from the
//! source and each blob's presence is asked of the destination (a `HEAD`, a file), so the
//! report says how many blobs and bytes would move; nothing is written, not even a layout
//! directory.
//!
//! # Concurrency and failures
//! Images run [`SyncOptions::concurrency`] at once, inside the caller's task (no spawn);
//! each copies its blobs with [`crate::copy::CopyOptions::upload`]'s concurrency. The report
//! lists images in plan order whatever order they finished in. A failure ends the run
//! unless `keep_going`: no image is started after it (those already running finish), and
//! the rest are counted as not attempted; with `keep_going` it is recorded and the others
//! go on, and the report lists every failure (skopeo's `--keep-going`). Without
//! `keep_going`, repositories that could not be planned fail the run before anything is
//! copied. Every step is told to [`SyncOptions::observer`] ([`SyncEvent`]).

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::attachments::{keeps, WithoutSignatures};
use super::destination::{destination_digest, estimate, lacks_referrers};
use super::events::{one_line, SkipReason, SyncEvent, SyncObserver};
use super::plan::{SyncImage, SyncPlan};
use super::since::PreviousExport;
use super::sink::{RunState, SyncSink};
use super::SyncError;
use crate::copy::{
    copy, plan as walk_plan, CopyError, CopyOptions, CopyOutcome, DirSource, ImageLocation,
    ImageSink, ImageSource, LayoutSink, LayoutSource, RegistryImage,
};
use crate::digest::Digest;
use crate::media::Descriptor;
use crate::progress::{ProgressEvent, ProgressSink};
use crate::registry::RegistryClient;

/// How to sync.
#[derive(Clone, Default)]
pub struct SyncOptions {
    /// How each image is copied: its platform (`None`: every platform and the index, the
    /// default, skopeo's `--all`), blob concurrency, retries, and whether referrers travel
    /// (`referrers`: `hoist sync` sets it unless `--no-referrers`, see `attachments`).
    pub copy: CopyOptions,
    /// Estimate instead of copying (`--dry-run`).
    pub dry_run: bool,
    /// Go on after a failure and report them all (`--keep-going`).
    pub keep_going: bool,
    /// Images synced at once (`--concurrency`); 0 and 1 take them one after the other, as
    /// skopeo does.
    pub concurrency: usize,
    /// `--since STATE`, with a layout destination: export only what the previous export at
    /// STATE lacks (`since`).
    pub since: Option<PathBuf>,
    /// Leave out signatures (`--remove-signatures`, see `attachments`).
    pub remove_signatures: bool,
    /// Who hears of each image and blob ([`SyncEvent`]).
    pub observer: Option<Arc<dyn SyncObserver>>,
}

impl std::fmt::Debug for SyncOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncOptions")
            .field("copy", &self.copy)
            .field("dry_run", &self.dry_run)
            .field("keep_going", &self.keep_going)
            .field("concurrency", &self.concurrency)
            .field("since", &self.since)
            .field("remove_signatures", &self.remove_signatures)
            .field("observer", &self.observer.is_some())
            .finish()
    }
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
    /// Bytes of blobs sent to the destination for it (0 when up to date or estimated).
    pub sent: u64,
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
    /// Images synced (or estimated), in plan order.
    pub images: Vec<SyncedImage>,
    /// Every failure, planning ones first.
    pub failures: Vec<SyncFailure>,
    /// Images of the plan not attempted because an earlier failure ended the run.
    pub skipped: usize,
    /// Bytes of blobs sent to the destination.
    pub sent: u64,
}

impl SyncReport {
    /// Whether everything planned was synced.
    pub fn succeeded(&self) -> bool {
        self.failures.is_empty() && self.skipped == 0
    }
}

/// Syncs every image of `plan` (see the module docs). Progress lines (a `Copying N/M` line
/// per image, then the copy's own) go to `progress`.
pub async fn run(
    client: &RegistryClient,
    plan: SyncPlan,
    options: &SyncOptions,
    progress: &dyn ProgressSink,
) -> SyncReport {
    let mut report = SyncReport::default();
    let referrers = options.copy.referrers;
    let images: Vec<SyncImage> = plan
        .images
        .into_iter()
        .filter(|image| keeps(image, referrers, options.remove_signatures))
        .collect();
    let total = images.len();
    let tell = |event: SyncEvent| {
        if let Some(observer) = &options.observer {
            observer.event(&event);
        }
    };
    let since = match &options.since {
        None => None,
        Some(path) => match read_since(client, path, &images).await {
            Ok(previous) => Some(previous),
            Err(error) => {
                plan_failures_too(&mut report, plan.failures, &tell, total);
                report.failures.push(failed(
                    path.display().to_string(),
                    None,
                    error,
                    &tell,
                    total,
                ));
                not_attempted(&mut report, images.into_iter().enumerate(), &tell, total);
                return report;
            }
        },
    };
    plan_failures_too(&mut report, plan.failures, &tell, total);
    if !report.failures.is_empty() && !options.keep_going {
        not_attempted(&mut report, images.into_iter().enumerate(), &tell, total);
        return report;
    }
    if let Err(error) = create_layout(&images, options.dry_run) {
        report
            .failures
            .push(failed("--dest dir".into(), None, error, &tell, total));
        not_attempted(&mut report, images.into_iter().enumerate(), &tell, total);
        return report;
    }
    let state = Arc::new(RunState::new(since, options.observer.clone()));
    let mut queue = images.into_iter().enumerate();
    let mut running = FuturesUnordered::new();
    let mut done: Vec<(usize, SyncedImage)> = Vec::new();
    let mut stop = false;
    loop {
        while !stop && running.len() < options.concurrency.max(1) {
            let Some((i, image)) = queue.next() else {
                break;
            };
            announce(i, total, &image, options.dry_run, progress);
            tell(SyncEvent::Started {
                index: i + 1,
                total,
                image: image.clone(),
            });
            let state = &state;
            running.push(async move {
                let result = sync_image(client, &image, options, state, progress).await;
                (i, image, result)
            });
        }
        let Some((i, image, result)) = running.next().await else {
            break;
        };
        match result {
            Ok((outcome, sent)) => {
                tell(finished(i, total, &image, &outcome, sent));
                done.push((
                    i,
                    SyncedImage {
                        image,
                        outcome,
                        sent,
                    },
                ));
            }
            Err(error) => {
                let error = SyncError::Copy {
                    source_name: image.source.to_string(),
                    destination: image.destination.to_string(),
                    source: Box::new(error),
                };
                let subject = image.source.to_string();
                let destination = Some(image.destination.to_string());
                report
                    .failures
                    .push(failed(subject, Some((i, destination)), error, &tell, total));
                stop |= !options.keep_going;
            }
        }
    }
    not_attempted(&mut report, queue, &tell, total);
    done.sort_by_key(|(i, _)| *i);
    report.images = done.into_iter().map(|(_, image)| image).collect();
    report.sent = state.sent();
    report
}

/// `Copying image N/M: SRC to DST` (`Would copy` with `dry_run`).
fn announce(i: usize, total: usize, image: &SyncImage, dry_run: bool, progress: &dyn ProgressSink) {
    let verb = if dry_run { "Would copy" } else { "Copying" };
    progress.emit(ProgressEvent::message(
        "",
        format!(
            "{verb} image {}/{total}: {} to {}",
            i + 1,
            image.source,
            image.destination
        ),
    ));
}

/// The event closing an image that did not fail.
fn finished(
    i: usize,
    total: usize,
    image: &SyncImage,
    outcome: &ImageOutcome,
    sent: u64,
) -> SyncEvent {
    let image = image.clone();
    match outcome {
        ImageOutcome::UpToDate(digest) => SyncEvent::Skipped {
            index: i + 1,
            total,
            image,
            reason: SkipReason::UpToDate,
            digest: Some(digest.clone()),
        },
        ImageOutcome::Copied(outcome) => SyncEvent::Done {
            index: i + 1,
            total,
            image,
            digest: Some(outcome.root.digest.clone()),
            bytes: sent,
            dry_run: false,
        },
        ImageOutcome::WouldCopy(estimate) => SyncEvent::Done {
            index: i + 1,
            total,
            image,
            digest: estimate.digest.clone(),
            bytes: estimate.bytes,
            dry_run: true,
        },
    }
}

/// A failure, told: of the image at `image` (its index and destination), or of a repository.
fn failed(
    subject: String,
    image: Option<(usize, Option<String>)>,
    error: SyncError,
    tell: &impl Fn(SyncEvent),
    total: usize,
) -> SyncFailure {
    let (index, destination) = match image {
        Some((i, destination)) => (Some(i + 1), destination),
        None => (None, None),
    };
    tell(SyncEvent::Failed {
        index,
        total,
        subject: subject.clone(),
        destination,
        error: one_line(&error),
    });
    SyncFailure { subject, error }
}

/// The plan's failures into the report, told.
fn plan_failures_too(
    report: &mut SyncReport,
    failures: Vec<super::plan::PlanFailure>,
    tell: &impl Fn(SyncEvent),
    total: usize,
) {
    for failure in failures {
        let failure = failed(failure.repository, None, failure.error, tell, total);
        report.failures.push(failure);
    }
}

/// The images left, counted as not attempted and told.
fn not_attempted(
    report: &mut SyncReport,
    left: impl Iterator<Item = (usize, SyncImage)>,
    tell: &impl Fn(SyncEvent),
    total: usize,
) {
    for (i, image) in left {
        report.skipped += 1;
        tell(SyncEvent::Skipped {
            index: i + 1,
            total,
            image,
            reason: SkipReason::NotAttempted,
            digest: None,
        });
    }
}

/// The destination layout made before images are copied into it at once (they would race
/// to create it); nothing with `dry_run`.
fn create_layout(images: &[SyncImage], dry_run: bool) -> Result<(), SyncError> {
    let layout = images.iter().find_map(|image| match &image.destination {
        ImageLocation::Layout { path, .. } => Some(path),
        _ => None,
    });
    match layout {
        Some(path) if !dry_run => {
            LayoutSink::open(path, None)
                .map(drop)
                .map_err(|e| SyncError::CreateLayout {
                    path: path.clone(),
                    source: Box::new(e),
                })
        }
        _ => Ok(()),
    }
}

/// `--since`: refused unless every image goes into a layout.
async fn read_since(
    client: &RegistryClient,
    path: &std::path::Path,
    images: &[SyncImage],
) -> Result<PreviousExport, SyncError> {
    if images
        .iter()
        .any(|i| !matches!(i.destination, ImageLocation::Layout { .. }))
    {
        return Err(SyncError::Since {
            path: path.to_owned(),
            reason: "only an export (--dest dir) can leave out what a previous one holds".into(),
        });
    }
    PreviousExport::read(client, path, images).await
}

/// One image: resolve, compare, then copy or estimate; with the bytes it sent.
async fn sync_image(
    client: &RegistryClient,
    image: &SyncImage,
    options: &SyncOptions,
    state: &Arc<RunState>,
    progress: &dyn ProgressSink,
) -> Result<(ImageOutcome, u64), CopyError> {
    let mut source = open_source(client, &image.source)?;
    if options.remove_signatures {
        source = Box::new(WithoutSignatures(source));
    }
    let root = source.resolve().await?;
    let platform = options.copy.platform.as_ref();
    let expected: Descriptor = match platform {
        None => root.clone(),
        Some(_) => {
            walk_plan(source.as_ref(), &root, platform, false)
                .await?
                .root
        }
    };
    if up_to_date(client, source.as_ref(), image, &expected, options, state).await? {
        progress.emit(ProgressEvent::message(
            "",
            format!("{}: up to date ({})", image.destination, expected.digest),
        ));
        return Ok((ImageOutcome::UpToDate(expected.digest), 0));
    }
    if options.dry_run {
        let estimate = estimate(
            client,
            source.as_ref(),
            &root,
            &image.destination,
            &options.copy,
            state,
        )
        .await?;
        return Ok((ImageOutcome::WouldCopy(estimate), 0));
    }
    let sink = open_sink(client, &image.destination, state)?;
    let outcome = copy(source.as_ref(), &sink, &root, &options.copy, progress).await?;
    Ok((ImageOutcome::Copied(Box::new(outcome)), sink.sent()))
}

/// Whether the destination (or `--since`'s previous export) already names `expected` under
/// the image's name, with the root's referrers when they are carried.
async fn up_to_date(
    client: &RegistryClient,
    source: &dyn ImageSource,
    image: &SyncImage,
    expected: &Descriptor,
    options: &SyncOptions,
    state: &RunState,
) -> Result<bool, CopyError> {
    let name = match &image.destination {
        ImageLocation::Layout { tag, .. } => tag.as_deref(),
        _ => None,
    };
    let exported = state.since.as_ref().zip(name).and_then(|(p, n)| p.named(n));
    if exported == Some(&expected.digest) {
        return Ok(true);
    }
    if destination_digest(client, &image.destination).await? != Some(expected.digest.clone()) {
        return Ok(false);
    }
    if !options.copy.referrers {
        return Ok(true);
    }
    Ok(!lacks_referrers(client, source, expected, &image.destination).await?)
}

/// The source `location` names (the locations a plan makes: registry, layout, `dir:`).
pub(super) fn open_source(
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

/// The destination `location` names, as a sink sharing the run's `state` (`sink`).
fn open_sink(
    client: &RegistryClient,
    location: &ImageLocation,
    state: &Arc<RunState>,
) -> Result<SyncSink, CopyError> {
    let sink: Box<dyn ImageSink> = match location {
        ImageLocation::Registry(reference) => Box::new(RegistryImage::new(client, reference)),
        ImageLocation::Layout { path, tag } => Box::new(LayoutSink::open(path, tag.as_deref())?),
        other => return Err(unsupported(other)),
    };
    let repository = match location {
        ImageLocation::Registry(reference) => Some(reference.repository().clone()),
        _ => None,
    };
    Ok(SyncSink::new(sink, repository, Arc::clone(state)))
}

/// A location sync does not read or write.
pub(super) fn unsupported(location: &ImageLocation) -> CopyError {
    CopyError::Location {
        input: location.to_string(),
        reason: "sync reads registries, OCI layouts and dir: directories, and writes \
                 registries and OCI layouts"
            .to_owned(),
    }
}

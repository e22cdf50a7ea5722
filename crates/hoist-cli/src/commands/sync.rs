//! `hoist sync --src docker|dir|yaml SRC --dest docker|dir DEST`: many images at once, for
//! mirrors and air-gapped sites (skopeo's `sync`), through `hoist::sync`.
//!
//! 1. SRC and DEST are read with their transports; a YAML (or TOML) source file is parsed
//!    before anything else, and its registry settings (`credentials`, `tls-verify`,
//!    `cert-dir`) go into the registry client beside the configuration's and the stored
//!    credentials (the file's credentials first, for its registries only).
//! 2. The plan: the images and where each goes (`hoist::sync::plan`); repositories that
//!    cannot be listed are failures.
//! 3. The run (`hoist::sync::run`): a `Copying image N/M: SRC to DST` line per image, then
//!    the copy's push statuses and digest line, or `DST: up to date (D)` when the destination
//!    already holds it; with `--dry-run` a `Would copy` line per image saying what it would
//!    send.
//!    Images go `--concurrency` at a time (4 by default); a totals line (images, bytes, rate)
//!    follows each image, redrawn in place on a terminal (`sync_display`). Referrers travel
//!    unless `--no-referrers`; `--remove-signatures` leaves signatures out; `--since STATE`
//!    exports only what a previous export lacks (`hoist::sync`'s `since`).
//! 4. A closing summary line on stdout; every failure as an `Error:` line on stderr, and exit
//!    status 1 when anything failed (after the rest with `--keep-going`).
//! 5. With `--json`, stdout has only JSON lines: one per image event (`sync_display`), then
//!    `{"event":"summary", "images", "copied", "up_to_date", "failed", "not_attempted",
//!    "bytes", "dry_run"}`; failures are still on stderr.

use std::sync::Arc;

use hoist::copy::CopyOptions;
use hoist::credentials::CredentialStore;
use hoist::media::Platform;
use hoist::registry::{CredentialLookup, RegistryClient};
use hoist::sync::{
    plan, run, Destination, ImageOutcome, Source, SourceFile, SyncError, SyncObserver, SyncOptions,
    SyncReport,
};
use hoist::transfer::TransferConfig;

use crate::cli::{GlobalArgs, SyncArgs};
use crate::commands::session::{progress_mode, runtime};
use crate::config::Config;
use crate::failure::{report_item, CliError};
use crate::progress::{Mode, Renderer};
use crate::sync_display::SyncDisplay;
use crate::units::human_size;

/// Runs `hoist sync`.
pub fn run_sync(
    args: &SyncArgs,
    global: &GlobalArgs,
    config: &Config,
    credentials: CredentialStore,
) -> Result<(), CliError> {
    if args.since.is_some() && args.destination_transport != "dir" {
        return Err(CliError::Arguments(
            "--since needs --dest dir: it leaves out of an export what a previous export holds"
                .to_owned(),
        ));
    }
    let source = Source::parse(&args.source_transport, &args.source).map_err(Box::new)?;
    let destination =
        Destination::parse(&args.destination_transport, &args.destination).map_err(Box::new)?;
    let platform = match &args.platform {
        Some(text) => Some(Platform::parse(text).map_err(|e| CliError::Usage(e.to_string()))?),
        None => None,
    };
    let file = match &source {
        Source::File(path) => Some(SourceFile::read(path).map_err(Box::new)?),
        _ => None,
    };
    let client = sync_client(config, credentials, file.as_ref())?;
    let mode = match args.json {
        true => Mode::Json,
        false => progress_mode(args.quiet),
    };
    let renderer = Renderer::start(mode);
    let display = Arc::new(SyncDisplay::new(
        renderer.shared(),
        args.json,
        mode == Mode::Terminal,
    ));
    let options = SyncOptions {
        copy: CopyOptions {
            platform,
            upload: TransferConfig {
                max_concurrent: config.max_concurrent_uploads,
                ..TransferConfig::uploads()
            },
            referrers: !args.no_referrers,
            ..CopyOptions::default()
        },
        dry_run: args.dry_run,
        keep_going: args.keep_going,
        concurrency: usize::from(args.concurrency),
        since: args.since.clone(),
        remove_signatures: args.remove_signatures,
        observer: (mode != Mode::Quiet).then(|| Arc::clone(&display) as Arc<dyn SyncObserver>),
    };
    let runtime = runtime()?;
    let planned = runtime.block_on(plan(
        &client,
        &source,
        file.as_ref(),
        &destination,
        args.scoped,
    ));
    let report = match planned {
        Ok(planned) => runtime.block_on(run(&client, planned, &options, renderer.sink())),
        Err(e) => {
            drop((options, display));
            renderer.finish();
            return Err(CliError::Sync(Box::new(e)));
        }
    };
    if args.json {
        display.json_line(&summary_json(&report, args.dry_run));
    }
    // The display holds the renderer's queue: both go before the renderer is finished.
    drop((options, display));
    renderer.finish();
    if !args.json {
        for line in summary(&report, args.dry_run) {
            crate::outln!("{line}");
        }
    }
    if report.succeeded() {
        return Ok(());
    }
    let failed = report.failures.len();
    for failure in report.failures {
        report_item(&CliError::Sync(Box::new(failure.error)), global.debug);
    }
    Err(CliError::ItemsFailed { failed })
}

/// The registry client: the configuration's settings and stored credentials, with a source
/// file's registry settings and credentials over them.
fn sync_client(
    config: &Config,
    credentials: CredentialStore,
    file: Option<&SourceFile>,
) -> Result<RegistryClient, CliError> {
    let mut registry = config.registry_config();
    let stored: Arc<dyn CredentialLookup> = Arc::new(credentials);
    let lookup = match file {
        Some(file) => {
            file.apply_to(&mut registry);
            Arc::new(file.credentials(stored)) as Arc<dyn CredentialLookup>
        }
        None => stored,
    };
    RegistryClient::new(registry, lookup).map_err(|e| CliError::Registry(Box::new(e)))
}

/// The closing lines: with `--dry-run`, each image's estimate and the total; then one line
/// counting images and blobs.
fn summary(report: &SyncReport, dry_run: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let (mut up_to_date, mut copied, mut sent, mut mounted, mut existing) = (0, 0, 0, 0, 0);
    let (mut would, mut blobs, mut bytes) = (0, 0, 0u64);
    for image in &report.images {
        match &image.outcome {
            ImageOutcome::UpToDate(_) => up_to_date += 1,
            ImageOutcome::Copied(outcome) => {
                copied += 1;
                sent += outcome.copied;
                mounted += outcome.mounted;
                existing += outcome.existing;
            }
            ImageOutcome::WouldCopy(estimate) => {
                would += 1;
                blobs += estimate.blobs;
                bytes += estimate.bytes;
                lines.push(format!(
                    "Would copy {} to {}: {} manifest{}, {} blob{} ({}) to send, {} already there",
                    image.image.source,
                    image.image.destination,
                    estimate.manifests,
                    plural(estimate.manifests),
                    estimate.blobs,
                    plural(estimate.blobs),
                    human_size(estimate.bytes, 3),
                    estimate.present,
                ));
            }
        }
    }
    let failed = report.failures.len();
    let mut counts = vec![format!("{up_to_date} up to date")];
    if dry_run {
        counts.push(format!(
            "{would} to copy: {blobs} blob{} ({}) to send",
            plural(blobs),
            human_size(bytes, 3)
        ));
    } else {
        counts.push(format!(
            "{copied} copied: {sent} blob{} sent, {mounted} mounted, {existing} already there",
            plural(sent)
        ));
    }
    if failed > 0 {
        counts.push(format!("{failed} failed"));
    }
    if report.skipped > 0 {
        counts.push(format!("{} not attempted", report.skipped));
    }
    let image_failures = report
        .failures
        .iter()
        .filter(|f| matches!(f.error, SyncError::Copy { .. }))
        .count();
    let total = report.images.len() + image_failures + report.skipped;
    let verb = if dry_run { "Would sync" } else { "Synced" };
    lines.push(format!(
        "{verb} {total} image{} ({})",
        plural(total),
        counts.join(", ")
    ));
    lines
}

/// `--json`'s closing object.
fn summary_json(report: &SyncReport, dry_run: bool) -> serde_json::Value {
    let count = |wanted: fn(&ImageOutcome) -> bool| {
        report
            .images
            .iter()
            .filter(|image| wanted(&image.outcome))
            .count()
    };
    let would: u64 = report
        .images
        .iter()
        .filter_map(|image| match &image.outcome {
            ImageOutcome::WouldCopy(estimate) => Some(estimate.bytes),
            _ => None,
        })
        .sum();
    serde_json::json!({
        "event": "summary",
        "images": report.images.len() + report.skipped
            + report.failures.iter().filter(|f| matches!(f.error, SyncError::Copy { .. })).count(),
        "copied": count(|o| matches!(o, ImageOutcome::Copied(_) | ImageOutcome::WouldCopy(_))),
        "up_to_date": count(|o| matches!(o, ImageOutcome::UpToDate(_))),
        "failed": report.failures.len(),
        "not_attempted": report.skipped,
        "bytes": if dry_run { would } else { report.sent },
        "dry_run": dry_run,
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

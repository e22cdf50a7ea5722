//! `hoist export [--force] REF DIR`: the image's flattened root filesystem in DIR — the tree
//! `umoci unpack` puts in a bundle's `rootfs/` (see [`hoist::export`]). From the unpacked
//! layers when they are all in the layer store, else from the blobs. Prints nothing on
//! success; `--debug` logs which source was used.
//!
//! `hoist export REF -` (or `SOURCE -`) writes the flattened root filesystem to standard
//! output as one tar instead (`crane export IMAGE -`, `docker export`:
//! [`hoist::export::export_tar`], [`hoist::export::export_tar_from_source`]).
//!
//! `hoist export [--platform P] [--policy F] SOURCE DIR`, SOURCE in one of `hoist copy`'s
//! transports (`docker://REF`, `oci:PATH[:TAG]`, `oci-archive:PATH[:TAG]`, `dir:PATH`,
//! `docker-archive:PATH[:REF]`), reads the image from there instead and stores nothing: from
//! a registry as `crane export` does, from a layout as `umoci unpack` does. The registry
//! client is the one `pull` builds (mirrors, credentials, `certs.d`, `max_download_attempts`,
//! `max_concurrent_downloads` for the layers read ahead of the one applied), the trust policy
//! judges the image manifest before any layer is read (under the transport's scopes, as for
//! `hoist copy`), and each layer is verified as it is applied
//! ([`hoist::export::export_from_source`]). `--platform` and the policy options apply only
//! there (a stored image was judged when it was pulled). A bare REF, or `hoist:REF`, is a
//! stored image.

use std::io::{self, BufWriter, IsTerminal as _};
use std::sync::Arc;

use hoist::copy::ImageLocation;
use hoist::credentials::CredentialStore;
use hoist::export::{
    export_from_source, export_image, export_tar, export_tar_from_source, ExportOptions,
    ExportReport, SourceExport,
};
use hoist::images::resolve_image;
use hoist::media::PlatformMatcher;
use hoist::store::LayerStore;
use hoist::transfer::RetryPolicy;
use hoist::trust::{Subject, Verification};

use crate::cli::{ExportArgs, GlobalArgs};
use crate::commands::copy::open_source;
use crate::commands::registry::platform_arg;
use crate::commands::session::{client, runtime};
use crate::config::Config;
use crate::failure::CliError;

/// Whether the command names an image outside the store (`docker://REF`, `oci:PATH`, …; an
/// unknown transport too, refused by name) rather than a stored one (a bare REF or
/// `hoist:REF`).
pub fn is_source(args: &ExportArgs) -> bool {
    ImageLocation::names_transport(&args.reference) && !args.reference.starts_with("hoist:")
}

/// Runs `hoist export` on a stored image.
pub fn run(args: &ExportArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let policy = &args.policy;
    if args.platform.is_some() || policy.policy.is_some() || policy.registries_d.is_some() {
        return Err(CliError::Arguments(
            "--platform, --policy and --registries.d choose and judge an image outside the \
             store: give docker://REF, oci:PATH[:TAG], oci-archive:PATH[:TAG], dir:PATH or \
             docker-archive:PATH[:REF]"
                .to_owned(),
        ));
    }
    let meta = crate::root::open_store(global.root.as_ref())?;
    let reference = args.reference.strip_prefix("hoist:");
    let image = resolve_image(&meta, reference.unwrap_or(&args.reference))?;
    if is_stdout(args) {
        let report = export_tar(&meta, &image.record, stdout_tar()?)?;
        tracing::debug!(
            layers = report.layers,
            entries = report.entries,
            "exported a tar"
        );
        return Ok(());
    }
    let meta = Arc::new(meta);
    let layers = LayerStore::open(Arc::clone(&meta))?;
    let report = export_image(
        &meta,
        Some(&layers),
        &image.record,
        &args.dir,
        &options(args),
    )?;
    log(&report, args);
    Ok(())
}

/// Runs `hoist export SOURCE DIR` for an image outside the store ([`is_source`]).
pub fn run_source(
    args: &ExportArgs,
    config: &Config,
    credentials: CredentialStore,
) -> Result<(), CliError> {
    let location = ImageLocation::parse(&args.reference).map_err(Box::new)?;
    let platform = platform_arg(args.platform.as_deref())?;
    let verifier = crate::commands::trust::verifier(&args.policy, config)?;
    let client = client(config, credentials)?;
    let source = open_source(&client, None, None, &location)?;
    // The judgement reads the signatures through the source, as `hoist copy`'s does.
    let verification = verifier.map(|verifier| {
        let subject = Subject::from_location(&location, &client);
        Verification {
            verifier,
            subject: match source.signatures() {
                Some(home) => subject.with_signatures(Arc::from(home)),
                None => subject,
            },
        }
    });
    let what = SourceExport {
        platform: platform.as_ref(),
        verify: verification.as_ref(),
        retry: RetryPolicy {
            max_attempts: u32::try_from(config.max_download_attempts).unwrap_or(u32::MAX),
            ..RetryPolicy::default()
        },
        downloads: config.max_concurrent_downloads,
    };
    let platform_found = if is_stdout(args) {
        let out = stdout_tar()?;
        let (report, found) =
            runtime()?.block_on(export_tar_from_source(source.as_ref(), &what, out))?;
        tracing::debug!(
            layers = report.layers,
            entries = report.entries,
            "exported a tar"
        );
        Some(found)
    } else {
        let report = runtime()?.block_on(export_from_source(
            source.as_ref(),
            &what,
            &args.dir,
            &options(args),
        ))?;
        log(&report, args);
        report.platform
    };
    // docker's warning for a single-platform image of another platform, as `hoist pull` gives.
    if let (Some(wanted), Some(actual)) = (&platform, &platform_found) {
        if !PlatformMatcher::new(wanted).matches(actual) {
            crate::errln!(
                "WARNING: image with reference {} was found but does not match the specified \
                 platform: wanted {wanted}, actual: {actual}",
                match &location {
                    ImageLocation::Registry(reference) => reference.familiar(),
                    other => other.to_string(),
                }
            );
        }
    }
    Ok(())
}

/// Standard output for the tar, refused when it is a terminal (as `docker save` refuses).
fn stdout_tar() -> Result<BufWriter<io::Stdout>, CliError> {
    let stdout = io::stdout();
    if stdout.is_terminal() {
        return Err(CliError::Usage(
            "cowardly refusing to write a tar to a terminal: redirect it, or give a directory"
                .to_owned(),
        ));
    }
    Ok(BufWriter::with_capacity(1 << 20, stdout))
}

/// DIR `-`: the flattened tar on standard output, as `crane export IMAGE -` writes it.
fn is_stdout(args: &ExportArgs) -> bool {
    args.dir.as_os_str() == "-"
}

fn options(args: &ExportArgs) -> ExportOptions {
    ExportOptions {
        force: args.force,
        ..ExportOptions::default()
    }
}

fn log(report: &ExportReport, args: &ExportArgs) {
    tracing::debug!(
        source = ?report.source,
        layers = report.layers,
        unapplied = report.unapplied.len(),
        dir = %args.dir.display(),
        "exported"
    );
}

//! `hoist pull [--platform OS/ARCH[/VARIANT]] [--all-platforms] [-a] [-q] [--no-unpack] REF`:
//! docker's `pull` (`--all-platforms` as with docker's containerd image store: every platform
//! of an index is pulled, so `hoist push` can send the index whole).
//!
//! 1. REF is parsed as docker parses it (`busybox` ⇒ `docker.io/library/busybox:latest`); a
//!    malformed one fails with one line quoting it, before anything else.
//! 2. The store at the root (`--root`, `$HOIST_ROOT`, or the default) is opened, the registry
//!    client built from the configuration (mirrors, certs, `insecure`) with the credentials
//!    docker's `config.json` or podman's `auth.json` hold, and the download limits of the
//!    configuration (`max_concurrent_downloads`, `max_download_attempts`) applied.
//! 3. `hoist::pull::Puller` does the pull; progress is drawn by [`crate::progress`]: bars on a
//!    terminal, `ID: Status` lines otherwise, nothing with `-q`.
//! 4. On success the canonical reference is printed last, as the docker CLI does
//!    (`docker.io/library/busybox:latest`; the bare name with `-a`), also with `-q`. An
//!    image pulled with `--platform` whose own platform differs (a single-platform image is
//!    pulled as it is) gets docker's warning on stderr: "image with reference … was found
//!    but does not match the specified platform: wanted …, actual: …".
//!
//! With a trust policy (`--policy FILE`, the config's `policy`, containers' default files;
//! see `commands::trust`), the image is judged before anything is fetched; a refused image
//! stores nothing and the error says why.
//!
//! Where sigstore attachments are enabled for the image (registries.d's
//! `use-sigstore-attachments`, the config's `sigstore_attachments`: the switch verification
//! reads signatures by), the signatures attached to it by tag (cosign's `sha256-DIGEST.sig`)
//! are stored with it, in the store's layout, as podman stores them on pull; `hoist push` and
//! `hoist copy` carry them on.
//!
//! Layers are unpacked into the layer store (`ROOT/layers/<chainID>/`) while they download, as
//! docker registers them; `--no-unpack` stores the verified blobs only (a later pull without it
//! unpacks what is missing).

use std::sync::Arc;

use hoist::credentials::CredentialStore;
use hoist::media::{Platform, PlatformMatcher};
use hoist::pull::{PullOptions, PulledImage, Puller};
use hoist::reference::Reference;
use hoist::store::{LayerStore, MetadataStore};
use hoist::transfer::TransferConfig;

use crate::cli::{GlobalArgs, PullArgs};
use crate::commands::session::{renderer, Session};
use crate::config::Config;
use crate::failure::CliError;

/// Runs `hoist pull`.
pub fn run(
    args: &PullArgs,
    global: &GlobalArgs,
    config: &Config,
    credentials: CredentialStore,
) -> Result<(), CliError> {
    let reference = Reference::parse(&args.reference)?;
    let platform = match &args.platform {
        Some(text) => Some(Platform::parse(text).map_err(|e| CliError::Usage(e.to_string()))?),
        None => None,
    };
    let requested = platform.clone();
    let options = PullOptions {
        platform,
        all_tags: args.all_tags,
        all_platforms: args.all_platforms,
        download: TransferConfig {
            max_concurrent: config.max_concurrent_downloads,
            max_attempts: u32::try_from(config.max_download_attempts).unwrap_or(u32::MAX),
            ..TransferConfig::downloads()
        },
        range_fetch: config.range_fetch,
        verifier: crate::commands::trust::verifier(&args.policy, config)?,
        signatures: crate::commands::trust::attachments(&args.policy, config)?
            .enabled_for(&reference),
        ..PullOptions::default()
    };
    let Session {
        metadata,
        content,
        client,
        runtime,
    } = Session::open(global, config, credentials)?;
    let layers = if args.no_unpack {
        None
    } else {
        // The layer store keeps its own connection to hoist.db (SQLite in WAL mode serves both).
        let own = MetadataStore::open(&content)?;
        Some(LayerStore::open(Arc::new(own))?)
    };
    let options = PullOptions { layers, ..options };
    let puller = Puller::new(client, content, metadata, options);
    let renderer = renderer(args.quiet);
    let result = runtime.block_on(puller.pull(&reference, renderer.sink()));
    renderer.finish();
    let outcome = result.map_err(Box::new)?;
    if let Some(requested) = &requested {
        warn_platform_mismatch(requested, &outcome.images);
    }
    crate::outln!("{}", outcome.reference);
    Ok(())
}

/// docker's warning when an image pulled with `--platform` is for another platform (a
/// single-platform image is pulled whatever its platform, as docker pulls it).
fn warn_platform_mismatch(requested: &Platform, images: &[PulledImage]) {
    let matcher = PlatformMatcher::new(requested);
    for image in images.iter().filter(|i| !matcher.matches(&i.platform)) {
        crate::errln!(
            "WARNING: image with reference {} was found but does not match the specified \
             platform: wanted {}, actual: {}",
            image.reference.familiar(),
            requested,
            image.platform
        );
    }
}

//! `hoist pull [--platform OS/ARCH[/VARIANT]] [-a] [-q] [--no-unpack] REF`: docker's `pull`.
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
//!    (`docker.io/library/busybox:latest`; the bare name with `-a`), also with `-q`.
//!
//! `--no-unpack` is accepted and is, for now, what every pull does: layers are stored as
//! verified blobs, and unpacking into a layer store comes with the layers work.

use std::io::IsTerminal as _;
use std::sync::Arc;

use hoist::credentials::CredentialStore;
use hoist::media::Platform;
use hoist::pull::{PullOptions, Puller};
use hoist::reference::Reference;
use hoist::registry::RegistryClient;
use hoist::store::{ContentStore, MetadataStore};
use hoist::transfer::DownloadConfig;

use crate::cli::{GlobalArgs, PullArgs};
use crate::config::Config;
use crate::failure::CliError;
use crate::progress::{Mode, Renderer};
use crate::root::store_root;

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
    let options = PullOptions {
        platform,
        all_tags: args.all_tags,
        download: DownloadConfig {
            max_concurrent: config.max_concurrent_downloads,
            max_attempts: u32::try_from(config.max_download_attempts).unwrap_or(u32::MAX),
            ..DownloadConfig::default()
        },
        ..PullOptions::default()
    };
    let root = store_root(global.root.as_ref())?;
    let store_error = |source: Box<dyn std::error::Error + Send + Sync>| CliError::Store {
        root: root.clone(),
        source,
    };
    let content = ContentStore::open(&root).map_err(|e| store_error(Box::new(e)))?;
    let metadata = MetadataStore::open(&content).map_err(|e| store_error(Box::new(e)))?;
    let client = RegistryClient::new(config.registry_config(), Arc::new(credentials))
        .map_err(|e| CliError::Registry(Box::new(e)))?;
    let puller = Puller::new(client, content, metadata, options);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let mode = if args.quiet {
        Mode::Quiet
    } else if std::io::stdout().is_terminal() {
        Mode::Terminal
    } else {
        Mode::Plain
    };
    let renderer = Renderer::start(mode);
    let result = runtime.block_on(puller.pull(&reference, renderer.sink()));
    renderer.finish();
    let outcome = result.map_err(Box::new)?;
    println!("{}", outcome.reference);
    Ok(())
}

//! `hoist push [-a] [-q] REF`: docker's `push`.
//!
//! 1. REF is parsed as docker parses it (`app` ⇒ `docker.io/library/app`); a name without a
//!    tag pushes every local tag of it (docker's daemon behaviour; `-a` says so explicitly and
//!    refuses a tag), a digest reference is refused.
//! 2. The store at the root is opened, the registry client built from the configuration with
//!    the stored credentials (as `hoist pull` does), and the upload limit of the configuration
//!    (`max_concurrent_uploads`) applied.
//! 3. `hoist::push::Pusher` does the push; progress goes through the renderer `hoist pull`
//!    uses ([`crate::progress`]): bars on a terminal, `ID: Status` lines otherwise, nothing
//!    with `-q`. Each tag ends with docker's `TAG: digest: sha256:… size: N` line.
//! 4. With `-q`, only the reference pushed is printed, as `docker push -q` does.

use std::io::IsTerminal as _;
use std::sync::Arc;

use hoist::credentials::CredentialStore;
use hoist::push::{PushOptions, Pusher};
use hoist::reference::Reference;
use hoist::registry::RegistryClient;
use hoist::store::{ContentStore, MetadataStore};
use hoist::transfer::UploadConfig;

use crate::cli::{GlobalArgs, PushArgs};
use crate::config::Config;
use crate::failure::CliError;
use crate::progress::{Mode, Renderer};
use crate::root::store_root;

/// Runs `hoist push`.
pub fn run(
    args: &PushArgs,
    global: &GlobalArgs,
    config: &Config,
    credentials: CredentialStore,
) -> Result<(), CliError> {
    let reference = Reference::parse(&args.reference)?;
    let options = PushOptions {
        all_tags: args.all_tags,
        upload: UploadConfig {
            max_concurrent: config.max_concurrent_uploads,
            ..UploadConfig::default()
        },
        ..PushOptions::default()
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
    let pusher = Pusher::new(client, content, metadata, options);

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
    let result = runtime.block_on(pusher.push(&reference, renderer.sink()));
    renderer.finish();
    result.map_err(Box::new)?;
    if args.quiet {
        println!("{reference}");
    }
    Ok(())
}

//! What `pull`, `push` and `copy` share: the local store, a registry client that finds stored
//! credentials (docker's `config.json`, podman's `auth.json`) and honours the configuration's
//! registry settings, an async runtime, and progress drawn for where stdout goes (bars on a
//! terminal, `ID: Status` lines otherwise, nothing with `-q`).

use std::io::IsTerminal as _;
use std::sync::Arc;

use hoist::credentials::CredentialStore;
use hoist::registry::RegistryClient;
use hoist::store::{ContentStore, MetadataStore};

use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::failure::CliError;
use crate::progress::{Mode, Renderer};
use crate::root::open_store;

/// An open store and registry client, ready to move images.
pub struct Session {
    /// The store's metadata (references, images).
    pub metadata: MetadataStore,
    /// The store's content (blobs).
    pub content: ContentStore,
    /// The registry client.
    pub client: RegistryClient,
    /// The async runtime the operation runs on.
    pub runtime: tokio::runtime::Runtime,
}

impl Session {
    /// Opens the store the global flags name and builds the client from `config`.
    pub fn open(
        global: &GlobalArgs,
        config: &Config,
        credentials: CredentialStore,
    ) -> Result<Session, CliError> {
        let metadata = open_store(global.root.as_ref())?;
        let content = metadata.content().clone();
        let client = client(config, credentials)?;
        let runtime = runtime()?;
        Ok(Session {
            metadata,
            content,
            client,
            runtime,
        })
    }
}

/// A registry client from the configuration's registry settings, asking `credentials` (for
/// commands that need no store, such as `copy`).
pub fn client(config: &Config, credentials: CredentialStore) -> Result<RegistryClient, CliError> {
    RegistryClient::new(config.registry_config(), Arc::new(credentials))
        .map_err(|e| CliError::Registry(Box::new(e)))
}

/// The async runtime network commands run on.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
}

/// A progress renderer for stdout: silent when `quiet`, bars on a terminal, plain lines
/// otherwise. Call [`Renderer::finish`] when the operation is over.
pub fn renderer(quiet: bool) -> Renderer {
    Renderer::start(progress_mode(quiet))
}

/// How progress is drawn for stdout: nothing when `quiet`, bars on a terminal, plain lines
/// otherwise.
pub fn progress_mode(quiet: bool) -> Mode {
    if quiet {
        Mode::Quiet
    } else if std::io::stdout().is_terminal() {
        Mode::Terminal
    } else {
        Mode::Plain
    }
}

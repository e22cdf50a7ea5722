//! The `hoist` command: parses the command line, loads the configuration, runs one command,
//! and turns a failure into one clear line and a non-zero exit status.
//!
//! The logic lives in the `hoist` library and in the modules here, one per concern: `cli`,
//! `cli_registry`, `cli_referrers`, `cli_sync` and `cli_trust` (arguments), `config` (the
//! TOML file), `commands` (one file per
//! subcommand, or per family: `registry` for the registry commands, `generate` for
//! completions and man pages), `prompt` (terminal input), `verify` (login checks against the
//! registry), `progress` (pull progress on a terminal or as plain lines), `sync_display`
//! (`hoist sync`'s totals line and `--json` lines), `output` (stdout
//! that survives a closed pipe), `format` (`--format`: Go templates, `json`, `table`),
//! `failure` (error output and exit statuses: 0 ok, 1 failure, 2 usage), `logging` (`-v`,
//! `--debug`, `NO_COLOR`), `root` (where the store is), `units` (docker's human sizes and
//! durations).

// No panics on any path input can reach (STYLE.md): outside tests, unwrap/expect/panic are errors.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod cli;
mod cli_referrers;
mod cli_registry;
mod cli_sync;
mod cli_trust;
mod commands;
mod config;
mod failure;
mod format;
mod logging;
mod output;
mod progress;
mod prompt;
mod root;
mod sync_display;
mod units;
mod verify;

use std::process::ExitCode;

use clap::Parser as _;
use hoist::credentials::CredentialStore;

use cli::{Cli, Command};
use commands::registry::Part;
use config::Config;
use failure::CliError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.global.verbose, cli.global.debug);
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => failure::report(&err, cli.global.debug),
    }
}

fn run(cli: &Cli) -> Result<(), CliError> {
    let config = Config::load(cli.global.config.as_deref())?;
    tracing::debug!(config_file = ?config.source, root = ?cli.global.root, "starting");
    let store = CredentialStore::from_env();
    match &cli.command {
        Command::Pull(args) => commands::pull::run(args, &cli.global, &config, store),
        Command::Push(args) => commands::push::run(args, &cli.global, &config, store),
        Command::Login(args) => commands::login::run(args, &config, &store),
        Command::Logout(args) => commands::logout::run(args, &store),
        Command::Images(args) => commands::images::run(args, &open_store(cli)?),
        Command::Inspect(args) if commands::inspect::is_remote(args) => {
            commands::inspect::run_remote(args, &config, store)
        }
        Command::Inspect(args) => commands::inspect::run(args, &open_store(cli)?, cli.global.debug),
        Command::Tag(args) => commands::tag::run(args, &open_store(cli)?),
        Command::Rmi(args) => commands::rmi::run(args, &open_store(cli)?, cli.global.debug),
        Command::Prune => commands::prune::run(&open_store(cli)?),
        Command::Save(args) => commands::save::run(args, &open_store(cli)?),
        Command::Load(args) => commands::load::run(args, &open_store(cli)?),
        Command::Export(args) if commands::export::is_source(args) => {
            commands::export::run_source(args, &config, store)
        }
        Command::Export(args) => commands::export::run(args, &cli.global),
        Command::Copy(args) => commands::copy::run(args, &cli.global, &config, store),
        Command::Sync(args) => commands::sync::run_sync(args, &cli.global, &config, store),
        Command::Ls(args) => commands::registry::ls(args, &config, store),
        Command::Catalog(args) => commands::registry::catalog(args, &config, store),
        Command::Digest(args) => commands::registry::image_part(Part::Digest, args, &config, store),
        Command::Manifest(args) => {
            commands::registry::image_part(Part::Manifest, args, &config, store)
        }
        Command::Config(args) => commands::registry::image_part(Part::Config, args, &config, store),
        Command::Blob(args) => commands::registry::blob(args, &config, store),
        Command::Delete(args) => commands::registry::delete(args, &config, store),
        Command::History(args) => commands::history::run(args, &cli.global, &config, store),
        Command::Attach(args) => commands::referrers::attach(args, &config, store),
        Command::Discover(args) => commands::referrers::discover(args, &cli.global, &config, store),
        Command::GenerateSigstoreKey(args) => commands::trust::generate_key(args),
        Command::Completion(args) => commands::generate::completion(args),
        Command::Man(args) => commands::generate::man(args),
    }
}

fn open_store(cli: &Cli) -> Result<hoist::store::MetadataStore, CliError> {
    root::open_store(cli.global.root.as_ref())
}

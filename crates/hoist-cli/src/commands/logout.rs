//! `hoist logout [HOST]`: docker's `logout`.
//!
//! Removes the credentials for HOST (default `docker.io`) from the helper configured for it
//! and every `auths` entry naming it, whatever spelling of the key (`host`, `https://host`,
//! ...) it was filed under. Prints `Removing login credentials for HOST`, or
//! `Not logged in to HOST` when there was nothing to remove (not an error, as in docker).

use hoist::credentials::CredentialStore;

use crate::cli::LogoutArgs;
use crate::commands::registry_host;
use crate::failure::CliError;

/// Runs `hoist logout`.
pub fn run(args: &LogoutArgs, store: &CredentialStore) -> Result<(), CliError> {
    let host = registry_host(args.server.as_deref())?;
    match store.erase(&host)? {
        Some(location) => {
            tracing::debug!(registry = %host, from = %location, "credentials removed");
            crate::outln!("Removing login credentials for {host}");
        }
        None => crate::outln!("Not logged in to {host}"),
    }
    Ok(())
}

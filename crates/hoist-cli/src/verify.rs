//! Checking credentials with the registry before `hoist login` stores them.
//!
//! Placeholder until the registry client lands: every check fails with a clear message.

use hoist::credentials::Credentials;

use crate::config::Config;
use crate::failure::CliError;

/// Checks credentials against registries, driving the async registry client on a runtime of
/// its own (the commands themselves are synchronous).
pub struct LoginVerifier {
    runtime: tokio::runtime::Runtime,
}

impl LoginVerifier {
    /// A verifier for the registries `config` describes.
    pub fn new(_config: &Config) -> Result<LoginVerifier, CliError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(CliError::Runtime)?;
        Ok(LoginVerifier { runtime })
    }

    /// Whether `host` accepts `credentials`.
    pub fn check(&self, host: &str, _credentials: &Credentials) -> Result<(), CliError> {
        self.runtime.block_on(async {
            Err(CliError::Login {
                host: host.to_string(),
                source: "the registry client is not built in yet".into(),
            })
        })
    }
}

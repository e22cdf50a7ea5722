//! Checking credentials with the registry before `hoist login` stores them.
//!
//! Uses [`RegistryClient::check_login`] (docker's `loginV2`: ping `/v2/`, then Basic, or a
//! token from the token server the challenge names, and an authorised `GET /v2/` that must
//! answer 200). The client is built from the configuration file's registry settings
//! (`certs_dirs`, `ca_file`, `insecure`), so `hoist login` reaches a registry the way pulls
//! will. A refusal (`UNAUTHORIZED`/`DENIED`, or a 401 from the registry or its token server) is
//! reported as "unauthorized"; anything else as the failure it is.

use std::sync::Arc;

use hoist::credentials::Credentials;
use hoist::registry::{RegistryClient, RegistryError, StaticCredentials};

use crate::config::Config;
use crate::failure::CliError;

/// Checks credentials against registries, driving the async registry client on a runtime of
/// its own (the commands themselves are synchronous, so nothing blocks inside async code).
pub struct LoginVerifier {
    runtime: tokio::runtime::Runtime,
    client: RegistryClient,
}

impl LoginVerifier {
    /// A verifier for the registries `config` describes.
    pub fn new(config: &Config) -> Result<LoginVerifier, CliError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(CliError::Runtime)?;
        // The credentials under test are passed to `check_login` directly; stored ones must not
        // stand in for them.
        let lookup = Arc::new(StaticCredentials::none());
        let client = RegistryClient::new(config.registry_config(), lookup)
            .map_err(|err| CliError::Registry(Box::new(err)))?;
        Ok(LoginVerifier { runtime, client })
    }

    /// Whether `host` accepts `credentials`. `Some(token)` is an identity (refresh) token the
    /// token server issued for them, which docker stores in place of the password.
    pub fn check(&self, host: &str, credentials: &Credentials) -> Result<Option<String>, CliError> {
        let result = self
            .runtime
            .block_on(self.client.check_login(host, credentials));
        result.map(|check| check.identity_token).map_err(|source| {
            let host = host.to_string();
            let refused = is_refusal(&source);
            let source = Box::new(source);
            if refused {
                CliError::Unauthorized { host, source }
            } else {
                CliError::Login { host, source }
            }
        })
    }
}

fn is_refusal(err: &RegistryError) -> bool {
    err.is_auth() || err.status() == Some(401)
}

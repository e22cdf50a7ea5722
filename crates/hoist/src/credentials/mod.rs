//! Credentials for registries: what a registry client may present, and where it comes from.
//!
//! Corresponds to docker's `types.AuthConfig` and the credential stores of docker's CLI
//! (`config.json`, `credsStore`, `credHelpers`) and podman's `auth.json`.
//!
//! - [`Credentials`]: what is presented (Basic user/password, or an identity token);
//! - [`server_key`]: docker's normalisation of registry addresses into credential keys;
//! - [`DockerConfigFile`]: docker's `config.json`, read and written as docker does;
//! - [`CredentialHelper`]: the `docker-credential-*` program protocol;
//! - [`PodmanAuthFile`]: podman's `auth.json`, read-only;
//! - [`CredentialStore`]: the composition a registry client and `hoist login` use.
//!
//! Invariant: secrets never reach a log. `Debug` on every type here redacts them, and no error
//! quotes a secret.

use std::fmt;

mod auths;
mod docker_config;
mod error;
mod helper;
mod podman;
mod server_key;
mod store;

pub use docker_config::DockerConfigFile;
pub use error::CredentialError;
pub use helper::CredentialHelper;
pub use podman::PodmanAuthFile;
pub use server_key::{convert_to_hostname, is_docker_hub, key_matches, server_key, DOCKER_HUB_KEY};
pub use store::{CredentialStore, StoreLocation};

/// What hoist can present to a registry (or its token server) for one host.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and password (or personal access token), sent as HTTP Basic to registries
    /// that ask for Basic, and to token servers.
    Basic {
        /// The user name.
        username: String,
        /// The password or access token.
        password: String,
    },
    /// An OAuth2 refresh token ("identity token" in docker's `config.json`), exchanged at the
    /// token server with `grant_type=refresh_token`.
    IdentityToken {
        /// The user name the token belongs to, where known (may be empty).
        username: String,
        /// The refresh token itself.
        token: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::IdentityToken { username, .. } => f
                .debug_struct("IdentityToken")
                .field("username", username)
                .field("token", &"<redacted>")
                .finish(),
        }
    }
}

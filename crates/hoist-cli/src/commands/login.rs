//! `hoist login [-u USER] [--password-stdin | -p PASSWORD] [HOST]`: docker's `login`.
//!
//! 1. HOST defaults to `docker.io`; a URL is reduced to its `host[:port]`.
//! 2. With no user and no password given, credentials already stored for HOST are tried first
//!    (docker's `loginWithCredStoreCreds`, "Authenticating with existing credentials...").
//! 3. Otherwise the user comes from `-u` or a prompt, the password from `--password-stdin`,
//!    `-p` (with docker's warning that it is insecure) or a prompt without echo. Prompts need
//!    stdin to be a terminal; otherwise the command fails and says to use `--password-stdin`.
//! 4. The credentials are checked against the registry ([`verify`]) before anything is
//!    written: refused credentials store nothing and the failure says "unauthorized".
//! 5. They are stored where docker would store them (a configured `docker-credential-*`
//!    helper, else `auths` in `config.json`, with docker's warning that the password is kept
//!    unencrypted there), then `Login Succeeded` is printed.

use hoist::credentials::{CredentialStore, Credentials, StoreLocation};

use crate::cli::LoginArgs;
use crate::commands::registry_host;
use crate::config::Config;
use crate::failure::{one_line, CliError};
use crate::prompt;
use crate::verify::LoginVerifier;

/// Runs `hoist login`.
pub fn run(args: &LoginArgs, config: &Config, store: &CredentialStore) -> Result<(), CliError> {
    let host = registry_host(args.server.as_deref())?;
    if args.password.is_some() {
        crate::errln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let verifier = LoginVerifier::new(config)?;
    let stored = stored_credentials(store, &host);

    let nothing_given = args.username.is_none() && args.password.is_none() && !args.password_stdin;
    if let (true, Some(existing)) = (nothing_given, &stored) {
        crate::errln!("Authenticating with existing credentials...");
        match verifier.check(&host, existing) {
            Ok(_) => {
                crate::outln!("Login Succeeded");
                return Ok(());
            }
            Err(err) if !prompt::can_prompt() => return Err(err),
            Err(err) => crate::errln!(
                "Login did not succeed with the stored credentials: {}",
                one_line(&err)
            ),
        }
    }

    let credentials = gather(args, stored.as_ref())?;
    let credentials = match verifier.check(&host, &credentials)? {
        // As docker's `loginV2`: a refresh token from the token server is stored instead of
        // the password.
        Some(token) => Credentials::IdentityToken {
            username: username_of(&credentials).to_string(),
            token,
        },
        None => credentials,
    };
    let location = store.store(&host, &credentials)?;
    if let StoreLocation::File(path) = &location {
        crate::errln!(
            "WARNING! Your password will be stored unencrypted in {}.\n\
             Configure a credential helper to remove this warning. See\n\
             https://docs.docker.com/engine/reference/commandline/login/#credentials-store",
            path.display()
        );
    }
    tracing::debug!(registry = %host, stored_in = %location, "credentials stored");
    crate::outln!("Login Succeeded");
    Ok(())
}

/// The credentials already stored for `host`, if they can be read; a store that cannot be
/// read only loses the shortcut and the default user name, so it is logged, not fatal.
fn stored_credentials(store: &CredentialStore, host: &str) -> Option<Credentials> {
    match store.lookup(host) {
        Ok(found) => found,
        Err(err) => {
            tracing::warn!(
                "cannot read the stored credentials for {host}: {}",
                one_line(&err)
            );
            None
        }
    }
}

/// The user and password from the flags, stdin or prompts (module docs, step 3).
fn gather(args: &LoginArgs, stored: Option<&Credentials>) -> Result<Credentials, CliError> {
    let username = match &args.username {
        Some(name) if !name.trim().is_empty() => name.trim().to_string(),
        Some(_) => {
            return Err(CliError::Usage(
                "the user name given with -u is empty".into(),
            ))
        }
        None => {
            let current = match stored {
                Some(Credentials::Basic { username, .. }) if !username.is_empty() => {
                    Some(username.as_str())
                }
                _ => None,
            };
            prompt::username(current)?
        }
    };
    let password = if args.password_stdin {
        prompt::password_from_stdin()?
    } else {
        match &args.password {
            Some(password) if !password.is_empty() => password.clone(),
            Some(_) => {
                return Err(CliError::Usage(
                    "the password given with -p is empty".into(),
                ))
            }
            None => prompt::password()?,
        }
    };
    Ok(Credentials::Basic { username, password })
}

fn username_of(credentials: &Credentials) -> &str {
    match credentials {
        Credentials::Basic { username, .. } | Credentials::IdentityToken { username, .. } => {
            username
        }
    }
}

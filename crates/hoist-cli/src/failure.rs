//! How a failed command ends: one clear line on stderr, `Error: …` (the one prefix of every
//! failure, whole command or one item of `rmi`/`inspect`, as docker's per-item lines, podman
//! and crane print it), and a non-zero exit status.
//!
//! Exit statuses are stable: 0 success; 1 failure (the operation could not be done); 2 usage
//! (the command line is wrong: clap's own errors and [`CliError::Arguments`]).
//!
//! Every command returns `Result<(), CliError>`; [`report`] is the one place that turns an error
//! into what the user sees. The line is the error and its causes joined by `: ` (the cause of an
//! I/O failure, such as "Permission denied", is what makes the line useful), except where the
//! error's own message says everything ([`summary`]). With `--debug` the
//! chain is also printed one cause per line, and the error's `Debug` form after it. Nothing here
//! prints a secret: the errors hoist builds never hold one.

use std::error::Error;
use std::io::Write as _;
use std::process::ExitCode;

use hoist::credentials::CredentialError;
use hoist::error::PullErrorMessage;
use hoist::images::ImageError;
use hoist::pull::PullError;
use hoist::push::PushError;
use hoist::reference::ReferenceError;
use hoist::registry::RegistryError;
use hoist::store::{GcError, MetadataError, StoreError};
use hoist::transfer::TransferError;

use crate::config::ConfigError;

/// Why a `hoist` command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The configuration file cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// Credentials could not be read or written.
    #[error(transparent)]
    Credentials(#[from] CredentialError),

    /// The command line asks for something that cannot be done; the message says why.
    #[error("{0}")]
    Usage(String),

    /// The command line is malformed in a way clap cannot see (a bad `--format` or
    /// `--filter`, a REF without the digest or tag the command needs): exit status 2, as
    /// clap's own usage errors. (A malformed reference or platform keeps exit status 1, as
    /// before these were told apart.)
    #[error("{0}")]
    Arguments(String),

    /// Reading the password (or user name) from stdin or the terminal failed.
    #[error("cannot read {what}")]
    ReadInput {
        /// What was being read.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// The async runtime could not be started.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),

    /// The registry refused the credentials given to `hoist login`.
    #[error("login to {host} failed: unauthorized: incorrect username or password")]
    Unauthorized {
        /// The registry.
        host: String,
        /// The registry's answer.
        #[source]
        source: Box<RegistryError>,
    },

    /// The registry could not be asked (unreachable, TLS, not a v2 registry, ...).
    #[error("login to {host} failed")]
    Login {
        /// The registry.
        host: String,
        /// What went wrong.
        #[source]
        source: Box<RegistryError>,
    },

    /// The registry client could not be set up from the configuration.
    #[error("cannot set up the registry client")]
    Registry(#[source] Box<RegistryError>),

    /// An image operation (resolve, inspect, tag, delete) failed.
    #[error(transparent)]
    Image(#[from] ImageError),

    /// `save` or `load` failed.
    #[error(transparent)]
    Archive(#[from] hoist::archive::ArchiveError),
    /// `hoist export` failed.
    #[error(transparent)]
    Export(#[from] hoist::export::ExportError),

    /// The layer store could not be opened.
    #[error(transparent)]
    Layers(#[from] hoist::store::LayerError),

    /// Garbage collection failed.
    #[error(transparent)]
    Gc(#[from] GcError),

    /// The local store could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// The store's metadata database could not be opened or read.
    #[error(transparent)]
    Metadata(#[from] MetadataError),

    /// Some items of a multi-item command (`rmi`, `inspect`) failed; each was already
    /// reported with [`report_item`], so [`report`] prints nothing more.
    #[error("{failed} of the given images failed")]
    ItemsFailed {
        /// How many.
        failed: usize,
    },

    /// The image reference given on the command line is malformed.
    #[error(transparent)]
    Reference(#[from] ReferenceError),

    /// The pull failed.
    #[error(transparent)]
    Pull(#[from] Box<PullError>),

    /// The push failed.
    #[error(transparent)]
    Push(#[from] Box<PushError>),

    /// The copy failed.
    #[error(transparent)]
    Copy(#[from] Box<hoist::copy::CopyError>),

    /// A sync could not start, or one of its images or repositories failed.
    #[error(transparent)]
    Sync(#[from] Box<hoist::sync::SyncError>),

    /// A registry command's request failed; `action` says what was asked.
    #[error("{action}")]
    Remote {
        /// What was being done, for people ("cannot list the tags of r/team/app").
        action: String,
        /// The registry's answer.
        #[source]
        source: Box<RegistryError>,
    },

    /// Reading an image without storing it (`digest`, `manifest`, `config`, `blob`,
    /// `inspect docker://`, `history docker://`) failed.
    #[error(transparent)]
    View(#[from] Box<hoist::view::ViewError>),

    /// `hoist delete` failed.
    #[error(transparent)]
    Delete(#[from] Box<hoist::registry::DeleteError>),

    /// The trust policy or `registries.d` cannot be used.
    #[error(transparent)]
    Policy(#[from] hoist::trust::PolicyError),

    /// A signing or verification key cannot be used.
    #[error(transparent)]
    Key(#[from] hoist::trust::KeyError),

    /// Signing an image failed.
    #[error(transparent)]
    Trust(#[from] Box<hoist::trust::TrustError>),

    /// Writing the output to stdout failed (other than the reader going away).
    #[error("cannot write to stdout")]
    Stdout(#[source] std::io::Error),
}

impl From<hoist::view::ViewError> for CliError {
    fn from(e: hoist::view::ViewError) -> CliError {
        CliError::View(Box::new(e))
    }
}

/// The exit status for usage errors (a command line that cannot be run), as clap's own.
pub const USAGE_EXIT: u8 = 2;

/// Prints `err` as described in the module docs and returns the exit status for it.
pub fn report(err: &CliError, debug: bool) -> ExitCode {
    if matches!(err, CliError::ItemsFailed { .. }) {
        return ExitCode::FAILURE;
    }
    print_error("Error: ", err, debug);
    match err {
        CliError::Arguments(_) => ExitCode::from(USAGE_EXIT),
        _ => ExitCode::FAILURE,
    }
}

/// Reports the failure of one item of a multi-item command the way docker's CLI does
/// (`Error: No such image: x`), and lets the command go on with the next item.
pub fn report_item(err: &CliError, debug: bool) {
    print_error("Error: ", err, debug);
}

fn print_error(prefix: &str, err: &CliError, debug: bool) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{prefix}{}", summary(err));
    if debug {
        let mut cause = err.source();
        while let Some(current) = cause {
            let _ = writeln!(stderr, "  caused by: {current}");
            cause = current.source();
        }
        let _ = writeln!(stderr, "  debug: {err:?}");
    }
}

/// The line printed for `err`: its causes joined on, except for a refusal of credentials, whose
/// own message is the whole story (the registry's wording, e.g. "authentication required", and
/// the URL asked are in the `--debug` chain).
///
/// Pull failures docker words itself (`TranslatePullError`, "no matching manifest …",
/// "filesystem layer verification failed …", "layers from manifest don't match …") are printed
/// as docker prints them: the registry's URL and the store's detail go to the `--debug` chain.
pub fn summary(err: &CliError) -> String {
    if let Some(line) = certificate_refusal(err) {
        return line;
    }
    let line = worded(err);
    match refused_host(err) {
        Some(host) => format!(
            "{line} (nothing listens there: check the host and port of {host}, and that the \
             registry is running)"
        ),
        None => line,
    }
}

/// [`summary`]'s line before any hint.
fn worded(err: &CliError) -> String {
    match err {
        CliError::Unauthorized { .. } => err.to_string(),
        // docker's sentence, naming the command that fixes it here: the library keeps
        // docker's words ('docker login') for callers that match on them.
        CliError::Pull(pull) if is_docker_sentence(pull) => err
            .to_string()
            .replace("may require 'docker login'", "may require 'hoist login'"),
        CliError::Push(push) if is_push_sentence(push) => err.to_string(),
        CliError::Remote { .. } | CliError::View(_) | CliError::Delete(_) => {
            registry_answer(err).unwrap_or_else(|| one_line(err))
        }
        _ => one_line(err),
    }
}

/// For the registry commands: the error's own message and the registry's answer in its words
/// (`manifest unknown`, `name unknown: repository name not known to registry`), without the
/// method and URL asked (those are in the `--debug` chain). `None` when no registry answer is
/// in the chain (unreachable, TLS, …: [`one_line`] says it all).
fn registry_answer(err: &CliError) -> Option<String> {
    let entry = registry_errors(err).find_map(RegistryError::entry)?;
    Some(format!("{err}: {entry}"))
}

/// The registry errors in `err`'s cause chain, outermost first (sources are held as
/// `RegistryError` or `Box<RegistryError>`).
fn registry_errors<'a>(err: &'a CliError) -> impl Iterator<Item = &'a RegistryError> {
    let mut cause: Option<&'a (dyn Error + 'static)> = err.source();
    transparent_registry_error(err)
        .into_iter()
        .chain(std::iter::from_fn(move || {
            while let Some(current) = cause {
                cause = current.source();
                let registry = current.downcast_ref::<RegistryError>().or_else(|| {
                    current
                        .downcast_ref::<Box<RegistryError>>()
                        .map(AsRef::as_ref)
                });
                if registry.is_some() {
                    return registry;
                }
            }
            None
        }))
}

/// A registry error a pull passes on unchanged: `#[error(transparent)]` wrappers forward
/// `source()` past it, so the cause chain never shows it.
fn transparent_registry_error(err: &CliError) -> Option<&RegistryError> {
    let CliError::Pull(pull) = err else {
        return None;
    };
    match pull.as_ref() {
        PullError::Registry(message) => match message.as_ref() {
            PullErrorMessage::Registry(registry) => Some(registry),
            _ => None,
        },
        _ => None,
    }
}

/// A registry whose TLS handshake failed over certificates (its certificate not trusted, or
/// ours wanted and missing) is a configuration problem, not an unreachable host: the line
/// says so and names the fixes, instead of the endpoint attempts (and a plain-HTTP fallback's
/// "not a v2 registry") that `--debug` still shows.
fn certificate_refusal(err: &CliError) -> Option<String> {
    let host = registry_errors(err).find_map(|e| match e {
        RegistryError::Unreachable {
            host,
            certificate_rejected: true,
            ..
        } => Some(host),
        _ => None,
    })?;
    Some(format!(
        "cannot reach registry {host} over TLS: its certificate is not trusted (unknown \
         certificate authority) or it wants a client certificate. Trust its CA with \
         ca_file under [registries.\"{host}\"] in the config or as \
         /etc/docker/certs.d/{host}/ca.crt; put a client certificate in \
         /etc/docker/certs.d/{host}/client.cert and client.key; or, for a registry you \
         trust on this network, set insecure = true for it"
    ))
}

/// The registry every URL of which refused the connection (nothing listens there), if that is
/// why `err` failed: a mistyped host or port, or a registry not started, not a network fault.
fn refused_host(err: &CliError) -> Option<&str> {
    registry_errors(err).find_map(|e| match e {
        RegistryError::Unreachable {
            host,
            connection_refused: true,
            ..
        } => Some(host.as_str()),
        _ => None,
    })
}

/// Push failures whose own message is the whole story (docker's sentences; a refusal names
/// the repository and the registry's code and message, the URL is in the `--debug` chain).
fn is_push_sentence(err: &PushError) -> bool {
    matches!(
        err,
        PushError::Denied { .. }
            | PushError::NotFound { .. }
            | PushError::DigestReference { .. }
            | PushError::TagWithAllTags { .. }
    )
}

fn is_docker_sentence(err: &PullError) -> bool {
    if let PullError::Record(record) = err {
        return record.is_docker_sentence();
    }
    matches!(
        err,
        PullError::Registry(_)
            | PullError::NoMatchingManifest(_)
            | PullError::Transfer(TransferError::VerificationFailed { .. })
    )
}

/// The error and its causes on one line, skipping a cause whose text its parent already ends
/// with (errors that include their source in their own message).
pub fn one_line(err: &dyn Error) -> String {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(current) = cause {
        let text = current.to_string();
        if !text.is_empty() && !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = current.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn one_line_joins_the_cause_chain() {
        let err = CliError::from(CredentialError::Read {
            path: PathBuf::from("/h/.docker/config.json"),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        });
        let line = one_line(&err);
        assert_eq!(
            line,
            "cannot read credential file /h/.docker/config.json: permission denied"
        );
    }

    #[test]
    fn unauthorized_login_is_summarised_without_the_registry_detail() {
        let err = CliError::Unauthorized {
            host: "r:1".into(),
            source: Box::new(RegistryError::NoCredentials { host: "r:1".into() }),
        };
        assert_eq!(
            summary(&err),
            "login to r:1 failed: unauthorized: incorrect username or password"
        );
    }

    #[test]
    fn a_refused_connection_says_what_to_check_and_another_failure_does_not() {
        let unreachable = |connection_refused| CliError::Unauthorized {
            host: "r:1".into(),
            source: Box::new(RegistryError::Unreachable {
                host: "r:1".into(),
                attempts: "http://r:1/v2/: connection refused".into(),
                certificate_rejected: false,
                connection_refused,
            }),
        };
        let refused = summary(&unreachable(true));
        assert!(
            refused.ends_with(
                "(nothing listens there: check the host and port of r:1, and that the registry \
                 is running)"
            ),
            "{refused}"
        );
        assert!(!summary(&unreachable(false)).contains("nothing listens"));
    }

    #[test]
    fn one_line_does_not_repeat_a_cause_already_in_the_message() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer: inner")]
        struct Outer(#[source] Inner);
        #[derive(Debug, thiserror::Error)]
        #[error("inner")]
        struct Inner;
        assert_eq!(one_line(&Outer(Inner)), "outer: inner");
    }
}

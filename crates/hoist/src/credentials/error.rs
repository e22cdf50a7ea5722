//! Errors of the credential stores.
//!
//! Every error names the file or the `docker-credential-*` program involved and what was wrong
//! with it. None of them carries a secret: decoding errors say *that* an `auth` value is not
//! valid base64, never which bytes; JSON errors come from a syntax-only parse (serde_json's
//! syntax errors give a line and column, not the offending value) and structural problems are
//! described by key and field name.

use std::io;
use std::path::PathBuf;

/// A failure reading or writing registry credentials.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// A credential file exists but could not be read.
    #[error("cannot read credential file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },

    /// A credential file is not valid JSON.
    #[error("malformed JSON in credential file {path}: {source}")]
    MalformedJson {
        /// The file.
        path: PathBuf,
        /// The syntax error, with line and column.
        #[source]
        source: serde_json::Error,
    },

    /// A credential file is JSON, but not of the shape docker and podman write.
    #[error("unexpected content in credential file {path}: {what}")]
    UnexpectedShape {
        /// The file.
        path: PathBuf,
        /// What was wrong, by key and field name.
        what: String,
    },

    /// An `auth` value in a credential file does not decode to `user:password`.
    #[error("invalid \"auth\" for {key} in credential file {path}: {reason}")]
    BadAuth {
        /// The file.
        path: PathBuf,
        /// The `auths` key of the entry.
        key: String,
        /// What is wrong with the value (never the value itself).
        reason: &'static str,
    },

    /// The docker configuration file could not be written.
    #[error("cannot write credential file {path}")]
    Write {
        /// The file (or the temporary file next to it).
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },

    /// There is nowhere to write docker's `config.json`: neither `DOCKER_CONFIG` nor a home
    /// directory is known.
    #[error("cannot locate docker's config.json: neither DOCKER_CONFIG nor HOME is set")]
    NoDockerConfig,

    /// The configuration names a credential helper that cannot be a program name.
    #[error(
        "invalid credential helper name {name:?} in {path}: it must not be empty or contain '/'"
    )]
    InvalidHelperName {
        /// The name as configured.
        name: String,
        /// The configuration file naming it.
        path: PathBuf,
    },

    /// The `docker-credential-NAME` program is not on `PATH`.
    #[error("credential helper docker-credential-{helper} not found on PATH")]
    HelperNotFound {
        /// The helper's name (without the `docker-credential-` prefix).
        helper: String,
    },

    /// The helper program could not be started or talked to.
    #[error("cannot run credential helper docker-credential-{helper}")]
    HelperIo {
        /// The helper's name.
        helper: String,
        /// Why.
        #[source]
        source: io::Error,
    },

    /// The helper exited unsuccessfully.
    #[error("credential helper docker-credential-{helper} {action} failed ({status}): {message}")]
    HelperFailed {
        /// The helper's name.
        helper: String,
        /// The protocol action: `get`, `store`, `erase` or `list`.
        action: &'static str,
        /// Its exit status.
        status: String,
        /// What it printed (stdout, where helpers write their errors, and stderr), trimmed.
        message: String,
    },

    /// The helper succeeded but printed something that is not the protocol's JSON.
    #[error(
        "credential helper docker-credential-{helper} {action} printed malformed output: {reason}"
    )]
    HelperOutput {
        /// The helper's name.
        helper: String,
        /// The protocol action.
        action: &'static str,
        /// What was wrong (never the output itself, which may hold a secret).
        reason: String,
    },
}

//! The docker credential-helper protocol: `docker-credential-NAME` programs.
//!
//! Corresponds to `github.com/docker/docker-credential-helpers/client` as docker's CLI uses it
//! (`nativeStore`). The program is run with one argument, the action:
//!
//! | action  | stdin                                   | stdout on success                 |
//! |---------|-----------------------------------------|-----------------------------------|
//! | `get`   | the server URL                          | `{"ServerURL","Username","Secret"}` |
//! | `store` | `{"ServerURL","Username","Secret"}`     | nothing                           |
//! | `erase` | the server URL                          | nothing                           |
//! | `list`  | nothing                                 | `{"URL": "username", ...}`        |
//!
//! On failure a helper exits non-zero and prints its error on stdout; the message
//! `credentials not found in native keychain` means "no credentials", which is not an error for
//! `get` (nothing stored) nor for `erase` (nothing to remove). A `Username` of `<token>` marks
//! the secret as an identity (refresh) token, as docker's `tokenUsername`.
//!
//! Invariants: the secret travels only through the pipes; it never appears in an error (errors
//! about malformed output describe the JSON problem by kind and position, not by content), and
//! helper names containing `/` are refused before anything is run, so a configuration cannot
//! point hoist at an arbitrary path.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, Write as _};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{CredentialError, Credentials};

/// The message by which helpers report that they hold nothing for a server
/// (docker-credential-helpers' `errCredentialsNotFoundMessage`).
const NOT_FOUND_MESSAGE: &str = "credentials not found in native keychain";

/// The user name that marks an identity token (docker's `tokenUsername`).
const TOKEN_USERNAME: &str = "<token>";

/// Helper output quoted in errors is cut to this many characters.
const MAX_MESSAGE_CHARS: usize = 1000;

/// How often a start refused with "text file busy" is tried again, and the first pause.
///
/// `ETXTBSY` comes when the program was just written and a descriptor open for writing it is
/// still held somewhere — typically by a child another thread of the writing process forked in
/// that moment, until the child's own `exec` closes it. It clears within milliseconds, so the
/// start is tried again (as Go's `cmd/go` does for the binaries it has just linked) instead of
/// failing a login or a pull.
const BUSY_RETRIES: u32 = 5;
const BUSY_FIRST_PAUSE: Duration = Duration::from_millis(5);

/// One `docker-credential-NAME` program.
#[derive(Debug, Clone)]
pub struct CredentialHelper {
    name: String,
    search_path: Option<OsString>,
}

/// What travels over the pipes for `get` and `store`; never `Debug`, it holds a secret.
#[derive(Serialize, Deserialize)]
struct HelperCredentials {
    #[serde(rename = "ServerURL", default)]
    server_url: String,
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

impl CredentialHelper {
    /// The helper `docker-credential-NAME`, found on this process's `PATH`.
    pub fn new(name: impl Into<String>) -> Self {
        CredentialHelper {
            name: name.into(),
            search_path: None,
        }
    }

    /// Searches for the program in `path` (a `PATH`-style list) instead of this process's
    /// `PATH`; the helper also runs with that `PATH`.
    pub fn with_search_path(mut self, path: impl Into<OsString>) -> Self {
        self.search_path = Some(path.into());
        self
    }

    /// The helper's name, without the `docker-credential-` prefix.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The credentials the helper holds for `server_url`; `None` when it holds none.
    pub fn get(&self, server_url: &str) -> Result<Option<Credentials>, CredentialError> {
        let stdout = match self.run("get", server_url.as_bytes())? {
            Outcome::Success(stdout) => stdout,
            Outcome::NotFound => return Ok(None),
        };
        let found: HelperCredentials =
            serde_json::from_slice(&stdout).map_err(|err| self.malformed("get", &err))?;
        if found.username.is_empty() && found.secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(if found.username == TOKEN_USERNAME {
            Credentials::IdentityToken {
                username: String::new(),
                token: found.secret,
            }
        } else {
            Credentials::Basic {
                username: found.username,
                password: found.secret,
            }
        }))
    }

    /// Stores `credentials` for `server_url` in the helper.
    pub fn store(
        &self,
        server_url: &str,
        credentials: &Credentials,
    ) -> Result<(), CredentialError> {
        let (username, secret) = match credentials {
            Credentials::Basic { username, password } => (username.as_str(), password),
            Credentials::IdentityToken { token, .. } => (TOKEN_USERNAME, token),
        };
        let input = HelperCredentials {
            server_url: server_url.to_string(),
            username: username.to_string(),
            secret: secret.clone(),
        };
        let bytes = serde_json::to_vec(&input).map_err(|err| CredentialError::HelperIo {
            helper: self.name.clone(),
            source: io::Error::from(err),
        })?;
        match self.run("store", &bytes)? {
            Outcome::Success(_) => Ok(()),
            // A helper that answers "not found" to a store has failed to store.
            Outcome::NotFound => Err(CredentialError::HelperFailed {
                helper: self.name.clone(),
                action: "store",
                status: "reported".into(),
                message: NOT_FOUND_MESSAGE.into(),
            }),
        }
    }

    /// Removes what the helper holds for `server_url`; `false` when it held nothing.
    pub fn erase(&self, server_url: &str) -> Result<bool, CredentialError> {
        match self.run("erase", server_url.as_bytes())? {
            Outcome::Success(_) => Ok(true),
            Outcome::NotFound => Ok(false),
        }
    }

    /// Every server URL the helper holds credentials for, with the user name of each.
    pub fn list(&self) -> Result<BTreeMap<String, String>, CredentialError> {
        match self.run("list", b"")? {
            Outcome::Success(stdout) => {
                serde_json::from_slice(&stdout).map_err(|err| self.malformed("list", &err))
            }
            Outcome::NotFound => Ok(BTreeMap::new()),
        }
    }

    /// Runs the program with `action`, feeding it `input`.
    fn run(&self, action: &'static str, input: &[u8]) -> Result<Outcome, CredentialError> {
        let program = format!("docker-credential-{}", self.name);
        let mut command = Command::new(&program);
        command
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(path) = &self.search_path {
            // std searches a PATH set on the Command when resolving the program.
            command.env("PATH", path);
        }
        let io_err = |source| CredentialError::HelperIo {
            helper: self.name.clone(),
            source,
        };
        let mut child = match spawn_when_not_busy(&mut command) {
            Ok(child) => child,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(CredentialError::HelperNotFound {
                    helper: self.name.clone(),
                })
            }
            Err(err) => return Err(io_err(err)),
        };
        if let Some(mut stdin) = child.stdin.take() {
            // The input is far smaller than a pipe buffer, so this cannot block on a helper
            // that has not started reading; a helper that exits without reading is fine.
            match stdin.write_all(input) {
                Err(err) if err.kind() != io::ErrorKind::BrokenPipe => return Err(io_err(err)),
                _ => {}
            }
        }
        let output = child.wait_with_output().map_err(io_err)?;
        self.outcome(action, output)
    }

    fn outcome(&self, action: &'static str, output: Output) -> Result<Outcome, CredentialError> {
        if output.status.success() {
            return Ok(Outcome::Success(output.stdout));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        if stdout.trim() == NOT_FOUND_MESSAGE {
            return Ok(Outcome::NotFound);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = [stdout.trim(), stderr.trim()]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let message = if message.is_empty() {
            "no message".to_string()
        } else {
            message.chars().take(MAX_MESSAGE_CHARS).collect()
        };
        Err(CredentialError::HelperFailed {
            helper: self.name.clone(),
            action,
            status: output.status.to_string(),
            message,
        })
    }

    fn malformed(&self, action: &'static str, err: &serde_json::Error) -> CredentialError {
        CredentialError::HelperOutput {
            helper: self.name.clone(),
            action,
            reason: format!(
                "not the protocol's JSON ({:?} error at line {} column {})",
                err.classify(),
                err.line(),
                err.column()
            ),
        }
    }
}

enum Outcome {
    Success(Vec<u8>),
    NotFound,
}

/// Starts `command`, trying again with growing pauses while the kernel answers "text file busy".
fn spawn_when_not_busy(command: &mut Command) -> io::Result<Child> {
    let mut pause = BUSY_FIRST_PAUSE;
    for _ in 0..BUSY_RETRIES {
        match command.spawn() {
            Err(err) if err.kind() == io::ErrorKind::ExecutableFileBusy => {
                thread::sleep(pause);
                pause *= 2;
            }
            started => return started,
        }
    }
    command.spawn()
}

#[cfg(test)]
mod tests;

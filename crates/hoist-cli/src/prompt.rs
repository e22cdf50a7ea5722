//! Reading a user name and password from the person at the terminal, or a password from stdin.
//!
//! Matches docker's `login` (`ConfigureAuth`, `readPasswordFromStdin`): the user name is read
//! as a line from stdin, the password from the terminal without echo; nothing is prompted for
//! when stdin is not a terminal (a script would hang, or feed the wrong line as the password),
//! and the error says how to pass the password instead. A password read with
//! `--password-stdin` loses one trailing `\n` and then one `\r`, as in docker, and nothing else
//! (passwords may end in spaces).

use std::io::{self, BufRead as _, IsTerminal as _, Read as _, Write as _};

use crate::failure::CliError;

/// Whether hoist may prompt: stdin is a terminal.
pub fn can_prompt() -> bool {
    io::stdin().is_terminal()
}

/// The error for a prompt that cannot happen because stdin is not a terminal.
pub fn cannot_prompt() -> CliError {
    CliError::Usage(
        "cannot prompt for credentials: stdin is not a terminal; \
         use -u USER --password-stdin and pass the password on stdin"
            .into(),
    )
}

/// Asks for the user name on the terminal; `current` (a stored user name) is offered as the
/// default, shown as docker shows it: `Username (current): `.
pub fn username(current: Option<&str>) -> Result<String, CliError> {
    if !can_prompt() {
        return Err(cannot_prompt());
    }
    let mut stderr = io::stderr();
    let prompt = match current {
        Some(current) => format!("Username ({current}): "),
        None => "Username: ".to_string(),
    };
    let read_err = |source| CliError::ReadInput {
        what: "the user name",
        source,
    };
    stderr
        .write_all(prompt.as_bytes())
        .and_then(|()| stderr.flush())
        .map_err(read_err)?;
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line).map_err(read_err)?;
    let typed = line.trim();
    let name = match (typed.is_empty(), current) {
        (true, Some(current)) => current.to_string(),
        _ => typed.to_string(),
    };
    if name.is_empty() {
        return Err(CliError::Usage("a user name is required".into()));
    }
    Ok(name)
}

/// Asks for the password on the terminal, without echo.
pub fn password() -> Result<String, CliError> {
    if !can_prompt() {
        return Err(cannot_prompt());
    }
    let password =
        rpassword::prompt_password("Password: ").map_err(|source| CliError::ReadInput {
            what: "the password from the terminal",
            source,
        })?;
    if password.is_empty() {
        return Err(CliError::Usage("a password is required".into()));
    }
    Ok(password)
}

/// Reads the password given with `--password-stdin`.
pub fn password_from_stdin() -> Result<String, CliError> {
    let mut contents = String::new();
    io::stdin()
        .read_to_string(&mut contents)
        .map_err(|source| CliError::ReadInput {
            what: "the password from stdin",
            source,
        })?;
    let password = trim_line_end(&contents);
    if password.is_empty() {
        return Err(CliError::Usage(
            "--password-stdin was given but stdin holds no password".into(),
        ));
    }
    Ok(password.to_string())
}

/// docker's trimming: one trailing `\n`, then one trailing `\r`.
fn trim_line_end(text: &str) -> &str {
    let text = text.strip_suffix('\n').unwrap_or(text);
    text.strip_suffix('\r').unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_newline_is_removed() {
        assert_eq!(trim_line_end("secret\n"), "secret");
        assert_eq!(trim_line_end("secret\r\n"), "secret");
    }

    #[test]
    fn other_whitespace_is_kept() {
        assert_eq!(trim_line_end(" secret \n\n"), " secret \n");
        assert_eq!(trim_line_end("secret"), "secret");
    }
}

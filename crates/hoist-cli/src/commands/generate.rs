//! Documentation generated from the clap definitions, so it can never disagree with the
//! parser: `hoist completion bash|zsh|fish|elvish|powershell` prints a completion script
//! (clap_complete), `hoist man DIR` writes `hoist.1` and one `hoist-COMMAND.1` page per
//! subcommand (clap_mangen), as packagers install them.
//!
//! Install, for example: `hoist completion bash > /etc/bash_completion.d/hoist`,
//! `hoist completion zsh > "${fpath[1]}/_hoist"`,
//! `hoist completion fish > ~/.config/fish/completions/hoist.fish`,
//! `hoist man /usr/local/share/man/man1`.

use std::path::Path;

use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionArgs, ManArgs};
use crate::failure::CliError;
use crate::output;

/// Runs `hoist completion`.
pub fn completion(args: &CompletionArgs) -> Result<(), CliError> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "hoist", &mut script);
    output::bytes(&script).map_err(CliError::Stdout)
}

/// Runs `hoist man`.
pub fn man(args: &ManArgs) -> Result<(), CliError> {
    let write_failed = |path: &Path, source: std::io::Error| {
        CliError::Usage(format!(
            "cannot write the man page {}: {source}",
            path.display()
        ))
    };
    std::fs::create_dir_all(&args.dir).map_err(|e| write_failed(&args.dir, e))?;
    let command = Cli::command();
    let mut pages = vec![(String::from("hoist"), command.clone())];
    for sub in command.get_subcommands() {
        let name = format!("hoist-{}", sub.get_name());
        let page = sub.clone().name(name.clone());
        pages.push((name, page));
    }
    for (name, page) in pages {
        let path = args.dir.join(format!("{name}.1"));
        let mut text = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut text)
            .map_err(|e| write_failed(&path, e))?;
        std::fs::write(&path, text).map_err(|e| write_failed(&path, e))?;
        crate::outln!("{}", path.display());
    }
    Ok(())
}

//! The command line: global flags and subcommands (DESIGN.md's "CLI contract"), parsed by clap.
//!
//! Flags are named as docker's CLI names them, so that muscle memory works:
//! `hoist login -u USER --password-stdin HOST` is `docker login -u USER --password-stdin HOST`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// hoist: pull, push and manage container images without a daemon.
#[derive(Debug, Parser)]
#[command(name = "hoist", version, about)]
pub struct Cli {
    /// Flags every command accepts.
    #[command(flatten)]
    pub global: GlobalArgs,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The local store's root directory [default: /var/lib/hoist for root,
    /// ~/.local/share/hoist otherwise]
    #[arg(long, value_name = "DIR", env = "HOIST_ROOT", global = true)]
    pub root: Option<PathBuf>,

    /// The configuration file [default: ~/.config/hoist/config.toml, then
    /// /etc/hoist/config.toml]
    #[arg(long, value_name = "FILE", env = "HOIST_CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// Log what hoist does to stderr, and print the causes of a failure
    #[arg(long, global = true)]
    pub debug: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in to a registry: check the credentials with it, then store them where docker would
    Login(LoginArgs),
    /// Remove the stored credentials for a registry
    Logout(LogoutArgs),
    /// List the images in the local store
    Images(ImagesArgs),
    /// Show an image's configuration and manifest as JSON
    Inspect(InspectArgs),
    /// Create a tag TARGET that refers to the image SOURCE
    Tag(TagArgs),
    /// Remove image references; images left without any are deleted
    Rmi(RmiArgs),
    /// Remove dangling images, blobs no image needs and abandoned partial downloads
    Prune,
    /// Write an image's flattened root filesystem into a directory
    Export(ExportArgs),
}

/// `hoist export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write into DIR even if it is not empty (over its contents)
    #[arg(short = 'f', long)]
    pub force: bool,

    /// The image: a reference, image ID or unique ID prefix
    #[arg(value_name = "REF")]
    pub reference: String,

    /// The directory to write the root filesystem into (created if absent)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `hoist images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Print every field as JSON instead of a table
    #[arg(long)]
    pub json: bool,

    /// Only images of this repository (and tag)
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// `hoist inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Images: references, image IDs or unique ID prefixes
    #[arg(value_name = "REF", required = true)]
    pub references: Vec<String>,
}

/// `hoist tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// The image: a reference, image ID or unique ID prefix
    #[arg(value_name = "SOURCE")]
    pub source: String,

    /// The new reference, NAME[:TAG]
    #[arg(value_name = "TARGET")]
    pub target: String,
}

/// `hoist rmi`.
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Remove every reference of an image given by ID, even in several repositories
    #[arg(short = 'f', long)]
    pub force: bool,

    /// Images: references, image IDs or unique ID prefixes
    #[arg(value_name = "REF", required = true)]
    pub references: Vec<String>,
}

/// `hoist login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The user name
    #[arg(short = 'u', long)]
    pub username: Option<String>,

    /// The password (insecure: it shows in the process list and shell history; use
    /// --password-stdin)
    #[arg(short = 'p', long, conflicts_with = "password_stdin")]
    pub password: Option<String>,

    /// Read the password from stdin
    #[arg(long, requires = "username")]
    pub password_stdin: bool,

    /// The registry (host[:port]) [default: docker.io]
    #[arg(value_name = "HOST")]
    pub server: Option<String>,
}

/// `hoist logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry (host[:port]) [default: docker.io]
    #[arg(value_name = "HOST")]
    pub server: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn password_stdin_requires_a_username() {
        let err = Cli::try_parse_from(["hoist", "login", "--password-stdin", "h"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn password_and_password_stdin_are_exclusive() {
        let args = [
            "hoist",
            "login",
            "-u",
            "u",
            "-p",
            "x",
            "--password-stdin",
            "h",
        ];
        let err = Cli::try_parse_from(args).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn global_flags_are_accepted_after_the_subcommand() {
        let cli =
            Cli::try_parse_from(["hoist", "logout", "--debug", "--config", "/c.toml"]).unwrap();
        assert!(cli.global.debug);
        assert_eq!(cli.global.config, Some(PathBuf::from("/c.toml")));
    }
}

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
    /// Download an image from a registry into the local store
    Pull(PullArgs),
    /// Upload an image (or every tag of a name) from the local store to a registry
    Push(PushArgs),
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
    /// Save images to a tar archive in `docker save` format (streamed to stdout by default)
    Save(SaveArgs),
    /// Load images and their tags from a `docker save` or OCI layout tar archive
    Load(LoadArgs),
    /// Write an image's flattened root filesystem into a directory
    Export(ExportArgs),
    /// Copy an image (every platform of an index by default) between registries, OCI layout
    /// directories, skopeo dir: directories, archives and the local store (docker://REF,
    /// oci:PATH[:TAG], dir:PATH, docker-archive:PATH[:REF], oci-archive:PATH[:TAG], hoist:REF)
    Copy(CopyArgs),
}

/// `hoist copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Copy only this platform's manifest from a multi-platform image (os/arch[/variant])
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", conflicts_with = "all")]
    pub platform: Option<String>,

    /// Copy every platform of a multi-platform image and the index itself (the default)
    #[arg(long)]
    pub all: bool,

    /// Print only the digest copied, no progress
    #[arg(short, long)]
    pub quiet: bool,

    /// Compress uncompressed layers on the way (skopeo's --dest-compress-format); compressed
    /// layers are copied as they are. Into a registry only
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub dest_compress: Option<LayerCompression>,

    /// With a hoist:REF destination, store blobs only; do not unpack layers (like
    /// `hoist pull --no-unpack`)
    #[arg(long)]
    pub no_unpack: bool,

    /// The source: docker://REF, a bare REF (registry), oci:PATH[:TAG] (OCI layout),
    /// dir:PATH, docker-archive:PATH[:REF|:@N], oci-archive:PATH[:TAG] or hoist:REF (the local
    /// store)
    #[arg(value_name = "SRC")]
    pub source: String,

    /// The destination: docker://REF, a bare REF (registry), oci:PATH[:TAG] (OCI layout),
    /// dir:PATH, docker-archive:PATH[:REF] (one platform), oci-archive:PATH[:TAG] or hoist:REF
    /// (the local store: the image is recorded and tagged as a pull would)
    #[arg(value_name = "DST")]
    pub destination: String,
}

/// `hoist save`.
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to this file instead of stdout
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Images: NAME (every tag of it), NAME:TAG, NAME@DIGEST, image IDs or unique ID prefixes
    #[arg(value_name = "REF", required = true)]
    pub references: Vec<String>,
}

/// `hoist load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from this tar archive (possibly gzip- or zstd-compressed) instead of stdin
    #[arg(short = 'i', long, value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Suppress progress output (accepted for docker compatibility: load prints only the
    /// "Loaded image" lines, which docker prints with -q too)
    #[arg(short = 'q', long)]
    pub quiet: bool,
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

/// `hoist pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Choose this platform from a multi-platform image (os/arch[/variant], e.g. linux/arm64
    /// or linux/arm/v7) [default: the host's]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,

    /// Download every tagged image of the repository
    #[arg(short = 'a', long)]
    pub all_tags: bool,

    /// From a multi-platform image, download every platform (the tag still names the
    /// --platform one), so that `hoist push` sends the whole index
    #[arg(long)]
    pub all_platforms: bool,

    /// Print only the image reference, no progress
    #[arg(short, long)]
    pub quiet: bool,

    /// Store the image's verified blobs without unpacking its layers into the layer store
    #[arg(long)]
    pub no_unpack: bool,

    /// The image: NAME[:TAG|@DIGEST] (a name alone means :latest)
    #[arg(value_name = "REF")]
    pub reference: String,
}

/// `hoist push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push every local tag of the repository (what a name without a tag does anyway)
    #[arg(short = 'a', long)]
    pub all_tags: bool,

    /// Print only the reference pushed, no progress
    #[arg(short, long)]
    pub quiet: bool,

    /// Compression for layers stored uncompressed (images from `hoist load`); layers stored
    /// compressed are sent as they are
    #[arg(long, value_enum, default_value_t = LayerCompression::Gzip)]
    pub compression: LayerCompression,

    /// The image: NAME[:TAG] (a name alone pushes every local tag of it)
    #[arg(value_name = "REF")]
    pub reference: String,
}

/// `hoist push --compression`, `hoist copy --dest-compress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LayerCompression {
    /// gzip on every core (`…tar.gzip` / `…tar+gzip` layers)
    Gzip,
    /// zstd (`…tar+zstd` layers; the manifest is pushed as OCI)
    Zstd,
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
    fn pull_takes_docker_flags() {
        let cli = Cli::try_parse_from([
            "hoist",
            "pull",
            "-a",
            "-q",
            "--platform",
            "linux/arm/v7",
            "--no-unpack",
            "busybox",
        ])
        .unwrap();
        let Command::Pull(args) = cli.command else {
            panic!("not a pull: {:?}", cli.command);
        };
        assert!(args.all_tags && args.quiet && args.no_unpack);
        assert_eq!(args.platform.as_deref(), Some("linux/arm/v7"));
        assert_eq!(args.reference, "busybox");
    }

    #[test]
    fn copy_takes_a_destination_compression() {
        let cli =
            Cli::try_parse_from(["hoist", "copy", "--dest-compress", "zstd", "oci:/a", "r/b"])
                .unwrap();
        let Command::Copy(args) = cli.command else {
            panic!("not a copy: {:?}", cli.command);
        };
        assert_eq!(args.dest_compress, Some(LayerCompression::Zstd));
    }

    #[test]
    fn copy_refuses_platform_with_all() {
        let args = [
            "hoist",
            "copy",
            "--all",
            "--platform",
            "linux/amd64",
            "a",
            "b",
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

//! The command line: global flags and subcommands (DESIGN.md's "CLI contract"), parsed by clap.
//!
//! Flags are named as docker's CLI names them, so that muscle memory works:
//! `hoist login -u USER --password-stdin HOST` is `docker login -u USER --password-stdin HOST`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use crate::cli_referrers::{AttachArgs, DiscoverArgs, DiscoverFormat};
pub use crate::cli_registry::{
    BlobArgs, CatalogArgs, DeleteArgs, HistoryArgs, LsArgs, RemoteImageArgs,
};
pub use crate::cli_sync::SyncArgs;
pub use crate::cli_trust::{GenerateKeyArgs, PolicyArgs, SignArgs};

/// hoist: pull, push and manage container images without a daemon.
#[derive(Debug, Parser)]
#[command(
    name = "hoist",
    version,
    about,
    after_help = "Exit status: 0 success, 1 failure, 2 command-line (usage) error.\n\
                  Configuration: docs/config.md, or `--config FILE`; environment: HOIST_ROOT, \
                  HOIST_CONFIG, DOCKER_CONFIG, REGISTRY_AUTH_FILE, RUST_LOG, NO_COLOR."
)]
pub struct Cli {
    /// Flags every command accepts.
    #[command(flatten)]
    pub global: GlobalArgs,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The help heading of the flags every command accepts, listed apart from a command's own.
const GLOBAL: &str = "Global options";

/// Flags every command accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The local store's root directory [default: /var/lib/hoist for root,
    /// ~/.local/share/hoist otherwise]
    #[arg(long, value_name = "DIR", env = "HOIST_ROOT", global = true, help_heading = GLOBAL)]
    pub root: Option<PathBuf>,

    /// The configuration file [default: ~/.config/hoist/config.toml, then
    /// /etc/hoist/config.toml]
    #[arg(long, value_name = "FILE", env = "HOIST_CONFIG", global = true, help_heading = GLOBAL)]
    pub config: Option<PathBuf>,

    /// Log what hoist does to stderr, and print the causes of a failure (same as -vv)
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub debug: bool,

    /// More diagnostics on stderr: -v warnings, -vv debug (as --debug), -vvv trace
    #[arg(
        short = 'v',
        long = "verbose",
        action = clap::ArgAction::Count,
        global = true,
        help_heading = GLOBAL
    )]
    pub verbose: u8,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Download an image from a registry into the local store
    #[command(
        after_help = "Examples:\n  hoist pull alpine:3.20\n  hoist pull --platform linux/arm64 -q localhost:5000/team/app:v1"
    )]
    Pull(PullArgs),
    /// Upload an image (or every tag of a name) from the local store to a registry
    #[command(
        after_help = "Examples:\n  hoist push localhost:5000/team/app:v1\n  hoist push -a localhost:5000/team/app"
    )]
    Push(PushArgs),
    /// Log in to a registry: check the credentials with it, then store them where docker would
    #[command(
        after_help = "Example:\n  echo \"$TOKEN\" | hoist login -u ci --password-stdin registry.example.com"
    )]
    Login(LoginArgs),
    /// Remove the stored credentials for a registry
    #[command(after_help = "Example:\n  hoist logout registry.example.com")]
    Logout(LogoutArgs),
    /// List the images in the local store
    Images(ImagesArgs),
    /// Show an image's configuration and manifest as JSON
    Inspect(InspectArgs),
    /// Create a tag TARGET that refers to the image SOURCE
    #[command(after_help = "Example:\n  hoist tag alpine:3.20 localhost:5000/base/alpine:3.20")]
    Tag(TagArgs),
    /// Remove image references; images left without any are deleted
    #[command(
        after_help = "Examples:\n  hoist rmi localhost:5000/team/app:v1\n  hoist rmi -f 4f0e9d2c1b3a"
    )]
    Rmi(RmiArgs),
    /// Remove dangling images, blobs no image needs and abandoned partial downloads
    #[command(after_help = "Example:\n  hoist prune")]
    Prune,
    /// Save images to a tar archive in `docker save` format (streamed to stdout by default)
    #[command(after_help = "Example:\n  hoist save -o app.tar localhost:5000/team/app:v1")]
    Save(SaveArgs),
    /// Load images and their tags from a `docker save` or OCI layout tar archive
    #[command(after_help = "Example:\n  hoist load -i app.tar")]
    Load(LoadArgs),
    /// Write an image's flattened root filesystem into a directory (or, DIR `-`, as a tar on
    /// standard output), from the store or straight from a registry, an OCI layout, a skopeo
    /// dir: or an archive
    #[command(
        after_help = "Examples:\n  hoist export alpine:3.20 ./rootfs\n  hoist export alpine:3.20 - | docker import - alpine-flat\n  hoist export docker://alpine:3.20 ./rootfs\n  hoist export docker://alpine:3.20 - > rootfs.tar\n  hoist export oci:./layout:v1 ./rootfs\n  hoist export docker-archive:app.tar ./rootfs"
    )]
    Export(ExportArgs),
    /// Copy an image (every platform of an index by default) between registries, OCI layout
    /// directories, skopeo dir: directories, archives and the local store (docker://REF,
    /// oci:PATH[:TAG], dir:PATH, docker-archive:PATH[:REF], oci-archive:PATH[:TAG], hoist:REF)
    #[command(
        after_help = "Examples:\n  hoist copy docker://localhost:5000/team/app:v1 oci:./layout:v1\n  hoist copy oci:./layout:v1 hoist:team/app:v1\n  hoist copy hoist:team/app:v1 docker-archive:app.tar:team/app:v1"
    )]
    Copy(CopyArgs),
    /// Copy many images at once, incrementally: every tag of a repository, the images of a
    /// skopeo sync YAML file, or a directory written by an earlier sync, into a registry or
    /// an OCI layout directory (skopeo's sync)
    #[command(
        after_help = "Examples:\n  hoist sync --src docker --dest docker registry.example.com/library/busybox my-registry.local.lan/mirror\n  hoist sync --src yaml --dest dir sync.yml /media/usb\n  hoist sync --src yaml --dest dir --since /media/usb/index.json sync.yml /media/usb2\n  hoist sync --src dir --dest docker /media/usb my-registry.local.lan/mirror"
    )]
    Sync(SyncArgs),
    /// List the tags of a repository in a registry
    Ls(LsArgs),
    /// List the repositories of a registry
    Catalog(CatalogArgs),
    /// Print the digest a reference names in its registry
    #[command(
        after_help = "Example:\n  hoist digest --platform linux/arm64 localhost:5000/team/app:v1"
    )]
    Digest(RemoteImageArgs),
    /// Print an image's manifest from its registry, byte for byte
    #[command(after_help = "Example:\n  hoist manifest localhost:5000/team/app:v1 | jq .")]
    Manifest(RemoteImageArgs),
    /// Print an image's config blob from its registry, byte for byte
    #[command(
        after_help = "Example:\n  hoist config --platform linux/amd64 localhost:5000/team/app:v1"
    )]
    Config(RemoteImageArgs),
    /// Write a blob from a registry to stdout, verified against its digest
    Blob(BlobArgs),
    /// Delete an image (its manifest) from a registry
    Delete(DeleteArgs),
    /// Show the build steps of an image (stored, or docker://REF from its registry)
    History(HistoryArgs),
    /// Attach files to an image as an artifact referring to it (OCI 1.1 referrer, oras attach)
    Attach(AttachArgs),
    /// List the artifacts referring to an image, and theirs (OCI 1.1 referrers, oras discover)
    Discover(DiscoverArgs),
    /// Make a sigstore key pair: PREFIX.private (encrypted, as cosign's) and PREFIX.pub
    GenerateSigstoreKey(GenerateKeyArgs),
    /// Print a shell completion script
    #[command(after_help = "Example:\n  hoist completion bash > /etc/bash_completion.d/hoist")]
    Completion(CompletionArgs),
    /// Write man pages (hoist.1, hoist-COMMAND.1) into a directory
    #[command(after_help = "Example:\n  hoist man /usr/local/share/man/man1")]
    Man(ManArgs),
}

/// `hoist completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `hoist man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The directory to write the pages into (created if absent)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
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

    /// Compress layers on the way into FORMAT (skopeo's --dest-compress-format): uncompressed
    /// layers and layers in another format are (re)compressed, layers in FORMAT copied as
    /// they are. Into any destination but a docker-archive (whose layers are uncompressed)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub dest_compress: Option<LayerCompression>,

    /// With a hoist:REF destination, store blobs only; do not unpack layers (like
    /// `hoist pull --no-unpack`)
    #[arg(long)]
    pub no_unpack: bool,

    /// Leave out the referrers (OCI 1.1 signatures, SBOMs, attestations), which are copied
    /// with the image, recursively, by default into a registry, an oci: layout or the store
    #[arg(long)]
    pub no_referrers: bool,

    /// Leave out the sigstore signatures (cosign's sha256-DIGEST.sig), which are copied with
    /// the image by default between registries, oci: layouts and the store, as skopeo
    /// copies them
    #[arg(long)]
    pub remove_signatures: bool,

    /// Which sources may be copied.
    #[command(flatten)]
    pub policy: PolicyArgs,

    /// Signing the destination.
    #[command(flatten)]
    pub sign: SignArgs,

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

    /// With an image outside the store (docker://REF, oci:PATH, …): the platform to export
    /// from a multi-platform image [default: the host's]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,

    /// With an image outside the store (docker://REF, oci:PATH, …): which images may be
    /// exported.
    #[command(flatten)]
    pub policy: PolicyArgs,

    /// The image: a stored image's reference, image ID or unique ID prefix (or hoist:REF); or
    /// one outside the store, read as it is written and not stored: docker://REF,
    /// oci:PATH[:TAG], oci-archive:PATH[:TAG], dir:PATH, docker-archive:PATH[:REF]
    #[arg(value_name = "REF")]
    pub reference: String,

    /// The directory to write the root filesystem into: created if absent, and then only once
    /// the whole tree is written (an export killed midway leaves none, and the next one
    /// needs no --force). `-`: a tar of it on standard output
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `hoist images`.
#[derive(Debug, Args)]
#[command(
    after_help = "Filters: reference=PATTERN (shell pattern on NAME[:TAG]), dangling=true|false, \
                  before=IMAGE, since=IMAGE.\nFormat fields: .Repository .Tag .Digest .ID \
                  .CreatedSince .CreatedAt .Size .CompressedSize .Platform\n\nExamples:\n  \
                  hoist images 'team/*'\n  hoist images --filter dangling=true -q\n  hoist images \
                  --format '{{.Repository}}:{{.Tag}}'"
)]
pub struct ImagesArgs {
    /// Print every field as JSON instead of a table
    #[arg(long)]
    pub json: bool,

    /// Print only the image IDs
    #[arg(short, long)]
    pub quiet: bool,

    /// Show a DIGEST column (the manifest digest)
    #[arg(long)]
    pub digests: bool,

    /// Do not truncate image IDs
    #[arg(long)]
    pub no_trunc: bool,

    /// Only rows matching KEY=VALUE (repeatable): reference=PATTERN, dangling=true|false,
    /// before=IMAGE, since=IMAGE
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,

    /// Output: `table`, `json`, or a Go template (`table {{.Repository}}\t{{.Size}}`)
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Only images of this repository (and tag): a name, or a shell pattern as in
    /// `--filter reference=`
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// `hoist inspect`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  hoist inspect alpine:3.20\n  hoist inspect --format '{{.Id}}' \
                  alpine:3.20\n  hoist inspect docker://localhost:5000/team/app:v1"
)]
pub struct InspectArgs {
    /// With docker://REF: print the raw manifest the reference names, as the registry serves it
    #[arg(long)]
    pub raw: bool,

    /// With docker://REF: the platform to describe from a multi-platform image [default: the
    /// host's]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,

    /// Output: `json` (the default), or a Go template per image (`{{.Id}}`, `{{json .Config}}`)
    #[arg(short = 'f', long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Images: references, image IDs or unique ID prefixes; or one docker://REF to describe
    /// an image in its registry as `skopeo inspect` does, without pulling it
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

    /// Which images may be pulled.
    #[command(flatten)]
    pub policy: PolicyArgs,

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

    /// Leave out the sigstore signatures (cosign's sha256-DIGEST.sig) the store holds for
    /// the image, which are pushed with it by default, as podman push does
    #[arg(long)]
    pub remove_signatures: bool,

    /// Signing what is pushed.
    #[command(flatten)]
    pub sign: SignArgs,

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
    fn every_command_has_an_example_in_its_help() {
        for sub in Cli::command().get_subcommands() {
            let after = sub.get_after_help().map(ToString::to_string);
            assert!(
                after.is_some_and(|text| text.contains("Example")),
                "hoist {} has no example",
                sub.get_name()
            );
        }
    }

    #[test]
    fn global_flags_are_listed_apart() {
        let command = Cli::command();
        let debug = command
            .get_arguments()
            .find(|a| a.get_id() == "debug")
            .unwrap();
        assert_eq!(debug.get_help_heading(), Some("Global options"));
    }

    #[test]
    fn global_flags_are_accepted_after_the_subcommand() {
        let cli =
            Cli::try_parse_from(["hoist", "logout", "--debug", "--config", "/c.toml"]).unwrap();
        assert!(cli.global.debug);
        assert_eq!(cli.global.config, Some(PathBuf::from("/c.toml")));
    }
}

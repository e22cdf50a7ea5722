//! The arguments of the registry commands (`ls`, `catalog`, `digest`, `manifest`, `config`,
//! `blob`, `delete`) and of `history`, kept apart from `cli` so each file stays one concern.
//! They read a registry and store nothing; flags are crane's and skopeo's where those tools
//! have them (`--platform`, `--page-size`), docker's for `history` (`--no-trunc`, `-q`,
//! `--format`).

use clap::Args;

/// `hoist ls`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  hoist ls localhost:5000/team/app")]
pub struct LsArgs {
    /// Ask the registry for pages of N tags (`?n=N`); every page is read either way
    #[arg(long, value_name = "N")]
    pub page_size: Option<usize>,

    /// Output: `json` (an array), or a Go template over each tag (`{{.Tag}}`)
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// The repository, NAME or docker://NAME (a tag or digest given is ignored)
    #[arg(value_name = "REPO")]
    pub repository: String,
}

/// `hoist catalog`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  hoist catalog localhost:5000")]
pub struct CatalogArgs {
    /// Ask the registry for pages of N repositories (`?n=N`); every page is read either way
    #[arg(long, value_name = "N")]
    pub page_size: Option<usize>,

    /// Output: `json` (an array), or a Go template over each repository (`{{.Repository}}`)
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// The registry, HOST[:PORT]
    #[arg(value_name = "REGISTRY")]
    pub registry: String,
}

/// `hoist digest`, `hoist manifest`, `hoist config`.
#[derive(Debug, Args)]
pub struct RemoteImageArgs {
    /// From a multi-platform image, this platform's manifest (os/arch[/variant])
    /// [default: digest and manifest: the index itself; config: the host's platform]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,

    /// The image: NAME[:TAG|@DIGEST] or docker://NAME[:TAG|@DIGEST]
    #[arg(value_name = "REF")]
    pub reference: String,
}

/// `hoist blob`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  hoist blob localhost:5000/team/app@sha256:4f0e… > layer.tar.gz"
)]
pub struct BlobArgs {
    /// The blob: NAME@DIGEST (the repository and the blob's digest)
    #[arg(value_name = "REF@DIGEST")]
    pub reference: String,
}

/// `hoist delete`.
#[derive(Debug, Args)]
#[command(
    after_help = "A tag is resolved to its digest first; deleting a manifest removes every tag \
                  that names it.\n\nExample:\n  hoist delete localhost:5000/team/app:old"
)]
pub struct DeleteArgs {
    /// The image: NAME:TAG or NAME@DIGEST (docker://… accepted)
    #[arg(value_name = "REF")]
    pub reference: String,
}

/// `hoist history`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  hoist history alpine:3.20\n  hoist history --no-trunc \
                  docker://localhost:5000/team/app:v1"
)]
pub struct HistoryArgs {
    /// Do not truncate CREATED BY
    #[arg(long)]
    pub no_trunc: bool,

    /// Print only the image IDs
    #[arg(short, long)]
    pub quiet: bool,

    /// Print sizes and dates for people (`-H=false`: bytes and RFC 3339 times)
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,

    /// Output: `table`, `json`, or a Go template (`{{.CreatedBy}}\t{{.Size}}`)
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// With docker://REF, the platform to read from a multi-platform image
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,

    /// A stored image (reference, image ID or prefix) or docker://REF (read from the registry)
    #[arg(value_name = "REF")]
    pub reference: String,
}

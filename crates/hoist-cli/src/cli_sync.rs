//! The arguments of `hoist sync` (skopeo sync's flags, where hoist has them).

use clap::Args;

/// `hoist sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The source transport: docker (SRC is REPO[:TAG|@DIGEST]: a repository alone means every
    /// tag), dir (SRC is an OCI layout written by --dest dir, or a tree of skopeo dir:
    /// images) or yaml (SRC is skopeo sync's YAML file, or the same in TOML: FILE.toml)
    #[arg(
        short = 's',
        long = "src",
        value_name = "TRANSPORT",
        value_parser = ["docker", "dir", "yaml"]
    )]
    pub source_transport: String,

    /// The destination transport: docker (DEST is REGISTRY[/PREFIX]) or dir (DEST is one OCI
    /// layout holding every image, each named NAME:TAG)
    #[arg(
        short = 'd',
        long = "dest",
        value_name = "TRANSPORT",
        value_parser = ["docker", "dir"]
    )]
    pub destination_transport: String,

    /// Name images at the destination by their whole source reference
    /// (DEST/registry.example.com/library/debian:12) instead of its last component
    /// (DEST/debian:12)
    #[arg(long)]
    pub scoped: bool,

    /// Copy every platform of multi-platform images and the indexes themselves (the default)
    #[arg(short = 'a', long, conflicts_with = "platform")]
    pub all: bool,

    /// Copy only this platform's manifest from multi-platform images
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,

    /// Keep every digest (always so: sync never rewrites a manifest; accepted for skopeo
    /// command lines)
    #[arg(long)]
    pub preserve_digests: bool,

    /// Print what would be copied and how many blobs and bytes it would send; write nothing
    #[arg(long)]
    pub dry_run: bool,

    /// After a failed image or repository, go on with the others; report every failure at the
    /// end (the exit status is still 1)
    #[arg(long)]
    pub keep_going: bool,

    /// No progress: only the summary and failures
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,

    /// Print one JSON object per line instead of progress, for scripts: an image
    /// started, done (with the bytes sent), skipped (up-to-date, not-attempted) or failed,
    /// then a summary
    #[arg(long)]
    pub json: bool,

    /// Images copied at once; a blob two of them need is sent once
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// With --dest dir: write only what the export at STATE lacks, so the second transfer
    /// across an air gap carries only new blobs. STATE is the previous export's directory,
    /// or its index.json (the file, or a directory holding it); images it names with the
    /// same digest are left out, the others get their manifests and only new configs and
    /// layers. Push the exports with --src dir in the order they were made
    #[arg(long, value_name = "STATE")]
    pub since: Option<std::path::PathBuf>,

    /// Leave out the referrers (OCI 1.1 signatures, SBOMs, attestations), which are synced
    /// with each image, recursively, by default
    #[arg(long)]
    pub no_referrers: bool,

    /// Leave out signatures: signature referrers (cosign, sigstore bundles, notation) and
    /// cosign's sha256-DIGEST.sig tags
    #[arg(long)]
    pub remove_signatures: bool,

    /// The source: a repository or image (--src docker), a directory (--src dir) or a file
    /// (--src yaml)
    #[arg(value_name = "SRC")]
    pub source: String,

    /// The destination: REGISTRY[/PREFIX] (--dest docker) or a directory (--dest dir)
    #[arg(value_name = "DEST")]
    pub destination: String,
}

//! The arguments of the referrers commands (OCI 1.1): `attach` and `discover`, with oras's
//! flag names (`--artifact-type`, `--annotation`, `--format tree|json`), kept apart from `cli`
//! so each file stays one concern.

use std::path::PathBuf;

use clap::Args;

/// `hoist attach`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  hoist attach --artifact-type application/spdx+json --subject localhost:5000/team/app:v1 sbom.spdx.json"
)]
pub struct AttachArgs {
    /// The artifact's type (its manifest's `artifactType`)
    #[arg(long, value_name = "TYPE")]
    pub artifact_type: String,

    /// The image the artifact refers to: docker://REF or a bare REF (a registry)
    #[arg(long, value_name = "REF")]
    pub subject: String,

    /// An annotation on the artifact's manifest (repeatable)
    #[arg(short = 'a', long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,

    /// Print only the artifact's digest
    #[arg(short, long)]
    pub quiet: bool,

    /// The files, one layer each (named by their base name)
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

/// `hoist discover`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  hoist discover localhost:5000/team/app:v1\n  hoist discover --artifact-type application/spdx+json --format json oci:./layout:v1"
)]
pub struct DiscoverArgs {
    /// List only referrers of this artifact type
    #[arg(long, value_name = "TYPE")]
    pub artifact_type: Option<String>,

    /// Output: `tree` (the default) or `json`
    #[arg(long, value_enum, default_value = "tree")]
    pub format: DiscoverFormat,

    /// The image: docker://REF or a bare REF (a registry), oci:PATH[:TAG] or hoist:REF
    #[arg(value_name = "REF")]
    pub reference: String,
}

/// How `hoist discover` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiscoverFormat {
    /// The referrers under the image, grouped by artifact type (oras's tree)
    Tree,
    /// The image and its referrers, nested, as JSON
    Json,
}

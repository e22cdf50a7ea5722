//! The trust arguments: the policy flags of `pull` and `copy`, the signing flags of `push` and
//! `copy`, and `generate-sigstore-key`, named as skopeo names them (`--policy`,
//! `--registries.d`, `--sign-by-sigstore-private-key`, `--sign-passphrase-file`,
//! `--sign-identity`, `--output-prefix`).

use std::path::PathBuf;

use clap::Args;

/// Which images may be pulled or copied (`hoist pull`, `hoist copy`).
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The trust policy, containers-policy.json(5) [default: the config's `policy`, then
    /// ~/.config/containers/policy.json, then /etc/containers/policy.json; none: any image]
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Where registries.d YAML says which registries have sigstore signatures
    /// (use-sigstore-attachments) [default: the config's `registries_d`, then
    /// ~/.config/containers/registries.d, then /etc/containers/registries.d]
    #[arg(long = "registries.d", value_name = "DIR")]
    pub registries_d: Option<PathBuf>,
}

/// Signing what is written to a registry (`hoist push`, `hoist copy`).
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Sign the image written with this sigstore private key (cosign's encrypted format) and
    /// attach the signature as cosign does (the sha256-DIGEST.sig tag)
    #[arg(long, value_name = "FILE")]
    pub sign_by_sigstore_private_key: Option<PathBuf>,

    /// Read the key's passphrase from the first line of FILE [default: ask on the terminal]
    #[arg(long, value_name = "FILE", requires = "sign_by_sigstore_private_key")]
    pub sign_passphrase_file: Option<PathBuf>,

    /// The identity to sign for [default: the destination reference]
    #[arg(long, value_name = "REF", requires = "sign_by_sigstore_private_key")]
    pub sign_identity: Option<String>,
}

/// `hoist generate-sigstore-key`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  hoist generate-sigstore-key --output-prefix release")]
pub struct GenerateKeyArgs {
    /// Write the private key to PREFIX.private and the public key to PREFIX.pub
    #[arg(long, value_name = "PREFIX")]
    pub output_prefix: PathBuf,

    /// Read the passphrase from the first line of FILE [default: ask on the terminal]
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

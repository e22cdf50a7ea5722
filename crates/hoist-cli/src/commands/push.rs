//! `hoist push [-a] [-q] REF`: docker's `push`.
//!
//! 1. REF is parsed as docker parses it (`app` ⇒ `docker.io/library/app`); a name without a
//!    tag pushes every local tag of it (docker's daemon behaviour; `-a` says so explicitly and
//!    refuses a tag), a digest reference is refused.
//! 2. The store at the root is opened, the registry client built from the configuration with
//!    the stored credentials (as `hoist pull` does), and the upload limit of the configuration
//!    (`max_concurrent_uploads`) applied.
//! 3. `hoist::push::Pusher` does the push; progress goes through the renderer `hoist pull`
//!    uses ([`crate::progress`]): bars on a terminal, `ID: Status` lines otherwise, nothing
//!    with `-q`. Each tag ends with docker's `TAG: digest: sha256:… size: N` line.
//! 4. With `-q`, only the reference pushed is printed, as `docker push -q` does.
//!
//! The sigstore signatures the store holds for each manifest pushed (cosign's
//! `sha256-DIGEST.sig`, stored by `hoist pull` or `hoist copy`) go along, added to those the
//! registry has, as `podman push` copies them; `--remove-signatures` leaves them out.
//!
//! `--sign-by-sigstore-private-key KEY` (with `--sign-passphrase-file`, `--sign-identity`)
//! signs each tag pushed — an index and each of its platforms' manifests, as `skopeo copy
//! --all --sign-by-…` does — and attaches the signatures as cosign does (`commands::trust`).
//!
//! `--compression gzip|zstd` (default gzip) chooses how layers stored uncompressed (loaded
//! with `hoist load`) are compressed on the way; docker 20.10 always gzips them. zstd pushes
//! an OCI manifest.

use hoist::credentials::CredentialStore;
use hoist::push::{PushOptions, Pusher};
use hoist::reference::Reference;
use hoist::transfer::{Compression, TransferConfig};

use crate::cli::{GlobalArgs, LayerCompression, PushArgs};
use crate::commands::session::{renderer, Session};
use crate::commands::trust;
use crate::config::Config;
use crate::failure::CliError;

/// Runs `hoist push`.
pub fn run(
    args: &PushArgs,
    global: &GlobalArgs,
    config: &Config,
    credentials: CredentialStore,
) -> Result<(), CliError> {
    let reference = Reference::parse(&args.reference)?;
    let options = PushOptions {
        all_tags: args.all_tags,
        upload: TransferConfig {
            max_concurrent: config.max_concurrent_uploads,
            ..TransferConfig::uploads()
        },
        compression: match args.compression {
            LayerCompression::Gzip => Compression::Gzip,
            LayerCompression::Zstd => Compression::Zstd,
        },
        signatures: !args.remove_signatures,
        ..PushOptions::default()
    };
    let Session {
        metadata,
        content,
        client,
        runtime,
    } = Session::open(global, config, credentials)?;
    let signer = trust::signer(&args.sign)?;
    let pusher = Pusher::new(client.clone(), content, metadata, options);
    let renderer = renderer(args.quiet);
    let result = runtime.block_on(pusher.push(&reference, renderer.sink()));
    renderer.finish();
    let outcome = result.map_err(Box::new)?;
    if let Some(signer) = &signer {
        for tag in &outcome.tags {
            runtime.block_on(trust::sign(signer, &client, &tag.reference, &tag.manifests))?;
        }
    }
    if args.quiet {
        crate::outln!("{reference}");
    }
    Ok(())
}

//! `hoist copy [--platform P | --all] [--dest-compress gzip|zstd] [-q] SRC DST`: an image from one place to another
//! without the local store (skopeo's `copy`, crane's `copy`).
//!
//! 1. SRC and DST are `docker://REF`, a bare `REF` (a registry) or `oci:PATH[:TAG]` (an OCI
//!    layout directory); malformed ones fail with one line quoting them, before anything else.
//! 2. The registry client is built from the configuration and the stored credentials, as for
//!    `pull`; no store is opened (`--root` is not used).
//! 3. The source is resolved first: a missing tag fails before anything exists at the
//!    destination (not even an `oci:` directory).
//! 4. `hoist::copy::copy` moves the image: every platform of an index by default (`--all`
//!    says so), only the matching manifest with `--platform`. Progress goes through the
//!    renderer `pull` and `push` use (docker's push statuses: `Layer already exists`, `Mounted
//!    from R`, `Pushing`, `Pushed`), ending with `TAG: digest: D size: N`.
//! 5. With `--dest-compress`, uncompressed layers (an `oci:` layout of a `docker save`d or
//!    built image) are compressed on their way into a registry and the manifests rewritten
//!    for them (zstd makes them OCI); an `oci:` destination refuses it.
//! 6. With `-q`, only the digest copied is printed.

use hoist::copy::{
    copy, CopyOptions, ImageLocation, ImageSink, ImageSource, LayoutSink, LayoutSource,
    RegistryImage,
};
use hoist::credentials::CredentialStore;
use hoist::media::Platform;
use hoist::registry::RegistryClient;
use hoist::transfer::{Compression, UploadConfig};

use crate::cli::{CopyArgs, LayerCompression};
use crate::commands::session::{client, renderer, runtime};
use crate::config::Config;
use crate::failure::CliError;

/// Runs `hoist copy`.
pub fn run(args: &CopyArgs, config: &Config, credentials: CredentialStore) -> Result<(), CliError> {
    let from = ImageLocation::parse(&args.source).map_err(Box::new)?;
    let to = ImageLocation::parse(&args.destination).map_err(Box::new)?;
    let platform = match &args.platform {
        Some(text) => Some(Platform::parse(text).map_err(|e| CliError::Usage(e.to_string()))?),
        None => None,
    };
    let options = CopyOptions {
        platform,
        upload: UploadConfig {
            max_concurrent: config.max_concurrent_uploads,
            ..UploadConfig::default()
        },
        compression: match args.dest_compress {
            Some(LayerCompression::Gzip) => Compression::Gzip,
            Some(LayerCompression::Zstd) => Compression::Zstd,
            None => Compression::None,
        },
        ..CopyOptions::default()
    };
    let client = client(config, credentials)?;
    let runtime = runtime()?;
    let source = open_source(&client, &from);
    let root = runtime.block_on(source.resolve()).map_err(Box::new)?;
    let sink = open_sink(&client, &to)?;
    let renderer = renderer(args.quiet);
    let result = runtime.block_on(copy(
        source.as_ref(),
        sink.as_ref(),
        &root,
        &options,
        renderer.sink(),
    ));
    renderer.finish();
    let outcome = result.map_err(Box::new)?;
    if args.quiet {
        println!("{}", outcome.root.digest);
    }
    Ok(())
}

fn open_source(client: &RegistryClient, location: &ImageLocation) -> Box<dyn ImageSource> {
    match location {
        ImageLocation::Registry(reference) => Box::new(RegistryImage::new(client, reference)),
        ImageLocation::Layout { path, tag } => Box::new(LayoutSource::new(path, tag.as_deref())),
    }
}

fn open_sink(
    client: &RegistryClient,
    location: &ImageLocation,
) -> Result<Box<dyn ImageSink>, CliError> {
    Ok(match location {
        ImageLocation::Registry(reference) => Box::new(RegistryImage::new(client, reference)),
        ImageLocation::Layout { path, tag } => {
            Box::new(LayoutSink::open(path, tag.as_deref()).map_err(Box::new)?)
        }
    })
}

//! `hoist copy [--platform P | --all] [-q] [--no-unpack] [--dest-compress gzip|zstd] SRC DST`:
//! an image from one place to another (skopeo's `copy`, crane's `copy`), the local store
//! being one of the places.
//!
//! 1. SRC and DST are `docker://REF`, a bare `REF` (a registry), `oci:PATH[:TAG]` (an OCI
//!    layout directory) or `hoist:REF` (the local store at `--root`); malformed ones fail with
//!    one line quoting them, before anything else.
//! 2. The registry client is built from the configuration and the stored credentials, as for
//!    `pull`. The store is opened only when a side is `hoist:`.
//! 3. The source is resolved first: a missing tag fails before anything exists at the
//!    destination (not even an `oci:` directory).
//! 4. `hoist::copy::copy` moves the image: every platform of an index by default (`--all`
//!    says so), only the matching manifest with `--platform`. Progress goes through the
//!    renderer `pull` and `push` use, in the destination's words: docker's push statuses
//!    (`Layer already exists`, `Mounted from R`, `Pushing`, `Pushed`) into a registry or a
//!    layout, docker's pull statuses (`Pulling fs layer`, `Downloading`, `Pull complete`,
//!    `Already exists`) into the store; ending with `TAG: digest: D size: N`.
//! 5. Into `hoist:REF` ([`StoreSink`]), the image is then recorded as `hoist pull` records it
//!    (tag, `NAME@DIGEST`, diffIDs checked, layers unpacked unless `--no-unpack`; an index
//!    copied whole as `pull --all-platforms` leaves it), its layers streamed in one pass.
//! 6. With `--dest-compress`, uncompressed layers (an `oci:` layout of a `docker save`d or
//!    built image) are compressed on their way into a registry and the manifests rewritten
//!    for them (zstd makes them OCI); other destinations refuse it.
//! 7. With `-q`, only the digest copied is printed.

use std::sync::Arc;

use hoist::copy::{
    copy, CopyOptions, ImageLocation, ImageSink, ImageSource, LayoutSink, LayoutSource,
    RegistryImage, StoreSink, StoreSource,
};
use hoist::credentials::CredentialStore;
use hoist::media::Platform;
use hoist::registry::RegistryClient;
use hoist::store::MetadataStore;
use hoist::transfer::{Compression, UploadConfig};

use crate::cli::{CopyArgs, GlobalArgs, LayerCompression};
use crate::commands::session::{client, renderer, runtime};
use crate::config::Config;
use crate::failure::CliError;
use crate::root::open_store;

/// Runs `hoist copy`.
pub fn run(
    args: &CopyArgs,
    global: &GlobalArgs,
    config: &Config,
    credentials: CredentialStore,
) -> Result<(), CliError> {
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
    let store = match (&from, &to) {
        (ImageLocation::Store(_), _) | (_, ImageLocation::Store(_)) => {
            Some(Arc::new(open_store(global.root.as_ref())?))
        }
        _ => None,
    };
    let client = client(config, credentials)?;
    let runtime = runtime()?;
    let source = open_source(&client, store.as_ref(), &from)?;
    let root = runtime.block_on(source.resolve()).map_err(Box::new)?;
    let sink = open_sink(
        &client,
        store.as_ref(),
        &to,
        source.as_ref(),
        args.no_unpack,
    )?;
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

/// The store, opened by [`run`] whenever a side is `hoist:`.
fn store_of(store: Option<&Arc<MetadataStore>>) -> Result<Arc<MetadataStore>, CliError> {
    store
        .cloned()
        .ok_or_else(|| CliError::Usage("the local store is not open".to_owned()))
}

fn open_source(
    client: &RegistryClient,
    store: Option<&Arc<MetadataStore>>,
    location: &ImageLocation,
) -> Result<Box<dyn ImageSource>, CliError> {
    Ok(match location {
        ImageLocation::Registry(reference) => Box::new(RegistryImage::new(client, reference)),
        ImageLocation::Layout { path, tag } => Box::new(LayoutSource::new(path, tag.as_deref())),
        ImageLocation::Store(reference) => Box::new(StoreSource::new(store_of(store)?, reference)),
    })
}

fn open_sink(
    client: &RegistryClient,
    store: Option<&Arc<MetadataStore>>,
    location: &ImageLocation,
    source: &dyn ImageSource,
    no_unpack: bool,
) -> Result<Box<dyn ImageSink>, CliError> {
    Ok(match location {
        ImageLocation::Registry(reference) => Box::new(RegistryImage::new(client, reference)),
        ImageLocation::Layout { path, tag } => {
            Box::new(LayoutSink::open(path, tag.as_deref()).map_err(Box::new)?)
        }
        ImageLocation::Store(reference) => {
            let sink = StoreSink::open(store_of(store)?, reference)
                .map_err(Box::new)?
                .with_source(source.repository());
            Box::new(if no_unpack {
                sink.without_unpack()
            } else {
                sink
            })
        }
    })
}

//! `hoist copy [--platform P | --all] [-q] [--no-unpack] [--dest-compress gzip|zstd] SRC DST`:
//! an image from one place to another (skopeo's `copy`, crane's `copy`), the local store
//! being one of the places.
//!
//! 1. SRC and DST are `docker://REF`, a bare `REF` (a registry), `oci:PATH[:TAG]` (an OCI
//!    layout directory), `dir:PATH` (skopeo's directory), `docker-archive:PATH[:REF]` (a
//!    `docker save` tarball), `oci-archive:PATH[:TAG]` (a tarball of an OCI layout) or
//!    `hoist:REF` (the local store at `--root`); malformed ones, and unknown transports (the
//!    error lists those that exist), fail with one line quoting them, before anything else.
//!    A docker-archive holds one platform: from an index, `--platform`'s or else the host's
//!    is copied into it.
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
//! 8. The referrers (OCI 1.1) of every manifest copied, and theirs, go along into a registry,
//!    an `oci:` layout or the store (as `oras copy -r`); `--no-referrers` leaves them out.
//! 9. With a trust policy (`--policy`, …; `commands::trust`) each image manifest of the
//!    source to be copied (every platform's, or `--platform`'s; never an index itself, as
//!    skopeo) is judged by its digest before anything is copied.
//! 10. The sigstore signatures of each manifest copied unchanged (cosign's
//!     `sha256-DIGEST.sig`) go along between registries, `oci:` layouts and the store (a
//!     layout names the `.sig` manifest by an `index.json` entry of that name:
//!     `hoist::copy::layout_signatures`), kept as they are and added to any the destination
//!     has, as `skopeo copy` does; `--remove-signatures` leaves them out. A `.sig` that cannot
//!     be read or is outside hoist's bounds fails the copy before anything is sent, as
//!     skopeo's does. `dir:` and archives cannot hold them and get none.
//! 11. `--sign-by-sigstore-private-key` then signs each manifest written to a `docker://`
//!     destination — an index and each platform's, as skopeo does (other destinations are
//!     refused before the copy) — and attaches the signatures as cosign does.

use std::sync::Arc;

use hoist::copy::{
    copy, verify_source, Archive, ArchiveFormat, ArchiveImage, CopyOptions, CopyOutcome, DirSink,
    DirSource, DockerArchiveSink, ImageLocation, ImageSink, ImageSource, LayoutSink, LayoutSource,
    OciArchiveSink, RegistryImage, StoreSink, StoreSource,
};
use hoist::credentials::CredentialStore;
use hoist::media::Platform;
use hoist::registry::RegistryClient;
use hoist::store::{ContentStore, MetadataStore};
use hoist::transfer::{Compression, RangeFetch, TransferConfig};
use hoist::trust::{Subject, Verification};

use crate::cli::{CopyArgs, GlobalArgs, LayerCompression};
use crate::commands::session::{client, renderer, runtime};
use crate::commands::trust;
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
    // A destination that holds one image (docker-archive) takes the host's platform from an
    // index unless --platform says which, as skopeo does without --all.
    let platform = match platform {
        None if !to.holds_index() => Some(Platform::host()),
        other => other,
    };
    let options = CopyOptions {
        platform,
        upload: TransferConfig {
            max_concurrent: config.max_concurrent_uploads,
            ..TransferConfig::uploads()
        },
        compression: match args.dest_compress {
            Some(LayerCompression::Gzip) => Compression::Gzip,
            Some(LayerCompression::Zstd) => Compression::Zstd,
            None => Compression::None,
        },
        recompress: true,
        referrers: !args.no_referrers,
        signatures: !args.remove_signatures,
        ..CopyOptions::default()
    };
    let signer = trust::signer(&args.sign)?;
    let signed = match &signer {
        Some(_) => Some(trust::signing_destination(&to)?.clone()),
        None => None,
    };
    let store = match (&from, &to) {
        (ImageLocation::Store(_), _) | (_, ImageLocation::Store(_)) => {
            Some(Arc::new(open_store(global.root.as_ref())?))
        }
        _ => None,
    };
    let client = client(config, credentials)?;
    let runtime = runtime()?;
    let verifier = trust::verifier(&args.policy, config)?;
    // An archive copied into the store is read straight into the store's content (under a
    // lease until the sink records it), so no blob is written twice.
    let staging = match (&to, &store) {
        (ImageLocation::Store(_), Some(store)) => Some(store.content().clone()),
        _ => None,
    };
    let _lease = match &staging {
        Some(content) => Some(content.lease()?),
        None => None,
    };
    let source = open_source(&client, store.as_ref(), staging, &from)?;
    // The judgement reads a registry image's signatures through the source's own home, so
    // the copy carries those it judged without reading them again.
    let verify = verifier.map(|verifier| {
        let subject = Subject::from_location(&from, &client);
        Verification {
            verifier,
            subject: match source.signatures() {
                Some(home) => subject.with_signatures(Arc::from(home)),
                None => subject,
            },
        }
    });
    let root = runtime.block_on(source.resolve()).map_err(Box::new)?;
    // Judged here rather than through `CopyOptions::verify`: opening a sink already creates
    // an `oci:`/`dir:` destination, and a refused image must leave nothing behind.
    if let Some(verification) = &verify {
        runtime
            .block_on(verify_source(
                source.as_ref(),
                &root,
                options.platform.as_ref(),
                verification,
            ))
            .map_err(Box::new)?;
    }
    let sink = open_sink(
        &client,
        store.as_ref(),
        &to,
        source.as_ref(),
        args.no_unpack,
        config.range_fetch,
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
    tracing::debug!(carried = outcome.signatures, "signatures copied");
    if let (Some(signer), Some(reference)) = (&signer, &signed) {
        runtime.block_on(trust::sign(signer, &client, reference, &outcome.written))?;
    }
    if args.quiet {
        crate::outln!("{}", outcome.root.digest);
    } else {
        crate::outln!("{}", summary(&args.source, &args.destination, &outcome));
    }
    Ok(())
}

/// The closing line of a copy: what went where and what it cost, e.g. `Copied docker://a/x:v1
/// to oci:dir:v1: sha256:… (2 manifests; 3 blobs sent, 1 already there)`.
fn summary(source: &str, destination: &str, outcome: &CopyOutcome) -> String {
    let manifests = match outcome.manifests {
        1 => "1 manifest".to_owned(),
        n => format!("{n} manifests"),
    };
    let mut blobs = vec![format!(
        "{} blob{} sent",
        outcome.copied,
        if outcome.copied == 1 { "" } else { "s" }
    )];
    if outcome.mounted > 0 {
        blobs.push(format!("{} mounted", outcome.mounted));
    }
    if outcome.existing > 0 {
        blobs.push(format!("{} already there", outcome.existing));
    }
    if !outcome.converted.is_empty() {
        blobs.push(format!("{} layers compressed", outcome.converted.len()));
    }
    format!(
        "Copied {source} to {destination}: {} ({manifests}; {})",
        outcome.root.digest,
        blobs.join(", ")
    )
}

/// The store, opened by [`run`] whenever a side is `hoist:`.
fn store_of(store: Option<&Arc<MetadataStore>>) -> Result<Arc<MetadataStore>, CliError> {
    store
        .cloned()
        .ok_or_else(|| CliError::Usage("the local store is not open".to_owned()))
}

/// The source `location` names; an archive is read into `staging` when given (the store's
/// content), else into a private staging directory.
pub(crate) fn open_source(
    client: &RegistryClient,
    store: Option<&Arc<MetadataStore>>,
    staging: Option<ContentStore>,
    location: &ImageLocation,
) -> Result<Box<dyn ImageSource>, CliError> {
    let archive = |path: &std::path::Path, format| match staging {
        Some(content) => Archive::open_into(path, format, content),
        None => Archive::open(path, format),
    };
    Ok(match location {
        ImageLocation::Registry(reference) => {
            Box::new(RegistryImage::new(client, reference).reading_at_once())
        }
        ImageLocation::Layout { path, tag } => Box::new(LayoutSource::new(path, tag.as_deref())),
        ImageLocation::Store(reference) => Box::new(StoreSource::new(store_of(store)?, reference)),
        ImageLocation::Dir(path) => Box::new(DirSource::new(path)),
        ImageLocation::DockerArchive { path, image } => {
            let archive = archive(path, ArchiveFormat::Docker).map_err(Box::new)?;
            Box::new(archive.select(image.as_ref()).map_err(Box::new)?)
        }
        ImageLocation::OciArchive { path, tag } => {
            let archive = archive(path, ArchiveFormat::Oci).map_err(Box::new)?;
            Box::new(
                match tag {
                    Some(tag) => archive.select_tag(tag),
                    None => archive.select(None),
                }
                .map_err(Box::new)?,
            )
        }
    })
}

fn open_sink(
    client: &RegistryClient,
    store: Option<&Arc<MetadataStore>>,
    location: &ImageLocation,
    source: &dyn ImageSource,
    no_unpack: bool,
    range_fetch: RangeFetch,
) -> Result<Box<dyn ImageSink>, CliError> {
    Ok(match location {
        ImageLocation::Registry(reference) => Box::new(RegistryImage::new(client, reference)),
        ImageLocation::Layout { path, tag } => {
            Box::new(LayoutSink::open(path, tag.as_deref()).map_err(Box::new)?)
        }
        ImageLocation::Store(reference) => {
            let sink = StoreSink::open(store_of(store)?, reference)
                .map_err(Box::new)?
                .with_source(source.repository())
                .with_range_fetch(range_fetch);
            Box::new(if no_unpack {
                sink.without_unpack()
            } else {
                sink
            })
        }
        ImageLocation::Dir(path) => Box::new(DirSink::open(path).map_err(Box::new)?),
        ImageLocation::DockerArchive { path, image } => {
            let tag = match image {
                Some(ArchiveImage::Tagged(reference)) => Some(reference),
                Some(ArchiveImage::Index(_)) => {
                    return Err(CliError::Usage(
                        "a docker-archive destination is named PATH[:NAME:TAG], not @N".to_owned(),
                    ))
                }
                None => None,
            };
            Box::new(DockerArchiveSink::open(path, tag).map_err(Box::new)?)
        }
        ImageLocation::OciArchive { path, tag } => {
            Box::new(OciArchiveSink::open(path, tag.as_deref()).map_err(Box::new)?)
        }
    })
}

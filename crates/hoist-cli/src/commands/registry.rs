//! The registry commands, which read (or delete from) a registry and store nothing:
//! `hoist ls REPO`, `catalog REGISTRY`, `digest REF`, `manifest REF`, `config REF`,
//! `blob REF@DIGEST`, `delete REF` (crane's `ls`, `catalog`, `digest`, `manifest`, `config`,
//! `blob`, `delete`; skopeo's `list-tags`, `delete`).
//!
//! Each is thin: the registry client is built from the configuration and stored credentials
//! as for `pull` (mirrors for reads, `certs.d`, `insecure`), the work is the library's
//! ([`hoist::registry::RemoteRepository::tags`], [`hoist::registry::RegistryClient::catalog`],
//! [`hoist::view::ImageView`], [`hoist::registry::RemoteRepository::delete_image`]).
//!
//! Output: `ls` and `catalog` print one name per line (`--format json|TEMPLATE` for scripts),
//! `digest` one digest, `manifest`, `config` and `blob` the exact bytes (no newline added, so
//! `| sha256sum` gives the digest), `delete` a `Deleted: NAME@DIGEST` line.

use hoist::copy::RegistryImage;
use hoist::credentials::CredentialStore;
use hoist::media::Platform;
use hoist::reference::Reference;
use hoist::registry::{DeleteError, RegistryClient};
use hoist::view::{ChosenImage, ImageView};
use serde_json::json;

use crate::cli::{BlobArgs, CatalogArgs, DeleteArgs, LsArgs, RemoteImageArgs};
use crate::commands::session::{client, runtime};
use crate::config::Config;
use crate::failure::CliError;
use crate::format::{default_header, Format};
use crate::output;

/// A registry reference as typed: `docker://REF` or a bare REF, parsed as docker parses it.
pub fn registry_reference(input: &str) -> Result<Reference, CliError> {
    let bare = input.strip_prefix("docker://").unwrap_or(input);
    Ok(Reference::parse(bare)?)
}

/// `--platform`'s value, parsed.
pub fn platform_arg(text: Option<&str>) -> Result<Option<Platform>, CliError> {
    text.map(|t| Platform::parse(t).map_err(|e| CliError::Usage(e.to_string())))
        .transpose()
}

/// The client and runtime every registry command uses.
fn connect(
    config: &Config,
    credentials: CredentialStore,
) -> Result<(RegistryClient, tokio::runtime::Runtime), CliError> {
    Ok((client(config, credentials)?, runtime()?))
}

/// Prints `names` one per line, or as `--format` asks (`field` names each row's one field).
fn print_names(names: Vec<String>, format: &Format, field: &str) -> Result<(), CliError> {
    let text = match format {
        Format::Json => crate::commands::to_json_pretty(&names),
        _ => {
            let rows: Vec<_> = names.iter().map(|n| json!({ field: n })).collect();
            format.render(&rows, default_header, || names.join("\n"))?
        }
    };
    if !text.is_empty() {
        crate::outln!("{text}");
    }
    Ok(())
}

/// Runs `hoist ls`.
pub fn ls(args: &LsArgs, config: &Config, credentials: CredentialStore) -> Result<(), CliError> {
    let format = Format::parse(args.format.as_deref())?;
    let reference = registry_reference(&args.repository)?;
    let (client, runtime) = connect(config, credentials)?;
    let repository = reference.repository();
    let repo = client.repository(repository.domain(), repository.path());
    let tags = runtime
        .block_on(repo.tags(args.page_size))
        .map_err(|source| CliError::Remote {
            action: format!("cannot list the tags of {repository}"),
            source: Box::new(source),
        })?;
    print_names(tags, &format, "Tag")
}

/// Runs `hoist catalog`.
pub fn catalog(
    args: &CatalogArgs,
    config: &Config,
    credentials: CredentialStore,
) -> Result<(), CliError> {
    let format = Format::parse(args.format.as_deref())?;
    let host = crate::commands::registry_host(Some(&args.registry))?;
    let (client, runtime) = connect(config, credentials)?;
    let repositories = runtime
        .block_on(client.catalog(&host, args.page_size))
        .map_err(|source| CliError::Remote {
            action: format!("cannot list the repositories of {host}"),
            source: Box::new(source),
        })?;
    print_names(repositories, &format, "Repository")
}

/// What `digest`, `manifest` and `config` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The digest the reference (or, with `--platform`, the platform's manifest) has.
    Digest,
    /// The manifest's bytes.
    Manifest,
    /// The config blob's bytes.
    Config,
}

/// Runs `hoist digest`, `hoist manifest` or `hoist config`.
pub fn image_part(
    part: Part,
    args: &RemoteImageArgs,
    config: &Config,
    credentials: CredentialStore,
) -> Result<(), CliError> {
    let reference = registry_reference(&args.reference)?;
    let platform = platform_arg(args.platform.as_deref())?;
    let (client, runtime) = connect(config, credentials)?;
    let source = RegistryImage::new(&client, &reference);
    let view = ImageView::new(&source);
    runtime.block_on(async {
        match (part, &platform) {
            (Part::Digest, None) => {
                let root = view.resolve().await?;
                crate::outln!("{}", root.digest);
            }
            (Part::Manifest, None) => {
                let (_, bytes) = view.root().await?;
                write_bytes(&bytes)?;
            }
            (Part::Digest, Some(_)) => {
                let image = chosen(&view, platform.as_ref()).await?;
                crate::outln!("{}", image.descriptor.digest);
            }
            (Part::Manifest, Some(_)) => {
                let image = chosen(&view, platform.as_ref()).await?;
                write_bytes(&image.bytes)?;
            }
            (Part::Config, _) => {
                let image = chosen(&view, platform.as_ref()).await?;
                let bytes = view.config_bytes(&image).await.map_err(Box::new)?;
                write_bytes(&bytes)?;
            }
        }
        Ok::<(), CliError>(())
    })
}

/// The image manifest for `platform` (the host's when `None`).
pub async fn chosen(
    view: &ImageView<'_>,
    platform: Option<&Platform>,
) -> Result<ChosenImage, CliError> {
    Ok(view.image(platform).await.map_err(Box::new)?)
}

fn write_bytes(bytes: &[u8]) -> Result<(), CliError> {
    output::bytes(bytes).map_err(CliError::Stdout)
}

/// Runs `hoist blob`.
pub fn blob(
    args: &BlobArgs,
    config: &Config,
    credentials: CredentialStore,
) -> Result<(), CliError> {
    let reference = registry_reference(&args.reference)?;
    let Some(digest) = reference.digest().cloned() else {
        return Err(CliError::Arguments(format!(
            "{:?} names no blob: give NAME@DIGEST (the blob's digest)",
            args.reference
        )));
    };
    let (client, runtime) = connect(config, credentials)?;
    let source = RegistryImage::new(&client, &reference);
    let view = ImageView::new(&source);
    runtime
        .block_on(view.write_blob(&digest, output::bytes))
        .map_err(Box::new)?;
    Ok(())
}

/// Runs `hoist delete`.
pub fn delete(
    args: &DeleteArgs,
    config: &Config,
    credentials: CredentialStore,
) -> Result<(), CliError> {
    let reference = registry_reference(&args.reference)?;
    let target = match (reference.digest(), reference.tag()) {
        (Some(digest), _) => digest.to_string(),
        (None, Some(tag)) => tag.as_str().to_owned(),
        (None, None) => {
            return Err(CliError::Arguments(format!(
                "{:?} names no image: give NAME:TAG or NAME@DIGEST (deleting removes the \
                 manifest and every tag naming it)",
                args.reference
            )))
        }
    };
    let (client, runtime) = connect(config, credentials)?;
    let repository = reference.repository();
    let repo = client.repository(repository.domain(), repository.path());
    let digest = runtime
        .block_on(repo.delete_image(&target))
        .map_err(|e| match e {
            DeleteError::Registry(source) => CliError::Remote {
                action: format!("cannot delete {reference}"),
                source,
            },
            other => CliError::Delete(Box::new(other)),
        })?;
    crate::outln!("Deleted: {repository}@{digest}");
    Ok(())
}

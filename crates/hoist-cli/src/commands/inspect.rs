//! `hoist inspect [--format F] REF...`: docker's `image inspect`; and
//! `hoist inspect [--raw] [--platform P] docker://REF`: skopeo's `inspect`.
//!
//! For stored images, prints a JSON array (indented with four spaces, as docker's
//! `MarshalIndent`) with one [`hoist::images::ImageInspect`] per image found, in argument
//! order. Each REF not found is reported on stderr as docker does ("Error: No such image:
//! REF") after the array, and the command then fails; the array is printed even when empty
//! (`[]`), as docker prints it.
//!
//! With one `docker://REF`, the image is described from its registry without pulling it, as
//! `skopeo inspect` does ([`hoist::view::RemoteInspect`]: one JSON object, the repository's
//! tags, the digest the reference resolves to, the platform's config and layers); `--raw`
//! prints the manifest the reference names byte for byte (`skopeo inspect --raw`). A remote
//! reference cannot be mixed with stored ones (the outputs differ in shape).
//!
//! `--format` is docker's: a Go template run once per image (`{{.Id}}`, `{{json .Config}}`),
//! or `json`.

use hoist::copy::RegistryImage;
use hoist::credentials::CredentialStore;
use hoist::images::inspect_image;
use hoist::store::MetadataStore;
use hoist::view::{ImageView, RemoteInspect};
use serde_json::Value;

use crate::cli::InspectArgs;
use crate::commands::registry::{chosen, platform_arg, registry_reference};
use crate::commands::session::{client, runtime};
use crate::config::Config;
use crate::failure::{self, CliError};
use crate::format::{default_header, Format};
use crate::output;

/// Whether the command names a registry image (`docker://REF`) rather than stored ones.
pub fn is_remote(args: &InspectArgs) -> bool {
    args.references.iter().any(|r| r.starts_with("docker://"))
}

/// Runs `hoist inspect` on stored images.
pub fn run(args: &InspectArgs, meta: &MetadataStore, debug: bool) -> Result<(), CliError> {
    if args.raw || args.platform.is_some() {
        return Err(CliError::Arguments(
            "--raw and --platform describe a registry image: give docker://REF".to_owned(),
        ));
    }
    let format = Format::parse(args.format.as_deref())?;
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for input in &args.references {
        match inspect_image(meta, input) {
            Ok(image) => found.push(image),
            Err(e) => failures.push(CliError::from(e)),
        }
    }
    let values: Vec<Value> = found
        .iter()
        .filter_map(|image| serde_json::to_value(image).ok())
        .collect();
    let text = match format {
        Format::Default | Format::Json => super::to_json_pretty(&found),
        _ => format.render(&values, default_header, String::new)?,
    };
    if !text.is_empty() {
        crate::outln!("{text}");
    }
    for failure in &failures {
        failure::report_item(failure, debug);
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::ItemsFailed {
            failed: failures.len(),
        })
    }
}

/// Runs `hoist inspect docker://REF`.
pub fn run_remote(
    args: &InspectArgs,
    config: &Config,
    credentials: CredentialStore,
) -> Result<(), CliError> {
    let [input] = args.references.as_slice() else {
        return Err(CliError::Arguments(
            "inspect takes one docker://REF at a time (stored images and registry images \
             cannot be mixed)"
                .to_owned(),
        ));
    };
    let format = Format::parse(args.format.as_deref())?;
    let reference = registry_reference(input)?;
    let platform = platform_arg(args.platform.as_deref())?;
    let client = client(config, credentials)?;
    let source = RegistryImage::new(&client, &reference).reading_at_once();
    let view = ImageView::new(&source);
    let runtime = runtime()?;
    if args.raw {
        let (_, bytes) = runtime.block_on(view.root()).map_err(Box::new)?;
        return output::bytes(&bytes).map_err(CliError::Stdout);
    }
    let repository = reference.repository();
    let repo = client.repository(repository.domain(), repository.path());
    let inspect = runtime.block_on(async {
        let image = chosen(&view, platform.as_ref()).await?;
        let (_, bytes) = view.config(&image).await.map_err(Box::new)?;
        let config: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let tags = repo.tags(None).await.map_err(|source| CliError::Remote {
            action: format!("cannot list the tags of {repository}"),
            source: Box::new(source),
        })?;
        Ok::<_, CliError>(RemoteInspect::new(
            repository.to_string(),
            &image.root.digest,
            tags,
            &image,
            &config,
        ))
    })?;
    let text = match format {
        Format::Default | Format::Json => super::to_json_pretty(&inspect),
        _ => {
            let value = serde_json::to_value(&inspect).unwrap_or(Value::Null);
            format.render(&[value], default_header, String::new)?
        }
    };
    crate::outln!("{text}");
    Ok(())
}

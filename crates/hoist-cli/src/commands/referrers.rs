//! The referrers commands (OCI 1.1), oras's `attach` and `discover`:
//! - `hoist attach --artifact-type T --subject REF FILE…`: resolves REF in its registry, makes
//!   the artifact ([`ArtifactSource`]: empty config, one layer per file named by its base
//!   name, `subject` = REF's manifest, each `--annotation`, `org.opencontainers.image.created`
//!   = now unless given) and copies it into REF's repository by digest with the one copy engine;
//!   pushing it keeps the subject's referrers list (the registry's referrers API, or the
//!   fallback tag `sha256-HEX` on registries without it, as CNCF distribution 2.8). Prints
//!   oras's two lines, `Attached to NAME@SUBJECT` and `Digest: D` (`-q`: the digest only).
//! - `hoist discover REF [--artifact-type T] [--format tree|json]`: the referrers of REF
//!   (a registry, `oci:PATH[:TAG]` or `hoist:REF`) and theirs, as oras prints them: a tree
//!   grouped by artifact type under `NAME@DIGEST`, or JSON (`reference`, `mediaType`,
//!   `digest`, `size`, and per referrer also `artifactType`, `annotations`, `referrers`).

use std::collections::BTreeMap;
use std::sync::Arc;

use hoist::copy::{
    copy, discover as discover_referrers, ArtifactSource, CopyOptions, Discovered, ImageLocation,
    ImageSource, RegistryImage,
};
use hoist::credentials::CredentialStore;
use hoist::reference::Reference;
use serde_json::{json, Value};

use crate::cli::{AttachArgs, DiscoverArgs, DiscoverFormat, GlobalArgs};
use crate::commands::copy::open_source;
use crate::commands::registry::registry_reference;
use crate::commands::session::{client, renderer, runtime};
use crate::config::Config;
use crate::failure::CliError;
use crate::root::open_store;

/// Runs `hoist attach`.
pub fn attach(
    args: &AttachArgs,
    config: &Config,
    credentials: CredentialStore,
) -> Result<(), CliError> {
    let subject_ref = registry_reference(&args.subject)?;
    let mut annotations = BTreeMap::new();
    for pair in &args.annotations {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(CliError::Usage(format!(
                "invalid annotation {pair:?}: expected KEY=VALUE"
            )));
        };
        annotations.insert(key.to_owned(), value.to_owned());
    }
    let client = client(config, credentials)?;
    let runtime = runtime()?;
    let subject_image = RegistryImage::new(&client, &subject_ref);
    let subject = runtime
        .block_on(subject_image.resolve())
        .map_err(Box::new)?;
    let artifact = ArtifactSource::build(&args.artifact_type, &subject, &args.files, annotations)
        .map_err(Box::new)?;
    let repository = subject_ref.repository().clone();
    let target = Reference::new(
        repository.clone(),
        None,
        Some(artifact.descriptor().digest.clone()),
    );
    let sink = RegistryImage::new(&client, &target);
    let options = CopyOptions {
        without_digest_line: true,
        ..CopyOptions::default()
    };
    let renderer = renderer(true);
    let result = runtime.block_on(copy(
        &artifact,
        &sink,
        artifact.descriptor(),
        &options,
        renderer.sink(),
    ));
    renderer.finish();
    let outcome = result.map_err(Box::new)?;
    if args.quiet {
        crate::outln!("{}", outcome.root.digest);
    } else {
        crate::outln!("Attached to {}@{}", repository.as_str(), subject.digest);
        crate::outln!("Digest: {}", outcome.root.digest);
    }
    Ok(())
}

/// Runs `hoist discover`.
pub fn discover(
    args: &DiscoverArgs,
    global: &GlobalArgs,
    config: &Config,
    credentials: CredentialStore,
) -> Result<(), CliError> {
    let location = ImageLocation::parse(&args.reference).map_err(Box::new)?;
    let name = match &location {
        ImageLocation::Registry(r) => r.repository().as_str().to_owned(),
        ImageLocation::Store(r) => r.repository().as_str().to_owned(),
        ImageLocation::Layout { path, .. } => path.display().to_string(),
        _ => {
            return Err(CliError::Usage(format!(
                "{}: referrers are kept by registries, oci: layouts and the store only",
                args.reference
            )))
        }
    };
    let store = match &location {
        ImageLocation::Store(_) => Some(Arc::new(open_store(global.root.as_ref())?)),
        _ => None,
    };
    let client = client(config, credentials)?;
    let runtime = runtime()?;
    let source = open_source(&client, store.as_ref(), None, &location)?;
    let (root, tree) = runtime
        .block_on(async {
            let root = source.resolve().await?;
            let tree =
                discover_referrers(source.as_ref(), &root, args.artifact_type.as_deref()).await?;
            Ok::<_, hoist::copy::CopyError>((root, tree))
        })
        .map_err(Box::new)?;
    let text = match args.format {
        DiscoverFormat::Json => {
            let mut top = json!({
                "reference": format!("{name}@{}", root.digest),
                "mediaType": root.media_type,
                "digest": root.digest.as_str(),
                "size": root.size,
            });
            top["referrers"] = Value::Array(tree.iter().map(|d| to_json(&name, d)).collect());
            crate::commands::to_json_pretty(&top)
        }
        DiscoverFormat::Tree => {
            let mut lines = vec![format!("{name}@{}", root.digest)];
            tree_lines(&tree, "", &mut lines);
            lines.join("\n")
        }
    };
    crate::outln!("{text}");
    Ok(())
}

/// One referrer as oras's JSON shows it.
fn to_json(name: &str, found: &Discovered) -> Value {
    let d = &found.descriptor;
    let mut value = json!({
        "reference": format!("{name}@{}", d.digest),
        "mediaType": d.media_type,
        "digest": d.digest.as_str(),
        "size": d.size,
        "artifactType": d.artifact_type.clone().unwrap_or_default(),
    });
    if !d.annotations.is_empty() {
        value["annotations"] = json!(d.annotations);
    }
    if !found.referrers.is_empty() {
        value["referrers"] =
            Value::Array(found.referrers.iter().map(|r| to_json(name, r)).collect());
    }
    value
}

/// oras's tree: under each node its referrers grouped by artifact type (in order of first
/// appearance), each group listing digests, each digest its own referrers.
fn tree_lines(referrers: &[Discovered], indent: &str, lines: &mut Vec<String>) {
    let mut groups: Vec<(String, Vec<&Discovered>)> = Vec::new();
    for r in referrers {
        let kind = r.descriptor.artifact_type.clone().unwrap_or_default();
        match groups.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, members)) => members.push(r),
            None => groups.push((kind, vec![r])),
        }
    }
    let count = groups.len();
    for (i, (kind, members)) in groups.into_iter().enumerate() {
        let (prefix, next) = branch_of(indent, i + 1 == count);
        lines.push(format!("{prefix}{kind}"));
        let inner = members.len();
        for (j, member) in members.into_iter().enumerate() {
            let (branch, deeper) = branch_of(&next, j + 1 == inner);
            lines.push(format!("{branch}{}", member.descriptor.digest));
            tree_lines(&member.referrers, &deeper, lines);
        }
    }
}

/// The prefix of an entry and the indent of what hangs under it.
fn branch_of(indent: &str, last: bool) -> (String, String) {
    if last {
        (format!("{indent}└── "), format!("{indent}    "))
    } else {
        (format!("{indent}├── "), format!("{indent}│   "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist::digest::Digest;
    use hoist::media::Descriptor;

    fn referrer(kind: &str, name: &str, referrers: Vec<Discovered>) -> Discovered {
        let mut descriptor = Descriptor::new("", Digest::sha256_of(name.as_bytes()), 1);
        descriptor.artifact_type = Some(kind.to_owned());
        Discovered {
            descriptor,
            referrers,
        }
    }

    #[test]
    fn the_tree_groups_by_artifact_type() {
        let sig = referrer("sig", "s", vec![]);
        let tree = vec![
            referrer("sbom", "a", vec![sig]),
            referrer("sbom", "b", vec![]),
            referrer("vex", "c", vec![]),
        ];
        let mut lines = vec!["root".to_owned()];
        tree_lines(&tree, "", &mut lines);
        let d = |n: &str| Digest::sha256_of(n.as_bytes()).to_string();
        let expected = vec![
            "root".to_owned(),
            "├── sbom".to_owned(),
            format!("│   ├── {}", d("a")),
            "│   │   └── sig".to_owned(),
            format!("│   │       └── {}", d("s")),
            format!("│   └── {}", d("b")),
            "└── vex".to_owned(),
            format!("    └── {}", d("c")),
        ];
        assert_eq!(lines, expected);
    }
}

//! What the destination holds, asked without writing anything: the digest an image's name
//! has there ([`destination_digest`]), whether it lacks referrers the source lists
//! ([`lacks_referrers`]), and what a copy would send ([`estimate`], `--dry-run`).
//!
//! The destination is the only state of a sync (with `--since`, also the previous export):
//! these questions are one `HEAD` (or a read of the layout's `index.json`) per image, a
//! referrers list per side when referrers are carried, and one `HEAD` (or a file check) per
//! blob for an estimate.

use std::path::Path;

use super::run::{unsupported, Estimate};
use super::sink::RunState;
use crate::copy::{
    plan as walk_plan, CopyError, CopyOptions, ImageLocation, ImageSink, ImageSource, LayoutSource,
    RegistryImage,
};
use crate::digest::Digest;
use crate::media::Descriptor;
use crate::registry::RegistryClient;
use crate::store::layout::OCI_LAYOUT_FILE;

/// The digest the destination's name holds now, `None` when it holds nothing there.
pub(super) async fn destination_digest(
    client: &RegistryClient,
    location: &ImageLocation,
) -> Result<Option<Digest>, CopyError> {
    let Some(destination) = as_source(client, location).await? else {
        return Ok(None);
    };
    match destination.resolve().await {
        Ok(descriptor) => Ok(Some(descriptor.digest)),
        Err(CopyError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The destination read as a source; `None` for a layout not written yet.
async fn as_source(
    client: &RegistryClient,
    location: &ImageLocation,
) -> Result<Option<Box<dyn ImageSource>>, CopyError> {
    match location {
        ImageLocation::Registry(reference) => {
            Ok(Some(Box::new(RegistryImage::new(client, reference))))
        }
        ImageLocation::Layout { path, tag } => {
            if !has_layout(path).await {
                return Ok(None);
            }
            Ok(Some(Box::new(LayoutSource::new(path, tag.as_deref()))))
        }
        other => Err(unsupported(other)),
    }
}

async fn has_layout(path: &Path) -> bool {
    tokio::fs::try_exists(path.join(OCI_LAYOUT_FILE))
        .await
        .unwrap_or(false)
}

/// Whether `source` lists a referrer of `subject` that the destination does not: an image
/// up to date by digest is then copied again (its blobs are found present) so that a
/// signature or SBOM attached since the last run travels. Only the referrers of the root are
/// compared; those of an index's platform manifests travel with a copy.
pub(super) async fn lacks_referrers(
    client: &RegistryClient,
    source: &dyn ImageSource,
    subject: &Descriptor,
    location: &ImageLocation,
) -> Result<bool, CopyError> {
    let listed = source.referrers(subject, None).await?;
    if listed.is_empty() {
        return Ok(false);
    }
    let Some(destination) = as_source(client, location).await? else {
        return Ok(true);
    };
    let held = destination.referrers(subject, None).await?;
    Ok(listed
        .iter()
        .any(|r| !held.iter().any(|h| h.digest == r.digest)))
}

/// What copying `root` to `destination` would send: the manifests read from the source, the
/// destination (and `--since`'s previous export) asked for each blob, nothing written.
pub(super) async fn estimate(
    client: &RegistryClient,
    source: &dyn ImageSource,
    root: &Descriptor,
    destination: &ImageLocation,
    options: &CopyOptions,
    state: &RunState,
) -> Result<Estimate, CopyError> {
    let plan = walk_plan(source, root, options.platform.as_ref(), options.referrers).await?;
    let mut estimate = Estimate {
        digest: Some(plan.root.digest.clone()),
        manifests: plan.manifests.len()
            + plan
                .referrers
                .iter()
                .map(|r| r.manifests.len())
                .sum::<usize>(),
        ..Estimate::default()
    };
    for (blob, _) in &plan.blobs {
        let previous = state.since.as_ref().is_some_and(|p| p.holds(&blob.digest));
        if previous || destination_has_blob(client, destination, blob).await? {
            estimate.present += 1;
        } else {
            estimate.blobs += 1;
            estimate.bytes += blob.size;
        }
    }
    Ok(estimate)
}

/// Whether the destination holds `blob`, asked without writing anything.
async fn destination_has_blob(
    client: &RegistryClient,
    destination: &ImageLocation,
    blob: &Descriptor,
) -> Result<bool, CopyError> {
    match destination {
        ImageLocation::Registry(reference) => {
            let image = RegistryImage::new(client, reference);
            ImageSink::blobs(&image).has_blob(blob).await
        }
        ImageLocation::Layout { path, .. } => {
            let file = crate::copy::layout::blob_path(path, &blob.digest);
            Ok(tokio::fs::try_exists(file).await.unwrap_or(false))
        }
        other => Err(unsupported(other)),
    }
}

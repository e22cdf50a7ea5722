//! `hoist prune`: docker's `image prune` (dangling images), plus what a daemonless store also
//! accumulates: blobs no image needs and partial downloads abandoned more than 24 hours ago.
//! See [`hoist::store::gc`].
//!
//! Output is docker's: `Deleted Images:` and one `deleted: sha256:<id>` per image, a blank
//! line, then `Total reclaimed space: <HumanSize>` (all bytes freed: blobs and partial
//! downloads). docker asks for confirmation first; hoist has no prompt (it deletes only what
//! nothing references). It waits for pulls running in other processes to finish.

use hoist::store::{collect_garbage, GcOptions, MetadataStore};

use crate::failure::CliError;
use crate::units::human_size;

/// Runs `hoist prune`.
pub fn run(meta: &MetadataStore) -> Result<(), CliError> {
    let Some(report) = collect_garbage(meta, &GcOptions::default())? else {
        // Only possible without waiting, which `prune` does not ask for.
        return Ok(());
    };
    tracing::debug!(?report, "garbage collected");
    if !report.deleted_images.is_empty() {
        let mut out = String::from("Deleted Images:\n");
        for image_id in &report.deleted_images {
            out.push_str(&format!("deleted: {image_id}\n"));
        }
        crate::outln!("{out}");
    }
    crate::outln!(
        "Total reclaimed space: {}",
        human_size(report.reclaimed(), 4)
    );
    Ok(())
}

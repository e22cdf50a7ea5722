//! `hoist export [--force] REF DIR`: the image's flattened root filesystem in DIR — the tree
//! `umoci unpack` puts in a bundle's `rootfs/` (see [`hoist::export`]). From the unpacked
//! layers when they are all in the layer store, else from the blobs. Prints nothing on
//! success; `--debug` logs which source was used.

use std::sync::Arc;

use hoist::export::{export_image, ExportOptions};
use hoist::images::resolve_image;
use hoist::store::{LayerStore, MetadataStore};

use crate::cli::ExportArgs;
use crate::failure::CliError;

/// Runs `hoist export`.
pub fn run(args: &ExportArgs, meta: MetadataStore) -> Result<(), CliError> {
    let image = resolve_image(&meta, &args.reference)?;
    let meta = Arc::new(meta);
    let layers = LayerStore::open(Arc::clone(&meta))?;
    let options = ExportOptions {
        force: args.force,
        ..ExportOptions::default()
    };
    let report = export_image(&meta, Some(&layers), &image.record, &args.dir, &options)?;
    tracing::debug!(
        source = ?report.source,
        layers = report.layers,
        unapplied = report.unapplied.len(),
        dir = %args.dir.display(),
        "exported"
    );
    Ok(())
}

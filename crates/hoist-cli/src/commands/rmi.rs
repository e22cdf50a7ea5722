//! `hoist rmi [-f] REF...`: docker's `rmi` (`ImageDelete`, see [`hoist::images::delete`]).
//!
//! For each REF, in order, prints docker's lines — `Untagged: REF` for each reference removed,
//! `Deleted: sha256:<id>` when the image went — or its error ("Error: No such image: REF",
//! "Error: conflict: unable to delete … (must be forced) - …"), and goes on with the next REF;
//! the command fails if any REF did. When an image was deleted, garbage collection then
//! deletes the blobs no remaining image needs. It does not wait for a pull running in another
//! process (that could take minutes): it says so, and the next `hoist prune` collects them.

use hoist::images::{delete_image, DeleteItem};
use hoist::store::{collect_garbage, GcOptions, MetadataStore};

use crate::cli::RmiArgs;
use crate::failure::{self, CliError};

/// Runs `hoist rmi`.
pub fn run(args: &RmiArgs, meta: &MetadataStore, debug: bool) -> Result<(), CliError> {
    let mut failed = 0;
    let mut deleted_any = false;
    for input in &args.references {
        match delete_image(meta, input, args.force) {
            Ok(items) => {
                for item in items {
                    match item {
                        DeleteItem::Untagged(reference) => {
                            crate::outln!("Untagged: {}", reference.familiar());
                        }
                        DeleteItem::Deleted(image_id) => {
                            deleted_any = true;
                            crate::outln!("Deleted: {image_id}");
                        }
                    }
                }
            }
            Err(e) => {
                failed += 1;
                failure::report_item(&CliError::from(e), debug);
            }
        }
    }
    if deleted_any {
        let options = GcOptions {
            remove_unreferenced_images: false,
            wait: false,
            ..GcOptions::default()
        };
        match collect_garbage(meta, &options)? {
            Some(report) => tracing::debug!(?report, "blobs of deleted images collected"),
            None => crate::errln!(
                "another hoist process is writing to the store; the blobs of deleted images \
                 will be removed by the next `hoist prune`"
            ),
        }
    }
    if failed > 0 {
        return Err(CliError::ItemsFailed { failed });
    }
    Ok(())
}

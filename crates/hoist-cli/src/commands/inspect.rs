//! `hoist inspect REF...`: docker's `image inspect`.
//!
//! Prints a JSON array (indented with four spaces, as docker's `MarshalIndent`) with one
//! [`hoist::images::ImageInspect`] per image found, in argument order. Each REF not found is
//! reported on stderr as docker does ("Error: No such image: REF") after the array, and the
//! command then fails; the array is printed even when empty (`[]`), as docker prints it.

use hoist::images::inspect_image;
use hoist::store::MetadataStore;

use crate::cli::InspectArgs;
use crate::failure::{self, CliError};

/// Runs `hoist inspect`.
pub fn run(args: &InspectArgs, meta: &MetadataStore, debug: bool) -> Result<(), CliError> {
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for input in &args.references {
        match inspect_image(meta, input) {
            Ok(image) => found.push(image),
            Err(e) => failures.push(CliError::from(e)),
        }
    }
    crate::outln!("{}", super::to_json_pretty(&found));
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

//! `hoist tag SOURCE TARGET`: docker's `tag`. SOURCE is any REF (tag, digest reference, image
//! ID or prefix); TARGET a reference without digest, `:latest` if it has no tag; an existing
//! TARGET moves. Prints nothing on success, as docker. See [`hoist::images::tag`].

use hoist::images::tag_image;
use hoist::store::MetadataStore;

use crate::cli::TagArgs;
use crate::failure::CliError;

/// Runs `hoist tag`.
pub fn run(args: &TagArgs, meta: &MetadataStore) -> Result<(), CliError> {
    let tagged = tag_image(meta, &args.source, &args.target)?;
    tracing::debug!(source = %args.source, target = %tagged, "tagged");
    Ok(())
}

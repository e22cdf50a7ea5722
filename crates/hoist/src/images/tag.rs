//! `hoist tag SOURCE TARGET`: docker's `ImageService.TagImage` behind `docker tag`.
//!
//! SOURCE is any REF [`resolve_image`] accepts (tag, digest reference,
//! image ID or prefix). TARGET must be a reference without a digest (docker's CLI and API both
//! refuse one: "refusing to create a tag with a digest reference"); a name alone gets
//! `:latest` (`TagNameOnly`). docker tags with `force`, so an existing TARGET moves to the
//! new image (the image it left keeps its record, dangling if that was its last reference,
//! until `prune`). Re-tagging the same image is a no-op.
//!
//! The tag is added under a [`Lease`](crate::store::Lease): the source may be a dangling
//! image, which a concurrent `prune` would otherwise delete between resolving and tagging.

use crate::reference::Reference;
use crate::store::MetadataStore;

use super::{resolve_image, ImageError};

/// Points `target` at the image `source` names; returns the tag as stored (with `:latest`
/// added to a name alone). Blocking (it may wait for a running garbage collection).
pub fn tag_image(
    meta: &MetadataStore,
    source: &str,
    target: &str,
) -> Result<Reference, ImageError> {
    let parsed = Reference::parse(target).map_err(|source| ImageError::InvalidReference {
        input: target.to_owned(),
        source,
    })?;
    if parsed.digest().is_some() {
        return Err(ImageError::TagWithDigest {
            target: target.to_owned(),
        });
    }
    let target = parsed.with_default_tag();
    let _lease = meta.content().lease()?;
    let image = resolve_image(meta, source)?;
    meta.add_tag(&target, &image.record.manifest_digest, true)?;
    Ok(target)
}

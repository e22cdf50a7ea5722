//! Where an image is, as `hoist copy` spells it: [`ImageLocation`].
//!
//! skopeo's transport syntax, the three transports hoist has:
//! - `docker://REF` or a bare `REF`: a registry, REF parsed as docker parses it
//!   (`app:v1` ⇒ `docker.io/library/app:v1`; a name alone means `:latest`);
//! - `oci:PATH[:TAG]`: an OCI image layout directory; everything after the first `:` that
//!   follows the path is the tag (the `org.opencontainers.image.ref.name` of the entry), so a
//!   path cannot contain `:` (skopeo's rule too);
//! - `hoist:REF`: the local store (`--root`), REF as `hoist images` shows it (`app:v1` ⇒
//!   `docker.io/library/app:v1`). As a source, REF is resolved by the reference store
//!   ([`super::StoreSource`]); as a destination it is the tag the image is recorded under
//!   ([`super::StoreSink`]), so a copy into it is a pull from any source. A registry whose
//!   host is named `hoist` is then spelt `docker://hoist:PORT/…`.

use std::fmt;
use std::path::PathBuf;

use super::CopyError;
use crate::reference::Reference;

/// One side of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageLocation {
    /// A registry image reference.
    Registry(Reference),
    /// An OCI image layout directory and, optionally, the name of the image in it.
    Layout {
        /// The directory.
        path: PathBuf,
        /// The `org.opencontainers.image.ref.name` to read or write.
        tag: Option<String>,
    },
    /// An image of the local store, by reference.
    Store(Reference),
}

impl ImageLocation {
    /// Parses `docker://REF`, `oci:PATH[:TAG]`, `hoist:REF` or a bare `REF`.
    pub fn parse(input: &str) -> Result<ImageLocation, CopyError> {
        let bad = |reason: &str| CopyError::Location {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(rest) = input.strip_prefix("oci:") {
            let (path, tag) = match rest.split_once(':') {
                Some((path, tag)) => (path, Some(tag)),
                None => (rest, None),
            };
            if path.is_empty() {
                return Err(bad("oci: needs a directory, as in oci:PATH[:TAG]"));
            }
            if tag.is_some_and(str::is_empty) {
                return Err(bad("the tag after the path is empty"));
            }
            return Ok(ImageLocation::Layout {
                path: PathBuf::from(path),
                tag: tag.map(str::to_owned),
            });
        }
        if let Some(rest) = input.strip_prefix("hoist:") {
            if rest.is_empty() {
                return Err(bad(
                    "hoist: needs an image reference, as in hoist:NAME[:TAG]",
                ));
            }
            return Ok(ImageLocation::Store(Reference::parse(rest)?));
        }
        let reference = input.strip_prefix("docker://").unwrap_or(input);
        if reference.contains("://") {
            return Err(bad(
                "unknown transport: use docker://REF, oci:PATH[:TAG], hoist:REF or a bare REF",
            ));
        }
        Ok(ImageLocation::Registry(Reference::parse(reference)?))
    }
}

impl fmt::Display for ImageLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageLocation::Registry(r) => write!(f, "docker://{r}"),
            ImageLocation::Layout { path, tag: None } => write!(f, "oci:{}", path.display()),
            ImageLocation::Layout {
                path,
                tag: Some(tag),
            } => write!(f, "oci:{}:{tag}", path.display()),
            ImageLocation::Store(r) => write!(f, "hoist:{r}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_and_docker_references_are_registry_locations() {
        let bare = ImageLocation::parse("localhost:5000/app:v1").unwrap();
        let docker = ImageLocation::parse("docker://localhost:5000/app:v1").unwrap();
        assert_eq!(bare, docker);
        assert!(matches!(bare, ImageLocation::Registry(_)));
    }

    #[test]
    fn oci_location_splits_path_and_tag_at_the_first_colon() {
        let loc = ImageLocation::parse("oci:/tmp/dir:localhost:5000/app:v1").unwrap();
        assert_eq!(
            loc,
            ImageLocation::Layout {
                path: PathBuf::from("/tmp/dir"),
                tag: Some("localhost:5000/app:v1".into()),
            }
        );
        let untagged = ImageLocation::parse("oci:/tmp/dir").unwrap();
        assert!(matches!(untagged, ImageLocation::Layout { tag: None, .. }));
    }

    #[test]
    fn hoist_location_is_a_store_reference_normalised_like_docker() {
        let loc = ImageLocation::parse("hoist:app:v1").unwrap();
        assert_eq!(
            loc,
            ImageLocation::Store(Reference::parse("docker.io/library/app:v1").unwrap())
        );
        assert_eq!(loc.to_string(), "hoist:docker.io/library/app:v1");
    }

    #[test]
    fn malformed_locations_are_refused_with_the_input_quoted() {
        for input in [
            "oci:",
            "oci::tag",
            "oci:/d:",
            "dir://x",
            "UPPER/Case",
            "hoist:",
        ] {
            let err = ImageLocation::parse(input).unwrap_err();
            assert!(
                err.to_string().contains(input) || matches!(err, CopyError::Reference(_)),
                "{err}"
            );
        }
    }
}

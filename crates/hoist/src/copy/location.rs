//! Where an image is, as `hoist copy` spells it: [`ImageLocation`].
//!
//! skopeo's transport syntax, the six transports hoist has:
//! - `docker://REF` or a bare `REF`: a registry, REF parsed as docker parses it
//!   (`app:v1` ⇒ `docker.io/library/app:v1`; a name alone means `:latest`);
//! - `oci:PATH[:TAG]`: an OCI image layout directory; everything after the first `:` that
//!   follows the path is the tag (the `org.opencontainers.image.ref.name` of the entry), so a
//!   path cannot contain `:` (skopeo's rule too);
//! - `hoist:REF`: the local store (`--root`), REF as `hoist images` shows it (`app:v1` ⇒
//!   `docker.io/library/app:v1`). As a source, REF is resolved by the reference store
//!   ([`super::StoreSource`]); as a destination it is the tag the image is recorded under
//!   ([`super::StoreSink`]), so a copy into it is a pull from any source. A registry whose
//!   host is named `hoist` is then spelt `docker://hoist:PORT/…`;
//! - `dir:PATH`: skopeo's directory of files named by digest ([`super::dir`]); one image, no
//!   tag;
//! - `docker-archive:PATH[:REF]`: a `docker save` tarball ([`super::archive_source`],
//!   [`super::archive_sink`]). As a source,
//!   REF picks the image whose `RepoTags` holds `NAME:TAG`, or `@N` the N-th entry of its
//!   `manifest.json` (skopeo's syntax); without REF the archive must hold one image. As a
//!   destination, REF is the tag written in `RepoTags` (none: the image is saved untagged);
//! - `oci-archive:PATH[:TAG]`: a tarball of an OCI layout, TAG as for `oci:`.
//!
//! Any other `NAME:` that skopeo knows as a transport (`containers-storage:`,
//! `docker-daemon:`, …) or any other `SCHEME://` is refused with the list of the transports
//! that exist.

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
    /// skopeo's `dir:` directory.
    Dir(PathBuf),
    /// A `docker save` tarball and, optionally, which image in it.
    DockerArchive {
        /// The tarball.
        path: PathBuf,
        /// The image (source) or its tag (destination).
        image: Option<ArchiveImage>,
    },
    /// A tarball of an OCI image layout.
    OciArchive {
        /// The tarball.
        path: PathBuf,
        /// The `org.opencontainers.image.ref.name` to read or write.
        tag: Option<String>,
    },
}

/// Which image of a docker-archive: `NAME:TAG` or `@N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveImage {
    /// The image whose `RepoTags` holds this reference (as a destination: its tag).
    Tagged(Reference),
    /// The N-th entry of `manifest.json`, from 0 (a source only).
    Index(usize),
}

/// The transports, as the unknown-transport error lists them.
pub const TRANSPORTS: &str = "docker://REF, oci:PATH[:TAG], dir:PATH, docker-archive:PATH[:REF], oci-archive:PATH[:TAG], hoist:REF or a bare REF";

/// skopeo's transports hoist does not have: refused by name rather than taken for a registry
/// reference.
const FOREIGN_TRANSPORTS: [&str; 6] = [
    "containers-storage",
    "docker-daemon",
    "ostree",
    "sif",
    "atomic",
    "tarball",
];

impl ImageLocation {
    /// Parses `docker://REF`, `oci:PATH[:TAG]`, `hoist:REF` or a bare `REF`.
    pub fn parse(input: &str) -> Result<ImageLocation, CopyError> {
        let bad = |reason: &str| CopyError::Location {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(rest) = input.strip_prefix("oci-archive:") {
            let (path, tag) = path_and_tag(rest, "oci-archive")?;
            return Ok(ImageLocation::OciArchive { path, tag });
        }
        if let Some(rest) = input.strip_prefix("docker-archive:") {
            let (path, image) = path_and_tag(rest, "docker-archive")?;
            let image = match image {
                None => None,
                Some(text) => Some(match text.strip_prefix('@') {
                    Some(n) => ArchiveImage::Index(n.parse().map_err(|_| {
                        bad("@N after the path must be an image's position, a number")
                    })?),
                    None => {
                        let reference = Reference::parse(&text)?;
                        if reference.digest().is_some() {
                            return Err(bad(
                                "a docker-archive image is named NAME:TAG, not by digest",
                            ));
                        }
                        ArchiveImage::Tagged(reference.with_default_tag())
                    }
                }),
            };
            return Ok(ImageLocation::DockerArchive { path, image });
        }
        if let Some(rest) = input.strip_prefix("dir:") {
            if rest.is_empty() {
                return Err(bad("dir: needs a directory, as in dir:PATH"));
            }
            if rest.starts_with("//") {
                return Err(bad("dir: takes a path, not a URL: dir:PATH"));
            }
            return Ok(ImageLocation::Dir(PathBuf::from(rest)));
        }
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
        let foreign = input
            .split_once(':')
            .is_some_and(|(name, _)| FOREIGN_TRANSPORTS.contains(&name));
        if reference.contains("://") || foreign {
            return Err(bad(&format!("unknown transport: use {TRANSPORTS}")));
        }
        Ok(ImageLocation::Registry(Reference::parse(reference)?))
    }
}

/// `PATH[:TAG]` of an archive transport: the path ends at the first `:` (skopeo's rule).
fn path_and_tag(rest: &str, transport: &str) -> Result<(PathBuf, Option<String>), CopyError> {
    let bad = |reason: String| CopyError::Location {
        input: format!("{transport}:{rest}"),
        reason,
    };
    let (path, tag) = match rest.split_once(':') {
        Some((path, tag)) => (path, Some(tag)),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err(bad(format!(
            "{transport}: needs a file, as in {transport}:PATH[:REF]"
        )));
    }
    if tag.is_some_and(str::is_empty) {
        return Err(bad("the reference after the path is empty".to_owned()));
    }
    Ok((PathBuf::from(path), tag.map(str::to_owned)))
}

impl ImageLocation {
    /// Whether `input` names its transport — one of hoist's (`docker://`, `oci:`, `hoist:`, …),
    /// one of skopeo's that hoist does not have, or any `SCHEME://` — rather than being a
    /// bare `REF`. Commands whose bare `REF` is a stored image (`hoist export`) send the rest
    /// to [`ImageLocation::parse`], which refuses the unknown ones by name.
    pub fn names_transport(input: &str) -> bool {
        const OWN: [&str; 5] = ["oci:", "oci-archive:", "dir:", "docker-archive:", "hoist:"];
        input.contains("://")
            || OWN.iter().any(|transport| input.starts_with(transport))
            || input
                .split_once(':')
                .is_some_and(|(name, _)| FOREIGN_TRANSPORTS.contains(&name))
    }

    /// Whether the location can hold an index (several platforms): a docker-archive holds
    /// one image per entry, no index, so a copy into one takes one platform.
    pub fn holds_index(&self) -> bool {
        !matches!(self, ImageLocation::DockerArchive { .. })
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
            ImageLocation::Dir(path) => write!(f, "dir:{}", path.display()),
            ImageLocation::DockerArchive { path, image } => {
                write!(f, "docker-archive:{}", path.display())?;
                match image {
                    None => Ok(()),
                    Some(ArchiveImage::Tagged(r)) => write!(f, ":{r}"),
                    Some(ArchiveImage::Index(n)) => write!(f, ":@{n}"),
                }
            }
            ImageLocation::OciArchive { path, tag } => {
                write!(f, "oci-archive:{}", path.display())?;
                match tag {
                    None => Ok(()),
                    Some(tag) => write!(f, ":{tag}"),
                }
            }
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
    fn archive_and_dir_locations_split_path_and_image() {
        assert_eq!(
            ImageLocation::parse("dir:/tmp/d").unwrap(),
            ImageLocation::Dir(PathBuf::from("/tmp/d"))
        );
        assert_eq!(
            ImageLocation::parse("docker-archive:/tmp/a.tar:app:v1").unwrap(),
            ImageLocation::DockerArchive {
                path: PathBuf::from("/tmp/a.tar"),
                image: Some(ArchiveImage::Tagged(
                    Reference::parse("docker.io/library/app:v1").unwrap()
                )),
            }
        );
        assert_eq!(
            ImageLocation::parse("docker-archive:/tmp/a.tar:@2").unwrap(),
            ImageLocation::DockerArchive {
                path: PathBuf::from("/tmp/a.tar"),
                image: Some(ArchiveImage::Index(2)),
            }
        );
        assert_eq!(
            ImageLocation::parse("oci-archive:/tmp/o.tar:v1")
                .unwrap()
                .to_string(),
            "oci-archive:/tmp/o.tar:v1"
        );
    }

    #[test]
    fn unknown_transports_list_the_ones_that_exist() {
        for input in [
            "containers-storage:app",
            "ftp://x/y",
            "docker-daemon:app:v1",
        ] {
            let err = ImageLocation::parse(input).unwrap_err().to_string();
            assert!(
                err.contains("unknown transport") && err.contains("docker-archive:PATH"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_transport_is_named_by_every_prefix_parse_reads_and_not_by_a_bare_reference() {
        for input in [
            "docker://r.example/app:v1",
            "oci:/d:v1",
            "oci-archive:/f.tar",
            "dir:/d",
            "docker-archive:/f.tar:app:v1",
            "hoist:app:v1",
            "containers-storage:app",
            "ftp://x/y",
        ] {
            assert!(ImageLocation::names_transport(input), "{input}");
        }
        for input in [
            "app",
            "app:v1",
            "localhost:5000/app:v1",
            "r.example/oci:v1",
            "sha256:0123abcd",
            "0123abcd",
        ] {
            assert!(!ImageLocation::names_transport(input), "{input}");
        }
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
            "dir:",
            "docker-archive:",
            "docker-archive::x:1",
            "docker-archive:/f:@x",
            "oci-archive:/f:",
        ] {
            let err = ImageLocation::parse(input).unwrap_err();
            assert!(
                err.to_string().contains(input) || matches!(err, CopyError::Reference(_)),
                "{err}"
            );
        }
    }
}

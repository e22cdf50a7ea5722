//! Both ends of a sync as the command line gives them — [`Source`] (`--src docker|dir|yaml
//! SRC`) and [`Destination`] (`--dest docker|dir DEST`) — and the name each image gets at
//! the destination ([`Destination::location`]).
//!
//! # Names (skopeo sync's)
//! skopeo joins DEST and a suffix: the source reference (`registry.example.com/library/
//! debian:bookworm`, or the directory below `--src dir`), cut to its last path component
//! unless `--scoped`. So, into `--dest docker my-registry.local.lan/mirror`:
//!
//! | source | destination | with `--scoped` |
//! |---|---|---|
//! | `R/library/debian:bookworm` | `…/mirror/debian:bookworm` | `…/mirror/R/library/debian:bookworm` |
//! | `R/redis@sha256:…` | `…/mirror/redis@sha256:…` (pushed by digest) | `…/mirror/R/redis@sha256:…` |
//! | dir `busybox:1-glibc/` | `…/mirror/busybox:1-glibc` | (the path below the source directory) |
//! | layout entry `busybox:1-glibc` | `…/mirror/busybox:1-glibc` | `…/mirror/` + the entry's name |
//!
//! Docker Hub references are written in full (`docker.io/library/busybox:latest`), as
//! skopeo's `DockerReference().String()` does. With `--scoped`, a source registry with a port
//! (`localhost:5000`) makes a destination name docker refuses, in skopeo too: that image
//! fails with the reason.
//!
//! # `--dest dir`: one shared OCI layout
//! skopeo writes one `dir:` directory per image (`/media/usb/busybox:1-glibc/`); hoist
//! writes DEST as **one OCI image layout** holding every image, each under the name above as
//! its `org.opencontainers.image.ref.name` (`busybox:1-glibc`,
//! `registry.example.com/busybox:1-glibc` with `--scoped`). Chosen for the air gap: a base
//! layer shared by twenty repositories is stored (and carried across) once, not twenty times;
//! a second sync into the same directory writes only the blobs it lacks; and the result is
//! an ordinary layout, readable with `oci:DEST:busybox:1-glibc` by hoist, skopeo and umoci.
//! `--src dir DEST` reads such a layout back: every named entry is an image, its name the
//! suffix above. A directory without `oci-layout` is read as skopeo leaves one: every
//! directory below it holding a `manifest.json` is a `dir:` image. A second export across
//! the gap can hold only what the first lacks (`--since`, see `since`).

use std::path::PathBuf;

use super::SyncError;
use crate::copy::ImageLocation;
use crate::reference::Reference;

/// Where images come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// `--src docker REPO[:TAG|@DIGEST]`: one image, or every tag of a repository.
    Registry(Reference),
    /// `--src dir DIR`: an OCI layout written by `--dest dir`, or skopeo's `dir:` tree.
    Dir(PathBuf),
    /// `--src yaml FILE`: skopeo sync's YAML (or its TOML form).
    File(PathBuf),
}

/// The transports `--src` takes.
pub const SOURCE_TRANSPORTS: &str = "docker, dir, yaml";
/// The transports `--dest` takes.
pub const DESTINATION_TRANSPORTS: &str = "docker, dir";

impl Source {
    /// `--src TRANSPORT` with its argument.
    pub fn parse(transport: &str, argument: &str) -> Result<Source, SyncError> {
        match transport {
            "docker" => Ok(Source::Registry(Reference::parse(argument)?)),
            "dir" => Ok(Source::Dir(PathBuf::from(argument))),
            "yaml" => Ok(Source::File(PathBuf::from(argument))),
            other => Err(SyncError::Transport {
                side: "source",
                transport: other.to_owned(),
                allowed: SOURCE_TRANSPORTS,
            }),
        }
    }
}

/// Where images go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `--dest docker REG[/PREFIX]`: the registry and repository prefix, without a trailing
    /// `/`.
    Registry(String),
    /// `--dest dir DIR`: one OCI layout for every image (see the module docs).
    Layout(PathBuf),
}

impl Destination {
    /// `--dest TRANSPORT` with its argument.
    pub fn parse(transport: &str, argument: &str) -> Result<Destination, SyncError> {
        match transport {
            "docker" => {
                let prefix = argument.trim_end_matches('/');
                let usable = !prefix.is_empty()
                    && !prefix.contains("://")
                    && Reference::parse(&format!("{prefix}/x")).is_ok();
                if !usable {
                    return Err(SyncError::Destination {
                        destination: argument.to_owned(),
                        reason: "expected a registry and an optional repository prefix, as \
                                 in my-registry.local.lan/mirror"
                            .to_owned(),
                    });
                }
                Ok(Destination::Registry(prefix.to_owned()))
            }
            "dir" => Ok(Destination::Layout(PathBuf::from(argument))),
            other => Err(SyncError::Transport {
                side: "destination",
                transport: other.to_owned(),
                allowed: DESTINATION_TRANSPORTS,
            }),
        }
    }

    /// Where the image named `suffix` (see the module docs: `NAME:TAG`, `NAME@DIGEST`, or a
    /// scoped path) goes.
    pub fn location(&self, suffix: &str) -> Result<ImageLocation, SyncError> {
        let refused = |reason: String| SyncError::Destination {
            destination: match self {
                Destination::Registry(prefix) => format!("{prefix}/{suffix}"),
                Destination::Layout(path) => format!("{}:{suffix}", path.display()),
            },
            reason,
        };
        match self {
            Destination::Registry(prefix) => {
                let reference = Reference::parse(&format!("{prefix}/{suffix}"))
                    .map_err(|e| refused(e.to_string()))?;
                if reference.is_name_only() {
                    return Err(refused("the source names no tag or digest".into()));
                }
                Ok(ImageLocation::Registry(reference))
            }
            Destination::Layout(path) => {
                // The name must be a valid reference, as `--src dir` reads it back.
                if let Err(e) = Reference::parse(suffix) {
                    return Err(refused(e.to_string()));
                }
                Ok(ImageLocation::Layout {
                    path: path.clone(),
                    tag: Some(suffix.to_owned()),
                })
            }
        }
    }
}

/// The destination suffix of the registry image `reference` (a tag or digest reference):
/// its last path component with the tag or digest, or the whole reference when `scoped`.
pub fn registry_suffix(reference: &Reference, scoped: bool) -> String {
    let full = reference.to_string();
    if scoped {
        return full;
    }
    last_component(&full).to_owned()
}

/// The destination suffix of an image found at `relative` below a `--src dir` directory
/// (a `dir:` image's path, or a layout entry's name).
pub fn dir_suffix(relative: &str, scoped: bool) -> String {
    let relative = relative.trim_matches('/');
    if scoped {
        return relative.to_owned();
    }
    last_component(relative).to_owned()
}

/// What follows the last `/` that is not inside the tag or digest (a digest holds no `/`,
/// nor does a tag).
fn last_component(name: &str) -> &str {
    name.rsplit_once('/').map_or(name, |(_, last)| last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    #[test]
    fn names_are_the_last_component_unless_scoped() {
        let debian = reference("registry.example.com/library/debian:bookworm");
        assert_eq!(registry_suffix(&debian, false), "debian:bookworm");
        assert_eq!(
            registry_suffix(&debian, true),
            "registry.example.com/library/debian:bookworm"
        );
        let hub = reference("busybox:latest");
        assert_eq!(
            registry_suffix(&hub, true),
            "docker.io/library/busybox:latest"
        );
        let digest = format!("r.example/redis@sha256:{}", "ab".repeat(32));
        let pinned = reference(&digest);
        assert_eq!(
            registry_suffix(&pinned, false),
            format!("redis@sha256:{}", "ab".repeat(32))
        );
    }

    #[test]
    fn skopeo_man_page_destinations() {
        let dest = Destination::parse("docker", "my-registry.local.lan/repo/").unwrap();
        let busybox = reference("registry.example.com/repo/busybox:1-glibc");
        let to = dest.location(&registry_suffix(&busybox, false)).unwrap();
        assert_eq!(
            to.to_string(),
            "docker://my-registry.local.lan/repo/busybox:1-glibc"
        );
        let scoped = dest.location(&registry_suffix(&busybox, true)).unwrap();
        assert_eq!(
            scoped.to_string(),
            "docker://my-registry.local.lan/repo/registry.example.com/repo/busybox:1-glibc"
        );
        let dir = Destination::parse("docker", "my-registry.local.lan/test").unwrap();
        let from_dir = dir
            .location(&dir_suffix("/busybox:1-glibc", false))
            .unwrap();
        assert_eq!(
            from_dir.to_string(),
            "docker://my-registry.local.lan/test/busybox:1-glibc"
        );
    }

    #[test]
    fn a_layout_destination_names_entries_by_suffix() {
        let dest = Destination::parse("dir", "/media/usb").unwrap();
        let to = dest.location("busybox:1-glibc").unwrap();
        assert_eq!(to.to_string(), "oci:/media/usb:busybox:1-glibc");
        assert!(dest.location("Bad Name").is_err());
    }

    #[test]
    fn scoped_names_with_a_port_are_refused_with_the_name() {
        let dest = Destination::parse("docker", "mirror.example").unwrap();
        let source = reference("localhost:5000/app:v1");
        let err = dest
            .location(&registry_suffix(&source, true))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mirror.example/localhost:5000/app:v1"),
            "{err}"
        );
    }

    #[test]
    fn unknown_transports_and_bad_destinations_are_refused() {
        assert!(Source::parse("oci", "x").is_err());
        assert!(Destination::parse("yaml", "x").is_err());
        for bad in ["", "docker://r.example", "r.example/Bad Name"] {
            assert!(Destination::parse("docker", bad).is_err(), "{bad}");
        }
    }
}

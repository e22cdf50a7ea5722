//! Whiteouts: `.wh.NAME` (NAME is deleted) and `.wh..wh..opq` (the directory is opaque), from
//! the OCI image spec's "Whiteouts" section and docker's `archive.WhiteoutPrefix`.
//!
//! In **apply mode** (flattening onto a rootfs, docker's `UnpackLayer`) they are executed:
//! `.wh.NAME` removes NAME (recursively, without following symlinks) from its directory;
//! `.wh..wh..opq` removes every entry of its directory that this layer did not create (docker
//! keeps an `unpackedPaths` set for the same purpose). Neither marker is written.
//!
//! In **diff mode** (a layer's own directory, kept for an overlay mount and export) they are
//! kept, in the form [`WhiteoutFormat`] selects:
//! - [`WhiteoutFormat::Overlay`] (docker's `overlay2` driver, `OverlayWhiteoutFormat`):
//!   `.wh.NAME` becomes a character device 0:0 named NAME; `.wh..wh..opq` becomes the xattr
//!   `trusted.overlay.opaque=y` on its directory. This is what overlayfs reads as a lower layer.
//! - [`WhiteoutFormat::Marker`]: the marker files are written as the archive has them (empty
//!   regular files `.wh.NAME`, `.wh..wh..opq`), as docker's `vfs`/`aufs` layouts and
//!   `umoci`'s layer directories keep them. Needs no privilege; export translates them.
//!
//! Other `.wh..wh.*` names (AUFS metadata such as `.wh..wh.plnk`) are skipped, as docker does.
//! A whiteout's name is confined like any entry: `../.wh.x` is refused by [`EntryPath`], and the
//! removal happens through the directory fd of its own parent, so it cannot reach elsewhere.

use rustix::fs::{self as rfs, FileType, Mode, XattrFlags};

use super::apply::Unpacker;
use super::error::{EntryKind, EntryProblem};
use super::path::EntryPath;
use super::root::{Missing, Name, ResolveError};
use super::UnpackMode;

/// Prefix of a whiteout name.
pub const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// Prefix of AUFS metadata names.
pub const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
/// Name of the opaque-directory marker.
pub const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// The overlayfs xattr marking a directory opaque.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// How diff mode keeps whiteouts on disk (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutFormat {
    /// overlayfs: char device 0:0 for `.wh.NAME`, `trusted.overlay.opaque=y` for opaque dirs.
    Overlay,
    /// The archive's own marker files (`.wh.NAME`, `.wh..wh..opq`), kept as empty files.
    Marker,
}

/// What a final name means as a whiteout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteout<'a> {
    /// Not a whiteout.
    None,
    /// `.wh.NAME`.
    Remove(&'a [u8]),
    /// `.wh..wh..opq`.
    Opaque,
    /// Other `.wh..wh.*` AUFS metadata: skipped.
    AufsMeta,
}

/// Classifies the final component of an entry name.
pub fn classify(last: &[u8]) -> Whiteout<'_> {
    if last == OPAQUE_MARKER {
        Whiteout::Opaque
    } else if last.starts_with(WHITEOUT_META_PREFIX) {
        Whiteout::AufsMeta
    } else if let Some(name) = last.strip_prefix(WHITEOUT_PREFIX) {
        Whiteout::Remove(name)
    } else {
        Whiteout::None
    }
}

impl Unpacker<'_> {
    /// Handles a whiteout entry (`path` ends in `.wh.NAME` or `.wh..wh..opq`).
    pub(super) fn whiteout(
        &mut self,
        path: &EntryPath,
        whiteout: Whiteout<'_>,
    ) -> Result<(), EntryProblem> {
        let dir_path = path.parent();
        match (self.options.mode, whiteout) {
            (UnpackMode::Apply, Whiteout::Remove(name)) => {
                let name = Name::new(name).ok_or(EntryProblem::BadWhiteout)?;
                let Some(dir) = self.existing_dir(&dir_path)? else {
                    return Ok(()); // nothing below to hide
                };
                self.forget_cache();
                dir.remove_all(name)
                    .map_err(|e| EntryProblem::io("remove whited-out entry", e))
            }
            (UnpackMode::Apply, Whiteout::Opaque) => {
                let Some(dir) = self.existing_dir(&dir_path)? else {
                    return Ok(());
                };
                self.forget_cache();
                let created = &self.created;
                dir.remove_children(|child| created.contains_child(&dir_path, child))
                    .map_err(|e| EntryProblem::io("empty opaque directory", e))
            }
            (UnpackMode::Diff, Whiteout::Remove(name)) => {
                let name = Name::new(name).ok_or(EntryProblem::BadWhiteout)?;
                let dir = self.parent(dir_path.components())?;
                self.clear_slot(&dir, name, false)?;
                rfs::mknodat(
                    &*dir,
                    name.as_bytes(),
                    FileType::CharacterDevice,
                    Mode::empty(),
                    rfs::makedev(0, 0),
                )
                .map_err(|e| EntryProblem::io("mknodat whiteout", e))
            }
            (UnpackMode::Diff, Whiteout::Opaque) => {
                self.report.opaque_dirs = true;
                let dir = self.parent(dir_path.components())?;
                let fd = dir.open_self().map_err(|e| EntryProblem::io("openat", e))?;
                rfs::fsetxattr(&fd, OVERLAY_OPAQUE_XATTR, b"y", XattrFlags::empty())
                    .map_err(|e| EntryProblem::io("setxattr trusted.overlay.opaque", e))
            }
            (_, Whiteout::None | Whiteout::AufsMeta) => Ok(()),
        }
    }

    /// The directory at `path` if it exists (without creating anything).
    fn existing_dir(
        &mut self,
        path: &EntryPath,
    ) -> Result<Option<super::root::DirInRoot>, EntryProblem> {
        match self.root.resolve_dir(path.components(), Missing::Fail) {
            Ok(dir) => Ok(Some(dir)),
            Err(ResolveError::NotFound(_) | ResolveError::NotADirectory(_)) => Ok(None),
            Err(e) => Err(EntryProblem::Parent(e)),
        }
    }
}

/// The entry kind reported for a whiteout, and whether `format` keeps markers as plain files.
pub fn whiteout_kind(whiteout: Whiteout<'_>) -> EntryKind {
    match whiteout {
        Whiteout::Opaque => EntryKind::OpaqueWhiteout,
        _ => EntryKind::Whiteout,
    }
}

/// True when whiteouts are interpreted (apply mode, or diff mode in overlay format); false
/// when the marker files are written as ordinary entries.
pub fn interprets_whiteouts(mode: UnpackMode, format: WhiteoutFormat) -> bool {
    mode == UnpackMode::Apply || format == WhiteoutFormat::Overlay
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_names() {
        assert_eq!(classify(b".wh.foo"), Whiteout::Remove(b"foo"));
        assert_eq!(classify(b".wh..wh..opq"), Whiteout::Opaque);
        assert_eq!(classify(b".wh..wh.plnk"), Whiteout::AufsMeta);
        assert_eq!(classify(b"foo.wh.bar"), Whiteout::None);
        // `.wh..` would name `.`: Name::new refuses it later.
        assert_eq!(classify(b".wh.."), Whiteout::Remove(b"."));
    }
}

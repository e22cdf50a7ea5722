//! Setting an entry's metadata on its copy in the target, for the copy of an unpacked layer
//! (`apply_dir`): owner (root only), xattrs (not `trusted.overlay.*`), mode (after chown, which
//! clears setuid), then atime/mtime — each only where the target does not already have it
//! ([`Have`]), and xattrs read only from a layer whose tar had some
//! ([`TarFacts::xattrs`](super::TarFacts::xattrs)).

use std::fs;
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, Mode, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;

use super::nofollow::chmod_at;
use super::on_create;
use super::Privileges;

/// Metadata an entry of the target already has as the layer gives it, so that it is not set
/// again: a file created by this process is the process's (in a directory without the
/// set-group-ID bit), a directory of a lower layer may have the same owner and mode.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Have {
    /// The owner (uid and gid).
    pub(super) owner: bool,
    /// The permission bits, special ones included.
    pub(super) mode: bool,
}

/// How one layer's entries get their metadata.
pub(super) struct MetaCopy {
    privileges: Privileges,
    /// The layer's tar had xattrs (`TarFacts::xattrs`): its directory's are to be copied.
    xattrs: bool,
    /// Who owns what this process creates.
    process: (u32, u32),
}

impl MetaCopy {
    /// For a layer applied with `privileges`, whose tar had xattrs or not.
    pub(super) fn new(privileges: Privileges, xattrs: bool) -> Self {
        MetaCopy {
            privileges,
            xattrs,
            process: on_create::process_ids(),
        }
    }

    /// Whether what this process creates in a directory (set-group-ID or not) already has the
    /// owner `meta` gives: only then is the chown skipped.
    pub(super) fn created_owned(&self, meta: &fs::Metadata, setgid: bool) -> bool {
        on_create::creates_owned((meta.uid(), meta.gid()), self.process, setgid)
    }

    /// Metadata of a file or directory that is open.
    pub(super) fn set_fd_meta(
        &self,
        src: &Path,
        meta: &fs::Metadata,
        have: Have,
        fd: BorrowedFd<'_>,
    ) -> io::Result<()> {
        let chown = self.privileges == Privileges::Root && !have.owner;
        if chown {
            rfs::fchown(fd, Some(uid(meta)), Some(gid(meta)))?;
        }
        for (name, value) in self.read_xattrs(src)? {
            set_xattr(|| rfs::fsetxattr(fd, name.as_slice(), &value, XattrFlags::empty()))?;
        }
        // After a chown, which may have cleared set-user-ID and set-group-ID bits.
        if chown || !have.mode {
            rfs::fchmod(fd, Mode::from_raw_mode(meta.mode() & 0o7777))?;
        }
        rfs::futimens(fd, &times(meta))?;
        Ok(())
    }

    /// The xattrs of `src` to copy: none when the layer's tar had none.
    fn read_xattrs(&self, src: &Path) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        match self.xattrs {
            true => read_xattrs(src),
            false => Ok(Vec::new()),
        }
    }

    /// Metadata of a symlink or node, by name in `dir`.
    pub(super) fn set_node_meta(
        &self,
        src: &Path,
        meta: &fs::Metadata,
        have: Have,
        dir: BorrowedFd<'_>,
        name: &[u8],
        symlink: bool,
    ) -> io::Result<()> {
        if self.privileges == Privileges::Root && !have.owner {
            rfs::chownat(
                dir,
                name,
                Some(uid(meta)),
                Some(gid(meta)),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
        }
        let xattrs = self.read_xattrs(src)?;
        if !xattrs.is_empty() {
            // No `setxattrat` before Linux 6.13: the parent's /proc/self/fd link names exactly
            // this directory, and `lsetxattr` does not follow the final name.
            let mut path =
                format!("/proc/self/fd/{}/", std::os::fd::AsRawFd::as_raw_fd(&dir)).into_bytes();
            path.extend_from_slice(name);
            for (xname, value) in xattrs {
                set_xattr(|| {
                    rfs::lsetxattr(
                        path.as_slice(),
                        xname.as_slice(),
                        &value,
                        XattrFlags::empty(),
                    )
                })?;
            }
        }
        if !symlink {
            chmod_at(dir, name, meta.mode() & 0o7777)?;
        }
        rfs::utimensat(dir, name, &times(meta), AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    }
}

/// An xattr the target refuses (not root, no support) is skipped as umoci's rootless
/// unpack skips it; other failures are errors.
fn set_xattr(set: impl FnOnce() -> Result<(), Errno>) -> io::Result<()> {
    match set() {
        Ok(()) | Err(Errno::PERM | Errno::NOTSUP | Errno::ACCESS) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The xattrs of `path` (not followed) that belong in a root filesystem.
fn read_xattrs(path: &Path) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let size = match rfs::llistxattr_query(path) {
        Ok(0) | Err(Errno::NOTSUP) => return Ok(Vec::new()),
        Ok(n) => n,
        Err(e) => return Err(e.into()),
    };
    let mut names = vec![0u8; size];
    let n = rfs::llistxattr(path, &mut names[..])?;
    names.truncate(n);
    let mut found = Vec::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if name.starts_with(b"trusted.overlay.") {
            continue;
        }
        let len = match rfs::lgetxattr_query(path, name) {
            Ok(n) => n,
            Err(Errno::NODATA) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut value = vec![0u8; len];
        let n = rfs::lgetxattr(path, name, &mut value[..])?;
        value.truncate(n);
        found.push((name.to_vec(), value));
    }
    Ok(found)
}

fn uid(meta: &fs::Metadata) -> rfs::Uid {
    rfs::Uid::from_raw(meta.uid())
}

fn gid(meta: &fs::Metadata) -> rfs::Gid {
    rfs::Gid::from_raw(meta.gid())
}

fn times(meta: &fs::Metadata) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec(),
        },
        last_modification: Timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec(),
        },
    }
}

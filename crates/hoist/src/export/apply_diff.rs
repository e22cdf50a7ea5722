//! Applying one unpacked layer directory (`layers/<chainID>/diff`) onto a root filesystem:
//! the export fast path. What overlayfs shows when the layers are stacked, as independent
//! files: a copy (reflink when the file system can, else `copy_file_range` through
//! `std::io::copy`), never a hardlink into the layer store — the export must not change when
//! the store does, nor the store when the export is edited.
//!
//! Per directory, in this order: an opaque marker empties the target directory; whiteouts
//! remove their names (recursively, never following symlinks); then every entry is copied,
//! replacing what lower layers had at that name unless both are directories (then the upper
//! one's metadata wins and the contents merge). Hardlinks inside the layer stay hardlinks.
//! Metadata per entry: owner (root only), xattrs (not `trusted.overlay.*`), mode (after
//! chown, which clears setuid), then atime/mtime; directories' after their contents.
//!
//! The target side uses only `*at` calls on directory fds opened with `O_NOFOLLOW`, so a
//! symlink a lower layer left cannot redirect a write outside the target.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::Arc;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;

use crate::unpack::whiteout::{
    OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_META_PREFIX, WHITEOUT_PREFIX,
};
use crate::unpack::{Privileges, WhiteoutFormat};

/// Where an application is in the target tree.
#[derive(Debug, Clone, Copy)]
struct Target {
    /// Directories below the target root.
    depth: usize,
    /// The directory was created by this application (or the root was empty): it holds
    /// nothing but what this layer put there, so no name needs checking or removing.
    fresh: bool,
}

/// Deepest directory nesting followed (a layer unpacked by hoist cannot be deeper than the
/// kernel's path limits allow anyway).
const MAX_DEPTH: usize = 4096;

/// One layer's application.
pub(crate) struct DiffApplier {
    format: WhiteoutFormat,
    privileges: Privileges,
    /// (dev, ino) of a multiply-linked source file → where its first copy is.
    links: HashMap<(u64, u64), (Arc<OwnedFd>, Vec<u8>)>,
    /// Whether to try a reflink: cleared by the first refusal (tmpfs, ext4, another file
    /// system), so a file system without them costs one failed `ioctl`, not one per file.
    reflink: bool,
}

impl DiffApplier {
    pub(crate) fn new(format: WhiteoutFormat, privileges: Privileges) -> Self {
        DiffApplier {
            format,
            privileges,
            links: HashMap::new(),
            reflink: true,
        }
    }

    /// Applies the tree at `src` onto the directory `dst`.
    pub(crate) fn apply(&mut self, src: &Path, dst: &Path) -> io::Result<()> {
        let dst = Arc::new(open_dir_at(rfs::CWD, dst)?);
        let fresh = list(dst.as_fd())?.is_empty();
        self.apply_dir(src, &dst, Target { depth: 0, fresh })
    }

    fn apply_dir(&mut self, src: &Path, dst: &Arc<OwnedFd>, at: Target) -> io::Result<()> {
        let depth = at.depth;
        if depth > MAX_DEPTH {
            return Err(io::Error::other(format!(
                "{} is nested more than {MAX_DEPTH} directories deep",
                src.display()
            )));
        }
        let mut entries: Vec<(Vec<u8>, fs::Metadata)> = Vec::new();
        for entry in fs::read_dir(src)? {
            let entry = entry?;
            let meta = fs::symlink_metadata(entry.path())?;
            entries.push((entry.file_name().as_bytes().to_vec(), meta));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        if !at.fresh && self.is_opaque(src, &entries)? {
            remove_children(dst.as_fd(), 0)?;
        }
        let mut copies = Vec::with_capacity(entries.len());
        for (name, meta) in entries {
            match self.whiteout_of(&name, &meta) {
                Some(Some(_)) if at.fresh => {} // nothing below to hide
                Some(Some(hidden)) => remove_all_at(dst.as_fd(), hidden, 0)?,
                Some(None) => {} // opaque marker or AUFS metadata: not an entry
                None => copies.push((name, meta)),
            }
        }
        for (name, meta) in copies {
            let path = src.join(OsStr::from_bytes(&name));
            self.copy_entry(&path, &meta, dst, &name, at)?;
        }
        Ok(())
    }

    fn is_opaque(&self, src: &Path, entries: &[(Vec<u8>, fs::Metadata)]) -> io::Result<bool> {
        Ok(match self.format {
            WhiteoutFormat::Marker => entries.iter().any(|(n, _)| n.as_slice() == OPAQUE_MARKER),
            WhiteoutFormat::Overlay => {
                let mut value = [0u8; 4];
                match rfs::lgetxattr(src, OVERLAY_OPAQUE_XATTR, &mut value[..]) {
                    Ok(n) => value.get(..n) == Some(b"y".as_slice()),
                    Err(Errno::NODATA | Errno::NOTSUP) => false,
                    Err(e) => return Err(e.into()),
                }
            }
        })
    }

    /// `None`: an ordinary entry. `Some(Some(name))`: a whiteout of `name`. `Some(None)`: a
    /// marker that is not an entry of the root filesystem.
    fn whiteout_of<'n>(&self, name: &'n [u8], meta: &fs::Metadata) -> Option<Option<&'n [u8]>> {
        match self.format {
            WhiteoutFormat::Overlay => {
                (meta.file_type().is_char_device() && meta.rdev() == 0).then_some(Some(name))
            }
            WhiteoutFormat::Marker => {
                if name.starts_with(WHITEOUT_META_PREFIX) {
                    Some(None)
                } else {
                    name.strip_prefix(WHITEOUT_PREFIX)
                        .map(|hidden| (!hidden.is_empty()).then_some(hidden))
                }
            }
        }
    }

    fn copy_entry(
        &mut self,
        src: &Path,
        meta: &fs::Metadata,
        dst: &Arc<OwnedFd>,
        name: &[u8],
        at: Target,
    ) -> io::Result<()> {
        // In a directory this application created, names are unique: nothing is there.
        let existing = match at.fresh {
            true => None,
            false => lstat_at(dst.as_fd(), name)?,
        };
        let ft = meta.file_type();
        if ft.is_dir() {
            let is_dir = existing
                .is_some_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory);
            if !is_dir {
                if existing.is_some() {
                    remove_all_at(dst.as_fd(), name, 0)?;
                }
                rfs::mkdirat(dst, name, Mode::from_raw_mode(0o700))?;
            }
            let sub = Arc::new(open_dir_at(dst.as_fd(), name)?);
            let below = Target {
                depth: at.depth + 1,
                fresh: !is_dir,
            };
            self.apply_dir(src, &sub, below)?;
            return self.set_fd_meta(src, meta, sub.as_fd());
        }
        if existing.is_some() {
            remove_all_at(dst.as_fd(), name, 0)?;
        }
        let key = (meta.dev(), meta.ino());
        if meta.nlink() > 1 && !ft.is_dir() {
            if let Some((dir, first)) = self.links.get(&key) {
                rfs::linkat(dir.as_fd(), first.as_slice(), dst, name, AtFlags::empty())?;
                return Ok(());
            }
            self.links.insert(key, (Arc::clone(dst), name.to_vec()));
        }
        if ft.is_file() {
            let out: OwnedFd = rfs::openat(
                dst,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )?;
            let input = File::open(src)?;
            let output = File::from(out);
            self.copy_contents(input, &output, meta.len())?;
            return self.set_fd_meta(src, meta, output.as_fd());
        }
        if ft.is_symlink() {
            let target = fs::read_link(src)?;
            rfs::symlinkat(target.as_os_str().as_bytes(), dst, name)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            let kind = FileType::from_raw_mode(meta.mode());
            rfs::mknodat(dst, name, kind, Mode::from_raw_mode(0o600), meta.rdev())?;
        } else {
            return Ok(()); // sockets: never in a layer tar
        }
        self.set_node_meta(src, meta, dst.as_fd(), name, ft.is_symlink())
    }

    /// Copies `len` bytes: a reflink while the file system takes them, else
    /// `copy_file_range` in the kernel until `len` bytes moved (no probing `fstat`s, no final
    /// empty call), else a read/write copy.
    fn copy_contents(&mut self, mut input: File, output: &File, len: u64) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        if self.reflink {
            match rfs::ioctl_ficlone(output, &input) {
                Ok(()) => return Ok(()),
                Err(_) => self.reflink = false,
            }
        }
        let mut copied = 0u64;
        while copied < len {
            let chunk = usize::try_from(len - copied).unwrap_or(usize::MAX);
            match rfs::copy_file_range(&input, None, output, None, chunk) {
                Ok(0) => return Ok(()), // the source shrank: copy what there is
                Ok(n) => copied += n as u64,
                Err(Errno::INTR) => {}
                Err(Errno::XDEV | Errno::NOSYS | Errno::INVAL | Errno::OPNOTSUPP) => {
                    io::copy(&mut input, &mut &*output)?;
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Metadata of a file or directory that is open.
    fn set_fd_meta(&self, src: &Path, meta: &fs::Metadata, fd: BorrowedFd<'_>) -> io::Result<()> {
        if self.privileges == Privileges::Root {
            rfs::fchown(fd, Some(uid(meta)), Some(gid(meta)))?;
        }
        for (name, value) in read_xattrs(src)? {
            set_xattr(|| rfs::fsetxattr(fd, name.as_slice(), &value, XattrFlags::empty()))?;
        }
        rfs::fchmod(fd, Mode::from_raw_mode(meta.mode() & 0o7777))?;
        rfs::futimens(fd, &times(meta))?;
        Ok(())
    }

    /// Metadata of a symlink or node, by name in `dir`.
    fn set_node_meta(
        &self,
        src: &Path,
        meta: &fs::Metadata,
        dir: BorrowedFd<'_>,
        name: &[u8],
        symlink: bool,
    ) -> io::Result<()> {
        if self.privileges == Privileges::Root {
            rfs::chownat(
                dir,
                name,
                Some(uid(meta)),
                Some(gid(meta)),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
        }
        let xattrs = read_xattrs(src)?;
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
            rfs::chmodat(
                dir,
                name,
                Mode::from_raw_mode(meta.mode() & 0o7777),
                AtFlags::empty(),
            )?;
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

fn open_dir_at(dir: impl AsFd, name: impl rustix::path::Arg) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn lstat_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Option<rfs::Stat>> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn list(fd: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let own = open_dir_at(fd, c".")?;
    let mut names = Vec::new();
    for entry in rfs::Dir::new(own)? {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(name);
        }
    }
    Ok(names)
}

fn remove_children(dir: BorrowedFd<'_>, depth: usize) -> io::Result<()> {
    for name in list(dir)? {
        remove_all_at(dir, &name, depth)?;
    }
    Ok(())
}

/// Removes `name` in `dir` and everything below it, never following a symlink.
fn remove_all_at(dir: BorrowedFd<'_>, name: &[u8], depth: usize) -> io::Result<()> {
    let Some(st) = lstat_at(dir, name)? else {
        return Ok(());
    };
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        if depth > MAX_DEPTH {
            return Err(io::Error::other("directory tree too deep to remove"));
        }
        let sub = open_dir_at(dir, name)?;
        remove_children(sub.as_fd(), depth + 1)?;
        rfs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    } else {
        rfs::unlinkat(dir, name, AtFlags::empty())?;
    }
    Ok(())
}

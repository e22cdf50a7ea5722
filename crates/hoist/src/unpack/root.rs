//! Resolving entry paths inside the layer root without ever leaving it.
//!
//! [`Root`] owns a directory fd for the target; [`DirInRoot`] is an open directory that was
//! reached from it by [`Root::resolve_dir`], so by construction it lies inside the root. Every
//! write the unpacker does is an `*at` syscall relative to a `DirInRoot` with a single,
//! validated final component ([`Name`]), never a path string.
//!
//! Resolution has chroot semantics, like docker's `applyLayer` (which runs inside a chroot) and
//! containerd's `fs.RootPath`: symlinks met in *directory* components are followed, but an
//! absolute target restarts at the root and `..` at the root stays at the root, so a symlink to
//! `/` or `../../..` cannot lead out. The final component of an entry is never followed.
//!
//! Two implementations of the same rule:
//! - `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` (Linux 5.6+): the kernel does the walk
//!   in one call; used when the directory exists;
//! - a manual walk, one component at a time with `openat(O_PATH | O_NOFOLLOW)`, reading
//!   symlinks with `readlinkat` and keeping a stack of directory fds for `..` (at most
//!   [`MAX_SYMLINKS`] links, like the kernel's `ELOOP` limit). It is used when a directory is
//!   missing (it creates it, `mkdirat` 0755, as docker's `MkdirAll` does with umask 0), when
//!   `openat2` is unavailable (ENOSYS, or EPERM from a seccomp filter), and when forced by
//!   [`super::UnpackOptions::force_manual_walk`].

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::nofollow;
use super::path::is_single_component;

/// Most symlinks followed while resolving one path (the kernel's `MAXSYMLINKS`).
pub const MAX_SYMLINKS: usize = 40;

/// Why a directory could not be resolved inside the root.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A component exists and is neither a directory nor a symlink to one.
    #[error("{0:?} is not a directory")]
    NotADirectory(String),
    /// A component does not exist (and creation was not asked for).
    #[error("{0:?} does not exist")]
    NotFound(String),
    /// More than [`MAX_SYMLINKS`] symlinks on the way.
    #[error("more than {MAX_SYMLINKS} symlinks while resolving (a symlink loop?)")]
    SymlinkLoop,
    /// Any other failing syscall.
    #[error("{op} {component:?}: {source}")]
    Io {
        /// The syscall.
        op: &'static str,
        /// The component it was applied to.
        component: String,
        /// The error.
        source: io::Error,
    },
}

/// Whether [`Root::resolve_dir`] creates missing directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Create them (mode 0755), as `mkparent`/`MkdirAll` do.
    Create,
    /// Fail with [`ResolveError::NotFound`].
    Fail,
}

/// One validated final component: not empty, `.`, `..`, no `/` or NUL.
#[derive(Debug, Clone, Copy)]
pub struct Name<'a>(&'a [u8]);

impl<'a> Name<'a> {
    /// Checks `name`; `None` if it is not a single component.
    pub fn new(name: &'a [u8]) -> Option<Self> {
        is_single_component(name).then_some(Self(name))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

/// The layer root: the target directory every entry is confined to.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    use_openat2: AtomicBool,
}

/// An open directory (an `O_PATH` fd) inside the root.
#[derive(Debug)]
pub struct DirInRoot {
    fd: OwnedFd,
}

fn io_err(op: &'static str, component: &[u8], e: Errno) -> ResolveError {
    ResolveError::Io {
        op,
        component: lossy(component),
        source: e.into(),
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Root {
    /// Opens `path` (which must be an existing directory) as the root.
    pub fn open(path: &Path, use_openat2: bool) -> io::Result<Self> {
        let fd = rfs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self {
            fd,
            use_openat2: AtomicBool::new(use_openat2),
        })
    }

    /// The root directory itself.
    pub fn as_dir(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The root as a [`DirInRoot`] (a duplicate fd).
    pub fn dir(&self) -> io::Result<DirInRoot> {
        Ok(DirInRoot {
            fd: rfs::openat(
                &self.fd,
                c".",
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )?,
        })
    }

    /// Where the directory `components` is below the root once its symlinks are resolved
    /// with chroot semantics (missing directories created): a path of plain components,
    /// which a walk that never follows symlinks can open. `hoist export` from the layer store
    /// uses it to put a layer's implicit directory where its tar's entries would have gone.
    pub fn resolve_below(&self, components: &[Vec<u8>]) -> Result<PathBuf, ResolveError> {
        let dir = self.resolve_dir(components, Missing::Create)?;
        let path_of = |fd: BorrowedFd<'_>| {
            rfs::readlink(format!("/proc/self/fd/{}", fd.as_raw_fd()), Vec::new())
                .map(|p| PathBuf::from(std::ffi::OsString::from_vec(p.into_bytes())))
                .map_err(|e| io_err("readlink", b"/proc/self/fd", e))
        };
        let (root, below) = (path_of(self.fd.as_fd())?, path_of(dir.fd.as_fd())?);
        // Inside by construction; a root reached through another mount namespace's path
        // would not be, and is refused rather than guessed.
        below
            .strip_prefix(&root)
            .map(Path::to_path_buf)
            .map_err(|_| ResolveError::NotFound(below.display().to_string()))
    }

    /// Resolves the directory `components` with chroot semantics (see the module docs).
    pub fn resolve_dir(
        &self,
        components: &[Vec<u8>],
        missing: Missing,
    ) -> Result<DirInRoot, ResolveError> {
        if components.is_empty() {
            return self.dir().map_err(|e| ResolveError::Io {
                op: "openat",
                component: ".".into(),
                source: e,
            });
        }
        if self.use_openat2.load(Ordering::Relaxed) {
            match self.openat2_dir(components) {
                Ok(dir) => return Ok(dir),
                // No kernel support (or a seccomp filter): never try again.
                Err(Errno::NOSYS) | Err(Errno::PERM) => {
                    self.use_openat2.store(false, Ordering::Relaxed)
                }
                // Anything else (ENOENT, ENOTDIR, ELOOP, EAGAIN ...): the manual walk creates
                // what is missing or names the component at fault.
                Err(_) => {}
            }
        }
        self.walk(components, missing)
    }

    fn openat2_dir(&self, components: &[Vec<u8>]) -> Result<DirInRoot, Errno> {
        let joined = components.join(&b'/');
        let fd = rfs::openat2(
            &self.fd,
            joined.as_slice(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )?;
        Ok(DirInRoot { fd })
    }

    /// The manual walk: one `openat(O_PATH|O_NOFOLLOW)` per component.
    fn walk(&self, components: &[Vec<u8>], missing: Missing) -> Result<DirInRoot, ResolveError> {
        let mut queue: VecDeque<Vec<u8>> = components.iter().cloned().collect();
        // Directories below the root on the current path; empty means "at the root".
        let mut stack: Vec<OwnedFd> = Vec::new();
        let mut links = 0usize;
        while let Some(component) = queue.pop_front() {
            match component.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    stack.pop(); // `..` at the root stays at the root
                    continue;
                }
                _ => {}
            }
            let cur = stack.last().map(|f| f.as_fd()).unwrap_or(self.fd.as_fd());
            let fd = match open_nofollow(cur, &component) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if missing == Missing::Create => {
                    create_dir(cur, &component)?;
                    open_nofollow(cur, &component).map_err(|e| io_err("openat", &component, e))?
                }
                Err(Errno::NOENT) => return Err(ResolveError::NotFound(lossy(&component))),
                Err(e) => return Err(io_err("openat", &component, e)),
            };
            let stat = rfs::fstat(&fd).map_err(|e| io_err("fstat", &component, e))?;
            match FileType::from_raw_mode(stat.st_mode) {
                FileType::Directory => stack.push(fd),
                FileType::Symlink => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(ResolveError::SymlinkLoop);
                    }
                    let target = rfs::readlinkat(&fd, c"", Vec::new())
                        .map_err(|e| io_err("readlinkat", &component, e))?;
                    let target = target.as_bytes();
                    if target.first() == Some(&b'/') {
                        stack.clear(); // absolute targets restart at the root
                    }
                    for part in target.split(|b| *b == b'/').rev() {
                        queue.push_front(part.to_vec());
                    }
                }
                _ => return Err(ResolveError::NotADirectory(lossy(&component))),
            }
        }
        match stack.pop() {
            Some(fd) => Ok(DirInRoot { fd }),
            None => self.dir().map_err(|e| ResolveError::Io {
                op: "openat",
                component: ".".into(),
                source: e,
            }),
        }
    }
}

fn open_nofollow(dir: BorrowedFd<'_>, name: &[u8]) -> Result<OwnedFd, Errno> {
    rfs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// `mkdirat` 0755 with the umask ignored (an explicit `fchmod` follows); EEXIST is fine.
fn create_dir(dir: BorrowedFd<'_>, name: &[u8]) -> Result<(), ResolveError> {
    match rfs::mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(io_err("mkdirat", name, e)),
    }
    let fd = rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err("openat", name, e))?;
    rfs::fchmod(&fd, Mode::from_raw_mode(0o755)).map_err(|e| io_err("fchmod", name, e))
}

impl AsFd for DirInRoot {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl DirInRoot {
    /// `lstat` of `name` in this directory; `None` if it does not exist.
    pub fn lstat(&self, name: Name<'_>) -> io::Result<Option<rfs::Stat>> {
        match rfs::statat(&self.fd, name.0, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens the subdirectory `name` for reading and metadata changes, never following a
    /// symlink.
    pub fn open_subdir(&self, name: Name<'_>) -> io::Result<OwnedFd> {
        Ok(rfs::openat(
            &self.fd,
            name.0,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }

    /// This directory opened for reading and metadata changes (`fsetxattr`, `fchmod`).
    pub fn open_self(&self) -> io::Result<OwnedFd> {
        Ok(rfs::openat(
            &self.fd,
            c".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }

    /// The subdirectory `name` as a `DirInRoot` (no symlink followed).
    pub fn subdir(&self, name: Name<'_>) -> io::Result<DirInRoot> {
        Ok(DirInRoot {
            fd: rfs::openat(
                &self.fd,
                name.0,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?,
        })
    }

    /// Removes `name` and, if it is a directory, everything below it (`os.RemoveAll`),
    /// without following symlinks. A missing `name` is not an error.
    pub fn remove_all(&self, name: Name<'_>) -> io::Result<()> {
        nofollow::remove_all_at(self.fd.as_fd(), name.0)
    }

    /// Removes every entry of this directory for which `keep` says false.
    pub fn remove_children(&self, keep: impl FnMut(&[u8]) -> bool) -> io::Result<()> {
        nofollow::remove_children_at(self.fd.as_fd(), keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comps(path: &str) -> Vec<Vec<u8>> {
        path.split('/').map(|c| c.as_bytes().to_vec()).collect()
    }

    #[test]
    fn openat2_is_used_when_the_kernel_has_it() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("a/b/c")).unwrap();
        let root = Root::open(tmp.path(), true).unwrap();
        root.resolve_dir(&comps("a/b/c"), Missing::Fail).unwrap();
        // Linux 5.6+ (CI runs far newer): the fast path must not have been disabled.
        assert!(root.use_openat2.load(Ordering::Relaxed));
    }

    #[test]
    fn both_resolvers_agree_on_chroot_semantics() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path();
        std::fs::create_dir_all(base.join("real/dir")).unwrap();
        std::os::unix::fs::symlink("/real", base.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../real", base.join("rel")).unwrap();
        std::fs::write(base.join("real/dir/marker"), "m").unwrap();
        for use_openat2 in [true, false] {
            let root = Root::open(base, use_openat2).unwrap();
            for path in ["abs/dir", "rel/dir", "real/dir"] {
                let dir = root.resolve_dir(&comps(path), Missing::Fail).unwrap();
                let name = Name::new(b"marker").unwrap();
                assert!(
                    dir.lstat(name).unwrap().is_some(),
                    "{path} openat2={use_openat2}"
                );
            }
        }
    }

    #[test]
    fn manual_walk_refuses_a_file_as_directory_and_creates_missing_ones() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("file"), "").unwrap();
        let root = Root::open(tmp.path(), false).unwrap();
        assert!(matches!(
            root.resolve_dir(&comps("file/x"), Missing::Create),
            Err(ResolveError::NotADirectory(_))
        ));
        root.resolve_dir(&comps("new/deeper"), Missing::Create)
            .unwrap();
        assert!(tmp.path().join("new/deeper").is_dir());
    }
}

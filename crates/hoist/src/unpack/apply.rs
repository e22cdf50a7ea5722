//! `Unpacker`: applies one tar entry at a time below a [`Root`].
//!
//! Mirrors docker's `createTarFile` (called by `UnpackLayer`) and containerd's
//! `createTarFile`/`applyNaive`:
//! - an existing entry at the name is removed first (`os.RemoveAll`), except that a directory
//!   entry over an existing directory keeps it and only updates its metadata — so duplicate
//!   entries resolve to "the later one wins";
//! - new files are created with `O_CREAT|O_EXCL|O_NOFOLLOW` (never written through an existing
//!   symlink or hardlink), directories with `mkdirat`, links with `symlinkat`/`linkat`, nodes
//!   with `mknodat`, all relative to the parent directory fd;
//! - metadata order: owner (`fchown`, which clears setuid bits and `security.capability`),
//!   then xattrs, then mode (`fchmod`, exact bits, umask irrelevant), then times. Directory
//!   times are set by [`Unpacker::finish`], after their contents. What a new file already has
//!   is not set again (`on_create`): root's own files outside set-group-ID directories are
//!   not chowned, and a file created with its whole permissions is not chmodded;
//! - hardlinks get no metadata of their own (they share the inode of their target).
//!
//! Without privileges (see [`Privileges`]) ownership and device nodes are recorded in the
//! report instead, and directories are kept owner-writable (`| 0o700`) until `finish` sets
//! their real mode, so a read-only directory does not block its own contents.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::rc::Rc;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timestamps, XattrFlags};
use rustix::io::Errno;

use super::created::CreatedPaths;
use super::error::{EntryKind, EntryProblem};
use super::implicit::ImplicitDirs;
use super::meta::EntryMeta;
use super::nofollow;
use super::on_create::{self, creates_owned};
use super::path::EntryPath;
use super::report::{Unapplied, UnpackReport};
use super::root::{DirInRoot, Missing, Name, ResolveError, Root};
use super::write::{write_content, BUFFER_SIZE};
use super::{Privileges, UnpackMode, UnpackOptions};

/// A directory whose times (and, without privileges, mode) are applied at the end.
struct DirFixup {
    path: EntryPath,
    mode: Option<u32>,
    times: Timestamps,
}

/// State of one layer unpack.
pub(super) struct Unpacker<'o> {
    pub(super) root: Root,
    pub(super) options: &'o UnpackOptions,
    pub(super) report: UnpackReport,
    /// Apply mode: every path this layer created, with its ancestors (`.wh..wh..opq` keeps them).
    pub(super) created: CreatedPaths,
    /// Diff mode: the directories this layer names and the ones it only implies.
    pub(super) dirs: ImplicitDirs,
    fixups: Vec<DirFixup>,
    /// The last parent directory resolved; dropped whenever anything is removed.
    cache: Option<(Vec<Vec<u8>>, Rc<DirInRoot>)>,
    /// Whether the cached parent has its set-group-ID bit (what is created in it takes its
    /// group); `None` until a file asks, and again whenever the cache changes or a
    /// directory's metadata is applied.
    parent_setgid: Option<bool>,
    buf: Vec<u8>,
    ids: (u32, u32),
    /// The process's umask, if known (see `on_create`).
    umask: Option<u32>,
}

fn io(op: &'static str) -> impl FnOnce(Errno) -> EntryProblem {
    move |e| EntryProblem::io(op, e)
}

impl<'o> Unpacker<'o> {
    pub(super) fn new(root: Root, options: &'o UnpackOptions) -> Self {
        Self {
            root,
            options,
            report: UnpackReport::default(),
            created: CreatedPaths::default(),
            dirs: ImplicitDirs::default(),
            fixups: Vec::new(),
            cache: None,
            parent_setgid: None,
            buf: vec![0; BUFFER_SIZE],
            ids: on_create::process_ids(),
            umask: on_create::process_umask(),
        }
    }

    /// Applies one non-whiteout entry whose name is `path`.
    pub(super) fn apply<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        kind: EntryKind,
        path: &EntryPath,
    ) -> Result<(), EntryProblem> {
        if let EntryKind::Other(_) = kind {
            return Err(EntryProblem::UnsupportedType);
        }
        let meta = EntryMeta::read(entry)
            .map_err(|(field, source)| EntryProblem::Header { field, source })?;
        if self.options.mode == UnpackMode::Apply {
            self.remember_created(path);
        }
        let Some((parent, last)) = path.split_last() else {
            return match kind {
                EntryKind::Dir => self.root_dir(path, &meta),
                _ => Err(EntryProblem::ReplacesRoot),
            };
        };
        // Always a single component (the `EntryPath` invariant); checked, not assumed.
        let name = Name::new(last).ok_or(EntryProblem::ReplacesRoot)?;
        let dir = self.parent(parent)?;
        match kind {
            EntryKind::File => self.file(entry, &dir, name, path, &meta),
            EntryKind::Dir => self.dir(&dir, name, path, &meta),
            EntryKind::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(no_link_name)?
                    .into_owned();
                self.symlink(&dir, name, path, &target, &meta)
            }
            EntryKind::Hardlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(no_link_name)?
                    .into_owned();
                self.hardlink(&dir, name, path, &target)
            }
            EntryKind::Fifo | EntryKind::Char | EntryKind::Block => {
                self.node(&dir, name, path, kind, &meta)
            }
            _ => Err(EntryProblem::UnsupportedType),
        }
    }

    fn remember_created(&mut self, path: &EntryPath) {
        self.created.insert(path);
    }

    /// The parent directory, created if missing (`mkparent`), from the one-entry cache.
    pub(super) fn parent(&mut self, parent: &[Vec<u8>]) -> Result<Rc<DirInRoot>, EntryProblem> {
        if let Some((key, dir)) = &self.cache {
            if key.as_slice() == parent {
                return Ok(dir.clone());
            }
        }
        let dir = Rc::new(
            self.root
                .resolve_dir(parent, Missing::Create)
                .map_err(EntryProblem::Parent)?,
        );
        self.cache = Some((parent.to_vec(), dir.clone()));
        self.parent_setgid = None;
        Ok(dir)
    }

    /// Makes room for a new entry at `name`; returns true if an existing directory is kept.
    pub(super) fn clear_slot(
        &mut self,
        dir: &DirInRoot,
        name: Name<'_>,
        keep_dir: bool,
    ) -> Result<bool, EntryProblem> {
        let existing = dir
            .lstat(name)
            .map_err(|e| EntryProblem::io("fstatat", e))?;
        match existing {
            None => Ok(false),
            Some(st) if keep_dir && FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                Ok(true)
            }
            Some(_) => {
                self.forget_cache();
                dir.remove_all(name)
                    .map_err(|e| EntryProblem::io("remove existing", e))?;
                Ok(false)
            }
        }
    }

    /// Runs `create`; if the name is taken, removes what is there (docker's `os.RemoveAll`)
    /// and runs it once more. Trying first saves a `stat` per entry in the common case.
    fn create_or_replace<T>(
        &mut self,
        dir: &DirInRoot,
        name: Name<'_>,
        op: &'static str,
        mut create: impl FnMut() -> Result<T, Errno>,
    ) -> Result<T, EntryProblem> {
        match create() {
            Err(Errno::EXIST) => {
                self.clear_slot(dir, name, false)?;
                create().map_err(io(op))
            }
            other => other.map_err(io(op)),
        }
    }

    /// Forgets the cached parent (after anything was removed).
    pub(super) fn forget_cache(&mut self) {
        self.cache = None;
        self.parent_setgid = None;
    }

    /// Whether a file this process creates in `dir` (the parent [`parent`](Self::parent) just
    /// gave) already has the owner `meta` gives, so that root need not chown it: it is the
    /// process's, unless `dir` has its set-group-ID bit (asked once per parent, not per file).
    fn created_owned(&mut self, dir: &DirInRoot, meta: &EntryMeta) -> Result<bool, EntryProblem> {
        if self.options.privileges != Privileges::Root || (meta.uid, meta.gid) != self.ids {
            return Ok(false); // no chown skipped: rootless records, another owner needs one
        }
        let setgid = match self.parent_setgid {
            Some(setgid) => setgid,
            None => {
                let st = rfs::fstat(dir).map_err(io("fstat"))?;
                let setgid = st.st_mode & Mode::SGID.bits() != 0;
                self.parent_setgid = Some(setgid);
                setgid
            }
        };
        Ok(creates_owned((meta.uid, meta.gid), self.ids, setgid))
    }

    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        dir: &DirInRoot,
        name: Name<'_>,
        path: &EntryPath,
        meta: &EntryMeta,
    ) -> Result<(), EntryProblem> {
        if meta.pax_sparse {
            return Err(EntryProblem::PaxSparse);
        }
        let size = entry.size();
        if size > self.options.max_file_size {
            return Err(EntryProblem::TooLarge {
                size,
                limit: self.options.max_file_size,
            });
        }
        let whole = on_create::creates_whole(meta.mode, self.umask);
        let owned = self.created_owned(dir, meta)?;
        let fd = self.create_or_replace(dir, name, "openat", || {
            rfs::openat(
                dir,
                name.as_bytes(),
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(if whole { meta.mode } else { 0o600 }),
            )
        })?;
        let file = File::from(fd);
        let got = write_content(entry, &file, &mut self.buf)
            .map_err(|e| EntryProblem::io("copy content", e))?;
        if got < size {
            return Err(EntryProblem::Truncated {
                expected: size,
                got,
            });
        }
        self.report.content_bytes += size;
        self.fd_metadata(
            file.as_fd(),
            path,
            meta,
            !owned,
            (!whole).then_some(meta.mode),
        )?;
        rfs::futimens(&file, &meta.times).map_err(io("futimens"))
    }

    fn dir(
        &mut self,
        dir: &DirInRoot,
        name: Name<'_>,
        path: &EntryPath,
        meta: &EntryMeta,
    ) -> Result<(), EntryProblem> {
        let mkdir = || rfs::mkdirat(dir, name.as_bytes(), Mode::from_raw_mode(0o700));
        match mkdir() {
            Ok(()) => {}
            // An existing directory is kept (its metadata is updated); anything else replaced.
            Err(Errno::EXIST) => {
                if !self.clear_slot(dir, name, true)? {
                    mkdir().map_err(io("mkdirat"))?;
                }
            }
            Err(e) => return Err(EntryProblem::io("mkdirat", e)),
        }
        let fd = dir
            .open_subdir(name)
            .map_err(|e| EntryProblem::io("openat", e))?;
        self.dir_metadata(fd.as_fd(), path, meta)
    }

    /// The root directory's own entry (`./`): metadata only.
    fn root_dir(&mut self, path: &EntryPath, meta: &EntryMeta) -> Result<(), EntryProblem> {
        let fd = rfs::openat(
            self.root.as_dir(),
            c".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(io("openat"))?;
        self.dir_metadata(fd.as_fd(), path, meta)
    }

    fn dir_metadata(
        &mut self,
        fd: BorrowedFd<'_>,
        path: &EntryPath,
        meta: &EntryMeta,
    ) -> Result<(), EntryProblem> {
        let rootless = self.options.privileges == Privileges::Rootless;
        let now_mode = if rootless {
            meta.mode | 0o700
        } else {
            meta.mode
        };
        // The cached parent may be this directory: its set-group-ID bit is asked again.
        self.parent_setgid = None;
        self.fd_metadata(fd, path, meta, true, Some(now_mode))?;
        self.fixups.push(DirFixup {
            path: path.clone(),
            mode: (now_mode != meta.mode).then_some(meta.mode),
            times: meta.times.clone(),
        });
        Ok(())
    }

    /// Owner, xattrs, mode on an open file or directory; `owner` is false for a file already
    /// the process's as `meta` wants it (`created_owned`), `mode` `None` for one created with
    /// its permissions whole (see `on_create`).
    fn fd_metadata(
        &mut self,
        fd: BorrowedFd<'_>,
        path: &EntryPath,
        meta: &EntryMeta,
        owner: bool,
        mode: Option<u32>,
    ) -> Result<(), EntryProblem> {
        if owner {
            self.owner(path, meta, |uid, gid| rfs::fchown(fd, uid, gid))?;
        }
        self.xattrs(path, meta, |name, value| {
            rfs::fsetxattr(fd, name, value, XattrFlags::empty())
        })?;
        match mode {
            Some(mode) => rfs::fchmod(fd, Mode::from_raw_mode(mode)).map_err(io("fchmod")),
            None => Ok(()),
        }
    }

    fn symlink(
        &mut self,
        dir: &DirInRoot,
        name: Name<'_>,
        path: &EntryPath,
        target: &[u8],
        meta: &EntryMeta,
    ) -> Result<(), EntryProblem> {
        // The target is stored verbatim: it is data, and resolution never follows it out.
        self.create_or_replace(dir, name, "symlinkat", || {
            rfs::symlinkat(target, dir, name.as_bytes())
        })?;
        self.at_metadata(dir, name, path, meta, None)
    }

    fn hardlink(
        &mut self,
        dir: &DirInRoot,
        name: Name<'_>,
        path: &EntryPath,
        raw_target: &[u8],
    ) -> Result<(), EntryProblem> {
        let shown = String::from_utf8_lossy(raw_target).into_owned();
        let target =
            EntryPath::parse(raw_target).map_err(|problem| EntryProblem::BadLinkTarget {
                target: shown.clone(),
                problem,
            })?;
        if &target == path {
            return Ok(()); // a link to itself: nothing to do (and removing it would lose it)
        }
        let Some((tparent, tlast)) = target.split_last() else {
            return Err(EntryProblem::LinkTargetIsDir(shown));
        };
        let tname =
            Name::new(tlast).ok_or_else(|| EntryProblem::LinkTargetMissing(shown.clone()))?;
        self.clear_slot(dir, name, false)?;
        // Resolved inside the root like any path: `/etc/shadow` means ROOT/etc/shadow, and a
        // symlink on the way cannot lead out.
        let tdir = self
            .root
            .resolve_dir(tparent, Missing::Fail)
            .map_err(|e| match e {
                ResolveError::NotFound(_) | ResolveError::NotADirectory(_) => {
                    EntryProblem::LinkTargetMissing(shown.clone())
                }
                other => EntryProblem::Parent(other),
            })?;
        match tdir
            .lstat(tname)
            .map_err(|e| EntryProblem::io("fstatat", e))?
        {
            None => return Err(EntryProblem::LinkTargetMissing(shown)),
            Some(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                return Err(EntryProblem::LinkTargetIsDir(shown));
            }
            Some(_) => {}
        }
        // Flags empty: a symlink target is linked itself, never followed.
        rfs::linkat(
            &tdir,
            tname.as_bytes(),
            dir,
            name.as_bytes(),
            AtFlags::empty(),
        )
        .map_err(io("linkat"))
    }

    fn node(
        &mut self,
        dir: &DirInRoot,
        name: Name<'_>,
        path: &EntryPath,
        kind: EntryKind,
        meta: &EntryMeta,
    ) -> Result<(), EntryProblem> {
        let (file_type, device) = match kind {
            EntryKind::Char => (FileType::CharacterDevice, "char"),
            EntryKind::Block => (FileType::BlockDevice, "block"),
            _ => (FileType::Fifo, "fifo"),
        };
        self.clear_slot(dir, name, false)?;
        let is_device = file_type != FileType::Fifo;
        let record = |this: &mut Self| {
            this.report.unapplied.push(Unapplied::Device {
                path: path.to_string(),
                device,
                major: meta.device.0,
                minor: meta.device.1,
                mode: meta.mode,
                uid: meta.uid,
                gid: meta.gid,
            });
            Ok(())
        };
        if is_device && self.options.privileges == Privileges::Rootless {
            return record(self);
        }
        let dev = rfs::makedev(meta.device.0, meta.device.1);
        let created = rfs::mknodat(
            dir,
            name.as_bytes(),
            file_type,
            Mode::from_raw_mode(0o600),
            if is_device { dev } else { 0 },
        );
        match created {
            Ok(()) => {}
            // Root without CAP_MKNOD (a user namespace): docker skips these too.
            Err(Errno::PERM) if is_device => return record(self),
            Err(e) => return Err(EntryProblem::io("mknodat", e)),
        }
        self.at_metadata(dir, name, path, meta, Some(meta.mode))
    }

    /// Owner, xattrs, mode and times of an entry that is not opened (symlink, node).
    fn at_metadata(
        &mut self,
        dir: &DirInRoot,
        name: Name<'_>,
        path: &EntryPath,
        meta: &EntryMeta,
        mode: Option<u32>,
    ) -> Result<(), EntryProblem> {
        let n = name.as_bytes();
        self.owner(path, meta, |uid, gid| {
            rfs::chownat(dir, n, uid, gid, AtFlags::SYMLINK_NOFOLLOW)
        })?;
        if !meta.xattrs.is_empty() {
            // No `setxattrat` before Linux 6.13: go through the parent's /proc/self/fd link,
            // which names exactly this directory; `lsetxattr` does not follow the final name.
            let mut proc_path = format!("/proc/self/fd/{}/", dir.as_fd().as_raw_fd()).into_bytes();
            proc_path.extend_from_slice(n);
            self.xattrs(path, meta, |xname, value| {
                rfs::lsetxattr(proc_path.as_slice(), xname, value, XattrFlags::empty())
            })?;
        }
        if let Some(mode) = mode {
            // Not followed: a symlink swapped in meanwhile fails the entry (ELOOP).
            nofollow::chmod_at(dir.as_fd(), n, mode).map_err(|e| EntryProblem::io("chmod", e))?;
        }
        rfs::utimensat(dir, n, &meta.times, AtFlags::SYMLINK_NOFOLLOW).map_err(io("utimensat"))
    }

    fn owner(
        &mut self,
        path: &EntryPath,
        meta: &EntryMeta,
        chown: impl FnOnce(Option<rfs::Uid>, Option<rfs::Gid>) -> Result<(), Errno>,
    ) -> Result<(), EntryProblem> {
        match self.options.privileges {
            Privileges::Root => chown(
                Some(rfs::Uid::from_raw(meta.uid)),
                Some(rfs::Gid::from_raw(meta.gid)),
            )
            .map_err(io("fchown")),
            Privileges::Rootless => {
                if (meta.uid, meta.gid) != self.ids {
                    self.report.unapplied.push(Unapplied::Ownership {
                        path: path.to_string(),
                        uid: meta.uid,
                        gid: meta.gid,
                    });
                }
                Ok(())
            }
        }
    }

    fn xattrs(
        &mut self,
        path: &EntryPath,
        meta: &EntryMeta,
        mut set: impl FnMut(&[u8], &[u8]) -> Result<(), Errno>,
    ) -> Result<(), EntryProblem> {
        self.report.xattrs |= !meta.xattrs.is_empty();
        for (name, value) in &meta.xattrs {
            let reason = if name.starts_with(b"trusted.overlay.") {
                // Reserved for the overlay whiteouts hoist writes itself; a layer setting
                // `redirect`/`metacopy` could make a later overlay mount read other layers.
                "trusted.overlay.* is reserved".to_string()
            } else {
                match set(name, value) {
                    Ok(()) => continue,
                    Err(e @ (Errno::PERM | Errno::NOTSUP | Errno::ACCESS | Errno::NOENT)) => {
                        e.to_string()
                    }
                    Err(e) => return Err(EntryProblem::io("setxattr", e)),
                }
            };
            self.report.unapplied.push(Unapplied::Xattr {
                path: path.to_string(),
                name: String::from_utf8_lossy(name).into_owned(),
                reason,
            });
        }
        Ok(())
    }

    /// Sets directory times (and deferred modes) after all contents exist. A directory that a
    /// later entry removed or replaced is skipped.
    pub(super) fn finish(&mut self) -> Result<(), (EntryPath, EntryProblem)> {
        for fixup in std::mem::take(&mut self.fixups) {
            let fd = match fixup.path.split_last() {
                None => rfs::openat(
                    self.root.as_dir(),
                    c".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .ok(),
                Some((parent, last)) => Name::new(last).and_then(|name| {
                    let dir = self.root.resolve_dir(parent, Missing::Fail).ok()?;
                    dir.open_subdir(name).ok()
                }),
            };
            let Some(fd) = fd else { continue };
            if let Some(mode) = fixup.mode {
                rfs::fchmod(&fd, Mode::from_raw_mode(mode))
                    .map_err(|e| (fixup.path.clone(), EntryProblem::io("fchmod", e)))?;
            }
            rfs::futimens(&fd, &fixup.times)
                .map_err(|e| (fixup.path.clone(), EntryProblem::io("futimens", e)))?;
        }
        Ok(())
    }
}

fn no_link_name() -> EntryProblem {
    EntryProblem::Header {
        field: "linkname",
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "link entry without a target",
        ),
    }
}

//! Applying one unpacked layer directory (`layers/<chainID>/diff`) onto a root filesystem:
//! `hoist export`'s fast path ([`crate::export`]), beside the tar application of
//! [`super::unpack_layer`] — the two ways a layer is applied, with one whiteout vocabulary
//! ([`super::whiteout`]). What overlayfs shows when the layers are stacked, as independent
//! files: a copy (reflink when the file system can, else `copy_file_range` through
//! `std::io::copy`), never a hardlink into the layer store — the export must not change when
//! the store does, nor the store when the export is edited.
//!
//! Per directory, in this order: an opaque marker empties the target directory; whiteouts
//! remove their names (recursively, never following symlinks); then every entry is copied,
//! replacing what lower layers had at that name unless both are directories (then the upper
//! one's metadata wins and the contents merge). Hardlinks inside the layer stay hardlinks.
//! Metadata per entry: owner (root only), xattrs (not `trusted.overlay.*`), mode (after
//! chown, which clears setuid), then atime/mtime; directories' after their contents. What the
//! target already has is not set again: the owner of what this process creates when it is
//! the process's (outside set-group-ID directories), the owner and mode of a lower layer's
//! directory when they are the same, the mode of a file created with it (no special bits, a
//! umask that keeps them); and xattrs are read only from a layer whose tar had some
//! ([`TarFacts`]), opaque attributes only from one that had opaque directories (`copy_meta`).
//!
//! The target side uses only `*at` calls on directory fds opened with `O_NOFOLLOW`, so a
//! symlink a lower layer left cannot redirect a write outside the target. On the layer side
//! each entry is stat'ed through its directory's listing, and a small file opened by name
//! under that directory's descriptor: no path is walked from `/` per file.
//!
//! # In parallel
//! Directories are independent, so one layer's tree is walked by a pool of threads (one per
//! core, [`super::work_queue`]), a task per directory and per large file. What depends on more than one
//! directory waits for the walk to end: multiply-linked files are created afterwards, in one
//! thread, so the first name of an inode exists before the others link to it; then every
//! directory's metadata is set, deepest first, so that adding entries does not change a
//! directory's times after they were set and a read-only directory is filled before it
//! becomes read-only. Queued directories are named by their path below the target (opened
//! again, never through a symlink: `nofollow::open_dir_beneath`), so a wide tree does not hold
//! a descriptor per waiting directory.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::copy_meta::{Have, MetaCopy};
use super::file_copy;
use super::nofollow::{list_names, open_dir_beneath, remove_all_at, remove_children_at};
use super::on_create;
use super::root::Root;
use super::whiteout::{OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_META_PREFIX, WHITEOUT_PREFIX};
use super::work_queue::{self, Queue};
use super::{Privileges, TarFacts, WhiteoutFormat};

/// Files at least this large are copied by a task of their own, so that the large files of
/// one directory are copied in parallel.
const LARGE_FILE: u64 = 8 << 20;

/// A unit of the walk.
enum Task {
    /// A directory's listing and its small entries.
    Dir(DirTask),
    /// One large regular file.
    File(Deferred),
}

/// One directory of the layer to apply onto the target.
struct DirTask {
    /// The directory in the layer.
    src: PathBuf,
    /// The same directory in the target, relative to its root.
    rel: PathBuf,
    /// Directories below the target root.
    depth: usize,
    /// The directory was created by this application (or the root was empty): it holds
    /// nothing but what this layer put there, so no name needs checking or removing.
    fresh: bool,
    /// The target directory has its set-group-ID bit (or may have): what is created in it
    /// takes its group, not the process's.
    setgid: bool,
}

/// An entry whose creation waits for the end of the walk (see the module docs).
struct Deferred {
    /// Its directory in the target, relative to the root.
    rel: PathBuf,
    name: Vec<u8>,
    src: PathBuf,
    meta: fs::Metadata,
    /// What the entry in the target already has.
    have: Have,
}

/// The directory being applied, open in the layer and in the target: what its small files
/// are opened and created under, by name (no path walked from `/` again for each).
#[derive(Clone, Copy)]
struct OpenDirs<'a> {
    src: BorrowedFd<'a>,
    dst: BorrowedFd<'a>,
}

/// The target of one application: its root, and (for a layer with implicit directories) the
/// resolver of lower layers' symlinks.
struct Target<'a> {
    root: BorrowedFd<'a>,
    resolver: Option<&'a Root>,
}

/// What the walk leaves for after it.
#[derive(Default)]
struct Later {
    /// Directories whose metadata is still to be set.
    dirs: Mutex<Vec<Deferred>>,
    /// Multiply-linked files, not created yet.
    links: Mutex<Vec<Deferred>>,
}

impl Later {
    fn add(list: &Mutex<Vec<Deferred>>, entry: Deferred) {
        list.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
    }

    fn take(list: Mutex<Vec<Deferred>>) -> Vec<Deferred> {
        list.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Deepest directory nesting followed (a layer unpacked by hoist cannot be deeper than the
/// kernel's path limits allow anyway).
const MAX_DEPTH: usize = 4096;

/// One layer's application.
pub(crate) struct DiffApplier {
    format: WhiteoutFormat,
    /// How entries get their metadata.
    meta: MetaCopy,
    /// Whether to try a reflink: cleared by the first refusal (tmpfs, ext4, another file
    /// system), so a file system without them costs one failed `ioctl`, not one per file.
    reflink: AtomicBool,
    /// Threads walking a layer.
    workers: usize,
    /// What the layer's tar said that its directory cannot (see `unpack/implicit.rs`).
    tar: TarFacts,
    /// [`TarFacts::implicit_dirs`] as paths.
    implicit: HashSet<PathBuf>,
    /// The process's umask, if it could be read (`/proc/self/status`).
    umask: Option<u32>,
}

impl DiffApplier {
    pub(crate) fn new(format: WhiteoutFormat, privileges: Privileges, tar: TarFacts) -> Self {
        DiffApplier {
            format,
            meta: MetaCopy::new(privileges, tar.xattrs),
            reflink: AtomicBool::new(true),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
            implicit: tar.implicit_dirs.iter().map(PathBuf::from).collect(),
            tar,
            umask: on_create::process_umask(),
        }
    }

    /// Applies the tree at `src` onto the directory `dst`.
    pub(crate) fn apply(&self, src: &Path, dst: &Path) -> io::Result<()> {
        let root = open_dir_at(rfs::CWD, dst)?;
        // Only a layer with implicit directories may need a lower layer's symlink resolved.
        let resolver = match self.implicit.is_empty() {
            true => None,
            false => Some(Root::open(dst, true)?),
        };
        let target = Target {
            root: root.as_fd(),
            resolver: resolver.as_ref(),
        };
        let first = Task::Dir(DirTask {
            src: src.to_owned(),
            rel: PathBuf::new(),
            depth: 0,
            fresh: list_names(root.as_fd())?.is_empty(),
            setgid: rfs::fstat(&root)?.st_mode & Mode::SGID.bits() != 0,
        });
        let later = Later::default();
        work_queue::run(first, self.workers, |task, queue| match task {
            Task::Dir(dir) => self.apply_dir(&target, dir, queue, &later),
            Task::File(file) => self.create_file(
                file,
                None,
                open_dir_beneath(root.as_fd(), &file.rel)?.as_fd(),
            ),
        })?;
        self.link_all(root.as_fd(), Later::take(later.links))?;
        let mut dirs = Later::take(later.dirs);
        // Deepest first: a directory's entries are all final before its own metadata.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.rel.components().count()));
        for dir in dirs {
            let rel = dir.rel.join(OsStr::from_bytes(&dir.name));
            let fd = open_dir_beneath(root.as_fd(), &rel)?;
            self.meta
                .set_fd_meta(&dir.src, &dir.meta, dir.have, fd.as_fd())?;
        }
        if self.tar.root_entry {
            // The tar's `./` entry: its metadata is the root's, as the blob path applies it.
            let meta = fs::symlink_metadata(src)?;
            self.meta
                .set_fd_meta(src, &meta, Have::default(), root.as_fd())?;
        }
        Ok(())
    }

    /// One directory: opaque marker, whiteouts, then its entries; subdirectories are queued.
    fn apply_dir(
        &self,
        target: &Target<'_>,
        at: &DirTask,
        queue: &Queue<Task>,
        later: &Later,
    ) -> io::Result<()> {
        let src = at.src.as_path();
        if at.depth > MAX_DEPTH {
            return Err(io::Error::other(format!(
                "{} is nested more than {MAX_DEPTH} directories deep",
                src.display()
            )));
        }
        let dst = open_dir_beneath(target.root, &at.rel)?;
        let src_dir = open_dir_at(rfs::CWD, src)?;
        let mut entries: Vec<(Vec<u8>, fs::Metadata)> = Vec::new();
        for entry in fs::read_dir(src)? {
            let entry = entry?;
            // `fstatat` on the listing's descriptor: not followed, no path walked.
            let meta = entry.metadata()?;
            entries.push((entry.file_name().as_bytes().to_vec(), meta));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        if !at.fresh && self.is_opaque(src, &entries)? {
            remove_children_at(dst.as_fd(), |_| false)?;
        }
        let mut copies = Vec::with_capacity(entries.len());
        for (name, meta) in entries {
            match self.whiteout_of(&name, &meta) {
                Some(Some(_)) if at.fresh => {} // nothing below to hide
                Some(Some(hidden)) => remove_all_at(dst.as_fd(), hidden)?,
                Some(None) => {} // opaque marker or AUFS metadata: not an entry
                None => copies.push((name, meta)),
            }
        }
        let dirs = OpenDirs {
            src: src_dir.as_fd(),
            dst: dst.as_fd(),
        };
        for (name, meta) in copies {
            let entry = Deferred {
                rel: at.rel.clone(),
                src: src.join(OsStr::from_bytes(&name)),
                name,
                meta,
                have: Have::default(),
            };
            self.copy_entry(entry, dirs, target, at, queue, later)?;
        }
        Ok(())
    }

    /// Creates the multiply-linked files: the first name of each inode as a copy, the
    /// others as hard links to it.
    fn link_all(&self, root: BorrowedFd<'_>, mut links: Vec<Deferred>) -> io::Result<()> {
        links.sort_by(|a, b| (&a.rel, &a.name).cmp(&(&b.rel, &b.name)));
        let mut firsts: HashMap<(u64, u64), (PathBuf, Vec<u8>)> = HashMap::new();
        let mut dir: Option<(PathBuf, OwnedFd)> = None;
        for link in links {
            let fd = match dir.take() {
                Some((rel, fd)) if rel == link.rel => fd,
                _ => open_dir_beneath(root, &link.rel)?,
            };
            let key = (link.meta.dev(), link.meta.ino());
            match firsts.get(&key) {
                Some((rel, first)) => {
                    let first_dir = open_dir_beneath(root, rel)?;
                    rfs::linkat(
                        &first_dir,
                        first.as_slice(),
                        &fd,
                        &link.name,
                        AtFlags::empty(),
                    )?;
                }
                None => {
                    self.create_file(&link, None, fd.as_fd())?;
                    firsts.insert(key, (link.rel.clone(), link.name.clone()));
                }
            }
            dir = Some((link.rel, fd));
        }
        Ok(())
    }

    fn is_opaque(&self, src: &Path, entries: &[(Vec<u8>, fs::Metadata)]) -> io::Result<bool> {
        Ok(match self.format {
            WhiteoutFormat::Marker => entries.iter().any(|(n, _)| n.as_slice() == OPAQUE_MARKER),
            WhiteoutFormat::Overlay if !self.tar.opaque_dirs => false,
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
        &self,
        mut entry: Deferred,
        dirs: OpenDirs<'_>,
        target: &Target<'_>,
        at: &DirTask,
        queue: &Queue<Task>,
        later: &Later,
    ) -> io::Result<()> {
        let (src, meta, name) = (entry.src.as_path(), &entry.meta, entry.name.as_slice());
        let dst = dirs.dst;
        // In a directory this application created, names are unique: nothing is there.
        let existing = match at.fresh {
            true => None,
            false => lstat_at(dst, name)?,
        };
        let ft = meta.file_type();
        if ft.is_dir() {
            let rel = at.rel.join(OsStr::from_bytes(name));
            let kind = existing.map(|st| FileType::from_raw_mode(st.st_mode));
            let implicit = self.implicit.contains(&rel);
            if let (true, Some(FileType::Symlink), Some(resolver)) =
                (implicit, kind, target.resolver)
            {
                // No entry of its own: its entries go where the tar's would have gone, through
                // the lower layer's symlink (docker's `applyLayer`, umoci), and the directory
                // there keeps its metadata.
                let components: Vec<Vec<u8>> = rel.iter().map(|c| c.as_bytes().to_vec()).collect();
                let resolved = resolver
                    .resolve_below(&components)
                    .map_err(io::Error::other)?;
                queue.push(Task::Dir(DirTask {
                    src: entry.src.clone(),
                    depth: resolved.components().count(),
                    rel: resolved,
                    fresh: false,
                    setgid: true, // not looked at: what it creates is always chowned
                }));
                return Ok(());
            }
            let (is_dir, setgid) = match existing {
                Some(st) if kind == Some(FileType::Directory) => {
                    entry.have = Have {
                        owner: st.st_uid == meta.uid() && st.st_gid == meta.gid(),
                        mode: st.st_mode & 0o7777 == meta.mode() & 0o7777,
                    };
                    (true, st.st_mode & Mode::SGID.bits() != 0)
                }
                _ => {
                    if existing.is_some() {
                        remove_all_at(dst, name)?;
                    }
                    rfs::mkdirat(dst, name, Mode::from_raw_mode(0o700))?;
                    entry.have.owner = self.meta.created_owned(meta, at.setgid);
                    // A directory made in a set-group-ID one inherits the bit.
                    (false, at.setgid)
                }
            };
            queue.push(Task::Dir(DirTask {
                src: entry.src.clone(),
                rel,
                depth: at.depth + 1,
                fresh: !is_dir,
                setgid,
            }));
            // An implicit directory over an existing one keeps that one's metadata.
            if !(implicit && is_dir) {
                Later::add(&later.dirs, entry);
            }
            return Ok(());
        }
        if existing.is_some() {
            remove_all_at(dst, name)?;
        }
        entry.have.owner = self.meta.created_owned(meta, at.setgid);
        if meta.nlink() > 1 {
            Later::add(&later.links, entry);
            return Ok(());
        }
        if ft.is_file() && meta.len() >= LARGE_FILE {
            queue.push(Task::File(entry));
            return Ok(());
        }
        if ft.is_file() {
            return self.create_file(&entry, Some(dirs.src), dst);
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
        self.meta
            .set_node_meta(src, meta, entry.have, dst, name, ft.is_symlink())
    }

    /// A regular file: created, filled, its metadata set. Created with its final permissions
    /// when the umask leaves them whole and there are no special bits (chown would clear
    /// those): then there is no chmod. `src_dir` is the layer's directory holding it, if open.
    fn create_file(
        &self,
        entry: &Deferred,
        src_dir: Option<BorrowedFd<'_>>,
        dst: BorrowedFd<'_>,
    ) -> io::Result<()> {
        let mode = entry.meta.mode() & 0o7777;
        let final_mode = on_create::creates_whole(mode, self.umask);
        let out: OwnedFd = rfs::openat(
            dst,
            entry.name.as_slice(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(if final_mode { mode } else { 0o600 }),
        )?;
        let input = match src_dir {
            Some(dir) => File::from(rfs::openat(
                dir,
                entry.name.as_slice(),
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?),
            None => File::open(&entry.src)?,
        };
        let output = File::from(out);
        self.copy_contents(input, &output, &entry.meta)?;
        let have = Have {
            mode: final_mode,
            ..entry.have
        };
        self.meta
            .set_fd_meta(&entry.src, &entry.meta, have, output.as_fd())
    }

    /// Copies a file's content: a reflink while the file system takes them, else
    /// [`file_copy::copy_extents`] (holes stay holes).
    fn copy_contents(&self, input: File, output: &File, meta: &fs::Metadata) -> io::Result<()> {
        let len = meta.len();
        if len == 0 {
            return Ok(());
        }
        if self.reflink.load(Ordering::Relaxed) {
            match rfs::ioctl_ficlone(output, &input) {
                Ok(()) => return Ok(()),
                Err(_) => self.reflink.store(false, Ordering::Relaxed),
            }
        }
        file_copy::copy_extents(&input, output, meta)
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

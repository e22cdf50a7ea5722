//! The directory an export writes, and what a failed or killed export leaves of it.
//!
//! - **Absent**: the tree is written into a hidden sibling, `.<name>.hoist-export-<pid>-<n>`
//!   in the same parent, and renamed to `<name>` only once every layer is applied and
//!   verified. Whoever waits for the directory never sees half a tree, and an export killed
//!   midway (no cleanup can run) leaves only that sibling: the next export to the same
//!   directory removes it and starts afresh, no `--force` needed. The export holds an
//!   exclusive `flock` on its sibling while it writes, and its name carries the export's
//!   process ID: a sibling is removed only when that process is gone and no export holds its
//!   lock (the kernel drops the lock of a killed process).
//! - **An empty directory** (a mount point, one made by the caller): written in place,
//!   emptied again on failure.
//! - **Holding files**: refused, unless `force`; then written over, and what a failed export
//!   wrote stays (it cannot be told from what was there).
//! - A symlink is followed, once, as `tar -C` and umoci follow it: every route then writes
//!   below the same real directory and never follows it again.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{Mode, OFlags};

use super::ExportError;
use crate::store::gc::process_is_running;
use crate::store::lock::{lock_exclusive, Wait};
use crate::store::FileError;
use crate::unpack::nofollow::{remove_all_at, remove_children_at, remove_tree};

/// What the export writes into, and how it ends.
pub(super) struct Target {
    /// The real directory the layers are applied onto.
    dir: PathBuf,
    kind: Kind,
}

/// What the target was before the export, which decides what a failed export removes.
enum Kind {
    /// Absent: written into the sibling `dir`, renamed to `final_dir` at the end; the sibling
    /// removed whole on failure. `_lock` holds the sibling's `flock` until then.
    Staged { final_dir: PathBuf, _lock: File },
    /// An empty directory: emptied again on failure.
    Empty,
    /// Holding files (`--force`): what the export wrote stays.
    Forced,
}

/// Numbers the siblings of one process.
static NEXT: AtomicU64 = AtomicU64::new(0);

impl Target {
    /// Gets `dir` ready for an export (see the module docs): refuses a non-empty one unless
    /// `force`; for an absent one, removes what killed exports to it left and makes the
    /// sibling the tree is written into.
    pub(super) fn prepare(dir: &Path, force: bool) -> Result<Target, ExportError> {
        let io = |op| move |source| ExportError::Io(FileError::at(op, dir)(source));
        let kind = match fs::read_dir(dir) {
            Ok(mut entries) => match (entries.next().is_some(), force) {
                (false, _) => Kind::Empty,
                (true, true) => Kind::Forced,
                (true, false) => {
                    return Err(ExportError::NotEmpty {
                        path: dir.to_owned(),
                    })
                }
            },
            // A dangling symlink is not replaced: `create_dir_all` refuses it, as before.
            Err(e) if e.kind() == io::ErrorKind::NotFound && fs::symlink_metadata(dir).is_err() => {
                return Target::staged(dir)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).map_err(io("create"))?;
                Kind::Empty
            }
            Err(e) => return Err(io("read")(e)),
        };
        let dir = fs::canonicalize(dir).map_err(io("resolve"))?;
        Ok(Target { dir, kind })
    }

    /// An absent `dir`: a locked sibling to write into (its parents created as needed).
    fn staged(dir: &Path) -> Result<Target, ExportError> {
        let io = |op, path: &Path| {
            let path = path.to_owned();
            move |source| ExportError::Io(FileError::at(op, &path)(source))
        };
        let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
            // `missing/..`: it would name a directory that exists, and may hold files.
            return Err(io("create", dir)(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the path ends in `..`; name the directory to create",
            )));
        };
        let parent = match parent.as_os_str().is_empty() {
            true => Path::new("."),
            false => parent,
        };
        fs::create_dir_all(parent).map_err(io("create", parent))?;
        let prefix = staging_prefix(name);
        remove_abandoned(parent, &prefix);
        let mut staging = prefix;
        staging.push(format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let staging = parent.join(staging);
        fs::create_dir(&staging).map_err(io("create", &staging))?;
        let lock = open_dir_nofollow(&staging)
            .and_then(|file| lock_exclusive(&file, Wait::Try).map(|_| file))
            .map_err(io("lock", &staging));
        let lock = match lock {
            Ok(lock) => lock,
            Err(e) => {
                let _ = fs::remove_dir(&staging);
                return Err(e);
            }
        };
        let staged = fs::canonicalize(&staging).map_err(io("resolve", &staging))?;
        Ok(Target {
            dir: staged,
            kind: Kind::Staged {
                final_dir: dir.to_owned(),
                _lock: lock,
            },
        })
    }

    /// The real directory to write the tree into.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Ends the export: a staged tree renamed into place when `result` is a success; what a
    /// failed export wrote removed (see [`Kind`]). A rename that fails fails the export.
    pub(super) fn finish<T>(self, result: Result<T, ExportError>) -> Result<T, ExportError> {
        let result = match (&self.kind, result) {
            (Kind::Staged { final_dir, .. }, Ok(value)) => fs::rename(&self.dir, final_dir)
                .map(|()| value)
                .map_err(|e| {
                    ExportError::Io(FileError::at("move the exported tree to", final_dir)(e))
                }),
            (_, result) => result,
        };
        if result.is_err() {
            self.clean_up();
        }
        result
    }

    /// Removes what a failed export wrote, so that a full disk or a bad layer leaves no
    /// half-made tree behind. Best effort: the export's own error is the one reported.
    fn clean_up(&self) {
        let removed = match &self.kind {
            Kind::Staged { .. } => remove_tree(&self.dir),
            Kind::Empty => {
                File::open(&self.dir).and_then(|d| remove_children_at(d.as_fd(), |_| false))
            }
            Kind::Forced => Ok(()),
        };
        if let Err(e) = removed {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot remove what the failed export wrote");
        }
    }
}

/// `.<name>.hoist-export-`: the start of the name of every sibling an export to `name` uses.
fn staging_prefix(name: &std::ffi::OsStr) -> OsString {
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(".hoist-export-");
    prefix
}

/// Removes the siblings in `parent` starting with `prefix` that no live export holds: what
/// exports killed midway left. Best effort: one that cannot be removed stays, and is named in
/// the log.
fn remove_abandoned(parent: &Path, prefix: &OsString) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let Ok(parent_dir) = File::open(parent) else {
        return;
    };
    let prefix = prefix.as_encoded_bytes();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.as_encoded_bytes().starts_with(prefix) {
            continue;
        }
        // Made by a process still running: an export under way, perhaps between its `mkdir`
        // and its `flock`. Left alone.
        let pid = name.as_encoded_bytes()[prefix.len()..]
            .split(|&b| b == b'-')
            .next()
            .and_then(|pid| std::str::from_utf8(pid).ok()?.parse::<i32>().ok());
        if pid.is_some_and(process_is_running) {
            continue;
        }
        let path = entry.path();
        // Not a directory (never ours), or held by a live export: left alone. The lock is
        // kept while the sibling is removed, so two exports never remove one together.
        let Ok(dir) = open_dir_nofollow(&path) else {
            continue;
        };
        if !lock_exclusive(&dir, Wait::Try).unwrap_or(false) {
            continue;
        }
        match remove_all_at(parent_dir.as_fd(), name.as_encoded_bytes()) {
            Ok(()) => tracing::debug!(path = %path.display(), "removed what a killed export left"),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove what a killed export left")
            }
        }
    }
}

/// Opens the directory `path` itself, never through a symlink.
fn open_dir_nofollow(path: &Path) -> io::Result<File> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(File::from(rustix::fs::open(path, flags, Mode::empty())?))
}

//! The lock of one ingest directory (`ingest/<hex>/lock`): an exclusive `flock` that a writer
//! holds for as long as it writes the blob, and garbage collection only ever tries
//! ([`lock_idle`]). A finishing writer removes the directory while still holding the lock
//! ([`remove_ingest_dir`]), so a process that locked a lock file its holder has since removed
//! notices (the file it locked is no longer the one named `lock`) and tries the current one.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::ingest::{read_meta, DATA_FILE, META_FILE};
use super::lock::{lock_exclusive, open_lock_file, Wait};
use super::StoreError;
use crate::digest::Digest;

const LOCK_FILE: &str = "lock";

/// An exclusive `flock` on `ingest/<hex>/lock`, released when the file is closed.
#[derive(Debug)]
pub(super) struct IngestLock {
    /// Never read: holding the open file is holding the lock.
    _file: File,
    path: PathBuf,
}

/// Takes the ingest lock, making sure the locked file is still the one named `lock`.
pub(super) fn acquire(dir: &Path, digest: &Digest, wait: Wait) -> Result<IngestLock, StoreError> {
    let path = dir.join(LOCK_FILE);
    loop {
        make_ingest_dir(dir)?;
        let file = match open_lock_file(&path) {
            Ok(file) => file,
            // A finishing writer removed the directory between the two calls: make it again.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StoreError::io("open", &path, e)),
        };
        if !lock_exclusive(&file, wait).map_err(|e| StoreError::io("lock", &path, e))? {
            return Err(StoreError::Locked {
                digest: digest.clone(),
                path,
            });
        }
        if names_same_file(&file, &path)? {
            return Ok(IngestLock { _file: file, path });
        }
        // We locked a lock file its previous holder has since removed: try the current one.
    }
}

/// Creates `dir` if it is missing. Not `create_dir_all`: that reports "exists" as an error when
/// a finishing writer removes the directory between its own `mkdir` and `is_dir` check.
fn make_ingest_dir(dir: &Path) -> Result<(), StoreError> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        // `ingest/` itself is gone (removed by hand): make it; it is never removed by hoist.
        Err(e) if e.kind() == io::ErrorKind::NotFound => match dir.parent() {
            Some(parent) => super::layout::create_private_dir(parent)
                .and_then(|()| fs::create_dir(dir))
                .or_else(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists => Ok(()),
                    _ => Err(e),
                })
                .map_err(|e| StoreError::io("create", dir, e)),
            None => Err(StoreError::io("create", dir, e)),
        },
        Err(e) => Err(StoreError::io("create", dir, e)),
    }
}

fn names_same_file(file: &File, path: &Path) -> Result<bool, StoreError> {
    let held = file
        .metadata()
        .map_err(|e| StoreError::io("inspect", path, e))?;
    match fs::metadata(path) {
        Ok(named) => Ok(named.dev() == held.dev() && named.ino() == held.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io("inspect", path, e)),
    }
}

/// Removes everything in an ingest directory while holding its lock, then the lock file, then
/// the directory (unless a newcomer already made a new lock file in it). Failures are logged:
/// leftovers are harmless, a later `begin` cleans or resumes them.
pub(super) fn remove_ingest_dir(dir: &Path, lock: IngestLock) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_name() != LOCK_FILE {
                let path = entry.path();
                if let Err(e) = fs::remove_file(&path) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove ingest file");
                }
            }
        }
    }
    if let Err(e) = fs::remove_file(&lock.path) {
        tracing::warn!(path = %lock.path.display(), error = %e, "cannot remove ingest lock");
    }
    drop(lock);
    // Fails with "not empty" when another writer got in after the lock file went: fine.
    let _ = fs::remove_dir(dir);
}

/// An ingest nobody is writing: its lock taken by garbage collection, which may remove it.
#[derive(Debug)]
pub(super) struct IdleIngest {
    dir: PathBuf,
    lock: IngestLock,
    /// When its first attempt began (`meta.json`), else the directory's modification time.
    pub(super) started: Option<SystemTime>,
    /// Bytes in `data`.
    pub(super) bytes: u64,
}

/// Takes the lock of the ingest directory `dir` without waiting. `None` when a writer holds it,
/// or when the directory went away or its lock file was replaced meanwhile (a writer finished
/// or began: leave it to the next collection).
pub(super) fn lock_idle(dir: &Path) -> Result<Option<IdleIngest>, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = match open_lock_file(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("open", &path, e)),
    };
    if !lock_exclusive(&file, Wait::Try).map_err(|e| StoreError::io("lock", &path, e))? {
        return Ok(None);
    }
    if !names_same_file(&file, &path)? {
        return Ok(None);
    }
    let started = read_meta(&dir.join(META_FILE))
        .map(|meta| UNIX_EPOCH + Duration::from_secs(meta.started))
        .or_else(|| fs::metadata(dir).and_then(|m| m.modified()).ok());
    let bytes = fs::metadata(dir.join(DATA_FILE)).map_or(0, |m| m.len());
    Ok(Some(IdleIngest {
        dir: dir.to_owned(),
        lock: IngestLock { _file: file, path },
        started,
        bytes,
    }))
}

impl IdleIngest {
    /// Deletes the ingest (data, meta, then the lock file and the directory), still holding
    /// its lock, the way a finishing writer does: a writer waiting on the lock starts over.
    pub(super) fn remove(self) {
        remove_ingest_dir(&self.dir, self.lock);
    }
}

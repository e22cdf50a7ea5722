//! Advisory file locks (`flock(2)`) shared by every hoist process using one root.
//!
//! `flock` locks belong to an open file description, so two threads of one process that each
//! open the lock file exclude each other exactly as two processes do, and the kernel drops the
//! lock when the holder exits or is killed: a crashed pull never leaves a lock behind. The
//! locks are advisory: only hoist's own code honours them, which is all the store needs.
//!
//! Used for the per-ingest lock (`ingest/<hex>/lock`, see [`super::ingest`]) and the
//! `index.json.lock` that serialises read-modify-write of `index.json` (see [`super::layout`]).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use rustix::fs::{flock, FlockOperation};
use rustix::io::Errno;

/// Whether to wait for a held lock or give up at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Block the calling thread until the lock is free.
    Block,
    /// Return `Ok(false)` at once if another holder has it.
    Try,
}

/// Takes an exclusive `flock` on `file`. `Ok(true)` when held, `Ok(false)` only with
/// [`Wait::Try`] when someone else holds it.
pub(crate) fn lock_exclusive(file: &File, wait: Wait) -> io::Result<bool> {
    match wait {
        Wait::Block => take(file, FlockOperation::LockExclusive, wait),
        Wait::Try => take(file, FlockOperation::NonBlockingLockExclusive, wait),
    }
}

/// Takes a shared `flock` on `file`. `Ok(true)` when held, `Ok(false)` only with
/// [`Wait::Try`] when an exclusive holder has it.
pub(crate) fn lock_shared(file: &File, wait: Wait) -> io::Result<bool> {
    match wait {
        Wait::Block => take(file, FlockOperation::LockShared, wait),
        Wait::Try => take(file, FlockOperation::NonBlockingLockShared, wait),
    }
}

/// `flock(file, op)`, again after a signal interrupted the wait.
fn take(file: &File, op: FlockOperation, wait: Wait) -> io::Result<bool> {
    loop {
        match flock(file, op) {
            Ok(()) => return Ok(true),
            Err(Errno::INTR) => continue,
            Err(Errno::WOULDBLOCK) if wait == Wait::Try => return Ok(false),
            Err(e) => return Err(io::Error::from(e)),
        }
    }
}

/// Opens (creating if needed) the lock file at `path`.
pub(crate) fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

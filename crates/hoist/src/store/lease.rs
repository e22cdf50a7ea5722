//! Leases: what keeps garbage collection away from content a writer has not referenced yet.
//!
//! A pull commits blobs before it records the image that references them, so for a moment a
//! blob is in `blobs/` and reachable from nothing; a collector running then would delete it.
//! containerd solves this with leases in its metadata database; hoist uses one lock file,
//! `ROOT/gc.lock`: every writer (pull, load, tag) holds a [`Lease`] — a shared `flock` — for as
//! long as it writes, and garbage collection takes it exclusively ([`GcLock`]), so it waits for
//! running writers and new writers wait for it. Locks are `flock`s: a killed process releases
//! its lease, and a blob it left unreferenced is collected by the next gc. A process that has to
//! wait for the other side says so (a `tracing` warning, shown by the CLI by default) instead of
//! hanging silently.

use std::fs::File;
use std::path::PathBuf;

use super::error::StoreError;
use super::lock::{lock_exclusive, lock_shared, open_lock_file, Wait};
use super::ContentStore;

/// The lock file's name in the store root.
pub const GC_LOCK_FILE: &str = "gc.lock";

/// A writer's hold on the store: while it lives, garbage collection does not run. Dropping it
/// releases the hold.
#[derive(Debug)]
pub struct Lease {
    _file: File,
}

/// Garbage collection's exclusive hold on the store: while it lives, no writer holds a
/// [`Lease`].
#[derive(Debug)]
pub struct GcLock {
    _file: File,
}

impl ContentStore {
    fn gc_lock_path(&self) -> PathBuf {
        self.root().join(GC_LOCK_FILE)
    }

    /// Takes a [`Lease`], waiting while garbage collection runs (and saying so, once, as a
    /// warning). Blocking: call it from a blocking thread.
    pub fn lease(&self) -> Result<Lease, StoreError> {
        let path = self.gc_lock_path();
        let file = open_lock_file(&path).map_err(|e| StoreError::io("open", &path, e))?;
        let lock = |wait| lock_shared(&file, wait);
        if !lock(Wait::Try).map_err(|e| StoreError::io("lock (shared)", &path, e))? {
            tracing::warn!(
                lock = %path.display(),
                "waiting for a garbage collection (hoist prune) of this store to finish"
            );
            lock(Wait::Block).map_err(|e| StoreError::io("lock (shared)", &path, e))?;
        }
        Ok(Lease { _file: file })
    }

    /// Takes the [`GcLock`], waiting for every [`Lease`] to be dropped (and saying so, once,
    /// as a warning). Blocking.
    pub fn lock_for_gc(&self) -> Result<GcLock, StoreError> {
        let path = self.gc_lock_path();
        let file = open_lock_file(&path).map_err(|e| StoreError::io("open", &path, e))?;
        let lock = |wait| lock_exclusive(&file, wait);
        if !lock(Wait::Try).map_err(|e| StoreError::io("lock", &path, e))? {
            tracing::warn!(
                lock = %path.display(),
                "waiting for other hoist processes writing to this store (pull, push, load, tag) to finish"
            );
            lock(Wait::Block).map_err(|e| StoreError::io("lock", &path, e))?;
        }
        Ok(GcLock { _file: file })
    }

    /// Like [`ContentStore::lock_for_gc`], but `None` at once when a writer holds a lease.
    pub fn try_lock_for_gc(&self) -> Result<Option<GcLock>, StoreError> {
        let path = self.gc_lock_path();
        let file = open_lock_file(&path).map_err(|e| StoreError::io("open", &path, e))?;
        let held =
            lock_exclusive(&file, Wait::Try).map_err(|e| StoreError::io("lock", &path, e))?;
        Ok(held.then_some(GcLock { _file: file }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gc_waits_for_leases_and_leases_share() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let first = store.lease().unwrap();
        let second = store.lease().unwrap();
        assert!(store.try_lock_for_gc().unwrap().is_none());
        drop(first);
        assert!(store.try_lock_for_gc().unwrap().is_none());
        drop(second);
        let gc = store.try_lock_for_gc().unwrap();
        assert!(gc.is_some());
    }

    #[test]
    fn lease_waits_for_gc() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let gc = store.lock_for_gc().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let other = store.clone();
        let waiter = std::thread::spawn(move || {
            let lease = other.lease().unwrap();
            tx.send(()).unwrap();
            drop(lease);
        });
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(200))
            .is_err());
        drop(gc);
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        waiter.join().unwrap();
    }
}

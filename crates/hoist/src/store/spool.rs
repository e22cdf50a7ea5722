//! Spools: writes of blobs whose digest is not known until their last byte, committed under the
//! digest they turn out to have.
//!
//! An [`Ingest`](super::Ingest) is keyed by the digest it must produce, which is what a pull
//! knows. `hoist load` does not: a `docker save` archive names layers `<v1 id>/layer.tar`, and
//! its `manifest.json` (often the archive's last member) says what they are only after they
//! have streamed past. A [`Spool`] takes such a member as it arrives: bytes go to
//! `ingest/spool-<unique>/data` and through a [`Hasher`] in the same call, so the digest always
//! covers exactly the bytes in the file; [`Spool::commit`] then takes the ordinary ingest for
//! that digest (its lock excludes concurrent writers of the same blob) and publishes the file
//! into `blobs/` by rename, or drops it if the blob was already there. Nothing is read twice.
//!
//! The spool directory has the same `lock` file as an ingest and holds it while writing, so
//! garbage collection (which sweeps `ingest/`) leaves it alone; a spool left by a killed
//! process is an idle ingest directory that the next collection removes at once: unlike an
//! ingest, nothing ever resumes a spool (its name is unique to the process that made it), so
//! keeping it for the ingests' age limit would only hold the disk (a `hoist load` killed 50
//! times kept 50 partial copies of its archive for a day).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::ingest;
use super::ingest_lock::{self, IngestLock};
use super::layout::INGEST_DIR;
use super::lock::Wait;
use super::writeback::Writeback;
use super::{BlobInfo, ContentStore, StoreError};
use crate::digest::{Algorithm, Digest, Hasher};

const DATA_FILE: &str = "data";

/// How a spool's directory under `ingest/` begins (an ingest's is the digest's hex).
pub(super) const SPOOL_PREFIX: &str = "spool-";

/// Distinguishes spools of one process started in the same nanosecond.
static NEXT_SPOOL: AtomicU64 = AtomicU64::new(0);

/// A blob being written before its digest is known. See the module docs.
///
/// Dropping a spool without committing removes its data.
#[derive(Debug)]
pub struct Spool {
    store: ContentStore,
    inner: Option<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    lock: IngestLock,
    data_path: PathBuf,
    data: File,
    hasher: Hasher,
    writeback: Writeback,
}

impl ContentStore {
    /// Starts a [`Spool`]: a sha256-addressed blob whose digest will be what is written.
    pub fn spool(&self) -> Result<Spool, StoreError> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!(
            "{SPOOL_PREFIX}{}-{nanos}-{}",
            std::process::id(),
            NEXT_SPOOL.fetch_add(1, Ordering::Relaxed)
        );
        let dir = self.root().join(INGEST_DIR).join(name);
        // The name is unique, so the lock is never contended but by garbage collection, which
        // only ever tries it; the placeholder digest appears in no message of a success.
        let placeholder = Digest::sha256_of(b"");
        let lock = ingest_lock::acquire(&dir, &placeholder, Wait::Block)?;
        let data_path = dir.join(DATA_FILE);
        let data = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(ingest::INGEST_FILE_MODE)
            .open(&data_path)
            .map_err(|e| StoreError::io("create", &data_path, e))?;
        Ok(Spool {
            store: self.clone(),
            inner: Some(Inner {
                dir,
                lock,
                data_path,
                data,
                hasher: Hasher::new(Algorithm::Sha256),
                writeback: Writeback::default(),
            }),
        })
    }
}

impl Spool {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.inner.as_ref().map_or(0, |i| i.hasher.bytes_hashed())
    }

    /// Writes and hashes all of `bytes`, like [`Ingest::write_chunk`](super::Ingest::write_chunk).
    pub fn write_chunk(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let Some(inner) = self.inner.as_mut() else {
            return Err(StoreError::io(
                "write",
                self.store.root(),
                io::ErrorKind::BrokenPipe.into(),
            ));
        };
        inner
            .data
            .write_all(bytes)
            .map_err(|e| StoreError::io("write", &inner.data_path, e))?;
        inner.hasher.update(bytes);
        inner.wrote();
        Ok(())
    }

    /// Stores what was written as the blob its bytes hash to (a no-op, beyond removing the
    /// spool, if that blob is already present) and returns it. Blocking: it may wait for
    /// another writer of the same digest.
    pub fn commit(mut self) -> Result<BlobInfo, StoreError> {
        let Some(inner) = self.inner.take() else {
            // Unreachable: `inner` is only taken by commit and drop, which consume the spool.
            return Err(StoreError::io(
                "commit",
                self.store.root(),
                io::ErrorKind::Other.into(),
            ));
        };
        let result = commit(&self.store, &inner);
        discard(inner);
        result
    }
}

impl Inner {
    /// Starts the write-back of what was written, every few MiB (see `super::writeback`).
    fn wrote(&mut self) {
        self.writeback.wrote(&self.data, self.hasher.bytes_hashed());
    }
}

fn commit(store: &ContentStore, inner: &Inner) -> Result<BlobInfo, StoreError> {
    inner
        .data
        .sync_all()
        .map_err(|e| StoreError::io("sync", &inner.data_path, e))?;
    let size = inner.hasher.bytes_hashed();
    let digest = inner.hasher.clone().finish();
    let ingest = store.begin(&digest, Some(size))?;
    ingest.adopt(&inner.data, &inner.data_path, size)
}

/// Removes the spool directory (its data is gone already if it was published).
fn discard(inner: Inner) {
    if let Err(e) = fs::remove_file(&inner.data_path) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(path = %inner.data_path.display(), error = %e, "cannot remove spool");
        }
    }
    drop(inner.data);
    ingest_lock::remove_ingest_dir(&inner.dir, inner.lock);
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            discard(inner);
        }
    }
}

impl Write for Spool {
    /// Writes and hashes; errors carry a [`StoreError`] like [`Ingest`](super::Ingest)'s.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(inner) = self.inner.as_mut() else {
            return Err(io::ErrorKind::BrokenPipe.into());
        };
        match inner.data.write(buf) {
            Ok(n) => {
                inner.hasher.update(&buf[..n]);
                inner.wrote();
                Ok(n)
            }
            Err(e) => {
                let err = StoreError::io("write", &inner.data_path, e);
                Err(io::Error::new(err.io_kind(), err))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn spool_commits_under_the_digest_of_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let mut spool = store.spool().unwrap();
        spool.write_all(b"hello ").unwrap();
        spool.write_all(b"world").unwrap();
        assert_eq!(spool.size(), 11);
        let info = spool.commit().unwrap();
        assert_eq!(info.digest, Digest::sha256_of(b"hello world"));
        assert_eq!(info.size, 11);
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut store.open_blob(&info.digest).unwrap(), &mut bytes)
            .unwrap();
        assert_eq!(bytes, b"hello world");
        assert_eq!(
            fs::read_dir(dir.path().join(INGEST_DIR)).unwrap().count(),
            0
        );
    }

    #[test]
    fn spool_of_a_present_blob_leaves_it_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let digest = Digest::sha256_of(b"same");
        store.write_blob(&digest, b"same").unwrap();
        let mut spool = store.spool().unwrap();
        spool.write_all(b"same").unwrap();
        assert_eq!(spool.commit().unwrap().digest, digest);
        assert_eq!(
            fs::read_dir(dir.path().join(INGEST_DIR)).unwrap().count(),
            0
        );
    }

    #[test]
    fn dropped_spool_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let mut spool = store.spool().unwrap();
        spool.write_all(b"partial").unwrap();
        drop(spool);
        assert_eq!(
            fs::read_dir(dir.path().join(INGEST_DIR)).unwrap().count(),
            0
        );
        assert!(!store.has(&Digest::sha256_of(b"partial")).unwrap());
    }
}

//! `hoist.db`: the store's metadata in SQLite, beside the blobs at the root.
//!
//! What the content store cannot say by digest alone lives here, in one database so that a
//! change touching several rows is one transaction:
//! - [`refs`]: the **reference store** (docker's `reference.Store`: `AddTag`, `AddDigest`,
//!   `Delete`, `Get`, `References`, `ReferencesByName`), kept in step with the layout's
//!   `index.json` by [`index_sync`];
//! - [`images`]: **image records** (image ID = config digest, manifest, platform, size,
//!   created, layers in order), docker's image store as far as distribution needs it;
//! - [`blob_sources`]: **v2 metadata** (docker's `V2MetadataService`): which compressed blob a
//!   diffID was seen as, in which repository, for cross-repository mounts on push;
//! - [`layers`]: **layer records** by chain ID with reference counts, for the layer store;
//! - [`gc`]: the **GC roots**, the blobs still needed by referenced images.
//!
//! # Concurrency
//! Several hoist processes may use one root at once. The database is in WAL mode (readers and
//! the writer do not block each other); every change runs in a `BEGIN IMMEDIATE` transaction,
//! so a writer takes the write lock before reading what it will change, and a second writer
//! waits up to the busy timeout ([`DEFAULT_BUSY_TIMEOUT`], see [`MetadataStore::open_with`])
//! before failing with [`MetadataError::Busy`], never with a bare "database is locked".
//! A process killed at any instant leaves the last committed state (SQLite's atomic commit).
//!
//! # Sync API
//! The API is synchronous (rusqlite). Async callers run it on blocking threads
//! (`tokio::task::spawn_blocking`); [`MetadataStore`] is `Send + Sync` (the connection sits
//! behind a mutex), so an `Arc<MetadataStore>` can be cloned into them. Every call is short: a
//! few indexed statements.
//!
//! # Corruption
//! A file that is not a SQLite database, or whose pages or values are damaged, is refused with
//! [`MetadataError::Corrupt`], whose message says what to do (move it aside or restore it). A
//! database from a newer hoist is refused with [`MetadataError::NewerSchema`].

pub mod blob_sources;
mod error;
pub mod gc;
pub mod images;
pub mod index_sync;
pub mod layers;
pub mod refs;
mod schema;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use super::ContentStore;

pub use blob_sources::{BlobSource, BlobSourceRecord, MAX_SOURCES_PER_DIFF_ID};
pub use error::MetadataError;
pub use images::{ImageLayer, ImageRecord};
pub use layers::LayerRecord;
pub use refs::{Association, ReferenceTarget};

/// The database's file name at the store root.
pub const DATABASE_FILE: &str = "hoist.db";

/// How long a writer waits for another process's write transaction by default. Writes are a
/// few statements plus, for references, one `index.json` rewrite; 30 s covers a slow disk
/// under several concurrent pulls with a wide margin.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The metadata database of one store root.
#[derive(Debug)]
pub struct MetadataStore {
    path: PathBuf,
    busy_timeout: Duration,
    content: ContentStore,
    conn: Mutex<Connection>,
}

impl MetadataStore {
    /// Opens (creating or migrating as needed) `hoist.db` at the root of `content`, with the
    /// default busy timeout. Also finishes `index.json` changes a killed process left pending
    /// (see [`index_sync`]).
    pub fn open(content: &ContentStore) -> Result<MetadataStore, MetadataError> {
        MetadataStore::open_with(content, DEFAULT_BUSY_TIMEOUT)
    }

    /// [`MetadataStore::open`] with a chosen busy timeout.
    pub fn open_with(
        content: &ContentStore,
        busy_timeout: Duration,
    ) -> Result<MetadataStore, MetadataError> {
        let path = content.root().join(DATABASE_FILE);
        let error = |op, e| MetadataError::sqlite(&path, op, busy_timeout, e);
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&path, flags).map_err(|e| error("open", e))?;
        schema::configure(&conn, busy_timeout).map_err(|e| error("configure", e))?;
        schema::migrate(&mut conn, error, |found| MetadataError::NewerSchema {
            path: path.clone(),
            found,
            known: schema::current_version(),
        })?;
        let store = MetadataStore {
            path,
            busy_timeout,
            content: content.clone(),
            conn: Mutex::new(conn),
        };
        store.sync_index()?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The content store whose root holds the database.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// The connection. A panic in another thread while it held the lock cannot leave a
    /// transaction open (rusqlite rolls back on drop), so a poisoned lock is taken as is.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Classifies a SQLite error met while doing `op`.
    pub(crate) fn error(&self, op: &'static str, e: rusqlite::Error) -> MetadataError {
        MetadataError::sqlite(&self.path, op, self.busy_timeout, e)
    }

    /// Runs `change` in one `BEGIN IMMEDIATE` transaction, committed only if it returns `Ok`.
    pub(crate) fn write<T>(
        &self,
        op: &'static str,
        change: impl FnOnce(&Transaction<'_>) -> Result<T, MetadataError>,
    ) -> Result<T, MetadataError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.error(op, e))?;
        let value = change(&tx)?;
        tx.commit().map_err(|e| self.error(op, e))?;
        Ok(value)
    }

    /// Runs `query` in one read transaction, so its statements see one snapshot.
    pub(crate) fn read<T>(
        &self,
        op: &'static str,
        query: impl FnOnce(&Transaction<'_>) -> Result<T, MetadataError>,
    ) -> Result<T, MetadataError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(|e| self.error(op, e))?;
        let value = query(&tx)?;
        // Nothing was written; ending the read transaction cannot lose anything.
        tx.finish().map_err(|e| self.error(op, e))?;
        Ok(value)
    }
}

/// Now, in Unix seconds (0 if the clock is before 1970).
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Unix seconds back to a time (negative values clamp to the epoch).
pub(crate) fn from_unix(seconds: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
}

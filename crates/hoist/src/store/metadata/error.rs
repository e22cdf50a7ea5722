//! The metadata database's errors.
//!
//! Failures of the database itself (locked too long, corrupt, full, newer schema, any other
//! SQLite error) name the database path, so a person knows which file is in trouble. Refusals of
//! the reference store keep docker's exact sentences (`reference.Store`'s `conflictingTagError`
//! and `invalidTagError`), because users and scripts match on them; they carry the path as a
//! field rather than in the message. References are carried in their canonical string form
//! (`docker.io/library/ubuntu:22.04`), which keeps the error small.
//!
//! SQLite errors are classified once, in `MetadataError::sqlite`: `SQLITE_BUSY`/`SQLITE_LOCKED`
//! (another process held the write lock for longer than the busy timeout) become
//! [`MetadataError::Busy`], `SQLITE_NOTADB`/`SQLITE_CORRUPT` and values that do not parse back
//! become [`MetadataError::Corrupt`], `SQLITE_FULL` becomes [`MetadataError::DiskFull`].

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::ffi::ErrorCode;

use crate::digest::Digest;
use crate::store::StoreError;

/// An error of the metadata database `hoist.db`.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// A tag already points at another image and `force` was not given (docker's
    /// `conflictingTagError`, word for word).
    #[error("Conflict: Tag {reference} is already set to image {existing}, if you want to replace it, please use the force option")]
    TagConflict {
        /// The database.
        path: PathBuf,
        /// The tagged reference.
        reference: String,
        /// The image ID the tag points at now.
        existing: Digest,
    },

    /// A digest reference already points at another image; digest references never move, not
    /// even with `force` (docker's wording).
    #[error("Cannot overwrite digest {digest}")]
    DigestConflict {
        /// The database.
        path: PathBuf,
        /// The digest reference.
        reference: String,
        /// Its digest.
        digest: Digest,
    },

    /// A tag was asked for with a reference that has a digest, or a digest reference that also
    /// has a tag (docker's `invalidTagError`, word for word).
    #[error("refusing to create a tag with a digest reference")]
    TagWithDigest {
        /// The reference given.
        reference: String,
    },

    /// A digest reference was asked for with a reference that has no digest.
    #[error("{reference} is not a digest reference (it has no @digest)")]
    NotADigestReference {
        /// The reference given.
        reference: String,
    },

    /// A reference was to point at an image that is not recorded (record it first with
    /// [`MetadataStore::put_image`](super::MetadataStore::put_image)).
    #[error("no image with manifest {manifest} is recorded in {path}, so {reference} cannot point at it")]
    ImageNotRecorded {
        /// The database.
        path: PathBuf,
        /// The reference being added.
        reference: String,
        /// The manifest digest it was to point at.
        manifest: Digest,
    },

    /// An image's record was deleted (by a concurrent `rmi` or `prune`) between its
    /// recording and the hold on its layers.
    #[error("image with manifest {manifest} was removed from {path} while it was being recorded")]
    ImageRemoved {
        /// The database.
        path: PathBuf,
        /// The image's manifest digest.
        manifest: Digest,
    },

    /// An image record cannot be deleted while references point at it.
    #[error("image with manifest {manifest} in {path} is still referenced by {}", references.join(", "))]
    ImageInUse {
        /// The database.
        path: PathBuf,
        /// The image's manifest digest.
        manifest: Digest,
        /// The references (canonical form) still pointing at it.
        references: Vec<String>,
    },

    /// A layer record was asked for that does not exist.
    #[error("no layer with chain ID {chain_id} is recorded in {path}")]
    LayerNotFound {
        /// The database.
        path: PathBuf,
        /// The chain ID asked for.
        chain_id: Digest,
    },

    /// A layer record cannot be deleted while it is referenced or has children.
    #[error("layer {chain_id} in {path} is still in use: {reason}")]
    LayerInUse {
        /// The database.
        path: PathBuf,
        /// The layer's chain ID.
        chain_id: Digest,
        /// What still uses it.
        reason: String,
    },

    /// A layer record names a parent that is not recorded.
    #[error("layer {chain_id} names parent {parent}, which is not recorded in {path}")]
    LayerParentMissing {
        /// The database.
        path: PathBuf,
        /// The layer being recorded.
        chain_id: Digest,
        /// The missing parent.
        parent: Digest,
    },

    /// Another hoist process kept the database locked for longer than the busy timeout.
    #[error("the metadata database {path} stayed locked by another hoist process for more than {}s ({op}); retry, or look for a hung hoist process using this root", timeout.as_secs_f32())]
    Busy {
        /// The database.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The busy timeout that ran out.
        timeout: Duration,
    },

    /// The file is not a SQLite database, is damaged, or holds values hoist cannot read.
    #[error("the metadata database {path} is corrupt ({detail}); move it aside (hoist then starts an empty one: blobs stay, tags must be pulled or tagged again) or restore it from a backup")]
    Corrupt {
        /// The database.
        path: PathBuf,
        /// What SQLite or hoist found.
        detail: String,
    },

    /// The database was written by a newer hoist with a schema this one does not know.
    #[error("the metadata database {path} has schema version {found}, newer than the {known} this hoist knows; use a newer hoist with this root")]
    NewerSchema {
        /// The database.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
        /// The highest version this hoist knows.
        known: i64,
    },

    /// The disk holding the database is full.
    #[error("disk full: cannot {op} in the metadata database {path}: no space left on device")]
    DiskFull {
        /// The database.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
    },

    /// Any other SQLite failure.
    #[error("metadata database {path}: cannot {op}: {source}")]
    Sqlite {
        /// The database.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// Keeping the layout's `index.json` in step with a reference failed.
    #[error("cannot record {reference} in the layout's index.json: {source}")]
    Index {
        /// The reference (canonical form) being added or removed.
        reference: String,
        /// The store's error (names the file).
        #[source]
        source: StoreError,
    },
}

impl MetadataError {
    /// Classifies a SQLite error met while doing `op` on the database at `path`.
    pub(crate) fn sqlite(
        path: &std::path::Path,
        op: &'static str,
        timeout: Duration,
        source: rusqlite::Error,
    ) -> MetadataError {
        let path = path.to_owned();
        if let rusqlite::Error::SqliteFailure(e, _) = &source {
            match e.code {
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                    return MetadataError::Busy { path, op, timeout }
                }
                ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                    return MetadataError::Corrupt {
                        path,
                        detail: source.to_string(),
                    }
                }
                ErrorCode::DiskFull => return MetadataError::DiskFull { path, op },
                _ => {}
            }
        }
        if let rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) = &source
        {
            return MetadataError::Corrupt {
                path,
                detail: format!("while trying to {op}: {source}"),
            };
        }
        MetadataError::Sqlite { path, op, source }
    }

    /// Whether retrying later may succeed (the database was only locked).
    pub fn is_busy(&self) -> bool {
        matches!(self, MetadataError::Busy { .. })
    }
}

//! Blob sources: which compressed blob an uncompressed layer (diffID) was seen as, and in which
//! repository, so a push can skip or cross-repository-mount layers the registry already has.
//!
//! Corresponds to docker's `distribution/metadata.V2MetadataService` (docker 20.10):
//! [`MetadataStore::add_blob_source`] is `Add` (and `TagAndAdd` once the caller has computed
//! the HMAC), [`MetadataStore::blob_sources`] is `GetMetadata`,
//! [`MetadataStore::diff_id_of`] is `GetDiffID`, [`MetadataStore::remove_blob_source`] is
//! `Remove`. A [`BlobSource`] is docker's `V2Metadata` (`Digest`, `SourceRepository`, `HMAC`).
//!
//! # Invariants
//! - At most [`MAX_SOURCES_PER_DIFF_ID`] (docker's `maxMetadata`, 50) sources per diffID:
//!   adding one more drops the least recently added.
//! - Adding a source that is already recorded (same digest, repository and HMAC) makes it the
//!   most recent and refreshes its last-seen time instead of duplicating it, as docker's `Add`
//!   moves it to the end of the list.
//! - The registry host is stored beside the repository so a push asks for the mount candidates
//!   on its own registry ([`MetadataStore::blob_sources_on`]) without parsing every name.

use std::time::SystemTime;

use rusqlite::{params, OptionalExtension};

use super::{from_unix, unix_now, MetadataError, MetadataStore};
use crate::digest::Digest;
use crate::reference::Repository;

/// The most sources kept per diffID (docker's `maxMetadata`).
pub const MAX_SOURCES_PER_DIFF_ID: usize = 50;

/// Where a layer blob was seen (docker's `V2Metadata`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobSource {
    /// The blob's digest in that repository (compressed, usually).
    pub digest: Digest,
    /// The repository, with its registry host (`docker.io/library/ubuntu`).
    pub repository: Repository,
    /// The HMAC (hex) of the credentials the blob was seen with, if any (docker's
    /// `ComputeV2MetadataHMAC`): a push with other credentials does not trust the entry to
    /// mount from. Never the credentials themselves.
    pub hmac: Option<String>,
}

/// A recorded [`BlobSource`] with its diffID and when it was last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobSourceRecord {
    /// The layer's uncompressed digest.
    pub diff_id: Digest,
    /// The source.
    pub source: BlobSource,
    /// When it was last added (second precision).
    pub last_seen: SystemTime,
}

impl MetadataStore {
    /// Records that `diff_id` was seen as `source` (docker's `Add`), now. See the module docs
    /// for the cap and the deduplication.
    pub fn add_blob_source(
        &self,
        diff_id: &Digest,
        source: &BlobSource,
    ) -> Result<(), MetadataError> {
        let op = "record a blob source";
        let hmac = source.hmac.as_deref().unwrap_or("");
        self.write(op, |tx| {
            let err = |e| self.error(op, e);
            // Delete and re-insert: the new row gets the highest id, so ids order by recency.
            tx.execute(
                "DELETE FROM blob_sources \
                 WHERE diff_id = ?1 AND digest = ?2 AND repository = ?3 AND hmac = ?4",
                params![diff_id, source.digest, source.repository.as_str(), hmac],
            )
            .map_err(err)?;
            tx.execute(
                "INSERT INTO blob_sources \
                 (diff_id, digest, registry, repository, hmac, last_seen) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    diff_id,
                    source.digest,
                    source.repository.domain(),
                    source.repository.as_str(),
                    hmac,
                    unix_now(),
                ],
            )
            .map_err(err)?;
            tx.execute(
                "DELETE FROM blob_sources WHERE diff_id = ?1 AND id NOT IN \
                 (SELECT id FROM blob_sources WHERE diff_id = ?1 ORDER BY id DESC LIMIT ?2)",
                params![diff_id, MAX_SOURCES_PER_DIFF_ID],
            )
            .map_err(err)?;
            Ok(())
        })
    }

    /// The sources of `diff_id`, most recently added first (docker's `GetMetadata`, which
    /// lists them oldest first).
    pub fn blob_sources(&self, diff_id: &Digest) -> Result<Vec<BlobSourceRecord>, MetadataError> {
        self.sources_where("", diff_id, None)
    }

    /// The sources of `diff_id` in repositories of the registry `registry` (a reference domain
    /// such as `docker.io` or `localhost:5000`), most recently added first: the candidates for
    /// a cross-repository mount on a push to that registry.
    pub fn blob_sources_on(
        &self,
        diff_id: &Digest,
        registry: &str,
    ) -> Result<Vec<BlobSourceRecord>, MetadataError> {
        self.sources_where("AND registry = ?2", diff_id, Some(registry))
    }

    fn sources_where(
        &self,
        filter: &str,
        diff_id: &Digest,
        registry: Option<&str>,
    ) -> Result<Vec<BlobSourceRecord>, MetadataError> {
        let op = "read blob sources";
        self.read(op, |tx| {
            let err = |e| self.error(op, e);
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT diff_id, digest, repository, hmac, last_seen FROM blob_sources \
                     WHERE diff_id = ?1 {filter} ORDER BY id DESC"
                ))
                .map_err(err)?;
            let to_record = |row: &rusqlite::Row<'_>| {
                let hmac: String = row.get(3)?;
                Ok(BlobSourceRecord {
                    diff_id: row.get(0)?,
                    source: BlobSource {
                        digest: row.get(1)?,
                        repository: row.get(2)?,
                        hmac: (!hmac.is_empty()).then_some(hmac),
                    },
                    last_seen: from_unix(row.get(4)?),
                })
            };
            let rows = match registry {
                Some(registry) => stmt.query_map(params![diff_id, registry], to_record),
                None => stmt.query_map([diff_id], to_record),
            }
            .map_err(err)?;
            rows.collect::<Result<_, _>>().map_err(err)
        })
    }

    /// The diffID a blob digest was last recorded for (docker's `GetDiffID`).
    pub fn diff_id_of(&self, digest: &Digest) -> Result<Option<Digest>, MetadataError> {
        let op = "look up a diffID";
        self.read(op, |tx| {
            tx.query_row(
                "SELECT diff_id FROM blob_sources WHERE digest = ?1 ORDER BY id DESC LIMIT 1",
                [digest],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.error(op, e))
        })
    }

    /// Forgets `source` under every diffID (docker's `Remove`, used when a mount from it
    /// failed); returns how many records went.
    pub fn remove_blob_source(&self, source: &BlobSource) -> Result<usize, MetadataError> {
        let op = "remove a blob source";
        let hmac = source.hmac.as_deref().unwrap_or("");
        self.write(op, |tx| {
            tx.execute(
                "DELETE FROM blob_sources WHERE digest = ?1 AND repository = ?2 AND hmac = ?3",
                params![source.digest, source.repository.as_str(), hmac],
            )
            .map_err(|e| self.error(op, e))
        })
    }
}

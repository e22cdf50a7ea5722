//! Keeping the layout's `index.json` in step with the reference store, across processes and
//! crashes.
//!
//! `index.json` and `hoist.db` are two files; no commit covers both. The database is the truth
//! and `index.json` follows it, by a small outbox in the database, the `index_pending` table:
//! 1. the transaction that changes a reference (or a referenced image's manifest head) also
//!    records the reference's name in `index_pending`, and commits;
//! 2. `MetadataStore::apply_pending` then takes the write lock again and, for each pending
//!    name, writes the entry the database now says (or removes it if the reference is gone),
//!    then clears `index_pending` and commits.
//!
//! Step 2 runs under the database's write lock, so no other hoist commits between reading the
//! database and writing `index.json`: two processes moving one tag leave the file saying what
//! the last commit says. A process killed between the steps, or during step 2, leaves its names
//! pending; the next reference change in any process, or the next [`MetadataStore::open`],
//! finishes the job (step 2 is idempotent).
//!
//! Only pending names are ever removed from `index.json`. Entries that other tools wrote, and
//! entries of references the database does not know (a `hoist.db` moved aside after
//! corruption leaves a new empty one) are left alone: they still name their images for skopeo,
//! and re-tagging or re-pulling records them again. [`MetadataStore::sync_index`] additionally
//! restores the entry of any reference whose entry is missing or different (an `index.json`
//! replaced by hand or by another tool).

use std::collections::HashMap;

use rusqlite::{OptionalExtension, Transaction};

use super::{MetadataError, MetadataStore};
use crate::digest::Digest;
use crate::store::IndexEntry;

impl MetadataStore {
    /// Finishes pending `index.json` changes (see the module docs), then restores the entry of
    /// every reference whose entry is missing or names another manifest. Returns how many
    /// entries were written or removed. Takes the write lock only when there is work.
    pub fn sync_index(&self) -> Result<usize, MetadataError> {
        let op = "compare references with index.json";
        let mut changed = self.apply_pending()?;
        if self.read(op, |tx| self.stale_entries(tx))?.is_empty() {
            return Ok(changed);
        }
        changed += self.write(op, |tx| {
            let stale = self.stale_entries(tx)?;
            for entry in &stale {
                self.put_entry(entry)?;
            }
            Ok(stale.len())
        })?;
        Ok(changed)
    }

    /// Step 2 of the module docs: writes the entries of every pending name as the database
    /// says now, then clears the pending set. Returns how many names were pending.
    pub(crate) fn apply_pending(&self) -> Result<usize, MetadataError> {
        let op = "update index.json";
        if self
            .read(op, |tx| pending(tx).map_err(|e| self.error(op, e)))?
            .is_empty()
        {
            return Ok(0);
        }
        self.write(op, |tx| {
            let err = |e| self.error(op, e);
            let names = pending(tx).map_err(err)?;
            for name in &names {
                match wanted_entry(tx, name).map_err(err)? {
                    Some(entry) => self.put_entry(&entry)?,
                    None => {
                        self.content
                            .index_remove(name)
                            .map_err(|source| MetadataError::Index {
                                reference: name.clone(),
                                source,
                            })?;
                    }
                }
            }
            tx.execute("DELETE FROM index_pending", []).map_err(err)?;
            Ok(names.len())
        })
    }

    fn put_entry(&self, entry: &IndexEntry) -> Result<(), MetadataError> {
        self.content
            .index_add(entry)
            .map_err(|source| MetadataError::Index {
                reference: entry.ref_name.clone().unwrap_or_default(),
                source,
            })
    }

    /// The entries the database wants that `index.json` lacks or has differently.
    fn stale_entries(&self, tx: &Transaction<'_>) -> Result<Vec<IndexEntry>, MetadataError> {
        let op = "compare references with index.json";
        let err = |e| self.error(op, e);
        let wanted: Vec<IndexEntry> = {
            let mut stmt = tx
                .prepare(&format!("{ENTRY_SELECT} ORDER BY r.name"))
                .map_err(err)?;
            let rows = stmt.query_map([], entry_from_row).map_err(err)?;
            rows.collect::<Result<_, _>>().map_err(err)?
        };
        let present = self
            .content
            .index_manifests()
            .map_err(|source| MetadataError::Index {
                reference: "(every reference)".to_owned(),
                source,
            })?;
        let present: HashMap<&str, &IndexEntry> = present
            .iter()
            .filter_map(|e| Some((e.ref_name.as_deref()?, e)))
            .collect();
        Ok(wanted
            .into_iter()
            .filter(|w| {
                let name = w.ref_name.as_deref().unwrap_or_default();
                present.get(name) != Some(&w)
            })
            .collect())
    }
}

/// Step 1 of the module docs: marks the reference `name` for an `index.json` update.
pub(crate) fn mark_pending(tx: &Transaction<'_>, name: &str) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO index_pending (name) VALUES (?1)",
        [name],
    )
    .map(|_| ())
}

/// Marks every reference to the image `manifest_digest` (its manifest head changed).
pub(crate) fn mark_pending_for_manifest(
    tx: &Transaction<'_>,
    manifest_digest: &Digest,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO index_pending (name) \
         SELECT name FROM refs WHERE manifest_digest = ?1",
        [manifest_digest],
    )
    .map(|_| ())
}

const ENTRY_SELECT: &str = "SELECT r.name, r.manifest_digest, i.manifest_media_type, \
     i.manifest_size FROM refs r JOIN images i ON i.manifest_digest = r.manifest_digest";

fn entry_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<IndexEntry> {
    Ok(IndexEntry {
        ref_name: Some(row.get(0)?),
        digest: row.get(1)?,
        media_type: row.get(2)?,
        size: row.get(3)?,
    })
}

fn pending(tx: &Transaction<'_>) -> rusqlite::Result<Vec<String>> {
    let mut stmt = tx.prepare("SELECT name FROM index_pending ORDER BY name")?;
    let rows = stmt.query_map([], |row| row.get(0))?;
    rows.collect()
}

/// The entry the database wants for `name`, or `None` if there is no such reference.
fn wanted_entry(tx: &Transaction<'_>, name: &str) -> rusqlite::Result<Option<IndexEntry>> {
    tx.query_row(
        &format!("{ENTRY_SELECT} WHERE r.name = ?1"),
        [name],
        entry_from_row,
    )
    .optional()
}

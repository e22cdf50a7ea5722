//! Layer records: unpacked layers by chain ID, with their parent and a reference count.
//!
//! The table and typed accessors the layer store (`layers/` at the root, the layers issue) will
//! build on; it corresponds to the records of docker's `layer.Store` (`ChainID`, `DiffID`,
//! parent, size, references). The unpacking, and what counts as a reference, belong to the layer
//! store; this file only keeps the rows consistent:
//! - a layer's parent must be recorded ([`MetadataError::LayerParentMissing`]);
//! - a count never goes below zero, and a layer with references or children cannot be deleted
//!   ([`MetadataError::LayerInUse`]);
//! - each change is one transaction, so two processes counting at once lose no update;
//! - an image's hold on its layers ([`MetadataStore::hold_layers`]) is a row of
//!   `layer_holds`; triggers count holds into `ref_count`, and deleting the image record
//!   (rmi, prune) drops its holds with it, so the count cannot drift from the images.

use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::{MetadataError, MetadataStore};
use crate::digest::Digest;

/// One unpacked layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRecord {
    /// The chain ID (digest of the layer stack up to and including this layer).
    pub chain_id: Digest,
    /// The layer's own uncompressed digest.
    pub diff_id: Digest,
    /// The chain ID of the layer below, if any.
    pub parent: Option<Digest>,
    /// The unpacked size in bytes.
    pub size: u64,
    /// How many images (or other layers' users) hold it.
    pub ref_count: u64,
}

impl MetadataStore {
    /// Records `layer` if its chain ID is new and returns the record now stored: the given one,
    /// or the existing one (another process unpacked it first; its count is kept).
    pub fn insert_layer(&self, layer: &LayerRecord) -> Result<LayerRecord, MetadataError> {
        let op = "record a layer";
        self.write(op, |tx| {
            let err = |e| self.error(op, e);
            if let Some(existing) = layer_in(tx, &layer.chain_id).map_err(err)? {
                return Ok(existing);
            }
            if let Some(parent) = &layer.parent {
                if layer_in(tx, parent).map_err(err)?.is_none() {
                    return Err(MetadataError::LayerParentMissing {
                        path: self.path.clone(),
                        chain_id: layer.chain_id.clone(),
                        parent: parent.clone(),
                    });
                }
            }
            tx.execute(
                "INSERT INTO layers (chain_id, diff_id, parent, size, ref_count) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    layer.chain_id,
                    layer.diff_id,
                    layer.parent,
                    layer.size,
                    layer.ref_count
                ],
            )
            .map_err(err)?;
            Ok(layer.clone())
        })
    }

    /// The record of `chain_id`, if any.
    pub fn layer(&self, chain_id: &Digest) -> Result<Option<LayerRecord>, MetadataError> {
        let op = "read a layer";
        self.read(op, |tx| {
            layer_in(tx, chain_id).map_err(|e| self.error(op, e))
        })
    }

    /// Adds one reference to `chain_id`; returns the new count.
    pub fn acquire_layer(&self, chain_id: &Digest) -> Result<u64, MetadataError> {
        self.change_ref_count(chain_id, 1)
    }

    /// Drops one reference from `chain_id`; returns the new count. The count never goes below
    /// zero: releasing a layer nobody holds is refused ([`MetadataError::LayerInUse`] saying
    /// so), as it means a caller's bookkeeping is wrong.
    pub fn release_layer(&self, chain_id: &Digest) -> Result<u64, MetadataError> {
        self.change_ref_count(chain_id, -1)
    }

    /// Deletes the record of `chain_id`; `Ok(false)` if there was none. Refused while it has
    /// references or child layers.
    pub fn delete_layer(&self, chain_id: &Digest) -> Result<bool, MetadataError> {
        let op = "delete a layer";
        self.write(op, |tx| {
            let err = |e| self.error(op, e);
            let Some(layer) = layer_in(tx, chain_id).map_err(err)? else {
                return Ok(false);
            };
            let children: u64 = tx
                .query_row(
                    "SELECT count(*) FROM layers WHERE parent = ?1",
                    [chain_id],
                    |row| row.get(0),
                )
                .map_err(err)?;
            if layer.ref_count > 0 || children > 0 {
                return Err(MetadataError::LayerInUse {
                    path: self.path.clone(),
                    chain_id: chain_id.clone(),
                    reason: format!(
                        "{} reference(s), {children} child layer(s)",
                        layer.ref_count
                    ),
                });
            }
            tx.execute("DELETE FROM layers WHERE chain_id = ?1", [chain_id])
                .map_err(err)?;
            Ok(true)
        })
    }

    /// Makes the image `manifest_digest` hold each layer of `chain` (its chain IDs, bottom
    /// first). Idempotent: a hold that exists is kept, not counted twice. Every layer must be
    /// recorded ([`MetadataError::LayerNotFound`] otherwise) and the image too
    /// ([`MetadataError::ImageRemoved`]: another process removed it since it was recorded).
    pub fn hold_layers(
        &self,
        manifest_digest: &Digest,
        chain: &[Digest],
    ) -> Result<(), MetadataError> {
        let op = "hold an image's layers";
        self.write(op, |tx| {
            let err = |e| self.error(op, e);
            let images: i64 = tx
                .query_row(
                    "SELECT count(*) FROM images WHERE manifest_digest = ?1",
                    [manifest_digest],
                    |row| row.get(0),
                )
                .map_err(err)?;
            if images == 0 {
                return Err(MetadataError::ImageRemoved {
                    path: self.path.clone(),
                    manifest: manifest_digest.clone(),
                });
            }
            for chain_id in chain {
                if layer_in(tx, chain_id).map_err(err)?.is_none() {
                    return Err(MetadataError::LayerNotFound {
                        path: self.path.clone(),
                        chain_id: chain_id.clone(),
                    });
                }
                tx.execute(
                    "INSERT OR IGNORE INTO layer_holds (manifest_digest, chain_id) VALUES (?1, ?2)",
                    params![manifest_digest, chain_id],
                )
                .map_err(err)?;
            }
            Ok(())
        })
    }

    /// The chain IDs the image `manifest_digest` holds.
    pub fn held_layers(&self, manifest_digest: &Digest) -> Result<Vec<Digest>, MetadataError> {
        let op = "list an image's layers";
        self.read(op, |tx| {
            let err = |e| self.error(op, e);
            let mut stmt = tx
                .prepare("SELECT chain_id FROM layer_holds WHERE manifest_digest = ?1")
                .map_err(err)?;
            let rows = stmt
                .query_map([manifest_digest], |row| row.get(0))
                .map_err(err)?;
            rows.collect::<Result<_, _>>().map_err(err)
        })
    }

    /// Every layer record.
    pub fn layers(&self) -> Result<Vec<LayerRecord>, MetadataError> {
        let op = "list layers";
        self.read(op, |tx| {
            let err = |e| self.error(op, e);
            let mut stmt = tx
                .prepare(
                    "SELECT chain_id, diff_id, parent, size, ref_count FROM layers \
                     ORDER BY chain_id",
                )
                .map_err(err)?;
            let rows = stmt.query_map([], layer_from_row).map_err(err)?;
            rows.collect::<Result<_, _>>().map_err(err)
        })
    }

    /// The layers nothing holds and no other layer sits on: what garbage collection may
    /// delete now (deleting them can make their parents deletable next).
    pub fn unheld_layers(&self) -> Result<Vec<Digest>, MetadataError> {
        let op = "list unheld layers";
        self.read(op, |tx| {
            let err = |e| self.error(op, e);
            let mut stmt = tx
                .prepare(
                    "SELECT chain_id FROM layers l WHERE ref_count = 0 AND NOT EXISTS \
                     (SELECT 1 FROM layers c WHERE c.parent = l.chain_id) ORDER BY chain_id",
                )
                .map_err(err)?;
            let rows = stmt.query_map([], |row| row.get(0)).map_err(err)?;
            rows.collect::<Result<_, _>>().map_err(err)
        })
    }

    fn change_ref_count(&self, chain_id: &Digest, delta: i64) -> Result<u64, MetadataError> {
        let op = "count a layer reference";
        self.write(op, |tx| {
            let err = |e| self.error(op, e);
            let layer = layer_in(tx, chain_id).map_err(err)?.ok_or_else(|| {
                MetadataError::LayerNotFound {
                    path: self.path.clone(),
                    chain_id: chain_id.clone(),
                }
            })?;
            let count = match delta {
                d if d < 0 => layer.ref_count.checked_sub(1),
                _ => layer.ref_count.checked_add(1),
            }
            .ok_or_else(|| MetadataError::LayerInUse {
                path: self.path.clone(),
                chain_id: chain_id.clone(),
                reason: "released more times than acquired (count is already 0)".to_owned(),
            })?;
            tx.execute(
                "UPDATE layers SET ref_count = ?2 WHERE chain_id = ?1",
                params![chain_id, count],
            )
            .map_err(err)?;
            Ok(count)
        })
    }
}

fn layer_in(tx: &Transaction<'_>, chain_id: &Digest) -> rusqlite::Result<Option<LayerRecord>> {
    tx.query_row(
        "SELECT chain_id, diff_id, parent, size, ref_count FROM layers WHERE chain_id = ?1",
        [chain_id],
        layer_from_row,
    )
    .optional()
}

fn layer_from_row(row: &Row<'_>) -> rusqlite::Result<LayerRecord> {
    Ok(LayerRecord {
        chain_id: row.get(0)?,
        diff_id: row.get(1)?,
        parent: row.get(2)?,
        size: row.get(3)?,
        ref_count: row.get(4)?,
    })
}

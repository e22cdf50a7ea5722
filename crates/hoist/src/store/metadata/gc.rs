//! GC roots: the blobs that images still referenced need, so `rmi`/`prune` can delete the rest.
//!
//! A blob is a root when an image record that at least one tag or digest reference points at
//! names it: the image manifest, the config (image ID), every layer blob, and the index the
//! manifest was chosen from. An image whose last reference was removed (docker's dangling
//! image) protects nothing. Blobs shared between images are roots while any of them is
//! referenced.
//!
//! The set is read in one snapshot. It says nothing about blobs being written right now: a pull
//! commits blobs before it records the image that names them, so the collector must also spare
//! blobs younger than any pull in flight (or exclude pulls with a lock while it runs); that
//! policy belongs to gc, not to this query.
//!
//! [`MetadataStore::recorded_blobs`] is the wider set the collector (`store::gc`) sweeps
//! with: the blobs of *every* image record, referenced or not. A dangling record keeps its
//! blobs until `prune` deletes the record itself, so `docker images` style listings and
//! `inspect` of a dangling image keep working until then.

use std::collections::BTreeSet;

use super::{MetadataError, MetadataStore};
use crate::digest::Digest;

const ROOTS: &str = "
    WITH live AS (
        SELECT i.manifest_digest, i.image_id, i.index_digest FROM images i
        WHERE EXISTS (SELECT 1 FROM refs r WHERE r.manifest_digest = i.manifest_digest)
    )
    SELECT manifest_digest FROM live
    UNION SELECT image_id FROM live
    UNION SELECT index_digest FROM live WHERE index_digest IS NOT NULL
    UNION SELECT l.blob_digest FROM image_layers l JOIN live USING (manifest_digest)";

const RECORDED: &str = "
    SELECT manifest_digest FROM images
    UNION SELECT image_id FROM images
    UNION SELECT index_digest FROM images WHERE index_digest IS NOT NULL
    UNION SELECT blob_digest FROM image_layers";

impl MetadataStore {
    /// The digests of every blob reachable from a referenced image (see the module docs).
    pub fn gc_roots(&self) -> Result<BTreeSet<Digest>, MetadataError> {
        let op = "compute gc roots";
        self.read(op, |tx| {
            let err = |e| self.error(op, e);
            let mut stmt = tx.prepare(ROOTS).map_err(err)?;
            let rows = stmt.query_map([], |row| row.get(0)).map_err(err)?;
            rows.collect::<Result<_, _>>().map_err(err)
        })
    }

    /// The digests of every blob an image record names (manifest, config, layers, index),
    /// whether or not a reference points at the image.
    pub fn recorded_blobs(&self) -> Result<BTreeSet<Digest>, MetadataError> {
        let op = "list the blobs of recorded images";
        self.read(op, |tx| {
            let err = |e| self.error(op, e);
            let mut stmt = tx.prepare(RECORDED).map_err(err)?;
            let rows = stmt.query_map([], |row| row.get(0)).map_err(err)?;
            rows.collect::<Result<_, _>>().map_err(err)
        })
    }
}

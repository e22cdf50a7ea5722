//! Image records: what pull learnt about an image, so `images`, `inspect`, push and gc need not
//! re-read and re-parse manifests and configs.
//!
//! Corresponds to the part of docker's image store (`image.Store`: ID, `RootFS.DiffIDs`,
//! platform, size, created) that distribution uses, plus what docker keeps nowhere because it
//! has no content store: the manifest the image came in (digest, media type, size) and the
//! index it was chosen from.
//!
//! # Keys
//! A record is keyed by its **manifest digest**, not by its image ID: two manifests can carry
//! the same config (the same image compressed with gzip and with zstd, or as OCI and Docker
//! media types), and hoist keeps the manifest it pulled so a push re-sends the original bytes
//! (DESIGN.md principle 4). The image ID (config digest, docker's `image.ID`) is indexed for
//! lookups by ID.
//!
//! # Invariants
//! - Layers are stored in manifest order with their diffIDs in config order (pull has checked
//!   they correspond; `layers[i].diff_id` is `rootfs.diff_ids[i]`).
//! - [`MetadataStore::put_image`] replaces a record and its layers in one transaction (and the
//!   `index.json` entries of its references, should the manifest's media type or size have
//!   been corrected); a record
//!   referenced by a tag or digest reference cannot be deleted
//!   ([`MetadataError::ImageInUse`]).

use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::index_sync::mark_pending_for_manifest;
use super::{unix_now, MetadataError, MetadataStore};
use crate::digest::Digest;
use crate::media::Platform;

/// The platform an image record keeps: os, architecture and variant (not the config's
/// `os.version` and `os.features`, which the store's schema has no columns for).
pub(crate) fn recorded_platform(platform: &Platform) -> Platform {
    Platform {
        os_version: None,
        os_features: None,
        ..platform.clone()
    }
}

/// One layer of an image: the blob in the manifest and the diffID in the config. docker's
/// `PushLayer` (diffID, size, media type; its bytes opened from the content store by
/// [`crate::copy::StoreSource`], push's `PushLayerProvider`).
#[doc(alias = "PushLayer")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLayer {
    /// The uncompressed digest (the config's `rootfs.diff_ids` entry).
    pub diff_id: Digest,
    /// The blob's digest as in the manifest (compressed, usually).
    pub digest: Digest,
    /// The blob's size in bytes as in the manifest.
    pub size: u64,
    /// The blob's media type as in the manifest (gzip, zstd, uncompressed, foreign...).
    pub media_type: String,
}

/// What hoist records about one pulled (or loaded) image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    /// The image ID: the config's digest (docker's `image.ID`).
    pub image_id: Digest,
    /// The digest of the image manifest (the record's key).
    pub manifest_digest: Digest,
    /// The manifest's media type (OCI or Docker schema2; schema1 is converted by pull).
    pub manifest_media_type: String,
    /// The manifest's size in bytes.
    pub manifest_size: u64,
    /// The digest of the index / manifest list the manifest was chosen from, if any.
    pub index_digest: Option<Digest>,
    /// The image's platform as recorded: the config's `os`, `architecture` and `variant`
    /// (`os.version` and `os.features` are not recorded, so they read back as `None`).
    pub platform: Platform,
    /// The total size in bytes docker shows for the image: the sum of the layers' uncompressed
    /// sizes (docker's `Size`). Computed by the caller, which has decompressed the layers.
    pub size: u64,
    /// The config's `created` time (RFC 3339) if it has one.
    pub created: Option<String>,
    /// The layers, bottom first.
    pub layers: Vec<ImageLayer>,
}

const IMAGE_COLUMNS: &str = "manifest_digest, manifest_media_type, manifest_size, image_id, \
     index_digest, os, architecture, variant, size, created";

impl MetadataStore {
    /// Records `image`, replacing any record with the same manifest digest (and its layers),
    /// in one transaction.
    pub fn put_image(&self, image: &ImageRecord) -> Result<(), MetadataError> {
        let head_changed = self.write("record an image", |tx| {
            let err = |e| self.error("record an image", e);
            let before = manifest_head(tx, &image.manifest_digest).map_err(err)?;
            tx.execute(
                "INSERT INTO images (manifest_digest, manifest_media_type, manifest_size, \
                 image_id, index_digest, os, architecture, variant, size, created, added_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                 ON CONFLICT (manifest_digest) DO UPDATE SET \
                 manifest_media_type = ?2, manifest_size = ?3, image_id = ?4, index_digest = ?5, \
                 os = ?6, architecture = ?7, variant = ?8, size = ?9, created = ?10",
                params![
                    image.manifest_digest,
                    image.manifest_media_type,
                    image.manifest_size,
                    image.image_id,
                    image.index_digest,
                    image.platform.os,
                    image.platform.architecture,
                    image.platform.variant,
                    image.size,
                    image.created,
                    unix_now(),
                ],
            )
            .map_err(err)?;
            tx.execute(
                "DELETE FROM image_layers WHERE manifest_digest = ?1",
                [&image.manifest_digest],
            )
            .map_err(err)?;
            let mut insert = tx
                .prepare(
                    "INSERT INTO image_layers \
                     (manifest_digest, position, diff_id, blob_digest, blob_size, media_type) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(err)?;
            for (position, layer) in image.layers.iter().enumerate() {
                insert
                    .execute(params![
                        image.manifest_digest,
                        position,
                        layer.diff_id,
                        layer.digest,
                        layer.size,
                        layer.media_type,
                    ])
                    .map_err(err)?;
            }
            let head_changed = before.is_some_and(|b| {
                b.media_type != image.manifest_media_type || b.size != image.manifest_size
            });
            if head_changed {
                mark_pending_for_manifest(tx, &image.manifest_digest).map_err(err)?;
            }
            Ok(head_changed)
        })?;
        if head_changed {
            self.apply_pending()?;
        }
        Ok(())
    }

    /// The record of the image whose manifest is `manifest_digest`.
    pub fn image(&self, manifest_digest: &Digest) -> Result<Option<ImageRecord>, MetadataError> {
        self.read("read an image", |tx| {
            self.image_in(tx, manifest_digest, "read an image")
        })
    }

    /// The records whose image ID (config digest) is `image_id`, by manifest digest.
    pub fn images_by_id(&self, image_id: &Digest) -> Result<Vec<ImageRecord>, MetadataError> {
        self.read("read images by ID", |tx| {
            self.images_where(tx, "WHERE image_id = ?1", [image_id], "read images by ID")
        })
    }

    /// Every image record, most recently added first.
    pub fn images(&self) -> Result<Vec<ImageRecord>, MetadataError> {
        self.read("list images", |tx| {
            self.images_where(tx, "", (), "list images")
        })
    }

    /// Deletes the record of `manifest_digest`; `Ok(false)` if there was none. Refused with
    /// [`MetadataError::ImageInUse`] while references point at it (remove them first, as
    /// `rmi` does). The blobs stay; gc deletes what no image needs.
    pub fn delete_image(&self, manifest_digest: &Digest) -> Result<bool, MetadataError> {
        self.write("delete an image", |tx| {
            let err = |e| self.error("delete an image", e);
            let references: Vec<String> = {
                let mut stmt = tx
                    .prepare("SELECT name FROM refs WHERE manifest_digest = ?1 ORDER BY name")
                    .map_err(err)?;
                let rows = stmt
                    .query_map([manifest_digest], |row| row.get(0))
                    .map_err(err)?;
                rows.collect::<Result<_, _>>().map_err(err)?
            };
            if !references.is_empty() {
                return Err(MetadataError::ImageInUse {
                    path: self.path.clone(),
                    manifest: manifest_digest.clone(),
                    references,
                });
            }
            let deleted = tx
                .execute(
                    "DELETE FROM images WHERE manifest_digest = ?1",
                    [manifest_digest],
                )
                .map_err(err)?;
            Ok(deleted > 0)
        })
    }

    /// The manifest digests of images no reference points at (docker's dangling images),
    /// what `prune` removes.
    pub fn unreferenced_images(&self) -> Result<Vec<Digest>, MetadataError> {
        self.read("list unreferenced images", |tx| {
            let err = |e| self.error("list unreferenced images", e);
            let mut stmt = tx
                .prepare(
                    "SELECT manifest_digest FROM images i WHERE NOT EXISTS \
                     (SELECT 1 FROM refs r WHERE r.manifest_digest = i.manifest_digest) \
                     ORDER BY manifest_digest",
                )
                .map_err(err)?;
            let rows = stmt.query_map([], |row| row.get(0)).map_err(err)?;
            rows.collect::<Result<_, _>>().map_err(err)
        })
    }

    pub(crate) fn image_in(
        &self,
        tx: &Transaction<'_>,
        manifest_digest: &Digest,
        op: &'static str,
    ) -> Result<Option<ImageRecord>, MetadataError> {
        let mut found =
            self.images_where(tx, "WHERE manifest_digest = ?1", [manifest_digest], op)?;
        Ok(found.pop())
    }

    fn images_where<P: rusqlite::Params>(
        &self,
        tx: &Transaction<'_>,
        filter: &str,
        params: P,
        op: &'static str,
    ) -> Result<Vec<ImageRecord>, MetadataError> {
        let err = |e| self.error(op, e);
        let sql = format!(
            "SELECT {IMAGE_COLUMNS} FROM images {filter} ORDER BY added_at DESC, manifest_digest"
        );
        let mut images: Vec<ImageRecord> = {
            let mut stmt = tx.prepare(&sql).map_err(err)?;
            let rows = stmt.query_map(params, image_from_row).map_err(err)?;
            rows.collect::<Result<_, _>>().map_err(err)?
        };
        let mut layers = tx
            .prepare(
                "SELECT diff_id, blob_digest, blob_size, media_type FROM image_layers \
                 WHERE manifest_digest = ?1 ORDER BY position",
            )
            .map_err(err)?;
        for image in &mut images {
            let rows = layers
                .query_map([&image.manifest_digest], |row| {
                    Ok(ImageLayer {
                        diff_id: row.get(0)?,
                        digest: row.get(1)?,
                        size: row.get(2)?,
                        media_type: row.get(3)?,
                    })
                })
                .map_err(err)?;
            image.layers = rows.collect::<Result<_, _>>().map_err(err)?;
        }
        Ok(images)
    }
}

fn image_from_row(row: &Row<'_>) -> rusqlite::Result<ImageRecord> {
    Ok(ImageRecord {
        manifest_digest: row.get(0)?,
        manifest_media_type: row.get(1)?,
        manifest_size: row.get(2)?,
        image_id: row.get(3)?,
        index_digest: row.get(4)?,
        platform: Platform {
            os: row.get(5)?,
            architecture: row.get(6)?,
            variant: row.get(7)?,
            os_version: None,
            os_features: None,
        },
        size: row.get(8)?,
        created: row.get(9)?,
        layers: Vec::new(),
    })
}

/// The manifest head of a recorded image: what an `index.json` entry needs.
pub(crate) struct ManifestHead {
    pub(crate) image_id: Digest,
    pub(crate) media_type: String,
    pub(crate) size: u64,
}

pub(crate) fn manifest_head(
    tx: &Transaction<'_>,
    manifest_digest: &Digest,
) -> rusqlite::Result<Option<ManifestHead>> {
    tx.query_row(
        "SELECT image_id, manifest_media_type, manifest_size FROM images \
         WHERE manifest_digest = ?1",
        [manifest_digest],
        |row| {
            Ok(ManifestHead {
                image_id: row.get(0)?,
                media_type: row.get(1)?,
                size: row.get(2)?,
            })
        },
    )
    .optional()
}

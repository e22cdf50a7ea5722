//! The reference store: tags and digest references to recorded images, mirrored in the
//! layout's `index.json`.
//!
//! Corresponds to docker's `reference.Store` (`reference/store.go`, docker 20.10):
//! [`MetadataStore::add_tag`] is `AddTag`, [`MetadataStore::add_digest`] is `AddDigest`,
//! [`MetadataStore::delete_reference`] is `Delete`, [`MetadataStore::reference`] is `Get`,
//! [`MetadataStore::references`] is `References`, [`MetadataStore::references_by_name`] is
//! `ReferencesByName`. Kept from docker on purpose:
//! - a name-only reference means `:latest` (`TagNameOnly`) for add, get and delete;
//! - a tag that points at another image is only moved with `force`, and the refusal is docker's
//!   sentence ([`MetadataError::TagConflict`]); re-adding the same target is a no-op;
//! - a digest reference never moves, not even with `force` ("Cannot overwrite digest");
//! - a reference with both a tag and a digest is refused ("refusing to create a tag with a
//!   digest reference");
//! - lists are sorted by the familiar form (docker's `lexicalRefs`/`lexicalAssociations`).
//!
//! Unlike docker's store, which maps a reference to an image ID only, a reference here points at
//! an image **record** (its manifest digest), from which the image ID follows: hoist keeps the
//! manifest so push and `index.json` can use it. Re-pointing a tag at another manifest of the
//! same image ID needs no `force` (docker would see the same image and say nothing).
//!
//! # `index.json`
//! Every reference, tag or digest, has an entry in the layout's `index.json` for the image
//! manifest it points at (for an image pulled from an index, the platform manifest hoist has,
//! not the index whose other manifests it lacks), with the annotation
//! `org.opencontainers.image.ref.name` set to the **full canonical reference**:
//! `docker.io/library/ubuntu:22.04`, `localhost:5000/app@sha256:…`. Why the full form: one root
//! holds many repositories, so a bare tag (`22.04`, what `skopeo copy … oci:DIR:22.04` writes
//! for a single-image layout) would collide between them and could not be turned back into a
//! reference; the canonical string is unique and parses back to the same [`Reference`], so the
//! layout alone round-trips hoist's tags, and `skopeo inspect oci:ROOT:docker.io/library/ubuntu:22.04`
//! addresses one image (checked with skopeo 1.9.3 for tags, registries with ports and digest
//! references). The form fits the OCI `ref.name` grammar except where a docker tag or path
//! holds `_`, which OCI does not list as a separator; hoist writes those names anyway (skopeo
//! 1.9.3 reads them too) rather than mangle a reference it must round-trip.
//! Digest references get entries too, so an image pulled by digest alone is still reachable in
//! the layout (tools that gc a layout would otherwise delete it).
//!
//! How the file is kept in step, crash-safely and across processes, is [`super::index_sync`].

use rusqlite::{params, OptionalExtension, Transaction};

use super::images::manifest_head;
use super::index_sync::mark_pending;
use super::{MetadataError, MetadataStore};
use crate::digest::Digest;
use crate::reference::{Reference, Repository};

/// What a reference points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReferenceTarget {
    /// The image ID (config digest), docker's `image.ID`.
    pub image_id: Digest,
    /// The image manifest's digest (the image record's key).
    pub manifest_digest: Digest,
}

/// A reference and what it points at (docker's `reference.Association`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Association {
    /// The reference, tagged or digested.
    pub reference: Reference,
    /// Its target.
    pub target: ReferenceTarget,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tag,
    Digest,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Tag => "tag",
            Kind::Digest => "digest",
        }
    }
}

const ASSOCIATION_SELECT: &str = "SELECT r.name, i.image_id, r.manifest_digest \
     FROM refs r JOIN images i ON i.manifest_digest = r.manifest_digest";

impl MetadataStore {
    /// Points the tag `reference` at the recorded image whose manifest is `manifest_digest`
    /// (docker's `AddTag`). A name-only reference gets `:latest`; a reference with a digest is
    /// refused. If the tag points at another image, it is moved only when `force` is true,
    /// else [`MetadataError::TagConflict`]. The image must have been recorded with
    /// [`MetadataStore::put_image`] ([`MetadataError::ImageNotRecorded`]).
    pub fn add_tag(
        &self,
        reference: &Reference,
        manifest_digest: &Digest,
        force: bool,
    ) -> Result<(), MetadataError> {
        if reference.digest().is_some() {
            return Err(MetadataError::TagWithDigest {
                reference: reference.to_string(),
            });
        }
        let reference = reference.clone().with_default_tag();
        self.add_reference(&reference, Kind::Tag, manifest_digest, force)
    }

    /// Records the digest reference `reference` (`NAME@DIGEST`) for the recorded image whose
    /// manifest is `manifest_digest` (docker's `AddDigest`). The reference's digest is the
    /// digest the image was pulled by: the manifest's, or the index's it was chosen from. An
    /// existing digest reference to another image is never replaced
    /// ([`MetadataError::DigestConflict`]); `force` is accepted for docker's signature and
    /// changes nothing.
    pub fn add_digest(
        &self,
        reference: &Reference,
        manifest_digest: &Digest,
        force: bool,
    ) -> Result<(), MetadataError> {
        if reference.tag().is_some() {
            return Err(MetadataError::TagWithDigest {
                reference: reference.to_string(),
            });
        }
        if reference.digest().is_none() {
            return Err(MetadataError::NotADigestReference {
                reference: reference.to_string(),
            });
        }
        self.add_reference(reference, Kind::Digest, manifest_digest, force)
    }

    /// Removes `reference` (name-only means `:latest`) and its `index.json` entry (docker's
    /// `Delete`); `Ok(false)` if there was no such reference. A [`MetadataError::Index`] means
    /// the reference is gone but `index.json` could not be updated yet (see
    /// [`super::index_sync`]). The image record stays; see
    /// [`MetadataStore::unreferenced_images`].
    pub fn delete_reference(&self, reference: &Reference) -> Result<bool, MetadataError> {
        let name = reference.clone().with_default_tag().to_string();
        let op = "delete a reference";
        let deleted = self.write(op, |tx| {
            let err = |e| self.error(op, e);
            let deleted = tx
                .execute("DELETE FROM refs WHERE name = ?1", [&name])
                .map_err(err)?;
            if deleted > 0 {
                mark_pending(tx, &name).map_err(err)?;
            }
            Ok(deleted > 0)
        })?;
        if deleted {
            self.apply_pending()?;
        }
        Ok(deleted)
    }

    /// What `reference` (name-only means `:latest`) points at (docker's `Get`).
    pub fn reference(
        &self,
        reference: &Reference,
    ) -> Result<Option<ReferenceTarget>, MetadataError> {
        let name = reference.clone().with_default_tag().to_string();
        self.read("read a reference", |tx| {
            target_of(tx, &name).map_err(|e| self.error("read a reference", e))
        })
    }

    /// Every reference to the image `image_id`, whichever manifest of it they point at, sorted
    /// by familiar form (docker's `References`).
    pub fn references(&self, image_id: &Digest) -> Result<Vec<Reference>, MetadataError> {
        let found = self.associations_where("WHERE i.image_id = ?1", [image_id])?;
        Ok(found.into_iter().map(|a| a.reference).collect())
    }

    /// Every reference in `repository` with its target, sorted by familiar form (docker's
    /// `ReferencesByName`).
    pub fn references_by_name(
        &self,
        repository: &Repository,
    ) -> Result<Vec<Association>, MetadataError> {
        self.associations_where("WHERE r.repository = ?1", [repository.as_str()])
    }

    /// The index `reference`'s image came with when the reference was recorded (a pull of an
    /// index, or a copy of one into the store, records the image with the index it was chosen
    /// from; `hoist tag` takes the source image's index at that moment). `None` when the
    /// reference does not exist or named a manifest alone. Push sends an index whole only for
    /// such a reference (`copy::tagged_index`).
    pub fn reference_index(&self, reference: &Reference) -> Result<Option<Digest>, MetadataError> {
        let name = reference.clone().with_default_tag().to_string();
        self.read("read a reference", |tx| {
            tx.query_row(
                "SELECT index_digest FROM refs WHERE name = ?1",
                [&name],
                |row| row.get::<_, Option<Digest>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.error("read a reference", e))
        })
    }

    /// Every reference in the store with its target, sorted by familiar form.
    pub fn all_references(&self) -> Result<Vec<Association>, MetadataError> {
        self.associations_where("", ())
    }

    fn add_reference(
        &self,
        reference: &Reference,
        kind: Kind,
        manifest_digest: &Digest,
        force: bool,
    ) -> Result<(), MetadataError> {
        let op = "add a reference";
        let name = reference.to_string();
        let changed = self.write(op, |tx| {
            let err = |e| self.error(op, e);
            let head = manifest_head(tx, manifest_digest)
                .map_err(err)?
                .ok_or_else(|| MetadataError::ImageNotRecorded {
                    path: self.path.clone(),
                    reference: reference.to_string(),
                    manifest: manifest_digest.clone(),
                })?;
            let index = image_index(tx, manifest_digest).map_err(err)?;
            if let Some(old) = target_of(tx, &name).map_err(err)? {
                if old.manifest_digest == *manifest_digest {
                    // Same image: only the index it came with may have become known.
                    tx.execute(
                        "UPDATE refs SET index_digest = ?2 WHERE name = ?1",
                        params![name, index],
                    )
                    .map_err(err)?;
                    return Ok(false);
                }
                if let (Kind::Digest, Some(digest)) = (kind, reference.digest()) {
                    return Err(MetadataError::DigestConflict {
                        path: self.path.clone(),
                        reference: reference.to_string(),
                        digest: digest.clone(),
                    });
                }
                if old.image_id != head.image_id && !force {
                    return Err(MetadataError::TagConflict {
                        path: self.path.clone(),
                        reference: reference.to_string(),
                        existing: old.image_id,
                    });
                }
            }
            tx.execute(
                "INSERT INTO refs (name, repository, kind, manifest_digest, index_digest) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (name) DO UPDATE SET manifest_digest = ?4, index_digest = ?5",
                params![
                    name,
                    reference.repository().as_str(),
                    kind.as_str(),
                    manifest_digest,
                    index,
                ],
            )
            .map_err(err)?;
            mark_pending(tx, &name).map_err(err)?;
            Ok(true)
        })?;
        if changed {
            self.apply_pending()?;
        }
        Ok(())
    }

    fn associations_where<P: rusqlite::Params>(
        &self,
        filter: &str,
        params: P,
    ) -> Result<Vec<Association>, MetadataError> {
        let op = "list references";
        let mut found: Vec<Association> = self.read(op, |tx| {
            let err = |e| self.error(op, e);
            let mut stmt = tx
                .prepare(&format!("{ASSOCIATION_SELECT} {filter}"))
                .map_err(err)?;
            let rows = stmt
                .query_map(params, |row| {
                    Ok(Association {
                        reference: row.get(0)?,
                        target: ReferenceTarget {
                            image_id: row.get(1)?,
                            manifest_digest: row.get(2)?,
                        },
                    })
                })
                .map_err(err)?;
            rows.collect::<Result<_, _>>().map_err(err)
        })?;
        found.sort_by_cached_key(|a| a.reference.familiar());
        Ok(found)
    }
}

/// The index the image `manifest_digest` was last recorded with.
fn image_index(tx: &Transaction<'_>, manifest_digest: &Digest) -> rusqlite::Result<Option<Digest>> {
    tx.query_row(
        "SELECT index_digest FROM images WHERE manifest_digest = ?1",
        [manifest_digest],
        |row| row.get::<_, Option<Digest>>(0),
    )
    .optional()
    .map(Option::flatten)
}

fn target_of(tx: &Transaction<'_>, name: &str) -> rusqlite::Result<Option<ReferenceTarget>> {
    tx.query_row(
        "SELECT i.image_id, r.manifest_digest FROM refs r \
         JOIN images i ON i.manifest_digest = r.manifest_digest WHERE r.name = ?1",
        [name],
        |row| {
            Ok(ReferenceTarget {
                image_id: row.get(0)?,
                manifest_digest: row.get(1)?,
            })
        },
    )
    .optional()
}

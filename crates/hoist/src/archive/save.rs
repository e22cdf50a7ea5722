//! `hoist save REF…`: the images of the store as one `docker save` tarball, streamed.
//!
//! docker's `tarexporter.Save` (`image/tarexport/save.go`, docker 20.10), with its choices:
//! - **Which images** (`parseNames`): a name without tag or digest saves every tag of that
//!   repository (and, if it has none, is looked up as an image ID prefix); `NAME:TAG` saves that
//!   tag; `NAME@DIGEST`, an image ID or a unique ID prefix saves the image with no tag. Images
//!   are deduplicated by image ID, tags merged. An image without layers is refused ("empty
//!   export - not implemented").
//! - **What is written**: see [`super`]'s format; entries in lexical order of their paths (what
//!   docker's `archive.Tar` of its temporary directory gives), `0644` files and `0755`
//!   directories owned by 0:0; layer directories, their files and the config have the image's
//!   `created` time as mtime, `manifest.json` and `repositories` the Unix epoch. A diffID met a
//!   second time (a repeated layer) is a symlink `../<first v1 id>/layer.tar`, as docker
//!   writes it; a v1 directory shared by two images (a common base) is written once.
//!
//! # Streaming, and the size of a layer.tar
//! Nothing is buffered but configs and the small JSON files: each layer is read from its blob,
//! decompressed and written to the tar as it goes, so memory stays bounded whatever the image
//! size. A tar header carries the entry's size *before* the data, and the uncompressed size of
//! a compressed layer is recorded nowhere (not in the manifest, not in the image record, which
//! keeps only the total). docker 20.10 has no such problem (its layer store keeps the diffs).
//! hoist counts it with a first decompression pass to nowhere, and writes on a second pass:
//! - a temporary copy would need as much free disk as the uncompressed image, on a file system
//!   of our choosing (often a small tmpfs `/tmp`), and twice the disk traffic;
//! - decompressing twice costs CPU only (gzip inflates at several hundred MB/s with zlib-rs,
//!   zstd faster), and uncompressed blobs (loaded images) need no count at all: their blob size
//!   is the size.
//!
//! The first pass hashes what it counts and checks the diffID before anything of the layer is
//! written (a layer pulled with `--no-unpack` was verified by its digest only); the second
//! pass hashes what it writes and checks both the count and the diffID again. A mismatch (a
//! damaged store, or a blob that is not what its image's config describes) fails the save
//! with [`ArchiveError::StoredLayerMismatch`].
//!
//! The whole save holds a [`Lease`](crate::store::Lease), so garbage collection cannot delete
//! a blob being read. OCI image layout members (`oci-layout`, `index.json`, `blobs/`), which
//! docker ≥ 25 adds, are not written.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};

use serde_json::Value;
use tar::{Builder, EntryType, Header};

use super::legacy::v1_layers;
use super::{ArchiveError, ManifestItem, LAYER_FILE, MANIFEST_FILE, REPOSITORIES_FILE};
use super::{V1_JSON_FILE, VERSION_FILE};
use crate::compress::{Compression, Decoder};
use crate::digest::{diff_id_of, Algorithm, Digest, Hasher};
use crate::images::created::parse_rfc3339;
use crate::images::resolve_image;
use crate::media::{ImageConfig, LayerMediaType, MAX_CONFIG_SIZE};
use crate::reference::Reference;
use crate::store::metadata::{ImageLayer, ImageRecord};
use crate::store::{ContentStore, MetadataStore};

/// What [`save_images`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveReport {
    /// The images, in the order first named, with the tags written for each.
    pub images: Vec<SavedImage>,
}

/// One image in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedImage {
    /// Its ID (config digest).
    pub image_id: Digest,
    /// Its `RepoTags`.
    pub tags: Vec<Reference>,
}

/// Writes the images `names` designate (see the module docs) to `out` as a `docker save`
/// tarball. Blocking; on error, what was written is an incomplete archive.
pub fn save_images(
    meta: &MetadataStore,
    names: &[String],
    out: &mut dyn Write,
) -> Result<SaveReport, ArchiveError> {
    let content = meta.content();
    let _lease = content.lease()?;
    let selected = select(meta, names)?;
    let images: Vec<ArchiveImage> = selected
        .iter()
        .map(|s| ArchiveImage {
            image_id: s.record.image_id.clone(),
            layers: s.record.layers.clone(),
            tags: s.tags.clone(),
        })
        .collect();
    write_docker_archive(content, &images, out)?;
    Ok(SaveReport {
        images: selected
            .into_iter()
            .map(|s| SavedImage {
                image_id: s.record.image_id,
                tags: s.tags,
            })
            .collect(),
    })
}

/// One image to write into a docker-archive: its config (in the content store), its layer
/// blobs as stored (compressed or not: they are written uncompressed) and its `RepoTags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveImage {
    /// The config's digest (the image ID).
    pub image_id: Digest,
    /// The layers, bottom first; their diffIDs must be the config's.
    pub layers: Vec<ImageLayer>,
    /// Tagged references for `RepoTags` (none: saved by ID).
    pub tags: Vec<Reference>,
}

/// Writes `images` (blobs read from `content`) to `out` as `docker save` writes them (see the
/// module docs), in the order given. Blocking; on error, what was written is an incomplete
/// archive. [`save_images`] and the copy engine's docker-archive sink both write through it.
pub fn write_docker_archive(
    content: &ContentStore,
    images: &[ArchiveImage],
    out: &mut dyn Write,
) -> Result<(), ArchiveError> {
    let mut plan = Plan::default();
    for image in images {
        plan.add_image(content, image)?;
    }
    plan.write(content, out)
}

/// An image chosen for the archive.
struct Selected {
    record: ImageRecord,
    tags: Vec<Reference>,
}

/// docker's `parseNames`: see the module docs.
fn select(meta: &MetadataStore, names: &[String]) -> Result<Vec<Selected>, ArchiveError> {
    let mut selected: Vec<Selected> = Vec::new();
    let mut add = |record: ImageRecord, tag: Option<Reference>| {
        let index = match selected
            .iter()
            .position(|s| s.record.image_id == record.image_id)
        {
            Some(index) => index,
            None => {
                selected.push(Selected {
                    record,
                    tags: Vec::new(),
                });
                selected.len() - 1
            }
        };
        if let Some(tag) = tag.filter(|t| t.tag().is_some() && t.digest().is_none()) {
            if !selected[index].tags.contains(&tag) {
                selected[index].tags.push(tag);
            }
        }
    };
    for name in names {
        if let Ok(reference) = Reference::parse(name) {
            if reference.is_name_only() {
                let associations = meta.references_by_name(reference.repository())?;
                for association in &associations {
                    if let Some(record) = meta.image(&association.target.manifest_digest)? {
                        add(record, Some(association.reference.clone()));
                    }
                }
                if !associations.is_empty() {
                    continue;
                }
            }
        }
        let resolved = resolve_image(meta, name)?;
        add(resolved.record, resolved.reference);
    }
    Ok(selected)
}

/// What the archive will hold, by path (a `BTreeMap`: written in lexical order).
#[derive(Default)]
struct Plan {
    entries: BTreeMap<String, Entry>,
    manifest: Vec<ManifestItem>,
    /// Familiar repository name → tag → top v1 ID.
    repositories: BTreeMap<String, BTreeMap<String, String>>,
    /// First `layer.tar` written for each diffID.
    diff_id_paths: HashMap<Digest, String>,
}

enum Entry {
    Dir { mtime: u64 },
    File { bytes: Vec<u8>, mtime: u64 },
    Link { target: String, mtime: u64 },
    Layer(LayerPlan),
}

struct LayerPlan {
    digest: Digest,
    compression: Compression,
    diff_id: Digest,
    size: u64,
    mtime: u64,
}

impl Plan {
    fn add_image(
        &mut self,
        content: &ContentStore,
        image: &ArchiveImage,
    ) -> Result<(), ArchiveError> {
        let image_id = &image.image_id;
        let config_bytes = content.read_to_vec_capped(image_id, MAX_CONFIG_SIZE as u64)?;
        let config_name = format!("{}.json", image_id.hex());
        let config = ImageConfig::parse(&config_bytes).map_err(|source| ArchiveError::Config {
            name: config_name.clone(),
            source,
        })?;
        let raw: Value =
            serde_json::from_slice(&config_bytes).map_err(|source| ArchiveError::Json {
                name: config_name.clone(),
                source,
            })?;
        let diff_ids = config.diff_ids();
        if diff_ids.is_empty() {
            return Err(ArchiveError::EmptyExport {
                image_id: image_id.clone(),
            });
        }
        if diff_ids.len() != image.layers.len() {
            return Err(ArchiveError::LayerCount {
                expected: diff_ids.len(),
                actual: image.layers.len(),
            });
        }
        let mtime = config
            .created
            .as_deref()
            .and_then(parse_rfc3339)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());

        let v1 = v1_layers(&raw, diff_ids);
        let mut layer_paths = Vec::with_capacity(v1.len());
        for ((v1_layer, diff_id), stored) in v1.iter().zip(diff_ids).zip(&image.layers) {
            let dir = v1_layer.id.hex().to_owned();
            let layer_path = format!("{dir}/{LAYER_FILE}");
            layer_paths.push(layer_path.clone());
            if self.entries.contains_key(&format!("{dir}/")) {
                continue;
            }
            self.entries.insert(format!("{dir}/"), Entry::Dir { mtime });
            self.entries.insert(
                format!("{dir}/{VERSION_FILE}"),
                Entry::File {
                    bytes: b"1.0".to_vec(),
                    mtime,
                },
            );
            self.entries.insert(
                format!("{dir}/{V1_JSON_FILE}"),
                Entry::File {
                    bytes: v1_layer.json.clone(),
                    mtime,
                },
            );
            let entry = match self.diff_id_paths.get(diff_id) {
                Some(first) => Entry::Link {
                    target: format!("../{first}"),
                    mtime,
                },
                None => {
                    self.diff_id_paths
                        .insert(diff_id.clone(), layer_path.clone());
                    Entry::Layer(plan_layer(content, image_id, stored, diff_id, mtime)?)
                }
            };
            self.entries.insert(layer_path, entry);
        }

        let top = v1.last().map(|l| l.id.hex().to_owned()).unwrap_or_default();
        for tag in &image.tags {
            if let Some(t) = tag.tag() {
                self.repositories
                    .entry(tag.repository().familiar())
                    .or_default()
                    .insert(t.as_str().to_owned(), top.clone());
            }
        }
        self.entries.insert(
            config_name.clone(),
            Entry::File {
                bytes: config_bytes,
                mtime,
            },
        );
        self.manifest.push(ManifestItem {
            config: config_name,
            repo_tags: (!image.tags.is_empty())
                .then(|| image.tags.iter().map(Reference::familiar).collect()),
            layers: layer_paths,
            parent: None,
            layer_sources: None,
        });
        Ok(())
    }

    fn write(mut self, content: &ContentStore, out: &mut dyn Write) -> Result<(), ArchiveError> {
        // `json.NewEncoder(f).Encode(v)`: compact, with a trailing newline.
        let mut manifest = serde_json::to_vec(&self.manifest).unwrap_or_default();
        manifest.push(b'\n');
        self.entries.insert(
            MANIFEST_FILE.to_owned(),
            Entry::File {
                bytes: manifest,
                mtime: 0,
            },
        );
        if !self.repositories.is_empty() {
            let mut repositories = serde_json::to_vec(&self.repositories).unwrap_or_default();
            repositories.push(b'\n');
            self.entries.insert(
                REPOSITORIES_FILE.to_owned(),
                Entry::File {
                    bytes: repositories,
                    mtime: 0,
                },
            );
        }
        let mut builder = Builder::new(out);
        for (path, entry) in &self.entries {
            write_entry(&mut builder, content, path, entry)?;
        }
        builder.finish().map_err(ArchiveError::Write)?;
        builder
            .into_inner()
            .and_then(|out| out.flush())
            .map_err(ArchiveError::Write)
    }
}

/// Where a layer comes from and how big its tar is (see the module docs on the count pass).
fn plan_layer(
    content: &ContentStore,
    image_id: &Digest,
    stored: &ImageLayer,
    diff_id: &Digest,
    mtime: u64,
) -> Result<LayerPlan, ArchiveError> {
    let compression = match LayerMediaType::classify(&stored.media_type) {
        Some(t) => Compression::from(t.compression),
        None => {
            return Err(ArchiveError::UnsupportedLayer {
                image_id: image_id.clone(),
                digest: stored.digest.clone(),
                media_type: stored.media_type.clone(),
            })
        }
    };
    let size = match compression {
        Compression::None => content.size(&stored.digest)?,
        _ => {
            let blob = content.open_blob(&stored.digest)?;
            let decoder = Decoder::new(compression, blob).map_err(ArchiveError::Read)?;
            let (actual_digest, size) = diff_id_of(decoder).map_err(ArchiveError::Read)?;
            // Checked before anything of the layer is written: a layer pulled with
            // `--no-unpack` was stored by its digest, its diffID not checked yet.
            if actual_digest != *diff_id {
                return Err(ArchiveError::StoredLayerMismatch {
                    digest: stored.digest.clone(),
                    diff_id: diff_id.clone(),
                    actual_digest,
                    expected_size: size,
                    actual_size: size,
                });
            }
            size
        }
    };
    Ok(LayerPlan {
        digest: stored.digest.clone(),
        compression,
        diff_id: diff_id.clone(),
        size,
        mtime,
    })
}

pub(super) fn header(kind: EntryType, mode: u32, size: u64, mtime: u64) -> Header {
    let mut header = Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    header
}

fn write_entry(
    builder: &mut Builder<&mut dyn Write>,
    content: &ContentStore,
    path: &str,
    entry: &Entry,
) -> Result<(), ArchiveError> {
    let result = match entry {
        Entry::Dir { mtime } => {
            let mut h = header(EntryType::Directory, 0o755, 0, *mtime);
            builder.append_data(&mut h, path, io::empty())
        }
        Entry::File { bytes, mtime } => {
            let mut h = header(EntryType::Regular, 0o644, bytes.len() as u64, *mtime);
            builder.append_data(&mut h, path, bytes.as_slice())
        }
        Entry::Link { target, mtime } => {
            let mut h = header(EntryType::Symlink, 0o777, 0, *mtime);
            builder.append_link(&mut h, path, target)
        }
        Entry::Layer(layer) => return write_layer(builder, content, path, layer),
    };
    result.map_err(ArchiveError::Write)
}

/// The second pass: decompress into the tar, then check count and diffID.
fn write_layer(
    builder: &mut Builder<&mut dyn Write>,
    content: &ContentStore,
    path: &str,
    layer: &LayerPlan,
) -> Result<(), ArchiveError> {
    let blob = content.open_blob(&layer.digest)?;
    let decoder = Decoder::new(layer.compression, blob).map_err(ArchiveError::Read)?;
    let mut reader = ExactReader {
        inner: decoder,
        remaining: layer.size,
        hasher: Hasher::new(Algorithm::Sha256),
        short: false,
    };
    let mut h = header(EntryType::Regular, 0o644, layer.size, layer.mtime);
    let written = builder.append_data(&mut h, path, &mut reader);
    let mismatch = |actual_size| ArchiveError::StoredLayerMismatch {
        digest: layer.digest.clone(),
        diff_id: layer.diff_id.clone(),
        actual_digest: reader.hasher.clone().finish(),
        expected_size: layer.size,
        actual_size,
    };
    if reader.short {
        return Err(mismatch(layer.size - reader.remaining));
    }
    written.map_err(ArchiveError::Write)?;
    let extra = io::copy(&mut reader.inner, &mut io::sink()).map_err(ArchiveError::Read)?;
    if extra != 0 || reader.hasher.clone().finish() != layer.diff_id {
        return Err(mismatch(layer.size + extra));
    }
    Ok(())
}

/// Gives exactly `remaining` bytes of `inner`, hashing them; fails if `inner` ends sooner.
struct ExactReader<R> {
    inner: R,
    remaining: u64,
    hasher: Hasher,
    short: bool,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let max = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            self.short = true;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "layer ended before its counted size",
            ));
        }
        self.hasher.update(&buf[..n]);
        self.remaining -= n as u64;
        Ok(n)
    }
}

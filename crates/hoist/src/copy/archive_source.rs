//! `docker-archive:PATH[:REF]` and `oci-archive:PATH[:TAG]` as [`ImageSource`]s: [`Archive`]
//! (a tarball read once) and [`ArchiveSource`] (one image of it).
//!
//! A member's digest is known only once it was read, so a tarball is read once, in stream
//! order, by the archive format code ([`crate::archive`]'s members: path safety, links
//! resolved inside the archive only, `blobs/sha256/<hex>` checked against its name), every
//! blob spooled into a content store: a private `StagingDir` for a copy to anywhere, or the
//! local store's own content when the copy goes there (`hoist copy docker-archive:F hoist:R`),
//! so no blob is written twice. The input may itself be gzip or zstd (sniffed, as docker's
//! `DecompressStream`).
//!
//! An uncompressed archive *file* copied anywhere but the store ([`Archive::open`]) keeps its
//! layers where they are: a member too big to be a manifest or config is not spooled, and the
//! copy reads its bytes from its offset in the file — checked by the sink, as every source's
//! bytes are (a file changed in between fails the copy, it does not pass other bytes on). Its
//! data is skipped on the first read when its digest is claimed elsewhere (a `blobs/sha256/`
//! name, an uncompressed `layer.tar`'s diffID), hashed otherwise (the module docs of
//! `crate::archive::members`). A `docker save | gzip` stream has no offsets, and is spooled
//! whole as above.
//!
//! Then the images ([`Archive::entries`]):
//! - **docker-archive** (`manifest.json`, which wins when both are present, as in `load`):
//!   each entry gets the Docker schema 2 manifest `load` synthesizes (config, layers as stored
//!   — uncompressed tars keep the uncompressed media type — three-space indentation), so the
//!   same archive always gives the same manifest digest. Tags are its `RepoTags`.
//! - **oci-archive** (`index.json`): each entry of `index.json` as it is (an image or a whole
//!   index); tags from `io.containerd.image.name` or a full `org.opencontainers.image.ref.name`.
//!
//! [`Archive::select`] picks the image a location names: a docker-archive's `NAME:TAG` (in
//! `RepoTags`) or `@N` (the N-th entry), an oci-archive's TAG (its `ref.name`), or the only
//! image. The source serves only blobs and manifests that are members of the archive, so a
//! hostile `index.json` cannot reach other blobs of the content store it was spooled into.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use super::blob_file::stream_file_range;
use super::layout::{blob_path, open_blob_file, read_manifest};
use super::location::ArchiveImage;
use super::source::{BlobStream, ImageSource};
use super::staging::StagingDir;
use super::CopyError;
use crate::archive::docker::{parse_tags, synthesize};
use crate::archive::load::{decompressed, sniff};
use crate::archive::members::{
    read_members, read_members_in_place, InPlace, Members, IN_PLACE_MIN, OCI_INDEX_FILE,
};
use crate::archive::oci::tags_of;
use crate::archive::{ArchiveError, ManifestItem, MANIFEST_FILE};
use crate::compress::Compression;
use crate::digest::Digest;
use crate::media::{Descriptor, ImageIndex, Manifest};
use crate::reference::Reference;
use crate::store::layout::REF_NAME_ANNOTATION;
use crate::store::ContentStore;

/// Which of the two archive formats a location names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// `docker save`'s (`manifest.json`).
    Docker,
    /// A tarball of an OCI image layout (`index.json`).
    Oci,
}

impl ArchiveFormat {
    fn transport(self) -> &'static str {
        match self {
            ArchiveFormat::Docker => "docker-archive",
            ArchiveFormat::Oci => "oci-archive",
        }
    }
}

/// A tarball read into a content store. See the module docs.
#[derive(Debug)]
pub struct Archive {
    path: PathBuf,
    format: ArchiveFormat,
    content: ContentStore,
    members: Members,
    /// The archive file, when its layers were left in it (read in place).
    in_place: Option<Placed>,
    staging: Option<Arc<StagingDir>>,
}

/// The archive file of an archive read in place.
#[derive(Debug, Clone)]
struct Placed {
    /// The archive file, open since it was read.
    file: Arc<File>,
    /// Its path, for messages.
    path: String,
}

/// The length of `file` when it is a regular file holding an uncompressed tar (its members
/// can be read again by offset), its position back at its start; `None` otherwise.
fn plain_tar_len(file: &mut File) -> std::io::Result<Option<u64>> {
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Ok(None);
    }
    let mut head = Vec::with_capacity(4);
    Read::by_ref(file).take(4).read_to_end(&mut head)?;
    file.rewind()?;
    Ok((sniff(&head) == Compression::None).then_some(metadata.len()))
}

/// One image of an [`Archive`].
#[derive(Debug, Clone)]
pub struct ArchiveEntry {
    /// Its root: an image manifest, or (oci-archive) an index.
    pub root: Descriptor,
    /// Its tags (`RepoTags`, or the names `index.json` gives).
    pub tags: Vec<Reference>,
    /// The `org.opencontainers.image.ref.name` of an oci-archive entry.
    pub ref_name: Option<String>,
    /// The blobs and manifests it may read: members of the archive.
    members: Arc<HashSet<Digest>>,
    /// Members named like blobs that are not regular files: refused by name.
    refused: Arc<HashMap<Digest, (String, &'static str)>>,
    /// A docker-archive entry's layer members, bottom first (for messages).
    layer_names: Vec<String>,
    /// Where its blobs left in the archive file are, by digest.
    in_place: Arc<HashMap<Digest, InPlace>>,
}

impl ArchiveEntry {
    /// The member holding layer `index`, for messages.
    pub fn layer_name(&self, index: usize) -> String {
        self.layer_names
            .get(index)
            .cloned()
            .unwrap_or_else(|| format!("layer {index}"))
    }
}

impl Archive {
    /// Reads the tarball at `path` into a private staging directory — its layers left in
    /// place when it is an uncompressed file (see the module docs). Blocking.
    pub fn open(path: &Path, format: ArchiveFormat) -> Result<Archive, CopyError> {
        let location = format!("{}:{}", format.transport(), path.display());
        let staging = StagingDir::create_temporary(&location)?;
        let content = staging.content().clone();
        let mut archive = Archive::read_file(path, format, content, true)?;
        archive.staging = Some(Arc::new(staging));
        Ok(archive)
    }

    /// Reads the tarball at `path` with its blobs spooled into `content` (the local store's,
    /// under a lease the caller holds). Blocking.
    pub fn open_into(
        path: &Path,
        format: ArchiveFormat,
        content: ContentStore,
    ) -> Result<Archive, CopyError> {
        Archive::read_file(path, format, content, false)
    }

    /// Reads the file `path`; `in_place`: its layers may stay where they are, when it is a
    /// regular file holding an uncompressed tar.
    fn read_file(
        path: &Path,
        format: ArchiveFormat,
        content: ContentStore,
        in_place: bool,
    ) -> Result<Archive, CopyError> {
        let location = format!("{}:{}", format.transport(), path.display());
        let io = |action, source| CopyError::Io {
            location: location.clone(),
            action,
            path: path.display().to_string(),
            source,
        };
        let mut file = File::open(path).map_err(|e| io("open", e))?;
        let len = match in_place {
            true => plain_tar_len(&mut file).map_err(|e| io("read", e))?,
            false => None,
        };
        let Some(len) = len else {
            return Archive::read(path, format, content, BufReader::new(file));
        };
        // The members left in place are read again through a second descriptor of the same
        // open file (positioned reads), not by path: the file read is the file served.
        let shared = Arc::new(file.try_clone().map_err(|e| io("open", e))?);
        let mut archive = Archive::empty(path, format, content);
        let read = read_members_in_place(&archive.content, BufReader::new(file), len)
            .map_err(|e| archive.error(e))?;
        archive.in_place = Some(Placed {
            file: shared,
            path: path.display().to_string(),
        });
        archive.members = read;
        Ok(archive)
    }

    /// Reads the tarball `input` (named `path` in messages) into `content`. Blocking.
    pub fn read(
        path: &Path,
        format: ArchiveFormat,
        content: ContentStore,
        input: impl Read,
    ) -> Result<Archive, CopyError> {
        let mut archive = Archive::empty(path, format, content);
        let read = decompressed(input)
            .and_then(|input| read_members(&archive.content, input))
            .map_err(|e| archive.error(e))?;
        archive.members = read;
        Ok(archive)
    }

    fn empty(path: &Path, format: ArchiveFormat, content: ContentStore) -> Archive {
        Archive {
            path: path.to_owned(),
            format,
            content,
            members: Members::default(),
            in_place: None,
            staging: None,
        }
    }

    /// Reads a tarball of either format (`hoist load`): `manifest.json` makes it a
    /// docker-archive (it wins when both are present), else `index.json` an OCI layout;
    /// neither is [`ArchiveError::NotAnArchive`]. Blocking.
    pub fn read_any(
        path: &Path,
        content: ContentStore,
        input: impl Read,
    ) -> Result<Archive, CopyError> {
        let mut archive = Archive::read(path, ArchiveFormat::Docker, content, input)?;
        archive.format = if archive.members.json(MANIFEST_FILE).is_some() {
            ArchiveFormat::Docker
        } else if archive.members.json(OCI_INDEX_FILE).is_some() {
            ArchiveFormat::Oci
        } else {
            return Err(archive.error(ArchiveError::NotAnArchive));
        };
        Ok(archive)
    }

    fn location(&self) -> String {
        format!("{}:{}", self.format.transport(), self.path.display())
    }

    fn error(&self, source: ArchiveError) -> CopyError {
        CopyError::Archive {
            location: self.location(),
            source: Box::new(source),
        }
    }

    /// Every image of the archive, in its order. Blocking (a docker-archive's manifests are
    /// synthesized and stored).
    pub fn entries(&self) -> Result<Vec<ArchiveEntry>, CopyError> {
        match self.format {
            ArchiveFormat::Docker => self.docker_entries(),
            ArchiveFormat::Oci => self.oci_entries(),
        }
        .map_err(|e| self.error(e))
    }

    fn docker_entries(&self) -> Result<Vec<ArchiveEntry>, ArchiveError> {
        let Some(json) = self.members.json(MANIFEST_FILE) else {
            return Err(ArchiveError::MissingMember {
                name: MANIFEST_FILE.to_owned(),
                what: "a docker-archive's list of images".to_owned(),
            });
        };
        let items: Vec<ManifestItem> =
            serde_json::from_slice(json).map_err(|source| ArchiveError::Json {
                name: MANIFEST_FILE.to_owned(),
                source,
            })?;
        let mut entries = Vec::with_capacity(items.len());
        for (n, item) in items.iter().enumerate() {
            let tags = parse_tags(item)?;
            let image = synthesize(&self.content, &self.members, n, item)?;
            let mut members: HashSet<Digest> = image
                .layers
                .iter()
                .map(|(_, info, _)| info.digest.clone())
                .collect();
            members.insert(image.config.digest.clone());
            members.insert(image.manifest.digest.clone());
            entries.push(ArchiveEntry {
                root: image.manifest,
                tags,
                ref_name: None,
                members: Arc::new(members),
                refused: Arc::default(),
                layer_names: image
                    .layers
                    .iter()
                    .map(|(name, _, _)| name.clone())
                    .collect(),
                in_place: Arc::new(image.in_place),
            });
        }
        Ok(entries)
    }

    fn oci_entries(&self) -> Result<Vec<ArchiveEntry>, ArchiveError> {
        let Some(json) = self.members.json(OCI_INDEX_FILE) else {
            return Err(ArchiveError::MissingMember {
                name: OCI_INDEX_FILE.to_owned(),
                what: "an OCI layout's list of images".to_owned(),
            });
        };
        let index: ImageIndex = match Manifest::parse("", json) {
            Ok(Manifest::Index(index)) => index,
            Ok(_) => {
                return Err(ArchiveError::Json {
                    name: OCI_INDEX_FILE.to_owned(),
                    source: serde::de::Error::custom("not an image index"),
                })
            }
            Err(source) => {
                return Err(ArchiveError::Manifest {
                    digest: Digest::sha256_of(json),
                    source: Box::new(source),
                })
            }
        };
        let members: Arc<HashSet<Digest>> = Arc::new(
            self.members
                .oci_blobs()
                .map(|info| info.digest.clone())
                .collect(),
        );
        let in_place = Arc::new(self.members.placed().clone());
        let refused: Arc<HashMap<_, _>> = Arc::new(
            self.members
                .oci_non_regular()
                .map(|(digest, name, kind)| (digest, (name, kind)))
                .collect(),
        );
        Ok(index
            .manifests
            .into_iter()
            .map(|root| ArchiveEntry {
                tags: tags_of(&root.annotations),
                ref_name: root.annotations.get(REF_NAME_ANNOTATION).cloned(),
                root,
                members: Arc::clone(&members),
                refused: Arc::clone(&refused),
                layer_names: Vec::new(),
                in_place: Arc::clone(&in_place),
            })
            .collect())
    }

    /// The image `which` names (a docker-archive's `NAME:TAG` in `RepoTags` or `@N`), or the
    /// only image, as a source.
    pub fn select(&self, which: Option<&ArchiveImage>) -> Result<ArchiveSource, CopyError> {
        let entries = self.entries()?;
        let count = entries.len();
        let not_found = |reference: String| CopyError::NotFound {
            location: self.location(),
            reference,
            source: None,
        };
        let entry = match which {
            Some(ArchiveImage::Index(n)) => entries
                .into_iter()
                .nth(*n)
                .ok_or_else(|| not_found(format!("@{n} (the archive holds {count} images)")))?,
            Some(ArchiveImage::Tagged(reference)) => entries
                .into_iter()
                .find(|e| e.tags.contains(reference))
                .ok_or_else(|| not_found(reference.familiar()))?,
            None if count == 1 => entries
                .into_iter()
                .next()
                .ok_or_else(|| not_found("(the only image)".to_owned()))?,
            None => {
                return Err(CopyError::Location {
                    input: self.location(),
                    reason: format!(
                        "the archive holds {count} images: name one with {}:PATH:REF{}",
                        self.format.transport(),
                        if self.format == ArchiveFormat::Docker {
                            " or :@N"
                        } else {
                            ""
                        }
                    ),
                })
            }
        };
        let location = match which {
            Some(ArchiveImage::Index(n)) => format!("{}:@{n}", self.location()),
            Some(ArchiveImage::Tagged(r)) => format!("{}:{}", self.location(), r.familiar()),
            None => self.location(),
        };
        Ok(self.source(&entry, location))
    }

    /// The source of one entry, named `location` in messages.
    pub fn source(&self, entry: &ArchiveEntry, location: String) -> ArchiveSource {
        ArchiveSource {
            location,
            content: self.content.clone(),
            in_place: self.in_place.clone(),
            entry: entry.clone(),
            _staging: self.staging.clone(),
        }
    }

    /// The oci-archive entry whose `ref.name` is `tag` (not a full reference).
    pub fn select_tag(&self, tag: &str) -> Result<ArchiveSource, CopyError> {
        let entry = self
            .entries()?
            .into_iter()
            .find(|e| e.ref_name.as_deref() == Some(tag))
            .ok_or_else(|| CopyError::NotFound {
                location: self.location(),
                reference: tag.to_owned(),
                source: None,
            })?;
        Ok(self.source(&entry, format!("{}:{tag}", self.location())))
    }
}

/// One image of an archive. See the module docs.
#[derive(Debug, Clone)]
pub struct ArchiveSource {
    location: String,
    content: ContentStore,
    /// The archive file, when its layers were left in it (read in place).
    in_place: Option<Placed>,
    entry: ArchiveEntry,
    /// Keeps the staging directory until the last source is dropped.
    _staging: Option<Arc<StagingDir>>,
}

impl ArchiveSource {
    /// The image's tags in the archive.
    pub fn tags(&self) -> &[Reference] {
        &self.entry.tags
    }

    /// The archive file and where the blob `descriptor` is in it, when it was left in place.
    fn placed(&self, descriptor: &Descriptor) -> Option<(&Placed, InPlace)> {
        let placed = self.in_place.as_ref()?;
        Some((placed, *self.entry.in_place.get(&descriptor.digest)?))
    }

    fn member(&self, descriptor: &Descriptor) -> Result<(), CopyError> {
        if self.entry.members.contains(&descriptor.digest) {
            return Ok(());
        }
        if let Some((name, kind)) = self.entry.refused.get(&descriptor.digest) {
            return Err(CopyError::Archive {
                location: self.location.clone(),
                source: Box::new(ArchiveError::NotRegularMember {
                    name: name.clone(),
                    kind,
                }),
            });
        }
        Err(CopyError::NotFound {
            location: self.location.clone(),
            reference: format!("blob {} (not a member of the archive)", descriptor.digest),
            source: None,
        })
    }
}

impl ImageSource for ArchiveSource {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn resolve(&self) -> BoxFuture<'_, Result<Descriptor, CopyError>> {
        Box::pin(async { Ok(self.entry.root.clone()) })
    }

    fn manifest<'a>(
        &'a self,
        descriptor: &'a Descriptor,
    ) -> BoxFuture<'a, Result<Bytes, CopyError>> {
        Box::pin(async move {
            self.member(descriptor)?;
            if let Some((_, place)) = self.placed(descriptor) {
                // Left in the archive: bigger than any manifest hoist reads.
                return Err(CopyError::Archive {
                    location: self.location.clone(),
                    source: Box::new(ArchiveError::MemberTooLarge {
                        name: format!("blobs/{}", descriptor.digest.as_str().replace(':', "/")),
                        size: place.size,
                        max: IN_PLACE_MIN - 1,
                    }),
                });
            }
            read_manifest(
                self.content.root().to_owned(),
                self.location.clone(),
                descriptor,
            )
            .await
        })
    }

    fn open_blob<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        offset: u64,
    ) -> BoxFuture<'a, Result<BlobStream, CopyError>> {
        Box::pin(async move {
            self.member(descriptor)?;
            if let Some((placed, place)) = self.placed(descriptor) {
                return Ok(stream_file_range(
                    self.location.clone(),
                    placed.path.clone(),
                    Arc::clone(&placed.file),
                    place.offset.saturating_add(offset),
                    place.size.saturating_sub(offset),
                ));
            }
            open_blob_file(
                self.content.root().to_owned(),
                self.location.clone(),
                descriptor.digest.clone(),
                offset,
            )
            .await
        })
    }

    fn blob_file(&self, descriptor: &Descriptor) -> Result<Option<PathBuf>, CopyError> {
        self.member(descriptor)?;
        if self.placed(descriptor).is_some() {
            // A part of the archive file, not a file of its own: read through `open_blob`.
            return Ok(None);
        }
        Ok(Some(blob_path(self.content.root(), &descriptor.digest)))
    }
}

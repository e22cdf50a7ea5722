//! `hoist load` as a copy: every image of a `docker save` tarball (or of an OCI layout
//! tarball) copied from its [`Archive`] into the store's [`StoreSink`], which records it
//! exactly as `hoist pull` and `hoist copy … hoist:REF` do. docker's `tarexporter.Load`
//! (`image/tarexport/load.go`, docker 20.10).
//!
//! # Steps
//! 1. The input (possibly gzip or zstd, sniffed) is read once, in stream order; every blob is
//!    spooled straight into the store's content (under a [`Lease`](crate::store::Lease), so
//!    garbage collection cannot take blobs not yet referenced), so the copy finds them all
//!    present and moves no byte again. `manifest.json` makes it a docker-archive (it wins when
//!    both are present), else `index.json` an OCI layout, else
//!    [`ArchiveError::NotAnArchive`].
//! 2. Each image, in archive order, is copied into a [`StoreSink`] that does not unpack
//!    (what `load` always did; `export` and push work from blobs): a docker-archive entry by
//!    the Docker schema 2 manifest synthesized from it (the same archive gives the same
//!    manifest digest), an OCI entry by its manifest as it is; from an index, the manifest of
//!    this host's platform, as docker loads it. The sink checks the diffIDs against the config
//!    (a mismatch is [`ArchiveError::DiffIdMismatch`]) and records the image, the tag with
//!    `force` (docker's `setLoadedTag`) and its digest reference, as pull records them; an
//!    image with several tags is copied once per tag (the second copy moves nothing), an
//!    untagged one into [`StoreSink::untagged`].
//! 3. A tag that pointed at another image before moves, and [`LoadEvent::Renamed`] says so.
//!
//! A failure leaves the images before it loaded (docker's `load` also records image by
//! image) and nothing of the failing one: the sink records nothing unless every check passed.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use super::archive_source::{Archive, ArchiveEntry};
use super::{copy, CopyError, CopyOptions, RecordError, StoreSink};
use crate::archive::{ArchiveError, LoadEvent, LoadReport, LoadedImage};
use crate::media::{ManifestKind, Platform};
use crate::progress::NoProgress;
use crate::reference::Reference;
use crate::store::MetadataStore;

/// Loads the archive read from `input` (see the module docs). Blocking (runs the copies on
/// a thread of its own, so it may be called from async code too).
pub fn load_archive(meta: &MetadataStore, input: impl Read) -> Result<LoadReport, ArchiveError> {
    let content = meta.content().clone();
    let _lease = content.lease()?;
    let archive =
        Archive::read_any(Path::new("(input)"), content.clone(), input).map_err(from_copy)?;
    let entries = archive.entries().map_err(from_copy)?;
    let metadata = Arc::new(MetadataStore::open(&content)?);
    let mut report = LoadReport {
        images: Vec::new(),
        events: Vec::new(),
    };
    for (n, entry) in entries.iter().enumerate() {
        load_one(&archive, n, entry, &metadata, &mut report)?;
    }
    Ok(report)
}

/// Step 2 and 3 for one image.
fn load_one(
    archive: &Archive,
    n: usize,
    entry: &ArchiveEntry,
    metadata: &Arc<MetadataStore>,
    report: &mut LoadReport,
) -> Result<(), ArchiveError> {
    let source = archive.source(entry, format!("image {n} of the archive"));
    let is_index =
        ManifestKind::from_media_type(&entry.root.media_type).is_some_and(|k| k.is_index());
    let options = CopyOptions {
        platform: is_index.then(Platform::host),
        ..CopyOptions::default()
    };
    let tags: Vec<Option<&Reference>> = match entry.tags.as_slice() {
        [] => vec![None],
        tags => tags.iter().map(Some).collect(),
    };
    let mut loaded: Option<LoadedImage> = None;
    for tag in tags {
        let before = match tag {
            Some(tag) => metadata.reference(tag)?.map(|old| old.image_id),
            None => None,
        };
        let sink = match tag {
            Some(tag) => StoreSink::open(Arc::clone(metadata), tag),
            None => StoreSink::untagged(Arc::clone(metadata)),
        }
        .map_err(from_copy)?
        .without_unpack();
        let outcome = block_on(copy(&source, &sink, &entry.root, &options, &NoProgress))
            .map_err(|e| from_copy(e).with_member_names(entry))?;
        let Some(record) = metadata.image(&outcome.root.digest)? else {
            return Err(ArchiveError::from(CopyError::interrupted(format!(
                "image {} was not recorded",
                outcome.root.digest
            ))));
        };
        let image = loaded.get_or_insert_with(|| LoadedImage {
            image_id: record.image_id.clone(),
            manifest_digest: record.manifest_digest.clone(),
            tags: Vec::new(),
        });
        match tag {
            Some(tag) => {
                if let Some(old_image_id) = before.filter(|old| *old != record.image_id) {
                    report.events.push(LoadEvent::Renamed {
                        reference: tag.clone(),
                        old_image_id,
                    });
                }
                image.tags.push(tag.clone());
                report.events.push(LoadEvent::Tagged(tag.clone()));
            }
            None => report
                .events
                .push(LoadEvent::Untagged(record.image_id.clone())),
        }
    }
    report.images.extend(loaded);
    Ok(())
}

/// Runs `work` to completion on a current-thread runtime of a scoped thread.
fn block_on<T: Send>(
    work: impl std::future::Future<Output = Result<T, CopyError>> + Send,
) -> Result<T, CopyError> {
    let joined = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| CopyError::interrupted(format!("cannot start a runtime: {e}")))?
                    .block_on(work)
            })
            .join()
    });
    // A panic of the copy is passed on as it is.
    joined.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// The archive error inside a copy error, or the copy error itself.
fn from_copy(e: CopyError) -> ArchiveError {
    match e {
        CopyError::Archive { source, .. } => *source,
        other => ArchiveError::from(other),
    }
}

impl ArchiveError {
    /// A diffID mismatch found by the store sink, as `load` words it (docker's "invalid
    /// diffID for layer N"), naming the layer's member; any other error as it is.
    fn with_member_names(self, entry: &ArchiveEntry) -> ArchiveError {
        let ArchiveError::Copy(copy) = &self else {
            return self;
        };
        let CopyError::Record { source, .. } = copy.as_ref() else {
            return self;
        };
        let RecordError::LayersDontMatchConfig { expected, actual } = source.as_ref() else {
            return self;
        };
        let mismatch = expected
            .iter()
            .zip(actual)
            .enumerate()
            .find_map(|(index, (want, got))| match got {
                Some(got) if got != want => Some((index, want.clone(), got.clone())),
                _ => None,
            });
        match mismatch {
            Some((index, expected, actual)) => ArchiveError::DiffIdMismatch {
                index,
                name: entry.layer_name(index),
                expected,
                actual,
            },
            None if expected.len() != actual.len() => ArchiveError::LayerCount {
                expected: expected.len(),
                actual: actual.len(),
            },
            None => self,
        }
    }
}

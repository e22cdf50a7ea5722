//! Garbage collection: deleting what no image needs any more — dangling image records,
//! unreferenced blobs and stale ingests.
//!
//! Docker deletes an image's layers when `ImageDelete` (`docker rmi`) removes its last
//! reference, and `docker image prune` (`ImagesPrune`) deletes dangling images. containerd's
//! collector is mark-and-sweep from roots. hoist does the latter, once, for both commands:
//! [`collect_garbage`] runs under the store's exclusive [`GcLock`](super::GcLock) and
//! 1. (when asked, for `prune`) deletes the image records no reference points at (docker's
//!    dangling images);
//! 2. **marks** the roots: every blob an image record names
//!    ([`MetadataStore::recorded_blobs`]: manifest, config, layers, index), plus everything
//!    reachable from the layout's `index.json` by the one descriptor walk
//!    ([`crate::media::Walker`], lenient) — its manifests, and through them configs, layers,
//!    subjects and child manifests — so entries other tools wrote (or that a `hoist.db` moved
//!    aside after corruption no longer knows) keep their images, as skopeo and umoci expect.
//!    Except **referrers** (OCI 1.1; untagged entries whose manifest has a `subject`, as
//!    `hoist copy` and `oras` record them in a layout): a referrer lives as long as its
//!    subject, as containerd keeps referrers through their subject's gc labels. Referrers
//!    whose subject is marked (or recorded) are walked, then theirs, and so on; the others
//!    — left by `rmi` or `prune` of their image — are removed from `index.json`, so their
//!    blobs are swept and `discover` no longer lists them (a cycle of referrers keeps
//!    nothing alive). **Signatures attached by tag** (entries named `sha256-HEX.sig`, as
//!    `copy::layout_signatures` keeps cosign's `.sig` manifests) are treated alike, their
//!    subject being the digest their name says: kept, with their payloads, exactly as long
//!    as that manifest, and their entry removed with it;
//! 3. **sweeps** `blobs/<algorithm>/*`: every blob not marked is deleted;
//! 4. deletes the unpacked layers no image record holds any more, then stale `layers/.tmp-*`
//!    and record-less layer directories ([`sweep_layers`]);
//! 5. deletes ingests older than [`GcOptions::ingest_max_age`] (default 24 h, from `started`
//!    in `meta.json`) whose lock nobody holds — a pull killed long ago will not resume them —
//!    and, whatever their age, every idle spool (nothing resumes a spool, see
//!    [`spool`](super::spool)) and every idle ingest of a blob already stored (a writer killed
//!    between the rename into `blobs/` and the removal of its directory). This step runs
//!    first, so such an ingest goes even when step 3 then deletes its blob.
//!
//! 6. deletes the root's temporary files (`.tmp-PID-…`, an `index.json` being replaced) whose
//!    process is gone: a writer killed between writing one and renaming it.
//!
//! # Safety against concurrent writers
//! A pull commits blobs before it records the image that names them. Writers hold a
//! [`Lease`](super::Lease) while they write, and collection takes the exclusive lock, so it
//! waits for every running writer (or, with [`GcOptions::wait`] false, gives up at once) and no
//! writer starts while it runs: no blob is swept between its commit and its reference. Ingests
//! are additionally checked with their own lock, so even a writer without a lease keeps its
//! partial data.
//!
//! # Crash safety
//! Every step is idempotent: deleting a blob file that is already gone counts as nothing, and a
//! collection killed half-way leaves only blobs the next collection deletes. Image records are
//! deleted in their own transactions before the sweep, so a blob is never deleted while a
//! record still names it. Files under `blobs/` whose names are not digests are left alone.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::layers::sweep_layers;
use super::layout::{BLOBS_DIR, INGEST_DIR, TEMP_PREFIX};
use super::spool::SPOOL_PREFIX;
use super::{
    ingest_lock, ContentStore, IndexEntry, LocalStoreError, MetadataError, MetadataStore,
    StoreError,
};
use crate::digest::{Algorithm, Digest};
use crate::media::{Descriptor, Referrer, WalkLimits, Walker, MAX_MANIFEST_SIZE};
use crate::trust::sigstore::attachments::subject_of_tag;

/// How old an abandoned ingest must be before collection deletes it by default: 24 hours.
pub const DEFAULT_INGEST_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// How deep collection follows index → manifest links from `index.json` (indexes of indexes),
/// and the largest blob it reads as a manifest.
const LIMITS: WalkLimits = WalkLimits {
    max_depth: 8,
    max_manifest_size: MAX_MANIFEST_SIZE as u64,
};

/// What a collection does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcOptions {
    /// Delete the records of images no reference points at first (`prune`); `rmi` leaves
    /// other dangling images alone, as docker's does.
    pub remove_unreferenced_images: bool,
    /// Ingests whose first attempt began longer ago than this are deleted.
    pub ingest_max_age: Duration,
    /// Wait for running writers (`true`), or return `Ok(None)` at once while one holds a lease.
    pub wait: bool,
}

impl Default for GcOptions {
    /// What `hoist prune` does: dangling images too, 24 h ingests, waiting for writers.
    fn default() -> Self {
        GcOptions {
            remove_unreferenced_images: true,
            ingest_max_age: DEFAULT_INGEST_MAX_AGE,
            wait: true,
        }
    }
}

/// What a collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Image IDs whose records were all deleted (dangling images), in deletion order.
    pub deleted_images: Vec<Digest>,
    /// Blobs deleted from `blobs/`.
    pub blobs_removed: usize,
    /// Their total size in bytes.
    pub blob_bytes: u64,
    /// Unpacked layers deleted (chain IDs), top layers first.
    pub layers_removed: Vec<Digest>,
    /// Temporary or orphaned layer directories deleted.
    pub layer_dirs_removed: usize,
    /// Stale ingests deleted.
    pub ingests_removed: usize,
    /// The bytes their partial data held.
    pub ingest_bytes: u64,
    /// Referrers whose subject was gone, removed from `index.json`.
    pub referrers_removed: usize,
    /// Signature entries (`sha256-HEX.sig`) whose image was gone, removed from `index.json`.
    pub signatures_removed: usize,
}

impl GcReport {
    /// All the bytes freed (docker's "Total reclaimed space").
    pub fn reclaimed(&self) -> u64 {
        self.blob_bytes.saturating_add(self.ingest_bytes)
    }
}

/// Why a collection stopped. What it had deleted until then stays deleted (see the module
/// docs); running it again finishes the job.
#[derive(Debug, thiserror::Error)]
#[error("garbage collection failed")]
pub struct GcError(#[source] pub LocalStoreError);

impl<E: Into<LocalStoreError>> From<E> for GcError {
    fn from(e: E) -> GcError {
        GcError(e.into())
    }
}

/// Collects garbage in the store of `meta` as the module docs describe. `Ok(None)` only when
/// `options.wait` is false and a writer holds a lease. Blocking: call from a blocking thread.
pub fn collect_garbage(
    meta: &MetadataStore,
    options: &GcOptions,
) -> Result<Option<GcReport>, GcError> {
    let content = meta.content();
    let _lock = if options.wait {
        content.lock_for_gc()?
    } else {
        match content.try_lock_for_gc()? {
            Some(lock) => lock,
            None => return Ok(None),
        }
    };
    let mut report = GcReport::default();
    if options.remove_unreferenced_images {
        report.deleted_images = delete_dangling_images(meta)?;
    }
    // Ingests first: one left beside a stored blob is recognised as finished even when the
    // sweep below deletes that blob.
    sweep_ingests(content, options.ingest_max_age, &mut report)?;
    let mut roots = meta.recorded_blobs()?;
    let from_layout = layout_roots(content, &roots, &mut report)?;
    roots.extend(from_layout);
    sweep_blobs(content, &roots, &mut report)?;
    let layers = sweep_layers(meta)?;
    report.layers_removed = layers.removed;
    report.layer_dirs_removed = layers.stale_dirs;
    sweep_temp_files(content.root())?;
    tracing::debug!(?report, "garbage collected");
    Ok(Some(report))
}

/// Deletes every unreferenced image record; returns the image IDs left with no record.
fn delete_dangling_images(meta: &MetadataStore) -> Result<Vec<Digest>, MetadataError> {
    let mut touched: Vec<Digest> = Vec::new();
    for manifest in meta.unreferenced_images()? {
        let Some(record) = meta.image(&manifest)? else {
            continue;
        };
        match meta.delete_image(&manifest) {
            Ok(_) => {}
            // Referenced again since the list was read (a writer without a lease): keep it.
            Err(MetadataError::ImageInUse { .. }) => continue,
            Err(e) => return Err(e),
        }
        if !touched.contains(&record.image_id) {
            touched.push(record.image_id);
        }
    }
    let mut deleted = Vec::new();
    for image_id in touched {
        if meta.images_by_id(&image_id)?.is_empty() {
            deleted.push(image_id);
        }
    }
    Ok(deleted)
}

/// Every blob reachable from `index.json`: its manifests and, through them, configs, layers,
/// subjects and child manifests, by the one walk ([`Walker`]), lenient: any JSON with
/// `config`, `layers`, `manifests`, `subject` or schema 1 `fsLayers` keeps what it names, so
/// an artifact or a format hoist does not pull still keeps its blobs; an absent, oversized or
/// unreadable manifest keeps only itself. Referrers are walked only while their subject is
/// kept (by this walk or by `recorded`); the entries of the others are removed (module docs).
fn layout_roots(
    content: &ContentStore,
    recorded: &BTreeSet<Digest>,
    report: &mut GcReport,
) -> Result<BTreeSet<Digest>, StoreError> {
    let (mut referrers, entries) = split_referrers(content, content.index_manifests()?)?;
    let mut marked = walk_from(content, entries)?;
    loop {
        let (alive, waiting): (Vec<_>, Vec<_>) = referrers
            .into_iter()
            .partition(|(_, subject, _)| marked.contains(subject) || recorded.contains(subject));
        referrers = waiting;
        if alive.is_empty() {
            break;
        }
        marked.extend(walk_from(
            content,
            alive.into_iter().map(|(d, _, _)| d).collect(),
        )?);
    }
    let mut orphans = BTreeSet::new();
    for (descriptor, _, name) in referrers {
        match name {
            Some(name) => {
                if content.index_remove(&name)? {
                    report.signatures_removed += 1;
                }
            }
            None => {
                orphans.insert(descriptor.digest);
            }
        }
    }
    if !orphans.is_empty() {
        report.referrers_removed = content.index_remove_untagged(&orphans)?;
    }
    Ok(marked)
}

/// An `index.json` entry that lives as long as its subject, with the subject's digest: an
/// untagged referrer (no name), or a signature entry (its name, `sha256-HEX.sig`).
type ReferrerEntry = (Descriptor, Digest, Option<String>);

/// The untagged entries of `index.json` that are referrers and the signature entries, each
/// with its subject's digest; and every other entry (a manifest that cannot be read is no
/// referrer: it keeps itself).
fn split_referrers(
    content: &ContentStore,
    entries: Vec<IndexEntry>,
) -> Result<(Vec<ReferrerEntry>, Vec<Descriptor>), StoreError> {
    let mut referrers = Vec::new();
    let mut others = Vec::new();
    for entry in entries {
        let descriptor = Descriptor::new(&entry.media_type, entry.digest.clone(), entry.size);
        if let Some(subject) = entry.ref_name.as_deref().and_then(subject_of_tag) {
            referrers.push((descriptor, subject, entry.ref_name.clone()));
            continue;
        }
        if entry.ref_name.is_none() {
            match content.read_to_vec_capped(&entry.digest, LIMITS.max_manifest_size) {
                Ok(bytes) => {
                    if let Some(referrer) = Referrer::of(&descriptor, &bytes) {
                        referrers.push((descriptor, referrer.subject.digest, None));
                        continue;
                    }
                }
                Err(StoreError::NotFound { .. } | StoreError::TooLarge { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        others.push(descriptor);
    }
    Ok((referrers, others))
}

/// Every blob the walk from `roots` reaches (see [`layout_roots`]).
fn walk_from(
    content: &ContentStore,
    roots: Vec<Descriptor>,
) -> Result<BTreeSet<Digest>, StoreError> {
    let mut walker = Walker::new(roots, LIMITS).lenient();
    while let Some(next) = walker.next_manifest() {
        match content.read_to_vec_capped(&next.digest, LIMITS.max_manifest_size) {
            Ok(bytes) => {
                if let Err(e) = walker.visit(bytes.into()) {
                    // A lenient walk refuses nothing; were it to, the manifest still counts.
                    tracing::warn!(error = %e, "garbage collection could not follow a manifest");
                }
            }
            // Absent (e.g. the other platforms of an index) or too large to be a manifest.
            Err(StoreError::NotFound { .. } | StoreError::TooLarge { .. }) => walker.skip(),
            Err(e) => return Err(e),
        }
    }
    let mut marked = BTreeSet::new();
    for node in walker.finish() {
        let children = node.children;
        marked.extend(children.blobs().map(|d| d.digest.clone()));
        marked.extend(children.subject.map(|d| d.digest));
        marked.extend(children.fs_layers);
        marked.insert(node.descriptor.digest);
    }
    Ok(marked)
}

/// Deletes every blob under `blobs/` that is not in `roots`.
fn sweep_blobs(
    content: &ContentStore,
    roots: &BTreeSet<Digest>,
    report: &mut GcReport,
) -> Result<(), StoreError> {
    let blobs = content.root().join(BLOBS_DIR);
    for (algorithm_dir, name) in list_dir(&blobs)? {
        let Some(algorithm) = Algorithm::from_name(&name) else {
            continue;
        };
        for (path, hex) in list_dir(&algorithm_dir)? {
            let Ok(digest) = Digest::from_hex(algorithm, &hex) else {
                continue;
            };
            if roots.contains(&digest) {
                continue;
            }
            let size = match fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_file() => meta.len(),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io("inspect", &path, e)),
            };
            match fs::remove_file(&path) {
                Ok(()) => {
                    report.blobs_removed += 1;
                    report.blob_bytes += size;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("delete", &path, e)),
            }
        }
    }
    Ok(())
}

/// Deletes the ingests no writer holds that are older than `max_age`, or that nothing will
/// resume: spools, and ingests of blobs already stored.
fn sweep_ingests(
    content: &ContentStore,
    max_age: Duration,
    report: &mut GcReport,
) -> Result<(), StoreError> {
    let now = SystemTime::now();
    for (dir, name) in list_dir(&content.root().join(INGEST_DIR))? {
        if !dir.is_dir() {
            continue;
        }
        let Some(idle) = ingest_lock::lock_idle(&dir)? else {
            continue;
        };
        let age = idle
            .started
            .map_or(Duration::MAX, |t| now.duration_since(t).unwrap_or_default());
        let finished = name.starts_with(SPOOL_PREFIX)
            || Digest::from_hex(Algorithm::Sha256, &name)
                .is_ok_and(|digest| content.has(&digest).unwrap_or(false));
        if age > max_age || finished {
            report.ingests_removed += 1;
            report.ingest_bytes += idle.bytes;
            idle.remove();
        }
    }
    Ok(())
}

/// Deletes the files `.tmp-PID-…` of `root` whose process PID is no longer running. A live
/// PID (or one reused since) keeps its file; the next collection looks again.
fn sweep_temp_files(root: &Path) -> Result<(), StoreError> {
    for (path, name) in list_dir(root)? {
        let pid = name
            .strip_prefix(TEMP_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok());
        let Some(pid) = pid else { continue };
        if process_is_running(pid) || !path.is_file() {
            continue;
        }
        match fs::remove_file(&path) {
            Ok(()) => {
                tracing::debug!(path = %path.display(), "removed a dead writer's temporary file")
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("remove", &path, e)),
        }
    }
    Ok(())
}

/// Whether a process `pid` exists (`kill(pid, 0)`; "not permitted" means it does).
pub(crate) fn process_is_running(pid: i32) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(pid) else {
        return false;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

/// The entries of `dir` as (path, name); empty if `dir` does not exist.
fn list_dir(dir: &Path) -> Result<Vec<(std::path::PathBuf, String)>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("list", dir, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("list", dir, e))?;
        if let Ok(name) = entry.file_name().into_string() {
            found.push((entry.path(), name));
        }
    }
    Ok(found)
}

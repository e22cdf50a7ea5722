//! An ingest written in parts: [`IngestParts`], the handle the parallel range fetch writes
//! each part through at its offset (`pwrite`), and `parts.json`, the record of the parts
//! complete on disk that lets a rerun after a kill fetch only the missing ones.
//!
//! ```text
//! ingest/<hex>/parts.json  {"digest", "size", "done": [[start, end], …]}  (end exclusive)
//! ```
//!
//! How it fits the ingest's life (see [`super::ingest`]):
//! - The ingest still hashes its `data` file in order from byte zero. The parts are written
//!   ahead of that hash by [`IngestParts::write_at`]; the pipeline thread then takes each
//!   complete prefix into the hash with [`Ingest::read_placed`](super::Ingest::read_placed)
//!   (reading it back from the page cache), so the digest is still computed in one pass and
//!   still checked once, at commit.
//! - A part counts as complete only once its bytes are synced ([`IngestParts::complete`]
//!   syncs the data, then rewrites `parts.json` atomically), so after a kill or a power loss
//!   every span `parts.json` names holds the bytes that were received.
//! - A resumed ingest with a valid `parts.json` rebuilds its hash over the complete prefix
//!   only (`resume_point`) — the rest of `data` may have holes — and the fetch asks only
//!   for the spans not named. A `parts.json` that cannot be read, or names another blob or
//!   size, makes the data worthless: it is truncated.
//! - Giving up on parts ([`IngestParts::abandon`]: the registry ignores `Range`, a mirror
//!   misbehaves) cuts `data` back to the prefix already hashed and removes `parts.json`, so
//!   the one-stream download that follows continues an ordinary ingest. Writes still in
//!   flight when it happens are refused, never written after the cut.
//!
//! Commit, discard and reset remove `parts.json` with the rest of the ingest.

use std::fs::{self, File};
use std::io::{self, IoSlice};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};

use serde::{Deserialize, Serialize};

use super::layout::write_json_atomically;
use super::StoreError;
use crate::digest::Digest;
use crate::transfer::Spans;

/// The record of complete parts, beside `data`.
pub(super) const PARTS_FILE: &str = "parts.json";

#[derive(Serialize, Deserialize)]
struct PartsRecord {
    digest: String,
    size: u64,
    done: Vec<[u64; 2]>,
}

/// Where a resumed ingest stands, from its `parts.json`.
#[derive(Debug)]
pub(super) enum ResumePoint {
    /// No record: `data` is a plain prefix of the blob, as long as the file.
    Stream,
    /// A valid record: these spans are complete; the hash covers their prefix only.
    Parts(Spans),
    /// A record that does not fit this blob: `data` must be truncated.
    Discard,
}

/// Reads `dir/parts.json` for the blob `digest` of `size` bytes.
pub(super) fn resume_point(dir: &Path, digest: &Digest, size: Option<u64>) -> ResumePoint {
    let path = dir.join(PARTS_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return ResumePoint::Stream,
        Err(_) => return ResumePoint::Discard,
    };
    let Ok(record) = serde_json::from_slice::<PartsRecord>(&bytes) else {
        return ResumePoint::Discard;
    };
    let fits = record.digest == digest.as_str()
        && Some(record.size) == size
        && record
            .done
            .iter()
            .all(|[start, end]| start < end && *end <= record.size);
    if !fits {
        return ResumePoint::Discard;
    }
    ResumePoint::Parts(Spans::from_ranges(
        record.done.iter().map(|[start, end]| *start..*end),
    ))
}

/// Removes `dir/parts.json` (the ingest is an ordinary one again, or gone).
pub(super) fn remove_record(dir: &Path) -> Result<(), StoreError> {
    let path = dir.join(PARTS_FILE);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io("remove", path, e)),
    }
}

/// Writes the parts of one blob into its ingest, from any number of threads. Cheap to clone.
/// See the module docs.
#[derive(Debug, Clone)]
pub struct IngestParts {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    file: File,
    data_path: PathBuf,
    dir: PathBuf,
    digest: Digest,
    size: u64,
    /// `true` once abandoned; writers hold it shared, [`IngestParts::abandon`] exclusively.
    abandoned: RwLock<bool>,
    done: Mutex<Spans>,
}

impl IngestParts {
    /// The parts handle of an ingest: `file` is its `data` (another descriptor of it).
    pub(super) fn new(
        file: File,
        data_path: PathBuf,
        dir: PathBuf,
        digest: Digest,
        size: u64,
        done: Spans,
    ) -> IngestParts {
        IngestParts {
            shared: Arc::new(Shared {
                file,
                data_path,
                dir,
                digest,
                size,
                abandoned: RwLock::new(false),
                done: Mutex::new(done),
            }),
        }
    }

    /// The blob's size.
    pub fn size(&self) -> u64 {
        self.shared.size
    }

    /// The spans complete on disk (synced and recorded).
    pub fn done(&self) -> Spans {
        self.shared
            .done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Writes `bufs`, one after the other, at `offset` of the blob (`pwritev`: the network's
    /// chunks go to the file without being gathered first). Bytes past the blob's size are
    /// refused ([`StoreError::SizeExceeded`]), as is every write after
    /// [`IngestParts::abandon`]. Blocking.
    pub fn write_at<B: AsRef<[u8]>>(&self, offset: u64, bufs: &[B]) -> Result<(), StoreError> {
        let shared = &self.shared;
        let len: u64 = bufs.iter().map(|b| b.as_ref().len() as u64).sum();
        if offset.saturating_add(len) > shared.size {
            return Err(StoreError::SizeExceeded {
                digest: shared.digest.clone(),
                path: shared.data_path.clone(),
                expected: shared.size,
            });
        }
        let _live = self.live()?;
        let mut slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b.as_ref())).collect();
        let mut left = &mut slices[..];
        let mut at = offset;
        while !left.is_empty() {
            match rustix::io::pwritev(&shared.file, left, at) {
                Ok(0) => {
                    let e = io::ErrorKind::WriteZero.into();
                    return Err(StoreError::io("write", &shared.data_path, e));
                }
                Ok(n) => {
                    at += n as u64;
                    IoSlice::advance_slices(&mut left, n);
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(StoreError::io("write", &shared.data_path, e.into())),
            }
        }
        Ok(())
    }

    /// Records `range` as complete: syncs the data, then rewrites `parts.json`. Blocking.
    pub fn complete(&self, range: Range<u64>) -> Result<(), StoreError> {
        let shared = &self.shared;
        shared
            .file
            .sync_data()
            .map_err(|e| StoreError::io("sync", &shared.data_path, e))?;
        let _live = self.live()?;
        let mut done = shared.done.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = done.clone();
        next.insert(range);
        let record = PartsRecord {
            digest: shared.digest.as_str().to_owned(),
            size: shared.size,
            done: next.ranges().iter().map(|r| [r.start, r.end]).collect(),
        };
        write_json_atomically(&shared.dir, &shared.dir.join(PARTS_FILE), &record)?;
        *done = next;
        Ok(())
    }

    /// Gives up on parts: refuses every later write, cuts `data` to its first `keep` bytes
    /// (the prefix the ingest's hash already covers, or will once it reads what it was told
    /// of) and removes `parts.json`. Blocking.
    pub fn abandon(&self, keep: u64) -> Result<(), StoreError> {
        let shared = &self.shared;
        let mut abandoned = shared
            .abandoned
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *abandoned = true;
        shared
            .file
            .set_len(keep)
            .map_err(|e| StoreError::io("truncate", &shared.data_path, e))?;
        remove_record(&shared.dir)
    }

    /// A shared hold on the parts not being abandoned, for as long as a write takes; an
    /// error once they were.
    fn live(&self) -> Result<RwLockReadGuard<'_, bool>, StoreError> {
        let abandoned = self
            .shared
            .abandoned
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if *abandoned {
            return Err(StoreError::io(
                "write",
                &self.shared.data_path,
                io::Error::other("the parallel fetch of this blob was given up"),
            ));
        }
        Ok(abandoned)
    }
}

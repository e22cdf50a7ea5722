//! Ingests: partial writes into the content store, hashed as written, committed only when the
//! digest matches, and resumable after a crash.
//!
//! The model is containerd's local content writer (`core/content/local/writer.go`): an ingest
//! is keyed by the *expected* digest, lives under `ingest/<hex>/` of the root, and `Commit`
//! verifies size and digest before an atomic rename into `blobs/`. This is how hoist keeps
//! DESIGN.md's principle 2, "nothing unverified is stored".
//!
//! # On disk
//! ```text
//! ingest/<hex>/lock        flock(2) target; its holder is the only writer of this digest
//! ingest/<hex>/meta.json   {"digest", "expected_size", "started"} (unix seconds; not fsynced:
//!                          a crash may lose it, and the ingest then counts as started anew)
//! ingest/<hex>/data        the bytes received so far
//! ingest/<hex>/parts.json  only while a big blob is fetched in parts: the spans complete
//!                          (see [`super::ingest_parts`])
//! ```
//!
//! # Life of an ingest
//! 1. [`ContentStore::begin`] returns at once an ingest that [`is_present`](Ingest::is_present)
//!    if the blob is already stored. Otherwise it takes the exclusive lock (waiting, or failing
//!    with [`StoreError::Locked`] in `try_begin`), and checks again: the writer it waited for
//!    may just have committed the blob, in which case the caller sees it present and fetches
//!    nothing.
//! 2. If `data` exists (a process was killed mid-download), it is re-read through a fresh
//!    [`Hasher`] to rebuild the hash state, and [`Ingest::offset`] reports its length so the
//!    caller can ask for `Range: bytes=OFFSET-`. [`Ingest::reset`] starts over (a registry that
//!    answers 200 instead of 206). An ingest written in parts is re-read only over the prefix
//!    its `parts.json` says is complete; [`Ingest::parts`] hands the fetch the rest of the
//!    record.
//! 3. Bytes are written unbuffered to `data` and fed to the hasher in the same call, so the
//!    hash always covers exactly the bytes in the file. Writing past a known expected size
//!    discards the data ([`StoreError::SizeExceeded`]): a registry cannot fill the disk.
//!    Every 8 MiB the write-back of what was written is started (`super::writeback`).
//!    A blob fetched in parts is written by [`IngestParts`] at the parts' offsets instead, and
//!    taken into the hash in order with [`Ingest::read_placed`] as its prefix completes.
//! 4. [`Ingest::commit`] checks the size, fsyncs `data`, compares digests, makes the file
//!    read-only, renames it to `blobs/<alg>/<hex>` and fsyncs that directory, then removes the
//!    ingest directory. A digest mismatch deletes the data and returns [`StoreError::Mismatch`].
//!
//! # Concurrency
//! The lock file is removed when an ingest finishes, so a waiter may wake up holding a lock on
//! a file that no longer has a name. After every lock the holder therefore checks that the
//! path still names the inode it locked, and starts over otherwise; two writers can never both
//! believe they own `ingest/<hex>/`. A finishing writer deletes its own files while still
//! holding the lock and removes the directory last, ignoring "not empty" (a newcomer is
//! already there).
//!
//! # Failures
//! A process killed at any instant leaves either a resumable ingest or a complete blob: the
//! rename is the commit point. Disk full (`ENOSPC`/`EDQUOT`) surfaces as
//! [`StoreError::DiskFull`] naming the file, and leaves the ingest resumable: a failed
//! `write(2)` writes nothing, and the hash only ever sees bytes that were written. After a
//! power loss `data` may end in garbage the kernel had not flushed; the digest check at commit
//! catches that, so the worst case is one re-download.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::ingest_lock::{acquire, remove_ingest_dir, IngestLock};
use super::ingest_parts::{remove_record, resume_point, IngestParts, ResumePoint};
use super::layout::{sync_dir, write_json_unsynced, INGEST_DIR};
use super::lock::Wait;
use super::writeback::Writeback;
use super::{BlobInfo, ContentStore, StoreError};
use crate::digest::{Digest, Hasher};
use crate::transfer::Spans;

/// Mode of a partial download: not even readable by others while its bytes are unverified.
pub(crate) const INGEST_FILE_MODE: u32 = 0o600;
/// Mode of a committed blob: read-only (its name is its content), behind the private root.
const BLOB_FILE_MODE: u32 = 0o444;

pub(super) const META_FILE: &str = "meta.json";
pub(super) const DATA_FILE: &str = "data";

/// Read buffer used to rebuild the hash of a resumed ingest.
const REHASH_BUFFER: usize = 1 << 20;

/// A write in progress of one blob, keyed by its expected digest. See the module docs.
///
/// Dropping an ingest without committing keeps its data for a later [`ContentStore::begin`]
/// to resume, and releases the lock.
#[derive(Debug)]
pub struct Ingest {
    expected: Digest,
    expected_size: Option<u64>,
    blob_path: PathBuf,
    state: State,
}

#[derive(Debug)]
enum State {
    /// The blob is already in the store; nothing to write.
    Present { size: u64 },
    /// This ingest holds the lock and writes `data`.
    Writing(Box<Writing>),
}

#[derive(Debug)]
struct Writing {
    lock: IngestLock,
    dir: PathBuf,
    data_path: PathBuf,
    data: File,
    hasher: Hasher,
    offset: u64,
    started: SystemTime,
    /// The spans `parts.json` recorded complete when the ingest was opened, if it has one.
    parts: Option<Spans>,
    /// The file position is behind `offset`: bytes were taken with `read_placed`, which
    /// reads at an offset. The next sequential write seeks first.
    position_behind: bool,
    writeback: Writeback,
}

#[derive(Serialize, Deserialize)]
pub(super) struct IngestMeta {
    digest: String,
    #[serde(default)]
    expected_size: Option<u64>,
    /// Unix seconds when the first attempt began.
    pub(super) started: u64,
}

pub(super) fn begin(
    store: &ContentStore,
    expected: &Digest,
    expected_size: Option<u64>,
    wait: Wait,
) -> Result<Ingest, StoreError> {
    let blob_path = store.path_of(expected);
    // A blob in the store is its digest's content, so a descriptor giving another size is
    // wrong, and an image naming it must not be recorded as if it were whole.
    let present = |size| match expected_size {
        Some(want) if want != size => Err(StoreError::WrongSize {
            digest: expected.clone(),
            expected: want,
            actual: size,
        }),
        _ => Ok(Ingest {
            expected: expected.clone(),
            expected_size,
            blob_path: blob_path.clone(),
            state: State::Present { size },
        }),
    };
    if let Some(size) = stored_size(&blob_path)? {
        return present(size);
    }
    let dir = store.root().join(INGEST_DIR).join(expected.hex());
    let lock = acquire(&dir, expected, wait)?;
    // Checked again under the lock: the writer we waited for may have committed it.
    if let Some(size) = stored_size(&blob_path)? {
        remove_ingest_dir(&dir, lock);
        return present(size);
    }
    let writing = Writing::open(dir, lock, expected, expected_size)?;
    Ok(Ingest {
        expected: expected.clone(),
        expected_size,
        blob_path,
        state: State::Writing(Box::new(writing)),
    })
}

fn stored_size(blob_path: &Path) -> Result<Option<u64>, StoreError> {
    match fs::metadata(blob_path) {
        Ok(meta) => Ok(Some(meta.len())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io("inspect", blob_path, e)),
    }
}

impl Writing {
    /// Opens or resumes `dir/data` under the held lock.
    fn open(
        dir: PathBuf,
        lock: IngestLock,
        expected: &Digest,
        expected_size: Option<u64>,
    ) -> Result<Writing, StoreError> {
        let meta_path = dir.join(META_FILE);
        let started = read_meta(&meta_path)
            .filter(|meta| meta.digest == expected.as_str())
            .map(|meta| UNIX_EPOCH + Duration::from_secs(meta.started))
            .unwrap_or_else(SystemTime::now);
        let meta = IngestMeta {
            digest: expected.as_str().to_owned(),
            expected_size,
            started: started
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        // Not fsynced: lost in a crash, the next attempt reads no record and starts its clock
        // anew (the data file and its parts record are what resume).
        write_json_unsynced(&dir, &meta_path, &meta)?;

        let data_path = dir.join(DATA_FILE);
        let data = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(INGEST_FILE_MODE)
            .open(&data_path)
            .map_err(|e| StoreError::io("open", &data_path, e))?;
        let mut writing = Writing {
            lock,
            dir,
            data_path,
            data,
            hasher: Hasher::new(expected.algorithm()),
            offset: 0,
            started,
            parts: None,
            position_behind: false,
            writeback: Writeback::default(),
        };
        match resume_point(&writing.dir, expected, expected_size) {
            ResumePoint::Stream => writing.rehash(u64::MAX)?,
            ResumePoint::Parts(spans) => {
                // Past the prefix the file may have holes: only the prefix is a prefix.
                writing.rehash(spans.prefix())?;
                if writing.offset == spans.prefix() {
                    writing.parts = Some(spans);
                } else {
                    // Shorter than its record says (changed behind hoist's back).
                    writing.truncate()?;
                }
            }
            ResumePoint::Discard => writing.truncate()?,
        }
        if expected_size.is_some_and(|size| writing.offset > size) {
            // Longer than the blob can be: not a prefix of it, so worthless.
            writing.truncate()?;
        }
        Ok(writing)
    }

    /// Rebuilds hash and offset from the first `limit` bytes `data` holds, leaving the file
    /// position at the end of what was read.
    fn rehash(&mut self, limit: u64) -> Result<(), StoreError> {
        self.data
            .seek(SeekFrom::Start(0))
            .map_err(|e| StoreError::io("seek", &self.data_path, e))?;
        // A new download's file is empty: no buffer to zero for it (a 50-layer pull made 50).
        let held = self.data.metadata().map(|m| m.len().min(limit));
        let held = held.map_err(|e| StoreError::io("inspect", &self.data_path, e))?;
        if held == 0 {
            return Ok(());
        }
        let mut buf =
            vec![0u8; usize::try_from(held).map_or(REHASH_BUFFER, |n| n.min(REHASH_BUFFER))];
        loop {
            let want = usize::try_from(limit - self.offset).map_or(buf.len(), |n| n.min(buf.len()));
            let n = match self.data.read(&mut buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StoreError::io("read", &self.data_path, e)),
            };
            self.hasher.update(&buf[..n]);
            self.offset += n as u64;
        }
        Ok(())
    }

    fn truncate(&mut self) -> Result<(), StoreError> {
        // The record first: spans it names must never outlive their bytes.
        remove_record(&self.dir)?;
        self.parts = None;
        self.data
            .set_len(0)
            .and_then(|()| self.data.seek(SeekFrom::Start(0)).map(drop))
            .map_err(|e| StoreError::io("truncate", &self.data_path, e))?;
        self.hasher = Hasher::new(self.hasher.algorithm());
        self.offset = 0;
        self.position_behind = false;
        Ok(())
    }

    /// One `write(2)`: the bytes it accepted are hashed and counted, nothing else.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.position_behind {
            // One stream goes on where the bytes placed by parts end.
            self.data.seek(SeekFrom::Start(self.offset))?;
            self.position_behind = false;
        }
        let n = self.data.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.offset += n as u64;
        self.writeback.wrote(&self.data, self.offset);
        Ok(n)
    }

    /// Removes the ingest after a failure that makes its data worthless.
    fn discard(self) {
        // Truncating through the open file first means the bytes are gone even if the unlink
        // below were to fail.
        if let Err(e) = self.data.set_len(0) {
            tracing::warn!(path = %self.data_path.display(), error = %e, "cannot truncate ingest");
        }
        drop(self.data);
        remove_ingest_dir(&self.dir, self.lock);
    }
}

pub(super) fn read_meta(path: &Path) -> Option<IngestMeta> {
    let bytes = fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

impl Ingest {
    /// The digest this ingest must produce.
    pub fn digest(&self) -> &Digest {
        &self.expected
    }

    /// The expected size given to `begin`, if any.
    pub fn expected_size(&self) -> Option<u64> {
        self.expected_size
    }

    /// Whether the blob is already in the store (found by `begin`, possibly after waiting for
    /// another writer). Such an ingest accepts no bytes and commits as a no-op.
    pub fn is_present(&self) -> bool {
        matches!(self.state, State::Present { .. })
    }

    /// Bytes written so far, including those left by an interrupted earlier writer: resume
    /// the download with `Range: bytes=OFFSET-`. For a present blob, its size.
    pub fn offset(&self) -> u64 {
        match &self.state {
            State::Present { size } => *size,
            State::Writing(w) => w.offset,
        }
    }

    /// When the first attempt at this ingest began (`None` for a present blob).
    pub fn started(&self) -> Option<SystemTime> {
        match &self.state {
            State::Present { .. } => None,
            State::Writing(w) => Some(w.started),
        }
    }

    /// Reads back the first [`offset`](Self::offset) bytes: what an interrupted earlier
    /// writer left, so a consumer of the stream (the download pipeline's decompressor) can
    /// catch up before the resumed bytes arrive. For a present blob, the blob.
    pub fn read_written(&self) -> Result<io::Take<File>, StoreError> {
        let path = self.data_path();
        let file = File::open(&path).map_err(|e| StoreError::io("open", &path, e))?;
        Ok(file.take(self.offset()))
    }

    /// The handle a fetch in parts writes through (see [`super::ingest_parts`]), with the
    /// spans an interrupted earlier writer completed. `None` for a present blob or one of
    /// unknown size.
    pub fn parts(&self) -> Result<Option<IngestParts>, StoreError> {
        let (State::Writing(w), Some(size)) = (&self.state, self.expected_size) else {
            return Ok(None);
        };
        let file = w
            .data
            .try_clone()
            .map_err(|e| StoreError::io("open", &w.data_path, e))?;
        let mut done = w.parts.clone().unwrap_or_default();
        // What the hash covers is complete too (an ordinary ingest's prefix).
        done.insert(0..w.offset);
        Ok(Some(IngestParts::new(
            file,
            w.data_path.clone(),
            w.dir.clone(),
            self.expected.clone(),
            size,
            done,
        )))
    }

    /// Takes bytes that [`IngestParts`] already placed in the file at the current
    /// [`offset`](Self::offset) into the hash, up to `upto` (the end of the complete prefix),
    /// copying them into `buf` for a consumer of the stream. Returns how many; 0 once the
    /// offset reached `upto`.
    pub fn read_placed(&mut self, buf: &mut [u8], upto: u64) -> Result<usize, StoreError> {
        let w = match &mut self.state {
            State::Present { .. } => return Ok(0),
            State::Writing(w) => w,
        };
        let want =
            usize::try_from(upto.saturating_sub(w.offset)).map_or(buf.len(), |n| n.min(buf.len()));
        if want == 0 {
            return Ok(0);
        }
        let n = loop {
            match std::os::unix::fs::FileExt::read_at(&w.data, &mut buf[..want], w.offset) {
                Ok(0) => {
                    return Err(StoreError::io(
                        "read back",
                        &w.data_path,
                        io::ErrorKind::UnexpectedEof.into(),
                    ))
                }
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(StoreError::io("read back", &w.data_path, e)),
            }
        };
        w.hasher.update(&buf[..n]);
        w.offset += n as u64;
        w.position_behind = true;
        Ok(n)
    }

    /// Drops what was written and starts from byte zero (the registry ignored `Range` and
    /// answered 200 with the whole blob). A no-op for a present blob.
    pub fn reset(&mut self) -> Result<(), StoreError> {
        match &mut self.state {
            State::Present { .. } => Ok(()),
            State::Writing(w) => w.truncate(),
        }
    }

    /// Writes all of `bytes`. Like [`std::io::Write::write_all`] but with the store's error.
    pub fn write_chunk(&mut self, mut bytes: &[u8]) -> Result<(), StoreError> {
        while !bytes.is_empty() {
            match self.write_some(bytes) {
                Ok(0) => {
                    return Err(StoreError::io(
                        "write",
                        self.data_path(),
                        io::ErrorKind::WriteZero.into(),
                    ))
                }
                Ok(n) => bytes = &bytes[n..],
                Err(StoreError::Io { source, .. })
                    if source.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn write_some(&mut self, buf: &[u8]) -> Result<usize, StoreError> {
        let w = match &mut self.state {
            State::Present { .. } => {
                return Err(StoreError::AlreadyPresent {
                    digest: self.expected.clone(),
                    path: self.blob_path.clone(),
                })
            }
            State::Writing(w) => w,
        };
        if let Some(expected) = self.expected_size {
            if w.offset.saturating_add(buf.len() as u64) > expected {
                w.truncate()?;
                return Err(StoreError::SizeExceeded {
                    digest: self.expected.clone(),
                    path: w.data_path.clone(),
                    expected,
                });
            }
        }
        w.write(buf)
            .map_err(|e| StoreError::io("write", &w.data_path, e))
    }

    fn data_path(&self) -> PathBuf {
        match &self.state {
            State::Present { .. } => self.blob_path.clone(),
            State::Writing(w) => w.data_path.clone(),
        }
    }

    /// Verifies and stores the blob: see the module docs. On [`StoreError::Mismatch`] and
    /// [`StoreError::SizeExceeded`] the data is gone; on [`StoreError::Incomplete`] and
    /// [`StoreError::DiskFull`] it stays for a later `begin` to resume.
    pub fn commit(self) -> Result<BlobInfo, StoreError> {
        let mut w = match self.state {
            State::Present { size } => {
                return Ok(BlobInfo {
                    digest: self.expected,
                    size,
                })
            }
            State::Writing(w) => w,
        };
        if let Some(expected) = self.expected_size {
            if w.offset < expected {
                return Err(StoreError::Incomplete {
                    digest: self.expected,
                    path: w.data_path.clone(),
                    written: w.offset,
                    expected,
                });
            }
        }
        w.data
            .sync_all()
            .map_err(|e| StoreError::io("sync", &w.data_path, e))?;
        let actual =
            std::mem::replace(&mut w.hasher, Hasher::new(self.expected.algorithm())).finish();
        if actual != self.expected {
            let path = w.data_path.clone();
            w.discard();
            return Err(StoreError::Mismatch {
                expected: self.expected,
                actual,
                path,
            });
        }
        let size = w.offset;
        if stored_size(&self.blob_path)?.is_none() {
            publish(&w, &self.blob_path)?;
        }
        remove_ingest_dir(&w.dir, w.lock);
        Ok(BlobInfo {
            digest: self.expected,
            size,
        })
    }

    /// Commits a complete file that already hashes to this ingest's digest (a [`Spool`]'s
    /// data, verified by its own hasher), instead of bytes written here: under this ingest's
    /// lock, the file is made read-only and renamed into `blobs/`, and the ingest directory
    /// (with any stale partial data) removed. For a present blob the file is left alone and
    /// the caller removes it. `file` must be on the store's file system (it is: spools live
    /// in `ingest/`).
    ///
    /// [`Spool`]: super::spool::Spool
    pub(super) fn adopt(self, file: &File, path: &Path, size: u64) -> Result<BlobInfo, StoreError> {
        let w = match self.state {
            State::Present { size } => {
                return Ok(BlobInfo {
                    digest: self.expected,
                    size,
                })
            }
            State::Writing(w) => w,
        };
        publish_file(file, path, &self.blob_path)?;
        remove_ingest_dir(&w.dir, w.lock);
        Ok(BlobInfo {
            digest: self.expected,
            size,
        })
    }

    /// Gives up on this blob: deletes what was written and the ingest directory.
    pub fn abort(self) {
        if let State::Writing(w) = self.state {
            w.discard();
        }
    }

    /// Test hook: swap the data file (e.g. for `/dev/full` to provoke ENOSPC).
    #[cfg(test)]
    pub(super) fn replace_data_file_for_test(&mut self, file: File) {
        if let State::Writing(w) = &mut self.state {
            w.data = file;
        }
    }
}

/// The commit point: read-only, rename into `blobs/`, fsync the directory.
fn publish(w: &Writing, blob_path: &Path) -> Result<(), StoreError> {
    publish_file(&w.data, &w.data_path, blob_path)
}

/// [`publish`] for any complete, synced file of the store's file system.
fn publish_file(data: &File, data_path: &Path, blob_path: &Path) -> Result<(), StoreError> {
    let blob_dir = blob_path.parent().unwrap_or(blob_path);
    // `blobs/sha256` exists from `open`; `blobs/sha512` appears with its first blob.
    fs::create_dir_all(blob_dir).map_err(|e| StoreError::io("create", blob_dir, e))?;
    data.set_permissions(Permissions::from_mode(BLOB_FILE_MODE))
        .map_err(|e| StoreError::io("make read-only", data_path, e))?;
    fs::rename(data_path, blob_path)
        .map_err(|e| StoreError::io("rename into place", blob_path, e))?;
    sync_dir(blob_dir)
}

impl Write for Ingest {
    /// Writes to the ingest. Errors carry a [`StoreError`] (recover it with
    /// [`StoreError::from_io_error`]); disk full has kind `StorageFull`.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_some(buf)
            .map_err(|e| io::Error::new(e.io_kind(), e))
    }

    /// Nothing to flush: writes go straight to the file.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

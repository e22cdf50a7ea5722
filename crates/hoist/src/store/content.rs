//! The content store: verified blobs at `blobs/<algorithm>/<hex>`, addressed by digest.
//!
//! Corresponds to docker's `distribution.ContentStore` and containerd's local content store
//! (`core/content/local/store.go`): reads by digest, writes only through an [`Ingest`] that is
//! committed against an expected digest (see [`super::ingest`]). A file under `blobs/` is
//! therefore always complete and always hashes to its name; nothing else in hoist writes there.
//!
//! Committed blobs are made read-only (mode `0444`, as containerd does) as a guard against a
//! stray writer; deleting them (gc) only needs the directory to be writable.
//!
//! The API is synchronous (`std::fs`): async callers run it on blocking threads
//! (`tokio::task::spawn_blocking`), as DESIGN.md's "threads for CPU" principle has it for
//! hashing anyway. [`ContentStore`] is a cheap handle (a path) and can be cloned into them.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::ingest::{self, Ingest};
use super::layout::{self, BLOBS_DIR};
use super::lock::Wait;
use super::StoreError;
use crate::digest::Digest;

/// A blob known to be in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// Its digest (also its name).
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// The local content store at one root (an OCI image layout plus `ingest/`).
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    /// Opens the store at `root`, creating the layout if it is missing (`oci-layout`,
    /// `index.json` with no manifests, `blobs/sha256/`, `ingest/`). A root that is a file, a
    /// non-empty directory that is not a layout, or a layout of another version is refused with
    /// [`StoreError::NotAStore`] or [`StoreError::InvalidLayout`].
    pub fn open(root: &Path) -> Result<ContentStore, StoreError> {
        layout::prepare_root(root)?;
        Ok(ContentStore {
            root: root.to_owned(),
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` lives (whether or not it is there).
    pub(crate) fn path_of(&self, digest: &Digest) -> PathBuf {
        self.root
            .join(BLOBS_DIR)
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// The blob's size if it is in the store, `None` if it is not.
    pub fn info(&self, digest: &Digest) -> Result<Option<BlobInfo>, StoreError> {
        let path = self.path_of(digest);
        match fs::metadata(&path) {
            Ok(meta) => Ok(Some(BlobInfo {
                digest: digest.clone(),
                size: meta.len(),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("inspect", path, e)),
        }
    }

    /// Whether the blob is in the store.
    pub fn has(&self, digest: &Digest) -> Result<bool, StoreError> {
        Ok(self.info(digest)?.is_some())
    }

    /// The blob's size; [`StoreError::NotFound`] if it is not in the store.
    pub fn size(&self, digest: &Digest) -> Result<u64, StoreError> {
        self.info(digest)?
            .map(|info| info.size)
            .ok_or_else(|| self.not_found(digest))
    }

    /// Opens the blob for reading. (Named `open_blob` because `open` opens the store.)
    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        let path = self.path_of(digest);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => self.not_found(digest),
            _ => StoreError::io("open", path, e),
        })
    }

    /// Reads a whole blob that must not exceed `max` bytes (manifests and configs are capped
    /// at 4 MiB by the pull code); [`StoreError::TooLarge`] otherwise.
    pub fn read_to_vec_capped(&self, digest: &Digest, max: u64) -> Result<Vec<u8>, StoreError> {
        let path = self.path_of(digest);
        let file = self.open_blob(digest)?;
        let size = file
            .metadata()
            .map_err(|e| StoreError::io("inspect", &path, e))?
            .len();
        if size > max {
            return Err(StoreError::TooLarge {
                digest: digest.clone(),
                path,
                size,
                max,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        // `take` keeps the cap even if the file were to grow (it cannot: blobs are immutable).
        file.take(max)
            .read_to_end(&mut bytes)
            .map_err(|e| StoreError::io("read", &path, e))?;
        Ok(bytes)
    }

    /// Begins (or resumes) writing the blob `expected`, waiting while another writer of the
    /// same digest holds its ingest. Blocks the calling thread: call from a blocking thread.
    ///
    /// If the blob is (or, after the wait, has become) present, the returned ingest says so
    /// ([`Ingest::is_present`]) and its commit is a no-op. Otherwise [`Ingest::offset`] tells
    /// how many bytes a previous, interrupted writer left (send `Range: bytes=OFFSET-`).
    /// `expected_size`, when known, is enforced: writing past it or committing short of it
    /// is an error.
    pub fn begin(
        &self,
        expected: &Digest,
        expected_size: Option<u64>,
    ) -> Result<Ingest, StoreError> {
        ingest::begin(self, expected, expected_size, Wait::Block)
    }

    /// Like [`begin`](Self::begin) but returns [`StoreError::Locked`] at once if another
    /// writer holds the ingest.
    pub fn try_begin(
        &self,
        expected: &Digest,
        expected_size: Option<u64>,
    ) -> Result<Ingest, StoreError> {
        ingest::begin(self, expected, expected_size, Wait::Try)
    }

    /// Stores `bytes` as the blob `expected` (a manifest or config already in memory), through
    /// an ingest like any other write. A no-op if it is already present.
    pub fn write_blob(&self, expected: &Digest, bytes: &[u8]) -> Result<BlobInfo, StoreError> {
        let mut ingest = self.begin(expected, Some(bytes.len() as u64))?;
        if !ingest.is_present() {
            if ingest.offset() != 0 {
                ingest.reset()?;
            }
            ingest.write_chunk(bytes)?;
        }
        ingest.commit()
    }

    fn not_found(&self, digest: &Digest) -> StoreError {
        StoreError::NotFound {
            digest: digest.clone(),
            path: self.path_of(digest),
        }
    }
}

//! [`StagingDir`]: a private content store that the file-based transports write through and
//! delete when done.
//!
//! `dir:`, `docker-archive:` and `oci-archive:` do not keep blobs in a content store of their
//! own, yet every blob they receive must pass the one verified blob writer (the content
//! store's ingest, through [`super::LayoutSink`]); an archive read as a source must have its
//! members somewhere they can be opened by digest. A staging directory is that content store:
//! created for one copy (beside its destination, or in the temporary directory for a source
//! archive: `$TMPDIR`, else `/var/tmp`, the disk-backed place containers/image uses for big
//! files), and removed with the last handle to it. A process killed mid-copy leaves it behind
//! under a `.hoist-staging-` name; nothing reads it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::CopyError;
use crate::store::ContentStore;

/// A content store removed from disk when dropped. See the module docs.
#[derive(Debug)]
pub(crate) struct StagingDir {
    path: PathBuf,
    content: ContentStore,
}

impl StagingDir {
    /// A new staging directory inside `parent` (created if missing). Blocking.
    pub(crate) fn create_in(parent: &Path, location: &str) -> Result<StagingDir, CopyError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!(".hoist-staging-{}-{n}", std::process::id());
        StagingDir::create_at(&parent.join(name), location)
    }

    /// A new staging directory for reading an archive: in `$TMPDIR`, else `/var/tmp`.
    pub(crate) fn create_temporary(location: &str) -> Result<StagingDir, CopyError> {
        let parent = std::env::var_os("TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/tmp"));
        StagingDir::create_in(&parent, location)
    }

    /// A staging directory at exactly `path` (emptied first if it exists). Blocking.
    pub(crate) fn create_at(path: &Path, location: &str) -> Result<StagingDir, CopyError> {
        if path.exists() {
            std::fs::remove_dir_all(path).map_err(|source| CopyError::Io {
                location: location.to_owned(),
                action: "empty",
                path: path.display().to_string(),
                source,
            })?;
        }
        let content = ContentStore::open(path)
            .map_err(|e| CopyError::store(location, "create a staging directory", e))?;
        Ok(StagingDir {
            path: path.to_owned(),
            content,
        })
    }

    /// Its content store.
    pub(crate) fn content(&self) -> &ContentStore {
        &self.content
    }

    /// Its path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        // Best effort: see the module docs on what is left behind otherwise.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

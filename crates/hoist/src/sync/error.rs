//! [`SyncError`]: why a sync, or one repository or image of it, failed — naming the
//! transport, file, repository or image concerned, with the registry's, the store's or the
//! copy's answer as the cause.

use std::path::PathBuf;

use crate::copy::CopyError;
use crate::reference::ReferenceError;
use crate::registry::RegistryError;
use crate::store::StoreError;
use crate::transfer::Interrupted;

/// Why a sync (or a part of it) failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// `--src` or `--dest` names a transport sync does not have.
    #[error("{transport:?} is not a valid {side} transport: use {allowed}")]
    Transport {
        /// `source` or `destination`.
        side: &'static str,
        /// What was given.
        transport: String,
        /// What is accepted.
        allowed: &'static str,
    },
    /// The destination (or an image's name at it) cannot be used.
    #[error("invalid destination {destination:?}: {reason}")]
    Destination {
        /// The destination, or the image's destination name.
        destination: String,
        /// What is wrong.
        reason: String,
    },
    /// A source reference is malformed.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A source file or directory cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A source file is not valid YAML (or TOML) of the expected shape.
    #[error("{}: {reason}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message (line and column included).
        reason: String,
    },
    /// A tag filter (regex, semver range) or a listed tag of a source file is malformed.
    #[error("{repository}: invalid filter {filter:?}: {reason}")]
    Filter {
        /// The repository it is for.
        repository: String,
        /// The filter as written.
        filter: String,
        /// What is wrong.
        reason: String,
    },
    /// The tags of a source repository cannot be listed.
    #[error("cannot list the tags of {repository}")]
    List {
        /// The repository.
        repository: String,
        /// The registry's answer.
        #[source]
        source: Box<RegistryError>,
    },
    /// A source OCI layout's `index.json` cannot be read.
    #[error("cannot read the OCI layout {}", path.display())]
    Layout {
        /// The layout.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<StoreError>,
    },
    /// The `--dest dir` layout cannot be created.
    #[error("cannot create the OCI layout {}", path.display())]
    CreateLayout {
        /// The layout.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<CopyError>,
    },
    /// The source holds no image (skopeo: "No images to sync found in …").
    #[error("no images to sync found in {source_name}")]
    Empty {
        /// The source as given.
        source_name: String,
    },
    /// `--since STATE` names no previous export.
    #[error("--since {}: {reason}", path.display())]
    Since {
        /// STATE as given.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `--src dir` with `--dest dir` (skopeo refuses it too).
    #[error("sync from dir to dir is not supported: use `hoist copy` or rsync")]
    DirToDir,
    /// One image could not be synced.
    #[error("{source_name} to {destination}")]
    Copy {
        /// The image's source location.
        source_name: String,
        /// Its destination location.
        destination: String,
        /// The copy's failure.
        #[source]
        source: Box<CopyError>,
    },
    /// Work was stopped by something outside the sync (a task that panicked).
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

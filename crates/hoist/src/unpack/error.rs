//! `UnpackError`: what went wrong applying a layer, naming the entry, its type and the problem.
//!
//! docker reports breakouts as `breakoutError` ("%q is outside of %q") and fails the whole
//! layer; hoist does the same (an unpack is all-or-nothing for the layer store, which discards
//! the directory of a failed unpack), with the entry named so the bad layer can be found.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::path::PathProblem;
use super::root::ResolveError;

/// The type of a tar entry, as the unpacker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// Regular file (`0`, `\0`, `7`, GNU sparse `S`).
    File,
    /// Directory (`5`).
    Dir,
    /// Symbolic link (`2`).
    Symlink,
    /// Hard link (`1`).
    Hardlink,
    /// Character device (`3`).
    Char,
    /// Block device (`4`).
    Block,
    /// Named pipe (`6`).
    Fifo,
    /// `.wh.NAME`: NAME is deleted from lower layers.
    Whiteout,
    /// `.wh..wh..opq`: the directory hides its lower-layer content.
    OpaqueWhiteout,
    /// Any other type byte.
    Other(u8),
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File => f.write_str("regular file"),
            Self::Dir => f.write_str("directory"),
            Self::Symlink => f.write_str("symlink"),
            Self::Hardlink => f.write_str("hardlink"),
            Self::Char => f.write_str("character device"),
            Self::Block => f.write_str("block device"),
            Self::Fifo => f.write_str("fifo"),
            Self::Whiteout => f.write_str("whiteout"),
            Self::OpaqueWhiteout => f.write_str("opaque whiteout"),
            Self::Other(b) => write!(f, "type {:?}", char::from(*b)),
        }
    }
}

/// What was wrong with one entry.
#[derive(Debug, thiserror::Error)]
pub enum EntryProblem {
    /// The entry's own name is not a path inside the root (`..` climbing out, NUL, too long).
    #[error("name is outside the layer root or invalid: {0}")]
    BadName(PathProblem),
    /// A hardlink's target is not a path inside the root.
    #[error("hardlink target {target:?} is outside the layer root or invalid: {problem}")]
    BadLinkTarget {
        /// The target as written in the archive.
        target: String,
        /// Why.
        problem: PathProblem,
    },
    /// A hardlink's target does not exist (in this layer or the target directory).
    #[error("hardlink target {0:?} does not exist")]
    LinkTargetMissing(String),
    /// A hardlink's target is a directory.
    #[error("hardlink target {0:?} is a directory")]
    LinkTargetIsDir(String),
    /// A whiteout names nothing removable (`.wh.`, `.wh..`, `.wh...`).
    #[error("whiteout names no file")]
    BadWhiteout,
    /// The entry would replace the root directory with something else.
    #[error("the layer root can only be a directory")]
    ReplacesRoot,
    /// The parent directory could not be resolved inside the root.
    #[error("parent directory: {0}")]
    Parent(ResolveError),
    /// The archive ended inside this entry's data.
    #[error("archive truncated: {got} of {expected} bytes of content")]
    Truncated {
        /// Bytes the header declared.
        expected: u64,
        /// Bytes the archive held.
        got: u64,
    },
    /// The declared size is above [`super::UnpackOptions::max_file_size`].
    #[error("declared size {size} bytes is above the limit of {limit} bytes")]
    TooLarge {
        /// Declared (for sparse files: expanded) size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A PAX sparse file (`GNU.sparse.*` records): the tar crate cannot expand it, and writing
    /// its raw data would produce a corrupt file. (GNU `S` sparse entries are supported.)
    #[error("PAX sparse files (GNU.sparse.* records) are not supported")]
    PaxSparse,
    /// A type the unpacker does not handle.
    #[error("unsupported entry type")]
    UnsupportedType,
    /// A header field could not be parsed.
    #[error("bad header field {field}: {source}")]
    Header {
        /// The field.
        field: &'static str,
        /// The parse error.
        source: io::Error,
    },
    /// A syscall failed.
    #[error("{op}: {source}")]
    Io {
        /// The syscall or step (`mkdirat`, `write`, `fchown` ...).
        op: &'static str,
        /// The error.
        source: io::Error,
    },
}

impl EntryProblem {
    /// Shorthand for [`EntryProblem::Io`].
    pub(crate) fn io(op: &'static str, source: impl Into<io::Error>) -> Self {
        Self::Io {
            op,
            source: source.into(),
        }
    }
}

/// An error applying a layer tar.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The target directory could not be opened.
    #[error("cannot open unpack target {path}: {source}")]
    Target {
        /// The target.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// One entry could not be applied.
    #[error("layer entry {path:?} ({kind}): {problem}")]
    Entry {
        /// The entry's name as written in the archive.
        path: String,
        /// Its type.
        kind: EntryKind,
        /// What was wrong.
        problem: EntryProblem,
    },
    /// The tar stream itself is corrupt or ends early (a truncated header, a bad checksum).
    #[error("layer tar unreadable at byte {offset} (after entry {after:?}): {source}")]
    Tar {
        /// Stream offset at which reading failed.
        offset: u64,
        /// The last entry read successfully, if any.
        after: Option<String>,
        /// The reader's error.
        source: io::Error,
    },
    /// Extension headers (PAX, GNU long name/link, sparse maps) before one entry exceed the
    /// limit; they are held in memory, so this bounds memory use.
    #[error("layer tar metadata before one entry exceeds {limit} bytes (after entry {after:?})")]
    MetadataTooLarge {
        /// The limit ([`super::MAX_ENTRY_METADATA`]).
        limit: u64,
        /// The last entry read successfully, if any.
        after: Option<String>,
    },
}

//! `UnpackReport`: what one layer unpack did, and what it could not apply.
//!
//! As non-root, ownership, device nodes and some xattrs cannot be applied. Like
//! `umoci unpack --rootless`, hoist does not drop them silently: each becomes an
//! [`Unapplied`] record, and [`UnpackReport::write_manifest`] writes them as a small JSON file
//! (one object per line) that export, a later privileged re-apply or a runtime's user
//! namespace setup can read. umoci stores the same facts in a `user.rootlesscontainers` xattr
//! per file; a separate manifest keeps the tree free of hoist-specific attributes.

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

/// One fact of the archive that could not be applied to the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Unapplied {
    /// The entry should be owned by `uid:gid`; it is owned by the unpacking user.
    Ownership {
        /// Entry path below the root (`a/b`).
        path: String,
        /// Owner uid from the archive.
        uid: u32,
        /// Owner gid from the archive.
        gid: u32,
    },
    /// A device node that was not created (nothing exists at `path`).
    Device {
        /// Entry path below the root.
        path: String,
        /// `"char"` or `"block"`.
        device: &'static str,
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
        /// Permission bits.
        mode: u32,
        /// Owner uid.
        uid: u32,
        /// Owner gid.
        gid: u32,
    },
    /// An extended attribute the filesystem or the caller's privileges refused (EPERM,
    /// ENOTSUP), or one hoist refuses to take from a layer (`trusted.overlay.*`).
    Xattr {
        /// Entry path below the root.
        path: String,
        /// Attribute name.
        name: String,
        /// Why it was not set.
        reason: String,
    },
}

/// What unpacking one layer did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnpackReport {
    /// Bytes of tar stream consumed (headers, padding and data).
    pub tar_bytes: u64,
    /// Bytes of regular-file content the archive declared (sparse files: expanded size).
    pub content_bytes: u64,
    /// Entries processed (whiteouts and skipped entries included; extension headers not).
    pub entries: u64,
    /// Facts that could not be applied (see the module docs).
    pub unapplied: Vec<Unapplied>,
    /// Diff mode: whether the tar had an entry for the root itself (`./`).
    pub root_entry: bool,
    /// Diff mode: directories that exist only as parents of other entries, sorted (see
    /// `unpack/implicit.rs`); `None` in apply mode, or when one is not UTF-8.
    pub implicit_dirs: Option<Vec<String>>,
    /// Some entry carried extended attributes.
    pub xattrs: bool,
    /// Diff mode: some directory was made opaque (an overlay-format `trusted.overlay.opaque`
    /// attribute in the layer directory; the marker format keeps its `.wh..wh..opq` file).
    pub opaque_dirs: bool,
}

impl UnpackReport {
    /// Writes [`UnpackReport::unapplied`] as JSON lines to `path` (created or replaced).
    pub fn write_manifest(&self, path: &Path) -> io::Result<()> {
        let mut out = io::BufWriter::new(std::fs::File::create(path)?);
        for record in &self.unapplied {
            serde_json::to_writer(&mut out, record)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }
}

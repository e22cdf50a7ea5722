//! Comparing two directory trees entry by entry: what the export tests use to check hoist's
//! root filesystem against `umoci unpack`'s.
//!
//! [`snapshot`] walks a tree without following symlinks and records, per relative path, the
//! type, permission bits (setuid/setgid/sticky included), owner, size, sha256 of a regular
//! file's content, link target, device numbers, xattrs and which paths are hardlinked together.
//! [`differences`] lists every path where two snapshots disagree, in words a failing test can
//! print. Times are not compared (umoci and hoist both set them from the tar, but directory
//! mtimes change as later layers add entries, differently per tool).

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// What one path holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `file`, `dir`, `symlink`, `fifo`, `char`, `block` or `socket`.
    pub kind: &'static str,
    /// Permission bits, `0o7777` mask (not for symlinks: always 0 there).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Size of a regular file (0 otherwise).
    pub size: u64,
    /// sha256 hex of a regular file's content.
    pub sha256: Option<String>,
    /// A symlink's target.
    pub target: Option<PathBuf>,
    /// A device's number.
    pub rdev: u64,
    /// Extended attributes, sorted by name.
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// For a regular file with other links: the first path (in walk order) of its inode.
    pub link_group: Option<PathBuf>,
}

/// The tree under `root`, by path relative to it (`root` itself excluded).
pub fn snapshot(root: &Path) -> io::Result<BTreeMap<PathBuf, Node>> {
    let mut nodes = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), PathBuf> = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    let mut paths = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if fs::symlink_metadata(&path)?.is_dir() {
                stack.push(path.clone());
            }
            paths.push(path);
        }
    }
    paths.sort();
    for path in paths {
        let meta = fs::symlink_metadata(&path)?;
        let rel = path
            .strip_prefix(root)
            .map_err(io::Error::other)?
            .to_path_buf();
        let ft = meta.file_type();
        let kind = if ft.is_file() {
            "file"
        } else if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_fifo() {
            "fifo"
        } else if ft.is_char_device() {
            "char"
        } else if ft.is_block_device() {
            "block"
        } else {
            "socket"
        };
        let link_group = (ft.is_file() && meta.nlink() > 1).then(|| {
            inodes
                .entry((meta.dev(), meta.ino()))
                .or_insert_with(|| rel.clone())
                .clone()
        });
        nodes.insert(
            rel,
            Node {
                kind,
                mode: if ft.is_symlink() {
                    0
                } else {
                    meta.mode() & 0o7777
                },
                uid: meta.uid(),
                gid: meta.gid(),
                size: if ft.is_file() { meta.len() } else { 0 },
                sha256: if ft.is_file() {
                    Some(hash(&path)?)
                } else {
                    None
                },
                target: if ft.is_symlink() {
                    Some(fs::read_link(&path)?)
                } else {
                    None
                },
                rdev: if ft.is_char_device() || ft.is_block_device() {
                    meta.rdev()
                } else {
                    0
                },
                xattrs: xattrs(&path)?,
                link_group,
            },
        );
    }
    Ok(nodes)
}

/// Every disagreement between `expected` and `actual`, one line each (empty when equal).
pub fn differences(
    expected: &BTreeMap<PathBuf, Node>,
    actual: &BTreeMap<PathBuf, Node>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (path, want) in expected {
        match actual.get(path) {
            None => out.push(format!("{}: missing ({want:?})", path.display())),
            Some(got) if got != want => out.push(format!(
                "{}: expected {want:?}, got {got:?}",
                path.display()
            )),
            Some(_) => {}
        }
    }
    for (path, got) in actual {
        if !expected.contains_key(path) {
            out.push(format!("{}: unexpected ({got:?})", path.display()));
        }
    }
    out
}

fn hash(path: &Path) -> io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn xattrs(path: &Path) -> io::Result<BTreeMap<String, Vec<u8>>> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let mut names = vec![0u8; 64 * 1024];
    // SAFETY: the buffer is valid for its length; the path is NUL-terminated.
    let n = unsafe { libc::llistxattr(c_path.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOTSUP) => Ok(BTreeMap::new()),
            _ => Err(e),
        };
    }
    names.truncate(n as usize);
    let mut found = BTreeMap::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let c_name = CString::new(name).map_err(io::Error::other)?;
        let mut value = vec![0u8; 64 * 1024];
        // SAFETY: as above.
        let len = unsafe {
            libc::lgetxattr(
                c_path.as_ptr(),
                c_name.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        if len < 0 {
            return Err(io::Error::last_os_error());
        }
        value.truncate(len as usize);
        found.insert(String::from_utf8_lossy(name).into_owned(), value);
    }
    Ok(found)
}

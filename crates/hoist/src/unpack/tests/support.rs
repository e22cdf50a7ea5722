//! Test support: a tar writer that writes headers by hand (so it can produce the names the
//! `tar` crate's builder refuses: `..`, absolute paths, bad whiteouts), and a sandbox with
//! sentinel files *outside* the unpack root that tests assert are untouched.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use crate::unpack::{
    unpack_layer, Privileges, UnpackError, UnpackMode, UnpackOptions, UnpackReport, WhiteoutFormat,
};

/// Default mtime of built entries.
pub const MTIME: u64 = 1_600_000_000;

/// A layer tar under construction.
#[derive(Default)]
pub struct Layer {
    out: Vec<u8>,
}

fn pad(out: &mut Vec<u8>) {
    let rem = out.len() % 512;
    if rem != 0 {
        out.resize(out.len() + 512 - rem, 0);
    }
}

impl Layer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one entry; `tweak` edits the header before its checksum is set. Names and link
    /// names longer than 100 bytes get GNU `L`/`K` extension entries first.
    pub fn entry_with(
        &mut self,
        kind: EntryType,
        name: &[u8],
        link: &[u8],
        data: &[u8],
        tweak: impl FnOnce(&mut Header),
    ) -> &mut Self {
        if name.len() > 100 {
            self.extension(b'L', name);
        }
        if link.len() > 100 {
            self.extension(b'K', link);
        }
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(match kind {
            EntryType::Directory => 0o755,
            _ => 0o644,
        });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        let old = h.as_old_mut();
        let n = name.len().min(100);
        old.name[..n].copy_from_slice(&name[..n]);
        let l = link.len().min(100);
        old.linkname[..l].copy_from_slice(&link[..l]);
        tweak(&mut h);
        h.set_cksum();
        self.out.extend_from_slice(h.as_bytes());
        self.out.extend_from_slice(data);
        pad(&mut self.out);
        self
    }

    fn extension(&mut self, kind: u8, value: &[u8]) {
        let mut data = value.to_vec();
        data.push(0);
        self.entry_with(EntryType::new(kind), b"././@LongLink", b"", &data, |_| {});
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry_with(EntryType::Regular, name.as_bytes(), b"", data, |_| {})
    }

    pub fn file_mode(&mut self, name: &str, data: &[u8], mode: u32) -> &mut Self {
        self.entry_with(EntryType::Regular, name.as_bytes(), b"", data, |h| {
            h.set_mode(mode)
        })
    }

    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.entry_with(EntryType::Directory, name.as_bytes(), b"", b"", |_| {})
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry_with(
            EntryType::Symlink,
            name.as_bytes(),
            target.as_bytes(),
            b"",
            |_| {},
        )
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry_with(
            EntryType::Link,
            name.as_bytes(),
            target.as_bytes(),
            b"",
            |_| {},
        )
    }

    /// A PAX extended header (`x`) for the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (key, value) in records {
            let body_len = key.len() + value.len() + 3; // ' ', '=', '\n'
            let mut len = body_len + 1;
            while len != body_len + len.to_string().len() {
                len = body_len + len.to_string().len();
            }
            data.extend_from_slice(format!("{len} {key}=").as_bytes());
            data.extend_from_slice(value);
            data.push(b'\n');
        }
        self.entry_with(EntryType::XHeader, b"PaxHeader", b"", &data, |_| {})
    }

    /// The archive with its two end-of-archive blocks.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = self.out.clone();
        out.extend_from_slice(&[0; 1024]);
        out
    }

    /// The archive without end-of-archive blocks (for truncation tests).
    pub fn bytes(&self) -> Vec<u8> {
        self.out.clone()
    }
}

/// A temp dir with `root/` (the unpack target) and `outside/` (sentinels).
pub struct Sandbox {
    _tmp: tempfile::TempDir,
    pub base: PathBuf,
    pub root: PathBuf,
    pub outside: PathBuf,
    snapshot: BTreeMap<PathBuf, (Vec<u8>, u64, u32)>,
}

impl Sandbox {
    pub fn new() -> Self {
        // tmpfs when there is one: file creation on this CI's disk costs ~1 ms, which would
        // make the 100k-entry test take minutes.
        let shm = Path::new("/dev/shm");
        let tmp = if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        let base = tmp.path().to_path_buf();
        let root = base.join("root");
        let outside = base.join("outside");
        fs::create_dir(&root).unwrap();
        fs::create_dir_all(outside.join("etc")).unwrap();
        fs::write(outside.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        fs::write(outside.join("etc/shadow"), "root:SECRET:::::::\n").unwrap();
        fs::write(base.join("x"), "sibling of root\n").unwrap();
        let mut sandbox = Self {
            _tmp: tmp,
            base,
            root,
            outside,
            snapshot: BTreeMap::new(),
        };
        sandbox.snapshot = sandbox.outside_state();
        sandbox
    }

    /// The absolute path of the outside dir, as a hostile archive would name it.
    pub fn outside_abs(&self) -> String {
        self.outside.to_str().unwrap().to_string()
    }

    /// Everything in the base dir except `root/`: path → (content or link target, nlink, mode).
    fn outside_state(&self) -> BTreeMap<PathBuf, (Vec<u8>, u64, u32)> {
        let mut state = BTreeMap::new();
        let mut stack = vec![self.base.clone()];
        while let Some(dir) = stack.pop() {
            for e in fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p == self.root {
                    continue;
                }
                let md = fs::symlink_metadata(&p).unwrap();
                let content = if md.is_dir() {
                    stack.push(p.clone());
                    Vec::new()
                } else if md.file_type().is_symlink() {
                    fs::read_link(&p)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes()
                } else {
                    fs::read(&p).unwrap()
                };
                state.insert(p, (content, md.nlink(), md.mode()));
            }
        }
        state
    }

    /// Fails if anything outside `root/` appeared, vanished or changed (content, link count,
    /// mode) — a hardlink to a sentinel raises its link count.
    pub fn assert_outside_untouched(&self) {
        assert_eq!(
            self.outside_state(),
            self.snapshot,
            "the host outside the root changed"
        );
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

/// Options for tests: privileges injected, resolver chosen.
pub fn options(mode: UnpackMode, privileges: Privileges, manual_walk: bool) -> UnpackOptions {
    UnpackOptions {
        mode,
        whiteouts: match privileges {
            Privileges::Root => WhiteoutFormat::Overlay,
            Privileges::Rootless => WhiteoutFormat::Marker,
        },
        privileges,
        max_file_size: crate::unpack::DEFAULT_MAX_FILE_SIZE,
        force_manual_walk: manual_walk,
    }
}

/// Unpacks `tar` into `root` in apply mode as root.
pub fn apply(tar: &[u8], root: &Path) -> Result<UnpackReport, UnpackError> {
    unpack_layer(
        tar,
        root,
        &options(UnpackMode::Apply, Privileges::Root, false),
    )
}

/// Unpacks with both resolvers (openat2 and the manual walk) into fresh sandboxes, checking
/// the outside after each, and returns the results.
pub fn with_both_resolvers(
    layers: &[Vec<u8>],
    check: impl Fn(&Sandbox, Result<UnpackReport, UnpackError>),
) {
    for manual in [false, true] {
        let sandbox = Sandbox::new();
        let opts = options(UnpackMode::Apply, Privileges::Root, manual);
        let mut result = Ok(UnpackReport::default());
        for layer in layers {
            result = unpack_layer(layer.as_slice(), &sandbox.root, &opts);
            if result.is_err() {
                break;
            }
        }
        sandbox.assert_outside_untouched();
        check(&sandbox, result);
    }
}

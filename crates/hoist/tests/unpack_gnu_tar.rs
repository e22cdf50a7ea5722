//! Interop: layers written by a real GNU tar (the archiver most image builders' tars follow)
//! unpack to the tree they were made from — types, modes with special bits, owners, sizes,
//! content, link targets, hardlink identity, mtimes, `user.*` xattrs and sparse holes.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use hoist::unpack::{unpack_layer, Privileges, UnpackMode, UnpackOptions, WhiteoutFormat};

fn tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

fn options() -> UnpackOptions {
    UnpackOptions {
        mode: UnpackMode::Apply,
        whiteouts: WhiteoutFormat::Overlay,
        privileges: Privileges::detect(),
        max_file_size: hoist::unpack::DEFAULT_MAX_FILE_SIZE,
        force_manual_walk: false,
    }
}

fn gnu_tar(args: &[&str]) {
    let status = Command::new("tar")
        .args(args)
        .status()
        .expect("GNU tar runs");
    assert!(status.success(), "tar {args:?} failed");
}

/// path → (type, mode, uid, gid, size, mtime, content or link target, user xattrs)
type Tree = BTreeMap<
    PathBuf,
    (
        String,
        u32,
        u32,
        u32,
        u64,
        i64,
        Vec<u8>,
        Vec<(String, Vec<u8>)>,
    ),
>;

fn snapshot(root: &Path) -> (Tree, Vec<Vec<PathBuf>>) {
    let mut tree = Tree::new();
    let mut inodes: BTreeMap<u64, Vec<PathBuf>> = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let md = fs::symlink_metadata(&path).unwrap();
            let ft = md.file_type();
            let (kind, data) = if ft.is_dir() {
                stack.push(path.clone());
                ("dir", Vec::new())
            } else if ft.is_symlink() {
                let target = fs::read_link(&path).unwrap();
                ("symlink", target.into_os_string().into_encoded_bytes())
            } else if ft.is_fifo() {
                ("fifo", Vec::new())
            } else {
                inodes.entry(md.ino()).or_default().push(rel.clone());
                ("file", fs::read(&path).unwrap())
            };
            let mtime = md.mtime();
            let xattrs = if ft.is_symlink() {
                Vec::new()
            } else {
                user_xattrs(&path)
            };
            tree.insert(
                rel,
                (
                    kind.to_string(),
                    md.permissions().mode() & 0o7777,
                    md.uid(),
                    md.gid(),
                    if ft.is_dir() { 0 } else { md.len() },
                    mtime,
                    data,
                    xattrs,
                ),
            );
        }
    }
    let mut links: Vec<Vec<PathBuf>> = inodes
        .into_values()
        .filter(|v| v.len() > 1)
        .map(|mut v| {
            v.sort();
            v
        })
        .collect();
    links.sort();
    (tree, links)
}

fn user_xattrs(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for name in ["user.origin", "user.empty"] {
        let mut buf = vec![0u8; 256];
        if let Ok(n) = rustix::fs::lgetxattr(path, name, &mut buf) {
            out.push((name.to_string(), buf[..n].to_vec()));
        }
    }
    out
}

fn build_source(src: &Path) {
    let long_dir = src.join("d".repeat(120)).join("e".repeat(120));
    fs::create_dir_all(&long_dir).unwrap();
    fs::write(long_dir.join("f".repeat(200)), "long name\n").unwrap();
    fs::create_dir(src.join("bin")).unwrap();
    fs::write(src.join("bin/busybox"), vec![0x7f; 5000]).unwrap();
    fs::hard_link(src.join("bin/busybox"), src.join("bin/sh")).unwrap();
    fs::write(src.join("bin/su"), "suid").unwrap();
    fs::set_permissions(src.join("bin/su"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::create_dir(src.join("tmp")).unwrap();
    fs::set_permissions(src.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    symlink("bin/busybox", src.join("link")).unwrap();
    symlink(
        format!("/{}", "t".repeat(150)),
        src.join("long-target-link"),
    )
    .unwrap();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        src.join("pipe"),
        rustix::fs::Mode::from_raw_mode(0o640),
    )
    .unwrap();
    fs::write(src.join("tagged"), "x").unwrap();
    rustix::fs::setxattr(
        src.join("tagged"),
        "user.origin",
        b"gnu-tar",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    // Fixed times so the trees compare exactly; directories last (their contents are done).
    let status = Command::new("find")
        .arg(src)
        .args([
            "-depth",
            "-exec",
            "touch",
            "-h",
            "-d",
            "@1600000000",
            "{}",
            "+",
        ])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn posix_tar_from_gnu_tar_unpacks_to_the_same_tree() {
    let tmp = tempdir();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    fs::create_dir(&src).unwrap();
    fs::create_dir(&dst).unwrap();
    build_source(&src);
    let archive = tmp.path().join("layer.tar");
    gnu_tar(&[
        "--format=posix",
        "--xattrs",
        "--xattrs-include=user.*",
        "--numeric-owner",
        "-C",
        src.to_str().unwrap(),
        "-cf",
        archive.to_str().unwrap(),
        ".",
    ]);
    let file = fs::File::open(&archive).unwrap();
    let report = unpack_layer(file, &dst, &options()).unwrap();
    assert!(report.entries >= 12, "{report:?}");
    let (want, want_links) = snapshot(&src);
    let (got, got_links) = snapshot(&dst);
    for (path, entry) in &want {
        assert_eq!(got.get(path), Some(entry), "{}", path.display());
    }
    assert_eq!(got.len(), want.len());
    assert_eq!(got_links, want_links);
    assert_eq!(
        got_links,
        vec![vec![PathBuf::from("bin/busybox"), PathBuf::from("bin/sh")]]
    );
}

#[test]
fn gnu_sparse_tar_from_gnu_tar_unpacks_with_its_holes() {
    let tmp = tempdir();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    fs::create_dir(&src).unwrap();
    fs::create_dir(&dst).unwrap();
    let sparse = fs::File::create(src.join("lastlog")).unwrap();
    sparse.set_len(512 << 20).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&sparse, b"record", 300 << 20).unwrap();
    drop(sparse);
    let archive = tmp.path().join("sparse.tar");
    gnu_tar(&[
        "--format=gnu",
        "--sparse",
        "-C",
        src.to_str().unwrap(),
        "-cf",
        archive.to_str().unwrap(),
        "lastlog",
    ]);
    assert!(fs::metadata(&archive).unwrap().len() < 1 << 20);
    unpack_layer(fs::File::open(&archive).unwrap(), &dst, &options()).unwrap();
    let md = fs::metadata(dst.join("lastlog")).unwrap();
    assert_eq!(md.len(), 512 << 20);
    assert!(md.blocks() * 512 < 1 << 20, "{} blocks", md.blocks());
    let mut buf = [0u8; 6];
    std::os::unix::fs::FileExt::read_exact_at(
        &fs::File::open(dst.join("lastlog")).unwrap(),
        &mut buf,
        300 << 20,
    )
    .unwrap();
    assert_eq!(&buf, b"record");
}

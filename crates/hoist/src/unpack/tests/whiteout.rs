//! Whiteouts and opaque directories, in apply mode across layers and in both diff formats.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use super::support::{apply, options, Layer, Sandbox};
use crate::unpack::{unpack_layer, Privileges, UnpackMode, WhiteoutFormat};

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn base_layer() -> Vec<u8> {
    Layer::new()
        .dir("etc")
        .file("etc/a", b"a")
        .file("etc/b", b"b")
        .dir("opq")
        .file("opq/x", b"x")
        .dir("opq/sub")
        .file("opq/sub/y", b"y")
        .file("gone", b"bye")
        .dir("tree")
        .file("tree/deep/file", b"z")
        .finish()
}

#[test]
fn whiteout_removes_lower_files_and_trees_in_apply_mode() {
    let sandbox = Sandbox::new();
    apply(&base_layer(), &sandbox.root).unwrap();
    let upper = Layer::new()
        .file(".wh.gone", b"")
        .file("etc/.wh.a", b"")
        .file(".wh.tree", b"")
        .file(".wh.never-existed", b"")
        .finish();
    apply(&upper, &sandbox.root).unwrap();
    assert_eq!(names(&sandbox.root), ["etc", "opq"]);
    assert_eq!(names(&sandbox.path("etc")), ["b"]);
}

#[test]
fn opaque_directory_hides_lower_content_but_keeps_this_layers() {
    let sandbox = Sandbox::new();
    apply(&base_layer(), &sandbox.root).unwrap();
    // docker writes the marker first; a marker after new entries must keep them too.
    let upper = Layer::new()
        .file("opq/new-before", b"1")
        .dir("opq/newdir")
        .file("opq/newdir/inner", b"2")
        .file("opq/.wh..wh..opq", b"")
        .file("opq/new-after", b"3")
        .finish();
    apply(&upper, &sandbox.root).unwrap();
    assert_eq!(
        names(&sandbox.path("opq")),
        ["new-after", "new-before", "newdir"]
    );
    assert_eq!(names(&sandbox.path("opq/newdir")), ["inner"]);
    assert_eq!(names(&sandbox.path("etc")), ["a", "b"]);
}

#[test]
fn whiteout_markers_are_not_written_in_apply_mode() {
    let sandbox = Sandbox::new();
    apply(&base_layer(), &sandbox.root).unwrap();
    apply(
        &Layer::new()
            .file("etc/.wh.a", b"")
            .file("opq/.wh..wh..opq", b"")
            .finish(),
        &sandbox.root,
    )
    .unwrap();
    assert!(!sandbox.path("etc/.wh.a").exists());
    assert!(!sandbox.path("opq/.wh..wh..opq").exists());
}

#[test]
fn whiteout_does_not_follow_a_symlink_it_removes() {
    let sandbox = Sandbox::new();
    apply(
        &Layer::new()
            .file("keep/file", b"k")
            .symlink("link", "keep")
            .finish(),
        &sandbox.root,
    )
    .unwrap();
    apply(&Layer::new().file(".wh.link", b"").finish(), &sandbox.root).unwrap();
    assert!(fs::symlink_metadata(sandbox.path("link")).is_err());
    assert_eq!(fs::read(sandbox.path("keep/file")).unwrap(), b"k");
}

#[test]
fn aufs_metadata_entries_are_skipped() {
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .dir(".wh..wh.plnk")
        .file(".wh..wh.plnk/123.456", b"x")
        .file("f", b"y")
        .finish();
    apply(&tar, &sandbox.root).unwrap();
    assert_eq!(names(&sandbox.root), ["f"]);
}

#[test]
fn diff_mode_overlay_format_writes_char_devices_and_opaque_xattrs() {
    if !rustix::process::geteuid().is_root() {
        return;
    }
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .file(".wh.gone", b"")
        .dir("opq")
        .file("opq/.wh..wh..opq", b"")
        .file("opq/new", b"n")
        .finish();
    let opts = options(UnpackMode::Diff, Privileges::Root, false);
    assert_eq!(opts.whiteouts, WhiteoutFormat::Overlay);
    let report = unpack_layer(tar.as_slice(), &sandbox.root, &opts).unwrap();
    // What the export's layer route asks `layer.json` instead of every directory.
    assert!(report.opaque_dirs);
    assert!(!report.xattrs);
    let md = fs::symlink_metadata(sandbox.path("gone")).unwrap();
    assert!(md.file_type().is_char_device());
    assert_eq!(md.rdev(), 0);
    let mut buf = [0u8; 8];
    let n = rustix::fs::lgetxattr(sandbox.path("opq"), "trusted.overlay.opaque", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"y");
    assert_eq!(names(&sandbox.path("opq")), ["new"]);
    assert!(!sandbox.path(".wh.gone").exists());
}

#[test]
fn diff_mode_marker_format_keeps_the_marker_files() {
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .file(".wh.gone", b"")
        .dir("opq")
        .file("opq/.wh..wh..opq", b"")
        .finish();
    let opts = options(UnpackMode::Diff, Privileges::Rootless, false);
    assert_eq!(opts.whiteouts, WhiteoutFormat::Marker);
    let report = unpack_layer(tar.as_slice(), &sandbox.root, &opts).unwrap();
    // The marker file itself says it: no attribute to look for.
    assert!(!report.opaque_dirs);
    assert!(sandbox.path(".wh.gone").is_file());
    assert!(sandbox.path("opq/.wh..wh..opq").is_file());
}

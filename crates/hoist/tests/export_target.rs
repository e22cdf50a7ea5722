//! Where an export writes: an absent target appears whole or not at all (the tree is written
//! into a hidden sibling and renamed into place), a failed export leaves neither, and what an
//! export killed midway left is removed by the next export to the same directory — unless a
//! live export holds it. (The kill itself, through the binary: `hoist-cli/tests/export.rs`.)

mod support;

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use hoist::export::{export_image, ExportError, ExportOptions};
use hoist::store::metadata::ImageRecord;
use hoist_testkit::{ImageBuilder, Layer};
use rustix::fs::{flock, FlockOperation};
use support::layers::LayeredStore;

fn stored() -> (LayeredStore, ImageRecord) {
    let store = LayeredStore::new();
    let image = ImageBuilder::new()
        .layer(Layer::from_files(&[("kept", b"kept")]).unwrap())
        .build()
        .unwrap();
    let record = hoist_testkit::store::put(&store.meta, &image, &["example.com/app:v1"]);
    (store, record)
}

fn export(store: &LayeredStore, record: &ImageRecord, out: &Path) -> Result<(), ExportError> {
    let options = ExportOptions {
        prefer_layers: false,
        ..ExportOptions::default()
    };
    export_image(&store.meta, Some(&store.layers), record, out, &options).map(|_| ())
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn an_absent_target_appears_whole_with_nothing_beside_it_and_a_failure_leaves_neither() {
    let (store, record) = stored();
    let parent = tempfile::tempdir().unwrap();
    let out = parent.path().join("deep/rootfs");
    export(&store, &record, &out).unwrap();
    assert_eq!(fs::read(out.join("kept")).unwrap(), b"kept");
    assert_eq!(names(&parent.path().join("deep")), ["rootfs"]);

    // The layer's blob changed in the store: its diffID no longer matches.
    let blob = store
        .root()
        .join("blobs/sha256")
        .join(record.layers[0].digest.hex());
    fs::set_permissions(&blob, fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&blob, bytes).unwrap();
    let failed = parent.path().join("deep/failed");
    assert!(export(&store, &record, &failed).is_err());
    assert_eq!(
        names(&parent.path().join("deep")),
        ["rootfs"],
        "no tree, no sibling"
    );
}

#[test]
fn what_killed_exports_left_is_removed_and_a_live_ones_sibling_is_not() {
    let (store, record) = stored();
    let parent = tempfile::tempdir().unwrap();
    let sibling = |n: &str| parent.path().join(format!(".rootfs.hoist-export-{n}"));
    let make = |path: &PathBuf| {
        fs::create_dir_all(path.join("usr/bin")).unwrap();
        fs::write(path.join("usr/bin/half"), b"half").unwrap();
    };
    // Two exports killed midway: their siblings, unlocked, their processes gone (IDs above
    // any pid_max).
    make(&sibling("2147483601-0"));
    make(&sibling("2147483602-3"));
    // A live one, holding its sibling's lock.
    make(&sibling("2147483603-0"));
    let live = File::open(sibling("2147483603-0")).unwrap();
    flock(&live, FlockOperation::NonBlockingLockExclusive).unwrap();
    // One of a running process (this one) not locked yet: between its mkdir and its flock.
    let starting = sibling(&format!("{}-99", std::process::id()));
    make(&starting);
    // Names that look alike but are not an export's directory: a file, and a symlink to a
    // directory that must not be touched.
    fs::write(sibling("2147483604-0"), b"a file").unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    fs::write(elsewhere.path().join("precious"), b"precious").unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), sibling("2147483605-0")).unwrap();
    // Another target's sibling.
    make(&parent.path().join(".other.hoist-export-1-0"));

    let out = parent.path().join("rootfs");
    export(&store, &record, &out).unwrap();

    assert_eq!(fs::read(out.join("kept")).unwrap(), b"kept");
    let mut left = vec![
        ".other.hoist-export-1-0".to_string(),
        ".rootfs.hoist-export-2147483603-0".into(),
        ".rootfs.hoist-export-2147483604-0".into(),
        ".rootfs.hoist-export-2147483605-0".into(),
        starting.file_name().unwrap().to_str().unwrap().into(),
        "rootfs".into(),
    ];
    left.sort();
    assert_eq!(names(parent.path()), left);
    assert!(sibling("2147483603-0").join("usr/bin/half").exists());
    assert_eq!(
        fs::read(elsewhere.path().join("precious")).unwrap(),
        b"precious"
    );
}

#[test]
fn a_target_that_is_a_dangling_symlink_is_refused_not_replaced() {
    let (store, record) = stored();
    let parent = tempfile::tempdir().unwrap();
    let out = parent.path().join("rootfs");
    std::os::unix::fs::symlink(parent.path().join("nowhere"), &out).unwrap();
    assert!(export(&store, &record, &out).is_err());
    assert!(fs::symlink_metadata(&out).unwrap().file_type().is_symlink());
    assert_eq!(names(parent.path()), ["rootfs"]);
}

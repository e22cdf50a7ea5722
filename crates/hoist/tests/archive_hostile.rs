//! `hoist load` of hostile or damaged archives: each fails with a clear error and leaves
//! nothing recorded or tagged.

mod support;

use hoist::archive::ArchiveError;
use hoist::copy::load_archive;
use support::archive::{entries, image, write_tar, Store};
use tar::EntryType;

type Entries = Vec<(String, EntryType, Vec<u8>, Option<String>)>;

/// A valid archive of `app:1` as editable entries.
fn saved() -> Entries {
    let source = Store::new();
    source.put(&image(&["a", "b"]), &["app:1"]);
    entries(&source.save(&["app:1"]))
}

fn layer_names(entries: &Entries) -> Vec<String> {
    let manifest = entries.iter().find(|e| e.0 == "manifest.json").unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.2).unwrap();
    manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect()
}

/// Loads `archive` into a fresh store; returns the error and checks nothing was recorded.
fn load_fails(archive: &[u8]) -> ArchiveError {
    let target = Store::new();
    let err = load_archive(&target.meta, archive).unwrap_err();
    assert!(target.is_empty(), "a failed load recorded something: {err}");
    err
}

#[test]
fn a_member_climbing_out_with_dot_dot_is_refused() {
    let mut entries = saved();
    entries.insert(0, ("../x".into(), EntryType::Regular, b"x".to_vec(), None));
    let err = load_fails(&write_tar(&entries));
    assert!(matches!(err, ArchiveError::UnsafeMember { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "refusing archive member \"../x\": its path is absolute or contains \"..\""
    );
}

#[test]
fn an_absolute_member_is_refused() {
    let mut entries = saved();
    entries.push(("/etc/x".into(), EntryType::Regular, b"x".to_vec(), None));
    let err = load_fails(&write_tar(&entries));
    assert!(matches!(err, ArchiveError::UnsafeMember { .. }), "{err:?}");
}

#[test]
fn a_layer_that_is_not_the_configs_diff_id_is_refused() {
    let mut entries = saved();
    let first = layer_names(&entries)[0].clone();
    let other = image(&["intruder"]).tars[0].clone();
    for entry in &mut entries {
        if entry.0 == first {
            entry.2 = other.clone();
        }
    }
    let err = load_fails(&write_tar(&entries));
    assert!(
        matches!(err, ArchiveError::DiffIdMismatch { index: 0, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("invalid diffID for layer 0: expected"),
        "{err}"
    );
    assert!(err.to_string().contains(&first), "{err}");
}

#[test]
fn a_missing_layer_is_named() {
    let mut entries = saved();
    let second = layer_names(&entries)[1].clone();
    entries.retain(|e| e.0 != second);
    let err = load_fails(&write_tar(&entries));
    assert_eq!(
        err.to_string(),
        format!("the archive has no member {second:?} (layer 1 of image 0 in manifest.json)")
    );
}

#[test]
fn a_truncated_archive_is_refused() {
    let source = Store::new();
    source.put(&image(&["a", "b"]), &["app:1"]);
    let archive = source.save(&["app:1"]);
    // Cut inside the first layer.tar's data.
    let entries = entries(&archive);
    let layer = &layer_names(&entries)[0];
    let offset = archive_offset_of(&archive, layer) + 100;
    let err = load_fails(&archive[..offset]);
    assert!(matches!(err, ArchiveError::Read(_)), "{err:?}");
    assert!(err.to_string().contains("truncated"), "{err}");
}

/// The byte offset of `name`'s data in `archive`.
fn archive_offset_of(archive: &[u8], name: &str) -> usize {
    let mut tar = tar::Archive::new(archive);
    for entry in tar.entries().unwrap() {
        let entry = entry.unwrap();
        if entry.path_bytes().as_ref() == name.as_bytes() {
            return entry.raw_file_position() as usize;
        }
    }
    panic!("{name} not in the archive");
}

#[test]
fn a_layer_symlink_out_of_the_archive_is_refused() {
    let mut entries = saved();
    let first = layer_names(&entries)[0].clone();
    for entry in &mut entries {
        if entry.0 == first {
            *entry = (
                first.clone(),
                EntryType::Symlink,
                Vec::new(),
                Some("../../../etc/passwd".into()),
            );
        }
    }
    let err = load_fails(&write_tar(&entries));
    assert!(matches!(err, ArchiveError::UnsafeLink { .. }), "{err:?}");
}

#[test]
fn a_huge_manifest_json_is_refused_without_reading_it_all() {
    let mut entries = saved();
    for entry in &mut entries {
        if entry.0 == "manifest.json" {
            entry.2 = vec![b' '; (8 << 20) + 1];
        }
    }
    let err = load_fails(&write_tar(&entries));
    assert!(
        matches!(err, ArchiveError::MemberTooLarge { .. }),
        "{err:?}"
    );
}

#[test]
fn an_invalid_tag_is_refused_before_anything_is_tagged() {
    let mut entries = saved();
    for entry in &mut entries {
        if entry.0 == "manifest.json" {
            let text = String::from_utf8(entry.2.clone()).unwrap();
            entry.2 = text
                .replace("\"app:1\"", "\"app:1\",\"Bad Tag\"")
                .into_bytes();
        }
    }
    let err = load_fails(&write_tar(&entries));
    assert_eq!(err.to_string(), "invalid tag \"Bad Tag\"");
}

/// Issue 11: `load` of a file that is not a tar at all says so, without echoing the file.
#[test]
fn a_file_that_is_not_a_tar_is_not_an_archive() {
    for bytes in [
        &b"not an archive, secret=hunter2\n"[..],
        &[0u8; 700][..],
        &[7u8; 1024][..],
    ] {
        let err = load_fails(bytes);
        assert!(matches!(err, ArchiveError::NotAnArchive), "{err:?}");
        let message = err.to_string();
        assert!(
            message.starts_with("not a docker or OCI archive"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
    }
}

#[test]
fn a_tar_without_manifest_or_index_is_not_an_archive() {
    let err = load_fails(&write_tar(&[(
        "hello.txt".into(),
        EntryType::Regular,
        b"hi".to_vec(),
        None,
    )]));
    assert!(matches!(err, ArchiveError::NotAnArchive), "{err:?}");
}

#[test]
fn a_second_bad_image_leaves_the_first_untagged() {
    let source = Store::new();
    source.put(&image(&["a"]), &["good:1"]);
    source.put(&image(&["b"]), &["bad:1"]);
    let mut entries = entries(&source.save(&["good:1", "bad:1"]));
    let manifest = entries.iter().find(|e| e.0 == "manifest.json").unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.2).unwrap();
    let bad_layer = manifest[1]["Layers"][0].as_str().unwrap().to_owned();
    entries.retain(|e| e.0 != bad_layer);
    let err = load_fails(&write_tar(&entries));
    assert!(matches!(err, ArchiveError::MissingMember { .. }), "{err:?}");
}

//! The reference store: docker's `reference.Store` behaviour and `index.json` in step.

use super::{digest, fixture, image_with_config, recorded, reference};
use crate::store::metadata::{MetadataError, MetadataStore, ReferenceTarget};
use crate::store::IndexEntry;

#[test]
fn add_tag_then_get_returns_image_and_manifest() {
    let f = fixture();
    let img = recorded(&f.db, "a");
    f.db.add_tag(&reference("ubuntu:22.04"), &img.manifest_digest, false)
        .unwrap();
    let target =
        f.db.reference(&reference("docker.io/library/ubuntu:22.04"))
            .unwrap();
    assert_eq!(
        target,
        Some(ReferenceTarget {
            image_id: img.image_id,
            manifest_digest: img.manifest_digest
        })
    );
}

#[test]
fn get_of_unknown_reference_is_none() {
    let f = fixture();
    assert_eq!(f.db.reference(&reference("ubuntu:nope")).unwrap(), None);
}

#[test]
fn name_only_reference_means_latest() {
    let f = fixture();
    let img = recorded(&f.db, "a");
    f.db.add_tag(&reference("ubuntu"), &img.manifest_digest, false)
        .unwrap();
    assert!(f
        .db
        .reference(&reference("ubuntu:latest"))
        .unwrap()
        .is_some());
    assert!(f.db.delete_reference(&reference("ubuntu")).unwrap());
    assert_eq!(f.db.reference(&reference("ubuntu:latest")).unwrap(), None);
}

#[test]
fn moving_a_tag_to_another_image_without_force_is_refused_in_docker_words() {
    let f = fixture();
    let a = recorded(&f.db, "a");
    let b = recorded(&f.db, "b");
    let tag = reference("ubuntu:22.04");
    f.db.add_tag(&tag, &a.manifest_digest, false).unwrap();
    let err = f.db.add_tag(&tag, &b.manifest_digest, false).unwrap_err();
    assert!(matches!(err, MetadataError::TagConflict { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "Conflict: Tag docker.io/library/ubuntu:22.04 is already set to image {}, \
             if you want to replace it, please use the force option",
            a.image_id
        )
    );
    let target = f.db.reference(&tag).unwrap().unwrap();
    assert_eq!(target.manifest_digest, a.manifest_digest);
}

#[test]
fn moving_a_tag_with_force_replaces_it() {
    let f = fixture();
    let a = recorded(&f.db, "a");
    let b = recorded(&f.db, "b");
    let tag = reference("ubuntu:22.04");
    f.db.add_tag(&tag, &a.manifest_digest, false).unwrap();
    f.db.add_tag(&tag, &b.manifest_digest, true).unwrap();
    let target = f.db.reference(&tag).unwrap().unwrap();
    assert_eq!(target.image_id, b.image_id);
}

#[test]
fn re_adding_a_tag_to_the_same_image_needs_no_force() {
    let f = fixture();
    let a = recorded(&f.db, "a");
    let tag = reference("ubuntu:22.04");
    f.db.add_tag(&tag, &a.manifest_digest, false).unwrap();
    f.db.add_tag(&tag, &a.manifest_digest, false).unwrap();
}

#[test]
fn moving_a_tag_to_another_manifest_of_the_same_image_id_needs_no_force() {
    let f = fixture();
    let gzip = image_with_config("gzip", "shared");
    let zstd = image_with_config("zstd", "shared");
    f.db.put_image(&gzip).unwrap();
    f.db.put_image(&zstd).unwrap();
    let tag = reference("app:1");
    f.db.add_tag(&tag, &gzip.manifest_digest, false).unwrap();
    f.db.add_tag(&tag, &zstd.manifest_digest, false).unwrap();
    let target = f.db.reference(&tag).unwrap().unwrap();
    assert_eq!(target.manifest_digest, zstd.manifest_digest);
}

#[test]
fn deleting_a_tag_removes_it_and_reports_whether_it_existed() {
    let f = fixture();
    let a = recorded(&f.db, "a");
    let tag = reference("ubuntu:22.04");
    f.db.add_tag(&tag, &a.manifest_digest, false).unwrap();
    assert!(f.db.delete_reference(&tag).unwrap());
    assert_eq!(f.db.reference(&tag).unwrap(), None);
    assert!(!f.db.delete_reference(&tag).unwrap());
}

#[test]
fn add_tag_refuses_a_reference_with_a_digest() {
    let f = fixture();
    let a = recorded(&f.db, "a");
    let r = reference(&format!("ubuntu@{}", a.manifest_digest));
    let err = f.db.add_tag(&r, &a.manifest_digest, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "refusing to create a tag with a digest reference"
    );
}

#[test]
fn add_tag_to_an_unrecorded_image_is_refused() {
    let f = fixture();
    let err =
        f.db.add_tag(&reference("ubuntu:1"), &digest("nothing"), false)
            .unwrap_err();
    assert!(
        matches!(err, MetadataError::ImageNotRecorded { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(digest("nothing").as_str()),
        "{err}"
    );
}

#[test]
fn add_digest_then_get_returns_target() {
    let f = fixture();
    let a = recorded(&f.db, "a");
    let r = reference(&format!("ubuntu@{}", a.manifest_digest));
    f.db.add_digest(&r, &a.manifest_digest, false).unwrap();
    let target = f.db.reference(&r).unwrap().unwrap();
    assert_eq!(target.image_id, a.image_id);
}

#[test]
fn digest_reference_by_index_digest_points_at_platform_manifest() {
    let f = fixture();
    let a = recorded(&f.db, "a");
    let r = reference(&format!("ubuntu@{}", digest("index")));
    f.db.add_digest(&r, &a.manifest_digest, false).unwrap();
    let target = f.db.reference(&r).unwrap().unwrap();
    assert_eq!(target.manifest_digest, a.manifest_digest);
}

#[test]
fn digest_reference_cannot_be_retargeted_even_with_force() {
    let f = fixture();
    let a = recorded(&f.db, "a");
    let b = recorded(&f.db, "b");
    let r = reference(&format!("ubuntu@{}", digest("index")));
    f.db.add_digest(&r, &a.manifest_digest, false).unwrap();
    let err = f.db.add_digest(&r, &b.manifest_digest, true).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Cannot overwrite digest {}", digest("index"))
    );
    let target = f.db.reference(&r).unwrap().unwrap();
    assert_eq!(target.manifest_digest, a.manifest_digest);
}

#[test]
fn add_digest_refuses_a_reference_without_digest_or_with_a_tag() {
    let f = fixture();
    let a = recorded(&f.db, "a");
    let err =
        f.db.add_digest(&reference("ubuntu"), &a.manifest_digest, false)
            .unwrap_err();
    assert!(
        matches!(err, MetadataError::NotADigestReference { .. }),
        "{err:?}"
    );
    let both = reference(&format!("ubuntu:1@{}", a.manifest_digest));
    let err =
        f.db.add_digest(&both, &a.manifest_digest, false)
            .unwrap_err();
    assert!(
        matches!(err, MetadataError::TagWithDigest { .. }),
        "{err:?}"
    );
}

#[test]
fn references_by_name_are_that_repository_only_sorted() {
    let f = fixture();
    let a = recorded(&f.db, "a");
    let b = recorded(&f.db, "b");
    for tag in ["ubuntu:b", "ubuntu:a", "ubuntu:c", "alpine:a"] {
        f.db.add_tag(&reference(tag), &a.manifest_digest, false)
            .unwrap();
    }
    let by_digest = reference(&format!("ubuntu@{}", b.manifest_digest));
    f.db.add_digest(&by_digest, &b.manifest_digest, false)
        .unwrap();

    let ubuntu = reference("ubuntu").repository().clone();
    let found = f.db.references_by_name(&ubuntu).unwrap();
    let names: Vec<String> = found.iter().map(|a| a.reference.familiar()).collect();
    assert_eq!(
        names,
        vec![
            "ubuntu:a".to_owned(),
            "ubuntu:b".to_owned(),
            "ubuntu:c".to_owned(),
            format!("ubuntu@{}", b.manifest_digest),
        ]
    );
    assert_eq!(found[3].target.image_id, b.image_id);
}

#[test]
fn references_of_an_image_id_span_repositories_sorted_by_familiar_form() {
    let f = fixture();
    let a = recorded(&f.db, "a");
    let other = recorded(&f.db, "other");
    // Canonical order would put docker.io/library/zeta first; docker sorts familiar forms.
    for tag in ["zeta:1", "localhost:5000/alpha:1", "quay.io/x/y:2"] {
        f.db.add_tag(&reference(tag), &a.manifest_digest, false)
            .unwrap();
    }
    f.db.add_tag(&reference("unrelated:1"), &other.manifest_digest, false)
        .unwrap();
    let names: Vec<String> =
        f.db.references(&a.image_id)
            .unwrap()
            .iter()
            .map(|r| r.familiar())
            .collect();
    assert_eq!(names, ["localhost:5000/alpha:1", "quay.io/x/y:2", "zeta:1"]);
}

/// The hoist-named entries of `index.json`, by name.
fn named_entries(f: &super::Fixture) -> Vec<IndexEntry> {
    let mut entries: Vec<IndexEntry> = f
        .content
        .index_manifests()
        .unwrap()
        .into_iter()
        .filter(|e| e.ref_name.is_some())
        .collect();
    entries.sort_by(|a, b| a.ref_name.cmp(&b.ref_name));
    entries
}

#[test]
fn index_json_has_an_entry_per_reference_named_by_canonical_form() {
    let f = fixture();
    let a = recorded(&f.db, "a");
    f.db.add_tag(&reference("ubuntu:22.04"), &a.manifest_digest, false)
        .unwrap();
    let by_digest = reference(&format!("localhost:5000/app@{}", a.manifest_digest));
    f.db.add_digest(&by_digest, &a.manifest_digest, false)
        .unwrap();
    let entries = named_entries(&f);
    assert_eq!(
        entries,
        vec![
            IndexEntry {
                media_type: a.manifest_media_type.clone(),
                digest: a.manifest_digest.clone(),
                size: a.manifest_size,
                ref_name: Some("docker.io/library/ubuntu:22.04".to_owned()),
            },
            IndexEntry {
                media_type: a.manifest_media_type.clone(),
                digest: a.manifest_digest.clone(),
                size: a.manifest_size,
                ref_name: Some(format!("localhost:5000/app@{}", a.manifest_digest)),
            },
        ]
    );
}

#[test]
fn index_json_entry_follows_a_forced_tag_and_goes_with_it() {
    let f = fixture();
    let a = recorded(&f.db, "a");
    let b = recorded(&f.db, "b");
    let tag = reference("ubuntu:22.04");
    f.db.add_tag(&tag, &a.manifest_digest, false).unwrap();
    f.db.add_tag(&tag, &b.manifest_digest, true).unwrap();
    let entries = named_entries(&f);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].digest, b.manifest_digest);

    f.db.delete_reference(&tag).unwrap();
    assert!(named_entries(&f).is_empty());
}

#[test]
fn index_json_keeps_entries_hoist_did_not_write() {
    let f = fixture();
    let a = recorded(&f.db, "a");
    let foreign = IndexEntry {
        media_type: a.manifest_media_type.clone(),
        digest: a.manifest_digest.clone(),
        size: a.manifest_size,
        ref_name: Some("v1".to_owned()),
    };
    f.content.index_add(&foreign).unwrap();
    let tag = reference("ubuntu:1");
    f.db.add_tag(&tag, &a.manifest_digest, false).unwrap();
    f.db.delete_reference(&tag).unwrap();
    assert_eq!(f.db.sync_index().unwrap(), 0);
    assert_eq!(named_entries(&f), vec![foreign]);
}

#[test]
fn reopening_restores_a_missing_index_entry() {
    let f = fixture();
    let a = recorded(&f.db, "a");
    f.db.add_tag(&reference("ubuntu:1"), &a.manifest_digest, false)
        .unwrap();
    f.content
        .index_remove("docker.io/library/ubuntu:1")
        .unwrap();

    let reopened = MetadataStore::open(&f.content).unwrap();
    let names: Vec<Option<String>> = named_entries(&f).into_iter().map(|e| e.ref_name).collect();
    assert_eq!(names, [Some("docker.io/library/ubuntu:1".to_owned())]);
    assert_eq!(reopened.sync_index().unwrap(), 0);
}

#[test]
fn a_removal_left_pending_by_a_killed_process_is_finished_on_open() {
    let f = fixture();
    let a = recorded(&f.db, "a");
    f.db.add_tag(&reference("ubuntu:1"), &a.manifest_digest, false)
        .unwrap();
    // As if a process committed the removal and died before touching index.json.
    let raw = rusqlite::Connection::open(f.db.path()).unwrap();
    raw.execute_batch(
        "DELETE FROM refs WHERE name = 'docker.io/library/ubuntu:1';
         INSERT INTO index_pending (name) VALUES ('docker.io/library/ubuntu:1');",
    )
    .unwrap();
    assert_eq!(named_entries(&f).len(), 1);

    MetadataStore::open(&f.content).unwrap();
    assert!(named_entries(&f).is_empty());
}

#[test]
fn a_change_left_pending_is_finished_by_the_next_reference_change() {
    let f = fixture();
    let a = recorded(&f.db, "a");
    f.db.add_tag(&reference("ubuntu:1"), &a.manifest_digest, false)
        .unwrap();
    let raw = rusqlite::Connection::open(f.db.path()).unwrap();
    raw.execute_batch(
        "DELETE FROM refs WHERE name = 'docker.io/library/ubuntu:1';
         INSERT INTO index_pending (name) VALUES ('docker.io/library/ubuntu:1');",
    )
    .unwrap();
    f.db.add_tag(&reference("other:1"), &a.manifest_digest, false)
        .unwrap();
    let names: Vec<Option<String>> = named_entries(&f).into_iter().map(|e| e.ref_name).collect();
    assert_eq!(names, [Some("docker.io/library/other:1".to_owned())]);
}

#[test]
fn a_database_moved_aside_leaves_the_index_entries_alone() {
    let f = fixture();
    let a = recorded(&f.db, "a");
    f.db.add_tag(&reference("ubuntu:1"), &a.manifest_digest, false)
        .unwrap();
    let path = f.db.path().to_owned();
    drop(f.db);
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        if std::path::Path::new(&file).exists() {
            std::fs::rename(&file, format!("{file}.aside")).unwrap();
        }
    }
    let fresh = MetadataStore::open(&f.content).unwrap();
    assert!(fresh.all_references().unwrap().is_empty());
    let names: Vec<Option<String>> = f
        .content
        .index_manifests()
        .unwrap()
        .into_iter()
        .map(|e| e.ref_name)
        .collect();
    assert_eq!(names, [Some("docker.io/library/ubuntu:1".to_owned())]);
}

#[test]
fn re_recording_an_image_with_a_corrected_media_type_updates_its_index_entries() {
    let f = fixture();
    let mut a = recorded(&f.db, "a");
    f.db.add_tag(&reference("a:1"), &a.manifest_digest, false)
        .unwrap();
    a.manifest_media_type = "application/vnd.docker.distribution.manifest.v2+json".to_owned();
    f.db.put_image(&a).unwrap();
    let entries = named_entries(&f);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].media_type, a.manifest_media_type);
}

/// Issue 11, bug 1: a reference keeps the index its image came with when it was recorded;
/// recording the same manifest again with another index (an unrelated import) moves the
/// image record's index, not the reference's.
#[test]
fn a_reference_keeps_the_index_its_image_came_with_when_it_was_recorded() {
    let f = fixture();
    let mut img = recorded(&f.db, "a");
    let single = reference("single:v1");
    f.db.add_tag(&single, &img.manifest_digest, false).unwrap();
    assert_eq!(f.db.reference_index(&single).unwrap(), None);

    img.index_digest = Some(digest("index"));
    f.db.put_image(&img).unwrap();
    let from_index = reference("multi:v1");
    f.db.add_tag(&from_index, &img.manifest_digest, false)
        .unwrap();

    assert_eq!(f.db.reference_index(&single).unwrap(), None);
    assert_eq!(
        f.db.reference_index(&from_index).unwrap(),
        Some(digest("index"))
    );
    // Tagged again, the same reference learns the index its image has now.
    f.db.add_tag(&single, &img.manifest_digest, false).unwrap();
    assert_eq!(
        f.db.reference_index(&single).unwrap(),
        Some(digest("index"))
    );
    assert_eq!(f.db.reference_index(&reference("nope:v1")).unwrap(), None);
}

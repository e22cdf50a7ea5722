//! Tests of image management against real stores with testkit-built images.

use std::collections::BTreeMap;

use super::*;
use crate::reference::Reference;
use crate::store::testing::{build, digest, fixture, put, Fixture};
use crate::store::{collect_garbage, GcOptions};

fn reference(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

fn tag(f: &Fixture, record: &ImageRecord, name: &str) {
    f.meta
        .add_tag(&reference(name), &record.manifest_digest, false)
        .unwrap();
}

fn digest_ref(f: &Fixture, record: &ImageRecord, repository: &str) -> String {
    let name = format!("{repository}@{}", record.manifest_digest);
    f.meta
        .add_digest(&reference(&name), &record.manifest_digest, false)
        .unwrap();
    name
}

fn untagged(s: &str) -> DeleteItem {
    DeleteItem::Untagged(reference(s).with_default_tag())
}

/// Two images whose IDs start with the same hex character, and that character.
fn two_images_sharing_an_id_prefix(f: &Fixture) -> (ImageRecord, ImageRecord, String) {
    let mut by_first: BTreeMap<String, ImageRecord> = BTreeMap::new();
    for i in 0..64 {
        let record = put(f, &build(&[&format!("layer-{i}")]), None);
        let first = record.image_id.hex()[..1].to_owned();
        if let Some(other) = by_first.insert(first.clone(), record.clone()) {
            return (other, record, first);
        }
    }
    unreachable!("64 images with only 16 possible first characters")
}

#[test]
fn an_ambiguous_id_prefix_is_refused_with_the_matches() {
    let f = fixture();
    let (a, b, prefix) = two_images_sharing_an_id_prefix(&f);
    let err = resolve_image(&f.meta, &prefix).unwrap_err();
    match &err {
        ImageError::AmbiguousId { matches, .. } => {
            let mut expected = vec![short_id(&a.image_id), short_id(&b.image_id)];
            expected.sort();
            assert_eq!(matches, &expected);
        }
        other => panic!("expected AmbiguousId, got {other:?}"),
    }
    assert!(err
        .to_string()
        .starts_with(&format!("No such image: {prefix}")));
}

#[test]
fn a_unique_id_prefix_full_id_and_sha256_forms_resolve() {
    let f = fixture();
    let (a, _, _) = two_images_sharing_an_id_prefix(&f);
    let unique = &a.image_id.hex()[..12];
    for input in [
        unique.to_owned(),
        format!("sha256:{unique}"),
        a.image_id.hex().to_owned(),
        a.image_id.to_string(),
    ] {
        let found = resolve_image(&f.meta, &input).unwrap();
        assert_eq!(found.image_id, a.image_id, "{input}");
        assert_eq!(found.reference, None);
    }
}

#[test]
fn references_resolve_in_familiar_and_full_form_and_name_means_latest() {
    let f = fixture();
    let record = put(&f, &build(&["app"]), Some("localhost:5000/team/app"));
    let by_digest = digest_ref(&f, &record, "localhost:5000/team/app");
    for input in [
        "localhost:5000/team/app",
        "localhost:5000/team/app:latest",
        by_digest.as_str(),
    ] {
        let found = resolve_image(&f.meta, input).unwrap();
        assert_eq!(
            found.record.manifest_digest, record.manifest_digest,
            "{input}"
        );
    }
    let hub = put(&f, &build(&["hub"]), Some("ubuntu:22.04"));
    let found = resolve_image(&f.meta, "docker.io/library/ubuntu:22.04").unwrap();
    assert_eq!(found.image_id, hub.image_id);
}

#[test]
fn unknown_refs_are_no_such_image_and_garbage_is_an_invalid_reference() {
    let f = fixture();
    put(&f, &build(&["x"]), Some("x:1"));
    let err = resolve_image(&f.meta, "x:2").unwrap_err();
    assert_eq!(err.to_string(), "No such image: x:2");
    let err = resolve_image(&f.meta, "Not A Ref").unwrap_err();
    assert!(
        matches!(err, ImageError::InvalidReference { .. }),
        "{err:?}"
    );
}

#[test]
fn list_has_a_row_per_tag_a_none_row_for_digest_only_and_dangling_images() {
    let f = fixture();
    let tagged = put(&f, &build(&["tagged"]), Some("app:1"));
    tag(&f, &tagged, "app:2");
    digest_ref(&f, &tagged, "app");
    let by_digest = put(&f, &build(&["digest-only"]), None);
    digest_ref(&f, &by_digest, "other");
    let dangling = put(&f, &build(&["dangling"]), None);

    let rows = list_images(&f.meta, None).unwrap();
    let shown: Vec<(Option<String>, Option<String>, Digest)> = rows
        .iter()
        .map(|r| {
            (
                r.repository.as_ref().map(|r| r.familiar()),
                r.tag.as_ref().map(|t| t.to_string()),
                r.image_id.clone(),
            )
        })
        .collect();
    assert_eq!(shown.len(), 4, "{shown:?}");
    assert!(shown.contains(&(
        Some("app".into()),
        Some("1".into()),
        tagged.image_id.clone()
    )));
    assert!(shown.contains(&(
        Some("app".into()),
        Some("2".into()),
        tagged.image_id.clone()
    )));
    assert!(shown.contains(&(Some("other".into()), None, by_digest.image_id.clone())));
    assert!(shown.contains(&(None, None, dangling.image_id.clone())));
}

#[test]
fn list_filter_keeps_the_repository_or_the_tag_and_never_dangling_images() {
    let f = fixture();
    let one = put(&f, &build(&["one"]), Some("app:1"));
    tag(&f, &one, "app:2");
    put(&f, &build(&["other"]), Some("other:1"));
    put(&f, &build(&["dangling"]), None);

    let repo = list_images(&f.meta, Some(&reference("docker.io/library/app"))).unwrap();
    assert_eq!(repo.len(), 2);
    let one_tag = list_images(&f.meta, Some(&reference("app:2"))).unwrap();
    assert_eq!(one_tag.len(), 1);
    assert_eq!(one_tag[0].tag.as_ref().unwrap().as_str(), "2");
}

#[test]
fn list_rows_carry_created_size_and_platform() {
    let f = fixture();
    let record = put(&f, &build(&["sized"]), Some("sized:1"));
    let rows = list_images(&f.meta, None).unwrap();
    assert_eq!(rows[0].size, record.size);
    assert_eq!(rows[0].created, Some(std::time::UNIX_EPOCH));
    assert_eq!(rows[0].platform.architecture, "amd64");
}

#[test]
fn tag_adds_a_reference_and_moves_an_existing_one() {
    let f = fixture();
    let old = put(&f, &build(&["old"]), Some("app:1"));
    let new = put(&f, &build(&["new"]), Some("new:1"));

    let added = tag_image(&f.meta, &short_id(&new.image_id)[..8], "app").unwrap();
    assert_eq!(added.to_string(), "docker.io/library/app:latest");
    tag_image(&f.meta, "new:1", "app:1").unwrap();

    let target = f.meta.reference(&reference("app:1")).unwrap().unwrap();
    assert_eq!(target.image_id, new.image_id);
    assert!(
        f.meta.image(&old.manifest_digest).unwrap().is_some(),
        "the old image stays, dangling"
    );
}

#[test]
fn tag_refuses_a_digest_target_and_an_unknown_source() {
    let f = fixture();
    let record = put(&f, &build(&["x"]), Some("x:1"));
    let target = format!("x@{}", record.manifest_digest);
    let err = tag_image(&f.meta, "x:1", &target).unwrap_err();
    assert_eq!(
        err.to_string(),
        "refusing to create a tag with a digest reference"
    );
    let err = tag_image(&f.meta, "nope", "y:1").unwrap_err();
    assert_eq!(err.to_string(), "No such image: nope");
}

#[test]
fn rmi_of_one_of_two_tags_only_untags() {
    let f = fixture();
    let record = put(&f, &build(&["x"]), Some("x:1"));
    tag(&f, &record, "y:1");
    let items = delete_image(&f.meta, "x:1", false).unwrap();
    assert_eq!(items, vec![untagged("x:1")]);
    assert!(f.meta.image(&record.manifest_digest).unwrap().is_some());
}

#[test]
fn rmi_of_the_last_tag_untags_its_digest_references_and_deletes_the_image() {
    let f = fixture();
    let image = build(&["x"]);
    let record = put(&f, &image, Some("x"));
    let by_digest = digest_ref(&f, &record, "x");
    let items = delete_image(&f.meta, "x", false).unwrap();
    assert_eq!(
        items,
        vec![
            untagged("x:latest"),
            untagged(&by_digest),
            DeleteItem::Deleted(record.image_id.clone())
        ]
    );
    assert!(f.meta.images_by_id(&record.image_id).unwrap().is_empty());

    let report = collect_garbage(&f.meta, &GcOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(report.blobs_removed, 3);
    assert!(!f.content.has(&digest(&image.layers[0])).unwrap());
}

#[test]
fn rmi_by_id_of_an_image_in_several_repositories_needs_force() {
    let f = fixture();
    let record = put(&f, &build(&["x"]), Some("x:1"));
    tag(&f, &record, "y:1");
    let id = short_id(&record.image_id).to_owned();

    let err = delete_image(&f.meta, &id, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("conflict: unable to delete {id} (must be forced) - image is referenced in multiple repositories")
    );
    assert_eq!(f.meta.references(&record.image_id).unwrap().len(), 2);

    let items = delete_image(&f.meta, &id, true).unwrap();
    assert_eq!(
        items,
        vec![
            untagged("x:1"),
            untagged("y:1"),
            DeleteItem::Deleted(record.image_id.clone())
        ]
    );
}

#[test]
fn rmi_by_id_of_an_image_with_one_tag_untags_and_deletes() {
    let f = fixture();
    let record = put(&f, &build(&["x"]), Some("x:1"));
    let items = delete_image(&f.meta, record.image_id.as_str(), false).unwrap();
    assert_eq!(
        items,
        vec![
            untagged("x:1"),
            DeleteItem::Deleted(record.image_id.clone())
        ]
    );
}

#[test]
fn inspect_shows_docker_fields_the_config_and_the_manifest() {
    let f = fixture();
    let image = hoist_testkit::ImageBuilder::new()
        .layer(crate::store::testing::layer("a"))
        .config_field("Cmd", serde_json::json!(["/bin/sh"]))
        .build()
        .unwrap();
    let record = put(&f, &image, Some("app:1"));
    let by_digest = digest_ref(&f, &record, "app");

    let inspect = inspect_image(&f.meta, "app:1").unwrap();
    assert_eq!(inspect.id, record.image_id.to_string());
    assert_eq!(inspect.repo_tags, vec!["app:1"]);
    assert_eq!(inspect.repo_digests, vec![by_digest]);
    assert_eq!(inspect.created, "1970-01-01T00:00:00Z");
    assert_eq!(
        (inspect.os.as_str(), inspect.architecture.as_str()),
        ("linux", "amd64")
    );
    assert_eq!(inspect.config["Cmd"], serde_json::json!(["/bin/sh"]));
    assert_eq!(inspect.root_fs.layers, image.diff_ids);
    assert_eq!(inspect.size, record.size);
    assert_eq!(inspect.manifest_digest, image.manifest.digest);
    let manifest: serde_json::Value = serde_json::from_slice(&image.manifest.bytes).unwrap();
    assert_eq!(inspect.manifest, manifest);
}

//! Image records.

use super::{digest, fixture, image, image_with_config, recorded, reference};
use crate::media::Platform;
use crate::store::metadata::MetadataError;

#[test]
fn put_image_then_get_round_trips_every_field() {
    let f = fixture();
    let mut img = image("a");
    img.index_digest = Some(digest("index"));
    img.platform = Platform {
        os: "linux".to_owned(),
        architecture: "arm64".to_owned(),
        variant: Some("v8".to_owned()),
        ..Default::default()
    };
    img.created = None;
    f.db.put_image(&img).unwrap();
    assert_eq!(f.db.image(&img.manifest_digest).unwrap(), Some(img));
}

#[test]
fn get_of_unknown_image_is_none() {
    let f = fixture();
    assert_eq!(f.db.image(&digest("nothing")).unwrap(), None);
}

#[test]
fn layers_come_back_in_manifest_order() {
    let f = fixture();
    let mut img = image("a");
    img.layers.reverse();
    img.layers.extend(image("b").layers);
    f.db.put_image(&img).unwrap();
    let back = f.db.image(&img.manifest_digest).unwrap().unwrap();
    assert_eq!(back.layers, img.layers);
}

#[test]
fn putting_an_image_again_replaces_its_record_and_layers() {
    let f = fixture();
    let mut img = recorded(&f.db, "a");
    img.layers.truncate(1);
    img.size = 7;
    f.db.put_image(&img).unwrap();
    assert_eq!(f.db.image(&img.manifest_digest).unwrap(), Some(img));
}

#[test]
fn putting_a_referenced_image_again_keeps_its_references() {
    let f = fixture();
    let img = recorded(&f.db, "a");
    f.db.add_tag(&reference("a:1"), &img.manifest_digest, false)
        .unwrap();
    f.db.put_image(&img).unwrap();
    assert!(f.db.reference(&reference("a:1")).unwrap().is_some());
}

#[test]
fn images_by_id_finds_every_manifest_of_one_config() {
    let f = fixture();
    let gzip = image_with_config("gzip", "shared");
    let zstd = image_with_config("zstd", "shared");
    f.db.put_image(&gzip).unwrap();
    f.db.put_image(&zstd).unwrap();
    recorded(&f.db, "other");
    let mut found: Vec<_> =
        f.db.images_by_id(&gzip.image_id)
            .unwrap()
            .into_iter()
            .map(|i| i.manifest_digest)
            .collect();
    found.sort();
    let mut want = vec![gzip.manifest_digest, zstd.manifest_digest];
    want.sort();
    assert_eq!(found, want);
    assert_eq!(f.db.images().unwrap().len(), 3);
}

#[test]
fn a_referenced_image_cannot_be_deleted() {
    let f = fixture();
    let img = recorded(&f.db, "a");
    f.db.add_tag(&reference("a:1"), &img.manifest_digest, false)
        .unwrap();
    let err = f.db.delete_image(&img.manifest_digest).unwrap_err();
    assert!(matches!(err, MetadataError::ImageInUse { .. }), "{err:?}");
    assert!(err.to_string().contains("docker.io/library/a:1"), "{err}");
    assert!(f.db.image(&img.manifest_digest).unwrap().is_some());
}

#[test]
fn an_image_without_references_is_listed_unreferenced_and_deletable() {
    let f = fixture();
    let img = recorded(&f.db, "a");
    let kept = recorded(&f.db, "b");
    f.db.add_tag(&reference("a:1"), &img.manifest_digest, false)
        .unwrap();
    f.db.add_tag(&reference("b:1"), &kept.manifest_digest, false)
        .unwrap();
    f.db.delete_reference(&reference("a:1")).unwrap();
    assert_eq!(
        f.db.unreferenced_images().unwrap(),
        vec![img.manifest_digest.clone()]
    );
    assert!(f.db.delete_image(&img.manifest_digest).unwrap());
    assert_eq!(f.db.image(&img.manifest_digest).unwrap(), None);
    assert!(!f.db.delete_image(&img.manifest_digest).unwrap());
}

//! GC roots.

use std::collections::BTreeSet;

use super::{digest, fixture, image, recorded, reference};
use crate::digest::Digest;
use crate::store::metadata::ImageRecord;

fn blobs_of(img: &ImageRecord) -> BTreeSet<Digest> {
    let mut blobs: BTreeSet<Digest> = img.layers.iter().map(|l| l.digest.clone()).collect();
    blobs.insert(img.manifest_digest.clone());
    blobs.insert(img.image_id.clone());
    blobs.extend(img.index_digest.clone());
    blobs
}

#[test]
fn roots_are_the_manifest_config_layers_and_index_of_referenced_images() {
    let f = fixture();
    let mut img = image("a");
    img.index_digest = Some(digest("index"));
    f.db.put_image(&img).unwrap();
    recorded(&f.db, "never-tagged");
    f.db.add_tag(&reference("a:1"), &img.manifest_digest, false)
        .unwrap();
    assert_eq!(f.db.gc_roots().unwrap(), blobs_of(&img));
}

#[test]
fn roots_exclude_an_image_once_its_last_reference_is_removed() {
    let f = fixture();
    let img = recorded(&f.db, "a");
    let by_digest = reference(&format!("a@{}", img.manifest_digest));
    f.db.add_tag(&reference("a:1"), &img.manifest_digest, false)
        .unwrap();
    f.db.add_digest(&by_digest, &img.manifest_digest, false)
        .unwrap();

    f.db.delete_reference(&reference("a:1")).unwrap();
    assert_eq!(f.db.gc_roots().unwrap(), blobs_of(&img));

    f.db.delete_reference(&by_digest).unwrap();
    assert!(f.db.gc_roots().unwrap().is_empty());
}

#[test]
fn a_layer_shared_with_a_referenced_image_stays_a_root() {
    let f = fixture();
    let gone = recorded(&f.db, "gone");
    let mut kept = image("kept");
    kept.layers[0] = gone.layers[0].clone();
    f.db.put_image(&kept).unwrap();
    f.db.add_tag(&reference("gone:1"), &gone.manifest_digest, false)
        .unwrap();
    f.db.add_tag(&reference("kept:1"), &kept.manifest_digest, false)
        .unwrap();
    f.db.delete_reference(&reference("gone:1")).unwrap();

    let roots = f.db.gc_roots().unwrap();
    assert!(roots.contains(&gone.layers[0].digest));
    assert!(!roots.contains(&gone.layers[1].digest));
    assert!(!roots.contains(&gone.manifest_digest));
    assert_eq!(roots, blobs_of(&kept));
}

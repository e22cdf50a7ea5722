//! Layer records.

use super::{digest, fixture, image};
use crate::digest::Digest;
use crate::store::metadata::{LayerRecord, MetadataError};

fn layer(name: &str, parent: Option<&str>) -> LayerRecord {
    LayerRecord {
        chain_id: digest(&format!("chain-{name}")),
        diff_id: digest(&format!("diff-{name}")),
        parent: parent.map(|p| digest(&format!("chain-{p}"))),
        size: 42,
        ref_count: 0,
    }
}

#[test]
fn inserted_layer_reads_back() {
    let f = fixture();
    let base = layer("base", None);
    let top = layer("top", Some("base"));
    f.db.insert_layer(&base).unwrap();
    f.db.insert_layer(&top).unwrap();
    assert_eq!(f.db.layer(&top.chain_id).unwrap(), Some(top));
    assert_eq!(f.db.layer(&digest("nothing")).unwrap(), None);
}

#[test]
fn inserting_a_known_chain_id_returns_the_existing_record() {
    let f = fixture();
    let base = layer("base", None);
    f.db.insert_layer(&base).unwrap();
    f.db.acquire_layer(&base.chain_id).unwrap();
    let again = f.db.insert_layer(&base).unwrap();
    assert_eq!(again.ref_count, 1);
}

#[test]
fn a_layer_whose_parent_is_unknown_is_refused() {
    let f = fixture();
    let err = f.db.insert_layer(&layer("top", Some("base"))).unwrap_err();
    assert!(
        matches!(err, MetadataError::LayerParentMissing { .. }),
        "{err:?}"
    );
}

#[test]
fn reference_counts_go_up_and_down_but_not_below_zero() {
    let f = fixture();
    let base = layer("base", None);
    f.db.insert_layer(&base).unwrap();
    assert_eq!(f.db.acquire_layer(&base.chain_id).unwrap(), 1);
    assert_eq!(f.db.acquire_layer(&base.chain_id).unwrap(), 2);
    assert_eq!(f.db.release_layer(&base.chain_id).unwrap(), 1);
    assert_eq!(f.db.release_layer(&base.chain_id).unwrap(), 0);
    let err = f.db.release_layer(&base.chain_id).unwrap_err();
    assert!(matches!(err, MetadataError::LayerInUse { .. }), "{err:?}");
    let err = f.db.acquire_layer(&digest("nothing")).unwrap_err();
    assert!(
        matches!(err, MetadataError::LayerNotFound { .. }),
        "{err:?}"
    );
}

#[test]
fn a_layer_with_references_or_children_cannot_be_deleted() {
    let f = fixture();
    let base = layer("base", None);
    let top = layer("top", Some("base"));
    f.db.insert_layer(&base).unwrap();
    f.db.insert_layer(&top).unwrap();
    f.db.acquire_layer(&top.chain_id).unwrap();

    let err = f.db.delete_layer(&base.chain_id).unwrap_err();
    assert!(err.to_string().contains("1 child layer"), "{err}");
    let err = f.db.delete_layer(&top.chain_id).unwrap_err();
    assert!(err.to_string().contains("1 reference"), "{err}");

    f.db.release_layer(&top.chain_id).unwrap();
    assert!(f.db.delete_layer(&top.chain_id).unwrap());
    assert!(f.db.delete_layer(&base.chain_id).unwrap());
    assert!(!f.db.delete_layer(&base.chain_id).unwrap());
}

#[test]
fn holds_count_once_per_image_and_deleting_the_image_releases_them() {
    let f = fixture();
    let base = layer("base", None);
    let top = layer("top", Some("base"));
    f.db.insert_layer(&base).unwrap();
    f.db.insert_layer(&top).unwrap();
    let one = image("one");
    let two = image("two");
    f.db.put_image(&one).unwrap();
    f.db.put_image(&two).unwrap();
    let chain = [base.chain_id.clone(), top.chain_id.clone()];
    f.db.hold_layers(&one.manifest_digest, &chain).unwrap();
    f.db.hold_layers(&one.manifest_digest, &chain).unwrap(); // again: no double count
    f.db.hold_layers(&two.manifest_digest, &chain[..1]).unwrap();
    let count = |c| f.db.layer(c).unwrap().unwrap().ref_count;
    assert_eq!((count(&base.chain_id), count(&top.chain_id)), (2, 1));
    assert_eq!(f.db.unheld_layers().unwrap(), Vec::<Digest>::new());

    assert!(f.db.delete_image(&one.manifest_digest).unwrap());
    assert_eq!((count(&base.chain_id), count(&top.chain_id)), (1, 0));
    assert_eq!(f.db.unheld_layers().unwrap(), vec![top.chain_id.clone()]);
    f.db.delete_layer(&top.chain_id).unwrap();
    assert!(
        f.db.unheld_layers().unwrap().is_empty(),
        "base is still held by two"
    );
}

#[test]
fn holding_an_unrecorded_layer_is_refused() {
    let f = fixture();
    let one = image("one");
    f.db.put_image(&one).unwrap();
    let err =
        f.db.hold_layers(&one.manifest_digest, &[digest("chain-none")])
            .unwrap_err();
    assert!(
        matches!(err, MetadataError::LayerNotFound { .. }),
        "{err:?}"
    );
}

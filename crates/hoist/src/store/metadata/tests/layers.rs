//! Layer records.

use super::{digest, fixture};
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

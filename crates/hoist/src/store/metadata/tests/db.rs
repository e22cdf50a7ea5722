//! The database file: schema, settings, corruption, locking.

use std::time::Duration;

use rusqlite::Connection;

use super::{digest, fixture, image, reference};
use crate::reference::Repository;
use crate::store::metadata::{schema, BlobSource, MetadataError, MetadataStore, DATABASE_FILE};
use crate::store::ContentStore;

fn raw(f: &super::Fixture) -> Connection {
    Connection::open(f.dir.path().join(DATABASE_FILE)).unwrap()
}

#[test]
fn metadata_store_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MetadataStore>();
}

#[test]
fn a_new_database_is_at_the_current_schema_version_in_wal_mode() {
    let f = fixture();
    let conn = raw(&f);
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::current_version());
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn reopening_keeps_what_was_recorded() {
    let f = fixture();
    let img = image("a");
    f.db.put_image(&img).unwrap();
    f.db.add_tag(&reference("a:1"), &img.manifest_digest, false)
        .unwrap();
    drop(f.db);
    let db = MetadataStore::open(&f.content).unwrap();
    assert_eq!(db.image(&img.manifest_digest).unwrap(), Some(img));
    assert!(db.reference(&reference("a:1")).unwrap().is_some());
}

#[test]
fn a_file_that_is_not_a_database_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let content = ContentStore::open(dir.path()).unwrap();
    let path = dir.path().join(DATABASE_FILE);
    std::fs::write(&path, vec![0x5a_u8; 8192]).unwrap();
    let err = MetadataStore::open(&content).unwrap_err();
    assert!(matches!(err, MetadataError::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("move it aside"), "{message}");
}

#[test]
fn a_value_that_does_not_parse_back_is_reported_as_corruption() {
    let f = fixture();
    let img = image("a");
    f.db.put_image(&img).unwrap();
    raw(&f)
        .execute("UPDATE images SET image_id = 'sha256:nonsense'", [])
        .unwrap();
    let err = f.db.image(&img.manifest_digest).unwrap_err();
    assert!(matches!(err, MetadataError::Corrupt { .. }), "{err:?}");
}

#[test]
fn a_database_from_a_newer_hoist_is_refused() {
    let f = fixture();
    let newer = schema::current_version() + 1;
    raw(&f).pragma_update(None, "user_version", newer).unwrap();
    let err = MetadataStore::open(&f.content).unwrap_err();
    match err {
        MetadataError::NewerSchema { found, known, .. } => {
            assert_eq!((found, known), (newer, schema::current_version()))
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}

#[test]
fn a_lock_held_beyond_the_busy_timeout_is_reported_as_busy() {
    let f = fixture();
    let db = MetadataStore::open_with(&f.content, Duration::from_millis(200)).unwrap();
    let holder = raw(&f);
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let source = BlobSource {
        digest: digest("blob"),
        repository: Repository::parse("repo/one").unwrap(),
        hmac: None,
    };
    let err = db.add_blob_source(&digest("diff"), &source).unwrap_err();
    assert!(err.is_busy(), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("stayed locked by another hoist process"),
        "{message}"
    );
    assert!(message.contains(DATABASE_FILE), "{message}");
    holder.execute_batch("ROLLBACK").unwrap();
    db.add_blob_source(&digest("diff"), &source).unwrap();
}

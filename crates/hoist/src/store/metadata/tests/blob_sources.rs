//! Blob sources (docker's `V2MetadataService`).

use super::{digest, fixture};
use crate::reference::Repository;
use crate::store::metadata::{BlobSource, MAX_SOURCES_PER_DIFF_ID};

fn source(blob: &str, repo: &str) -> BlobSource {
    BlobSource {
        digest: digest(blob),
        repository: Repository::parse(repo).unwrap(),
        hmac: None,
    }
}

fn sources_of(f: &super::Fixture, diff_id: &str) -> Vec<BlobSource> {
    f.db.blob_sources(&digest(diff_id))
        .unwrap()
        .into_iter()
        .map(|r| r.source)
        .collect()
}

#[test]
fn sources_are_listed_newest_first_with_their_diff_id() {
    let f = fixture();
    let first = source("blob", "localhost:5000/one");
    let second = source("blob", "localhost:5000/two");
    f.db.add_blob_source(&digest("diff"), &first).unwrap();
    f.db.add_blob_source(&digest("diff"), &second).unwrap();
    let records = f.db.blob_sources(&digest("diff")).unwrap();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.diff_id == digest("diff")));
    assert_eq!(sources_of(&f, "diff"), vec![second, first]);
}

#[test]
fn sources_are_capped_per_diff_id_dropping_the_oldest() {
    let f = fixture();
    let extra = 5;
    for i in 0..MAX_SOURCES_PER_DIFF_ID + extra {
        f.db.add_blob_source(&digest("diff"), &source("blob", &format!("repo/n{i}")))
            .unwrap();
    }
    f.db.add_blob_source(&digest("other"), &source("blob", "repo/n0"))
        .unwrap();
    let kept = sources_of(&f, "diff");
    assert_eq!(kept.len(), MAX_SOURCES_PER_DIFF_ID);
    let last = MAX_SOURCES_PER_DIFF_ID + extra - 1;
    assert_eq!(kept[0], source("blob", &format!("repo/n{last}")));
    assert_eq!(
        kept[MAX_SOURCES_PER_DIFF_ID - 1],
        source("blob", &format!("repo/n{extra}"))
    );
    assert_eq!(sources_of(&f, "other").len(), 1);
}

#[test]
fn adding_a_known_source_again_makes_it_newest_without_duplicating() {
    let f = fixture();
    let one = source("blob", "repo/one");
    let two = source("blob", "repo/two");
    f.db.add_blob_source(&digest("diff"), &one).unwrap();
    f.db.add_blob_source(&digest("diff"), &two).unwrap();
    f.db.add_blob_source(&digest("diff"), &one).unwrap();
    assert_eq!(sources_of(&f, "diff"), vec![one, two]);
}

#[test]
fn sources_differing_only_by_hmac_are_distinct() {
    let f = fixture();
    let plain = source("blob", "repo/one");
    let signed = BlobSource {
        hmac: Some("abcd".to_owned()),
        ..plain.clone()
    };
    f.db.add_blob_source(&digest("diff"), &plain).unwrap();
    f.db.add_blob_source(&digest("diff"), &signed).unwrap();
    assert_eq!(sources_of(&f, "diff"), vec![signed, plain]);
}

#[test]
fn diff_id_of_a_blob_digest_is_found() {
    let f = fixture();
    f.db.add_blob_source(&digest("diff"), &source("blob", "repo/one"))
        .unwrap();
    assert_eq!(
        f.db.diff_id_of(&digest("blob")).unwrap(),
        Some(digest("diff"))
    );
    assert_eq!(f.db.diff_id_of(&digest("unknown")).unwrap(), None);
}

#[test]
fn removing_a_source_forgets_it_only() {
    let f = fixture();
    let one = source("blob", "repo/one");
    let two = source("blob", "repo/two");
    f.db.add_blob_source(&digest("diff"), &one).unwrap();
    f.db.add_blob_source(&digest("diff"), &two).unwrap();
    assert_eq!(f.db.remove_blob_source(&one).unwrap(), 1);
    assert_eq!(sources_of(&f, "diff"), vec![two]);
}

#[test]
fn sources_on_a_registry_are_that_registry_only() {
    let f = fixture();
    let hub = source("blob", "library/one");
    let local = source("blob", "localhost:5000/one");
    f.db.add_blob_source(&digest("diff"), &hub).unwrap();
    f.db.add_blob_source(&digest("diff"), &local).unwrap();
    let on_local: Vec<BlobSource> =
        f.db.blob_sources_on(&digest("diff"), "localhost:5000")
            .unwrap()
            .into_iter()
            .map(|r| r.source)
            .collect();
    assert_eq!(on_local, vec![local]);
}

#[test]
fn last_seen_is_the_time_of_the_latest_add() {
    let f = fixture();
    let before = std::time::SystemTime::now() - std::time::Duration::from_secs(1);
    f.db.add_blob_source(&digest("diff"), &source("blob", "repo/one"))
        .unwrap();
    let records = f.db.blob_sources(&digest("diff")).unwrap();
    assert!(records[0].last_seen >= before, "{records:?}");
}

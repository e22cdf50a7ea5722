//! Tests of ingests written in parts: parts placed out of order and hashed in order, the
//! record that makes them resumable, and giving parts up for one stream.

use std::fs;

use super::ingest::{blob, ingest_dir, store};
use crate::digest::Digest;
use crate::store::{Ingest, StoreError};
use crate::transfer::Spans;

/// Takes every placed byte up to `upto` into the ingest's hash, as the pipeline does.
fn take_placed(ingest: &mut Ingest, upto: u64) {
    let mut buf = vec![0u8; 1000];
    while ingest.read_placed(&mut buf, upto).unwrap() > 0 {}
    assert_eq!(ingest.offset(), upto);
}

#[test]
fn parts_placed_out_of_order_commit_once_hashed_in_order() {
    let (_tmp, store) = store();
    let data = blob(10_000);
    let digest = Digest::sha256_of(&data);
    let mut ingest = store.begin(&digest, Some(10_000)).unwrap();
    let parts = ingest
        .parts()
        .unwrap()
        .expect("a blob of known size has parts");

    for range in [6000..10_000, 0..3000, 3000..6000] {
        let (start, end) = (range.start as usize, range.end as usize);
        parts.write_at(range.start, &[&data[start..end]]).unwrap();
        parts.complete(range).unwrap();
    }
    take_placed(&mut ingest, 10_000);

    let info = ingest.commit().unwrap();
    assert_eq!(info.size, 10_000);
    assert_eq!(fs::read(store.path_of(&digest)).unwrap(), data);
    assert!(!ingest_dir(&store, &digest).exists());
}

#[test]
fn a_resumed_ingest_hashes_its_complete_prefix_and_knows_the_other_parts() {
    let (_tmp, store) = store();
    let data = blob(10_000);
    let digest = Digest::sha256_of(&data);
    let ingest = store.begin(&digest, Some(10_000)).unwrap();
    let parts = ingest.parts().unwrap().unwrap();
    parts.write_at(0, &[&data[..2500]]).unwrap();
    parts.complete(0..2500).unwrap();
    parts.write_at(5000, &[&data[5000..7500]]).unwrap();
    parts.complete(5000..7500).unwrap();
    // Written but never recorded: a kill before its sync.
    parts.write_at(2500, &[&data[2500..3000]]).unwrap();
    drop(parts);
    drop(ingest);

    let mut ingest = store.begin(&digest, Some(10_000)).unwrap();
    assert_eq!(ingest.offset(), 2500);
    let parts = ingest.parts().unwrap().unwrap();
    assert_eq!(parts.done(), Spans::from_ranges([0..2500, 5000..7500]));
    for range in [2500..5000, 7500..10_000] {
        let (start, end) = (range.start as usize, range.end as usize);
        parts.write_at(range.start, &[&data[start..end]]).unwrap();
        parts.complete(range).unwrap();
    }
    take_placed(&mut ingest, 10_000);
    assert_eq!(ingest.commit().unwrap().digest, digest);
}

#[test]
fn a_record_for_another_size_makes_the_data_worthless() {
    let (_tmp, store) = store();
    let data = blob(4000);
    let digest = Digest::sha256_of(&data);
    let ingest = store.begin(&digest, Some(4000)).unwrap();
    let parts = ingest.parts().unwrap().unwrap();
    parts.write_at(0, &[&data[..1000]]).unwrap();
    parts.complete(0..1000).unwrap();
    drop((parts, ingest));

    let ingest = store.begin(&digest, Some(5000)).unwrap();

    assert_eq!(ingest.offset(), 0);
    assert!(!ingest_dir(&store, &digest).join("parts.json").exists());
    assert_eq!(
        fs::metadata(ingest_dir(&store, &digest).join("data"))
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn abandoned_parts_leave_an_ordinary_prefix_and_refuse_late_writes() {
    let (_tmp, store) = store();
    let data = blob(6000);
    let digest = Digest::sha256_of(&data);
    let mut ingest = store.begin(&digest, Some(6000)).unwrap();
    let parts = ingest.parts().unwrap().unwrap();
    parts
        .write_at(0, &[&data[..1000], &data[1000..2000]])
        .unwrap();
    parts.complete(0..2000).unwrap();
    parts.write_at(4000, &[&data[4000..]]).unwrap();
    parts.complete(4000..6000).unwrap();
    take_placed(&mut ingest, 2000);

    parts.abandon(2000).unwrap();

    assert!(parts.write_at(2000, &[&data[2000..3000]]).is_err());
    assert!(!ingest_dir(&store, &digest).join("parts.json").exists());
    // One stream goes on from the prefix.
    ingest.write_chunk(&data[2000..]).unwrap();
    assert_eq!(ingest.commit().unwrap().size, 6000);
    assert_eq!(fs::read(store.path_of(&digest)).unwrap(), data);
}

#[test]
fn parts_never_write_past_the_blob() {
    let (_tmp, store) = store();
    let data = blob(100);
    let digest = Digest::sha256_of(&data);
    let ingest = store.begin(&digest, Some(100)).unwrap();
    let parts = ingest.parts().unwrap().unwrap();

    let err = parts.write_at(90, &[[0u8; 11]]).unwrap_err();

    assert!(matches!(err, StoreError::SizeExceeded { .. }), "{err:?}");
}

#[test]
fn wrong_bytes_in_a_part_fail_the_commit_and_drop_the_record() {
    let (_tmp, store) = store();
    let data = blob(3000);
    let digest = Digest::sha256_of(&data);
    let mut ingest = store.begin(&digest, Some(3000)).unwrap();
    let parts = ingest.parts().unwrap().unwrap();
    let mut wrong = data.clone();
    wrong[1500] ^= 0xff;
    parts.write_at(0, &[&wrong]).unwrap();
    parts.complete(0..3000).unwrap();
    take_placed(&mut ingest, 3000);

    let err = ingest.commit().unwrap_err();

    assert!(matches!(err, StoreError::Mismatch { .. }), "{err:?}");
    assert!(!ingest_dir(&store, &digest).join("parts.json").exists());
    assert!(!store.has(&digest).unwrap());
}

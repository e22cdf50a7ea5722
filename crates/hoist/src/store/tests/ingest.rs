//! Tests of writes through ingests: commit, verification, resume, reset, locking, disk full.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::digest::Digest;
use crate::store::{ContentStore, StoreError};

pub(super) fn store() -> (tempfile::TempDir, ContentStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::open(&dir.path().join("root")).unwrap();
    (dir, store)
}

pub(super) fn blob(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

pub(super) fn ingest_dir(store: &ContentStore, digest: &Digest) -> std::path::PathBuf {
    store.root().join("ingest").join(digest.hex())
}

#[test]
fn commit_stores_the_blob_under_its_digest() {
    let (_tmp, store) = store();
    let data = blob(10_000);
    let digest = Digest::sha256_of(&data);

    let mut ingest = store.begin(&digest, Some(data.len() as u64)).unwrap();
    assert!(!ingest.is_present());
    assert_eq!(ingest.offset(), 0);
    ingest.write_chunk(&data[..4000]).unwrap();
    ingest.write_chunk(&data[4000..]).unwrap();
    let info = ingest.commit().unwrap();

    assert_eq!(info.digest, digest);
    assert_eq!(info.size, 10_000);
    let path = store.root().join("blobs/sha256").join(digest.hex());
    assert_eq!(fs::read(&path).unwrap(), data);
    assert_eq!(store.size(&digest).unwrap(), 10_000);
    assert!(store.has(&digest).unwrap());
    assert!(
        !ingest_dir(&store, &digest).exists(),
        "ingest dir must be removed"
    );
}

#[test]
fn a_partial_download_is_readable_by_its_owner_only() {
    let (_tmp, store) = store();
    let data = blob(100);
    let digest = Digest::sha256_of(&data);
    let mut ingest = store.begin(&digest, Some(100)).unwrap();
    ingest.write_chunk(&data[..50]).unwrap();
    let partial = ingest_dir(&store, &digest).join("data");
    let mode = fs::metadata(&partial).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600);
    ingest.write_chunk(&data[50..]).unwrap();
    ingest.commit().unwrap();
    let mode = fs::metadata(store.path_of(&digest))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o444, "a committed blob is read-only");
}

#[test]
fn a_stored_blob_is_refused_for_a_descriptor_of_another_size() {
    let (_tmp, store) = store();
    let data = blob(100);
    let digest = Digest::sha256_of(&data);
    store.write_blob(&digest, &data).unwrap();
    assert!(store.begin(&digest, Some(100)).unwrap().is_present());
    assert!(store.begin(&digest, None).unwrap().is_present());
    let err = store.begin(&digest, Some(99)).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::WrongSize {
                expected: 99,
                actual: 100,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("its descriptor says 99"), "{err}");
}

#[test]
fn committed_blob_is_read_only() {
    let (_tmp, store) = store();
    let digest = Digest::sha256_of(b"ro");
    store.write_blob(&digest, b"ro").unwrap();
    let mode = fs::metadata(store.path_of(&digest))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o222, 0, "mode {mode:o} still writable");
}

#[test]
fn commit_with_wrong_content_discards_data_and_names_both_digests() {
    let (_tmp, store) = store();
    let expected = Digest::sha256_of(b"the real blob");
    let mut ingest = store.begin(&expected, None).unwrap();
    ingest.write_chunk(b"a corrupted blob").unwrap();

    let err = ingest.commit().unwrap_err();
    let actual = Digest::sha256_of(b"a corrupted blob");
    match &err {
        StoreError::Mismatch {
            expected: e,
            actual: a,
            ..
        } => {
            assert_eq!(e, &expected);
            assert_eq!(a, &actual);
        }
        other => panic!("expected Mismatch, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(expected.as_str()) && message.contains(actual.as_str()),
        "{message}"
    );
    assert!(!store.has(&expected).unwrap());
    assert!(
        !store.path_of(&actual).exists(),
        "nothing stored under the actual digest"
    );
    assert!(
        !ingest_dir(&store, &expected).join("data").exists(),
        "partial data discarded"
    );
    // The next attempt starts from zero.
    assert_eq!(store.begin(&expected, None).unwrap().offset(), 0);
}

/// A 100 000-byte blob whose writer died halfway (no commit, no cleanup): its bytes, its digest
/// and how far the ingest got.
fn killed_halfway(store: &ContentStore) -> (Vec<u8>, Digest, usize) {
    let data = blob(100_000);
    let digest = Digest::sha256_of(&data);
    let half = data.len() / 2;
    let mut first = store.begin(&digest, Some(data.len() as u64)).unwrap();
    first.write_chunk(&data[..half]).unwrap();
    drop(first);
    (data, digest, half)
}

#[test]
fn begin_after_a_killed_writer_resumes_from_the_partial_offset() {
    let (_tmp, store) = store();
    let (data, digest, half) = killed_halfway(&store);

    let mut second = store.begin(&digest, Some(data.len() as u64)).unwrap();
    assert_eq!(second.offset(), half as u64);
    second.write_chunk(&data[half..]).unwrap();
    let info = second.commit().unwrap();
    assert_eq!(info.digest, digest);
    assert_eq!(fs::read(store.path_of(&digest)).unwrap(), data);
}

#[test]
fn a_blob_written_back_while_it_arrives_is_stored_intact() {
    // 20 MiB in 1 MiB writes crosses the 8 MiB write-back step twice; a reset halfway starts
    // the write-back over from zero.
    let (_tmp, store) = store();
    let data = blob(20 << 20);
    let digest = Digest::sha256_of(&data);
    let mut ingest = store.begin(&digest, Some(data.len() as u64)).unwrap();
    for chunk in data[..12 << 20].chunks(1 << 20) {
        ingest.write_chunk(chunk).unwrap();
    }
    ingest.reset().unwrap();
    for chunk in data.chunks(1 << 20) {
        ingest.write_chunk(chunk).unwrap();
    }
    ingest.commit().unwrap();
    assert_eq!(fs::read(store.path_of(&digest)).unwrap(), data);
}

#[test]
fn a_meta_record_lost_in_a_crash_still_resumes_the_data() {
    // meta.json is not fsynced: after a power cut it may be empty or gone.
    let (_tmp, store) = store();
    let (data, digest, half) = killed_halfway(&store);

    for torn in ["", "{\"digest\":"] {
        fs::write(ingest_dir(&store, &digest).join("meta.json"), torn).unwrap();
        let second = store.begin(&digest, Some(data.len() as u64)).unwrap();
        assert_eq!(second.offset(), half as u64, "meta.json {torn:?}");
        assert!(second.started().is_some());
        drop(second);
    }
    fs::remove_file(ingest_dir(&store, &digest).join("meta.json")).unwrap();
    let mut third = store.begin(&digest, Some(data.len() as u64)).unwrap();
    assert_eq!(third.offset(), half as u64);
    third.write_chunk(&data[half..]).unwrap();
    third.commit().unwrap();
    assert_eq!(fs::read(store.path_of(&digest)).unwrap(), data);
}

#[test]
fn resumed_ingest_keeps_its_original_start_time() {
    let (_tmp, store) = store();
    let digest = Digest::sha256_of(b"0123456789");
    let mut first = store.begin(&digest, Some(10)).unwrap();
    first.write_chunk(b"01234").unwrap();
    let started = first.started().unwrap();
    drop(first);
    thread::sleep(Duration::from_millis(1100));
    let second = store.begin(&digest, Some(10)).unwrap();
    let resumed = second.started().unwrap();
    let delta = resumed
        .duration_since(started)
        .unwrap_or_else(|e| e.duration());
    assert!(
        delta < Duration::from_secs(1),
        "start time moved by {delta:?}"
    );
}

#[test]
fn reset_starts_the_ingest_over_from_zero() {
    let (_tmp, store) = store();
    let data = blob(5000);
    let digest = Digest::sha256_of(&data);
    let mut first = store.begin(&digest, Some(5000)).unwrap();
    first.write_chunk(&data[..3000]).unwrap();
    drop(first);

    let mut ingest = store.begin(&digest, Some(5000)).unwrap();
    assert_eq!(ingest.offset(), 3000);
    ingest.reset().unwrap();
    assert_eq!(ingest.offset(), 0);
    // The registry answered 200: the whole blob arrives again from byte zero.
    ingest.write_chunk(&data).unwrap();
    assert_eq!(ingest.commit().unwrap().size, 5000);
    assert_eq!(fs::read(store.path_of(&digest)).unwrap(), data);
}

#[test]
fn second_writer_waits_for_the_first_then_sees_the_blob_present() {
    let (_tmp, store) = store();
    let data = blob(64 * 1024);
    let digest = Digest::sha256_of(&data);
    let (halfway_tx, halfway_rx) = mpsc::channel();
    let (try_done_tx, try_done_rx) = mpsc::channel();

    let first = {
        let (store, digest, data) = (store.clone(), digest.clone(), data.clone());
        thread::spawn(move || {
            let mut ingest = store.begin(&digest, Some(data.len() as u64)).unwrap();
            ingest.write_chunk(&data[..1000]).unwrap();
            halfway_tx.send(()).unwrap();
            try_done_rx.recv().unwrap();
            // Give the second writer time to block in `begin`.
            thread::sleep(Duration::from_millis(200));
            ingest.write_chunk(&data[1000..]).unwrap();
            ingest.commit().unwrap()
        })
    };

    halfway_rx.recv().unwrap();
    let err = store
        .try_begin(&digest, Some(data.len() as u64))
        .unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    try_done_tx.send(()).unwrap();
    let second = store.begin(&digest, Some(data.len() as u64)).unwrap();
    assert!(
        second.is_present(),
        "the waiter must find the committed blob"
    );
    assert_eq!(second.offset(), data.len() as u64);
    let info = second.commit().unwrap();

    assert_eq!(first.join().unwrap(), info);
    assert_eq!(fs::read(store.path_of(&digest)).unwrap(), data);
    assert!(!ingest_dir(&store, &digest).exists());
}

#[test]
fn many_concurrent_writers_of_one_blob_store_it_once_intact() {
    let (_tmp, store) = store();
    let data = blob(200_000);
    let digest = Digest::sha256_of(&data);
    let writers: Vec<_> = (0..6)
        .map(|_| {
            let (store, digest, data) = (store.clone(), digest.clone(), data.clone());
            thread::spawn(move || {
                let mut ingest = store.begin(&digest, Some(data.len() as u64)).unwrap();
                if !ingest.is_present() {
                    let offset = ingest.offset() as usize;
                    for chunk in data[offset..].chunks(7000) {
                        ingest.write_chunk(chunk).unwrap();
                    }
                }
                ingest.commit().unwrap()
            })
        })
        .collect();
    for writer in writers {
        assert_eq!(writer.join().unwrap().digest, digest);
    }
    assert_eq!(fs::read(store.path_of(&digest)).unwrap(), data);
}

#[test]
fn begin_on_a_stored_blob_is_present_and_commit_is_a_no_op() {
    let (_tmp, store) = store();
    let digest = Digest::sha256_of(b"hello");
    store.write_blob(&digest, b"hello").unwrap();

    let mut ingest = store.begin(&digest, Some(5)).unwrap();
    assert!(ingest.is_present());
    let err = ingest.write_chunk(b"x").unwrap_err();
    assert!(matches!(err, StoreError::AlreadyPresent { .. }), "{err:?}");
    assert_eq!(ingest.commit().unwrap().size, 5);
    assert!(!ingest_dir(&store, &digest).exists());
}

#[test]
fn writing_past_the_expected_size_is_refused_and_discarded() {
    let (_tmp, store) = store();
    let digest = Digest::sha256_of(b"12345");
    let mut ingest = store.begin(&digest, Some(5)).unwrap();
    ingest.write_chunk(b"123").unwrap();
    let err = ingest.write_chunk(b"456").unwrap_err();
    assert!(
        matches!(err, StoreError::SizeExceeded { expected: 5, .. }),
        "{err:?}"
    );
    assert_eq!(ingest.offset(), 0);
    drop(ingest);
    let data = ingest_dir(&store, &digest).join("data");
    assert_eq!(fs::metadata(data).unwrap().len(), 0);
}

#[test]
fn commit_short_of_the_expected_size_keeps_the_ingest_resumable() {
    let (_tmp, store) = store();
    let digest = Digest::sha256_of(b"0123456789");
    let mut ingest = store.begin(&digest, Some(10)).unwrap();
    ingest.write_chunk(b"0123").unwrap();
    let err = ingest.commit().unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Incomplete {
                written: 4,
                expected: 10,
                ..
            }
        ),
        "{err:?}"
    );
    let mut again = store.begin(&digest, Some(10)).unwrap();
    assert_eq!(again.offset(), 4);
    again.write_chunk(b"456789").unwrap();
    again.commit().unwrap();
    assert!(store.has(&digest).unwrap());
}

#[test]
fn leftover_longer_than_the_expected_size_is_restarted() {
    let (_tmp, store) = store();
    let digest = Digest::sha256_of(b"abc");
    let mut ingest = store.begin(&digest, None).unwrap();
    ingest.write_chunk(b"abcdef").unwrap();
    drop(ingest);
    assert_eq!(store.begin(&digest, Some(3)).unwrap().offset(), 0);
}

#[test]
fn disk_full_is_a_typed_error_and_leaves_the_ingest_resumable() {
    if !Path::new("/dev/full").exists() {
        eprintln!("SKIPPED: /dev/full is missing, cannot provoke ENOSPC");
        return;
    }
    let (_tmp, store) = store();
    let digest = Digest::sha256_of(b"0123456789");
    let mut ingest = store.begin(&digest, Some(10)).unwrap();
    ingest.write_chunk(b"0123").unwrap();
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    ingest.replace_data_file_for_test(full);

    let err = ingest.write_chunk(b"4567").unwrap_err();
    assert!(err.is_disk_full(), "{err:?}");
    let message = err.to_string();
    let data_path = ingest_dir(&store, &digest).join("data");
    assert!(message.contains("disk full"), "{message}");
    assert!(
        message.contains(&data_path.display().to_string()),
        "{message}"
    );
    assert_eq!(ingest.offset(), 4, "failed bytes are not counted");
    drop(ingest);

    let mut resumed = store.begin(&digest, Some(10)).unwrap();
    assert_eq!(resumed.offset(), 4);
    resumed.write_chunk(b"456789").unwrap();
    resumed.commit().unwrap();
}

#[test]
fn disk_full_through_io_write_has_kind_storage_full_and_carries_the_store_error() {
    let (_tmp, store) = store();
    let digest = Digest::sha256_of(b"x");
    let mut ingest = store.begin(&digest, None).unwrap();
    ingest.replace_data_file_for_test(
        fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    );
    let err = ingest.write_all(b"x").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
    assert!(StoreError::from_io_error(err).unwrap().is_disk_full());
}

#[test]
fn ingest_is_an_io_write_sink_for_io_copy() {
    let (_tmp, store) = store();
    let data = blob(300_000);
    let digest = Digest::sha256_of(&data);
    let mut ingest = store.begin(&digest, Some(data.len() as u64)).unwrap();
    let copied = std::io::copy(&mut data.as_slice(), &mut ingest).unwrap();
    assert_eq!(copied, data.len() as u64);
    ingest.flush().unwrap();
    ingest.commit().unwrap();
    let mut back = Vec::new();
    store
        .open_blob(&digest)
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, data);
}

#[test]
fn abort_removes_the_ingest() {
    let (_tmp, store) = store();
    let digest = Digest::sha256_of(b"abc");
    let mut ingest = store.begin(&digest, None).unwrap();
    ingest.write_chunk(b"ab").unwrap();
    ingest.abort();
    assert!(!ingest_dir(&store, &digest).exists());
    assert_eq!(store.begin(&digest, None).unwrap().offset(), 0);
}

#[test]
fn sha512_blobs_go_under_blobs_sha512() {
    let (_tmp, store) = store();
    let digest = Digest::sha512_of(b"five-twelve");
    store.write_blob(&digest, b"five-twelve").unwrap();
    let path = store.root().join("blobs/sha512").join(digest.hex());
    assert_eq!(fs::read(path).unwrap(), b"five-twelve");
}

#[test]
fn read_to_vec_capped_refuses_a_larger_blob() {
    let (_tmp, store) = store();
    let data = blob(2000);
    let digest = Digest::sha256_of(&data);
    store.write_blob(&digest, &data).unwrap();
    assert_eq!(store.read_to_vec_capped(&digest, 2000).unwrap(), data);
    let err = store.read_to_vec_capped(&digest, 1999).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::TooLarge {
                size: 2000,
                max: 1999,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(digest.as_str()));
}

#[test]
fn reading_a_missing_blob_is_not_found_naming_the_digest() {
    let (_tmp, store) = store();
    let digest = Digest::sha256_of(b"absent");
    assert!(!store.has(&digest).unwrap());
    let err = store.open_blob(&digest).unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains(digest.as_str()));
    assert!(matches!(
        store.size(&digest),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn store_and_ingest_can_move_to_blocking_threads() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<ContentStore>();
    assert_send::<crate::store::Ingest>();
    assert_send::<StoreError>();
}

//! Several writers on one root: threads with their own connections, and real processes.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use super::{digest, fixture, image, reference};
use crate::reference::Repository;
use crate::store::metadata::{BlobSource, MetadataStore};
use crate::store::ContentStore;

const ROUNDS: usize = 60;
const SIDES: [&str; 2] = ["left", "right"];

/// One writer's work: images, tags (each rewriting index.json) and blob sources of one shared
/// diffID, so both writers contend for the same rows.
fn write_rounds(db: &MetadataStore, side: &str) {
    for i in 0..ROUNDS {
        let img = image(&format!("{side}-{i}"));
        db.put_image(&img).unwrap();
        db.add_tag(
            &reference(&format!("{side}:{i}")),
            &img.manifest_digest,
            false,
        )
        .unwrap();
        let source = BlobSource {
            digest: digest(&format!("blob-{side}-{i}")),
            repository: Repository::parse(side).unwrap(),
            hmac: None,
        };
        db.add_blob_source(&digest("shared-diff"), &source).unwrap();
    }
}

/// What both writers together must have left.
fn assert_both_sides_recorded(root: &Path) {
    let content = ContentStore::open(root).unwrap();
    let db = MetadataStore::open(&content).unwrap();
    assert_eq!(db.images().unwrap().len(), SIDES.len() * ROUNDS);
    assert_eq!(db.all_references().unwrap().len(), SIDES.len() * ROUNDS);
    assert_eq!(
        content.index_manifests().unwrap().len(),
        SIDES.len() * ROUNDS
    );
    assert_eq!(db.blob_sources(&digest("shared-diff")).unwrap().len(), 50);
}

#[test]
fn two_stores_in_two_threads_write_at_once_without_lock_errors() {
    let f = fixture();
    let barrier = Arc::new(Barrier::new(SIDES.len()));
    let workers: Vec<_> = SIDES
        .into_iter()
        .map(|side| {
            let content = f.content.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let db = MetadataStore::open(&content).unwrap();
                barrier.wait();
                write_rounds(&db, side);
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_both_sides_recorded(f.dir.path());
}

#[test]
fn several_openers_of_a_fresh_root_at_once_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let content = ContentStore::open(dir.path()).unwrap();
    let openers = 6;
    let barrier = Arc::new(Barrier::new(openers));
    let workers: Vec<_> = (0..openers)
        .map(|_| {
            let content = content.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                MetadataStore::open(&content).map(|_| ())
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap().unwrap();
    }
}

const CHILD_ROOT: &str = "HOIST_METADATA_TEST_ROOT";
const CHILD_SIDE: &str = "HOIST_METADATA_TEST_SIDE";
const CHILD_TEST: &str = "store::metadata::tests::concurrency::child_process_writer";
/// Created by the parent when both children are ready to start.
const GO_FILE: &str = "go";

/// The body of each process `two_processes_write_at_once_without_lock_errors` spawns (this
/// test binary, running only this test); without the environment it has nothing to do.
#[test]
#[ignore = "run as a child process by two_processes_write_at_once_without_lock_errors"]
fn child_process_writer() {
    let (Ok(root), Ok(side)) = (std::env::var(CHILD_ROOT), std::env::var(CHILD_SIDE)) else {
        return;
    };
    let root = Path::new(&root);
    let content = ContentStore::open(root).unwrap();
    let db = MetadataStore::open(&content).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !root.join(GO_FILE).exists() {
        assert!(Instant::now() < deadline, "the parent never said go");
        thread::sleep(Duration::from_millis(2));
    }
    write_rounds(&db, &side);
}

#[test]
fn two_processes_write_at_once_without_lock_errors() {
    let dir = tempfile::tempdir().unwrap();
    ContentStore::open(dir.path()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = SIDES
        .into_iter()
        .map(|side| {
            Command::new(&exe)
                .args([CHILD_TEST, "--exact", "--ignored", "--test-threads=1"])
                .env(CHILD_ROOT, dir.path())
                .env(CHILD_SIDE, side)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    std::fs::write(dir.path().join(GO_FILE), b"").unwrap();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "child failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_both_sides_recorded(dir.path());
}

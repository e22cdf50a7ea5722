//! Tests of garbage collection against real stores holding real (testkit-built) images.

use std::fs;
use std::io::Write;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hoist_testkit::{Artifact, Blob};

use crate::digest::Digest;
use crate::reference::Reference;
use crate::store::gc::{collect_garbage, GcOptions, GcReport};
use crate::store::testing::{build, digest, fixture, put, write_blobs, Fixture};
use crate::store::IndexEntry;

fn has(f: &Fixture, blob: &Blob) -> bool {
    f.content.has(&digest(blob)).unwrap()
}

fn sweep_only() -> GcOptions {
    GcOptions {
        remove_unreferenced_images: false,
        ..GcOptions::default()
    }
}

fn collect(f: &Fixture, options: &GcOptions) -> GcReport {
    collect_garbage(&f.meta, options).unwrap().unwrap()
}

#[test]
fn removing_one_of_two_images_sharing_a_base_deletes_only_its_own_blobs() {
    let f = fixture();
    let kept = build(&["base", "kept"]);
    let gone = build(&["base", "gone"]);
    put(&f, &kept, Some("kept:1"));
    let record = put(&f, &gone, Some("gone:1"));
    f.meta
        .delete_reference(&Reference::parse("gone:1").unwrap())
        .unwrap();
    f.meta.delete_image(&record.manifest_digest).unwrap();

    let report = collect(&f, &sweep_only());

    assert!(has(&f, &gone.layers[0]), "the shared base layer must stay");
    for blob in kept.layers.iter().chain([&kept.config, &kept.manifest]) {
        assert!(has(&f, blob), "{blob:?} of the kept image was deleted");
    }
    for blob in [&gone.layers[1], &gone.config, &gone.manifest] {
        assert!(
            !has(&f, blob),
            "{blob:?} of the removed image is still there"
        );
    }
    assert_eq!(report.blobs_removed, 3);
    let bytes = gone.layers[1].size + gone.config.size + gone.manifest.size;
    assert_eq!(report.blob_bytes, bytes);
    assert_eq!(report.reclaimed(), bytes);
}

#[test]
fn prune_deletes_dangling_image_records_and_their_blobs() {
    let f = fixture();
    let image = build(&["dangling"]);
    let record = put(&f, &image, Some("app:1"));
    f.meta
        .delete_reference(&Reference::parse("app:1").unwrap())
        .unwrap();

    let report = collect(&f, &GcOptions::default());

    assert_eq!(report.deleted_images, vec![record.image_id]);
    assert!(f.meta.image(&record.manifest_digest).unwrap().is_none());
    assert!(!has(&f, &image.manifest) && !has(&f, &image.layers[0]));
}

#[test]
fn a_sweep_without_pruning_keeps_dangling_images_and_their_blobs() {
    let f = fixture();
    let image = build(&["dangling"]);
    let record = put(&f, &image, None);

    let report = collect(&f, &sweep_only());

    assert!(report.deleted_images.is_empty());
    assert_eq!(report.blobs_removed, 0);
    assert!(f.meta.image(&record.manifest_digest).unwrap().is_some());
    assert!(has(&f, &image.manifest) && has(&f, &image.layers[0]));
}

#[test]
fn unreferenced_blobs_are_deleted_and_files_that_are_not_digests_are_left_alone() {
    let f = fixture();
    let orphan = b"nobody needs me";
    let orphan_digest = Digest::sha256_of(orphan);
    f.content.write_blob(&orphan_digest, orphan).unwrap();
    let stray = f.content.root().join("blobs/sha256/not-a-digest");
    fs::write(&stray, b"x").unwrap();

    let report = collect(&f, &sweep_only());

    assert!(!f.content.has(&orphan_digest).unwrap());
    assert_eq!(report.blob_bytes, orphan.len() as u64);
    assert!(stray.exists());
}

#[test]
fn index_json_entries_the_database_does_not_know_keep_their_blobs() {
    let f = fixture();
    let image = build(&["foreign"]);
    write_blobs(&f.content, &image);
    f.content
        .index_add(&IndexEntry {
            media_type: image.manifest.media_type.clone(),
            digest: digest(&image.manifest),
            size: image.manifest.size,
            ref_name: Some("written-by-skopeo".into()),
        })
        .unwrap();

    let report = collect(&f, &GcOptions::default());

    assert_eq!(report.blobs_removed, 0);
    assert!(has(&f, &image.manifest) && has(&f, &image.config) && has(&f, &image.layers[0]));
}

/// Stores `artifact` as `hoist copy` records a referrer: its blobs, and an untagged
/// `index.json` entry for its manifest.
fn put_referrer(f: &Fixture, artifact: &Artifact) {
    for blob in artifact.blobs.iter().chain([&artifact.manifest]) {
        f.content.write_blob(&digest(blob), &blob.bytes).unwrap();
    }
    f.content
        .index_add(&IndexEntry {
            media_type: artifact.manifest.media_type.clone(),
            digest: digest(&artifact.manifest),
            size: artifact.manifest.size,
            ref_name: None,
        })
        .unwrap();
}

fn untagged_entries(f: &Fixture) -> usize {
    let entries = f.content.index_manifests().unwrap();
    entries.iter().filter(|e| e.ref_name.is_none()).count()
}

#[test]
fn referrers_live_as_long_as_their_subject() {
    let f = fixture();
    let image = build(&["signed"]);
    let record = put(&f, &image, Some("app:1"));
    let sbom = Artifact::new(
        "application/vnd.example.sbom",
        &image.manifest,
        &[("s", b"sbom")],
    );
    let signature = Artifact::new(
        "application/vnd.example.sig",
        &sbom.manifest,
        &[("g", b"sig")],
    );
    put_referrer(&f, &sbom);
    put_referrer(&f, &signature);

    let report = collect(&f, &sweep_only());
    assert_eq!((report.blobs_removed, report.referrers_removed), (0, 0));
    assert_eq!(untagged_entries(&f), 2);

    f.meta
        .delete_reference(&Reference::parse("app:1").unwrap())
        .unwrap();
    f.meta.delete_image(&record.manifest_digest).unwrap();
    let report = collect(&f, &sweep_only());

    assert_eq!(report.referrers_removed, 2);
    assert_eq!(untagged_entries(&f), 0);
    for blob in [&sbom, &signature]
        .iter()
        .flat_map(|a| a.blobs.iter().chain([&a.manifest]))
        .chain([&image.manifest, &image.layers[0]])
    {
        assert!(!has(&f, blob), "{blob:?} outlived its subject");
    }
}

#[test]
fn a_referrer_of_an_image_other_tools_tagged_is_kept_and_a_cycle_keeps_nothing() {
    let f = fixture();
    let image = build(&["foreign"]);
    write_blobs(&f.content, &image);
    f.content
        .index_add(&IndexEntry {
            media_type: image.manifest.media_type.clone(),
            digest: digest(&image.manifest),
            size: image.manifest.size,
            ref_name: Some("written-by-skopeo".into()),
        })
        .unwrap();
    let kept = Artifact::new(
        "application/vnd.example.sbom",
        &image.manifest,
        &[("k", b"k")],
    );
    put_referrer(&f, &kept);
    // A referrer whose subject was never stored, and one referring to it: orphans both.
    let absent = Blob::new(
        "application/vnd.oci.image.manifest.v1+json",
        b"{\"never\": \"stored\"}".to_vec(),
    );
    let orphan = Artifact::new("application/vnd.example.sbom", &absent, &[("o", b"o")]);
    let orphan_of_orphan = Artifact::new(
        "application/vnd.example.sig",
        &orphan.manifest,
        &[("p", b"p")],
    );
    put_referrer(&f, &orphan);
    put_referrer(&f, &orphan_of_orphan);

    let report = collect(&f, &GcOptions::default());

    assert_eq!(report.referrers_removed, 2);
    assert_eq!(untagged_entries(&f), 1);
    assert!(has(&f, &kept.manifest) && has(&f, &kept.blobs[1]) && has(&f, &image.layers[0]));
    assert!(!has(&f, &orphan.manifest) && !has(&f, &orphan_of_orphan.blobs[1]));
}

/// The testkit's `.sig` manifest for the image `subject`, stored as `copy::layout_signatures`
/// keeps it: blobs, and an `index.json` entry named `sha256-HEX.sig`. Returns its blobs.
fn put_signature(f: &Fixture, subject: &Blob) -> Vec<Blob> {
    let key = hoist_testkit::sigstore::CosignKey::generate();
    let layer = key.signature(&subject.digest, "example.com/app:1");
    let (manifest, config, payloads) = hoist_testkit::sigstore::signature_manifest(&[layer]);
    let blobs: Vec<Blob> = payloads.into_iter().chain([config, manifest]).collect();
    for blob in &blobs {
        f.content.write_blob(&digest(blob), &blob.bytes).unwrap();
    }
    let manifest = &blobs[blobs.len() - 1];
    f.content
        .index_add(&IndexEntry {
            media_type: manifest.media_type.clone(),
            digest: digest(manifest),
            size: manifest.size,
            ref_name: Some(hoist_testkit::sigstore::signature_tag(&subject.digest)),
        })
        .unwrap();
    blobs
}

#[test]
fn signatures_attached_by_tag_live_as_long_as_their_image() {
    let f = fixture();
    let kept = build(&["kept"]);
    let gone = build(&["gone"]);
    put(&f, &kept, Some("kept:1"));
    let record = put(&f, &gone, Some("gone:1"));
    let kept_signature = put_signature(&f, &kept.manifest);
    let gone_signature = put_signature(&f, &gone.manifest);

    let report = collect(&f, &sweep_only());
    assert_eq!((report.blobs_removed, report.signatures_removed), (0, 0));

    f.meta
        .delete_reference(&Reference::parse("gone:1").unwrap())
        .unwrap();
    f.meta.delete_image(&record.manifest_digest).unwrap();
    let report = collect(&f, &sweep_only());

    assert_eq!(report.signatures_removed, 1);
    let names: Vec<String> = f
        .content
        .index_manifests()
        .unwrap()
        .into_iter()
        .filter_map(|e| e.ref_name)
        .filter(|name| name.ends_with(".sig"))
        .collect();
    assert_eq!(
        names,
        [hoist_testkit::sigstore::signature_tag(
            &kept.manifest.digest
        )]
    );
    assert!(kept_signature.iter().all(|b| has(&f, b)));
    for blob in &gone_signature {
        assert!(!has(&f, blob), "{blob:?} outlived its image");
    }
}

#[test]
fn gc_waits_for_a_lease_and_spares_the_blob_committed_under_it() {
    let f = fixture();
    let image = build(&["pulled"]);
    let lease = f.content.lease().unwrap();
    // A pull half-way: blobs committed, image not recorded yet.
    write_blobs(&f.content, &image);

    let (done_tx, done_rx) = mpsc::channel();
    thread::scope(|scope| {
        let meta = &f.meta;
        scope.spawn(move || {
            let report = collect_garbage(meta, &GcOptions::default()).unwrap();
            done_tx.send(report).unwrap();
        });
        assert!(
            done_rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "gc ran while a lease was held"
        );
        put(&f, &image, Some("pulled:1"));
        drop(lease);
        let report = done_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap()
            .unwrap();
        assert_eq!(report.blobs_removed, 0);
    });
    assert!(has(&f, &image.manifest) && has(&f, &image.layers[0]));
}

#[test]
fn gc_that_must_not_wait_gives_up_while_a_lease_is_held() {
    let f = fixture();
    let _lease = f.content.lease().unwrap();
    let options = GcOptions {
        wait: false,
        ..GcOptions::default()
    };
    assert!(collect_garbage(&f.meta, &options).unwrap().is_none());
}

/// Leaves an interrupted ingest of `bytes` whose first attempt began `age` ago.
fn abandoned_ingest(f: &Fixture, bytes: &[u8], age: Duration) -> Digest {
    let expected = Digest::sha256_of(bytes);
    let mut ingest = f.content.begin(&expected, None).unwrap();
    ingest.write_chunk(&bytes[..bytes.len() / 2]).unwrap();
    drop(ingest);
    let started = SystemTime::now() - age;
    let meta = serde_json::json!({
        "digest": expected.as_str(),
        "expected_size": null,
        "started": started.duration_since(UNIX_EPOCH).unwrap().as_secs(),
    });
    let dir = f.content.root().join("ingest").join(expected.hex());
    fs::write(dir.join("meta.json"), meta.to_string()).unwrap();
    expected
}

fn ingest_dir(f: &Fixture, digest: &Digest) -> std::path::PathBuf {
    f.content.root().join("ingest").join(digest.hex())
}

#[test]
fn stale_ingests_are_deleted_and_fresh_ones_kept_for_resuming() {
    let f = fixture();
    let day = Duration::from_secs(24 * 60 * 60);
    let stale = abandoned_ingest(&f, b"two days old, never resumed", 2 * day);
    let fresh = abandoned_ingest(&f, b"an hour old, may resume", day / 24);

    let report = collect(&f, &GcOptions::default());

    assert_eq!(report.ingests_removed, 1);
    assert_eq!(report.ingest_bytes, 13);
    assert!(!ingest_dir(&f, &stale).exists());
    assert!(ingest_dir(&f, &fresh).exists());
    let resumed = f.content.begin(&fresh, None).unwrap();
    assert_eq!(resumed.offset(), 11);
}

#[test]
fn a_stale_ingest_whose_lock_is_held_is_kept() {
    let f = fixture();
    let day = Duration::from_secs(24 * 60 * 60);
    let digest = abandoned_ingest(&f, b"resumed right now by a writer", 3 * day);
    let writer = f.content.begin(&digest, None).unwrap();

    let report = collect(&f, &GcOptions::default());

    assert_eq!(report.ingests_removed, 0);
    assert!(ingest_dir(&f, &digest).join("data").exists());
    drop(writer);
}

#[test]
fn a_spool_left_by_a_killed_load_is_deleted_at_once_and_a_live_one_kept() {
    let f = fixture();
    // What a `hoist load` killed mid-member leaves: its spool directory, lock released.
    let killed = f.content.root().join("ingest").join("spool-4242-1-0");
    fs::create_dir_all(&killed).unwrap();
    fs::write(killed.join("lock"), b"").unwrap();
    fs::write(killed.join("data"), b"half a layer").unwrap();
    let mut live = f.content.spool().unwrap();
    live.write_all(b"a member being read").unwrap();

    let report = collect(&f, &GcOptions::default());

    assert_eq!(report.ingests_removed, 1);
    assert_eq!(report.ingest_bytes, 12);
    assert!(!killed.exists());
    let committed = live.commit().unwrap();
    assert!(f.content.has(&committed.digest).unwrap());
}

#[test]
fn an_ingest_left_beside_its_stored_blob_is_deleted_at_once() {
    let f = fixture();
    let image = build(&["base"]);
    put(&f, &image, Some("kept:1"));
    // What a writer killed between the rename into blobs/ and removing its directory leaves.
    let layer = digest(&image.layers[0]);
    let left = f.content.root().join("ingest").join(layer.hex());
    fs::create_dir_all(&left).unwrap();
    fs::write(left.join("lock"), b"").unwrap();
    let resumable = abandoned_ingest(&f, b"an hour old, may resume", Duration::from_secs(3600));

    let report = collect(&f, &GcOptions::default());

    assert_eq!(report.ingests_removed, 1);
    assert!(!left.exists());
    assert!(has(&f, &image.layers[0]), "the stored blob stays");
    assert!(ingest_dir(&f, &resumable).exists());
}

#[test]
fn an_ingest_left_beside_a_blob_the_sweep_deletes_goes_with_it() {
    let f = fixture();
    let unreferenced = Digest::sha256_of(b"a blob no image names");
    f.content
        .write_blob(&unreferenced, b"a blob no image names")
        .unwrap();
    let left = f.content.root().join("ingest").join(unreferenced.hex());
    fs::create_dir_all(&left).unwrap();
    fs::write(left.join("lock"), b"").unwrap();

    let report = collect(&f, &GcOptions::default());

    assert_eq!((report.blobs_removed, report.ingests_removed), (1, 1));
    assert!(!left.exists());
}

#[test]
fn a_temporary_index_left_by_a_dead_writer_is_deleted_and_a_live_ones_kept() {
    let f = fixture();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let root = f.content.root();
    let left = root.join(format!(".tmp-{dead}-3-index.json"));
    let live = root.join(format!(".tmp-{}-0-index.json", std::process::id()));
    fs::write(&left, b"{").unwrap();
    fs::write(&live, b"{").unwrap();

    collect(&f, &GcOptions::default());

    assert!(!left.exists(), "a killed writer's temporary file stays");
    assert!(
        live.exists(),
        "a running writer's temporary file was deleted"
    );
}

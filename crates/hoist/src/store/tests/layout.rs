//! Tests of the root as an OCI image layout: creation, refusal of foreign roots, index.json
//! entries, and skopeo reading what hoist wrote.

use std::fs;
use std::process::Command;

use serde_json::{json, Value};

use crate::digest::Digest;
use crate::store::{ContentStore, IndexEntry, StoreError};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn entry(digest: &Digest, ref_name: Option<&str>) -> IndexEntry {
    IndexEntry {
        media_type: MANIFEST.to_owned(),
        digest: digest.clone(),
        size: 42,
        ref_name: ref_name.map(str::to_owned),
    }
}

#[test]
fn open_creates_an_oci_image_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("a/b/root");
    ContentStore::open(&root).unwrap();
    assert_eq!(
        read_json(&root.join("oci-layout")),
        json!({"imageLayoutVersion": "1.0.0"})
    );
    let index = read_json(&root.join("index.json"));
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["manifests"], json!([]));
    assert!(root.join("blobs/sha256").is_dir());
    assert!(root.join("ingest").is_dir());
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_new_root_and_its_ingest_and_layers_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("a/root");
    ContentStore::open(&root).unwrap();
    for dir in [root.clone(), root.join("ingest"), root.join("layers")] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
}

#[test]
fn an_existing_root_open_to_others_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    ContentStore::open(&root).unwrap();
    // A root an older hoist made: world-traversable.
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    ContentStore::open(&root).unwrap();
    assert_eq!(mode(&root), 0o700);
}

#[test]
fn open_twice_keeps_the_existing_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ContentStore::open(tmp.path()).unwrap();
    let digest = Digest::sha256_of(b"{}");
    store.write_blob(&digest, b"{}").unwrap();
    store.index_add(&entry(&digest, Some("v1"))).unwrap();
    let again = ContentStore::open(tmp.path()).unwrap();
    assert!(again.has(&digest).unwrap());
    assert_eq!(again.index_manifests().unwrap().len(), 1);
}

#[test]
fn open_refuses_a_root_that_is_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, b"x").unwrap();
    let err = ContentStore::open(&file).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
    assert!(err.to_string().contains("not a directory"), "{err}");
}

#[test]
fn open_refuses_a_non_empty_directory_that_is_not_a_layout() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("Cargo.toml"), b"[package]").unwrap();
    let err = ContentStore::open(tmp.path()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
    assert!(message.contains("Cargo.toml"), "{message}");
    assert!(
        message.contains(&tmp.path().display().to_string()),
        "{message}"
    );
    assert!(
        !tmp.path().join("oci-layout").exists(),
        "nothing written into a foreign dir"
    );
}

#[test]
fn open_refuses_an_unknown_layout_version() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("oci-layout"),
        br#"{"imageLayoutVersion":"2.0.0"}"#,
    )
    .unwrap();
    let err = ContentStore::open(tmp.path()).unwrap_err();
    assert!(matches!(err, StoreError::InvalidLayout { .. }), "{err:?}");
    assert!(err.to_string().contains("2.0.0"), "{err}");
}

#[test]
fn open_refuses_a_corrupt_index_json() {
    let tmp = tempfile::tempdir().unwrap();
    ContentStore::open(tmp.path()).unwrap();
    fs::write(tmp.path().join("index.json"), b"{not json").unwrap();
    let err = ContentStore::open(tmp.path()).unwrap_err();
    assert!(matches!(err, StoreError::InvalidLayout { .. }), "{err:?}");
    assert!(err.to_string().contains("index.json"), "{err}");
}

#[test]
fn open_finishes_a_root_whose_creation_was_interrupted() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir_all(tmp.path().join("blobs/sha256")).unwrap();
    fs::create_dir_all(tmp.path().join("ingest")).unwrap();
    ContentStore::open(tmp.path()).unwrap();
    assert!(tmp.path().join("oci-layout").is_file());
    assert!(tmp.path().join("index.json").is_file());
}

#[test]
fn index_add_replaces_the_entry_with_the_same_ref_name() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ContentStore::open(tmp.path()).unwrap();
    let (old, new, other) = (
        Digest::sha256_of(b"old"),
        Digest::sha256_of(b"new"),
        Digest::sha256_of(b"other"),
    );
    store.index_add(&entry(&old, Some("latest"))).unwrap();
    store.index_add(&entry(&other, Some("v2"))).unwrap();
    store.index_add(&entry(&new, Some("latest"))).unwrap();
    let entries = store.index_manifests().unwrap();
    assert_eq!(
        entries,
        vec![entry(&other, Some("v2")), entry(&new, Some("latest"))]
    );
    let raw = read_json(&tmp.path().join("index.json"));
    assert_eq!(
        raw["manifests"][1]["annotations"]["org.opencontainers.image.ref.name"],
        "latest"
    );
}

#[test]
fn index_remove_drops_only_the_named_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ContentStore::open(tmp.path()).unwrap();
    let (a, b) = (Digest::sha256_of(b"a"), Digest::sha256_of(b"b"));
    store.index_add(&entry(&a, Some("a"))).unwrap();
    store.index_add(&entry(&b, Some("b"))).unwrap();
    assert!(store.index_remove("a").unwrap());
    assert!(!store.index_remove("a").unwrap());
    assert_eq!(store.index_manifests().unwrap(), vec![entry(&b, Some("b"))]);
}

#[test]
fn index_changes_keep_fields_hoist_does_not_know() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ContentStore::open(tmp.path()).unwrap();
    let a = Digest::sha256_of(b"a");
    let foreign = json!({
        "schemaVersion": 2,
        "annotations": {"made.by": "skopeo"},
        "manifests": [{
            "mediaType": MANIFEST, "digest": a.as_str(), "size": 42,
            "platform": {"architecture": "arm64", "os": "linux"},
            "annotations": {"org.opencontainers.image.ref.name": "a"}
        }]
    });
    fs::write(tmp.path().join("index.json"), foreign.to_string()).unwrap();
    store
        .index_add(&entry(&Digest::sha256_of(b"b"), Some("b")))
        .unwrap();
    let raw = read_json(&tmp.path().join("index.json"));
    assert_eq!(raw["annotations"]["made.by"], "skopeo");
    assert_eq!(raw["manifests"][0]["platform"]["architecture"], "arm64");
}

#[test]
fn concurrent_index_adds_lose_no_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ContentStore::open(tmp.path()).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                let name = format!("t{i}");
                store
                    .index_add(&entry(&Digest::sha256_of(name.as_bytes()), Some(&name)))
                    .unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store.index_manifests().unwrap().len(), 8);
}

/// Writes a one-layer image (uncompressed empty tar) and tags it `tiny`; returns the
/// manifest and config bytes.
fn write_tiny_image(store: &ContentStore) -> (Vec<u8>, Vec<u8>) {
    let layer = vec![0u8; 1024]; // an empty tar archive: two zero blocks
    let layer_digest = Digest::sha256_of(&layer);
    store.write_blob(&layer_digest, &layer).unwrap();
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest.as_str()]}
    })
    .to_string()
    .into_bytes();
    let config_digest = Digest::sha256_of(&config);
    store.write_blob(&config_digest, &config).unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.as_str(),
            "size": config.len()
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest.as_str(),
            "size": layer.len()
        }]
    })
    .to_string()
    .into_bytes();
    let manifest_digest = Digest::sha256_of(&manifest);
    store.write_blob(&manifest_digest, &manifest).unwrap();
    store
        .index_add(&IndexEntry {
            media_type: MANIFEST.to_owned(),
            digest: manifest_digest,
            size: manifest.len() as u64,
            ref_name: Some("tiny".to_owned()),
        })
        .unwrap();
    (manifest, config)
}

fn skopeo(args: &[&str]) -> Option<Vec<u8>> {
    let output = match Command::new("skopeo").args(args).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("cannot run skopeo: {e}"),
    };
    assert!(
        output.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(output.stdout)
}

#[test]
fn skopeo_reads_the_store_as_an_oci_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ContentStore::open(tmp.path()).unwrap();
    let (manifest, config) = write_tiny_image(&store);
    let image = format!("oci:{}:tiny", tmp.path().display());

    let Some(raw_manifest) = skopeo(&["inspect", "--raw", &image]) else {
        eprintln!("SKIPPED: skopeo is not installed, cannot check the layout with it");
        return;
    };
    assert_eq!(raw_manifest, manifest);
    let raw_config = skopeo(&["inspect", "--config", "--raw", &image]).unwrap_or_default();
    assert_eq!(raw_config, config);
    // A full copy reads and verifies every blob.
    let out = tmp.path().join("copied");
    let dest = format!("dir:{}", out.display());
    skopeo(&["--insecure-policy", "copy", "--quiet", &image, &dest]).unwrap_or_default();
    assert!(out.join("manifest.json").is_file());
}

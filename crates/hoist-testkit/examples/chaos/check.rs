//! What the harness checks after every run: each stored blob hashes to its name (in a hoist
//! store and in a registry's storage), nothing is left in `ingest/` or in temporary
//! directories, and every manifest `index.json` names is present with its config and layers.
//!
//! Hashing uses `sha256sum` (coreutils): independent of hoist's own hashing and fast in a
//! debug build.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Blobs checked: how many, how many bytes, and the names whose content hashes to another name.
#[derive(Debug, Default, Clone)]
pub struct BlobCheck {
    pub blobs: usize,
    pub bytes: u64,
    pub corrupt: Vec<String>,
}

/// Checks `ROOT/blobs/sha256/<hex>` of a hoist store.
pub fn store_blobs(root: &Path) -> BlobCheck {
    let dir = root.join("blobs").join("sha256");
    let files = list(&dir)
        .into_iter()
        .map(|p| {
            let name = file_name(&p);
            (name, p)
        })
        .collect();
    hash_all(files)
}

/// Checks `STORAGE/docker/registry/v2/blobs/sha256/<xx>/<hex>/data` of a `docker-registry`.
pub fn registry_blobs(storage: &Path) -> BlobCheck {
    let dir = storage.join("docker/registry/v2/blobs/sha256");
    let files = list(&dir)
        .into_iter()
        .flat_map(|prefix| list(&prefix))
        .map(|blob| (file_name(&blob), blob.join("data")))
        .filter(|(_, data)| data.is_file())
        .collect();
    hash_all(files)
}

/// What is left in a store that only a running operation should have: entries of `ingest/`
/// (partial downloads, load spools), `layers/.tmp-*` (layers being unpacked) and `.tmp-*`
/// files of the root (index.json being replaced).
pub fn leftovers(root: &Path) -> Vec<PathBuf> {
    let mut found = list(&root.join("ingest"));
    let temporary = |p: &PathBuf| file_name(p).starts_with(".tmp-");
    found.extend(list(&root.join("layers")).into_iter().filter(temporary));
    found.extend(list(root).into_iter().filter(temporary));
    found
}

/// Bytes held in `ingest/` (resumable partial data).
pub fn ingest_bytes(root: &Path) -> u64 {
    list(&root.join("ingest"))
        .iter()
        .filter_map(|dir| fs::metadata(dir.join("data")).ok())
        .map(|m| m.len())
        .sum()
}

/// The manifests, indexes, configs and layers reachable from `index.json` that are missing
/// from `blobs/`, as `digest (what)`.
pub fn missing_from_index(root: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    let mut seen = BTreeSet::new();
    let Some(index) = read_json(&root.join("index.json")) else {
        return vec!["index.json (unreadable)".to_string()];
    };
    let mut pending: Vec<(String, String)> = descriptors(&index, "manifests")
        .map(|d| (d, "manifest".to_string()))
        .collect();
    while let Some((digest, what)) = pending.pop() {
        if !seen.insert(digest.clone()) {
            continue;
        }
        let path = blob_path(root, &digest);
        if !path.is_file() {
            missing.push(format!("{digest} ({what})"));
            continue;
        }
        if what != "manifest" {
            continue;
        }
        let Some(doc) = read_json(&path) else {
            missing.push(format!("{digest} (manifest unreadable)"));
            continue;
        };
        pending.extend(descriptors(&doc, "manifests").map(|d| (d, "manifest".into())));
        pending.extend(descriptors(&doc, "layers").map(|d| (d, "layer".into())));
        if let Some(config) = doc["config"]["digest"].as_str() {
            pending.push((config.to_string(), "config".into()));
        }
    }
    missing
}

fn descriptors<'a>(doc: &'a serde_json::Value, key: &str) -> impl Iterator<Item = String> + 'a {
    doc[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["digest"].as_str().map(str::to_string))
}

fn blob_path(root: &Path, digest: &str) -> PathBuf {
    let (algorithm, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
    root.join("blobs").join(algorithm).join(hex)
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

fn list(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    paths
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Hashes `(expected hex, file)` pairs with `sha256sum`, a few hundred files per call.
fn hash_all(files: Vec<(String, PathBuf)>) -> BlobCheck {
    let mut check = BlobCheck::default();
    for chunk in files.chunks(256) {
        let output = Command::new("sha256sum")
            .args(chunk.iter().map(|(_, path)| path))
            .output();
        let text = match output {
            Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
            Err(e) => {
                check.corrupt.push(format!("sha256sum did not run: {e}"));
                continue;
            }
        };
        // `HASH  PATH` per line; a file that vanished (a concurrent gc) has no line.
        let sums: HashMap<&str, &str> = text
            .lines()
            .filter_map(|l| l.split_once("  "))
            .map(|(hash, path)| (path, hash))
            .collect();
        for (expected, path) in chunk {
            let Some(&sum) = sums.get(path.to_string_lossy().as_ref()) else {
                continue;
            };
            check.blobs += 1;
            check.bytes += fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            if sum != expected {
                check
                    .corrupt
                    .push(format!("{} hashes to {sum}", path.display()));
            }
        }
    }
    check
}

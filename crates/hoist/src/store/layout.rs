//! The OCI image layout files at the root of the store: `oci-layout` and `index.json`.
//!
//! Owns creating and recognising a store root (used by [`ContentStore::open`]) and the small
//! read-modify-write helpers on `index.json` that the reference store will use to keep the
//! layout's tags in step with its own (`org.opencontainers.image.ref.name` annotations, the way
//! skopeo's and umoci's `oci:` transport name images). Spec:
//! <https://github.com/opencontainers/image-spec/blob/main/image-layout.md>.
//!
//! # Invariants
//! - The root, `ingest/` and `layers/` are 0700 ([`PRIVATE_DIR_MODE`]); an existing root that
//!   is open to others is tightened on open. Unpacked layers hold setuid binaries and device
//!   nodes as the image made them: only the store's owner may reach them.
//! - A root is created in an order that makes a half-made one recognisable: directories, then
//!   `index.json`, then `oci-layout` last. A directory holding only those names (and hoist's own
//!   `ingest/` and `index.json.lock`) is finished on the next open; any other non-empty
//!   directory without `oci-layout` is refused, so `--root ~/src` never scribbles over a
//!   project.
//! - `index.json` and `oci-layout` are only ever replaced whole, by writing a temporary file in
//!   the root, fsyncing it and renaming it over the old one: readers (skopeo, another hoist)
//!   see the old or the new file, never half of one.
//! - Changes to `index.json` happen under an exclusive `flock` on `index.json.lock`, so two
//!   processes tagging at once do not lose each other's entries. Unknown fields of the index
//!   and of its descriptors (platform, other annotations) are kept as they were.

use std::collections::BTreeSet;
use std::fs::{self, DirBuilder, File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::lock::{lock_exclusive, open_lock_file, Wait};
use super::{ContentStore, StoreError};
use crate::digest::Digest;

/// `oci-layout`: the marker file of an OCI image layout.
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
/// `index.json`: the layout's entry point.
pub const INDEX_FILE: &str = "index.json";
/// `blobs/`: content, as `blobs/<algorithm>/<hex>`.
pub const BLOBS_DIR: &str = "blobs";
/// `ingest/`: hoist's partial writes, one directory per expected digest.
pub const INGEST_DIR: &str = "ingest";
/// `layers/`: unpacked layers by chain ID (see `store::layers`).
pub const LAYERS_DIR: &str = super::layers::LAYERS_DIR;
/// The lock serialising changes to `index.json`.
pub const INDEX_LOCK_FILE: &str = "index.json.lock";
/// The only image layout version there is.
pub const IMAGE_LAYOUT_VERSION: &str = "1.0.0";
/// The annotation naming an image in an OCI layout (`oci:ROOT:NAME`).
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// The media type of `index.json`.
pub const OCI_INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// The mode of the store root, `ingest/` and `layers/`: only the store's owner may enter. The
/// root being private is what keeps other local users away from unpacked layers (setuid
/// binaries, world-writable directories, device nodes); the others are defence in depth.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Prefix of the temporary files written before an atomic rename; skipped when recognising a
/// half-made root.
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// One manifest entry of `index.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The manifest's media type (OCI or Docker manifest or index).
    pub media_type: String,
    /// The manifest's digest.
    pub digest: Digest,
    /// The manifest's size in bytes.
    pub size: u64,
    /// The `org.opencontainers.image.ref.name` annotation, if any.
    pub ref_name: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct LayoutMarker {
    #[serde(rename = "imageLayoutVersion")]
    image_layout_version: String,
}

#[derive(Serialize, Deserialize)]
struct IndexFile {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Map<String, Value>>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

impl IndexFile {
    fn empty() -> IndexFile {
        IndexFile {
            schema_version: 2,
            media_type: Some(OCI_INDEX_MEDIA_TYPE.to_owned()),
            manifests: Vec::new(),
            rest: Map::new(),
        }
    }
}

/// Makes `root` a store: creates what is missing, refuses what is something else.
pub(crate) fn prepare_root(root: &Path) -> Result<(), StoreError> {
    match fs::metadata(root) {
        Ok(meta) if !meta.is_dir() => {
            return Err(StoreError::NotAStore {
                root: root.to_owned(),
                reason: "it exists and is not a directory".to_owned(),
            })
        }
        Ok(meta) => make_private(root, meta.permissions().mode()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).map_err(|e| StoreError::io("create", parent, e))?;
            }
            create_private_dir(root).map_err(|e| StoreError::io("create", root, e))?;
        }
        Err(e) => return Err(StoreError::io("inspect", root, e)),
    }

    let marker = root.join(OCI_LAYOUT_FILE);
    let has_marker = exists(&marker)?;
    if has_marker {
        check_marker(&marker)?;
    } else {
        refuse_foreign_entries(root)?;
    }

    let blobs = root.join(BLOBS_DIR).join("sha256");
    fs::create_dir_all(&blobs).map_err(|e| StoreError::io("create", &blobs, e))?;
    for dir in [root.join(INGEST_DIR), root.join(LAYERS_DIR)] {
        create_private_dir(&dir).map_err(|e| StoreError::io("create", &dir, e))?;
    }
    let index = root.join(INDEX_FILE);
    if exists(&index)? {
        read_index(&index)?;
    } else {
        write_json_atomically(root, &index, &IndexFile::empty())?;
    }
    if !has_marker {
        let layout = LayoutMarker {
            image_layout_version: IMAGE_LAYOUT_VERSION.to_owned(),
        };
        write_json_atomically(root, &marker, &layout)?;
    }
    Ok(())
}

/// Creates the directory `path` (its parent must exist) with mode 0700, whatever the umask;
/// an existing directory is left as it is.
pub(crate) fn create_private_dir(path: &Path) -> io::Result<()> {
    match DirBuilder::new().mode(PRIVATE_DIR_MODE).create(path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        other => other,
    }
}

/// Takes group and other permissions away from an existing store root. A root made by an
/// older hoist (0755) let every local user reach the unpacked layers' setuid binaries and
/// device nodes (the class of CVE-2021-41091); docker keeps `/var/lib/docker` 0710. A root
/// this process may not chmod (another owner's) is used as it is, with a warning.
fn make_private(root: &Path, mode: u32) {
    if mode & 0o077 == 0 {
        return;
    }
    if let Err(e) = fs::set_permissions(root, Permissions::from_mode(PRIVATE_DIR_MODE)) {
        tracing::warn!(
            root = %root.display(),
            mode = format_args!("{:o}", mode & 0o7777),
            error = %e,
            "the store root is open to other local users and cannot be made private (0700)"
        );
    }
}

fn exists(path: &Path) -> Result<bool, StoreError> {
    path.try_exists()
        .map_err(|e| StoreError::io("inspect", path, e))
}

fn check_marker(path: &Path) -> Result<(), StoreError> {
    let bytes = fs::read(path).map_err(|e| StoreError::io("read", path, e))?;
    let marker: LayoutMarker =
        serde_json::from_slice(&bytes).map_err(|e| StoreError::InvalidLayout {
            path: path.to_owned(),
            reason: format!("expected {{\"imageLayoutVersion\": \"{IMAGE_LAYOUT_VERSION}\"}}: {e}"),
        })?;
    // The spec has only ever had 1.0.0; a later 1.x stays readable by design.
    if !marker.image_layout_version.starts_with("1.") {
        return Err(StoreError::InvalidLayout {
            path: path.to_owned(),
            reason: format!(
                "unsupported imageLayoutVersion {:?} (hoist reads 1.x)",
                marker.image_layout_version
            ),
        });
    }
    Ok(())
}

/// Refuses a directory without `oci-layout` that holds anything a half-made store would not.
fn refuse_foreign_entries(root: &Path) -> Result<(), StoreError> {
    let entries = fs::read_dir(root).map_err(|e| StoreError::io("list", root, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("list", root, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = matches!(
            name.as_ref(),
            BLOBS_DIR
                | INGEST_DIR
                | LAYERS_DIR
                | INDEX_FILE
                | INDEX_LOCK_FILE
                | super::lease::GC_LOCK_FILE
        ) || name.starts_with(TEMP_PREFIX);
        if !ours {
            return Err(StoreError::NotAStore {
                root: root.to_owned(),
                reason: format!(
                    "it is not empty (it holds {name:?}) and has no {OCI_LAYOUT_FILE} file"
                ),
            });
        }
    }
    Ok(())
}

fn read_index(path: &Path) -> Result<IndexFile, StoreError> {
    let bytes = fs::read(path).map_err(|e| StoreError::io("read", path, e))?;
    let index: IndexFile =
        serde_json::from_slice(&bytes).map_err(|e| StoreError::InvalidLayout {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if index.schema_version != 2 {
        return Err(StoreError::InvalidLayout {
            path: path.to_owned(),
            reason: format!("schemaVersion is {}, expected 2", index.schema_version),
        });
    }
    Ok(index)
}

/// Writes `value` as JSON to `target` by way of a fsynced temporary file in `dir` and a rename;
/// then fsyncs `dir` so the rename itself survives a crash.
pub(crate) fn write_json_atomically<T: Serialize>(
    dir: &Path,
    target: &Path,
    value: &T,
) -> Result<(), StoreError> {
    write_atomically(dir, target, &encode_json(target, value)?)
}

/// Writes `value` as JSON to `target` by way of a temporary file in `dir` and a rename, with no
/// fsync: for a record that costs nothing when a crash loses it, because its reader takes a
/// missing, empty or torn file for an absent one. While the system runs, readers see the old
/// file or the new one, never part of one. Each fsync is a journal commit on a disk — two
/// saved for every blob a pull writes.
pub(crate) fn write_json_unsynced<T: Serialize>(
    dir: &Path,
    target: &Path,
    value: &T,
) -> Result<(), StoreError> {
    replace(dir, target, &encode_json(target, value)?, false)
}

fn encode_json<T: Serialize>(target: &Path, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Io {
        op: "encode",
        path: target.to_owned(),
        source: io::Error::other(e),
    })
}

/// Writes `bytes` to `target` the way [`write_json_atomically`] does (also used for the
/// manifests of a `dir:` destination).
pub(crate) fn write_atomically(dir: &Path, target: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    replace(dir, target, bytes, true)
}

/// A temporary file in `dir` renamed over `target`; `durable`: the file is fsynced before the
/// rename and `dir` after it.
fn replace(dir: &Path, target: &Path, bytes: &[u8], durable: bool) -> Result<(), StoreError> {
    let temp = temp_path(dir, target);
    let result = write_file(&temp, bytes, durable)
        .and_then(|()| fs::rename(&temp, target).map_err(|e| StoreError::io("rename", target, e)));
    if result.is_err() {
        // Best effort: a leftover temp file is harmless (it is skipped and never read).
        let _ = fs::remove_file(&temp);
    }
    result?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8], sync: bool) -> Result<(), StoreError> {
    let mut file = File::create(path).map_err(|e| StoreError::io("create", path, e))?;
    file.write_all(bytes)
        .map_err(|e| StoreError::io("write", path, e))?;
    if sync {
        file.sync_all()
            .map_err(|e| StoreError::io("sync", path, e))?;
    }
    Ok(())
}

/// A temporary name unique across processes (pid) and threads (counter).
fn temp_path(dir: &Path, target: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!("{TEMP_PREFIX}{}-{n}-{name}", std::process::id()))
}

/// fsyncs a directory so that entries created or renamed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("sync directory", dir, e))
}

/// The manifests listed in the `index.json` of the layout at `root`, read without opening
/// (or creating anything in) the layout: what a reader of someone else's layout needs.
pub fn read_index_manifests(root: &Path) -> Result<Vec<IndexEntry>, StoreError> {
    let path = root.join(INDEX_FILE);
    let index = read_index(&path)?;
    index
        .manifests
        .iter()
        .map(|m| entry_from_json(&path, m))
        .collect()
}

impl ContentStore {
    /// The manifests listed in the layout's `index.json`.
    pub fn index_manifests(&self) -> Result<Vec<IndexEntry>, StoreError> {
        read_index_manifests(self.root())
    }

    /// Adds `entry` to `index.json`. An entry with the same `ref_name` is replaced (a tag moves,
    /// as with `skopeo copy` into an `oci:` layout); an unnamed entry is not added twice.
    pub fn index_add(&self, entry: &IndexEntry) -> Result<(), StoreError> {
        self.modify_index(|manifests| {
            manifests.retain(|m| !same_slot(m, entry));
            manifests.push(entry_to_json(entry));
        })
    }

    /// Removes the entry named `ref_name` from `index.json`; `Ok(false)` if there was none.
    pub fn index_remove(&self, ref_name: &str) -> Result<bool, StoreError> {
        let mut removed = false;
        self.modify_index(|manifests| {
            let before = manifests.len();
            manifests.retain(|m| ref_name_of(m) != Some(ref_name));
            removed = manifests.len() != before;
        })?;
        Ok(removed)
    }

    /// Removes the untagged entries (no `ref.name`) naming one of `digests` from `index.json`
    /// (garbage collection's orphaned referrers); returns how many went. Tagged entries are
    /// never touched.
    pub fn index_remove_untagged(&self, digests: &BTreeSet<Digest>) -> Result<usize, StoreError> {
        let mut removed = 0;
        self.modify_index(|manifests| {
            let before = manifests.len();
            manifests.retain(|m| {
                let digest = m.get("digest").and_then(Value::as_str);
                ref_name_of(m).is_some()
                    || !digest.is_some_and(|d| digests.iter().any(|x| x.as_str() == d))
            });
            removed = before - manifests.len();
        })?;
        Ok(removed)
    }

    fn modify_index(
        &self,
        change: impl FnOnce(&mut Vec<Map<String, Value>>),
    ) -> Result<(), StoreError> {
        let root = self.root();
        let lock_path = root.join(INDEX_LOCK_FILE);
        let lock = open_lock_file(&lock_path).map_err(|e| StoreError::io("open", &lock_path, e))?;
        lock_exclusive(&lock, Wait::Block).map_err(|e| StoreError::io("lock", &lock_path, e))?;
        let path = root.join(INDEX_FILE);
        let mut index = read_index(&path)?;
        change(&mut index.manifests);
        write_json_atomically(root, &path, &index)
        // `lock` is dropped here, after the rename: the next writer reads the new file.
    }
}

fn ref_name_of(m: &Map<String, Value>) -> Option<&str> {
    m.get("annotations")?.get(REF_NAME_ANNOTATION)?.as_str()
}

fn same_slot(m: &Map<String, Value>, entry: &IndexEntry) -> bool {
    match &entry.ref_name {
        Some(name) => ref_name_of(m) == Some(name.as_str()),
        None => {
            ref_name_of(m).is_none()
                && m.get("digest").and_then(Value::as_str) == Some(entry.digest.as_str())
        }
    }
}

fn entry_to_json(entry: &IndexEntry) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("mediaType".into(), Value::from(entry.media_type.clone()));
    m.insert("digest".into(), Value::from(entry.digest.as_str()));
    m.insert("size".into(), Value::from(entry.size));
    if let Some(name) = &entry.ref_name {
        let mut annotations = Map::new();
        annotations.insert(REF_NAME_ANNOTATION.into(), Value::from(name.clone()));
        m.insert("annotations".into(), Value::Object(annotations));
    }
    m
}

fn entry_from_json(path: &Path, m: &Map<String, Value>) -> Result<IndexEntry, StoreError> {
    let invalid = |reason: String| StoreError::InvalidLayout {
        path: path.to_owned(),
        reason,
    };
    let digest_str = m
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("a manifest descriptor has no digest".to_owned()))?;
    let digest = Digest::parse(digest_str)
        .map_err(|e| invalid(format!("manifest descriptor digest: {e}")))?;
    let size = m
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid(format!("the descriptor of {digest} has no valid size")))?;
    let media_type = m
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok(IndexEntry {
        media_type,
        digest,
        size,
        ref_name: ref_name_of(m).map(str::to_owned),
    })
}

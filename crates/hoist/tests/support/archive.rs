//! Shared by the `archive_*` tests: stores in temporary directories holding testkit images the
//! way a pull leaves them, and helpers to read and rewrite tar archives in memory.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use hoist::digest::Digest;
use hoist::reference::Reference;
use hoist_testkit::store::SeededStore;
use hoist_testkit::{Image, ImageBuilder, Layer};

// Re-exported for the archive tests (not every test binary uses it).
#[allow(unused_imports)]
pub use hoist_testkit::store::digest;

/// A store seeded through the testkit ([`SeededStore`]: `dir`, `meta`, `root()`, `put`), with
/// what the archive tests ask of it.
#[derive(Default)]
pub struct Store(SeededStore);

impl std::ops::Deref for Store {
    type Target = SeededStore;
    fn deref(&self) -> &SeededStore {
        &self.0
    }
}

impl Store {
    pub fn new() -> Store {
        Store::default()
    }

    /// `hoist save NAMES` into memory.
    pub fn save(&self, names: &[&str]) -> Vec<u8> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut out = Vec::new();
        hoist::archive::save_images(&self.meta, &names, &mut out).unwrap();
        out
    }

    /// The image ID a tag points at, if any.
    pub fn image_id_of(&self, tag: &str) -> Option<Digest> {
        self.meta
            .reference(&Reference::parse(tag).unwrap())
            .unwrap()
            .map(|t| t.image_id)
    }

    /// Nothing is tagged and no image is recorded.
    pub fn is_empty(&self) -> bool {
        self.meta.all_references().unwrap().is_empty() && self.meta.images().unwrap().is_empty()
    }
}

/// An image of one layer per file name, each file holding its name.
pub fn image(files: &[&str]) -> Image {
    files
        .iter()
        .fold(ImageBuilder::new(), |b, name| {
            b.layer(Layer::from_files(&[(name, name.as_bytes())]).unwrap())
        })
        .build()
        .unwrap()
}

/// One member of an archive read into memory.
#[derive(Debug, Clone)]
pub struct Member {
    pub header: tar::Header,
    pub data: Vec<u8>,
}

/// Every member of a tar archive, by path, in order.
pub fn members(archive: &[u8]) -> Vec<(String, Member)> {
    let mut out = Vec::new();
    let mut tar = tar::Archive::new(archive);
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.push((name, Member { header, data }));
    }
    out
}

/// The regular members as a map path → bytes.
pub fn files(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
    members(archive)
        .into_iter()
        .filter(|(_, m)| m.header.entry_type().is_file())
        .map(|(n, m)| (n, m.data))
        .collect()
}

/// `manifest.json` of a docker-archive.
pub fn manifest_json(archive: &[u8]) -> serde_json::Value {
    serde_json::from_slice(&files(archive)["manifest.json"]).unwrap()
}

/// Writes members (name, entry type, data, link target) as a tar, without the tar crate's path
/// checks, so names such as `../x` can be written.
pub fn write_tar(entries: &[(String, tar::EntryType, Vec<u8>, Option<String>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, data, link) in entries {
        let mut header = tar::Header::new_gnu();
        {
            let raw = header.as_old_mut();
            raw.name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(link) = link {
                raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
            }
        }
        header.set_entry_type(*kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// The regular members and links of `archive` as `write_tar` entries, to be edited.
pub fn entries(archive: &[u8]) -> Vec<(String, tar::EntryType, Vec<u8>, Option<String>)> {
    let mut out = Vec::new();
    let mut tar = tar::Archive::new(archive);
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let kind = entry.header().entry_type();
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8(l.into_owned()).unwrap());
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.push((name, kind, data, link));
    }
    out
}

#[allow(unused_imports)]
pub use super::skopeo::run as skopeo;

/// The config of the one image in an OCI layout directory.
pub fn oci_config(dir: &Path) -> serde_json::Value {
    let read = |d: &str| {
        let hex = d.strip_prefix("sha256:").unwrap();
        std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap()
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    serde_json::from_slice(&read(manifest["config"]["digest"].as_str().unwrap())).unwrap()
}

/// The sha256 of each layer of the one image in an OCI layout directory, decompressed if gzip.
pub fn oci_layer_diff_ids(dir: &Path) -> Vec<String> {
    let read = |d: &str| {
        let hex = d.strip_prefix("sha256:").unwrap();
        std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap()
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| {
            let bytes = read(layer["digest"].as_str().unwrap());
            let tar = if bytes.starts_with(&[0x1f, 0x8b]) {
                let mut out = Vec::new();
                flate2::read::MultiGzDecoder::new(bytes.as_slice())
                    .read_to_end(&mut out)
                    .unwrap();
                out
            } else {
                bytes
            };
            Digest::sha256_of(&tar).to_string()
        })
        .collect()
}

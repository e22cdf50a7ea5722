//! Testkit images written straight into a hoist store the way a pull leaves them (blobs, image
//! record, tags), for tests that need a filled store without a registry.
//!
//! Only with the `store` feature: it is the one part of the testkit that uses the `hoist`
//! crate (its store API), so everything else here stays independent of hoist. It seeds a store;
//! it checks nothing, so a hoist bug it shares with the code under test cannot pass a test
//! that compares against the testkit's own [`Image`] bytes and digests.

use std::path::PathBuf;
use std::sync::Arc;

use hoist::digest::Digest;
use hoist::media::Platform;
use hoist::reference::Reference;
use hoist::store::metadata::{ImageLayer, ImageRecord};
use hoist::store::{ContentStore, MetadataStore};
use tempfile::TempDir;

use crate::{Blob, Image};

/// A store root (`DIR/root`) in a temporary directory with its metadata database open, to
/// fill with [`SeededStore::put`]. The directory holds nothing else until a test puts
/// something beside the root (an output directory, a HOME).
pub struct SeededStore {
    /// The temporary directory; the root is its `root/`.
    pub dir: TempDir,
    /// The store's metadata database (its content store through [`MetadataStore::content`]).
    pub meta: Arc<MetadataStore>,
}

impl SeededStore {
    /// A fresh, empty store.
    pub fn new() -> SeededStore {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let content =
            ContentStore::open(&dir.path().join("root")).expect("creating the test store");
        let meta = MetadataStore::open(&content).expect("opening the test store's database");
        SeededStore {
            dir,
            meta: Arc::new(meta),
        }
    }

    /// The store root, what `hoist --root` is given.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Writes `image`'s blobs, records it and tags it with each of `tags` (see [`put`]).
    pub fn put(&self, image: &Image, tags: &[&str]) -> ImageRecord {
        put(&self.meta, image, tags)
    }
}

impl Default for SeededStore {
    fn default() -> Self {
        Self::new()
    }
}

/// The digest of a testkit blob (always a valid sha256 digest: the testkit computed it).
pub fn digest(blob: &Blob) -> Digest {
    Digest::parse(&blob.digest).expect("the testkit computes valid sha256 digests")
}

/// The record a pull of `image` (linux/amd64) would write.
pub fn record_of(image: &Image) -> ImageRecord {
    ImageRecord {
        image_id: digest(&image.config),
        manifest_digest: digest(&image.manifest),
        manifest_media_type: image.manifest.media_type.clone(),
        manifest_size: image.manifest.size,
        index_digest: None,
        platform: Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
            ..Default::default()
        },
        size: image.tars.iter().map(|t| t.len() as u64).sum(),
        created: Some("1970-01-01T00:00:00Z".into()),
        layers: image
            .layers
            .iter()
            .zip(&image.diff_ids)
            .map(|(blob, diff_id)| ImageLayer {
                diff_id: Digest::parse(diff_id).expect("the testkit computes valid diffIDs"),
                digest: digest(blob),
                size: blob.size,
                media_type: blob.media_type.clone(),
            })
            .collect(),
    }
}

/// Writes `image`'s blobs into `meta`'s store, records it and tags it with each of `tags`.
///
/// Panics when the store refuses (a test fixture: the test cannot go on without it).
pub fn put(meta: &MetadataStore, image: &Image, tags: &[&str]) -> ImageRecord {
    let content = meta.content();
    for blob in image.layers.iter().chain([&image.config, &image.manifest]) {
        content
            .write_blob(&digest(blob), &blob.bytes)
            .expect("writing a blob into the test store");
    }
    let record = record_of(image);
    meta.put_image(&record)
        .expect("recording an image in the test store");
    for tag in tags {
        let reference = Reference::parse(tag).expect("a test's tag is a valid reference");
        meta.add_tag(&reference, &record.manifest_digest, false)
            .expect("tagging an image in the test store");
    }
    record
}

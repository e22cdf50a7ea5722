//! Tests of the metadata database, one file per part; fixtures here.

mod blob_sources;
mod concurrency;
mod db;
mod gc;
mod images;
mod layers;
mod refs;

use tempfile::TempDir;

use super::{ImageLayer, ImageRecord, MetadataStore};
use crate::digest::Digest;
use crate::media::Platform;
use crate::reference::Reference;
use crate::store::ContentStore;

/// A fresh store root with its content store and database.
pub(super) struct Fixture {
    pub(super) dir: TempDir,
    pub(super) content: ContentStore,
    pub(super) db: MetadataStore,
}

pub(super) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let content = ContentStore::open(dir.path()).unwrap();
    let db = MetadataStore::open(&content).unwrap();
    Fixture { dir, content, db }
}

/// A digest standing for the content named `name`.
pub(super) fn digest(name: &str) -> Digest {
    Digest::sha256_of(name.as_bytes())
}

pub(super) fn reference(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

/// An amd64 image named `name`: config `config-NAME`, manifest `manifest-NAME`, two layers.
pub(super) fn image(name: &str) -> ImageRecord {
    image_with_config(name, name)
}

/// An image whose manifest is `manifest-NAME` and config `config-CONFIG`.
pub(super) fn image_with_config(name: &str, config: &str) -> ImageRecord {
    ImageRecord {
        image_id: digest(&format!("config-{config}")),
        manifest_digest: digest(&format!("manifest-{name}")),
        manifest_media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
        manifest_size: 512,
        index_digest: None,
        platform: Platform {
            os: "linux".to_owned(),
            architecture: "amd64".to_owned(),
            variant: None,
            ..Default::default()
        },
        size: 3000,
        created: Some("2026-01-02T03:04:05Z".to_owned()),
        layers: (0..2)
            .map(|i| ImageLayer {
                diff_id: digest(&format!("diff-{name}-{i}")),
                digest: digest(&format!("blob-{name}-{i}")),
                size: 100 + i,
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".to_owned(),
            })
            .collect(),
    }
}

/// Records `image(name)` in `db` and returns it.
pub(super) fn recorded(db: &MetadataStore, name: &str) -> ImageRecord {
    let record = image(name);
    db.put_image(&record).unwrap();
    record
}

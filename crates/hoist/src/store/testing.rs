//! Test fixtures shared by the store's and `images`' tests: a store in a temporary directory
//! and real (testkit-built) images written into it the way a pull would leave them.

use hoist_testkit::{Blob, Image, ImageBuilder, Layer};
use tempfile::TempDir;

use super::metadata::{ImageLayer, ImageRecord};
use super::{ContentStore, MetadataStore};
use crate::digest::Digest;
use crate::media::Platform;
use crate::reference::Reference;

/// A store root with its content store and database.
pub(crate) struct Fixture {
    pub(crate) _dir: TempDir,
    pub(crate) content: ContentStore,
    pub(crate) meta: MetadataStore,
}

pub(crate) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let content = ContentStore::open(dir.path()).unwrap();
    let meta = MetadataStore::open(&content).unwrap();
    Fixture {
        _dir: dir,
        content,
        meta,
    }
}

pub(crate) fn digest(blob: &Blob) -> Digest {
    Digest::parse(&blob.digest).unwrap()
}

pub(crate) fn layer(name: &str) -> Layer {
    Layer::from_files(&[(name, name.as_bytes())]).unwrap()
}

pub(crate) fn build(layers: &[&str]) -> Image {
    layers
        .iter()
        .fold(ImageBuilder::new(), |b, name| b.layer(layer(name)))
        .build()
        .unwrap()
}

pub(crate) fn write_blobs(content: &ContentStore, image: &Image) {
    for blob in image.layers.iter().chain([&image.config, &image.manifest]) {
        content.write_blob(&digest(blob), &blob.bytes).unwrap();
    }
}

/// Writes `image`'s blobs, records it and, if given, tags it.
pub(crate) fn put(f: &Fixture, image: &Image, tag: Option<&str>) -> ImageRecord {
    write_blobs(&f.content, image);
    let record = ImageRecord {
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
                diff_id: Digest::parse(diff_id).unwrap(),
                digest: digest(blob),
                size: blob.size,
                media_type: blob.media_type.clone(),
            })
            .collect(),
    };
    f.meta.put_image(&record).unwrap();
    if let Some(tag) = tag {
        f.meta
            .add_tag(
                &Reference::parse(tag).unwrap(),
                &record.manifest_digest,
                false,
            )
            .unwrap();
    }
    record
}

//! Testkit images written straight into a store the way a pull leaves them (blobs, image
//! record, tags), for tests that need a filled store without a registry. Shared by the library's
//! integration tests and, through `#[path]`, by the CLI's.
#![allow(dead_code)]

use hoist::digest::Digest;
use hoist::reference::Reference;
use hoist::store::metadata::{ImageLayer, ImageRecord, Platform};
use hoist::store::MetadataStore;
use hoist_testkit::{Blob, Image};

/// The digest of a testkit blob.
pub fn digest(blob: &Blob) -> Digest {
    Digest::parse(&blob.digest).unwrap()
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
    }
}

/// Writes `image`'s blobs into `meta`'s store, records it and tags it with each of `tags`.
pub fn put(meta: &MetadataStore, image: &Image, tags: &[&str]) -> ImageRecord {
    let content = meta.content();
    for blob in image.layers.iter().chain([&image.config, &image.manifest]) {
        content.write_blob(&digest(blob), &blob.bytes).unwrap();
    }
    let record = record_of(image);
    meta.put_image(&record).unwrap();
    for tag in tags {
        meta.add_tag(
            &Reference::parse(tag).unwrap(),
            &record.manifest_digest,
            false,
        )
        .unwrap();
    }
    record
}

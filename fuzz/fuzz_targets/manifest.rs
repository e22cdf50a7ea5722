//! Documents a registry serves: manifests, indexes and schema 1 manifests under every content
//! type a registry may send (and a generic one, so the body's own `mediaType` decides), and image
//! configs. The first byte picks the content type, the rest is the body.
#![no_main]

use hoist::media::types::{
    DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED, DOCKER_MANIFEST_V2,
    OCI_INDEX, OCI_MANIFEST,
};
use hoist::media::{ImageConfig, Manifest, Schema1Manifest};
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: [&str; 8] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST_V2,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V1,
    DOCKER_MANIFEST_V1_SIGNED,
    "application/json",
    "",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let _ = Manifest::parse(content_type, body);
    let _ = ImageConfig::parse(body);
    let _ = Schema1Manifest::parse(body);
});

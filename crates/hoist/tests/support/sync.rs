//! Shared helpers for the sync integration tests: a source registry seeded by the testkit
//! with repositories whose images share a base layer, one sync run, and what a destination
//! registry received (counted from its access log).
#![allow(dead_code)]

use std::collections::BTreeSet;

use hoist::registry::RegistryClient;
use hoist::sync::{plan, run, Destination, Source, SyncOptions, SyncReport};
use hoist_testkit::{Image, ImageBuilder, ImagePusher, Layer, TestRegistry};

use crate::support::copy::fast_copy_options;
use crate::support::pull::{anonymous_client, Recorder};

/// An image on the shared `base` layer with one small layer of its own (`name` in a file).
pub fn image_on(base: &Layer, name: &str) -> Image {
    ImageBuilder::new()
        .layer(base.clone())
        .layer(Layer::from_files(&[("name.txt", name.as_bytes())]).unwrap())
        .build()
        .unwrap()
}

/// A 64 KiB random base layer.
pub fn base_layer() -> Layer {
    Layer::random(64 << 10).unwrap()
}

/// Pushes `image` to `repo:tag` of `registry`.
pub async fn seed(registry: &TestRegistry, repo: &str, tag: &str, image: &Image) {
    ImagePusher::new(registry)
        .push_image(repo, tag, image)
        .await
        .unwrap();
}

/// Options with a fast backoff, every platform.
pub fn fast_options() -> SyncOptions {
    SyncOptions {
        copy: fast_copy_options(),
        ..SyncOptions::default()
    }
}

/// Plans and runs one sync anonymously; the plan must succeed.
pub async fn sync(
    source: &Source,
    destination: &Destination,
    scoped: bool,
    options: &SyncOptions,
) -> SyncReport {
    sync_with(&anonymous_client(), source, destination, scoped, options).await
}

/// [`sync`] with `client`.
pub async fn sync_with(
    client: &RegistryClient,
    source: &Source,
    destination: &Destination,
    scoped: bool,
    options: &SyncOptions,
) -> SyncReport {
    let planned = plan(client, source, None, destination, scoped)
        .await
        .unwrap();
    run(client, planned, options, &Recorder::default()).await
}

/// The digests of the blobs `registry` received bytes for since its log was last cleared:
/// uploads closed with `?digest=` (a `PUT` of a session, or a monolithic `POST`).
pub fn uploaded(registry: &TestRegistry) -> BTreeSet<String> {
    registry
        .access_log()
        .iter()
        .filter(|e| e.method == "PUT" || e.method == "POST")
        .filter(|e| e.path.contains("/blobs/uploads/"))
        .filter_map(|e| {
            let (_, query) = e.path.split_once("digest=")?;
            let digest = query.split('&').next()?;
            Some(digest.replace("%3A", ":").replace("%3a", ":"))
        })
        .collect()
}

/// Requests to `registry` that carried blob bytes (`PATCH`es and uploads closed with a
/// digest): 0 when nothing moved.
pub fn blob_requests(registry: &TestRegistry) -> usize {
    registry
        .access_log()
        .iter()
        .filter(|e| {
            e.method == "PATCH"
                || ((e.method == "PUT" || e.method == "POST")
                    && e.path.contains("/blobs/uploads/")
                    && e.path.contains("digest="))
        })
        .count()
}

/// The blob digests of `image` (config and layers).
pub fn blobs_of(image: &Image) -> BTreeSet<String> {
    image
        .layers
        .iter()
        .map(|l| l.digest.clone())
        .chain([image.config.digest.clone()])
        .collect()
}

/// The digest the registry at `base_url` serves for `repo:reference` (a `HEAD`).
pub async fn remote_digest(registry: &TestRegistry, repo: &str, reference: &str) -> Option<String> {
    let response = hoist_testkit::http_client()
        .unwrap()
        .head(format!(
            "{}/v2/{repo}/manifests/{reference}",
            registry.url()
        ))
        .header(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
             application/vnd.docker.distribution.manifest.v2+json, \
             application/vnd.docker.distribution.manifest.list.v2+json",
        )
        .send()
        .await
        .unwrap();
    if response.status() != 200 {
        return None;
    }
    response
        .headers()
        .get("Docker-Content-Digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

//! Shared helpers for the push integration tests: fill a store by pulling a testkit image from a
//! source registry with hoist, tag it for the target, push with a fast backoff, and read back
//! what the target registry holds (skopeo, plain HTTP, its access log).
#![allow(dead_code)]

use std::time::Duration;

use hoist::digest::Digest;
use hoist::progress::Status;
use hoist::push::{PushOptions, Pusher};
use hoist::reference::Reference;
use hoist::registry::RegistryClient;
use hoist::store::metadata::ImageRecord;
use hoist::transfer::{Backoff, TransferConfig};
use hoist_testkit::{Image, TestRegistry};

use crate::support::pull::{anonymous_client, fast_options, push, reference, Recorder, Store};

/// Upload settings with a backoff of milliseconds, so retries do not slow the suite.
pub fn fast_upload() -> TransferConfig {
    TransferConfig {
        backoff: Backoff::Linear {
            step: Duration::from_millis(20),
        },
        ..TransferConfig::uploads()
    }
}

/// Options with a backoff of milliseconds.
pub fn fast_push_options() -> PushOptions {
    PushOptions {
        upload: fast_upload(),
        ..PushOptions::default()
    }
}

pub fn pusher(store: &Store, client: RegistryClient, options: PushOptions) -> Pusher {
    let content = store.content();
    let metadata = hoist::store::MetadataStore::open(&content).unwrap();
    Pusher::new(client, content, metadata, options)
}

/// Seeds `source` with `image` as `name:tag` (testkit), pulls it into `store` with hoist, and
/// tags it `target` (e.g. `127.0.0.1:P/app:v1`). Returns the manifest digest.
pub async fn seed_and_tag(
    store: &Store,
    source: &TestRegistry,
    name: &str,
    image: &Image,
    target: &str,
) -> Digest {
    let (repo, tag) = name.split_once(':').unwrap();
    push(source, repo, tag, image).await;
    store
        .puller(fast_options())
        .pull(&reference(source, name), &Recorder::default())
        .await
        .unwrap();
    let digest = Digest::parse(image.digest()).unwrap();
    tag_as(store, &digest, target);
    digest
}

/// Points the tag `target` at the recorded image `manifest`.
pub fn tag_as(store: &Store, manifest: &Digest, target: &str) {
    let r = Reference::parse(target).unwrap();
    store.metadata().add_tag(&r, manifest, true).unwrap();
}

/// Pushes `target` anonymously; returns the progress recorder.
pub async fn push_anonymous(store: &Store, target: &str) -> (hoist::push::PushOutcome, Recorder) {
    let progress = Recorder::default();
    let outcome = pusher(store, anonymous_client(), fast_push_options())
        .push(&Reference::parse(target).unwrap(), &progress)
        .await
        .unwrap();
    (outcome, progress)
}

/// `skopeo inspect --raw docker://HOST/REPO:TAG` over plain HTTP.
pub fn skopeo_remote_raw(reference: &str) -> Vec<u8> {
    super::skopeo::inspect_raw(&format!("docker://{reference}"))
}

/// The bytes of blob `digest` in `repo` of the registry at `base_url`.
pub async fn blob_bytes(base_url: &str, repo: &str, digest: &str) -> Vec<u8> {
    let client = hoist_testkit::http_client().unwrap();
    let response = client
        .get(format!("{base_url}/v2/{repo}/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "GET blob {digest}: {}",
        response.status()
    );
    response.bytes().await.unwrap().to_vec()
}

/// Asserts the registry holds every blob of `image` in `repo` with its exact bytes.
pub async fn assert_blobs_equal(base_url: &str, repo: &str, image: &Image) {
    for blob in image.layers.iter().chain([&image.config]) {
        assert_eq!(
            blob_bytes(base_url, repo, &blob.digest).await,
            blob.bytes,
            "blob {} differs",
            blob.digest
        );
    }
}

/// Requests of the registry that may have carried bytes of `image`'s layers (body sizes are not
/// in the access log): every PATCH, and every upload PUT closing a layer digest.
pub fn layer_writes(registry: &TestRegistry, image: &Image) -> usize {
    let layer_params: Vec<String> = image
        .layers
        .iter()
        .map(|l| format!("digest={}", l.digest.replace(':', "%3A")))
        .collect();
    registry
        .access_log()
        .iter()
        .filter(|e| {
            e.method == "PATCH"
                || (e.method == "PUT"
                    && e.path.contains("/blobs/uploads/")
                    && layer_params.iter().any(|p| e.path.contains(p.as_str())))
        })
        .count()
}

/// POSTs that asked for a mount.
pub fn mount_posts(registry: &TestRegistry) -> usize {
    registry
        .access_log()
        .iter()
        .filter(|e| e.method == "POST" && e.path.contains("mount="))
        .count()
}

/// The statuses the layer with diffID `diff_id` went through (push lines are named by diffID).
pub fn layer_statuses(progress: &Recorder, diff_id: &str) -> Vec<Status> {
    progress.statuses_of(diff_id)
}

/// A store holding `image` as `hoist load` leaves it: recorded in a scratch store as a pull
/// would, saved as a docker-archive tagged `tag`, and loaded into a fresh store.
pub fn loaded(image: &Image, tag: &str) -> Store {
    let scratch = Store::new();
    let meta = scratch.metadata();
    let content = meta.content();
    for blob in image.layers.iter().chain([&image.config, &image.manifest]) {
        content
            .write_blob(&Digest::parse(&blob.digest).unwrap(), &blob.bytes)
            .unwrap();
    }
    // The record a pull writes, but with no `created` (what this helper always recorded).
    let record = ImageRecord {
        created: None,
        ..hoist_testkit::store::record_of(image)
    };
    meta.put_image(&record).unwrap();
    meta.add_tag(
        &Reference::parse(tag).unwrap(),
        &record.manifest_digest,
        false,
    )
    .unwrap();
    let mut archive = Vec::new();
    hoist::archive::save_images(&meta, &[tag.to_string()], &mut archive).unwrap();

    let store = Store::new();
    hoist::copy::load_archive(&store.metadata(), &archive[..]).unwrap();
    store
}

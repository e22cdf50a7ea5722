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
    upload_digests(registry).into_iter().collect()
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

/// The digest `registry` stores under `repo:tag`, read from its storage directory: what the
/// registry itself would answer, without its auth or TLS in the way.
pub fn stored_digest(registry: &TestRegistry, repo: &str, tag: &str) -> Option<String> {
    let link = registry
        .storage_dir()
        .join("docker/registry/v2/repositories")
        .join(repo)
        .join("_manifests/tags")
        .join(tag)
        .join("current/link");
    std::fs::read_to_string(link)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// One image of a [`seed_fleet`]: where it is, its digest, and its blobs (configs and
/// layers, every platform's for an index).
#[derive(Debug, Clone)]
pub struct Seeded {
    pub repo: String,
    pub tag: String,
    pub digest: String,
    pub blobs: BTreeSet<String>,
    /// The image ID a pull for linux/amd64 gives (its config digest).
    pub image_id: String,
}

/// The tags of every fleet repository: four images and a two-platform index.
pub const FLEET_TAGS: [&str; 5] = ["1.0", "1.1", "1.2", "1.3", "multi"];

/// Three tiny random base layers the fleet's images share.
pub fn fleet_bases() -> Vec<Layer> {
    (0..3).map(|_| Layer::random(2 << 10).unwrap()).collect()
}

/// The digests of `bases` as pushed (gzip).
pub fn base_digests(bases: &[Layer]) -> BTreeSet<String> {
    bases
        .iter()
        .map(|layer| hoist_testkit::sha256_digest(&layer.gzip))
        .collect()
}

/// The image `repo:tag` of the fleet: a shared base layer and a tiny layer of its own.
pub fn fleet_image(bases: &[Layer], repo: &str, tag: &str, arch: &str) -> Image {
    let pick: usize = repo.bytes().chain(tag.bytes()).map(usize::from).sum();
    ImageBuilder::new()
        .platform("linux", arch, None)
        .layer(bases[pick % bases.len()].clone())
        .layer(
            Layer::from_files(&[("name.txt", format!("{repo}:{tag}:{arch}").as_bytes())]).unwrap(),
        )
        .build()
        .unwrap()
}

/// Pushes `tag` of `repo` to `registry`: a fleet image, or for `multi` a two-platform index.
pub async fn seed_fleet_tag(
    registry: &TestRegistry,
    bases: &[Layer],
    repo: &str,
    tag: &str,
) -> Seeded {
    let pusher = ImagePusher::new(registry);
    if tag == "multi" {
        let images = vec![
            fleet_image(bases, repo, tag, "amd64"),
            fleet_image(bases, repo, tag, "arm64"),
        ];
        let index = hoist_testkit::Index::new(hoist_testkit::ManifestFormat::Oci, images).unwrap();
        pusher.push_index(repo, tag, &index).await.unwrap();
        return Seeded {
            repo: repo.to_owned(),
            tag: tag.to_owned(),
            digest: index.digest().to_owned(),
            blobs: index.images.iter().flat_map(blobs_of).collect(),
            image_id: index.images[0].config.digest.clone(),
        };
    }
    let image = fleet_image(bases, repo, tag, "amd64");
    pusher.push_image(repo, tag, &image).await.unwrap();
    Seeded {
        repo: repo.to_owned(),
        tag: tag.to_owned(),
        digest: image.digest().to_owned(),
        blobs: blobs_of(&image),
        image_id: image.config.digest.clone(),
    }
}

/// `repos` repositories `repo-NN` of [`FLEET_TAGS`] on `registry`, built from `bases`.
pub async fn seed_fleet(registry: &TestRegistry, bases: &[Layer], repos: usize) -> Vec<Seeded> {
    let mut seeded = Vec::new();
    for r in 0..repos {
        for tag in FLEET_TAGS {
            seeded.push(seed_fleet_tag(registry, bases, &format!("repo-{r:02}"), tag).await);
        }
    }
    seeded
}

/// skopeo sync's YAML naming every repository of `fleet` on `host` with every tag.
pub fn fleet_yaml(host: &str, fleet: &[Seeded]) -> String {
    let repos: BTreeSet<&str> = fleet.iter().map(|s| s.repo.as_str()).collect();
    let mut yaml = format!("{host}:\n  images:\n");
    for repo in repos {
        yaml.push_str(&format!("    {repo}: []\n"));
    }
    yaml
}

/// The digests of every blob upload `registry` closed since its log was cleared, repeats
/// kept (a blob sent twice appears twice).
pub fn upload_digests(registry: &TestRegistry) -> Vec<String> {
    registry
        .access_log()
        .iter()
        .filter(|e| (e.method == "PUT" || e.method == "POST") && e.path.contains("/blobs/uploads/"))
        .filter_map(|e| {
            let (_, query) = e.path.split_once("digest=")?;
            let digest = query.split('&').next()?;
            Some(digest.replace("%3A", ":").replace("%3a", ":"))
        })
        .collect()
}

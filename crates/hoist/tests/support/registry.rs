//! Shared helpers for the registry client's integration tests: small images built here (a
//! layer of exact size, not necessarily a tar) and pushed through `hoist-testkit` (independent
//! of hoist, so a hoist bug cannot hide on both sides), and client construction.
#![allow(dead_code)]

#[allow(unused_imports)]
pub use super::pull::{anonymous_client, test_config};

use std::sync::Arc;

use hoist::credentials::Credentials;
use hoist::digest::Digest;
use hoist::registry::{RegistryClient, RegistryConfig, StaticCredentials};
use hoist_testkit::{Blob, ImagePusher, TestRegistry};

/// A one-layer OCI image: its manifest, config and layer bytes with their digests.
pub struct SeedImage {
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
    pub config: Vec<u8>,
    pub config_digest: Digest,
    pub layer: Vec<u8>,
    pub layer_digest: Digest,
}

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// An image whose layer is `layer_size` bytes derived from `seed` (distinct seeds ⇒ distinct
/// digests).
pub fn image(seed: &str, layer_size: usize) -> SeedImage {
    let layer: Vec<u8> = (0..layer_size)
        .map(|i| {
            (i as u8).wrapping_mul(31).wrapping_add(seed.len() as u8)
                ^ seed.as_bytes()[i % seed.len()]
        })
        .collect();
    let layer_digest = Digest::sha256_of(&layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}},"config":{{"Labels":{{"seed":"{seed}"}}}}}}"#
    )
    .into_bytes();
    let config_digest = Digest::sha256_of(&config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST_TYPE}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{}}}]}}"#,
        config.len(),
        layer.len()
    )
    .into_bytes();
    let manifest_digest = Digest::sha256_of(&manifest);
    SeedImage {
        manifest,
        manifest_digest,
        config,
        config_digest,
        layer,
        layer_digest,
    }
}

/// How the seed is pushed: anonymously, or with these credentials (Basic, or for a token).
#[derive(Default)]
pub struct Push<'a> {
    pub creds: Option<(&'a str, &'a str)>,
}

/// Pushes `img` to `repo:tag` on `registry` with the testkit's pusher (which trusts the
/// registry's CA and presents its client certificate when the registry asks for one).
pub async fn seed(img: &SeedImage, registry: &TestRegistry, repo: &str, tag: &str, push: Push<'_>) {
    let mut pusher = ImagePusher::new(registry);
    if let Some((user, password)) = push.creds {
        pusher = pusher.credentials(user, password);
    }
    let blobs = [
        Blob::new("application/vnd.oci.image.layer.v1.tar", img.layer.clone()),
        Blob::new(
            "application/vnd.oci.image.config.v1+json",
            img.config.clone(),
        ),
    ];
    for blob in &blobs {
        pusher.push_blob(repo, blob).await.unwrap();
    }
    let manifest = Blob::new(MANIFEST_TYPE, img.manifest.clone());
    assert_eq!(
        pusher.push_manifest(repo, tag, &manifest).await.unwrap(),
        img.manifest_digest.as_str()
    );
}

/// A client with `config` and, if given, credentials for `host`.
pub fn client(config: RegistryConfig, host: &str, creds: Option<Credentials>) -> RegistryClient {
    let mut lookup = StaticCredentials::none();
    if let Some(c) = creds {
        lookup = lookup.with(host, c);
    }
    RegistryClient::new(config, Arc::new(lookup)).unwrap()
}

pub fn basic(user: &str, password: &str) -> Credentials {
    Credentials::Basic {
        username: user.into(),
        password: password.into(),
    }
}

/// Concatenates a blob stream.
pub async fn collect(mut s: hoist::registry::BlobStream) -> Vec<u8> {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

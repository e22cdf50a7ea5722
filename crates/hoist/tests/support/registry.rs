//! Shared helpers for the registry integration tests: images built here and pushed with
//! `skopeo` (independent of hoist, so a hoist bug cannot hide on both sides), and client
//! construction.
#![allow(dead_code)]

#[allow(unused_imports)]
pub use super::pull::{anonymous_client, test_config};

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use hoist::credentials::Credentials;
use hoist::digest::Digest;
use hoist::registry::{RegistryClient, RegistryConfig, StaticCredentials};
use tempfile::TempDir;

/// A one-layer OCI image written as an OCI layout, ready for `skopeo copy`.
pub struct SeedImage {
    pub layout: TempDir,
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
    let layout = TempDir::new().unwrap();
    let blobs = layout.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for (d, b) in [
        (&layer_digest, &layer),
        (&config_digest, &config),
        (&manifest_digest, &manifest),
    ] {
        std::fs::write(blobs.join(d.hex()), b).unwrap();
    }
    std::fs::write(
        layout.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(
        layout.path().join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{MANIFEST_TYPE}","digest":"{manifest_digest}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"seed"}}}}]}}"#,
            manifest.len()
        ),
    )
    .unwrap();
    SeedImage {
        layout,
        manifest,
        manifest_digest,
        config,
        config_digest,
        layer,
        layer_digest,
    }
}

/// How skopeo reaches the registry.
#[derive(Default)]
pub struct Push<'a> {
    pub creds: Option<(&'a str, &'a str)>,
    pub cert_dir: Option<&'a Path>,
}

/// Pushes `img` to `host/repo:tag` with skopeo.
pub fn seed(img: &SeedImage, host: &str, repo: &str, tag: &str, push: Push<'_>) {
    let src = format!("oci:{}:seed", img.layout.path().display());
    let dst = format!("docker://{host}/{repo}:{tag}");
    let mut cmd = Command::new("skopeo");
    cmd.args([
        "--insecure-policy",
        "copy",
        "--quiet",
        "--preserve-digests",
        "--dest-tls-verify=false",
    ]);
    match push.creds {
        Some((u, p)) => cmd.arg(format!("--dest-creds={u}:{p}")),
        None => cmd.arg("--dest-no-creds"),
    };
    if let Some(dir) = push.cert_dir {
        cmd.arg(format!("--dest-cert-dir={}", dir.display()));
    }
    cmd.env("REGISTRY_AUTH_FILE", "/nonexistent-hoist-test-auth.json");
    let out = cmd.arg(&src).arg(&dst).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo copy to {dst} failed: {}",
        String::from_utf8_lossy(&out.stderr)
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

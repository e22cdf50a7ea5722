//! Pulls that must fail, with docker's sentences, and leave nothing behind: access denied,
//! unknown tag or repository, diffIDs that do not match the config, a corrupted layer. And a
//! token-auth registry that lets a granted user pull.

mod support;

use hoist::copy::RecordError;
use hoist::digest::Digest;
use hoist::pull::PullError;
use hoist::store::{ChainId, LayerError};
use hoist_testkit::{Blob, ImageBuilder, ImagePusher, Layer, TestRegistry, TokenServer};
use support::layers::LayeredStore;
use support::pull::{client_with, fast_options, push, reference, Recorder, Store};

fn small_image(seed: &str) -> hoist_testkit::Image {
    ImageBuilder::new()
        .layer(Layer::from_files(&[("f", seed.as_bytes())]).unwrap())
        .build()
        .unwrap()
}

async fn token_registry() -> (TokenServer, TestRegistry) {
    let tokens = TokenServer::builder()
        .admin("admin", "adm1n")
        .user("dev", "d3v")
        .grant("dev", "team/*", &["pull"])
        .start()
        .unwrap();
    let registry = TestRegistry::builder()
        .token_auth(tokens.auth_config())
        .start()
        .await
        .unwrap();
    (tokens, registry)
}

#[tokio::test]
async fn granted_user_pulls_from_a_token_auth_registry() {
    let (_tokens, registry) = token_registry().await;
    let image = small_image("token");
    ImagePusher::new(&registry)
        .credentials("admin", "adm1n")
        .push_image("team/app", "v1", &image)
        .await
        .unwrap();
    let store = Store::new();
    let puller = store.puller_with(client_with(&registry.host(), "dev", "d3v"), fast_options());

    let outcome = puller
        .pull(&reference(&registry, "team/app:v1"), &Recorder::default())
        .await
        .unwrap();

    assert_eq!(
        outcome.images[0].manifest_digest.to_string(),
        image.digest()
    );
}

#[tokio::test]
async fn repository_without_access_is_pull_access_denied() {
    let (_tokens, registry) = token_registry().await;
    let store = Store::new();
    let puller = store.puller_with(client_with(&registry.host(), "dev", "d3v"), fast_options());

    let err = puller
        .pull(&reference(&registry, "other/app:v1"), &Recorder::default())
        .await
        .unwrap_err();

    let expected = format!(
        "pull access denied for {}/other/app, repository does not exist or may require \
         'docker login'",
        registry.host()
    );
    assert!(err.to_string().starts_with(&expected), "{err}");
}

#[tokio::test]
async fn missing_tag_is_manifest_not_found() {
    let registry = TestRegistry::anonymous().await.unwrap();
    push(&registry, "app", "v1", &small_image("tag")).await;
    let store = Store::new();

    let err = store
        .puller(fast_options())
        .pull(&reference(&registry, "app:nope"), &Recorder::default())
        .await
        .unwrap_err();

    let expected = format!("manifest for {}/app:nope not found", registry.host());
    assert!(err.to_string().starts_with(&expected), "{err}");
    // A tag the store does not hold is read with GET at once, and not found is not retried:
    // one GET, no HEAD.
    let manifest_requests: Vec<String> = registry
        .access_log()
        .iter()
        .filter(|e| e.user_agent.starts_with("hoist/") && e.path.contains("/manifests/"))
        .map(|e| e.method.clone())
        .collect();
    assert_eq!(manifest_requests, ["GET"], "{:?}", registry.access_log());
}

/// distribution answers a manifest of an unknown repository with MANIFEST_UNKNOWN, but its
/// tag list with NAME_UNKNOWN: `--all-tags` is where "repository … not found" shows.
#[tokio::test]
async fn all_tags_of_a_missing_repository_is_repository_not_found() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let store = Store::new();
    let options = hoist::pull::PullOptions {
        all_tags: true,
        ..fast_options()
    };

    let err = store
        .puller(options)
        .pull(&reference(&registry, "nobody/here"), &Recorder::default())
        .await
        .unwrap_err();

    let expected = format!("repository {}/nobody/here not found", registry.host());
    assert!(err.to_string().starts_with(&expected), "{err}");
}

/// Pushes as `bad:v1` a real layer with a config claiming another layer's diffID.
async fn push_lying_config(registry: &TestRegistry) {
    let real = small_image("real");
    let other = small_image("other");
    // The real image's manifest and layer, with a config claiming another layer's diffID.
    let mut config: serde_json::Value = serde_json::from_slice(&real.config.bytes).unwrap();
    config["rootfs"]["diff_ids"] = serde_json::json!([other.diff_ids[0]]);
    let config = Blob::new(
        &real.config.media_type,
        serde_json::to_vec(&config).unwrap(),
    );
    let mut manifest: serde_json::Value = serde_json::from_slice(&real.manifest.bytes).unwrap();
    manifest["config"] = config.descriptor();
    let manifest = Blob::new(
        &real.manifest.media_type,
        serde_json::to_vec(&manifest).unwrap(),
    );
    let pusher = ImagePusher::new(registry);
    pusher.push_blob("bad", &real.layers[0]).await.unwrap();
    pusher.push_blob("bad", &config).await.unwrap();
    pusher.push_manifest("bad", "v1", &manifest).await.unwrap();
}

#[tokio::test]
async fn diff_ids_that_do_not_match_the_config_record_nothing() {
    let registry = TestRegistry::anonymous().await.unwrap();
    push_lying_config(&registry).await;
    let store = LayeredStore::new();

    let err = store
        .puller(true)
        .pull(&reference(&registry, "bad:v1"), &Recorder::default())
        .await
        .unwrap_err();

    assert!(
        matches!(&err, PullError::Record(r) if matches!(**r, RecordError::LayersDontMatchConfig { .. })),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "layers from manifest don't match image configuration"
    );
    assert!(store.meta.images().unwrap().is_empty());
    assert!(store.meta.all_references().unwrap().is_empty());
}

#[tokio::test]
async fn without_unpacking_a_lying_config_is_caught_when_the_layer_is_unpacked() {
    let registry = TestRegistry::anonymous().await.unwrap();
    push_lying_config(&registry).await;
    let store = LayeredStore::new();

    // `--no-unpack` stores the blobs verified by digest and records the config's diffIDs…
    let record = store.pull(&reference(&registry, "bad:v1"), false).await;
    // …which the layer store checks when it decompresses the blob.
    let err = store.layers.register_image(&record).unwrap_err();

    assert!(matches!(err, LayerError::DiffIdMismatch { .. }), "{err:?}");
    let bottom = ChainId::next(None, &record.layers[0].diff_id);
    assert!(store.layers.get(&bottom).unwrap().is_none());
}

#[tokio::test]
async fn corrupted_layer_fails_verification_and_stores_nothing_corrupt() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = ImageBuilder::new()
        .layer(Layer::random(32 * 1024).unwrap())
        .build()
        .unwrap();
    push(&registry, "corrupt", "v1", &image).await;
    let layer = &image.layers[0].digest;
    let hex = layer.trim_start_matches("sha256:");
    let data = registry
        .storage_dir()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = std::fs::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();
    let store = Store::new();

    let err = store
        .puller(fast_options())
        .pull(&reference(&registry, "corrupt:v1"), &Recorder::default())
        .await
        .unwrap_err();

    assert_eq!(
        err.to_string(),
        format!("filesystem layer verification failed for digest {layer}")
    );
    let layer = Digest::parse(layer).unwrap();
    assert!(!store.blobs().contains(&layer), "corrupt layer stored");
    assert!(store.metadata().images().unwrap().is_empty());
}

#[tokio::test]
async fn plugin_config_is_refused_saying_it_is_a_plugin() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = small_image("plugin");
    let config = Blob::new(
        "application/vnd.docker.plugin.v1+json",
        image.config.bytes.clone(),
    );
    let mut manifest: serde_json::Value = serde_json::from_slice(&image.manifest.bytes).unwrap();
    manifest["config"] = config.descriptor();
    let manifest = Blob::new(
        &image.manifest.media_type,
        serde_json::to_vec(&manifest).unwrap(),
    );
    let pusher = ImagePusher::new(&registry);
    pusher.push_blob("plugin", &image.layers[0]).await.unwrap();
    pusher.push_blob("plugin", &config).await.unwrap();
    pusher
        .push_manifest("plugin", "v1", &manifest)
        .await
        .unwrap();
    let store = Store::new();

    let err = store
        .puller(fast_options())
        .pull(&reference(&registry, "plugin:v1"), &Recorder::default())
        .await
        .unwrap_err();

    assert!(matches!(err, PullError::Manifest { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("encountered remote \"plugin\"(application/vnd.docker.plugin.v1+json)"),
        "{err}"
    );
    assert_eq!(
        registry.count_requests("GET", "/v2/plugin/blobs/"),
        0,
        "nothing downloaded"
    );
}

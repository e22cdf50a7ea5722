//! Pull of signed Docker schema 1 images from a real `docker-registry` started with schema 1
//! compatibility (the testkit's `accept_schema1`): by tag and by the canonical digest the
//! registry reports, with a throwaway (empty) layer, refused under `require_schema2`, and the
//! deprecation warning docker prints. The registry re-signs schema 1 manifests on every GET,
//! so the bytes hoist receives never hash to the digest: only the signed payload does.

mod support;

use hoist::digest::Digest;
use hoist::images::inspect_image;
use hoist::pull::{PullError, PullOptions};
use hoist_testkit::{
    ImagePusher, Layer, Schema1Builder, Schema1Image, TestRegistry, TrustKey,
    SCHEMA1_SIGNED_MEDIA_TYPE,
};
use support::pull::{blob_gets, fast_options, gets_of, reference, Recorder, Store};

const REPO: &str = "legacy/app";

fn d(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

fn ds(v: &[String]) -> Vec<Digest> {
    v.iter().map(|s| d(s)).collect()
}

async fn schema1_registry() -> TestRegistry {
    TestRegistry::builder()
        .accept_schema1()
        .start()
        .await
        .unwrap()
}

fn two_layer_image(seed: &str) -> Schema1Image {
    Schema1Builder::new(REPO, "v1")
        .layer(Layer::from_files(&[("base.txt", seed.as_bytes())]).unwrap())
        .layer(Layer::from_files(&[("app.txt", format!("{seed}-app").as_bytes())]).unwrap())
        .build(&TrustKey::generate())
        .unwrap()
}

/// Pushes `image` as `REPO:v1`; returns the digest the registry reports.
async fn push(registry: &TestRegistry, image: &Schema1Image) -> String {
    let digest = ImagePusher::new(registry)
        .push_schema1(REPO, "v1", image)
        .await
        .unwrap();
    registry.clear_log().unwrap();
    digest
}

/// The stored config of the image pulled as `manifest_digest`, parsed.
fn stored_config(store: &Store, image_id: &Digest) -> serde_json::Value {
    let bytes = store
        .content()
        .read_to_vec_capped(image_id, 1 << 20)
        .unwrap();
    assert_eq!(
        &Digest::sha256_of(&bytes),
        image_id,
        "config blob hashes to the image ID"
    );
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn pulls_a_signed_schema1_image_by_tag() {
    let registry = schema1_registry().await;
    let image = two_layer_image("bytag");
    let reported = push(&registry, &image).await;
    let store = Store::new();

    let outcome = store
        .puller(fast_options())
        .pull(&reference(&registry, "legacy/app:v1"), &Recorder::default())
        .await
        .unwrap();

    let pulled = &outcome.images[0];
    assert_eq!(pulled.digest, d(&reported));
    assert_eq!(pulled.digest, d(image.digest()));
    let record = store
        .metadata()
        .image(&pulled.manifest_digest)
        .unwrap()
        .unwrap();
    let diff_ids: Vec<Digest> = record.layers.iter().map(|l| l.diff_id.clone()).collect();
    assert_eq!(diff_ids, ds(&image.diff_ids));
    let layer_digests: Vec<Digest> = record.layers.iter().map(|l| l.digest.clone()).collect();
    let pushed: Vec<String> = image.layers.iter().map(|b| b.digest.clone()).collect();
    assert_eq!(layer_digests, ds(&pushed));
    // Layers, the synthesized config and the schema 2 manifest made for it; never the schema 1
    // manifest itself.
    let mut expected = ds(&pushed);
    expected.extend([pulled.image_id.clone(), pulled.manifest_digest.clone()]);
    expected.sort();
    assert_eq!(store.blobs(), expected);
    let config = stored_config(&store, &pulled.image_id);
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!(image.diff_ids)
    );
    assert_eq!(config["history"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn inspect_of_a_pulled_schema1_image_shows_platform_and_diff_ids() {
    let registry = schema1_registry().await;
    let image = two_layer_image("inspect");
    let reported = push(&registry, &image).await;
    let store = Store::new();
    let tag = format!("{}/legacy/app:v1", registry.host());

    let outcome = store
        .puller(fast_options())
        .pull(&reference(&registry, "legacy/app:v1"), &Recorder::default())
        .await
        .unwrap();

    let inspect = inspect_image(&store.metadata(), &tag).unwrap();
    assert_eq!(inspect.id, outcome.images[0].image_id.to_string());
    assert_eq!(
        (inspect.os.as_str(), inspect.architecture.as_str()),
        ("linux", "amd64")
    );
    assert_eq!(inspect.root_fs.layers, image.diff_ids);
    assert_eq!(inspect.repo_tags, vec![tag]);
    assert_eq!(
        inspect.repo_digests,
        vec![format!("{}/legacy/app@{reported}", registry.host())]
    );
    assert_eq!(inspect.config["Cmd"], serde_json::json!(["/bin/sh"]));
}

#[tokio::test]
async fn pulls_a_signed_schema1_image_by_its_canonical_digest() {
    let registry = schema1_registry().await;
    let image = two_layer_image("bydigest");
    let reported = push(&registry, &image).await;
    let store = Store::new();

    let outcome = store
        .puller(fast_options())
        .pull(
            &reference(&registry, &format!("legacy/app@{reported}")),
            &Recorder::default(),
        )
        .await
        .unwrap();

    let pulled = &outcome.images[0];
    assert_eq!(pulled.digest, d(&reported));
    let record = store
        .metadata()
        .image(&pulled.manifest_digest)
        .unwrap()
        .unwrap();
    let diff_ids: Vec<Digest> = record.layers.iter().map(|l| l.diff_id.clone()).collect();
    assert_eq!(diff_ids, ds(&image.diff_ids));
    // The manifest really came by digest, signed (re-signed by the registry's key), so its
    // bytes' own sha256 is not the digest asked for.
    let by_digest = format!("/v2/{REPO}/manifests/{reported}");
    assert_eq!(registry.count_requests("GET", &by_digest), 1);
    let served = registry
        .client()
        .get(format!("{}{by_digest}", registry.url()))
        .header("Accept", SCHEMA1_SIGNED_MEDIA_TYPE)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_ne!(Digest::sha256_of(&served), d(&reported));
}

#[tokio::test]
async fn schema1_throwaway_layer_is_history_only_and_never_downloaded() {
    let registry = schema1_registry().await;
    let image = Schema1Builder::new(REPO, "v1")
        .layer(Layer::from_files(&[("base.txt", b"base")]).unwrap())
        .empty_layer("/bin/sh -c #(nop)  ENV APP=1")
        .unwrap()
        .layer(Layer::from_files(&[("app.txt", b"app")]).unwrap())
        .build(&TrustKey::generate())
        .unwrap();
    assert_eq!(image.throwaway, vec![false, true, false]);
    push(&registry, &image).await;
    let store = Store::new();

    let outcome = store
        .puller(fast_options())
        .pull(&reference(&registry, "legacy/app:v1"), &Recorder::default())
        .await
        .unwrap();

    let pulled = &outcome.images[0];
    let record = store
        .metadata()
        .image(&pulled.manifest_digest)
        .unwrap()
        .unwrap();
    let diff_ids: Vec<Digest> = record.layers.iter().map(|l| l.diff_id.clone()).collect();
    assert_eq!(diff_ids, ds(&image.diff_ids));
    assert_eq!(diff_ids.len(), 2);
    assert_eq!(gets_of(&registry, &image.layers[1].digest), 0);
    assert_eq!(gets_of(&registry, &image.layers[0].digest), 1);
    assert_eq!(gets_of(&registry, &image.layers[2].digest), 1);
    let config = stored_config(&store, &pulled.image_id);
    let history = config["history"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    let empty: Vec<bool> = history
        .iter()
        .map(|h| h["empty_layer"].as_bool().unwrap_or(false))
        .collect();
    assert_eq!(empty, vec![false, true, false]);
    assert_eq!(
        history[1]["created_by"], "/bin/sh -c #(nop)  ENV APP=1",
        "{history:?}"
    );
}

#[tokio::test]
async fn require_schema2_refuses_a_schema1_image_before_any_blob() {
    let registry = schema1_registry().await;
    let image = two_layer_image("strict");
    push(&registry, &image).await;
    let store = Store::new();
    let options = PullOptions {
        require_schema2: true,
        ..fast_options()
    };

    let err = store
        .puller(options)
        .pull(&reference(&registry, "legacy/app:v1"), &Recorder::default())
        .await
        .unwrap_err();

    assert!(matches!(err, PullError::Manifest { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("invalid manifest: not schema2"),
        "{err}"
    );
    assert_eq!(blob_gets(&registry), 0);
    assert!(store.blobs().is_empty());
}

#[tokio::test]
async fn schema1_pull_surfaces_the_deprecation_warning_through_progress() {
    let registry = schema1_registry().await;
    let image = two_layer_image("warn");
    push(&registry, &image).await;
    let store = Store::new();
    let progress = Recorder::default();

    store
        .puller(fast_options())
        .pull(&reference(&registry, "legacy/app:v1"), &progress)
        .await
        .unwrap();

    let warning = format!(
        "Image {}/legacy/app:v1 uses outdated schema1 manifest format. Please upgrade to a \
         schema2 image for better future compatibility. More information at \
         https://docs.docker.com/registry/spec/deprecated-schema-v1/",
        registry.host()
    );
    assert!(progress.has_line(&warning), "{:#?}", progress.lines());
}

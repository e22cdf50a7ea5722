//! Push against real `docker-registry` processes: the registry ends up with the stored
//! manifest bytes and blob digests (no recompression), a second repository mounts every layer,
//! a second push uploads nothing, and which tags a reference means.

mod support;

use hoist::digest::Digest;
use hoist::progress::Status;
use hoist::push::PushError;
use hoist::reference::{Reference, Repository};
use hoist::store::metadata::BlobSource;
use hoist_testkit::{ImageBuilder, ImagePusher, Index, Layer, ManifestFormat, TestRegistry};
use support::pull::{anonymous_client, Recorder, Store};
use support::push::{
    assert_blobs_equal, fast_push_options, layer_statuses, layer_writes, mount_posts,
    push_anonymous, pusher, seed_and_tag, skopeo_remote_raw, tag_as,
};

fn image(format: ManifestFormat, seed: &str) -> hoist_testkit::Image {
    ImageBuilder::new()
        .format(format)
        .layer(Layer::from_files(&[("base.txt", seed.as_bytes())]).unwrap())
        .layer(Layer::random(300 << 10).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn push_to_an_empty_registry_sends_the_stored_manifest_and_blobs_unchanged() {
    let (source, target) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let store = Store::new();
    let img = image(ManifestFormat::Oci, "oci");
    let dest = format!("{}/team/app:v1", target.host());
    seed_and_tag(&store, &source, "base/app:1", &img, &dest).await;

    let (outcome, progress) = push_anonymous(&store, &dest).await;

    assert_eq!(skopeo_remote_raw(&dest), img.manifest.bytes);
    assert_blobs_equal(&target.url(), "team/app", &img).await;
    assert_eq!(outcome.tags[0].digest, Digest::parse(img.digest()).unwrap());
    let line = format!("v1: digest: {} size: {}", img.digest(), img.manifest.size);
    assert!(progress.has_line(&line), "{:?}", progress.lines());
    for diff_id in &img.diff_ids {
        let statuses = layer_statuses(&progress, diff_id);
        assert_eq!(statuses.first(), Some(&Status::Preparing));
        assert_eq!(statuses.last(), Some(&Status::Pushed));
    }
}

#[tokio::test]
async fn docker_schema2_image_is_pushed_with_its_own_media_type() {
    let (source, target) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let store = Store::new();
    let img = image(ManifestFormat::DockerSchema2, "schema2");
    let dest = format!("{}/app:v2", target.host());
    seed_and_tag(&store, &source, "base/app:1", &img, &dest).await;

    push_anonymous(&store, &dest).await;

    let response = hoist_testkit::http_client()
        .unwrap()
        .get(format!("{}/v2/app/manifests/v2", target.url()))
        .header(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(response.bytes().await.unwrap().to_vec(), img.manifest.bytes);
}

#[tokio::test]
async fn second_repository_on_the_same_registry_mounts_every_layer() {
    let (source, target) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let store = Store::new();
    let img = image(ManifestFormat::Oci, "mount");
    let first = format!("{}/team/app:v1", target.host());
    let manifest = seed_and_tag(&store, &source, "base/app:1", &img, &first).await;
    push_anonymous(&store, &first).await;
    let second = format!("{}/team/other:v1", target.host());
    tag_as(&store, &manifest, &second);
    target.clear_log().unwrap();

    let (_, progress) = push_anonymous(&store, &second).await;

    assert_eq!(layer_writes(&target, &img), 0, "{:?}", target.access_log());
    assert_eq!(mount_posts(&target), img.layers.len());
    for diff_id in &img.diff_ids {
        assert!(
            layer_statuses(&progress, diff_id).contains(&Status::MountedFrom {
                repository: "team/app".into()
            })
        );
    }
    assert_eq!(skopeo_remote_raw(&second), img.manifest.bytes);
}

/// docker pings a registry once per push; the uploads, five at a time, used to ping it once
/// each (a `GET /v2/` per upload slot) before the first answer was kept.
#[tokio::test]
async fn a_many_layer_push_pings_the_registry_once() {
    let (source, target) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let store = Store::new();
    let mut builder = ImageBuilder::new();
    for i in 0..8 {
        builder =
            builder.layer(Layer::from_files(&[("n.txt", format!("{i}").as_bytes())]).unwrap());
    }
    let img = builder.build().unwrap();
    let dest = format!("{}/many/app:v1", target.host());
    seed_and_tag(&store, &source, "base/many:1", &img, &dest).await;
    target.clear_log().unwrap();

    push_anonymous(&store, &dest).await;

    let log = target.access_log();
    let pings = log.iter().filter(|e| e.method == "GET" && e.path == "/v2/");
    assert_eq!(pings.count(), 1, "{log:#?}");
    assert_eq!(
        target.count_requests("PUT", "/v2/many/app/blobs/uploads/"),
        9
    );
}

#[tokio::test]
async fn pushing_again_uploads_nothing() {
    let (source, target) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let store = Store::new();
    let img = image(ManifestFormat::Oci, "again");
    let dest = format!("{}/app:v1", target.host());
    seed_and_tag(&store, &source, "base/app:1", &img, &dest).await;
    push_anonymous(&store, &dest).await;
    target.clear_log().unwrap();

    let (_, progress) = push_anonymous(&store, &dest).await;

    assert_eq!(target.count_requests("POST", "/v2/app/blobs/uploads/"), 0);
    assert_eq!(layer_writes(&target, &img), 0);
    for diff_id in &img.diff_ids {
        assert!(layer_statuses(&progress, diff_id).contains(&Status::LayerAlreadyExists));
    }
}

#[tokio::test]
async fn bare_name_pushes_every_local_tag() {
    let (source, target) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let store = Store::new();
    let img = image(ManifestFormat::Oci, "tags");
    let host = target.host();
    let manifest = seed_and_tag(
        &store,
        &source,
        "base/app:1",
        &img,
        &format!("{host}/app:a"),
    )
    .await;
    tag_as(&store, &manifest, &format!("{host}/app:b"));

    let (outcome, _) = push_anonymous(&store, &format!("{host}/app")).await;

    let pushed: Vec<String> = outcome
        .tags
        .iter()
        .map(|t| t.reference.tag().unwrap().to_string())
        .collect();
    assert_eq!(pushed, ["a", "b"]);
    assert_eq!(
        skopeo_remote_raw(&format!("{host}/app:b")),
        img.manifest.bytes
    );
    // The second tag found its layers confirmed by the first: one upload session per blob.
    assert_eq!(
        target.count_requests("POST", "/v2/app/blobs/uploads/"),
        img.layers.len() + 1
    );
}

#[tokio::test]
async fn digest_reference_is_refused() {
    let store = Store::new();
    let r = Reference::parse(&format!("127.0.0.1:1/app@{}", Digest::sha256_of(b"x"))).unwrap();
    let err = pusher(&store, anonymous_client(), fast_push_options())
        .push(&r, &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(err, PushError::DigestReference { .. }), "{err}");
}

#[tokio::test]
async fn absent_tag_is_reported_as_docker_does() {
    let store = Store::new();
    let r = Reference::parse("127.0.0.1:1/app:nope").unwrap();
    let err = pusher(&store, anonymous_client(), fast_push_options())
        .push(&r, &Recorder::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "An image does not exist locally with the tag: 127.0.0.1:1/app:nope"
    );
}

#[tokio::test]
async fn failed_mount_candidates_are_forgotten_and_their_session_used() {
    let (source, target) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let store = Store::new();
    let img = image(ManifestFormat::Oci, "ghost");
    let dest = format!("{}/app:v1", target.host());
    seed_and_tag(&store, &source, "base/app:1", &img, &dest).await;
    // A source the target registry never had: the mount is refused (202 with a session).
    let ghost = Repository::parse(&format!("{}/ghost", target.host())).unwrap();
    let metadata = store.metadata();
    for (layer, diff_id) in img.layers.iter().zip(&img.diff_ids) {
        let source = BlobSource {
            digest: Digest::parse(&layer.digest).unwrap(),
            repository: ghost.clone(),
            hmac: None,
        };
        metadata
            .add_blob_source(&Digest::parse(diff_id).unwrap(), &source)
            .unwrap();
    }

    push_anonymous(&store, &dest).await;

    assert_eq!(mount_posts(&target), img.layers.len());
    // One POST per layer (the refused mount's session carried the upload) plus the config's.
    assert_eq!(
        target.count_requests("POST", "/v2/app/blobs/uploads/"),
        img.layers.len() + 1
    );
    for diff_id in &img.diff_ids {
        let sources = metadata
            .blob_sources(&Digest::parse(diff_id).unwrap())
            .unwrap();
        assert!(sources.iter().all(|r| r.source.repository != ghost));
    }
    assert_blobs_equal(&target.url(), "app", &img).await;
}

#[tokio::test]
async fn all_tags_with_a_tag_is_refused() {
    let store = Store::new();
    let options = hoist::push::PushOptions {
        all_tags: true,
        ..fast_push_options()
    };
    let err = pusher(&store, anonymous_client(), options)
        .push(
            &Reference::parse("127.0.0.1:1/app:v1").unwrap(),
            &Recorder::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PushError::TagWithAllTags { .. }), "{err}");
}

#[tokio::test]
async fn image_pulled_from_an_index_is_pushed_as_its_platform_manifest() {
    let (source, target) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let amd64 = image(ManifestFormat::Oci, "amd64");
    let arm64 = ImageBuilder::new()
        .platform("linux", "arm64", Some("v8"))
        .layer(Layer::from_files(&[("arm.txt", b"arm")]).unwrap())
        .build()
        .unwrap();
    let index = Index::new(ManifestFormat::Oci, vec![amd64.clone(), arm64]).unwrap();
    ImagePusher::new(&source)
        .push_index("base/multi", "1", &index)
        .await
        .unwrap();
    let store = Store::new();
    let options = hoist::pull::PullOptions {
        platform: Some(hoist::media::Platform::parse("linux/amd64").unwrap()),
        ..support::pull::fast_options()
    };
    store
        .puller(options)
        .pull(
            &support::pull::reference(&source, "base/multi:1"),
            &Recorder::default(),
        )
        .await
        .unwrap();
    let dest = format!("{}/multi:1", target.host());
    tag_as(&store, &Digest::parse(amd64.digest()).unwrap(), &dest);

    push_anonymous(&store, &dest).await;

    assert_eq!(skopeo_remote_raw(&dest), amd64.manifest.bytes);
}

#[tokio::test]
async fn byte_progress_of_a_pushed_layer_is_named_by_its_diff_id_not_its_blob_digest() {
    // The bytes go through the copy engine's registry writer, which names its lines by the
    // blob digest; push's source renames them to the diffID, as docker's push lines are.
    let (source, target) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let store = Store::new();
    let img = image(ManifestFormat::Oci, "names");
    let dest = format!("{}/app:v1", target.host());
    seed_and_tag(&store, &source, "base/app:1", &img, &dest).await;

    let (_, progress) = push_anonymous(&store, &dest).await;

    let events = progress.events();
    for (layer, diff_id) in img.layers.iter().zip(&img.diff_ids) {
        let blob_id = &layer.digest.trim_start_matches("sha256:")[..12];
        assert!(
            events.iter().all(|e| e.id != blob_id),
            "a line is named by the blob digest {blob_id}: {:?}",
            progress.lines()
        );
        let pushing = layer_statuses(&progress, diff_id)
            .into_iter()
            .filter(|s| matches!(s, Status::Pushing { .. }))
            .count();
        assert!(pushing >= 1, "no Pushing line for {diff_id}");
    }
}

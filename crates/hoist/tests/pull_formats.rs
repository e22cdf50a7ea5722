//! Pull of each image format from a real `docker-registry`: Docker schema 2, OCI, indexes with
//! platform choice (arm variant fallback, no match), by digest, and every tag.

mod support;

use hoist::digest::Digest;
use hoist::media::Platform;
use hoist::pull::{PullError, PullOptions};
use hoist_testkit::{ImageBuilder, ImagePusher, Index, Layer, ManifestFormat, TestRegistry};
use support::pull::{fast_options, push, reference, skopeo_raw, Recorder, Store};

fn d(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

fn two_layer_image(format: ManifestFormat, seed: &str) -> hoist_testkit::Image {
    ImageBuilder::new()
        .format(format)
        .layer(Layer::from_files(&[("base.txt", seed.as_bytes())]).unwrap())
        .layer(Layer::from_files(&[("app.txt", format!("{seed}-app").as_bytes())]).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn pulls_a_docker_schema2_image_into_the_store() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = two_layer_image(ManifestFormat::DockerSchema2, "schema2");
    push(&registry, "team/app", "v1", &image).await;
    let store = Store::new();
    let progress = Recorder::default();

    let outcome = store
        .puller(fast_options())
        .pull(&reference(&registry, "team/app:v1"), &progress)
        .await
        .unwrap();

    let pulled = &outcome.images[0];
    assert_eq!(pulled.manifest_digest, d(image.digest()));
    assert_eq!(pulled.image_id, d(&image.config.digest));
    assert!(outcome.updated);
    let mut expected: Vec<Digest> = image
        .layers
        .iter()
        .chain([&image.config, &image.manifest])
        .map(|b| d(&b.digest))
        .collect();
    expected.sort();
    assert_eq!(store.blobs(), expected);
    let record = store.metadata().image(&d(image.digest())).unwrap().unwrap();
    let diff_ids: Vec<Digest> = record.layers.iter().map(|l| l.diff_id.clone()).collect();
    let want: Vec<Digest> = image.diff_ids.iter().map(|s| d(s)).collect();
    assert_eq!(diff_ids, want);
    assert_eq!(
        record.manifest_media_type,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
}

#[tokio::test]
async fn progress_lines_follow_docker() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = two_layer_image(ManifestFormat::DockerSchema2, "lines");
    push(&registry, "team/app", "v1", &image).await;
    let store = Store::new();
    let progress = Recorder::default();
    let name = format!("{}/team/app", registry.host());

    store
        .puller(fast_options())
        .pull(&reference(&registry, "team/app:v1"), &progress)
        .await
        .unwrap();

    let lines = progress.lines();
    assert_eq!(lines.first().unwrap(), &format!("v1: Pulling from {name}"));
    assert_eq!(
        lines[lines.len() - 2],
        format!("Digest: {}", image.digest())
    );
    assert_eq!(
        lines.last().unwrap(),
        &format!("Status: Downloaded newer image for {name}:v1")
    );
    for layer in &image.layers {
        let statuses = progress.statuses_of(&layer.digest);
        assert_eq!(
            statuses.first(),
            Some(&hoist::progress::Status::PullingFsLayer)
        );
        assert_eq!(
            statuses.last(),
            Some(&hoist::progress::Status::PullComplete)
        );
    }
}

#[tokio::test]
async fn pulls_an_oci_image_that_skopeo_reads_from_the_store() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = two_layer_image(ManifestFormat::Oci, "oci");
    push(&registry, "team/oci", "1.0", &image).await;
    let store = Store::new();

    store
        .puller(fast_options())
        .pull(&reference(&registry, "team/oci:1.0"), &Recorder::default())
        .await
        .unwrap();

    let canonical = format!("{}/team/oci:1.0", registry.host());
    assert_eq!(skopeo_raw(&store.root(), &canonical), image.manifest.bytes);
}

#[tokio::test]
async fn name_only_reference_pulls_latest() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = two_layer_image(ManifestFormat::Oci, "latest");
    push(&registry, "solo", "latest", &image).await;
    let store = Store::new();

    let outcome = store
        .puller(fast_options())
        .pull(&reference(&registry, "solo"), &Recorder::default())
        .await
        .unwrap();

    assert_eq!(
        outcome.reference.to_string(),
        format!("{}/solo:latest", registry.host())
    );
    let tagged = reference(&registry, "solo:latest");
    let target = store.metadata().reference(&tagged).unwrap().unwrap();
    assert_eq!(target.manifest_digest, d(image.digest()));
}

#[tokio::test]
async fn pulls_by_digest_and_records_the_digest_reference_only() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = two_layer_image(ManifestFormat::Oci, "by-digest");
    push(&registry, "team/app", "v1", &image).await;
    let store = Store::new();
    let by_digest = reference(&registry, &format!("team/app@{}", image.digest()));

    let outcome = store
        .puller(fast_options())
        .pull(&by_digest, &Recorder::default())
        .await
        .unwrap();

    assert_eq!(outcome.images[0].manifest_digest, d(image.digest()));
    let metadata = store.metadata();
    assert!(metadata.reference(&by_digest).unwrap().is_some());
    assert!(metadata
        .reference(&reference(&registry, "team/app:v1"))
        .unwrap()
        .is_none());
}

async fn multi_platform(registry: &TestRegistry, format: ManifestFormat) -> Index {
    let images = [("amd64", None), ("arm64", Some("v8")), ("arm", Some("v6"))]
        .iter()
        .map(|(arch, variant)| {
            ImageBuilder::new()
                .format(format)
                .platform("linux", arch, *variant)
                .layer(Layer::from_files(&[("arch", arch.as_bytes())]).unwrap())
                .build()
                .unwrap()
        })
        .collect();
    let index = Index::new(format, images).unwrap();
    ImagePusher::new(registry)
        .push_index("multi", "v1", &index)
        .await
        .unwrap();
    index
}

fn with_platform(platform: &str) -> PullOptions {
    PullOptions {
        platform: Some(Platform::parse(platform).unwrap()),
        ..fast_options()
    }
}

#[tokio::test]
async fn index_pull_chooses_the_requested_platform() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let index = multi_platform(&registry, ManifestFormat::Oci).await;
    let store = Store::new();

    let outcome = store
        .puller(with_platform("linux/arm64"))
        .pull(&reference(&registry, "multi:v1"), &Recorder::default())
        .await
        .unwrap();

    let pulled = &outcome.images[0];
    assert_eq!(pulled.digest, d(index.digest()));
    assert_eq!(pulled.manifest_digest, d(index.images[1].digest()));
    let record = store
        .metadata()
        .image(&pulled.manifest_digest)
        .unwrap()
        .unwrap();
    assert_eq!(record.platform.architecture, "arm64");
    assert_eq!(record.index_digest, Some(d(index.digest())));
    assert!(store.blobs().contains(&d(index.digest())), "index stored");
    assert!(
        !store.blobs().contains(&d(&index.images[0].config.digest)),
        "other platforms not fetched"
    );
}

#[tokio::test]
async fn docker_manifest_list_defaults_to_the_host_platform() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let index = multi_platform(&registry, ManifestFormat::DockerSchema2).await;
    let store = Store::new();
    let host = Platform::host();
    let Some(position) = ["amd64", "arm64", "arm"]
        .iter()
        .position(|a| *a == host.architecture)
    else {
        return; // A host this index has no image for: covered by the no-match test.
    };

    let outcome = store
        .puller(fast_options())
        .pull(&reference(&registry, "multi:v1"), &Recorder::default())
        .await
        .unwrap();

    assert_eq!(
        outcome.images[0].manifest_digest,
        d(index.images[position].digest())
    );
}

#[tokio::test]
async fn arm_v7_request_falls_back_to_v6() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let index = multi_platform(&registry, ManifestFormat::Oci).await;
    let store = Store::new();

    let outcome = store
        .puller(with_platform("linux/arm/v7"))
        .pull(&reference(&registry, "multi:v1"), &Recorder::default())
        .await
        .unwrap();

    assert_eq!(
        outcome.images[0].manifest_digest,
        d(index.images[2].digest())
    );
    assert_eq!(outcome.images[0].platform.variant.as_deref(), Some("v6"));
}

#[tokio::test]
async fn no_matching_platform_lists_the_available_ones() {
    let registry = TestRegistry::anonymous().await.unwrap();
    multi_platform(&registry, ManifestFormat::Oci).await;
    let store = Store::new();

    let err = store
        .puller(with_platform("linux/s390x"))
        .pull(&reference(&registry, "multi:v1"), &Recorder::default())
        .await
        .unwrap_err();

    assert!(matches!(err, PullError::NoMatchingManifest(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "no matching manifest for linux/s390x in the manifest list entries; available \
         platforms: linux/amd64, linux/arm64/v8, linux/arm/v6"
    );
    assert!(store.metadata().images().unwrap().is_empty());
}

#[tokio::test]
async fn all_tags_pulls_every_tag() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let one = two_layer_image(ManifestFormat::Oci, "tag-one");
    let two = two_layer_image(ManifestFormat::Oci, "tag-two");
    push(&registry, "many", "one", &one).await;
    push(&registry, "many", "two", &two).await;
    let store = Store::new();
    let progress = Recorder::default();
    let options = PullOptions {
        all_tags: true,
        ..fast_options()
    };

    let outcome = store
        .puller(options)
        .pull(&reference(&registry, "many"), &progress)
        .await
        .unwrap();

    assert_eq!(outcome.images.len(), 2);
    assert_eq!(
        outcome.reference.to_string(),
        format!("{}/many", registry.host())
    );
    let metadata = store.metadata();
    for (tag, image) in [("one", &one), ("two", &two)] {
        let target = metadata
            .reference(&reference(&registry, &format!("many:{tag}")))
            .unwrap()
            .unwrap();
        assert_eq!(target.manifest_digest, d(image.digest()));
    }
    assert!(progress.has_line(&format!(
        "Status: Downloaded newer image for {}/many",
        registry.host()
    )));
}

#[tokio::test]
async fn all_tags_refuses_a_tagged_reference() {
    let store = Store::new();
    let options = PullOptions {
        all_tags: true,
        ..fast_options()
    };
    let reference = hoist::reference::Reference::parse("127.0.0.1:1/x:v1").unwrap();
    let err = store
        .puller(options)
        .pull(&reference, &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(err, PullError::AllTagsWithTag { .. }), "{err:?}");
}

#[tokio::test]
async fn scratch_is_refused_before_any_request() {
    let store = Store::new();
    let scratch = hoist::reference::Reference::parse("scratch").unwrap();
    let err = store
        .puller(fast_options())
        .pull(&scratch, &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(err, PullError::Reference(_)), "{err:?}");
}

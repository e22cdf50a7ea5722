//! `copy` between repositories of real `docker-registry` processes: a multi-platform index
//! arrives whole (same digests, same bytes), `--platform` copies one manifest, a copy within
//! one registry mounts every blob, a copy again sends nothing, and a missing source tag fails
//! before anything is written.

mod support;

use hoist::copy::{CopyError, CopyOptions};
use hoist::media::Platform;
use hoist::progress::Status;
use hoist_testkit::{ManifestFormat, TestRegistry};

use support::copy::{
    assert_index_copied, blob_writes, copy_between, fast_copy_options, head_status, seed_index,
    skopeo_raw, two_platform_index,
};

#[tokio::test]
async fn registry_to_registry_copies_every_platform_of_an_index() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let index = two_platform_index(ManifestFormat::Oci);
    seed_index(&a, "src/app", "v1", &index).await;

    let (result, progress) = copy_between(
        &format!("docker://{}/src/app:v1", a.host()),
        &format!("{}/dst/app:v1", b.host()),
        fast_copy_options(),
    )
    .await;

    let outcome = result.unwrap();
    assert_eq!(outcome.root.digest.to_string(), index.digest());
    assert_eq!(outcome.manifests, 3);
    assert_eq!(
        skopeo_raw(&format!("docker://{}/dst/app:v1", b.host())),
        index.index.bytes
    );
    assert_index_copied(&b.url(), "dst/app", &index).await;
    for image in &index.images {
        let raw = skopeo_raw(&format!("docker://{}/dst/app@{}", b.host(), image.digest()));
        assert_eq!(raw, image.manifest.bytes);
    }
    let line = format!("v1: digest: {} size: {}", index.digest(), index.index.size);
    assert!(progress.has_line(&line), "{:?}", progress.lines());
    // The platforms (put together) are in before the index names them.
    let puts: Vec<String> = b
        .access_log()
        .into_iter()
        .filter(|e| e.method == "PUT" && e.path.contains("/manifests/"))
        .map(|e| e.path)
        .collect();
    assert_eq!(puts.len(), 3, "{puts:?}");
    assert_eq!(puts[2], "/v2/dst/app/manifests/v1", "{puts:?}");
}

#[tokio::test]
async fn docker_manifest_list_keeps_its_media_type_and_digest() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let index = two_platform_index(ManifestFormat::DockerSchema2);
    seed_index(&a, "src/app", "v1", &index).await;

    let (result, _) = copy_between(
        &format!("{}/src/app:v1", a.host()),
        &format!("{}/dst/app:v2", b.host()),
        fast_copy_options(),
    )
    .await;

    assert_eq!(
        result.unwrap().root.media_type,
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    assert_eq!(
        skopeo_raw(&format!("docker://{}/dst/app:v2", b.host())),
        index.index.bytes
    );
}

#[tokio::test]
async fn platform_option_copies_only_the_matching_manifest() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let index = two_platform_index(ManifestFormat::Oci);
    seed_index(&a, "src/app", "v1", &index).await;
    let options = CopyOptions {
        platform: Some(Platform::parse("linux/arm64").unwrap()),
        ..fast_copy_options()
    };

    let (result, _) = copy_between(
        &format!("{}/src/app:v1", a.host()),
        &format!("{}/dst/app:arm", b.host()),
        options,
    )
    .await;

    let (amd64, arm64) = (&index.images[0], &index.images[1]);
    assert_eq!(result.unwrap().root.digest.to_string(), arm64.digest());
    assert_eq!(
        skopeo_raw(&format!("docker://{}/dst/app:arm", b.host())),
        arm64.manifest.bytes
    );
    assert_eq!(
        head_status(&b.url(), "dst/app", "manifests", amd64.digest()).await,
        404
    );
    assert_eq!(
        head_status(&b.url(), "dst/app", "blobs", &amd64.layers[1].digest).await,
        404
    );
}

#[tokio::test]
async fn copy_within_one_registry_mounts_every_blob() {
    let a = TestRegistry::anonymous().await.unwrap();
    let index = two_platform_index(ManifestFormat::Oci);
    seed_index(&a, "src/app", "v1", &index).await;
    a.clear_log().unwrap();

    let (result, progress) = copy_between(
        &format!("{}/src/app:v1", a.host()),
        &format!("{}/other/app:v1", a.host()),
        fast_copy_options(),
    )
    .await;

    let outcome = result.unwrap();
    let blobs: Vec<&str> = index
        .images
        .iter()
        .flat_map(|i| i.layers.iter().chain([&i.config]))
        .map(|b| b.digest.as_str())
        .collect();
    assert_eq!(outcome.mounted, blobs.len());
    assert_eq!(outcome.copied, 0);
    assert_eq!(blob_writes(&a, &blobs), 0, "{:?}", a.access_log());
    let layer = &index.images[0].layers[1].digest;
    assert!(
        progress.statuses_of(layer).contains(&Status::MountedFrom {
            repository: "src/app".into()
        }),
        "{:?}",
        progress.lines()
    );
    assert_index_copied(&a.url(), "other/app", &index).await;
}

#[tokio::test]
async fn copying_again_sends_no_blob() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let index = two_platform_index(ManifestFormat::Oci);
    seed_index(&a, "src/app", "v1", &index).await;
    let (src, dst) = (
        format!("{}/src/app:v1", a.host()),
        format!("{}/dst/app:v1", b.host()),
    );
    copy_between(&src, &dst, fast_copy_options())
        .await
        .0
        .unwrap();
    b.clear_log().unwrap();

    let (result, progress) = copy_between(&src, &dst, fast_copy_options()).await;

    let outcome = result.unwrap();
    assert_eq!(outcome.copied, 0);
    assert_eq!(outcome.existing, 6);
    assert_eq!(blob_writes(&b, &[]), 0);
    let layer = &index.images[1].layers[0].digest;
    assert_eq!(
        progress.statuses_of(layer).last(),
        Some(&Status::LayerAlreadyExists)
    );
}

#[tokio::test]
async fn missing_source_tag_is_a_clear_error_and_nothing_is_written() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let index = two_platform_index(ManifestFormat::Oci);
    seed_index(&a, "src/app", "v1", &index).await;
    b.clear_log().unwrap();

    let (result, _) = copy_between(
        &format!("{}/src/app:nope", a.host()),
        &format!("{}/dst/app:v1", b.host()),
        fast_copy_options(),
    )
    .await;

    let err = result.unwrap_err();
    assert!(matches!(err, CopyError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("nope"), "{err}");
    assert!(b.access_log().is_empty(), "{:?}", b.access_log());
}

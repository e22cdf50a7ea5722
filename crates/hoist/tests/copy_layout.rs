//! `copy` to and from OCI layout directories (`oci:PATH[:TAG]`): skopeo reads what hoist wrote
//! byte for byte, and a layout copies back to a registry with the same digests.

mod support;

use hoist::copy::CopyError;
use hoist_testkit::{ManifestFormat, TestRegistry};

use support::copy::{
    assert_index_copied, copy_between, fast_copy_options, seed_index, skopeo_raw,
    two_platform_index,
};
use support::pull::blobs_in;

#[tokio::test]
async fn registry_to_layout_and_back_keeps_every_digest() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let index = two_platform_index(ManifestFormat::Oci);
    seed_index(&a, "src/app", "v1", &index).await;
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let oci = format!("oci:{}:v1", layout.display());

    copy_between(
        &format!("{}/src/app:v1", a.host()),
        &oci,
        fast_copy_options(),
    )
    .await
    .0
    .unwrap();

    assert_eq!(skopeo_raw(&oci), index.index.bytes);
    let stored = blobs_in(&layout);
    for image in &index.images {
        for blob in image.layers.iter().chain([&image.config, &image.manifest]) {
            assert!(
                stored.iter().any(|d| d.as_str() == blob.digest),
                "{} missing",
                blob.digest
            );
        }
    }

    copy_between(
        &oci,
        &format!("{}/back/app:v1", b.host()),
        fast_copy_options(),
    )
    .await
    .0
    .unwrap();

    assert_eq!(
        skopeo_raw(&format!("docker://{}/back/app:v1", b.host())),
        index.index.bytes
    );
    assert_index_copied(&b.url(), "back/app", &index).await;
}

#[tokio::test]
async fn layout_written_by_skopeo_copies_to_a_registry() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let index = two_platform_index(ManifestFormat::Oci);
    seed_index(&a, "src/app", "v1", &index).await;
    let dir = tempfile::tempdir().unwrap();
    let oci = format!("oci:{}:stable", dir.path().join("by-skopeo").display());
    support::skopeo::run(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &format!("docker://{}/src/app:v1", a.host()),
        &oci,
    ]);

    let (result, _) = copy_between(
        &oci,
        &format!("{}/dst/app:v1", b.host()),
        fast_copy_options(),
    )
    .await;

    assert_eq!(result.unwrap().root.digest.to_string(), index.digest());
    assert_index_copied(&b.url(), "dst/app", &index).await;
}

#[tokio::test]
async fn missing_layout_tag_is_not_found_and_the_destination_layout_is_not_created() {
    let a = TestRegistry::anonymous().await.unwrap();
    let index = two_platform_index(ManifestFormat::Oci);
    seed_index(&a, "src/app", "v1", &index).await;
    let dir = tempfile::tempdir().unwrap();
    let src = format!("oci:{}:v1", dir.path().join("src").display());
    copy_between(
        &format!("{}/src/app:v1", a.host()),
        &src,
        fast_copy_options(),
    )
    .await
    .0
    .unwrap();
    let dst = dir.path().join("dst");

    let (result, _) = copy_between(
        &format!("oci:{}:v2", dir.path().join("src").display()),
        &format!("oci:{}:v1", dst.display()),
        fast_copy_options(),
    )
    .await;

    let err = result.unwrap_err();
    assert!(matches!(err, CopyError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("v2"), "{err}");
    assert!(!dst.exists());
}

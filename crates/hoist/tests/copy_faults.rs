//! `copy` through the testkit's fault proxy: a connection reset in the middle of a blob, on
//! the way to a registry or to a layout, still ends in a correct copy (the source is reopened
//! at the offset the destination holds, or the blob sent again), and a corrupted byte is
//! caught before the destination accepts the blob.

mod support;

use hoist::copy::CopyError;
use hoist_testkit::{FaultProxy, ImagePusher, Rule, TestRegistry};

use support::copy::{big_image, copy_between, fast_copy_options, head_status};
use support::pull::blobs_in;
use support::push::assert_blobs_equal;

/// A registry with an 8 MiB single-layer image behind a fault proxy.
async fn setup() -> (TestRegistry, FaultProxy, hoist_testkit::Image) {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = big_image(8 << 20);
    ImagePusher::new(&registry)
        .push_image("src/app", "v1", &image)
        .await
        .unwrap();
    let proxy = FaultProxy::start(&registry).await.unwrap();
    (registry, proxy, image)
}

/// Resets the first GET of the image's layer after 1 MiB.
fn reset_mid_layer(image: &hoist_testkit::Image) -> Rule {
    Rule::matching(&format!("GET /v2/src/app/blobs/{}", image.layers[0].digest))
        .reset_after(1 << 20)
        .times(1)
}

/// GETs of the image's layer through the proxy.
fn layer_gets(proxy: &FaultProxy, image: &hoist_testkit::Image) -> usize {
    let layer = &image.layers[0].digest;
    proxy
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(layer.as_str()))
        .count()
}

#[tokio::test]
async fn reset_mid_blob_on_the_way_to_a_registry_still_copies_correctly() {
    let (_a, proxy, image) = setup().await;
    let b = TestRegistry::anonymous().await.unwrap();
    proxy.rule(reset_mid_layer(&image));

    let (result, _) = copy_between(
        &format!("{}/src/app:v1", proxy.host()),
        &format!("{}/dst/app:v1", b.host()),
        fast_copy_options(),
    )
    .await;

    result.unwrap();
    assert_eq!(
        layer_gets(&proxy, &image),
        2,
        "the layer should be read again after the reset"
    );
    assert_blobs_equal(&b.url(), "dst/app", &image).await;
    assert_eq!(
        head_status(&b.url(), "dst/app", "manifests", "v1").await,
        200
    );
}

#[tokio::test]
async fn reset_mid_blob_on_the_way_to_a_layout_resumes_with_range() {
    let (_a, proxy, image) = setup().await;
    proxy.rule(reset_mid_layer(&image));
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");

    let (result, _) = copy_between(
        &format!("{}/src/app:v1", proxy.host()),
        &format!("oci:{}:v1", layout.display()),
        fast_copy_options(),
    )
    .await;

    result.unwrap();
    let layer = &image.layers[0].digest;
    let ranged = proxy
        .requests()
        .iter()
        .filter(|r| r.path.ends_with(layer.as_str()) && r.range().is_some())
        .count();
    assert_eq!(
        ranged,
        1,
        "the second read should resume with Range: {:?}",
        proxy
            .requests()
            .iter()
            .map(|r| (
                r.method.clone(),
                r.path.clone(),
                r.range().map(str::to_owned),
                r.rule.clone()
            ))
            .collect::<Vec<_>>()
    );
    assert!(blobs_in(&layout).iter().any(|d| d.as_str() == layer));
}

#[tokio::test]
async fn corrupted_byte_is_refused_and_no_manifest_reaches_the_destination() {
    let (_a, proxy, image) = setup().await;
    let b = TestRegistry::anonymous().await.unwrap();
    proxy.rule(
        Rule::matching(&format!("GET /v2/src/app/blobs/{}", image.layers[0].digest))
            .corrupt_byte(4096),
    );

    let (result, _) = copy_between(
        &format!("{}/src/app:v1", proxy.host()),
        &format!("{}/dst/app:v1", b.host()),
        fast_copy_options(),
    )
    .await;

    let err = result.unwrap_err();
    assert!(matches!(err, CopyError::DigestMismatch { .. }), "{err:?}");
    assert_eq!(
        head_status(&b.url(), "dst/app", "manifests", "v1").await,
        404
    );
    assert_eq!(
        head_status(&b.url(), "dst/app", "blobs", &image.layers[0].digest).await,
        404
    );
}

#[tokio::test]
async fn destination_refusing_large_bodies_with_413_gets_the_blob_in_chunks() {
    let (a, _proxy, image) = setup().await;
    let b = TestRegistry::anonymous().await.unwrap();
    let front = FaultProxy::start(&b).await.unwrap();
    front.rule(Rule::patch_upload().body_larger_than(1 << 20).status(413));

    let (result, _) = copy_between(
        &format!("{}/src/app:v1", a.host()),
        &format!("{}/dst/app:v1", front.host()),
        fast_copy_options(),
    )
    .await;

    result.unwrap();
    let patches = front
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.rule.is_none())
        .count();
    assert!(
        patches >= 8,
        "8 MiB should arrive in chunks of at most 1 MiB: {patches}"
    );
    assert_blobs_equal(&b.url(), "dst/app", &image).await;
}

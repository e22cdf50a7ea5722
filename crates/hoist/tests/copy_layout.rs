//! `copy` to and from OCI layout directories (`oci:PATH[:TAG]`): skopeo reads what hoist wrote
//! byte for byte, and a layout copies back to a registry with the same digests.

mod support;

use hoist::copy::{copy, CopyError, ImageSource, LayoutSink, RegistryImage};
use hoist::reference::Reference;
use hoist_testkit::{FaultProxy, ManifestFormat, Rule, TestRegistry};

use support::copy::{
    assert_index_copied, copy_between, fast_copy_options, seed_index, skopeo_raw,
    two_platform_index,
};
use support::pull::{anonymous_client, blobs_in, Recorder};

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

/// The registry's requests for the index itself (the tag, or its digest), as "METHOD PATH".
fn index_reads(log: &[hoist_testkit::AccessLogEntry], index: &str) -> Vec<String> {
    log.iter()
        .filter(|e| e.path.ends_with("/manifests/v1") || e.path.ends_with(index))
        .map(|e| format!("{} {}", e.method, e.path))
        .collect()
}

#[tokio::test]
async fn a_copy_reading_at_once_gets_the_tag_once_and_walks_those_bytes() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let index = two_platform_index(ManifestFormat::Oci);
    seed_index(&registry, "src/app", "v1", &index).await;
    registry.clear_log().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let reference = Reference::parse(&format!("{}/src/app:v1", registry.host())).unwrap();
    let source = RegistryImage::new(&anonymous_client(), &reference).reading_at_once();
    let sink = LayoutSink::open(&layout, Some("v1")).unwrap();
    let progress = Recorder::default();

    let root = source.resolve().await.unwrap();
    copy(&source, &sink, &root, &fast_copy_options(), &progress)
        .await
        .unwrap();

    assert_eq!(root.digest.to_string(), index.digest());
    assert_eq!(
        skopeo_raw(&format!("oci:{}:v1", layout.display())),
        index.index.bytes
    );
    let reads = index_reads(&registry.access_log(), index.digest());
    assert_eq!(reads, ["GET /v2/src/app/manifests/v1"]);
}

#[tokio::test]
async fn a_copy_reading_at_once_refuses_a_tag_whose_bytes_were_changed_on_the_way() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let index = two_platform_index(ManifestFormat::Oci);
    seed_index(&registry, "src/app", "v1", &index).await;
    let proxy = FaultProxy::start(&registry).await.unwrap();
    proxy.rule(Rule::get_manifest().corrupt_byte(10));
    let reference = Reference::parse(&format!("{}/src/app:v1", proxy.host())).unwrap();
    let source = RegistryImage::new(&anonymous_client(), &reference).reading_at_once();

    let err = source.resolve().await.unwrap_err();

    // The body no longer has the Docker-Content-Digest the registry sent with it.
    let mut text = err.to_string();
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(&err);
    while let Some(e) = cause {
        text.push_str(&format!(": {e}"));
        cause = e.source();
    }
    assert!(text.contains(index.digest()), "{text}");
    assert!(text.contains("does not match its digest"), "{text}");
}

#[tokio::test]
async fn a_second_walk_of_the_same_source_reads_no_manifest_again() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let index = two_platform_index(ManifestFormat::Oci);
    seed_index(&registry, "src/app", "v1", &index).await;
    let dir = tempfile::tempdir().unwrap();
    let reference = Reference::parse(&format!("{}/src/app:v1", registry.host())).unwrap();
    // As `hoist copy` under a policy: judged (one walk), then copied (another).
    let source = RegistryImage::new(&anonymous_client(), &reference).reading_at_once();
    let root = source.resolve().await.unwrap();
    let first = LayoutSink::open(&dir.path().join("first"), Some("v1")).unwrap();
    let progress = Recorder::default();
    copy(&source, &first, &root, &fast_copy_options(), &progress)
        .await
        .unwrap();
    let by_digest = |log: &[hoist_testkit::AccessLogEntry]| {
        log.iter()
            .filter(|e| e.method == "GET" && e.path.contains("/manifests/sha256:"))
            .count()
    };
    assert_eq!(by_digest(&registry.access_log()), 2, "the two platforms");
    registry.clear_log().unwrap();

    let second = LayoutSink::open(&dir.path().join("second"), Some("v1")).unwrap();
    copy(&source, &second, &root, &fast_copy_options(), &progress)
        .await
        .unwrap();

    assert_eq!(by_digest(&registry.access_log()), 0);
    let layout = dir.path().join("second");
    assert_eq!(
        skopeo_raw(&format!("oci:{}:v1", layout.display())),
        index.index.bytes
    );
}

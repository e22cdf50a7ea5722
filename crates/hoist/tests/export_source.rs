//! `hoist export docker://REF DIR` in the library ([`export_from_source`]): an image read from
//! its registry and applied as it arrives, nothing stored — the platform asked for, a blob cut
//! on the way resumed where it stopped (also from a registry that ignores the `Range`), bytes
//! that are not the blob refused with the tree removed, a config whose diffIDs are not the
//! layers' refused, and a trust policy that refuses the image leaving nothing behind.
//! (`export_routes.rs` checks the tree against umoci's and the other two routes'.)

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hoist::copy::{ImageLocation, RegistryImage};
use hoist::export::{export_from_source, ExportError, ExportOptions, ExportReport, SourceExport};
use hoist::media::Platform;
use hoist::store::LayerError;
use hoist::transfer::{Backoff, RetryPolicy};
use hoist::trust::{Policy, PolicyVerifier, SigstoreAttachments, Subject, Verification};
use hoist::view::ViewError;
use hoist_testkit::{
    Blob, FaultProxy, Image, ImageBuilder, Layer, ManifestFormat, Rule, TestRegistry,
};
use support::copy::two_platform_index;
use support::pull::{anonymous_client, push};

/// Retries a few milliseconds apart, so the suite does not wait docker's 5 s.
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        backoff: Backoff::Linear {
            step: Duration::from_millis(20),
        },
        ..RetryPolicy::default()
    }
}

async fn export_at(
    host: &str,
    name: &str,
    what: &SourceExport<'_>,
    out: &Path,
) -> Result<ExportReport, ExportError> {
    let client = anonymous_client();
    let reference = hoist::reference::Reference::parse(&format!("{host}/{name}")).unwrap();
    let source = RegistryImage::new(&client, &reference);
    export_from_source(&source, what, out, &ExportOptions::default()).await
}

fn plain(platform: Option<&Platform>) -> SourceExport<'_> {
    SourceExport {
        platform,
        verify: None,
        retry: fast_retry(),
        downloads: 3,
    }
}

/// Asserts that every regular file of the layer `tar` is in `dir` with its bytes.
fn assert_files_of(tar: &[u8], dir: &Path) {
    let mut files = 0;
    for entry in tar::Archive::new(tar).entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_file() {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            let path = dir.join(entry.path().unwrap());
            assert!(std::fs::read(&path).unwrap() == bytes, "{}", path.display());
            files += 1;
        }
    }
    assert!(files > 0);
}

/// Two layers: a small file, then 300 KiB of random bytes (a blob worth cutting).
fn image() -> Image {
    ImageBuilder::new()
        .layer(Layer::from_files(&[("small.txt", b"small\n")]).unwrap())
        .layer(Layer::random(300 << 10).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_platform_asked_for_is_exported_from_an_index() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let index = two_platform_index(ManifestFormat::Oci);
    hoist_testkit::ImagePusher::new(&registry)
        .push_index("team/multi", "v1", &index)
        .await
        .unwrap();
    let pushed = registry.count_requests("POST", "/v2/");
    let work = tempfile::tempdir().unwrap();
    for arch in ["amd64", "arm64/v8"] {
        let platform = Platform::parse(&format!("linux/{arch}")).unwrap();
        let out = work.path().join(arch.replace('/', "-"));
        let report = export_at(
            &registry.host(),
            "team/multi:v1",
            &plain(Some(&platform)),
            &out,
        )
        .await
        .unwrap();
        assert_eq!(report.layers, 2);
        let written = std::fs::read_to_string(out.join("arch.txt")).unwrap();
        assert_eq!(written, arch.split('/').next().unwrap());
    }
    // Only read: nothing was uploaded.
    assert_eq!(registry.count_requests("POST", "/v2/"), pushed);
}

/// Exports `image()` with its second layer's first GET reset after 100 KiB (every GET of it
/// answered whole from byte 0 when `ignore_range`), checks the tree, and returns the GETs of
/// that blob.
async fn export_cut(ignore_range: bool) -> Vec<hoist_testkit::ProxiedRequest> {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = image();
    push(&registry, "team/app", "v1", &image).await;
    let proxy = FaultProxy::start(&registry).await.unwrap();
    let big = format!("/v2/team/app/blobs/{}", image.layers[1].digest);
    proxy.rule(
        Rule::matching(&format!("GET {big}"))
            .reset_after(100 << 10)
            .times(1),
    );
    if ignore_range {
        proxy.rule(Rule::matching(&format!("GET {big}")).ignore_range());
    }
    let out = tempfile::tempdir().unwrap();

    export_at(&proxy.host(), "team/app:v1", &plain(None), out.path())
        .await
        .unwrap();

    assert_files_of(&image.tars[1], out.path());
    let gets = proxy.requests().into_iter();
    gets.filter(|r| r.method == "GET" && r.path == big)
        .collect()
}

#[tokio::test]
async fn a_blob_cut_on_the_way_is_resumed_from_the_byte_reached() {
    let gets = export_cut(false).await;

    assert_eq!(gets.len(), 2, "{gets:#?}");
    let range = gets[1].headers.iter().find(|(name, _)| name == "range");
    let (_, range) = range.expect("the second GET asks for the rest only");
    assert!(
        range.starts_with("bytes=") && !range.starts_with("bytes=0-"),
        "{range}"
    );
}

#[tokio::test]
async fn a_cut_blob_is_resumed_when_the_registry_ignores_the_range() {
    let gets = export_cut(true).await;

    assert_eq!(gets.len(), 2, "{gets:#?}");
    assert_eq!(gets[1].status, Some(200), "the whole blob again: {gets:#?}");
}

#[tokio::test]
async fn bytes_that_are_not_the_blob_fail_the_export_and_leave_no_tree() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = image();
    push(&registry, "team/app", "v1", &image).await;
    // Either layer: the first, or the second while the first is applied.
    for (i, layer) in image.layers.iter().enumerate() {
        let proxy = FaultProxy::start(&registry).await.unwrap();
        // A byte of the gzip header's modification time: the layer still inflates to the
        // same tar, so only the blob's digest can tell.
        let path = format!("/v2/team/app/blobs/{}", layer.digest);
        proxy.rule(Rule::matching(&format!("GET {path}")).corrupt_byte(5));
        let work = tempfile::tempdir().unwrap();
        let out = work.path().join("rootfs");

        let failed = export_at(&proxy.host(), "team/app:v1", &plain(None), &out).await;

        let Err(ExportError::View(view)) = &failed else {
            panic!("layer {i}: {failed:?}")
        };
        let ViewError::BlobVerification { expected, .. } = view.as_ref() else {
            panic!("layer {i}: {view:?}")
        };
        assert_eq!(expected.as_str(), layer.digest);
        assert!(
            !out.exists(),
            "layer {i}: the directory the export made is removed"
        );
    }
}

#[tokio::test]
async fn an_image_the_policy_refuses_writes_nothing() {
    let registry = TestRegistry::anonymous().await.unwrap();
    push(&registry, "team/app", "v1", &image()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.json");
    std::fs::write(&path, r#"{"default": [{"type": "reject"}]}"#).unwrap();
    let verifier =
        PolicyVerifier::new(Policy::load(&path).unwrap(), SigstoreAttachments::default());
    let location = ImageLocation::parse(&format!("docker://{}/team/app:v1", registry.host()));
    let verification = Verification {
        verifier: Arc::new(verifier),
        subject: Subject::from_location(&location.unwrap(), &anonymous_client()),
    };
    let what = SourceExport {
        verify: Some(&verification),
        ..plain(None)
    };
    let out = dir.path().join("rootfs");

    let refused = export_at(&registry.host(), "team/app:v1", &what, &out).await;

    assert!(matches!(refused, Err(ExportError::Trust(_))), "{refused:?}");
    assert!(!out.exists());
    assert_eq!(registry.count_requests("GET", "/v2/team/app/blobs/"), 0);
}

#[tokio::test]
async fn the_next_layer_is_requested_while_one_is_applied() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = image();
    push(&registry, "team/app", "v1", &image).await;
    let proxy = FaultProxy::start(&registry).await.unwrap();
    let blob = |i: usize| format!("/v2/team/app/blobs/{}", image.layers[i].digest);
    let (held, next) = (blob(0), blob(1));
    proxy.rule(Rule::matching(&format!("GET {held}")).delay(Duration::from_secs(3)));
    let host = proxy.host();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().to_owned();
    let export = tokio::spawn(async move {
        export_at(&host, "team/app:v1", &plain(None), &target)
            .await
            .map(drop)
    });

    // One layer after the other, the second would be asked for only once the first arrived.
    let get = |requests: &[hoist_testkit::ProxiedRequest], path: &str| {
        let get = requests
            .iter()
            .find(|r| r.method == "GET" && r.path == path);
        get.map(|r| r.status.is_some())
    };
    loop {
        let requests = proxy.requests();
        match (get(&requests, &held), get(&requests, &next)) {
            (Some(false), Some(_)) => break,
            (Some(true), _) => panic!("{next} not requested while {held} was held"),
            _ => assert!(!export.is_finished(), "{requests:#?}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    export.await.unwrap().unwrap();
    assert_eq!(
        std::fs::read(out.path().join("small.txt")).unwrap(),
        b"small\n"
    );
}

/// Pushes `image` as `team/bad:v1` with its config's `rootfs.diff_ids` replaced by `diff_ids`.
async fn push_with_diff_ids(registry: &TestRegistry, image: &Image, diff_ids: serde_json::Value) {
    let mut config: serde_json::Value = serde_json::from_slice(&image.config.bytes).unwrap();
    config["rootfs"]["diff_ids"] = diff_ids;
    let config = Blob::new(
        &image.config.media_type,
        serde_json::to_vec(&config).unwrap(),
    );
    let mut manifest: serde_json::Value = serde_json::from_slice(&image.manifest.bytes).unwrap();
    manifest["config"] = config.descriptor();
    let manifest = Blob::new(
        &image.manifest.media_type,
        serde_json::to_vec(&manifest).unwrap(),
    );
    let pusher = hoist_testkit::ImagePusher::new(registry);
    for layer in &image.layers {
        pusher.push_blob("team/bad", layer).await.unwrap();
    }
    pusher.push_blob("team/bad", &config).await.unwrap();
    pusher
        .push_manifest("team/bad", "v1", &manifest)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_config_whose_diff_ids_are_not_the_layers_fails_and_leaves_no_tree() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = image();
    let work = tempfile::tempdir().unwrap();

    // The second layer's diffID claimed for the first: found once the first is applied.
    let swapped = serde_json::json!([image.diff_ids[1], image.diff_ids[0]]);
    push_with_diff_ids(&registry, &image, swapped).await;
    let out = work.path().join("swapped");
    let failed = export_at(&registry.host(), "team/bad:v1", &plain(None), &out).await;
    let Err(ExportError::Layers(LayerError::DiffIdMismatch { blob, .. })) = &failed else {
        panic!("{failed:?}")
    };
    assert_eq!(blob.as_str(), image.layers[0].digest);
    assert!(!out.exists());

    // One diffID for two layers: refused before anything is written.
    push_with_diff_ids(&registry, &image, serde_json::json!([image.diff_ids[0]])).await;
    let out = work.path().join("short");
    let failed = export_at(&registry.host(), "team/bad:v1", &plain(None), &out).await;
    assert!(
        matches!(
            failed,
            Err(ExportError::DiffIdCount {
                layers: 2,
                diff_ids: 1,
                ..
            })
        ),
        "{failed:?}"
    );
    assert!(!out.exists());
}

//! `hoist::sync` across an air gap: a registry synced into one OCI layout directory (named
//! entries, shared blobs stored once, a second sync writing nothing) and that directory
//! synced into another registry with every digest kept, referrers with them; skopeo's `dir:`
//! trees as a source.

mod support;

use hoist::reference::Reference;
use hoist::store::layout::read_index_manifests;
use hoist::sync::{Destination, ImageOutcome, Source, SyncError};
use hoist_testkit::TestRegistry;

use support::copy::copy_between;
use support::sync::{base_layer, fast_options, image_on, remote_digest, seed, sync};

fn blob_files(layout: &std::path::Path) -> usize {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .count()
}

#[tokio::test]
async fn registry_to_layout_to_registry_keeps_every_digest() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let base = base_layer();
    let (app, tool) = (image_on(&base, "app"), image_on(&base, "tool"));
    seed(&a, "team/app", "v1", &app).await;
    seed(&a, "other/tool", "2.0", &tool).await;
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("usb");
    let to_layout = Destination::parse("dir", layout.to_str().unwrap()).unwrap();
    let yaml = dir.path().join("sync.yml");
    std::fs::write(
        &yaml,
        format!(
            "{}:\n  images:\n    team/app: []\n    other/tool: ['2.0']\n",
            a.host()
        ),
    )
    .unwrap();

    let out = sync(
        &Source::File(yaml.clone()),
        &to_layout,
        false,
        &fast_options(),
    )
    .await;

    assert!(out.succeeded(), "{:?}", out.failures);
    let mut names: Vec<String> = read_index_manifests(&layout)
        .unwrap()
        .into_iter()
        .filter_map(|e| e.ref_name)
        .collect();
    names.sort();
    assert_eq!(names, ["app:v1", "tool:2.0"]);
    assert_eq!(
        blob_files(&layout),
        2 + 5,
        "two manifests; base layer stored once"
    );

    let again = sync(&Source::File(yaml), &to_layout, false, &fast_options()).await;
    assert!(again
        .images
        .iter()
        .all(|i| matches!(i.outcome, ImageOutcome::UpToDate(_))));

    let back = sync(
        &Source::Dir(layout.clone()),
        &Destination::parse("docker", &format!("{}/imported", b.host())).unwrap(),
        false,
        &fast_options(),
    )
    .await;

    assert!(back.succeeded(), "{:?}", back.failures);
    assert_eq!(
        remote_digest(&b, "imported/app", "v1").await.as_deref(),
        Some(app.digest())
    );
    assert_eq!(
        remote_digest(&b, "imported/tool", "2.0").await.as_deref(),
        Some(tool.digest())
    );
}

#[tokio::test]
async fn skopeo_dir_trees_sync_into_a_registry_named_by_their_directories() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let image = image_on(&base_layer(), "app");
    seed(&a, "team/app", "1-glibc", &image).await;
    let dir = tempfile::tempdir().unwrap();
    let image_dir = dir.path().join("busybox:1-glibc");
    let (copied, _) = copy_between(
        &format!("docker://{}/team/app:1-glibc", a.host()),
        &format!("dir:{}", image_dir.display()),
        support::copy::fast_copy_options(),
    )
    .await;
    copied.unwrap();

    let out = sync(
        &Source::Dir(dir.path().to_owned()),
        &Destination::parse("docker", &format!("{}/test", b.host())).unwrap(),
        false,
        &fast_options(),
    )
    .await;

    assert!(out.succeeded(), "{:?}", out.failures);
    assert_eq!(
        remote_digest(&b, "test/busybox", "1-glibc")
            .await
            .as_deref(),
        Some(image.digest())
    );
}

#[tokio::test]
async fn scoped_layout_names_keep_the_source_repository() {
    let a = TestRegistry::anonymous().await.unwrap();
    seed(&a, "team/app", "v1", &image_on(&base_layer(), "app")).await;
    let dir = tempfile::tempdir().unwrap();
    let source = Source::Registry(Reference::parse(&format!("{}/team/app:v1", a.host())).unwrap());
    let destination = Destination::parse("dir", dir.path().to_str().unwrap()).unwrap();

    let out = sync(&source, &destination, true, &fast_options()).await;

    assert!(out.succeeded(), "{:?}", out.failures);
    let names: Vec<String> = read_index_manifests(dir.path())
        .unwrap()
        .into_iter()
        .filter_map(|e| e.ref_name)
        .collect();
    assert_eq!(names, [format!("{}/team/app:v1", a.host())]);
}

#[tokio::test]
async fn dir_to_dir_and_empty_sources_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let client = support::pull::anonymous_client();
    let to_dir = Destination::parse("dir", "/nonexistent/out").unwrap();

    let err = hoist::sync::plan(
        &client,
        &Source::Dir(dir.path().to_owned()),
        None,
        &to_dir,
        false,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SyncError::DirToDir), "{err}");

    let registry = Destination::parse("docker", "127.0.0.1:1/x").unwrap();
    let err = hoist::sync::plan(
        &client,
        &Source::Dir(dir.path().to_owned()),
        None,
        &registry,
        false,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SyncError::Empty { .. }), "{err}");
}

#[tokio::test]
async fn referrers_cross_the_gap_with_their_images() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let index = support::copy::two_platform_index(hoist_testkit::ManifestFormat::Oci);
    support::copy::seed_index(&a, "team/app", "v1", &index).await;
    let sbom = hoist_testkit::Artifact::new(
        "application/vnd.example.sbom.v1",
        &index.images[1].manifest,
        &[("sbom.json", b"{}")],
    );
    hoist_testkit::ImagePusher::new(&a)
        .push_referrer("team/app", &sbom)
        .await
        .unwrap();
    let mut options = fast_options();
    options.copy.referrers = true;
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("usb");

    let out = sync(
        &Source::Registry(Reference::parse(&format!("{}/team/app", a.host())).unwrap()),
        &Destination::parse("dir", layout.to_str().unwrap()).unwrap(),
        false,
        &options,
    )
    .await;
    assert!(out.succeeded(), "{:?}", out.failures);
    let back = sync(
        &Source::Dir(layout),
        &Destination::parse("docker", &format!("{}/imported", b.host())).unwrap(),
        false,
        &options,
    )
    .await;

    assert!(back.succeeded(), "{:?}", back.failures);
    assert_eq!(back.images.len(), 1, "the referrer is no image of its own");
    let subject = hoist::digest::Digest::parse(index.images[1].digest()).unwrap();
    let (listed, _) = support::pull::anonymous_client()
        .repository(&b.host(), "imported/app")
        .referrers(&subject, None)
        .await
        .unwrap();
    let digests: Vec<String> = listed.iter().map(|d| d.digest.to_string()).collect();
    assert_eq!(digests, [sbom.manifest.digest.as_str()]);
}

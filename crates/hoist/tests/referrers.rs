//! OCI 1.1 referrers against real `docker-registry` processes (CNCF distribution 2.8, which
//! has no referrers API, so every list goes through the referrers tag schema): referrers
//! written by the testkit's independent writer are listed (and filtered) by hoist's client;
//! a manifest with a subject pushed by hoist lands in the fallback tag as the spec says; a
//! copy carries referrers (recursively, every platform's) registry → registry and → `oci:` →
//! registry with digests unchanged, drops them when not asked, skips stale entries, and
//! refuses a list longer than the limit instead of following it.

mod support;

use bytes::Bytes;
use hoist::copy::ImageSource;
use hoist::copy::{CopyError, CopyOptions, LayoutSource};
use hoist::digest::Digest;
use hoist::media::{Descriptor, MAX_REFERRERS};
use hoist::registry::{ReferrersSource, RegistryError};
use hoist_testkit::{Artifact, FaultProxy, ImagePusher, Index, ManifestFormat, TestRegistry};
use serde_json::json;

use support::copy::{copy_between, fast_copy_options, seed_index, skopeo_raw, two_platform_index};
use support::pull::anonymous_client;

const SBOM: &str = "application/vnd.example.sbom.v1";
const SIG: &str = "application/vnd.example.signature.v1";

fn with_referrers() -> CopyOptions {
    CopyOptions {
        referrers: true,
        ..fast_copy_options()
    }
}

/// An index seeded as `repo:v1`, with an SBOM on the index, a signature on the SBOM and an
/// SBOM on the first platform's manifest, all written by the testkit.
async fn seeded(registry: &TestRegistry, repo: &str) -> (Index, Vec<Artifact>) {
    let index = two_platform_index(ManifestFormat::Oci);
    seed_index(registry, repo, "v1", &index).await;
    let pusher = ImagePusher::new(registry);
    let sbom = Artifact::new(SBOM, &index.index, &[("sbom.json", b"{\"packages\":[]}")]);
    let sig = Artifact::new(SIG, &sbom.manifest, &[("sig", b"signed")]);
    let platform = Artifact::new(SBOM, &index.images[0].manifest, &[("amd64.json", b"{}")]);
    for artifact in [&sbom, &sig, &platform] {
        pusher.push_referrer(repo, artifact).await.unwrap();
    }
    (index, vec![sbom, sig, platform])
}

fn digest(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

#[tokio::test]
async fn referrers_written_by_another_client_are_listed_from_the_fallback_tag() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let (index, artifacts) = seeded(&registry, "team/app").await;
    let repo = anonymous_client().repository(&registry.host(), "team/app");

    let (listed, source) = repo.referrers(&digest(index.digest()), None).await.unwrap();

    assert_eq!(source, ReferrersSource::Tag);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].digest.as_str(), artifacts[0].manifest.digest);
    assert_eq!(listed[0].artifact_type.as_deref(), Some(SBOM));
    let (filtered, _) = repo
        .referrers(&digest(index.digest()), Some(SIG))
        .await
        .unwrap();
    assert!(filtered.is_empty(), "{filtered:?}");
    let (none, _) = repo
        .referrers(&digest(&artifacts[1].manifest.digest), None)
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn a_manifest_pushed_with_a_subject_is_added_to_the_fallback_tag_once() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let index = two_platform_index(ManifestFormat::Oci);
    seed_index(&registry, "team/app", "v1", &index).await;
    let pusher = ImagePusher::new(&registry);
    let repo = anonymous_client().repository(&registry.host(), "team/app");
    let first = Artifact::new(SBOM, &index.index, &[("a", b"a")]);
    let second = Artifact::new(SIG, &index.index, &[("b", b"b")]);

    for artifact in [&first, &second, &first] {
        for blob in &artifact.blobs {
            pusher.push_blob("team/app", blob).await.unwrap();
        }
        let bytes = Bytes::from(artifact.manifest.bytes.clone());
        repo.put_manifest(
            &artifact.manifest.digest,
            &artifact.manifest.media_type,
            bytes,
        )
        .await
        .unwrap();
    }

    let entries = pusher
        .referrers_index("team/app", index.digest())
        .await
        .unwrap();
    assert_eq!(
        entries,
        vec![first.referrer_descriptor(), second.referrer_descriptor()],
        "the spec's descriptor (artifactType, every annotation), each once"
    );
}

#[tokio::test]
async fn copy_carries_referrers_recursively_with_digests_unchanged() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let (_, artifacts) = seeded(&a, "src/app").await;

    copy_and_check_every_referrer(&a, &b, &artifacts).await;
}

/// Copies `src/app:v1` of `a` with its referrers to `dst/app:v1` of `b`, and checks each of
/// `artifacts` is listed for its subject there, byte for byte.
async fn copy_and_check_every_referrer(a: &TestRegistry, b: &TestRegistry, artifacts: &[Artifact]) {
    let (result, _) = copy_between(
        &format!("{}/src/app:v1", a.host()),
        &format!("{}/dst/app:v1", b.host()),
        with_referrers(),
    )
    .await;

    assert_eq!(result.unwrap().manifests, 3 + artifacts.len());
    let pusher = ImagePusher::new(b);
    for artifact in artifacts {
        let listed = pusher
            .referrers_index("dst/app", &artifact.subject)
            .await
            .unwrap();
        assert!(
            listed.contains(&artifact.referrer_descriptor()),
            "{} missing from {listed:?}",
            artifact.manifest.digest
        );
        let raw = skopeo_raw(&format!(
            "docker://{}/dst/app@{}",
            b.host(),
            artifact.manifest.digest
        ));
        assert_eq!(raw, artifact.manifest.bytes);
    }
}

/// How many requests `proxy` passed to the referrers API, and the fallback tags (not `.sig`
/// tags) requested, in order.
fn referrer_requests(proxy: &FaultProxy) -> (usize, Vec<String>) {
    let requests = proxy.requests();
    let api = requests
        .iter()
        .filter(|r| r.path.contains("/referrers/"))
        .count();
    let tags = requests
        .iter()
        .filter(|r| r.path.contains("/manifests/sha256-") && !r.path.ends_with(".sig"))
        .map(|r| r.path.clone())
        .collect();
    (api, tags)
}

#[tokio::test]
async fn a_registry_without_the_referrers_api_is_asked_for_it_once() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let (index, artifacts) = seeded(&registry, "team/app").await;
    let proxy = FaultProxy::start(&registry).await.unwrap();
    let repo = anonymous_client().repository(&proxy.host(), "team/app");
    let subjects = [
        index.digest(),
        index.images[0].digest(),
        &artifacts[0].manifest.digest,
    ];

    for subject in subjects {
        let (_, source) = repo.referrers(&digest(subject), None).await.unwrap();
        assert_eq!(source, ReferrersSource::Tag);
    }

    // The first 404 says there is no API (a registry with one must not answer 404); the
    // next lookups go to the fallback tag at once.
    let (api, tags) = referrer_requests(&proxy);
    assert_eq!(api, 1);
    assert_eq!(tags.len(), subjects.len(), "{tags:?}");
}

#[tokio::test]
async fn a_copy_reads_each_list_once_and_asks_for_the_api_once() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let (_, artifacts) = seeded(&a, "src/app").await;
    let proxy = FaultProxy::start(&a).await.unwrap();

    let (result, _) = copy_between(
        &format!("{}/src/app:v1", proxy.host()),
        &format!("{}/dst/app:v1", b.host()),
        with_referrers(),
    )
    .await;

    // The index, its two platforms and the three artifacts: each list read once, though
    // the platforms' lists were read ahead of the walk.
    assert_eq!(result.unwrap().manifests, 3 + artifacts.len());
    let (api, mut tags) = referrer_requests(&proxy);
    assert_eq!(api, 1);
    let read = tags.len();
    tags.sort();
    tags.dedup();
    assert_eq!((read, tags.len()), (6, 6), "{tags:?}");
    // The referrers' manifests were read ahead of the walk, and only once.
    let requests = proxy.requests();
    for artifact in &artifacts {
        let path = format!("/v2/src/app/manifests/{}", artifact.manifest.digest);
        let gets = requests.iter().filter(|r| r.path == path).count();
        assert_eq!(gets, 1, "{path}");
    }
}

#[tokio::test]
async fn referrers_of_one_subject_copied_into_a_registry_are_all_listed() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let (index, mut artifacts) = seeded(&a, "src/app").await;
    // Three more on the index: its fallback tag is read, changed and put back for each, so
    // they must not go at once (those of different subjects do).
    let pusher = ImagePusher::new(&a);
    for n in 0..3 {
        let name = format!("extra{n}.json");
        let extra = Artifact::new(SBOM, &index.index, &[(name.as_str(), b"{}")]);
        pusher.push_referrer("src/app", &extra).await.unwrap();
        artifacts.push(extra);
    }

    copy_and_check_every_referrer(&a, &b, &artifacts).await;
}

#[tokio::test]
async fn copy_without_referrers_leaves_them_behind() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let (index, _) = seeded(&a, "src/app").await;

    let (result, _) = copy_between(
        &format!("{}/src/app:v1", a.host()),
        &format!("{}/dst/app:v1", b.host()),
        fast_copy_options(),
    )
    .await;

    assert_eq!(result.unwrap().manifests, 3);
    let listed = ImagePusher::new(&b)
        .referrers_index("dst/app", index.digest())
        .await
        .unwrap();
    assert!(listed.is_empty(), "{listed:?}");
}

#[tokio::test]
async fn referrers_go_into_an_oci_layout_and_back_out() {
    let (a, c) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let (index, artifacts) = seeded(&a, "src/app").await;
    let dir = tempfile::tempdir().unwrap();
    let layout = format!("oci:{}:v1", dir.path().display());

    let (result, _) = copy_between(
        &format!("{}/src/app:v1", a.host()),
        &layout,
        with_referrers(),
    )
    .await;
    result.unwrap();

    // oras's layout: each referrer an untagged index.json entry.
    let index_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    let untagged: Vec<&str> = index_json["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.get("annotations").is_none())
        .map(|e| e["digest"].as_str().unwrap())
        .collect();
    assert_eq!(untagged.len(), artifacts.len(), "{index_json}");
    let source = LayoutSource::new(dir.path(), Some("v1"));
    let subject = Descriptor::new("", digest(index.digest()), index.index.size);
    let listed = source.referrers(&subject, None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].digest.as_str(), artifacts[0].manifest.digest);

    let (result, _) = copy_between(
        &layout,
        &format!("{}/back/app:v1", c.host()),
        with_referrers(),
    )
    .await;
    result.unwrap();
    let pusher = ImagePusher::new(&c);
    for artifact in &artifacts {
        let listed = pusher
            .referrers_index("back/app", &artifact.subject)
            .await
            .unwrap();
        assert!(
            listed.contains(&artifact.referrer_descriptor()),
            "{listed:?}"
        );
    }
}

#[tokio::test]
async fn a_stale_entry_in_the_fallback_tag_is_skipped() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let index = two_platform_index(ManifestFormat::Oci);
    seed_index(&a, "src/app", "v1", &index).await;
    // Listed in the fallback tag, then deleted without updating it (what a plain
    // `DELETE` by another client leaves).
    let gone = Artifact::new(SBOM, &index.index, &[("gone", b"gone")]);
    ImagePusher::new(&a)
        .push_referrer("src/app", &gone)
        .await
        .unwrap();
    let status = hoist_testkit::http_client()
        .unwrap()
        .delete(format!(
            "{}/v2/src/app/manifests/{}",
            a.url(),
            gone.manifest.digest
        ))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");

    let (result, _) = copy_between(
        &format!("{}/src/app:v1", a.host()),
        &format!("{}/dst/app:v1", b.host()),
        with_referrers(),
    )
    .await;

    assert_eq!(result.unwrap().manifests, 3);
}

#[tokio::test]
async fn a_subject_with_too_many_referrers_is_refused_not_followed() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let index = two_platform_index(ManifestFormat::Oci);
    seed_index(&a, "src/app", "v1", &index).await;
    // One referrer listed more times than the limit (the registry checks that each entry
    // exists, not that it is listed once).
    let pusher = ImagePusher::new(&a);
    let one = Artifact::new(SBOM, &index.index, &[]);
    pusher.push_referrer("src/app", &one).await.unwrap();
    let entries = vec![one.referrer_descriptor(); MAX_REFERRERS + 1];
    let list = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    });
    pusher
        .put_referrers_index(
            "src/app",
            index.digest(),
            serde_json::to_vec(&list).unwrap(),
        )
        .await
        .unwrap();
    let repo = anonymous_client().repository(&a.host(), "src/app");

    let err = repo
        .referrers(&digest(index.digest()), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::TooManyReferrers { .. }),
        "{err}"
    );

    let (result, _) = copy_between(
        &format!("{}/src/app:v1", a.host()),
        &format!("{}/dst/app:v1", b.host()),
        with_referrers(),
    )
    .await;
    let err = result.unwrap_err();
    assert!(matches!(err, CopyError::Registry { .. }), "{err}");
    assert!(err.to_string().contains("list the referrers"), "{err}");
    assert_eq!(
        support::copy::head_status(&b.url(), "dst/app", "manifests", "v1").await,
        404,
        "nothing tagged at the destination"
    );
}

//! `hoist::sync` between two real registries: a first sync copies every tag with its digest,
//! a second moves no blob, a new tag moves only its own blobs, blobs shared between
//! destination repositories are mounted, `--dry-run` writes nothing, `--keep-going`
//! reports a broken repository and syncs the rest, and referrers travel (new ones too, to
//! an image otherwise up to date) unless signatures are left out; a listing page answered
//! 429 is waited out, and a 429 holds every request to its registry for its `Retry-After`.

mod support;

use hoist::reference::Reference;
use hoist::sync::{Destination, ImageOutcome, Source, SourceFile, SyncError, SyncOptions};
use hoist_testkit::{Index, ManifestFormat, TestRegistry};

use support::copy::two_platform_index;
use support::pull::{anonymous_client, Recorder};
use support::sync::{
    base_layer, blob_requests, blobs_of, fast_options, image_on, remote_digest, seed, sync,
    uploaded,
};

fn source_repo(registry: &TestRegistry, repo: &str) -> Source {
    Source::Registry(Reference::parse(&format!("{}/{repo}", registry.host())).unwrap())
}

fn mirror(registry: &TestRegistry) -> Destination {
    Destination::parse("docker", &format!("{}/mirror", registry.host())).unwrap()
}

#[tokio::test]
async fn first_sync_copies_every_tag_second_moves_nothing_a_new_tag_only_its_blobs() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let base = base_layer();
    let (v1, v2) = (image_on(&base, "v1"), image_on(&base, "v2"));
    seed(&a, "team/app", "v1", &v1).await;
    seed(&a, "team/app", "v2", &v2).await;
    let index: Index = two_platform_index(ManifestFormat::Oci);
    support::copy::seed_index(&a, "team/app", "multi", &index).await;
    let (source, destination) = (source_repo(&a, "team/app"), mirror(&b));

    let first = sync(&source, &destination, false, &fast_options()).await;

    assert!(first.succeeded(), "{:?}", first.failures);
    assert_eq!(first.images.len(), 3);
    for (tag, digest) in [
        ("v1", v1.digest()),
        ("v2", v2.digest()),
        ("multi", index.digest()),
    ] {
        let copied = remote_digest(&b, "mirror/app", tag).await;
        assert_eq!(copied.as_deref(), Some(digest), "{tag}: digest kept");
    }
    support::copy::assert_index_copied(&b.url(), "mirror/app", &index).await;

    b.clear_log().unwrap();
    let second = sync(&source, &destination, false, &fast_options()).await;

    assert!(second.succeeded(), "{:?}", second.failures);
    assert!(second
        .images
        .iter()
        .all(|i| matches!(i.outcome, ImageOutcome::UpToDate(_))));
    assert_eq!(blob_requests(&b), 0, "no blob moved");
    assert_eq!(b.count_requests("HEAD", "/v2/mirror/app/blobs/"), 0);
    assert_eq!(
        b.count_requests("HEAD", "/v2/mirror/app/manifests/"),
        3,
        "one HEAD per tag"
    );

    let v3 = image_on(&base, "v3");
    seed(&a, "team/app", "v3", &v3).await;
    b.clear_log().unwrap();
    let third = sync(&source, &destination, false, &fast_options()).await;

    assert!(third.succeeded(), "{:?}", third.failures);
    let new_blobs: std::collections::BTreeSet<String> = blobs_of(&v3)
        .into_iter()
        .filter(|d| *d != v3.layers[0].digest)
        .collect();
    assert_eq!(uploaded(&b), new_blobs, "only v3's own layer and config");
    assert_eq!(
        remote_digest(&b, "mirror/app", "v3").await.as_deref(),
        Some(v3.digest())
    );
}

#[tokio::test]
async fn blobs_shared_between_destination_repositories_are_mounted_not_sent_again() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let base = base_layer();
    let (one, two) = (image_on(&base, "one"), image_on(&base, "two"));
    seed(&a, "team/one", "v1", &one).await;
    seed(&a, "team/two", "v1", &two).await;
    let yaml = format!(
        "{}:\n  images:\n    team/one: [v1]\n    team/two: [v1]\n",
        a.host()
    );
    let file = SourceFile::parse_yaml(&yaml).unwrap();
    let client = anonymous_client();
    let planned = hoist::sync::plan(
        &client,
        &Source::File("sync.yml".into()),
        Some(&file),
        &mirror(&b),
        false,
    )
    .await
    .unwrap();

    let report = hoist::sync::run(&client, planned, &fast_options(), &Recorder::default()).await;

    assert!(report.succeeded(), "{:?}", report.failures);
    let ImageOutcome::Copied(second) = &report.images[1].outcome else {
        panic!("not copied: {:?}", report.images[1].outcome);
    };
    assert_eq!(second.mounted, 1, "the base layer, from mirror/one");
    assert_eq!(
        b.count_requests("POST", "/v2/mirror/two/blobs/uploads/?mount="),
        1
    );
}

#[tokio::test]
async fn dry_run_says_what_would_move_and_writes_nothing() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let image = image_on(&base_layer(), "v1");
    seed(&a, "team/app", "v1", &image).await;
    let options = SyncOptions {
        dry_run: true,
        ..fast_options()
    };

    let report = sync(&source_repo(&a, "team/app"), &mirror(&b), false, &options).await;

    let ImageOutcome::WouldCopy(estimate) = &report.images[0].outcome else {
        panic!("not estimated: {:?}", report.images[0].outcome);
    };
    let size: u64 = image.layers.iter().map(|l| l.size).sum::<u64>() + image.config.size;
    assert_eq!(
        (estimate.blobs, estimate.bytes, estimate.manifests),
        (3, size, 1)
    );
    assert_eq!(remote_digest(&b, "mirror/app", "v1").await, None);
    assert_eq!(blob_requests(&b), 0);
    assert_eq!(b.count_requests("PUT", "/v2/"), 0);
}

#[tokio::test]
async fn keep_going_reports_the_broken_repository_and_syncs_the_rest() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let base = base_layer();
    seed(&a, "team/app", "v1", &image_on(&base, "app")).await;
    seed(&a, "team/tool", "v1", &image_on(&base, "tool")).await;
    let yaml = format!(
        "{}:\n  images:\n    team/app: []\n    team/missing: []\n    team/tool: [v1, gone]\n",
        a.host()
    );
    let file = SourceFile::parse_yaml(&yaml).unwrap();
    let client = anonymous_client();
    let (source, destination) = (Source::File("sync.yml".into()), mirror(&b));
    let plan = || hoist::sync::plan(&client, &source, Some(&file), &destination, false);

    let stopping = hoist::sync::run(
        &client,
        plan().await.unwrap(),
        &fast_options(),
        &Recorder::default(),
    )
    .await;

    assert_eq!(stopping.failures.len(), 1, "{:?}", stopping.failures);
    assert!(stopping.images.is_empty() && stopping.skipped == 3);
    assert_eq!(
        remote_digest(&b, "mirror/app", "v1").await,
        None,
        "nothing copied"
    );

    let options = SyncOptions {
        keep_going: true,
        ..fast_options()
    };
    let going = hoist::sync::run(
        &client,
        plan().await.unwrap(),
        &options,
        &Recorder::default(),
    )
    .await;

    let subjects: Vec<&str> = going.failures.iter().map(|f| f.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            format!("{}/team/missing", a.host()),
            format!("docker://{}/team/tool:gone", a.host())
        ]
    );
    assert!(matches!(going.failures[0].error, SyncError::List { .. }));
    assert_eq!(going.images.len(), 2);
    assert!(remote_digest(&b, "mirror/app", "v1").await.is_some());
    assert!(remote_digest(&b, "mirror/tool", "v1").await.is_some());
    assert!(!going.succeeded());
}

#[tokio::test]
async fn a_platform_sync_stores_that_manifest_and_is_then_up_to_date() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let index = two_platform_index(ManifestFormat::Oci);
    support::copy::seed_index(&a, "team/app", "v1", &index).await;
    let options = SyncOptions {
        copy: hoist::copy::CopyOptions {
            platform: Some(hoist::media::Platform::parse("linux/arm64").unwrap()),
            ..fast_options().copy
        },
        ..fast_options()
    };
    let (source, destination) = (source_repo(&a, "team/app"), mirror(&b));

    let first = sync(&source, &destination, false, &options).await;

    assert!(first.succeeded(), "{:?}", first.failures);
    let arm = index.images[1].digest();
    assert_eq!(
        remote_digest(&b, "mirror/app", "v1").await.as_deref(),
        Some(arm)
    );
    b.clear_log().unwrap();
    let second = sync(&source, &destination, false, &options).await;
    assert!(matches!(
        &second.images[0].outcome,
        ImageOutcome::UpToDate(d) if d.as_str() == arm
    ));
    assert_eq!(blob_requests(&b), 0);
}

#[tokio::test]
async fn skopeo_man_page_yaml_plans_the_images_it_describes() {
    let (example, quay) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let image = image_on(&base_layer(), "any");
    let tags: [(&TestRegistry, &str, &[&str]); 5] = [
        (&example, "busybox", &["1-glibc", "latest"]),
        (&example, "redis", &["1.0", "2.0", "3.0"]),
        (
            &example,
            "nginx",
            &[
                "1.13.1-alpine-perl",
                "1.13.2-alpine-perl",
                "1.13.3-alpine-perl",
            ],
        ),
        (&example, "alpine", &["3.11", "3.12.0", "3.13", "latest"]),
        (&quay, "coreos/etcd", &["latest", "v3"]),
    ];
    for (registry, repo, tags) in tags {
        for tag in tags {
            seed(registry, repo, tag, &image).await;
        }
    }
    let yaml = include_str!("../src/sync/testdata/skopeo-sync-man-page.yml")
        .replace("registry.example.com:", &format!("{}:", example.host()))
        .replace("quay.io:", &format!("{}:", quay.host()));
    let file = SourceFile::parse_yaml(&yaml).unwrap();
    let destination = Destination::parse("docker", "my-registry.local.lan/repo/").unwrap();

    let planned = hoist::sync::plan(
        &anonymous_client(),
        &Source::File("sync.yml".into()),
        Some(&file),
        &destination,
        false,
    )
    .await
    .unwrap();

    assert!(planned.failures.is_empty(), "{:?}", planned.failures);
    let mut pairs: Vec<(String, String)> = planned
        .images
        .iter()
        .map(|i| (i.source.to_string(), i.destination.to_string()))
        .collect();
    pairs.sort();
    let zero = "sha256:0000000000000000000000000000000011111111111111111111111111111111";
    let (e, q) = (example.host(), quay.host());
    let mut expected: Vec<(String, String)> = [
        (format!("{e}/alpine:3.12.0"), "alpine:3.12.0".to_owned()),
        (format!("{e}/alpine:3.13"), "alpine:3.13".to_owned()),
        (format!("{e}/busybox:1-glibc"), "busybox:1-glibc".to_owned()),
        (format!("{e}/busybox:latest"), "busybox:latest".to_owned()),
        (
            format!("{e}/nginx:1.13.1-alpine-perl"),
            "nginx:1.13.1-alpine-perl".to_owned(),
        ),
        (
            format!("{e}/nginx:1.13.2-alpine-perl"),
            "nginx:1.13.2-alpine-perl".to_owned(),
        ),
        (format!("{e}/redis:1.0"), "redis:1.0".to_owned()),
        (format!("{e}/redis:2.0"), "redis:2.0".to_owned()),
        (format!("{e}/redis@{zero}"), format!("redis@{zero}")),
        (format!("{q}/coreos/etcd:latest"), "etcd:latest".to_owned()),
    ]
    .into_iter()
    .map(|(s, d)| {
        (
            format!("docker://{s}"),
            format!("docker://my-registry.local.lan/repo/{d}"),
        )
    })
    .collect();
    expected.sort();
    assert_eq!(pairs, expected);
}

#[tokio::test]
async fn referrers_travel_new_ones_follow_and_signatures_can_be_left_out() {
    use hoist_testkit::Artifact;
    const SBOM: &str = "application/vnd.example.sbom.v1";
    const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let index = two_platform_index(ManifestFormat::Oci);
    support::copy::seed_index(&a, "team/app", "v1", &index).await;
    let pusher = hoist_testkit::ImagePusher::new(&a);
    let sbom = Artifact::new(SBOM, &index.index, &[("sbom.json", b"{}")]);
    let signature = Artifact::new(BUNDLE, &index.index, &[("bundle.json", b"{\"sig\":1}")]);
    for artifact in [&sbom, &signature] {
        pusher.push_referrer("team/app", artifact).await.unwrap();
    }
    let carrying = SyncOptions {
        copy: hoist::copy::CopyOptions {
            referrers: true,
            ..fast_options().copy
        },
        ..fast_options()
    };
    let subject = hoist::digest::Digest::parse(index.digest()).unwrap();
    let listed = |repo: &'static str| {
        let client = anonymous_client();
        let (host, subject) = (b.host(), subject.clone());
        async move {
            let (found, _) = client
                .repository(&host, repo)
                .referrers(&subject, None)
                .await
                .unwrap();
            let mut types: Vec<String> =
                found.into_iter().filter_map(|d| d.artifact_type).collect();
            types.sort();
            types
        }
    };

    let all = sync(&source_repo(&a, "team/app"), &mirror(&b), false, &carrying).await;

    assert!(all.succeeded(), "{:?}", all.failures);
    assert_eq!(
        all.images.len(),
        1,
        "the fallback tag is no image of its own"
    );
    assert_eq!(listed("mirror/app").await, [BUNDLE, SBOM]);

    let unsigned = SyncOptions {
        remove_signatures: true,
        ..carrying.clone()
    };
    let destination = Destination::parse("docker", &format!("{}/unsigned", b.host())).unwrap();
    let without = sync(&source_repo(&a, "team/app"), &destination, false, &unsigned).await;
    assert!(without.succeeded(), "{:?}", without.failures);
    assert_eq!(listed("unsigned/app").await, [SBOM]);

    let later = Artifact::new(SBOM, &index.index, &[("later.json", b"{\"v\":2}")]);
    pusher.push_referrer("team/app", &later).await.unwrap();
    b.clear_log().unwrap();
    let again = sync(&source_repo(&a, "team/app"), &mirror(&b), false, &carrying).await;

    assert!(again.succeeded(), "{:?}", again.failures);
    assert!(matches!(again.images[0].outcome, ImageOutcome::Copied(_)));
    assert_eq!(listed("mirror/app").await, [BUNDLE, SBOM, SBOM]);
    let later_blobs: std::collections::BTreeSet<String> =
        later.blobs.iter().map(|b| b.digest.clone()).collect();
    assert!(
        uploaded(&b).is_subset(&later_blobs),
        "only the new referrer's blobs: {:?}",
        uploaded(&b)
    );
}

/// distribution 2.8 pages its catalog but not its tag lists; both go through the same page
/// reader, so the catalog shows a rate-limited page waited out in the middle of a listing.
#[tokio::test]
async fn rate_limited_listing_pages_are_waited_out_and_every_page_is_read() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = image_on(&base_layer(), "v");
    let repos = ["team/a", "team/b", "team/c"];
    for repo in repos {
        seed(&registry, repo, "v1", &image).await;
    }
    let proxy = hoist_testkit::FaultProxy::start(&registry).await.unwrap();
    let listing = || hoist_testkit::Rule::matching("GET /v2/_catalog");
    proxy.rule(listing().times(1).label("the first page passes"));
    proxy.rule(
        listing()
            .status(429)
            .error("TOOMANYREQUESTS", "slow down")
            .retry_after(1)
            .times(2),
    );
    let started = std::time::Instant::now();

    let listed = anonymous_client()
        .catalog(&proxy.host(), Some(2))
        .await
        .unwrap();

    assert_eq!(listed, repos);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "Retry-After honoured"
    );
    let answered: Vec<Option<u16>> = proxy
        .requests()
        .iter()
        .filter(|r| r.path == "/v2/_catalog")
        .map(|r| r.status)
        .collect();
    assert_eq!(answered, [Some(200), Some(429), Some(429), Some(200)]);
}

#[tokio::test]
async fn a_429_holds_every_request_to_that_registry_for_its_retry_after() {
    let registry = TestRegistry::anonymous().await.unwrap();
    seed(&registry, "team/app", "v1", &image_on(&base_layer(), "v")).await;
    let proxy = hoist_testkit::FaultProxy::start(&registry).await.unwrap();
    proxy.rule(
        hoist_testkit::Rule::head_manifest()
            .status(429)
            .error("TOOMANYREQUESTS", "slow down")
            .retry_after(2)
            .times(1),
    );
    let repo = anonymous_client().repository(&proxy.host(), "team/app");

    let refused = repo.head_manifest("v1").await.unwrap_err();
    let started = std::time::Instant::now();
    let tags = repo.tags(None).await.unwrap();

    assert_eq!(
        refused.retry_after(),
        Some(std::time::Duration::from_secs(2))
    );
    assert_eq!(tags, ["v1"]);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1500),
        "another request waited: {:?}",
        started.elapsed()
    );
}

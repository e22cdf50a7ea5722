//! `hoist::sync` at mirror scale, against real registries: 20 repositories × 5 tags (four
//! images and a two-platform index each, built from three tiny shared base layers), synced
//! four images at a time.
//! - into a registry with token auth and TLS: the first sync copies all 100 with their
//!   digests and sends each blob once (shared layers mounted, never sent twice even by
//!   images in flight together); the second moves no blob; a new tag moves only its own;
//! - through the fault proxy (429 with `Retry-After` on tag lists, manifests and blobs,
//!   resets on blobs) the run is slower and gives the same result; with one repository refused,
//!   `keep_going` reports that repository's images and syncs the other 95;
//! - across an air gap: an export, a second export `--since` the first holding only the new
//!   images' manifests and new blobs, both pushed in order into a registry, from which hoist's
//!   pull gets the source's image IDs back.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use hoist::registry::{HostConfig, RegistryClient};
use hoist::store::layout::read_index_manifests;
use hoist::sync::{Destination, ImageOutcome, Source, SourceFile, SyncOptions, SyncReport};
use hoist_testkit::{FaultProxy, Rule, TestCa, TestRegistry, TokenServer};

use support::pull::{
    anonymous_client, fast_options as fast_pull, reference, test_config, Recorder, Store,
};
use support::registry::{basic, client};
use support::sync::{
    base_digests, blob_requests, fast_options, fleet_bases, fleet_yaml, seed_fleet, seed_fleet_tag,
    stored_digest, upload_digests, uploaded, Seeded,
};

const REPOS: usize = 20;

/// `fast_options` syncing 4 images at once and carrying referrers, as the CLI does.
fn options() -> SyncOptions {
    let mut options = fast_options();
    options.concurrency = 4;
    options.copy.referrers = true;
    options
}

/// Plans `yaml` (skopeo sync's file) into `destination` and runs it.
async fn sync_file(
    client: &RegistryClient,
    yaml: &str,
    destination: &Destination,
    options: &SyncOptions,
) -> SyncReport {
    let file = SourceFile::parse_yaml(yaml).unwrap();
    let planned = hoist::sync::plan(
        client,
        &Source::File("sync.yml".into()),
        Some(&file),
        destination,
        false,
    )
    .await
    .unwrap();
    hoist::sync::run(client, planned, options, &Recorder::default()).await
}

/// Every image of `fleet` is at `registry` under `prefix/NAME:TAG` with its digest.
fn assert_mirrored(registry: &TestRegistry, prefix: &str, fleet: &[Seeded]) {
    for image in fleet {
        let name = format!("{prefix}/{}", image.repo);
        assert_eq!(
            stored_digest(registry, &name, &image.tag).as_deref(),
            Some(image.digest.as_str()),
            "{name}:{}",
            image.tag
        );
    }
}

fn all_blobs(fleet: &[Seeded]) -> BTreeSet<String> {
    fleet.iter().flat_map(|s| s.blobs.iter().cloned()).collect()
}

#[tokio::test]
async fn a_hundred_images_into_a_token_tls_registry_each_blob_sent_once_then_nothing() {
    let started = Instant::now();
    let source = TestRegistry::anonymous().await.unwrap();
    let ca = TestCa::new().unwrap();
    let tokens = TokenServer::builder()
        .user("ci", "c1")
        .grant("ci", "mirror/*", &["pull", "push"])
        .tls(ca.server_cert(&[]).unwrap())
        .start()
        .unwrap();
    let mirror = TestRegistry::builder()
        .tls(&ca)
        .token_auth(tokens.auth_config())
        .start()
        .await
        .unwrap();
    // The registry and its token server, both HTTPS with certificates of the test CA.
    let mut config = test_config();
    for host in [mirror.host(), tokens.host()] {
        let trusted = HostConfig {
            ca_file: Some(ca.cert_path()),
            ..Default::default()
        };
        config.registries.insert(host, trusted);
    }
    let client = client(config, &mirror.host(), Some(basic("ci", "c1")));
    let bases = fleet_bases();
    let mut fleet = seed_fleet(&source, &bases, REPOS).await;
    let yaml = fleet_yaml(&source.host(), &fleet);
    let destination = Destination::parse("docker", &format!("{}/mirror", mirror.host())).unwrap();
    mirror.clear_log().unwrap();

    let first = sync_file(&client, &yaml, &destination, &options()).await;

    assert!(first.succeeded(), "{:?}", first.failures);
    assert_eq!(first.images.len(), REPOS * 5);
    assert!(tokens.realm().starts_with("https://") && !tokens.requests().is_empty());
    assert_mirrored(&mirror, "mirror", &fleet);
    let sent = upload_digests(&mirror);
    let once: BTreeSet<String> = sent.iter().cloned().collect();
    assert_eq!(sent.len(), once.len(), "a blob was sent twice");
    assert_eq!(
        once,
        all_blobs(&fleet),
        "every blob sent once, the rest mounted"
    );
    assert!(
        mirror
            .access_log()
            .iter()
            .any(|e| e.method == "POST" && e.path.contains("mount=") && e.status == 201),
        "shared layers mounted"
    );
    let bytes: u64 = first.images.iter().map(|i| i.sent).sum();
    assert_eq!(bytes, first.sent);

    mirror.clear_log().unwrap();
    let second = sync_file(&client, &yaml, &destination, &options()).await;

    assert!(second.succeeded(), "{:?}", second.failures);
    assert!(second
        .images
        .iter()
        .all(|i| matches!(i.outcome, ImageOutcome::UpToDate(_))));
    assert_eq!(blob_requests(&mirror), 0, "no blob moved");
    assert_eq!(second.sent, 0);
    let answered_heads = mirror
        .access_log()
        .iter()
        .filter(|e| e.method == "HEAD" && e.path.starts_with("/v2/mirror/") && e.status != 401)
        .count();
    assert_eq!(answered_heads, REPOS * 5, "one HEAD per image");

    let new = seed_fleet_tag(&source, &bases, "repo-07", "1.4").await;
    mirror.clear_log().unwrap();
    let third = sync_file(&client, &yaml, &destination, &options()).await;

    assert!(third.succeeded(), "{:?}", third.failures);
    let base = base_digests(&bases);
    let own: BTreeSet<String> = new.blobs.difference(&base).cloned().collect();
    assert_eq!(
        uploaded(&mirror),
        own,
        "only the new tag's own layer and config"
    );
    fleet.push(new);
    assert_mirrored(&mirror, "mirror", &fleet);
    eprintln!("100-image registry sync test: {:?}", started.elapsed());
}

#[tokio::test]
async fn resets_and_rate_limits_slow_the_run_and_a_refused_repository_fails_alone() {
    let started = Instant::now();
    let source = TestRegistry::anonymous().await.unwrap();
    let mirror = TestRegistry::anonymous().await.unwrap();
    let fleet = seed_fleet(&source, &fleet_bases(), REPOS).await;
    let proxy = FaultProxy::start(&source).await.unwrap();
    let slow_down = |rule: Rule| {
        rule.status(429)
            .error("TOOMANYREQUESTS", "slow down")
            .retry_after(1)
    };
    proxy.rule(slow_down(Rule::matching("GET /v2/**/tags/list")).times(2));
    proxy.rule(slow_down(Rule::head_manifest()).times(4));
    proxy.rule(slow_down(Rule::get_manifest()).times(2));
    proxy.rule(slow_down(Rule::get_blob()).times(2));
    proxy.rule(Rule::get_blob().reset_after(100).times(4));
    let yaml = fleet_yaml(&proxy.host(), &fleet);
    let client = anonymous_client();

    let faulty = sync_file(
        &client,
        &yaml,
        &Destination::parse("docker", &format!("{}/faulty", mirror.host())).unwrap(),
        &options(),
    )
    .await;

    assert!(faulty.succeeded(), "{:?}", faulty.failures);
    assert_mirrored(&mirror, "faulty", &fleet);
    let limited = proxy
        .requests()
        .iter()
        .filter(|r| r.status == Some(429))
        .count();
    assert_eq!(limited, 10, "every 429 was answered and waited out");

    proxy.clear_rules();
    proxy.rule(
        Rule::matching("GET /v2/repo-13/blobs/*")
            .status(403)
            .error("DENIED", "repository frozen"),
    );
    let kept = sync_file(
        &client,
        &yaml,
        &Destination::parse("docker", &format!("{}/kept", mirror.host())).unwrap(),
        &SyncOptions {
            keep_going: true,
            ..options()
        },
    )
    .await;

    let failed: BTreeSet<&str> = kept.failures.iter().map(|f| f.subject.as_str()).collect();
    let repo_13: BTreeSet<String> = fleet
        .iter()
        .filter(|s| s.repo == "repo-13")
        .map(|s| format!("docker://{}/{}:{}", proxy.host(), s.repo, s.tag))
        .collect();
    assert_eq!(
        failed,
        repo_13.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    assert_eq!(kept.images.len(), REPOS * 5 - 5);
    let others: Vec<Seeded> = fleet.into_iter().filter(|s| s.repo != "repo-13").collect();
    assert_mirrored(&mirror, "kept", &others);
    eprintln!("fault and keep-going sync test: {:?}", started.elapsed());
}

/// The blob files of a layout that are no manifest it lists or names.
fn layout_blobs(layout: &Path) -> BTreeSet<String> {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
        .collect()
}

#[tokio::test]
async fn two_exports_cross_the_gap_the_second_holding_only_new_layers() {
    let started = Instant::now();
    let source = TestRegistry::anonymous().await.unwrap();
    let bases = fleet_bases();
    let fleet = seed_fleet(&source, &bases, REPOS).await;
    let yaml = fleet_yaml(&source.host(), &fleet);
    let client = anonymous_client();
    let disks = tempfile::tempdir().unwrap();
    let (first_disk, second_disk) = (disks.path().join("one"), disks.path().join("two"));
    let to = |path: &Path| Destination::parse("dir", path.to_str().unwrap()).unwrap();

    let first = sync_file(&client, &yaml, &to(&first_disk), &options()).await;

    assert!(first.succeeded(), "{:?}", first.failures);
    assert_eq!(read_index_manifests(&first_disk).unwrap().len(), REPOS * 5);
    let mut new = Vec::new();
    for r in 0..5 {
        new.push(seed_fleet_tag(&source, &bases, &format!("repo-{r:02}"), "2.0").await);
    }
    let since = SyncOptions {
        since: Some(first_disk.join("index.json")),
        ..options()
    };
    let second = sync_file(&client, &yaml, &to(&second_disk), &since).await;

    assert!(second.succeeded(), "{:?}", second.failures);
    let copied = second
        .images
        .iter()
        .filter(|i| matches!(i.outcome, ImageOutcome::Copied(_)))
        .count();
    assert_eq!(copied, 5, "the others are in the first export");
    let mut names: Vec<String> = read_index_manifests(&second_disk)
        .unwrap()
        .into_iter()
        .filter_map(|e| e.ref_name)
        .collect();
    names.sort();
    let expected: Vec<String> = (0..5).map(|r| format!("repo-{r:02}:2.0")).collect();
    assert_eq!(names, expected);
    let manifests: BTreeSet<String> = new.iter().map(|s| s.digest.clone()).collect();
    let base = base_digests(&bases);
    let new_blobs: BTreeSet<String> = all_blobs(&new).difference(&base).cloned().collect();
    let expected: BTreeSet<String> = manifests.union(&new_blobs).cloned().collect();
    assert_eq!(layout_blobs(&second_disk), expected, "only the new layers");

    let far = TestRegistry::anonymous().await.unwrap();
    let into_far = Destination::parse("docker", &format!("{}/imported", far.host())).unwrap();
    let alone = TestRegistry::anonymous().await.unwrap();
    let into_alone = Destination::parse("docker", &format!("{}/imported", alone.host())).unwrap();
    let dir = |path: &Path| Source::Dir(path.to_owned());

    let incomplete =
        support::sync::sync(&dir(&second_disk), &into_alone, false, &fast_options()).await;
    assert_eq!(
        incomplete.failures.len(),
        1,
        "the second export alone lacks the base layers"
    );
    let pushed_first = support::sync::sync(&dir(&first_disk), &into_far, false, &options()).await;
    let pushed_second = support::sync::sync(&dir(&second_disk), &into_far, false, &options()).await;

    assert!(pushed_first.succeeded(), "{:?}", pushed_first.failures);
    assert!(pushed_second.succeeded(), "{:?}", pushed_second.failures);
    let everything: Vec<Seeded> = fleet.iter().chain(&new).cloned().collect();
    assert_mirrored(&far, "imported", &everything);
    let store = Store::new();
    for image in [&fleet[0], &fleet[8], &new[2]] {
        let name = format!("imported/{}:{}", image.repo, image.tag);
        let pulled = store
            .puller(fast_pull())
            .pull(&reference(&far, &name), &Recorder::default())
            .await
            .unwrap();
        assert_eq!(pulled.images[0].image_id.as_str(), image.image_id, "{name}");
    }
    eprintln!("air-gap sync test: {:?}", started.elapsed());
}

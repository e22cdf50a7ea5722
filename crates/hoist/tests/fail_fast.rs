//! Failures no retry can fix end at once, with the error that says why. Before the one retry
//! policy classified them, a refused connection took 50–100 s to report (issue 11), a missing
//! `ca_file` was retried for 100 s, and a manifest that did not match its digest was fetched
//! five times over 50 s (issue 15). Every test runs with docker's default schedule (5
//! attempts, 5 s × n between them), so a single retry would show as five seconds; the time
//! bounds are loose on purpose.
//!
//! A manifest that does not match its digest on a mirror is not retried there either: the
//! registry itself is asked next, and serves it right.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hoist::progress::Status;
use hoist::pull::PullOptions;
use hoist::push::PushOptions;
use hoist::reference::Reference;
use hoist::registry::{HostConfig, RegistryClient, RegistryConfig, StaticCredentials};
use hoist_testkit::{unused_port, FaultProxy, ImageBuilder, Layer, Rule, TestRegistry};
use support::pull::{anonymous_client, push, reference, test_config, Recorder, Store};
use support::push::{pusher, seed_and_tag};

/// Well under one default backoff step (5 s), well over what the failing requests take.
const AT_ONCE: Duration = Duration::from_secs(2);

fn small_image(seed: &str) -> hoist_testkit::Image {
    ImageBuilder::new()
        .layer(Layer::from_files(&[("f", seed.as_bytes())]).unwrap())
        .build()
        .unwrap()
}

fn client(config: RegistryConfig) -> RegistryClient {
    RegistryClient::new(config, Arc::new(StaticCredentials::none())).unwrap()
}

#[tokio::test]
async fn pull_from_a_closed_port_fails_at_once() {
    let closed = format!("127.0.0.1:{}/app:v1", unused_port().unwrap());
    let store = Store::new();
    let started = Instant::now();
    let err = store
        .puller(PullOptions::default())
        .pull(&Reference::parse(&closed).unwrap(), &Recorder::default())
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took < AT_ONCE, "took {took:?}: {err}");
    assert!(
        format!("{err:?}").to_lowercase().contains("refused"),
        "{err:?}"
    );
}

/// Issue 11: the sentence names the cause in a few words, not reqwest's chain.
#[tokio::test]
async fn a_refused_connection_is_said_in_a_few_words() {
    let closed = format!("127.0.0.1:{}/app:v1", unused_port().unwrap());
    let err = Store::new()
        .puller(PullOptions::default())
        .pull(&Reference::parse(&closed).unwrap(), &Recorder::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("/v2/: connection refused"), "{err}");
    assert!(!err.contains("error sending request"), "{err}");
}

#[tokio::test]
async fn push_to_a_closed_port_fails_at_once_without_retrying() {
    let source = TestRegistry::anonymous().await.unwrap();
    let store = Store::new();
    let target = format!("127.0.0.1:{}/app:v1", unused_port().unwrap());
    seed_and_tag(&store, &source, "app:v1", &small_image("closed"), &target).await;
    let progress = Recorder::default();
    let started = Instant::now();
    let err = pusher(&store, anonymous_client(), PushOptions::default())
        .push(&Reference::parse(&target).unwrap(), &progress)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took < AT_ONCE, "took {took:?}: {err}");
    let retries = progress
        .events()
        .iter()
        .filter(|e| matches!(e.status, Status::RetryingIn { .. }))
        .count();
    assert_eq!(retries, 0, "{:?}", progress.lines());
}

#[tokio::test]
async fn missing_ca_file_fails_at_once_naming_the_file() {
    let registry = TestRegistry::anonymous().await.unwrap();
    push(&registry, "app", "v1", &small_image("ca")).await;
    let missing = PathBuf::from("/nonexistent/hoist-test/ca.crt");
    let mut config = test_config();
    config.registries.insert(
        registry.host(),
        HostConfig {
            ca_file: Some(missing.clone()),
            ..Default::default()
        },
    );
    let store = Store::new();
    let started = Instant::now();
    let err = store
        .puller_with(client(config), PullOptions::default())
        .pull(&reference(&registry, "app:v1"), &Recorder::default())
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took < AT_ONCE, "took {took:?}: {err}");
    assert!(
        format!("{err:?}").contains(&missing.display().to_string()),
        "{err:?}"
    );
}

#[tokio::test]
async fn manifest_not_matching_its_digest_fails_at_once_naming_the_digest() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = small_image("corrupt");
    push(&registry, "app", "v1", &image).await;
    let proxy = FaultProxy::start(&registry).await.unwrap();
    proxy.rule(Rule::get_manifest().corrupt_byte(10));
    let store = Store::new();
    let started = Instant::now();
    let err = store
        .puller(PullOptions::default())
        .pull(
            &Reference::parse(&format!("{}/app:v1", proxy.host())).unwrap(),
            &Recorder::default(),
        )
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took < AT_ONCE, "took {took:?}: {err}");
    let text = err.to_string();
    assert!(text.contains(image.digest()), "{text}");
    assert!(text.contains("does not match its digest"), "{text}");
    let gets = proxy
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/manifests/"))
        .count();
    assert_eq!(gets, 1, "fetched once: {:?}", proxy.requests());
    assert!(store.blobs().is_empty(), "nothing stored");
}

#[tokio::test]
async fn manifest_not_matching_its_digest_on_a_mirror_comes_from_the_registry() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = small_image("mirror-corrupt");
    push(&registry, "app", "v1", &image).await;
    let mirror = FaultProxy::start(&registry).await.unwrap();
    mirror.rule(Rule::get_manifest().corrupt_byte(10));
    let mut config = test_config();
    config.registries.insert(
        registry.host(),
        HostConfig {
            mirrors: vec![mirror.url()],
            ..Default::default()
        },
    );
    let store = Store::new();
    let started = Instant::now();
    store
        .puller_with(client(config), PullOptions::default())
        .pull(&reference(&registry, "app:v1"), &Recorder::default())
        .await
        .unwrap();
    assert!(started.elapsed() < AT_ONCE);
    let from_mirror = mirror
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/manifests/"))
        .count();
    assert_eq!(from_mirror, 1, "{:?}", mirror.requests());
    // The proxy forwards what it is asked, so the registry saw the mirror's GET and then
    // hoist's own.
    let at_registry = registry
        .access_log()
        .iter()
        .filter(|e| e.method == "GET" && e.path.contains("/manifests/"))
        .count();
    assert_eq!(at_registry, 2, "{:?}", registry.access_log());
}

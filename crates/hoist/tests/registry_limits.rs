//! Hostile servers sending endless or dripping bodies: every document read whole (manifest,
//! tag list, token answer, error answer) stops at its cap with a clear error instead of
//! filling memory, and within its deadline instead of holding the operation. The faults come
//! from the testkit's fault proxy ([`Rule::endless_body`], [`Rule::throttle`],
//! [`Rule::delay`]).

mod support;

use std::time::{Duration, Instant};

use hoist::registry::body::{Document, MAX_LISTING_PAGE, MAX_MANIFEST_SIZE, MAX_TOKEN_ANSWER};
use hoist::registry::{RegistryConfig, RegistryError};
use hoist_testkit::{http_client, FaultProxy, Rule, TestRegistry, TokenAuthConfig, TokenServer};
use support::registry::{basic, client, image, seed, test_config, Push};

/// However the kernel buffers, the proxy cannot get much further ahead of a client that
/// stopped reading at a cap than this.
const SLACK: u64 = 32 << 20;

fn assert_too_large(err: &RegistryError, expected: Document, limit: usize) {
    let RegistryError::BodyTooLarge {
        document,
        limit: said,
        ..
    } = err
    else {
        panic!("expected BodyTooLarge, got {err:?}")
    };
    assert_eq!((*document, *said), (expected, limit), "{err}");
    assert!(err.to_string().contains("bytes limit"), "{err}");
    assert!(!err.is_retryable(), "{err:?}");
}

/// Bytes the proxy sent in answers to requests matching `rule_label`.
fn bytes_sent(proxy: &FaultProxy, rule_label: &str) -> u64 {
    proxy
        .requests()
        .iter()
        .filter(|r| r.rule.as_deref() == Some(rule_label))
        .map(|r| r.response_bytes)
        .sum()
}

async fn proxied_registry_with_image() -> (TestRegistry, FaultProxy) {
    let reg = TestRegistry::anonymous().await.unwrap();
    seed(
        &image("limits", 64),
        &reg,
        "hostile/app",
        "v1",
        Push::default(),
    )
    .await;
    let proxy = FaultProxy::start(&reg).await.unwrap();
    (reg, proxy)
}

#[tokio::test]
async fn endless_manifest_stops_at_the_manifest_cap() {
    let (_reg, proxy) = proxied_registry_with_image().await;
    proxy.rule(
        Rule::get_manifest()
            .endless_body()
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .label("endless"),
    );
    let started = Instant::now();
    let err = client(test_config(), &proxy.host(), None)
        .repository(&proxy.host(), "hostile/app")
        .get_manifest("v1")
        .await
        .unwrap_err();
    assert_too_large(&err, Document::Manifest, MAX_MANIFEST_SIZE);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(bytes_sent(&proxy, "endless") < MAX_MANIFEST_SIZE as u64 + SLACK);
}

#[tokio::test]
async fn endless_tag_list_stops_at_the_listing_cap() {
    let (_reg, proxy) = proxied_registry_with_image().await;
    proxy.rule(
        Rule::matching("GET /v2/**/tags/list")
            .endless_body()
            .header("Content-Type", "application/json")
            .label("endless"),
    );
    let err = client(test_config(), &proxy.host(), None)
        .repository(&proxy.host(), "hostile/app")
        .tags(None)
        .await
        .unwrap_err();
    assert_too_large(&err, Document::Listing, MAX_LISTING_PAGE);
    assert!(bytes_sent(&proxy, "endless") < MAX_LISTING_PAGE as u64 + SLACK);
}

#[tokio::test]
async fn endless_error_answer_keeps_the_status_and_stops_reading() {
    let (_reg, proxy) = proxied_registry_with_image().await;
    proxy.rule(
        Rule::get_manifest()
            .status(404)
            .endless_body()
            .label("endless"),
    );
    let err = client(test_config(), &proxy.host(), None)
        .repository(&proxy.host(), "hostile/app")
        .get_manifest("v1")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "{err:?}");
    assert!(err.is_not_found(), "{err:?}");
    assert!(bytes_sent(&proxy, "endless") < SLACK);
}

#[tokio::test]
async fn endless_token_answer_stops_at_the_token_cap() {
    let tokens = TokenServer::builder()
        .user("dev", "d3v")
        .grant("dev", "team/*", &["pull"])
        .start()
        .unwrap();
    let realm_proxy = FaultProxy::start_for_url(&tokens.url(), http_client().unwrap())
        .await
        .unwrap();
    realm_proxy.rule(Rule::matching("GET /token").endless_body().label("endless"));
    let reg = TestRegistry::builder()
        .token_auth(TokenAuthConfig {
            realm: format!("{}/token", realm_proxy.url()),
            ..tokens.auth_config()
        })
        .start()
        .await
        .unwrap();
    let err = client(test_config(), &reg.host(), Some(basic("dev", "d3v")))
        .repository(&reg.host(), "team/a")
        .head_manifest("v1")
        .await
        .unwrap_err();
    assert_too_large(&err, Document::Token, MAX_TOKEN_ANSWER);
    assert!(bytes_sent(&realm_proxy, "endless") < MAX_TOKEN_ANSWER as u64 + SLACK);
}

/// `get_manifest("v1")` through `proxy` by a client whose small documents must arrive
/// within one second; fails within ten.
async fn impatient_get_manifest(proxy: &FaultProxy) -> RegistryError {
    let config = RegistryConfig {
        document_timeout: Duration::from_secs(1),
        ..test_config()
    };
    let started = Instant::now();
    let err = client(config, &proxy.host(), None)
        .repository(&proxy.host(), "hostile/app")
        .get_manifest("v1")
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "{err}");
    err
}

#[tokio::test]
async fn manifest_dripped_byte_by_byte_misses_its_deadline() {
    let (_reg, proxy) = proxied_registry_with_image().await;
    // About 400 bytes at 20 bytes a second: 20 s, every read well under the read timeout.
    proxy.rule(Rule::get_manifest().throttle(20));
    let err = impatient_get_manifest(&proxy).await;
    let RegistryError::DeadlineExceeded { document, .. } = &err else {
        panic!("expected DeadlineExceeded, got {err:?}")
    };
    assert_eq!(*document, Document::Manifest);
    assert!(err.to_string().contains("document_timeout"), "{err}");
    assert!(err.is_retryable(), "a slow server may be faster next time");
}

#[tokio::test]
async fn manifest_whose_headers_stall_misses_its_deadline() {
    let (_reg, proxy) = proxied_registry_with_image().await;
    proxy.rule(Rule::get_manifest().delay(Duration::from_secs(30)));
    let err = impatient_get_manifest(&proxy).await;
    assert!(err.is_retryable(), "{err:?}");
}

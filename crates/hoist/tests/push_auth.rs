//! Push to a registry behind a token server: a user with pull access only gets one clear
//! error and the registry gets no manifest; a user with push access records blob sources
//! signed with an HMAC of the credentials (docker's `V2MetadataService.TagAndAdd`).

mod support;

use hoist::credentials::Credentials;
use hoist::digest::Digest;
use hoist::push::{hmac_matches, HmacKey, PushError};
use hoist::reference::{Reference, Repository};
use hoist_testkit::{Image, TestRegistry, TokenServer};
use support::pull::{client_with, Recorder, Store};
use support::push::{fast_push_options, pusher, seed_and_tag};

async fn token_registry() -> (TokenServer, TestRegistry) {
    let tokens = TokenServer::builder()
        .user("dev", "d3v")
        .grant("dev", "team/*", &["pull"])
        .user("ci", "c1")
        .grant("ci", "team/*", &["pull", "push"])
        .start()
        .unwrap();
    let registry = TestRegistry::builder()
        .token_auth(tokens.auth_config())
        .start()
        .await
        .unwrap();
    (tokens, registry)
}

#[tokio::test]
async fn denied_push_fails_with_one_clear_error_and_no_manifest() {
    let source = TestRegistry::anonymous().await.unwrap();
    let (_tokens, target) = token_registry().await;
    let store = Store::new();
    let image = Image::from_files(&[("a.txt", b"denied")]).unwrap();
    let dest = format!("{}/team/app:v1", target.host());
    seed_and_tag(&store, &source, "base/app:1", &image, &dest).await;

    let err = pusher(
        &store,
        client_with(&target.host(), "dev", "d3v"),
        fast_push_options(),
    )
    .push(&Reference::parse(&dest).unwrap(), &Recorder::default())
    .await
    .unwrap_err();

    assert!(matches!(err, PushError::Denied { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!(
            "push access denied for {}/team/app",
            target.host()
        )),
        "{err}"
    );
    assert_eq!(target.count_requests("PUT", "/v2/team/app/manifests/"), 0);
    // Not retried: a refusal is final (docker's DoNotRetry for UNAUTHORIZED / DENIED). One
    // attempt is the POST and the authorizer's single retry with a fresh token.
    assert!(target.count_requests("POST", "/v2/team/app/blobs/uploads/") <= 2);
}

#[tokio::test]
async fn push_with_credentials_records_sources_signed_with_them() {
    let source = TestRegistry::anonymous().await.unwrap();
    let (_tokens, target) = token_registry().await;
    let store = Store::new();
    let image = Image::from_files(&[("a.txt", b"signed")]).unwrap();
    let dest = format!("{}/team/app:v1", target.host());
    seed_and_tag(&store, &source, "base/app:1", &image, &dest).await;

    pusher(
        &store,
        client_with(&target.host(), "ci", "c1"),
        fast_push_options(),
    )
    .push(&Reference::parse(&dest).unwrap(), &Recorder::default())
    .await
    .unwrap();

    let key = HmacKey::for_credentials(Some(&Credentials::Basic {
        username: "ci".into(),
        password: "c1".into(),
    }));
    let repo = Repository::parse(&format!("{}/team/app", target.host())).unwrap();
    let diff_id = Digest::parse(&image.diff_ids[0]).unwrap();
    let sources = store.metadata().blob_sources(&diff_id).unwrap();
    let pushed = sources
        .iter()
        .find(|r| r.source.repository == repo)
        .expect("a source in the target repository");
    assert!(pushed.source.hmac.is_some());
    assert!(hmac_matches(&pushed.source, key.as_ref()));
}

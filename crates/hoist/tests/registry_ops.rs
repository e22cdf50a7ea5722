//! Registry operations against a real anonymous `docker-registry`: ping, manifests, blobs
//! (with Range), tags and catalog pagination, uploads (monolithic, chunked, mount), v1-only
//! refusal, User-Agent.

mod support;

use bytes::Bytes;
use hoist::digest::Digest;
use hoist::registry::{ErrorCode, MountResult, Purpose, RegistryError};
use hoist_testkit::{TestRegistry, V1OnlyServer};
use support::registry::{anonymous_client, collect, image, seed, Push};

#[tokio::test]
async fn ping_admits_a_v2_registry_over_plain_http_on_loopback() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let ep = anonymous_client().ping(&reg.host()).await.unwrap();
    assert_eq!(ep.base.as_str(), format!("http://{}/", reg.host()));
    assert!(ep.challenges.is_empty());
}

#[tokio::test]
async fn v1_only_registry_is_refused_clearly() {
    let v1 = V1OnlyServer::start().unwrap();
    let err = anonymous_client().ping(&v1.host()).await.unwrap_err();
    assert!(
        matches!(err, RegistryError::NotV2 { status: 404, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("v1-only registries are not supported"),
        "{err}"
    );
}

#[tokio::test]
async fn head_and_get_manifest_by_tag_and_by_digest() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let img = image("ops-manifest", 1000);
    seed(&img, &reg, "team/app", "v1", Push::default()).await;
    let repo = anonymous_client().repository(&reg.host(), "team/app");

    let head = repo.head_manifest("v1").await.unwrap();
    assert_eq!(head.digest.as_ref(), Some(&img.manifest_digest));
    assert_eq!(
        head.media_type,
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(head.size, Some(img.manifest.len() as u64));

    let by_tag = repo.get_manifest("v1").await.unwrap();
    assert_eq!(by_tag.bytes.as_ref(), img.manifest.as_slice());
    assert_eq!(by_tag.digest, img.manifest_digest);
    let by_digest = repo
        .get_manifest(img.manifest_digest.as_str())
        .await
        .unwrap();
    assert_eq!(by_digest.bytes, by_tag.bytes);
}

#[tokio::test]
async fn missing_manifest_is_manifest_unknown_and_translated() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let img = image("ops-missing", 10);
    seed(&img, &reg, "x", "v1", Push::default()).await;
    let repo = anonymous_client().repository(&reg.host(), "x");
    let err = repo.get_manifest("nope").await.unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::ManifestUnknown));
    assert!(!err.is_retryable());
    let head_err = repo.head_manifest("nope").await.unwrap_err();
    assert_eq!(
        head_err.code(),
        Some(&ErrorCode::ManifestUnknown),
        "a bodiless HEAD 404 is MANIFEST_UNKNOWN"
    );
    let name = format!("{}/x", reg.host());
    let reference = hoist::reference::Reference::parse(&format!("{name}:nope")).unwrap();
    let msg = hoist::error::translate_pull_error(err, &reference).to_string();
    assert!(
        msg.starts_with(&format!(
            "manifest for {name}:nope not found: manifest unknown"
        )),
        "{msg}"
    );
}

#[tokio::test]
async fn tags_of_unknown_repository_is_name_unknown() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let err = anonymous_client()
        .repository(&reg.host(), "never/pushed")
        .tags(None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::NameUnknown), "{err}");
    let msg = hoist::error::translate_pull_error_named(err, "never/pushed", "never/pushed:latest")
        .to_string();
    assert!(
        msg.starts_with("repository never/pushed not found: name unknown"),
        "{msg}"
    );
}

#[tokio::test]
async fn get_blob_whole_and_from_an_offset() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let img = image("ops-blob", 100_000);
    seed(&img, &reg, "blobs", "v1", Push::default()).await;
    let repo = anonymous_client().repository(&reg.host(), "blobs");

    let whole = repo.get_blob(&img.layer_digest, 0).await.unwrap();
    assert!(!whole.is_partial());
    assert_eq!(collect(whole).await, img.layer);

    let rest = repo.get_blob(&img.layer_digest, 60_000).await.unwrap();
    assert!(rest.is_partial(), "registry answers 206 to Range");
    assert_eq!(rest.content_length(), Some(40_000));
    assert_eq!(collect(rest).await, &img.layer[60_000..]);
}

#[tokio::test]
async fn stat_blob_reports_size_or_absence() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let img = image("ops-stat", 1234);
    seed(&img, &reg, "stat", "v1", Push::default()).await;
    let repo = anonymous_client().repository(&reg.host(), "stat");
    assert_eq!(
        repo.stat_blob(&img.layer_digest, Purpose::Pull)
            .await
            .unwrap(),
        Some(1234)
    );
    let absent = Digest::sha256_of(b"absent");
    assert_eq!(repo.stat_blob(&absent, Purpose::Push).await.unwrap(), None);
    let err = repo.get_blob(&absent, 0).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

/// Distribution 2.8 ignores `?n=` on tags/list (tag pagination came in 3.0), so this checks
/// the list is complete with `n` sent; `Link` following is exercised by the catalog test and
/// the `Link` parser's unit tests.
#[tokio::test]
async fn tags_list_returns_every_tag() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let img = image("ops-tags", 10);
    seed(&img, &reg, "tagged", "a", Push::default()).await;
    let repo = anonymous_client().repository(&reg.host(), "tagged");
    for tag in ["b", "c", "d", "e"] {
        repo.put_manifest(
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            Bytes::from(img.manifest.clone()),
        )
        .await
        .unwrap();
    }
    let mut tags = repo.tags(Some(2)).await.unwrap();
    tags.sort();
    assert_eq!(tags, ["a", "b", "c", "d", "e"]);
    assert!(reg
        .access_log()
        .iter()
        .any(|e| e.path.starts_with("/v2/tagged/tags/list?n=2")));
}

#[tokio::test]
async fn catalog_follows_link_pagination() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let img = image("ops-catalog", 10);
    for repo in ["r1", "r2", "r3"] {
        seed(&img, &reg, repo, "v1", Push::default()).await;
    }
    let client = anonymous_client();
    assert_eq!(
        client.catalog(&reg.host(), Some(2)).await.unwrap(),
        ["r1", "r2", "r3"]
    );
    assert_eq!(reg.count_requests("GET", "/v2/_catalog"), 2);
}

#[tokio::test]
async fn monolithic_upload_round_trips() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let repo = anonymous_client().repository(&reg.host(), "up/mono");
    let data = Bytes::from(vec![7u8; 300_000]);
    let digest = Digest::sha256_of(&data);
    repo.upload_blob(&digest, data.clone()).await.unwrap();
    assert_eq!(
        collect(repo.get_blob(&digest, 0).await.unwrap()).await,
        data
    );
}

#[tokio::test]
async fn chunked_upload_round_trips_through_changing_locations() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let repo = anonymous_client().repository(&reg.host(), "up/chunked");
    let data: Vec<u8> = (0..250_000u32).map(|i| (i % 251) as u8).collect();
    let digest = Digest::sha256_of(&data);
    let mut upload = repo.start_upload().await.unwrap();
    let first_location = upload.location().clone();
    for chunk in data.chunks(100_000) {
        upload
            .write_chunk(Bytes::copy_from_slice(chunk))
            .await
            .unwrap();
    }
    assert_eq!(upload.offset(), data.len() as u64);
    assert_ne!(
        upload.location(),
        &first_location,
        "registry's Location (with _state) is followed"
    );
    upload.finish(&digest, None).await.unwrap();
    assert_eq!(
        collect(repo.get_blob(&digest, 0).await.unwrap()).await,
        data
    );
    assert_eq!(
        reg.count_requests("PATCH", "/v2/up/chunked/blobs/uploads/"),
        3
    );
}

#[tokio::test]
async fn streamed_patch_then_put_round_trips() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let repo = anonymous_client().repository(&reg.host(), "up/stream");
    let data = Bytes::from(vec![3u8; 70_000]);
    let digest = Digest::sha256_of(&data);
    let mut upload = repo.start_upload().await.unwrap();
    upload
        .write_stream(reqwest::Body::from(data.clone()), Some(data.len() as u64))
        .await
        .unwrap();
    upload.finish(&digest, None).await.unwrap();
    assert_eq!(
        repo.stat_blob(&digest, Purpose::Push).await.unwrap(),
        Some(70_000)
    );
}

#[tokio::test]
async fn cross_repository_mount_links_the_blob_without_upload() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let client = anonymous_client();
    let data = Bytes::from_static(b"mount me");
    let digest = Digest::sha256_of(&data);
    client
        .repository(&reg.host(), "src/repo")
        .upload_blob(&digest, data.clone())
        .await
        .unwrap();
    let dst = client.repository(&reg.host(), "dst/repo");
    assert!(matches!(
        dst.mount_blob(&digest, "src/repo").await.unwrap(),
        MountResult::Mounted
    ));
    assert_eq!(collect(dst.get_blob(&digest, 0).await.unwrap()).await, data);
}

#[tokio::test]
async fn mount_of_unknown_blob_opens_an_upload_session() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let dst = anonymous_client().repository(&reg.host(), "dst/other");
    let data = Bytes::from_static(b"not there yet");
    let digest = Digest::sha256_of(&data);
    let MountResult::Upload(upload) = dst.mount_blob(&digest, "src/none").await.unwrap() else {
        panic!("registry cannot mount an unknown blob");
    };
    upload.finish(&digest, Some(data.clone())).await.unwrap();
    assert_eq!(collect(dst.get_blob(&digest, 0).await.unwrap()).await, data);
}

#[tokio::test]
async fn wrong_digest_on_upload_is_refused() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let repo = anonymous_client().repository(&reg.host(), "up/bad");
    let err = repo
        .upload_blob(&Digest::sha256_of(b"other"), Bytes::from_static(b"data"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::DigestInvalid), "{err}");
}

#[tokio::test]
async fn requests_carry_hoist_user_agent() {
    let reg = TestRegistry::anonymous().await.unwrap();
    anonymous_client().ping(&reg.host()).await.unwrap();
    let log = reg.access_log();
    assert!(!log.is_empty());
    assert!(
        log.iter().all(|e| e.user_agent.starts_with("hoist/")),
        "{log:?}"
    );
}

/// The registry itself refuses manifests above 4 MiB; the answer decodes to a typed,
/// non-retryable `MANIFEST_INVALID` with its detail kept. (hoist's own 4 MiB cap on GET cannot
/// be reached through a real registry for that reason.)
#[tokio::test]
async fn oversized_manifest_put_is_manifest_invalid() {
    let reg = TestRegistry::anonymous().await.unwrap();
    let img = image("ops-huge", 10);
    seed(&img, &reg, "huge", "small", Push::default()).await;
    let mut manifest: serde_json::Value = serde_json::from_slice(&img.manifest).unwrap();
    manifest["annotations"] = serde_json::json!({ "padding": "x".repeat(5 * 1024 * 1024) });
    let bytes = Bytes::from(serde_json::to_vec(&manifest).unwrap());
    let repo = anonymous_client().repository(&reg.host(), "huge");
    let err = repo
        .put_manifest("big", "application/vnd.oci.image.manifest.v1+json", bytes)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::ManifestInvalid), "{err}");
    assert!(
        err.entry()
            .unwrap()
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("too large"),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

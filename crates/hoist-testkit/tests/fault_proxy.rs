//! The fault proxy against a real registry: each rule demonstrably happens, and pushes through
//! the proxy (monolithic, chunked, token auth) reach the registry intact.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use hoist_testkit::{
    http_client, sha256_digest, Blob, FaultProxy, Image, ImageBuilder, ImagePusher, Layer, Outcome,
    Rule, TestRegistry, TokenServer,
};

const REPO: &str = "team/app";
const MIB: u64 = 1 << 20;

/// A registry holding one image with a ~2 MiB random layer, and a proxy in front of it.
async fn seeded() -> (TestRegistry, FaultProxy, Image) {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = ImageBuilder::new()
        .layer(Layer::random(2 << 20).unwrap())
        .build()
        .unwrap();
    ImagePusher::new(&registry)
        .push_image(REPO, "v1", &image)
        .await
        .unwrap();
    let proxy = FaultProxy::start(&registry).await.unwrap();
    (registry, proxy, image)
}

fn layer(image: &Image) -> &Blob {
    &image.layers[0]
}

fn blob_url(proxy: &FaultProxy, blob: &Blob) -> String {
    format!("{}/v2/{REPO}/blobs/{}", proxy.url(), blob.digest)
}

/// Reads a response body until it ends or fails: (bytes, whether it failed).
async fn read_body(mut resp: reqwest::Response) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => out.extend_from_slice(&c),
            Ok(None) => return (out, false),
            Err(_) => return (out, true),
        }
    }
}

#[tokio::test]
async fn reset_after_cuts_the_body_at_n_bytes_and_a_range_request_gets_the_rest() {
    let (_registry, proxy, image) = seeded().await;
    let blob = layer(&image);
    assert!(blob.size > 2 * MIB - 1024, "layer of {} bytes", blob.size);
    proxy.rule(Rule::get_blob().reset_after(MIB).times(1));
    let client = http_client().unwrap();

    let first = client.get(blob_url(&proxy, blob)).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.content_length(), Some(blob.size));
    let (head, failed) = read_body(first).await;
    assert!(failed, "the body must end in an error");
    assert_eq!(head.len() as u64, MIB);

    let rest = client
        .get(blob_url(&proxy, blob))
        .header("Range", format!("bytes={MIB}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 206);
    let (tail, failed) = read_body(rest).await;
    assert!(!failed);
    let whole = [head, tail].concat();
    assert_eq!(sha256_digest(&whole), blob.digest);

    let gets: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.is_blob_get())
        .collect();
    assert_eq!(gets.len(), 2);
    assert_eq!(gets[0].outcome, Outcome::Reset);
    assert_eq!(gets[0].response_bytes, MIB);
    assert!(gets[0]
        .rule
        .as_deref()
        .unwrap()
        .contains("reset_after(1048576)"));
    assert_eq!(gets[1].range(), Some("bytes=1048576-"));
    assert_eq!(gets[1].rule, None);
    assert_eq!(gets[1].status, Some(206));
}

/// Sends a raw `GET` with `Connection: close` and reads until EOF or error: (bytes read
/// including the head, the error kind if reading failed).
fn raw_get(host: &str, path: &str) -> (Vec<u8>, Option<std::io::ErrorKind>) {
    raw_get_after(host, path, Duration::ZERO)
}

/// [`raw_get`], but waits `pause` before reading anything (a slow reader).
fn raw_get_after(host: &str, path: &str, pause: Duration) -> (Vec<u8>, Option<std::io::ErrorKind>) {
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    std::thread::sleep(pause);
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (out, Some(e.kind())),
        }
    }
}

fn body_after_head(raw: &[u8]) -> &[u8] {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    &raw[end + 4..]
}

#[tokio::test]
async fn reset_is_a_tcp_rst_and_truncation_a_clean_close_both_with_the_full_length() {
    let (_registry, proxy, image) = seeded().await;
    let blob = layer(&image).clone();
    proxy.rule(Rule::get_blob().reset_after(1000).times(1));
    proxy.rule(Rule::get_blob().truncate_after(2000).times(1));
    let host = proxy.host();
    let path = format!("/v2/{REPO}/blobs/{}", blob.digest);
    let (reset, truncated) =
        tokio::task::spawn_blocking(move || (raw_get(&host, &path), raw_get(&host, &path)))
            .await
            .unwrap();

    let length = format!("content-length: {}", blob.size);
    for (raw, _) in [&reset, &truncated] {
        let head = String::from_utf8_lossy(&raw[..raw.len() - body_after_head(raw).len()]);
        assert!(head.to_ascii_lowercase().contains(&length), "{head}");
    }
    assert_eq!(reset.1, Some(std::io::ErrorKind::ConnectionReset));
    assert_eq!(body_after_head(&reset.0), &blob.bytes[..1000]);
    assert_eq!(truncated.1, None, "truncation ends in a clean EOF");
    assert_eq!(body_after_head(&truncated.0), &blob.bytes[..2000]);
    let outcomes: Vec<_> = proxy.requests().into_iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Reset, Outcome::Truncated]);
}

#[tokio::test]
async fn reset_waits_until_a_slow_reader_has_every_allowed_byte() {
    // An RST discards data still in the sender's queue: the proxy must not cut before the
    // client's kernel has the N bytes, even when the client is not reading yet.
    let (_registry, proxy, image) = seeded().await;
    let blob = layer(&image).clone();
    proxy.rule(Rule::get_blob().reset_after(2 * MIB - 4096));
    let host = proxy.host();
    let path = format!("/v2/{REPO}/blobs/{}", blob.digest);
    let (raw, error) = tokio::task::spawn_blocking(move || {
        raw_get_after(&host, &path, Duration::from_millis(500))
    })
    .await
    .unwrap();
    assert_eq!(error, Some(std::io::ErrorKind::ConnectionReset));
    let body = body_after_head(&raw);
    assert_eq!(body.len() as u64, 2 * MIB - 4096);
    assert!(
        body == &blob.bytes[..body.len()],
        "the bytes sent are the blob's"
    );
}

#[tokio::test]
async fn corrupt_byte_flips_exactly_the_byte_at_the_offset() {
    let (_registry, proxy, image) = seeded().await;
    let blob = layer(&image);
    let offset = 1_500_000;
    proxy.rule(Rule::get_blob().corrupt_byte(offset));
    let resp = http_client()
        .unwrap()
        .get(blob_url(&proxy, blob))
        .send()
        .await
        .unwrap();
    let (body, failed) = read_body(resp).await;
    assert!(!failed);
    assert_eq!(body.len(), blob.bytes.len());
    let differing: Vec<usize> = (0..body.len())
        .filter(|&i| body[i] != blob.bytes[i])
        .collect();
    assert_eq!(differing, [offset as usize]);
    assert_ne!(sha256_digest(&body), blob.digest);
}

#[tokio::test]
async fn status_429_carries_retry_after_and_a_registry_error_then_times_1_lets_the_next_pass() {
    let (registry, proxy, image) = seeded().await;
    let blob = layer(&image);
    registry.clear_log().unwrap();
    proxy.rule(
        Rule::get_blob()
            .status(429)
            .retry_after(1)
            .error("TOOMANYREQUESTS", "slow down")
            .times(1),
    );
    let client = http_client().unwrap();
    let limited = client.get(blob_url(&proxy, blob)).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    let err: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(err["errors"][0]["code"], "TOOMANYREQUESTS");
    assert_eq!(registry.count_requests("GET", "/v2/team/app/blobs/"), 0);

    let passed = client.get(blob_url(&proxy, blob)).send().await.unwrap();
    assert_eq!(passed.status(), 200);
    assert_eq!(
        passed.bytes().await.unwrap().as_ref(),
        blob.bytes.as_slice()
    );
    assert_eq!(registry.count_requests("GET", "/v2/team/app/blobs/"), 1);
}

#[tokio::test]
async fn status_5xx_answers_every_matching_request_without_a_times_limit() {
    let (_registry, proxy, image) = seeded().await;
    proxy.rule(Rule::head_manifest().status(502));
    proxy.rule(
        Rule::get_manifest()
            .status(503)
            .error("UNAVAILABLE", "down"),
    );
    let client = http_client().unwrap();
    let url = format!("{}/v2/{REPO}/manifests/v1", proxy.url());
    for _ in 0..2 {
        assert_eq!(client.head(&url).send().await.unwrap().status(), 502);
        assert_eq!(client.get(&url).send().await.unwrap().status(), 503);
    }
    proxy.clear_rules();
    let ok = client
        .get(&url)
        .header("Accept", image.manifest.media_type.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["docker-content-digest"], image.digest());
}

#[tokio::test]
async fn ignore_range_makes_the_registry_answer_200_with_the_whole_body() {
    let (_registry, proxy, image) = seeded().await;
    let blob = layer(&image);
    proxy.rule(Rule::get_blob().ignore_range());
    let resp = http_client()
        .unwrap()
        .get(blob_url(&proxy, blob))
        .header("Range", "bytes=100-")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), blob.bytes.as_slice());
    assert_eq!(proxy.requests()[0].range(), Some("bytes=100-"));
}

#[tokio::test]
async fn delay_holds_the_headers_and_throttle_paces_the_body() {
    let (_registry, proxy, image) = seeded().await;
    let blob = layer(&image);
    proxy.rule(Rule::head_blob().delay(Duration::from_millis(300)));
    proxy.rule(Rule::get_blob().throttle(8 * MIB));
    let client = http_client().unwrap();
    let start = Instant::now();
    let head = client.head(blob_url(&proxy, blob)).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert!(start.elapsed() >= Duration::from_millis(300));

    let start = Instant::now();
    let body = client.get(blob_url(&proxy, blob)).send().await.unwrap();
    assert_eq!(body.bytes().await.unwrap().as_ref(), blob.bytes.as_slice());
    // ~2 MiB at 8 MiB/s: at least a quarter second (a little slack for rounding).
    assert!(
        start.elapsed() >= Duration::from_millis(230),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn refused_connection_is_closed_at_once_and_the_next_one_is_served() {
    let (_registry, proxy, _image) = seeded().await;
    proxy.rule(Rule::any().refuse_connections().times(1));
    let client = http_client().unwrap();
    let url = format!("{}/v2/", proxy.url());
    assert!(client.get(&url).send().await.is_err());
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    assert_eq!(proxy.refused_connections(), 1);
    assert_eq!(
        proxy.requests().len(),
        1,
        "a refused connection carries no request"
    );
}

#[tokio::test]
async fn upload_reset_mid_body_fails_the_push_and_a_retried_push_passes() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let proxy = FaultProxy::start(&registry).await.unwrap();
    let image = ImageBuilder::new()
        .layer(Layer::random(1 << 20).unwrap())
        .build()
        .unwrap();
    proxy.rule(Rule::put_upload().reset_request_after(256 * 1024).times(1));
    let pusher = ImagePusher::for_url(http_client().unwrap(), &proxy.url());
    assert!(pusher.push_image(REPO, "v1", &image).await.is_err());
    let cut: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.outcome == Outcome::RequestReset)
        .collect();
    assert_eq!(cut.len(), 1);
    assert_eq!(cut[0].method, "PUT");
    assert_eq!(cut[0].request_bytes, 256 * 1024);
    assert_eq!(cut[0].status, None);

    assert_eq!(
        pusher.push_image(REPO, "v1", &image).await.unwrap(),
        image.digest()
    );
    let direct = registry
        .client()
        .get(format!(
            "{}/v2/{REPO}/blobs/{}",
            registry.url(),
            image.layers[0].digest
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        direct.bytes().await.unwrap().as_ref(),
        image.layers[0].bytes.as_slice()
    );
}

#[tokio::test]
async fn monolithic_push_through_the_proxy_stays_on_the_proxy_and_every_request_is_seen() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let proxy = FaultProxy::start(&registry).await.unwrap();
    registry.clear_log().unwrap();
    let image = Image::from_files(&[("hello.txt", b"hello\n")]).unwrap();
    let pusher = ImagePusher::for_url(http_client().unwrap(), &proxy.url());
    assert_eq!(
        pusher.push_image(REPO, "v1", &image).await.unwrap(),
        image.digest()
    );

    let seen = proxy.requests();
    for post in seen.iter().filter(|r| r.method == "POST") {
        let location = post.response_header("location").unwrap();
        assert!(
            location.starts_with(&proxy.url()) || location.starts_with('/'),
            "{location}"
        );
    }
    let methods: Vec<&str> = seen.iter().map(|r| r.method.as_str()).collect();
    // Two blobs (HEAD, POST, PUT each), then the manifest.
    assert_eq!(
        methods,
        ["HEAD", "POST", "PUT", "HEAD", "POST", "PUT", "PUT"]
    );
    assert_eq!(registry.access_log().len(), seen.len());
}

#[tokio::test]
async fn chunked_push_with_a_streamed_patch_goes_through_the_proxy_intact() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let proxy = FaultProxy::start(&registry).await.unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let digest = sha256_digest(&data);
    let client = http_client().unwrap();
    let absolute = |l: &str| {
        if l.starts_with('/') {
            format!("{}{l}", proxy.url())
        } else {
            l.to_string()
        }
    };
    let post = client
        .post(format!("{}/v2/{REPO}/blobs/uploads/", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 202);
    let location = absolute(post.headers()["location"].to_str().unwrap());
    assert!(location.starts_with(&proxy.url()), "{location}");

    // First chunk with a Content-Length, second streamed (Transfer-Encoding: chunked).
    let patch = client
        .patch(&location)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", "0-99999")
        .body(data[..100_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 202);
    assert_eq!(patch.headers()["range"], "0-99999");
    let location = absolute(patch.headers()["location"].to_str().unwrap());
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = data[100_000..]
        .chunks(30_000)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let stream = futures_util::stream::iter(pieces);
    let patch = client
        .patch(&location)
        .header("Content-Type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 202);
    assert_eq!(patch.headers()["range"], "0-299999");
    let location = absolute(patch.headers()["location"].to_str().unwrap());
    let put = client
        .put(format!("{location}&digest={digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);

    let got = client
        .get(format!("{}/v2/{REPO}/blobs/{digest}", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), data.as_slice());
    let seen = proxy.requests();
    let methods: Vec<&str> = seen.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["POST", "PATCH", "PATCH", "PUT", "GET"]);
    assert_eq!(seen[2].header("transfer-encoding"), Some("chunked"));
    assert_eq!(seen[1].request_bytes + seen[2].request_bytes, 300_000);
}

#[tokio::test]
async fn token_auth_challenges_and_tokens_pass_through_untouched() {
    let tokens = TokenServer::builder()
        .admin("admin", "adm1n")
        .start()
        .unwrap();
    let registry = TestRegistry::builder()
        .token_auth(tokens.auth_config())
        .start()
        .await
        .unwrap();
    let proxy = FaultProxy::start(&registry).await.unwrap();
    let image = Image::from_files(&[("a", b"a\n")]).unwrap();
    let pusher =
        ImagePusher::for_url(http_client().unwrap(), &proxy.url()).credentials("admin", "adm1n");
    assert_eq!(
        pusher.push_image(REPO, "v1", &image).await.unwrap(),
        image.digest()
    );

    let seen = proxy.requests();
    let challenge = seen
        .iter()
        .find(|r| r.status == Some(401))
        .and_then(|r| r.response_header("www-authenticate"))
        .unwrap();
    assert!(
        challenge.contains(&tokens.auth_config().realm),
        "{challenge}"
    );
    assert!(seen.iter().filter(|r| r.status != Some(401)).all(|r| r
        .header("authorization")
        .unwrap_or("")
        .starts_with("Bearer ")));
}

#[tokio::test]
async fn status_500_on_the_upload_put_fails_the_push_and_a_retried_push_passes() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let proxy = FaultProxy::start(&registry).await.unwrap();
    let image = ImageBuilder::new()
        .layer(Layer::random(300_000).unwrap())
        .build()
        .unwrap();
    proxy.rule(
        Rule::put_upload()
            .status(500)
            .error("UNKNOWN", "disk on fire")
            .times(1),
    );
    let pusher = ImagePusher::for_url(http_client().unwrap(), &proxy.url());
    assert!(pusher.push_image(REPO, "v1", &image).await.is_err());
    assert_eq!(
        registry.count_requests("PUT", "/v2/team/app/blobs/uploads/"),
        0
    );
    let answered = &proxy.requests()[2];
    assert_eq!(
        (answered.method.as_str(), answered.status),
        ("PUT", Some(500))
    );
    assert_eq!(
        answered.request_bytes, image.layers[0].size,
        "the body was read"
    );

    assert_eq!(
        pusher.push_image(REPO, "v1", &image).await.unwrap(),
        image.digest()
    );
}

#[tokio::test]
async fn registry_answering_before_reading_a_large_body_is_forwarded() {
    let tokens = TokenServer::builder()
        .admin("admin", "adm1n")
        .start()
        .unwrap();
    let registry = TestRegistry::builder()
        .token_auth(tokens.auth_config())
        .start()
        .await
        .unwrap();
    let proxy = FaultProxy::start(&registry).await.unwrap();
    let client = http_client().unwrap();
    // No token: the registry answers 401 without reading the 4 MiB body.
    let resp = client
        .put(format!("{}/v2/{REPO}/manifests/v1", proxy.url()))
        .body(vec![b'x'; 4 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("www-authenticate"));
    let ping = client
        .get(format!("{}/v2/", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 401);
    assert_eq!(proxy.requests()[0].request_bytes, 4 << 20);
}

/// Pins what distribution 2.8 does after a connection reset mid-PATCH: it keeps the bytes it
/// got, so the upload URL the client holds (its `_state` says offset 0) becomes invalid; a
/// pusher must start a new upload rather than resume that one.
#[tokio::test]
async fn patch_reset_mid_body_reaches_the_registry_as_a_disconnect_and_voids_the_upload_url() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let proxy = FaultProxy::start(&registry).await.unwrap();
    let client = http_client().unwrap();
    let post = client
        .post(format!("{}/v2/{REPO}/blobs/uploads/", proxy.url()))
        .send()
        .await
        .unwrap();
    let location = post.headers()["location"].to_str().unwrap().to_string();
    proxy.rule(Rule::patch_upload().reset_request_after(300_000).times(1));
    let patch = client
        .patch(&location)
        .header("Content-Type", "application/octet-stream")
        .body(vec![7u8; 1 << 20])
        .send()
        .await;
    assert!(patch.is_err(), "{patch:?}");
    let cut = &proxy.requests()[1];
    assert_eq!(
        (cut.request_bytes, &cut.outcome),
        (300_000, &Outcome::RequestReset)
    );

    // The registry notices the disconnect on its own time: under load a status request can
    // arrive first and still see the upload. Wait (bounded) for its log to say it did.
    for _ in 0..200 {
        if registry
            .log()
            .contains("client disconnected during blob PATCH")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(registry
        .log()
        .contains("client disconnected during blob PATCH"));
    let status = client.get(&location).send().await.unwrap();
    assert_eq!(status.status(), 404);
    assert!(status.text().await.unwrap().contains("BLOB_UPLOAD_INVALID"));
}

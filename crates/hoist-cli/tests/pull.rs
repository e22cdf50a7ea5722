//! `hoist pull` end to end: the built binary against a real `docker-registry`, with HOME,
//! DOCKER_CONFIG and the config file pointed at a temporary directory so nothing of the real
//! user is read. Checks the exit status, docker's plain progress lines, `-q`, the final
//! reference line, and one-line errors.

mod sandbox;

use sandbox::{registry_with_image, stderr, stdout, Sandbox};

use std::path::Path;

use hoist_testkit::{Blob, FaultProxy, ImagePusher, Outcome, Rule, TestRegistry};

fn short(digest: &str) -> &str {
    &digest.trim_start_matches("sha256:")[..12]
}

#[tokio::test]
async fn pull_prints_docker_lines_and_the_canonical_reference() {
    let (registry, image) = registry_with_image().await;
    let sandbox = Sandbox::new();
    let name = format!("{}/team/app", registry.host());

    let out = sandbox.hoist(&["pull", &format!("{name}:v1")]).await;

    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("v1: Pulling from {name}"));
    for layer in &image.layers {
        let id = short(&layer.digest);
        assert!(
            lines.contains(&format!("{id}: Pulling fs layer").as_str()),
            "{text}"
        );
        assert!(
            lines.contains(&format!("{id}: Pull complete").as_str()),
            "{text}"
        );
    }
    let n = lines.len();
    assert_eq!(lines[n - 3], format!("Digest: {}", image.digest()));
    assert_eq!(
        lines[n - 2],
        format!("Status: Downloaded newer image for {name}:v1")
    );
    assert_eq!(lines[n - 1], format!("{name}:v1"));
    assert!(sandbox
        .root()
        .join("blobs/sha256")
        .join(image.digest().trim_start_matches("sha256:"))
        .is_file());
}

#[tokio::test]
async fn second_pull_says_image_is_up_to_date() {
    let (registry, _image) = registry_with_image().await;
    let sandbox = Sandbox::new();
    let reference = format!("{}/team/app:v1", registry.host());
    assert!(sandbox
        .hoist(&["pull", "-q", &reference])
        .await
        .status
        .success());

    let out = sandbox.hoist(&["pull", &reference]).await;

    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("Status: Image is up to date for {reference}\n")));
}

#[tokio::test]
async fn quiet_pull_prints_only_the_reference() {
    let (registry, _image) = registry_with_image().await;
    let sandbox = Sandbox::new();
    let reference = format!("{}/team/app:v1", registry.host());

    let out = sandbox
        .hoist(&["pull", "-q", "--no-unpack", &reference])
        .await;

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{reference}\n"));
}

#[tokio::test]
async fn malformed_reference_fails_with_one_line() {
    let sandbox = Sandbox::new();

    let out = sandbox.hoist(&["pull", "Team/App:v1"]).await;

    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("Error: invalid reference \"Team/App:v1\""),
        "{err}"
    );
    assert!(!Path::new(&sandbox.root()).join("hoist.db").exists());
}

#[tokio::test]
async fn missing_tag_fails_with_dockers_sentence() {
    let (registry, _image) = registry_with_image().await;
    let sandbox = Sandbox::new();
    let reference = format!("{}/team/app:nope", registry.host());

    let out = sandbox.hoist(&["pull", &reference]).await;

    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!("Error: manifest for {reference} not found: manifest unknown: manifest unknown\n")
    );
}

#[tokio::test]
async fn invalid_platform_is_refused_before_pulling() {
    let sandbox = Sandbox::new();

    let out = sandbox
        .hoist(&["pull", "--platform", "linux//arm", "127.0.0.1:1/x"])
        .await;

    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("Error: invalid platform \"linux//arm\""),
        "{}",
        stderr(&out)
    );
}

/// Pushes `repo:v1`, an OCI image of one uncompressed layer of `size` pseudo-random bytes
/// (cheap to make, unlike a large gzip), and returns that layer. It is not a tar, so it is
/// pulled with `--no-unpack`: these tests are about the content path (resume, one download);
/// unpacking while resuming is tested in the library's `layers_faults`.
async fn push_uncompressed_image(registry: &TestRegistry, repo: &str, size: usize) -> Blob {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let bytes: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let layer = Blob::new("application/vnd.oci.image.layer.v1.tar", bytes);
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
    });
    let config = Blob::new(
        "application/vnd.oci.image.config.v1+json",
        serde_json::to_vec(&config).unwrap(),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config.descriptor(),
        "layers": [layer.descriptor()],
    });
    let manifest = Blob::new(
        "application/vnd.oci.image.manifest.v1+json",
        serde_json::to_vec(&manifest).unwrap(),
    );
    let pusher = ImagePusher::new(registry);
    pusher.push_blob(repo, &layer).await.unwrap();
    pusher.push_blob(repo, &config).await.unwrap();
    pusher.push_manifest(repo, "v1", &manifest).await.unwrap();
    layer
}

/// The size the registry's access log reports for the response to `GET path` with `status`.
fn logged_response_size(registry: &TestRegistry, path: &str, status: u16) -> Option<u64> {
    let needle = format!("\"GET {path} ");
    registry.log().lines().find_map(|line| {
        let rest = line.split(&needle).nth(1)?;
        let mut after = rest.split('"').nth(1)?.split_whitespace();
        let code: u16 = after.next()?.parse().ok()?;
        (code == status).then(|| after.next()?.parse().ok())?
    })
}

#[tokio::test]
async fn pull_killed_mid_layer_resumes_from_the_partial_ingest() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let layer = push_uncompressed_image(&registry, "big", 24 * 1024 * 1024).await;
    let layer = &layer;
    let sandbox = Sandbox::new();
    let reference = format!("{}/big:v1", registry.host());
    let data = sandbox
        .root()
        .join("ingest")
        .join(layer.digest.trim_start_matches("sha256:"))
        .join("data");
    let home = sandbox.dir.path().join("home");
    let mut first = tokio::process::Command::new(env!("CARGO_BIN_EXE_hoist"))
        .arg("--root")
        .arg(sandbox.root())
        .arg("--config")
        .arg(sandbox.dir.path().join("hoist.toml"))
        .args(["pull", "-q", "--no-unpack", &reference])
        .env_clear()
        .env("HOME", &home)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let written = loop {
        let len = std::fs::metadata(&data).map(|m| m.len()).unwrap_or(0);
        if len > 0 && len < layer.size / 2 {
            first.kill().await.unwrap(); // SIGKILL
            break std::fs::metadata(&data).unwrap().len();
        }
        assert!(
            first.try_wait().unwrap().is_none(),
            "the pull ended before it could be killed mid-layer"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    };
    registry.clear_log().unwrap();

    let second = sandbox
        .hoist(&["pull", "-q", "--no-unpack", &reference])
        .await;

    assert!(second.status.success(), "{}", stderr(&second));
    let path = format!("/v2/big/blobs/{}", layer.digest);
    let resumed = logged_response_size(&registry, &path, 206)
        .expect("the second pull asked for the rest with Range");
    assert!(resumed < layer.size, "fetched {resumed} of {}", layer.size);
    assert!(resumed <= layer.size - written.min(layer.size));
    let blob = sandbox
        .root()
        .join("blobs/sha256")
        .join(layer.digest.trim_start_matches("sha256:"));
    assert_eq!(std::fs::read(blob).unwrap(), layer.bytes);
}

/// The spans `ingest/<hex>/parts.json` records complete, as `(start, end)`.
fn recorded_parts(ingest: &Path) -> Vec<(u64, u64)> {
    let Ok(bytes) = std::fs::read(ingest.join("parts.json")) else {
        return Vec::new();
    };
    let record: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    record["done"]
        .as_array()
        .unwrap()
        .iter()
        .map(|span| (span[0].as_u64().unwrap(), span[1].as_u64().unwrap()))
        .collect()
}

#[tokio::test]
async fn pull_killed_mid_parallel_fetch_fetches_only_the_missing_parts() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let layer = push_uncompressed_image(&registry, "parts", 24 * 1024 * 1024).await;
    // 4 MB/s per connection: the 24 MiB take seconds, so the kill lands mid-way.
    let proxy = FaultProxy::start(&registry).await.unwrap();
    proxy.rule(Rule::get_blob().throttle(4_000_000));
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.config_path(),
        "range_fetch_threshold = 4194304\nrange_fetch_part_size = 2097152\n",
    )
    .unwrap();
    let reference = format!("{}/parts:v1", proxy.host());
    let ingest = sandbox
        .root()
        .join("ingest")
        .join(layer.digest.trim_start_matches("sha256:"));
    let args = ["pull", "-q", "--no-unpack", reference.as_str()];
    let mut first = sandbox.command(&args).spawn().unwrap();
    let done = loop {
        let done = recorded_parts(&ingest);
        if !done.is_empty() {
            first.kill().await.unwrap(); // SIGKILL
            break recorded_parts(&ingest);
        }
        assert!(
            first.try_wait().unwrap().is_none(),
            "the pull ended before any part was recorded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    let covered: u64 = done.iter().map(|(start, end)| end - start).sum();
    assert!(covered < layer.size, "{done:?}");
    proxy.clear_rules();
    proxy.clear_requests();

    let second = sandbox.hoist(&args).await;

    assert!(second.status.success(), "{}", stderr(&second));
    let path = format!("/v2/parts/blobs/{}", layer.digest);
    // The killed pull's responses may still be ending (and be recorded) after
    // `clear_requests`, each cut with a broken pipe: the rerun's were forwarded whole.
    let gets: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == path && r.outcome == Outcome::Forwarded)
        .collect();
    for get in &gets {
        let range = get.range().expect("only parts were asked for");
        let (start, end) = range.trim_start_matches("bytes=").split_once('-').unwrap();
        let (start, end): (u64, u64) = (start.parse().unwrap(), end.parse::<u64>().unwrap() + 1);
        assert!(
            done.iter().all(|&(s, e)| end <= s || start >= e),
            "{range} was recorded complete before the kill: {done:?}"
        );
    }
    let fetched: u64 = gets.iter().map(|g| g.response_bytes).sum();
    assert_eq!(fetched, layer.size - covered);
    let blob = sandbox
        .root()
        .join("blobs/sha256")
        .join(layer.digest.trim_start_matches("sha256:"));
    assert_eq!(std::fs::read(blob).unwrap(), layer.bytes);
    assert!(!ingest.exists());
}

#[tokio::test]
async fn two_processes_pulling_one_image_into_one_root_fetch_each_blob_once() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let layer = push_uncompressed_image(&registry, "twice", 8 * 1024 * 1024).await;
    registry.clear_log().unwrap();
    let sandbox = Sandbox::new();
    let reference = format!("{}/twice:v1", registry.host());

    let args = ["pull", "-q", "--no-unpack", reference.as_str()];
    let (a, b) = tokio::join!(sandbox.hoist(&args), sandbox.hoist(&args));

    assert!(a.status.success(), "{}", stderr(&a));
    assert!(b.status.success(), "{}", stderr(&b));
    let layer_gets = registry
        .access_log()
        .iter()
        .filter(|e| e.method == "GET" && e.path.ends_with(&layer.digest))
        .count();
    assert_eq!(layer_gets, 1);
    let blobs = std::fs::read_dir(sandbox.root().join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 3, "layer, config, manifest");
    // Both processes recorded the same tag; a third run sees it.
    let third = sandbox.hoist(&["pull", "--no-unpack", &reference]).await;
    assert!(stdout(&third).contains("Status: Image is up to date"));
}

#[tokio::test]
async fn pulling_another_platform_of_a_single_platform_image_warns_in_dockers_words() {
    let (registry, _image) = registry_with_image().await;
    let sandbox = Sandbox::new();
    let reference = format!("{}/team/app:v1", registry.host());

    let out = sandbox
        .hoist(&["pull", "-q", "--platform", "linux/arm64", &reference])
        .await;

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "WARNING: image with reference {reference} was found but does not match the \
             specified platform: wanted linux/arm64, actual: linux/amd64\n"
        )
    );
    let same = sandbox
        .hoist(&["pull", "-q", "--platform", "linux/amd64", &reference])
        .await;
    assert_eq!(stderr(&same), "");
}

#[tokio::test]
async fn pulled_image_sizes_are_unpacked_with_the_compressed_size_in_json() {
    let (registry, image) = registry_with_image().await;
    let sandbox = Sandbox::new();
    let reference = format!("{}/team/app:v1", registry.host());
    assert!(sandbox
        .hoist(&["pull", "-q", &reference])
        .await
        .status
        .success());

    let rows: serde_json::Value =
        serde_json::from_str(&stdout(&sandbox.hoist(&["images", "--json"]).await)).unwrap();
    let inspect: serde_json::Value =
        serde_json::from_str(&stdout(&sandbox.hoist(&["inspect", &reference]).await)).unwrap();

    let compressed: u64 = image.layers.iter().map(|l| l.size).sum();
    let row = &rows[0];
    assert_eq!(row["compressed_size"], compressed);
    assert_ne!(row["size"], compressed, "SIZE is the unpacked size: {row}");
    assert_eq!(inspect[0]["Size"], row["size"]);
    assert_eq!(inspect[0]["CompressedSize"], compressed);
}

#[tokio::test]
async fn access_denied_names_hoist_login() {
    let tokens = hoist_testkit::TokenServer::builder()
        .admin("admin", "adm1n")
        .start()
        .unwrap();
    let registry = TestRegistry::builder()
        .token_auth(tokens.auth_config())
        .start()
        .await
        .unwrap();
    let sandbox = Sandbox::new();

    let out = sandbox
        .hoist(&["pull", &format!("{}/team/private:v1", registry.host())])
        .await;

    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "Error: pull access denied for {}/team/private, repository does not exist or may \
             require 'hoist login'",
            registry.host()
        )),
        "{err}"
    );
}

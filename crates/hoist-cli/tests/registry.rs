//! The registry commands end to end (`ls`, `catalog`, `digest`, `manifest`, `config`, `blob`,
//! `inspect docker://`, `delete`, `history docker://`, `export docker://`): the built binary against real
//! `docker-registry` processes (anonymous, token auth, TLS with a certs.d CA), compared with
//! what the testkit pushed and with `skopeo inspect` / `skopeo list-tags` on the same images.
//! Nothing may be stored: no store root appears.

mod sandbox;

use std::process::Output;

use sandbox::{stderr, stdout, Sandbox};
use serde_json::Value;

use hoist_testkit::{
    FaultProxy, Image, ImageBuilder, ImagePusher, Index, Layer, ManifestFormat, Rule, TestCa,
    TestRegistry, TokenServer,
};

fn image(arch: &str) -> Image {
    ImageBuilder::new()
        .platform("linux", arch, None)
        .config_field(
            "Env",
            serde_json::json!(["PATH=/bin", format!("ARCH={arch}")]),
        )
        .config_field("Labels", serde_json::json!({"arch": arch}))
        .layer(Layer::from_files(&[("arch.txt", arch.as_bytes())]).unwrap())
        .layer(Layer::from_files(&[("more.txt", b"more")]).unwrap())
        .build()
        .unwrap()
}

/// `team/app` with tags v1 (an amd64 image), v2 and v3 (the same), and `team/multi:v1` (an
/// amd64 + arm64 index).
async fn seed(pusher: &ImagePusher) -> (Image, Index) {
    let single = image("amd64");
    for tag in ["v1", "v2", "v3"] {
        pusher.push_image("team/app", tag, &single).await.unwrap();
    }
    let index = Index::new(ManifestFormat::Oci, vec![image("amd64"), image("arm64")]).unwrap();
    pusher.push_index("team/multi", "v1", &index).await.unwrap();
    (single, index)
}

async fn anonymous() -> (TestRegistry, Image, Index) {
    let registry = TestRegistry::anonymous().await.unwrap();
    let (single, index) = seed(&ImagePusher::new(&registry)).await;
    (registry, single, index)
}

/// Asserts that `hoist`'s remote inspect equals `skopeo`'s in every field skopeo prints; the
/// only field hoist may add is `LayersData`, which skopeo prints from 1.10 on (the tests may
/// run an older one).
fn assert_same_inspect(hoist: &Value, skopeo: &Value) {
    let (Some(h), Some(s)) = (hoist.as_object(), skopeo.as_object()) else {
        panic!("not objects: {hoist} {skopeo}");
    };
    for (key, value) in s {
        assert_eq!(
            h.get(key),
            Some(value),
            "{key}: hoist {hoist:#} skopeo {skopeo:#}"
        );
    }
    for key in h.keys().filter(|k| !s.contains_key(*k)) {
        assert_eq!(
            key, "LayersData",
            "hoist prints a field skopeo does not: {key}"
        );
    }
    let layers = hoist["Layers"].as_array().unwrap();
    let data = hoist["LayersData"].as_array().unwrap();
    assert_eq!(layers.len(), data.len());
    for (digest, layer) in layers.iter().zip(data) {
        assert_eq!(&layer["Digest"], digest);
    }
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", stderr(out));
    stdout(out)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// `skopeo ARGS…` with HOME in the sandbox; its stdout parsed as JSON.
fn skopeo(sandbox: &Sandbox, args: &[&str]) -> Value {
    let out = std::process::Command::new("skopeo")
        .args(args)
        .env_clear()
        .env("HOME", sandbox.dir.path().join("home"))
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo {args:?}: {}", stderr(&out));
    json(&stdout(&out))
}

#[tokio::test]
async fn ls_lists_every_tag_like_skopeo_list_tags() {
    let (registry, _, _) = anonymous().await;
    let sandbox = Sandbox::new();
    let repo = format!("{}/team/app", registry.host());

    let out = sandbox.hoist(&["ls", "--page-size", "1", &repo]).await;

    assert_eq!(ok(&out), "v1\nv2\nv3\n");
    let skopeo = skopeo(
        &sandbox,
        &[
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{repo}"),
        ],
    );
    assert_eq!(skopeo["Tags"], serde_json::json!(["v1", "v2", "v3"]));
    assert!(!sandbox.root().exists(), "nothing is stored");
}

#[tokio::test]
async fn ls_and_catalog_take_formats() {
    let (registry, _, _) = anonymous().await;
    let sandbox = Sandbox::new();
    let repo = format!("docker://{}/team/app", registry.host());

    let as_json = ok(&sandbox.hoist(&["ls", "--format", "json", &repo]).await);
    assert_eq!(json(&as_json), serde_json::json!(["v1", "v2", "v3"]));
    let templated = ok(&sandbox
        .hoist(&["ls", "--format", "app:{{.Tag}}", &repo])
        .await);
    assert_eq!(templated, "app:v1\napp:v2\napp:v3\n");
    let catalog = ok(&sandbox
        .hoist(&["catalog", "--format", "{{.Repository}}!", &registry.host()])
        .await);
    assert_eq!(catalog, "team/app!\nteam/multi!\n");
}

#[tokio::test]
async fn catalog_lists_every_repository_across_pages() {
    let (registry, _, _) = anonymous().await;
    let sandbox = Sandbox::new();

    let out = sandbox
        .hoist(&["catalog", "--page-size", "1", &registry.host()])
        .await;

    assert_eq!(ok(&out), "team/app\nteam/multi\n");
    // CNCF distribution 2.8 pages its catalog (its tag lists come whole, whatever `n` says).
    let pages: Vec<String> = registry
        .access_log()
        .into_iter()
        .filter(|e| e.method == "GET" && e.path.starts_with("/v2/_catalog"))
        .map(|e| e.path)
        .collect();
    assert_eq!(
        pages.len(),
        2,
        "one request per page of one repository: {pages:?}"
    );
}

#[tokio::test]
async fn export_docker_writes_the_platforms_rootfs_and_stores_nothing() {
    let (registry, _, _) = anonymous().await;
    let sandbox = Sandbox::new();
    let multi = format!("docker://{}/team/multi:v1", registry.host());
    let out = sandbox.dir.path().join("rootfs");
    let out = out.to_str().unwrap();

    let exported = sandbox
        .hoist(&["export", "--platform", "linux/arm64", &multi, out])
        .await;
    assert_eq!(ok(&exported), "");
    assert_eq!(
        std::fs::read_to_string(format!("{out}/arch.txt")).unwrap(),
        "arm64"
    );
    assert_eq!(
        std::fs::read_to_string(format!("{out}/more.txt")).unwrap(),
        "more"
    );

    // A single-platform image of another platform: exported, with docker's warning.
    let single = format!("docker://{}/team/app:v1", registry.host());
    let other = sandbox.dir.path().join("other");
    let other = other.to_str().unwrap();
    let warned = sandbox
        .hoist(&["export", "--platform", "linux/arm64", &single, other])
        .await;
    assert_eq!(ok(&warned), "");
    let wanted = "does not match the specified platform: wanted linux/arm64, actual: linux/amd64";
    assert!(stderr(&warned).contains(wanted), "{}", stderr(&warned));
    assert!(std::path::Path::new(other).join("arch.txt").exists());

    // `--platform` chooses from a registry image: refused for a stored one, in one line.
    let stored = sandbox
        .hoist(&[
            "export",
            "--platform",
            "linux/arm64",
            "team/app:v1",
            "elsewhere",
        ])
        .await;
    assert!(!stored.status.success());
    assert!(
        stderr(&stored).contains("docker://REF"),
        "{}",
        stderr(&stored)
    );
    assert!(!sandbox.root().exists(), "nothing is stored");
}

#[tokio::test]
async fn digest_manifest_and_config_are_the_registry_bytes() {
    let (registry, single, index) = anonymous().await;
    let sandbox = Sandbox::new();
    let multi = format!("{}/team/multi:v1", registry.host());
    let arm = &index.images[1];

    let digest = ok(&sandbox.hoist(&["digest", &multi]).await);
    assert_eq!(digest, format!("{}\n", index.digest()));
    let arm_digest = ok(&sandbox
        .hoist(&["digest", "--platform", "linux/arm64", &multi])
        .await);
    assert_eq!(arm_digest, format!("{}\n", arm.digest()));

    let manifest = sandbox.hoist(&["manifest", &multi]).await;
    assert!(manifest.status.success(), "{}", stderr(&manifest));
    assert_eq!(
        manifest.stdout, index.index.bytes,
        "the index, byte for byte"
    );
    let arm_manifest = sandbox
        .hoist(&["manifest", "--platform", "linux/arm64", &multi])
        .await;
    assert_eq!(arm_manifest.stdout, arm.manifest.bytes);

    let config = sandbox
        .hoist(&["config", "--platform", "linux/arm64", &multi])
        .await;
    assert!(config.status.success(), "{}", stderr(&config));
    assert_eq!(config.stdout, arm.config.bytes);
    let single_config = sandbox
        .hoist(&["config", &format!("{}/team/app:v1", registry.host())])
        .await;
    assert_eq!(single_config.stdout, single.config.bytes);
    assert!(!sandbox.root().exists(), "nothing is stored");
}

#[tokio::test]
async fn blob_streams_the_verified_bytes() {
    let (registry, single, _) = anonymous().await;
    let sandbox = Sandbox::new();
    let layer = &single.layers[1];

    let out = sandbox
        .hoist(&[
            "blob",
            &format!("{}/team/app@{}", registry.host(), layer.digest),
        ])
        .await;

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, layer.bytes);
}

#[tokio::test]
async fn blob_without_a_digest_is_a_usage_error_and_a_missing_blob_fails() {
    let (registry, _, _) = anonymous().await;
    let sandbox = Sandbox::new();

    let usage = sandbox
        .hoist(&["blob", &format!("{}/team/app:v1", registry.host())])
        .await;
    assert_eq!(usage.status.code(), Some(2), "{}", stderr(&usage));

    let missing = format!("sha256:{}", "0".repeat(64));
    let out = sandbox
        .hoist(&["blob", &format!("{}/team/app@{missing}", registry.host())])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("Error: "), "{err}");
    // The registry's answer in its words; the URL asked is for --debug.
    assert!(
        err.ends_with("blob unknown: blob unknown to registry\n"),
        "{err}"
    );
    assert!(!err.contains("http://"), "{err}");
}

#[tokio::test]
async fn remote_inspect_matches_skopeo_inspect() {
    let (registry, _, index) = anonymous().await;
    let sandbox = Sandbox::new();
    let multi = format!("docker://{}/team/multi:v1", registry.host());

    let hoist = json(&ok(&sandbox
        .hoist(&["inspect", "--platform", "linux/arm64", &multi])
        .await));
    let skopeo = skopeo(
        &sandbox,
        &[
            "--override-os",
            "linux",
            "--override-arch",
            "arm64",
            "inspect",
            "--tls-verify=false",
            &multi,
        ],
    );

    assert_same_inspect(&hoist, &skopeo);
    assert_eq!(hoist["Digest"], index.digest());
    assert_eq!(hoist["Architecture"], "arm64");
    assert!(!sandbox.root().exists(), "nothing is stored");
}

#[tokio::test]
async fn remote_inspect_raw_and_format() {
    let (registry, single, index) = anonymous().await;
    let sandbox = Sandbox::new();
    let multi = format!("docker://{}/team/multi:v1", registry.host());

    let raw = sandbox.hoist(&["inspect", "--raw", &multi]).await;
    assert!(raw.status.success(), "{}", stderr(&raw));
    assert_eq!(raw.stdout, index.index.bytes);

    let app = format!("docker://{}/team/app:v1", registry.host());
    let digest = ok(&sandbox
        .hoist(&[
            "inspect",
            "--format",
            "{{.Digest}} {{json .RepoTags}}",
            &app,
        ])
        .await);
    assert_eq!(
        digest,
        format!("{} [\"v1\",\"v2\",\"v3\"]\n", single.digest())
    );
}

#[tokio::test]
async fn delete_by_tag_removes_the_manifest() {
    let (registry, single, _) = anonymous().await;
    let sandbox = Sandbox::new();
    let name = format!("{}/team/app", registry.host());

    let out = sandbox.hoist(&["delete", &format!("{name}:v2")]).await;

    assert_eq!(ok(&out), format!("Deleted: {name}@{}\n", single.digest()));
    // Every tag of that manifest is gone with it.
    let gone = sandbox.hoist(&["digest", &format!("{name}:v1")]).await;
    assert_eq!(gone.status.code(), Some(1), "{}", stdout(&gone));
    assert_eq!(ok(&sandbox.hoist(&["ls", &name]).await), "");
    let missing = sandbox.hoist(&["delete", &format!("{name}:v1")]).await;
    assert_eq!(
        stderr(&missing),
        format!("Error: cannot delete {name}:v1: manifest unknown: HTTP 404 Not Found\n")
    );
}

#[tokio::test]
async fn delete_on_a_registry_with_deletes_disabled_says_so() {
    let registry = TestRegistry::builder()
        .deletes_disabled()
        .start()
        .await
        .unwrap();
    let (single, _) = seed(&ImagePusher::new(&registry)).await;
    let sandbox = Sandbox::new();
    let name = format!("{}/team/app", registry.host());

    let out = sandbox
        .hoist(&["delete", &format!("{name}@{}", single.digest())])
        .await;

    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("does not allow deleting"), "{err}");
    assert!(ok(&sandbox.hoist(&["ls", &name]).await).contains("v1"));
}

#[tokio::test]
async fn remote_history_lists_the_config_steps_newest_first() {
    let (registry, single, _) = anonymous().await;
    let sandbox = Sandbox::new();
    let app = format!("docker://{}/team/app:v1", registry.host());

    let text = ok(&sandbox.hoist(&["history", &app]).await);

    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("IMAGE"), "{text}");
    assert!(lines[0].contains("CREATED BY"), "{text}");
    assert_eq!(lines.len(), 3, "{text}");
    let image_id = &single.config.digest["sha256:".len()..][..12];
    assert!(lines[1].starts_with(image_id), "{text}");
    assert!(lines[1].contains("hoist-testkit layer 1"), "{text}");
    assert!(lines[2].starts_with("<missing>"), "{text}");
    let raw = ok(&sandbox
        .hoist(&["history", "-H=false", "--format", "{{.Size}}", &app])
        .await);
    let sizes: Vec<String> = single
        .layers
        .iter()
        .rev()
        .map(|l| l.size.to_string())
        .collect();
    assert_eq!(raw, format!("{}\n", sizes.join("\n")));
}

#[tokio::test]
async fn registry_commands_use_stored_token_credentials() {
    let tokens = TokenServer::builder()
        .admin("admin", "adm1n")
        .user("dev", "d3v")
        .grant("dev", "team/*", &["pull"])
        .start()
        .unwrap();
    let registry = TestRegistry::builder()
        .token_auth(tokens.auth_config())
        .start()
        .await
        .unwrap();
    let pusher = ImagePusher::new(&registry).credentials("admin", "adm1n");
    let (single, _) = seed(&pusher).await;
    let sandbox = Sandbox::new();
    let docker = sandbox.dir.path().join("home/.docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64_encode("dev:d3v");
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
            registry.host()
        ),
    )
    .unwrap();
    let app = format!("{}/team/app:v1", registry.host());

    assert_eq!(
        ok(&sandbox.hoist(&["digest", &app]).await),
        format!("{}\n", single.digest())
    );
    assert_eq!(
        ok(&sandbox
            .hoist(&["ls", &format!("{}/team/app", registry.host())])
            .await),
        "v1\nv2\nv3\n"
    );
    let hoist = json(&ok(&sandbox
        .hoist(&["inspect", &format!("docker://{app}")])
        .await));
    let skopeo = skopeo(
        &sandbox,
        &[
            "inspect",
            "--tls-verify=false",
            "--creds",
            "dev:d3v",
            &format!("docker://{app}"),
        ],
    );
    assert_same_inspect(&hoist, &skopeo);
    // dev may pull but not delete.
    let denied = sandbox.hoist(&["delete", &app]).await;
    assert_eq!(denied.status.code(), Some(1), "{}", stdout(&denied));
}

#[tokio::test]
async fn registry_commands_trust_a_certs_d_ca() {
    let ca = TestCa::new().unwrap();
    let registry = TestRegistry::builder().tls(&ca).start().await.unwrap();
    let (single, _) = seed(&ImagePusher::new(&registry)).await;
    let sandbox = Sandbox::new();
    let certs = sandbox.dir.path().join("certs.d");
    let host_dir = ca.write_certs_d(&certs, &registry.host(), None).unwrap();
    std::fs::write(
        sandbox.config_path(),
        format!("certs_dirs = [{:?}]\n", certs.display().to_string()),
    )
    .unwrap();
    let app = format!("{}/team/app:v1", registry.host());

    assert_eq!(
        ok(&sandbox.hoist(&["digest", &app]).await),
        format!("{}\n", single.digest())
    );
    let hoist = json(&ok(&sandbox
        .hoist(&["inspect", &format!("docker://{app}")])
        .await));
    let skopeo = skopeo(
        &sandbox,
        &[
            "inspect",
            "--cert-dir",
            &host_dir.display().to_string(),
            &format!("docker://{app}"),
        ],
    );
    assert_same_inspect(&hoist, &skopeo);
}

fn base64_encode(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn history_of_a_stored_image_has_the_same_steps_with_unpacked_sizes() {
    let (registry, single, _) = anonymous().await;
    let sandbox = Sandbox::new();
    let app = format!("{}/team/app:v1", registry.host());
    ok(&sandbox.hoist(&["pull", "-q", &app]).await);

    let format = "{{.ID}}|{{.CreatedBy}}|{{.Size}}";
    let local = ok(&sandbox
        .hoist(&["history", "-H=false", "--format", format, &app])
        .await);
    let remote = ok(&sandbox
        .hoist(&[
            "history",
            "-H=false",
            "--format",
            format,
            &format!("docker://{app}"),
        ])
        .await);

    let steps = |text: &str| -> Vec<(String, String)> {
        text.lines()
            .map(|l| {
                let cells: Vec<&str> = l.split('|').collect();
                (cells[0].to_owned(), cells[1].to_owned())
            })
            .collect()
    };
    assert_eq!(steps(&local), steps(&remote));
    // Stored sizes are the unpacked ones: the layer tars' contents, not the gzip blobs.
    let local_sizes: Vec<u64> = local
        .lines()
        .map(|l| l.rsplit('|').next().unwrap().parse().unwrap())
        .collect();
    let blob_sizes: Vec<u64> = single.layers.iter().rev().map(|l| l.size).collect();
    assert_ne!(local_sizes, blob_sizes, "{local}");
}

#[tokio::test]
async fn registry_reads_go_through_a_configured_mirror() {
    let (upstream, single, _) = anonymous().await;
    let mirror = TestRegistry::builder()
        .proxy(&upstream.url(), None)
        .start()
        .await
        .unwrap();
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.config_path(),
        format!(
            "[registries.\"{}\"]\nmirrors = [\"{}\"]\n",
            upstream.host(),
            mirror.url()
        ),
    )
    .unwrap();
    let app = format!("{}/team/app:v1", upstream.host());

    assert_eq!(
        ok(&sandbox.hoist(&["digest", &app]).await),
        format!("{}\n", single.digest())
    );
    let config = sandbox.hoist(&["config", &app]).await;
    assert_eq!(config.stdout, single.config.bytes);

    let debug = sandbox.hoist(&["digest", "--debug", &app]).await;
    let log = stderr(&debug);
    let served_by: Vec<&str> = log.lines().filter(|l| l.contains("served by")).collect();
    assert!(!served_by.is_empty(), "{log}");
    assert!(served_by.iter().all(|l| l.contains("mirror=true")), "{log}");

    let served = mirror.count_requests("GET", "/v2/team/app/blobs/")
        + mirror.count_requests("HEAD", "/v2/team/app/manifests/");
    assert!(
        served >= 2,
        "the mirror served the reads: {:?}",
        mirror.access_log()
    );
}

#[tokio::test]
async fn images_shows_a_platform_column_for_the_platforms_of_one_index() {
    let (registry, _, _) = anonymous().await;
    let sandbox = Sandbox::new();
    let multi = format!("{}/team/multi:v1", registry.host());
    ok(&sandbox
        .hoist(&[
            "pull",
            "-q",
            "--all-platforms",
            "--platform",
            "linux/amd64",
            &multi,
        ])
        .await);
    ok(&sandbox
        .hoist(&["pull", "-q", &format!("{}/team/app:v1", registry.host())])
        .await);

    let table = ok(&sandbox.hoist(&["images"]).await);

    let header = table.lines().next().unwrap();
    assert!(header.ends_with("PLATFORM"), "{table}");
    assert!(table.lines().any(|l| l.ends_with("linux/arm64")), "{table}");
    assert!(table.lines().any(|l| l.ends_with("linux/amd64")), "{table}");
}

#[tokio::test]
async fn an_untrusted_certificate_says_so_and_names_the_fixes() {
    let ca = TestCa::new().unwrap();
    let registry = TestRegistry::builder().tls(&ca).start().await.unwrap();
    seed(&ImagePusher::new(&registry)).await;
    let sandbox = Sandbox::new();
    let host = registry.host();
    let started = std::time::Instant::now();

    let out = sandbox
        .hoist(&["digest", &format!("{host}/team/app:v1")])
        .await;

    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("certificate"), "{err}");
    for fix in [
        "ca_file",
        &format!("/etc/docker/certs.d/{host}/ca.crt"),
        "insecure",
    ] {
        assert!(err.contains(fix), "{fix} missing: {err}");
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "a certificate refusal is not retried"
    );
}

#[tokio::test]
async fn pull_from_an_untrusted_registry_names_the_fixes_too() {
    let ca = TestCa::new().unwrap();
    let registry = TestRegistry::builder().tls(&ca).start().await.unwrap();
    seed(&ImagePusher::new(&registry)).await;
    let sandbox = Sandbox::new();

    let out = sandbox
        .hoist(&["pull", "-q", &format!("{}/team/app:v1", registry.host())])
        .await;

    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("ca_file"), "{err}");
}

#[tokio::test]
async fn blob_whose_bytes_do_not_match_its_digest_fails() {
    let (registry, single, _) = anonymous().await;
    let proxy = FaultProxy::start(&registry).await.unwrap();
    proxy.rule(Rule::get_blob().corrupt_byte(10));
    let sandbox = Sandbox::new();
    let layer = &single.layers[0];

    let out = sandbox
        .hoist(&[
            "blob",
            &format!("{}/team/app@{}", proxy.host(), layer.digest),
        ])
        .await;

    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("failed verification"), "{err}");
    assert!(err.contains(&layer.digest), "{err}");
}

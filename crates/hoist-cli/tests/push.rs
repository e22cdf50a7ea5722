//! `hoist push` end to end: the built binary against real `docker-registry` processes, with
//! HOME, DOCKER_CONFIG and the config file in a temporary directory. The image is put in the
//! store with `hoist pull` and tagged for the target with the library (no `hoist tag` here).
//! Checks docker's plain lines (`Pushed`, `Layer already exists`, the digest line), `-q`, and
//! one-line errors.

mod sandbox;

use sandbox::{stderr, stdout, Sandbox};

use hoist::digest::Digest;
use hoist::reference::Reference;
use hoist::store::{ContentStore, MetadataStore};
use hoist_testkit::{ImageBuilder, ImagePusher, Layer, TestRegistry};

/// Tags the stored image `manifest` as `target` with the library (no `hoist tag` here).
fn tag(sandbox: &Sandbox, manifest: &str, target: &str) {
    let content = ContentStore::open(&sandbox.root()).unwrap();
    let metadata = MetadataStore::open(&content).unwrap();
    metadata
        .add_tag(
            &Reference::parse(target).unwrap(),
            &Digest::parse(manifest).unwrap(),
            true,
        )
        .unwrap();
}

async fn pulled_image(sandbox: &Sandbox) -> (TestRegistry, hoist_testkit::Image, String) {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = ImageBuilder::new()
        .layer(Layer::from_files(&[("hello.txt", b"hello\n")]).unwrap())
        .layer(Layer::from_files(&[("world.txt", b"world\n")]).unwrap())
        .build()
        .unwrap();
    ImagePusher::new(&registry)
        .push_image("team/app", "v1", &image)
        .await
        .unwrap();
    let name = format!("{}/team/app:v1", registry.host());
    let out = sandbox.hoist(&["pull", "-q", &name]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    (registry, image, name)
}

fn short(digest: &str) -> &str {
    &digest.trim_start_matches("sha256:")[..12]
}

#[tokio::test]
async fn push_to_another_registry_prints_pushed_and_the_digest_line() {
    let sandbox = Sandbox::new();
    let (_source, image, _) = pulled_image(&sandbox).await;
    let target = TestRegistry::anonymous().await.unwrap();
    let dest = format!("{}/app:v1", target.host());
    tag(&sandbox, image.digest(), &dest);

    let out = sandbox.hoist(&["push", &dest]).await;

    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with(&format!(
        "The push refers to repository [{}/app]\n",
        target.host()
    )));
    for diff_id in &image.diff_ids {
        assert!(
            text.contains(&format!("{}: Pushed\n", short(diff_id))),
            "{text}"
        );
    }
    let digest_line = format!(
        "v1: digest: {} size: {}\n",
        image.digest(),
        image.manifest.size
    );
    assert!(text.ends_with(&digest_line), "{text}");
}

#[tokio::test]
async fn push_back_to_the_source_finds_every_layer() {
    let sandbox = Sandbox::new();
    let (_source, image, name) = pulled_image(&sandbox).await;

    let out = sandbox.hoist(&["push", &name]).await;

    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for diff_id in &image.diff_ids {
        assert!(
            text.contains(&format!("{}: Layer already exists\n", short(diff_id))),
            "{text}"
        );
    }
}

#[tokio::test]
async fn quiet_push_prints_only_the_reference() {
    let sandbox = Sandbox::new();
    let (_source, _image, name) = pulled_image(&sandbox).await;

    let out = sandbox.hoist(&["push", "-q", &name]).await;

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{name}\n"));
}

#[tokio::test]
async fn pushing_a_digest_reference_fails_with_one_line() {
    let sandbox = Sandbox::new();
    let (source, image, _) = pulled_image(&sandbox).await;
    let by_digest = format!("{}/team/app@{}", source.host(), image.digest());

    let out = sandbox.hoist(&["push", &by_digest]).await;

    assert!(!out.status.success());
    assert_eq!(
        stderr(&out),
        format!("Error: cannot push a digest reference: {by_digest}\n")
    );
}

#[tokio::test]
async fn loaded_image_pushed_with_compression_zstd_is_an_oci_image_with_zstd_layers() {
    let source = Sandbox::new();
    let (registry, image, name) = pulled_image(&source).await;
    let file = source.dir.path().join("image.tar");
    let out = source
        .hoist(&["save", "-o", file.to_str().unwrap(), &name])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let loaded = Sandbox::new();
    let out = loaded
        .hoist(&["load", "-q", "-i", file.to_str().unwrap()])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let target = format!("{}/team/zstd:v1", registry.host());
    let manifest = {
        let content = ContentStore::open(&loaded.root()).unwrap();
        let metadata = MetadataStore::open(&content).unwrap();
        metadata
            .reference(&Reference::parse(&name).unwrap())
            .unwrap()
            .unwrap()
            .manifest_digest
    };
    tag(&loaded, manifest.as_str(), &target);

    let out = loaded
        .hoist(&["push", "--compression", "zstd", &target])
        .await;

    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("v1: digest: sha256:"),
        "{}",
        stdout(&out)
    );
    let response = hoist_testkit::http_client()
        .unwrap()
        .get(format!("{}/v2/team/zstd/manifests/v1", registry.url()))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let json: serde_json::Value = response.json().await.unwrap();
    let layers = json["layers"].as_array().unwrap();
    assert_eq!(layers.len(), image.layers.len());
    for layer in layers {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
    }
    assert_eq!(json["config"]["digest"], image.config.digest.as_str());
}

#[tokio::test]
async fn unknown_compression_is_refused_by_the_parser() {
    let sandbox = Sandbox::new();
    let out = sandbox
        .hoist(&["push", "--compression", "lz4", "localhost:5000/app:v1"])
        .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("lz4"), "{}", stderr(&out));
}

/// Issue 11, bug 1, in the reported sequence: a tag that named one manifest is pushed as that
/// manifest, even after an unrelated import recorded the same manifest as a child of a whole
/// three-platform index (the image record's index then changes; the tag's must not).
#[tokio::test]
async fn a_tag_of_one_manifest_is_never_pushed_as_an_index_its_image_joined_later() {
    let sandbox = Sandbox::new();
    let registry = TestRegistry::anonymous().await.unwrap();
    let index = sandbox::push_index(&registry, "multi", &["amd64", "arm64", "s390x"]).await;
    let single = &index.images[0];
    ImagePusher::new(&registry)
        .push_image("many/layers", "latest", single)
        .await
        .unwrap();
    let host = registry.host();
    let run = |args: Vec<String>| {
        let sandbox = &sandbox;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = sandbox.hoist(&args).await;
            assert!(out.status.success(), "hoist {args:?}: {}", stderr(&out));
            stdout(&out)
        }
    };
    let t3 = format!("{host}/t3:a");
    run(vec![
        "pull".into(),
        "-q".into(),
        format!("{host}/many/layers:latest"),
    ])
    .await;
    run(vec![
        "tag".into(),
        format!("{host}/many/layers:latest"),
        t3.clone(),
    ])
    .await;
    let first = run(vec!["push".into(), t3.clone()]).await;
    assert!(first.contains(single.digest()), "{first}");

    let layout = sandbox.dir.path().join("layout");
    let oci = format!("oci:{}:v1", layout.display());
    run(vec![
        "copy".into(),
        format!("docker://{host}/multi:v1"),
        oci.clone(),
    ])
    .await;
    run(vec!["copy".into(), oci, "hoist:imported:v1".into()]).await;
    let second = run(vec!["push".into(), t3.clone()]).await;

    assert!(second.contains(single.digest()), "{second}");
    assert!(!second.contains(index.digest()), "{second}");
    let digest = run(vec!["digest".into(), t3]).await;
    assert_eq!(
        digest.trim(),
        single.digest(),
        "the registry serves t3:a as the one manifest"
    );
}

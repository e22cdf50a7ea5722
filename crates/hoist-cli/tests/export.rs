//! `hoist export` and the layer store through the built binary, against store roots prepared
//! through the library (blobs, image records, unpacked layers) with testkit-built images.

mod sandbox;

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use hoist::store::metadata::ImageRecord;
use hoist::store::LayerStore;
use hoist_testkit::store::SeededStore;
use hoist_testkit::{Image, ImageBuilder, Layer};
use sandbox::command_at;

/// A store seeded through the testkit with its layer store, and `hoist` run against it.
struct Store {
    seeded: SeededStore,
    layers: LayerStore,
}

impl std::ops::Deref for Store {
    type Target = SeededStore;
    fn deref(&self) -> &SeededStore {
        &self.seeded
    }
}

impl Store {
    fn new() -> Store {
        let seeded = SeededStore::new();
        let layers = LayerStore::open(Arc::clone(&seeded.meta)).unwrap();
        Store { seeded, layers }
    }

    /// Stores `image`, records and tags it, and (when `unpack`) unpacks its layers.
    fn put(&self, image: &Image, tag: &str, unpack: bool) -> ImageRecord {
        let record = self.seeded.put(image, &[tag]);
        if unpack {
            self.layers.register_image(&record).unwrap();
        }
        record
    }

    fn layer_dirs(&self) -> usize {
        std::fs::read_dir(self.root().join("layers"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name() != ".lock")
            .count()
    }

    fn hoist(&self, args: &[&str]) -> Output {
        command_at(&self.root(), self.dir.path(), args)
            .output()
            .unwrap()
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn image() -> Image {
    let base = Layer::builder()
        .file("kept", b"kept")
        .file("removed", b"removed")
        .build()
        .unwrap();
    let top = Layer::builder()
        .whiteout("removed")
        .file("added", b"added")
        .build()
        .unwrap();
    ImageBuilder::new().layer(base).layer(top).build().unwrap()
}

fn assert_rootfs(dir: &Path) {
    assert_eq!(std::fs::read(dir.join("kept")).unwrap(), b"kept");
    assert_eq!(std::fs::read(dir.join("added")).unwrap(), b"added");
    assert!(!dir.join("removed").exists());
    assert!(!dir.join(".wh.removed").exists());
}

#[test]
fn export_writes_the_flattened_rootfs_from_layers_and_from_blobs() {
    let store = Store::new();
    store.put(&image(), "example.com/app:layers", true);
    let out = store.dir.path().join("out-layers");
    let result = store.hoist(&["export", "example.com/app:layers", out.to_str().unwrap()]);
    assert!(result.status.success(), "{}", stderr(&result));
    assert_rootfs(&out);

    // The same image, its layers gone: exported from the blobs.
    std::fs::remove_dir_all(store.root().join("layers")).unwrap();
    let out = store.dir.path().join("out-blobs");
    let result = store.hoist(&["export", "example.com/app:layers", out.to_str().unwrap()]);
    assert!(result.status.success(), "{}", stderr(&result));
    assert_rootfs(&out);
}

#[test]
fn export_into_a_non_empty_directory_fails_with_one_line_unless_forced() {
    let store = Store::new();
    store.put(&image(), "example.com/app:v1", true);
    let out = store.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("mine"), b"mine").unwrap();

    let refused = store.hoist(&["export", "example.com/app:v1", out.to_str().unwrap()]);
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(
        message.contains("is not empty") && message.contains("--force"),
        "{message}"
    );
    assert!(!out.join("kept").exists());

    let forced = store.hoist(&[
        "export",
        "--force",
        "example.com/app:v1",
        out.to_str().unwrap(),
    ]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_rootfs(&out);
    assert!(out.join("mine").exists());
}

#[test]
fn export_reads_layouts_dirs_and_archives_without_storing_them() {
    let store = Store::new();
    store.put(&image(), "example.com/app:v1", true);
    let at = |name: &str| store.dir.path().join(name).to_str().unwrap().to_owned();
    let sources = [
        format!("oci:{}:v1", at("layout")),
        format!("oci-archive:{}:v1", at("layout.tar")),
        format!("dir:{}", at("dir")),
        format!("docker-archive:{}:example.com/app:v1", at("saved.tar")),
    ];
    for source in &sources {
        let copied = store.hoist(&["copy", "hoist:example.com/app:v1", source]);
        assert!(copied.status.success(), "{source}: {}", stderr(&copied));
    }
    let images = || store.hoist(&["images", "-q", "--no-trunc"]).stdout;
    let before = images();

    for (n, source) in sources.iter().enumerate() {
        let out = at(&format!("rootfs-{n}"));
        let result = store.hoist(&["export", source, &out]);
        assert!(result.status.success(), "{source}: {}", stderr(&result));
        assert_rootfs(Path::new(&out));
    }
    assert_eq!(images(), before, "nothing is stored");

    // `hoist:REF` is the store, as in `hoist copy`.
    let out = at("rootfs-store");
    let result = store.hoist(&["export", "hoist:example.com/app:v1", &out]);
    assert!(result.status.success(), "{}", stderr(&result));
    assert_rootfs(Path::new(&out));

    // A transport hoist does not have is refused by name, with the ones that exist.
    let foreign = store.hoist(&["export", "containers-storage:app", &at("none")]);
    assert!(!foreign.status.success());
    let message = stderr(&foreign);
    assert!(
        message.contains("unknown transport") && message.contains("oci:PATH"),
        "{message}"
    );
    assert!(!Path::new(&at("none")).exists());
}

#[test]
fn a_policy_judges_a_layout_under_the_oci_transports_scopes() {
    let store = Store::new();
    store.put(&image(), "example.com/app:v1", true);
    let at = |name: &str| store.dir.path().join(name).to_str().unwrap().to_owned();
    let layout = format!("oci:{}:v1", at("layout"));
    let copied = store.hoist(&["copy", "hoist:example.com/app:v1", &layout]);
    assert!(copied.status.success(), "{}", stderr(&copied));
    let policy = at("policy.json");
    std::fs::write(
        &policy,
        r#"{"default": [{"type": "insecureAcceptAnything"}],
            "transports": {"oci": {"": [{"type": "reject"}]}}}"#,
    )
    .unwrap();

    let refused = store.hoist(&["export", "--policy", &policy, &layout, &at("rootfs")]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("reject"), "{}", stderr(&refused));
    assert!(!Path::new(&at("rootfs")).exists(), "nothing written");

    let accepting = at("accepting.json");
    std::fs::write(
        &accepting,
        r#"{"default": [{"type": "insecureAcceptAnything"}]}"#,
    )
    .unwrap();
    let exported = store.hoist(&["export", "--policy", &accepting, &layout, &at("rootfs")]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    assert_rootfs(Path::new(&at("rootfs")));
}

#[test]
fn rmi_deletes_the_layers_only_the_removed_image_held() {
    let store = Store::new();
    let base = Layer::from_files(&[("base", b"base")]).unwrap();
    let on = |top: &str| {
        ImageBuilder::new()
            .layer(base.clone())
            .layer(Layer::from_files(&[(top, top.as_bytes())]).unwrap())
            .build()
            .unwrap()
    };
    store.put(&on("one"), "example.com/one:v1", true);
    store.put(&on("two"), "example.com/two:v1", true);
    assert_eq!(store.layer_dirs(), 3);

    let result = store.hoist(&["rmi", "example.com/two:v1"]);

    assert!(result.status.success(), "{}", stderr(&result));
    assert_eq!(store.layer_dirs(), 2);
    let out = store.dir.path().join("out");
    let exported = store.hoist(&["export", "example.com/one:v1", out.to_str().unwrap()]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    assert!(out.join("one").exists() && out.join("base").exists());
}

/// The hidden siblings an export to `out` writes into (`.out.hoist-export-…`).
fn siblings(out: &Path) -> Vec<std::path::PathBuf> {
    let prefix = format!(
        ".{}.hoist-export-",
        out.file_name().unwrap().to_str().unwrap()
    );
    std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(&prefix)
        })
        .collect()
}

#[tokio::test]
async fn an_export_killed_midway_leaves_no_tree_and_the_rerun_needs_no_force() {
    let registry = hoist_testkit::TestRegistry::anonymous().await.unwrap();
    let image = ImageBuilder::new()
        .layer(Layer::from_files(&[("kept", b"kept")]).unwrap())
        .layer(Layer::random(24 << 20).unwrap())
        .build()
        .unwrap();
    hoist_testkit::ImagePusher::new(&registry)
        .push_image("big", "v1", &image)
        .await
        .unwrap();
    // 4 MB/s: the 24 MiB layer takes seconds, so the kill lands mid-way.
    let proxy = hoist_testkit::FaultProxy::start(&registry).await.unwrap();
    proxy.rule(hoist_testkit::Rule::get_blob().throttle(4_000_000));
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("rootfs");
    let reference = format!("docker://{}/big:v1", proxy.host());
    let args = ["export", reference.as_str(), out.to_str().unwrap()];
    let root = home.path().join("root");

    let mut first = command_at(&root, home.path(), &args).spawn().unwrap();
    // Killed once the first layer is in the sibling: the second is still arriving.
    let sibling = loop {
        if let Some(sibling) = siblings(&out).pop().filter(|s| s.join("kept").exists()) {
            first.kill().unwrap(); // SIGKILL: no cleanup runs
            first.wait().unwrap();
            break sibling;
        }
        assert!(
            first.try_wait().unwrap().is_none(),
            "the export ended first"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    assert!(!out.exists(), "no half tree at the target");
    assert!(sibling.exists());

    proxy.clear_rules();
    let second = command_at(&root, home.path(), &args).output().unwrap();
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(std::fs::read(out.join("kept")).unwrap(), b"kept");
    assert_eq!(
        siblings(&out),
        Vec::<std::path::PathBuf>::new(),
        "the killed one's removed"
    );
}

/// `tar -x` of `bytes` into a new directory `dir`.
fn untar(bytes: &[u8], dir: &Path) {
    std::fs::create_dir(dir).unwrap();
    let tar = dir.with_extension("tar");
    std::fs::write(&tar, bytes).unwrap();
    let status = std::process::Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn export_to_dash_writes_the_flattened_tar_on_stdout_from_the_store_or_a_registry() {
    let store = Store::new();
    store.put(&image(), "example.com/app:v1", false);
    let result = store.hoist(&["export", "example.com/app:v1", "-"]);
    assert!(result.status.success(), "{}", stderr(&result));
    let out = store.dir.path().join("from-store");
    untar(&result.stdout, &out);
    assert_rootfs(&out);

    let registry = hoist_testkit::TestRegistry::anonymous().await.unwrap();
    hoist_testkit::ImagePusher::new(&registry)
        .push_image("app", "v1", &image())
        .await
        .unwrap();
    let reference = format!("docker://{}/app:v1", registry.host());
    let result = store.hoist(&["export", &reference, "-"]);
    assert!(result.status.success(), "{}", stderr(&result));
    let out = store.dir.path().join("from-registry");
    untar(&result.stdout, &out);
    assert_rootfs(&out);
}

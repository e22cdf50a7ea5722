//! Issue 15 finding 9: `hoist export` from the layer store, from the blobs and straight from
//! the registry (nothing stored) give one tree, the one `umoci unpack` gives, where a layer directory and its tar used to disagree: a
//! lower layer's symlink under which a higher layer puts files without naming their
//! directory, the image's `./` entry, and a target that is a symlink.

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use hoist::copy::RegistryImage;
use hoist::export::{
    export_from_source, export_image, ExportOptions, ExportReport, ExportSource, SourceExport,
};
use hoist::store::metadata::ImageRecord;
use hoist::transfer::RetryPolicy;
use hoist_testkit::tree::{differences, snapshot};
use hoist_testkit::{Attrs, Image, ImageBuilder, Layer, TestRegistry};
use support::layers::{umoci_rootfs, LayeredStore};
use support::pull::{anonymous_client, push, reference};

/// Mode, owner and group of a directory itself.
fn own_attrs(path: &Path) -> (u32, u32, u32) {
    let meta = std::fs::metadata(path).unwrap();
    (meta.mode() & 0o7777, meta.uid(), meta.gid())
}

fn image() -> Image {
    let lower = Layer::builder()
        .dir("usr")
        .dir("usr/lib")
        .file("usr/lib/a", b"a")
        .dir_with("opt", 0o700, Attrs::default())
        .symlink("lib", "usr/lib")
        .symlink("abs", "/usr/lib")
        .build()
        .unwrap();
    let upper = Layer::builder()
        .dir_with(".", 0o750, Attrs::owner(1000, 1000))
        // No `lib/`, `abs/` or `opt/` entries: their parents are resolved, not replaced.
        .file("lib/b", b"b")
        .file("abs/c", b"c")
        .whiteout("lib/a")
        .file("opt/d", b"d")
        .build()
        .unwrap();
    ImageBuilder::new()
        .layer(lower)
        .layer(upper)
        .build()
        .unwrap()
}

fn export(store: &LayeredStore, record: &ImageRecord, out: &Path, layers: bool) -> ExportReport {
    let options = ExportOptions {
        prefer_layers: layers,
        ..ExportOptions::default()
    };
    export_image(&store.meta, Some(&store.layers), record, out, &options).unwrap()
}

/// `hoist export docker://…`: the image read from the registry, nothing stored.
async fn export_remote(registry: &TestRegistry, name: &str, out: &Path) -> ExportReport {
    let client = anonymous_client();
    let reference = reference(registry, name);
    let source = RegistryImage::new(&client, &reference);
    let what = SourceExport {
        platform: None,
        verify: None,
        retry: RetryPolicy::default(),
        downloads: 3,
    };
    export_from_source(&source, &what, out, &ExportOptions::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn both_routes_resolve_implicit_parents_and_apply_the_root_entry_as_umoci() {
    let registry = TestRegistry::anonymous().await.unwrap();
    push(&registry, "routes", "v1", &image()).await;
    let work = tempfile::tempdir().unwrap();
    let expected = umoci_rootfs(&registry, "routes:v1", work.path());
    let want = snapshot(&expected).unwrap();
    assert_eq!(
        want[Path::new("lib")].kind,
        "symlink",
        "umoci keeps the link: {want:?}"
    );
    assert!(want.contains_key(Path::new("usr/lib/c")), "{want:?}");

    let store = LayeredStore::new();
    let record = store.pull(&reference(&registry, "routes:v1"), true).await;
    for source in [
        ExportSource::Layers,
        ExportSource::Blobs,
        ExportSource::Source,
    ] {
        let out = work.path().join(format!("out-{source:?}"));
        let report = match source {
            ExportSource::Source => export_remote(&registry, "routes:v1", &out).await,
            _ => export(&store, &record, &out, source == ExportSource::Layers),
        };
        assert_eq!(report.source, source);
        let diffs = differences(&want, &snapshot(&out).unwrap());
        assert!(
            diffs.is_empty(),
            "{source:?} differs from umoci:\n{}",
            diffs.join("\n")
        );
        assert_eq!(
            own_attrs(&out),
            own_attrs(&expected),
            "{source:?}: the root's ./ entry"
        );
    }
}

#[tokio::test]
async fn both_routes_follow_a_target_that_is_a_symlink() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let small = ImageBuilder::new()
        .layer(Layer::from_files(&[("a", b"a")]).unwrap())
        .build()
        .unwrap();
    push(&registry, "small", "v1", &small).await;
    let store = LayeredStore::new();
    let record = store.pull(&reference(&registry, "small:v1"), true).await;
    let work = tempfile::tempdir().unwrap();
    for route in ["layers", "blobs", "source"] {
        let real = work.path().join(format!("real-{route}"));
        std::fs::create_dir(&real).unwrap();
        let link = work.path().join(format!("link-{route}"));
        std::os::unix::fs::symlink(&real, &link).unwrap();
        match route {
            "source" => drop(export_remote(&registry, "small:v1", &link).await),
            _ => drop(export(&store, &record, &link, route == "layers")),
        }
        assert_eq!(std::fs::read(real.join("a")).unwrap(), b"a", "{route}");
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    }
}

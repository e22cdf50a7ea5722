//! `hoist export` produces the same root filesystem as `umoci unpack` of the same image:
//! paths, types, modes (setuid/setgid/sticky), owners, sizes, content, link targets, xattrs,
//! hardlink groups — from the unpacked layers and from the blobs alone. The image has
//! whiteouts, an opaque directory, hardlinks, symlinks, long names, special bits, xattrs,
//! owners, a set-group-ID directory with root's entries below it, and a FIFO.

mod support;

use std::path::Path;

use hoist::export::{export_image, ExportError, ExportOptions, ExportSource};
use hoist::unpack::{Privileges, UnpackMode, UnpackOptions, WhiteoutFormat};
use hoist_testkit::tree::{differences, snapshot};
use hoist_testkit::{Attrs, Image, ImageBuilder, Layer, TestRegistry};
use support::layers::{is_root, umoci_rootfs, LayeredStore};
use support::pull::{push, reference};

fn long_name() -> String {
    format!("opt/{}", "n".repeat(180))
}

fn image() -> Image {
    let long_dir = format!("opt/{}", "d".repeat(120));
    let mut user = Attrs::owner(1000, 1000).xattr("user.origin", b"base");
    if is_root() {
        user = user.xattr("trusted.hoist", b"t");
    }
    let base = Layer::builder()
        .dir("etc")
        .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
        .file("etc/removed", b"gone in layer 1")
        .dir("usr")
        .dir("usr/bin")
        .file_mode("usr/bin/tool", b"#!/bin/sh\necho tool\n", 0o4755)
        .file_mode("usr/bin/group-tool", b"sgid", 0o2711)
        .hardlink("usr/bin/tool-link", "usr/bin/tool")
        .symlink("usr/bin/sh", "tool")
        .dir_with("tmp", 0o1777, Attrs::default())
        .dir_with("home", 0o755, Attrs::default())
        .dir_with("home/user", 0o750, Attrs::owner(1000, 1000))
        .file_with("home/user/.profile", b"export A=1\n", 0o640, user)
        .dir("var")
        .dir("var/cache")
        .file("var/cache/old-a", b"a")
        .dir("var/cache/sub")
        .file("var/cache/sub/old-b", b"b")
        .fifo("var/pipe")
        .dir("opt")
        .file(&long_name(), b"long name")
        .dir(&long_dir)
        .symlink(
            &format!("{long_dir}/link"),
            &format!("/{}/{}", "t".repeat(80), "u".repeat(80)),
        )
        .dir("srv")
        .file("srv/data", b"srv")
        .dir_with("shared", 0o2775, Attrs::owner(0, 1000))
        .build()
        .unwrap();
    let middle = Layer::builder()
        .dir("etc")
        .whiteout("etc/removed")
        .file(
            "etc/passwd",
            b"root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n",
        )
        .dir("var")
        .dir("var/cache")
        .opaque("var/cache")
        .file("var/cache/new", b"only this survives")
        .whiteout("srv")
        .dir("usr")
        .dir("usr/bin")
        .file_mode("usr/bin/sh", b"a file where a symlink was", 0o755)
        .build()
        .unwrap();
    let top = Layer::builder()
        .file("srv", b"srv is a file now")
        .dir("etc")
        .file("etc/removed", b"back again")
        .dir_with("tmp", 0o1777, Attrs::default())
        .file_with(
            "tmp/owned",
            b"x",
            0o600,
            Attrs::owner(12, 34).mtime(1_700_000_000),
        )
        // Into a set-group-ID directory of a lower layer: what is created there takes its
        // group, so root's entries must still be chowned to the tar's 0:0.
        .dir_with("shared", 0o2775, Attrs::owner(0, 1000))
        .file("shared/root-file", b"group 0, not 1000")
        .dir("shared/sub")
        .file("shared/sub/deeper", b"also group 0")
        .symlink("shared/link", "root-file")
        .build()
        .unwrap();
    ImageBuilder::new()
        .layer(base)
        .layer(middle)
        .layer(top)
        .build()
        .unwrap()
}

async fn setup() -> (
    TestRegistry,
    LayeredStore,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let registry = TestRegistry::anonymous().await.unwrap();
    push(&registry, "rootfs", "v1", &image()).await;
    let work = tempfile::tempdir().unwrap();
    let expected = umoci_rootfs(&registry, "rootfs:v1", work.path());
    (registry, LayeredStore::new(), work, expected)
}

fn assert_same_tree(expected: &Path, actual: &Path) {
    let want = snapshot(expected).unwrap();
    let got = snapshot(actual).unwrap();
    assert!(
        want.len() > 20,
        "umoci's rootfs is suspiciously small: {want:?}"
    );
    let diffs = differences(&want, &got);
    assert!(
        diffs.is_empty(),
        "export differs from umoci:\n{}",
        diffs.join("\n")
    );
}

#[tokio::test]
async fn export_from_unpacked_layers_matches_umoci() {
    let (registry, store, work, expected) = setup().await;
    let record = store.pull(&reference(&registry, "rootfs:v1"), true).await;
    assert_eq!(store.layer_dirs().len(), 3, "{:?}", store.layer_dirs());

    let out = work.path().join("export");
    let report = export_image(
        &store.meta,
        Some(&store.layers),
        &record,
        &out,
        &ExportOptions::default(),
    )
    .unwrap();

    assert_eq!(report.source, ExportSource::Layers);
    assert_same_tree(&expected, &out);
}

#[tokio::test]
async fn export_from_blobs_alone_matches_umoci() {
    let (registry, store, work, expected) = setup().await;
    let record = store.pull(&reference(&registry, "rootfs:v1"), false).await;
    assert!(
        store.layer_dirs().is_empty(),
        "--no-unpack unpacked: {:?}",
        store.layer_dirs()
    );

    let out = work.path().join("export");
    let report = export_image(
        &store.meta,
        Some(&store.layers),
        &record,
        &out,
        &ExportOptions::default(),
    )
    .unwrap();

    assert_eq!(report.source, ExportSource::Blobs);
    assert_same_tree(&expected, &out);
}

/// Layers unpacked the unprivileged way (marker-file whiteouts, ownership only recorded) and
/// exported without chown: the same tree as umoci's except owners.
#[tokio::test]
async fn export_from_rootless_marker_layers_matches_umoci_except_owners() {
    let registry = TestRegistry::anonymous().await.unwrap();
    push(&registry, "rootfs", "v1", &image()).await;
    let work = tempfile::tempdir().unwrap();
    let expected = umoci_rootfs(&registry, "rootfs:v1", work.path());
    let rootless = UnpackOptions {
        privileges: Privileges::Rootless,
        whiteouts: WhiteoutFormat::Marker,
        ..UnpackOptions::diff()
    };
    let store = LayeredStore::with_options(rootless.clone());
    let record = store.pull(&reference(&registry, "rootfs:v1"), true).await;
    let layer_dirs: Vec<_> = store
        .layer_dirs()
        .iter()
        .map(|d| store.root().join("layers").join(d))
        .collect();
    assert!(
        layer_dirs
            .iter()
            .any(|d| d.join("diff/var/cache/.wh..wh..opq").exists()),
        "no marker-format opaque directory in {layer_dirs:?}"
    );
    let unapplied: String = layer_dirs
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.join("unapplied.jsonl")).ok())
        .collect();
    assert!(
        unapplied.contains("\"path\":\"home/user\"") && unapplied.contains("\"uid\":1000"),
        "ownership not recorded next to the layer: {unapplied}"
    );

    let out = work.path().join("export");
    let options = ExportOptions {
        unpack: UnpackOptions {
            mode: UnpackMode::Apply,
            ..rootless
        },
        ..ExportOptions::default()
    };
    let report = export_image(&store.meta, Some(&store.layers), &record, &out, &options).unwrap();

    assert_eq!(report.source, ExportSource::Layers);
    let without_owners = |root: &Path| {
        let mut tree = snapshot(root).unwrap();
        for node in tree.values_mut() {
            node.uid = 0;
            node.gid = 0;
        }
        tree
    };
    let diffs = differences(&without_owners(&expected), &without_owners(&out));
    assert!(
        diffs.is_empty(),
        "export differs from umoci:\n{}",
        diffs.join("\n")
    );
}

#[tokio::test]
async fn export_refuses_a_non_empty_directory_unless_forced() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let small = ImageBuilder::new()
        .layer(Layer::from_files(&[("a", b"a")]).unwrap())
        .build()
        .unwrap();
    push(&registry, "small", "v1", &small).await;
    let store = LayeredStore::new();
    let record = store.pull(&reference(&registry, "small:v1"), true).await;
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("keep"), b"mine").unwrap();

    let err = export_image(
        &store.meta,
        Some(&store.layers),
        &record,
        out.path(),
        &ExportOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ExportError::NotEmpty { .. }), "{err:?}");
    assert!(!out.path().join("a").exists());

    let forced = ExportOptions {
        force: true,
        ..ExportOptions::default()
    };
    export_image(
        &store.meta,
        Some(&store.layers),
        &record,
        out.path(),
        &forced,
    )
    .unwrap();
    assert_eq!(std::fs::read(out.path().join("a")).unwrap(), b"a");
    assert_eq!(std::fs::read(out.path().join("keep")).unwrap(), b"mine");
}

#[tokio::test]
async fn export_is_an_independent_copy_of_the_layer_store() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let small = ImageBuilder::new()
        .layer(Layer::from_files(&[("a", b"original")]).unwrap())
        .build()
        .unwrap();
    push(&registry, "small", "v1", &small).await;
    let store = LayeredStore::new();
    let record = store.pull(&reference(&registry, "small:v1"), true).await;
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("rootfs");
    export_image(
        &store.meta,
        Some(&store.layers),
        &record,
        &target,
        &ExportOptions::default(),
    )
    .unwrap();

    std::fs::write(target.join("a"), b"edited").unwrap();

    let layer = store.root().join("layers").join(&store.layer_dirs()[0]);
    assert_eq!(std::fs::read(layer.join("diff/a")).unwrap(), b"original");
}

/// Issue 5's round trip: pulled from registry A, tagged for registry B and pushed there, the
/// image keeps its manifest digest (no recompression), and `skopeo copy` + `umoci unpack` of
/// B's copy gives the same tree as of A's.
#[tokio::test]
async fn pushed_copy_unpacks_to_the_same_tree_with_the_same_digests() {
    let (source, store, work, expected) = setup().await;
    let target = TestRegistry::anonymous().await.unwrap();
    let record = store.pull(&reference(&source, "rootfs:v1"), true).await;
    let dest =
        hoist::reference::Reference::parse(&format!("{}/copy/rootfs:v2", target.host())).unwrap();
    store
        .meta
        .add_tag(&dest, &record.manifest_digest, true)
        .unwrap();

    let content = hoist::store::ContentStore::open(&store.root()).unwrap();
    let pusher = hoist::push::Pusher::new(
        support::pull::anonymous_client(),
        content.clone(),
        hoist::store::MetadataStore::open(&content).unwrap(),
        hoist::push::PushOptions::default(),
    );
    let outcome = pusher
        .push(&dest, &support::pull::Recorder::default())
        .await
        .unwrap();

    assert_eq!(outcome.tags[0].digest, record.manifest_digest);
    let pushed = work.path().join("pushed");
    std::fs::create_dir(&pushed).unwrap();
    let actual = umoci_rootfs(&target, "copy/rootfs:v2", &pushed);
    assert_same_tree(&expected, &actual);
}

fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().blocks() * 512
}

/// Issue 15 finding 5: a layer holding a large zero-filled file costs no disk in the layer
/// store (all-zero blocks are holes) and must cost none in an export either, from the
/// layers (extent-wise copy) or from the blobs (holes while unpacking).
#[tokio::test]
async fn export_keeps_sparse_files_sparse() {
    const SIZE: usize = 32 << 20;
    let registry = TestRegistry::anonymous().await.unwrap();
    let zeros = vec![0u8; SIZE];
    let mut tail = vec![0u8; SIZE];
    tail[SIZE - 1] = 1; // data after a long hole
    let sparse = ImageBuilder::new()
        .layer(Layer::from_files(&[("zeros", &zeros), ("tail", &tail)]).unwrap())
        .build()
        .unwrap();
    push(&registry, "sparse", "v1", &sparse).await;
    let store = LayeredStore::new();
    let record = store.pull(&reference(&registry, "sparse:v1"), true).await;
    let layer = store.root().join("layers").join(&store.layer_dirs()[0]);
    assert!(allocated(&layer.join("diff/zeros")) < 1 << 20);

    for prefer_layers in [true, false] {
        let out = tempfile::tempdir().unwrap();
        let options = ExportOptions {
            prefer_layers,
            ..ExportOptions::default()
        };
        export_image(
            &store.meta,
            Some(&store.layers),
            &record,
            out.path(),
            &options,
        )
        .unwrap();
        for (name, content) in [("zeros", &zeros), ("tail", &tail)] {
            let path = out.path().join(name);
            assert_eq!(&std::fs::read(&path).unwrap(), content, "{name}");
            assert!(
                allocated(&path) < 1 << 20,
                "{name} (layers: {prefer_layers}) takes {} bytes of disk",
                allocated(&path)
            );
        }
    }
}

/// A failed export leaves nothing half-made: the directory it created is removed, an empty
/// directory it was given is emptied again.
#[tokio::test]
async fn a_failed_export_removes_what_it_wrote() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let two = ImageBuilder::new()
        .layer(Layer::from_files(&[("first", b"applied before the failure")]).unwrap())
        .layer(Layer::from_files(&[("second", b"never applied")]).unwrap())
        .build()
        .unwrap();
    push(&registry, "two", "v1", &two).await;
    let store = LayeredStore::new();
    let record = store.pull(&reference(&registry, "two:v1"), false).await;
    // The second layer's blob rots on disk: the blob path applies the first, then fails.
    let blob = &record.layers[1].digest;
    let path = store.root().join("blobs/sha256").join(blob.hex());
    std::fs::write(&path, b"not a gzip stream").unwrap();

    let work = tempfile::tempdir().unwrap();
    let created = work.path().join("rootfs");
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for target in [&created, &empty] {
        export_image(
            &store.meta,
            None,
            &record,
            target,
            &ExportOptions::default(),
        )
        .unwrap_err();
    }
    assert!(!created.exists(), "the directory the export made is gone");
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "the given one is empty"
    );
}

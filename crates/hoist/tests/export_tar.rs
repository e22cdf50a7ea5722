//! `hoist export REF -` (`export_tar`): the flattened tar of a stored image, extracted by GNU
//! tar, gives the tree the directory export gives — whiteouts, opaque directories, a file
//! replaced by a directory and back, hard links within a layer, to a lower layer, and to a
//! file a higher layer replaced, long names, xattrs, owners and modes — and the cases the
//! top-down stream cannot write are refused.

mod support;

use std::path::Path;
use std::process::Command;

use hoist::export::{
    export_image, export_tar, export_tar_from_source, ExportError, ExportOptions, FlattenError,
};
use hoist::store::metadata::ImageRecord;
use hoist_testkit::tree::{differences, snapshot};
use hoist_testkit::{Attrs, Image, ImageBuilder, Layer};
use support::layers::{is_root, LayeredStore};

fn image() -> Image {
    let long = format!("deep/{}/file", "d".repeat(180));
    let bottom = Layer::builder()
        .dir_with(".", 0o755, Attrs::default())
        .dir("etc")
        .file("etc/passwd", b"root:x:0:0")
        .file("etc/removed", b"removed")
        .dir("opt")
        .file("opt/a", b"a")
        .dir("opt/sub")
        .file("opt/sub/b", b"b")
        .dir("bin")
        .file_mode("bin/perl", b"perl 5.36", 0o755)
        .hardlink("bin/perl5.36", "bin/perl")
        .dir("usr")
        .dir("usr/lib")
        .file("usr/lib/libc", b"libc")
        .symlink("lib", "usr/lib")
        .file("becomes_dir", b"a file first")
        .dir("becomes_file")
        .file("becomes_file/child", b"gone")
        .dir_with("keep", 0o700, Attrs::owner(1000, 1000))
        .file_with(
            "keep/x",
            b"x",
            0o640,
            Attrs::owner(1000, 1001).xattr("user.note", b"kept"),
        )
        .file(&long, b"long")
        .fifo("pipe")
        .build()
        .unwrap();
    let middle = Layer::builder()
        .whiteout("etc/removed")
        .dir("opt")
        .opaque("opt")
        .file("opt/c", b"c")
        .dir("bin")
        // Replaces perl; bin/perl5.36 keeps the old content (it links the old inode).
        .file_mode("bin/perl", b"perl 5.38", 0o755)
        .hardlink("libc-link", "usr/lib/libc")
        .dir("becomes_dir")
        .file("becomes_dir/child", b"child")
        .file("becomes_file", b"now a file")
        .build()
        .unwrap();
    let top = Layer::builder()
        .hardlink("libc-link2", "libc-link")
        .file("etc/passwd", b"root:x:0:0\nuser:x:1000:1000")
        .whiteout("pipe")
        .build()
        .unwrap();
    ImageBuilder::new()
        .layer(bottom)
        .layer(middle)
        .layer(top)
        .build()
        .unwrap()
}

fn stored(image: &Image) -> (LayeredStore, ImageRecord) {
    let store = LayeredStore::new();
    let record = hoist_testkit::store::put(&store.meta, image, &["example.com/app:v1"]);
    (store, record)
}

/// The image exported as a tar, extracted by GNU tar into `dir`.
fn extract_tar(store: &LayeredStore, record: &ImageRecord, dir: &Path) {
    let tar = dir.with_extension("tar");
    let file = std::fs::File::create(&tar).unwrap();
    export_tar(&store.meta, record, std::io::BufWriter::new(file)).unwrap();
    std::fs::create_dir(dir).unwrap();
    let status = Command::new("tar")
        .args([
            "-x",
            "-p",
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=*",
            "-f",
        ])
        .arg(&tar)
        .arg("-C")
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn the_tar_extracts_to_the_tree_the_directory_export_writes() {
    if !is_root() {
        eprintln!("skipped: owners are only applied as root");
        return;
    }
    let (store, record) = stored(&image());
    let work = tempfile::tempdir().unwrap();
    let exported = work.path().join("exported");
    let options = ExportOptions {
        prefer_layers: false,
        ..ExportOptions::default()
    };
    export_image(&store.meta, None, &record, &exported, &options).unwrap();
    let extracted = work.path().join("extracted");
    extract_tar(&store, &record, &extracted);

    let expected = snapshot(&exported).unwrap();
    let got = snapshot(&extracted).unwrap();
    assert_eq!(differences(&expected, &got), Vec::<String>::new());
    // What the comparison rests on, checked directly.
    assert_eq!(
        std::fs::read(extracted.join("bin/perl5.36")).unwrap(),
        b"perl 5.36"
    );
    assert_eq!(
        std::fs::read(extracted.join("bin/perl")).unwrap(),
        b"perl 5.38"
    );
    assert!(!extracted.join("opt/a").exists() && !extracted.join("opt/sub").exists());
    assert!(!extracted.join("etc/removed").exists() && !extracted.join("pipe").exists());
    assert!(!extracted.join("becomes_file/child").exists());
    assert_eq!(
        std::fs::read(extracted.join("libc-link2")).unwrap(),
        b"libc"
    );
}

#[test]
fn a_lower_symlink_under_a_higher_layers_implicit_directory_is_refused() {
    let lower = Layer::builder()
        .dir("usr")
        .dir("usr/lib")
        .symlink("lib", "usr/lib")
        .build()
        .unwrap();
    // No `lib/` entry: the directory export writes usr/lib/b through the symlink.
    let upper = Layer::builder().file("lib/b", b"b").build().unwrap();
    let image = ImageBuilder::new()
        .layer(lower)
        .layer(upper)
        .build()
        .unwrap();
    let (store, record) = stored(&image);
    let err = export_tar(&store.meta, &record, std::io::sink()).unwrap_err();
    assert!(
        matches!(
            err,
            ExportError::Flatten(FlattenError::ParentReplaced { ref path, upper: 1, lower: 0 })
                if path == "lib"
        ),
        "{err:?}"
    );
}

#[test]
fn a_link_to_a_path_a_layer_between_deleted_is_refused() {
    let bottom = Layer::from_files(&[("target", b"t")]).unwrap();
    let middle = Layer::builder().whiteout("target").build().unwrap();
    let top = Layer::builder().hardlink("link", "target").build().unwrap();
    let image = ImageBuilder::new()
        .layer(bottom)
        .layer(middle)
        .layer(top)
        .build()
        .unwrap();
    let (store, record) = stored(&image);
    let err = export_tar(&store.meta, &record, std::io::sink()).unwrap_err();
    let message = format!("{err}");
    assert!(
        message.contains("\"link\"") && message.contains("\"target\""),
        "{message}"
    );
}

#[test]
fn a_blob_that_does_not_decompress_to_its_diff_id_fails_the_export() {
    let (store, mut record) = stored(&image());
    record.layers[0].diff_id = hoist::digest::Digest::sha256_of(b"another layer");
    let err = export_tar(&store.meta, &record, std::io::sink()).unwrap_err();
    assert!(
        format!("{err}").contains("diffID") || format!("{err:?}").contains("DiffIdMismatch"),
        "{err:?}"
    );
}

/// `export_tar_from_source` of `name` at `host` into a buffer.
async fn tar_from(host: &str, name: &str) -> Result<Vec<u8>, ExportError> {
    let client = support::pull::anonymous_client();
    let reference = hoist::reference::Reference::parse(&format!("{host}/{name}")).unwrap();
    let source = hoist::copy::RegistryImage::new(&client, &reference);
    let what = hoist::export::SourceExport {
        platform: None,
        verify: None,
        retry: hoist::transfer::RetryPolicy::default(),
        downloads: 3,
    };
    let out = Shared::default();
    let (report, _) = export_tar_from_source(&source, &what, out.clone()).await?;
    assert_eq!(report.layers, 3);
    let bytes = out.0.lock().unwrap().clone();
    Ok(bytes)
}

/// A buffer the export writes into while the test keeps a handle on it.
#[derive(Clone, Default)]
struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn from_a_registry_the_tar_is_the_stored_images_and_a_changed_byte_fails_it() {
    let registry = hoist_testkit::TestRegistry::anonymous().await.unwrap();
    let image = image();
    support::pull::push(&registry, "team/app", "v1", &image).await;
    let (store, record) = stored(&image);
    let mut stored_tar = Vec::new();
    export_tar(&store.meta, &record, &mut stored_tar).unwrap();
    let from_registry = tar_from(&registry.host(), "team/app:v1").await.unwrap();
    assert!(
        from_registry == stored_tar,
        "the same bytes, entry for entry"
    );

    // A byte of the top layer's gzip header changed on the way: only its digest can tell.
    let proxy = hoist_testkit::FaultProxy::start(&registry).await.unwrap();
    let top = &image.layers[2].digest;
    let path = format!("/v2/team/app/blobs/{top}");
    proxy.rule(hoist_testkit::Rule::matching(&format!("GET {path}")).corrupt_byte(5));
    let message = format!(
        "{:?}",
        tar_from(&proxy.host(), "team/app:v1").await.unwrap_err()
    );
    assert!(
        message.contains(top.trim_start_matches("sha256:")),
        "{message}"
    );
}

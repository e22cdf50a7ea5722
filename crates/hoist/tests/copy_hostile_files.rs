//! Hostile file transports (issue 15, finding 4): a blob of an `oci:` layout or a `dir:` that
//! is a symlink (to a 0600 file holding exactly the blob's bytes, so a digest check would
//! pass), a directory or a FIFO is refused unread with a sentence saying what it is; an
//! archive whose `index.json` names such a member is refused the same way. Nothing reaches
//! the destination.

mod support;

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use hoist::compress::Compression;
use hoist::copy::{CopyError, CopyOptions};
use hoist_testkit::{ImageBuilder, Index, Layer, ManifestFormat, TestRegistry};

use support::copy::{copy_between, fast_copy_options, seed_index};

fn index() -> Index {
    Index::new(
        ManifestFormat::Oci,
        vec![ImageBuilder::new()
            .layer(Layer::from_files(&[("secret.txt", b"not for you")]).unwrap())
            .build()
            .unwrap()],
    )
    .unwrap()
}

/// The layer blob's file in a layout (`oci`) or a `dir:`.
fn layer_file(root: &Path, oci: bool, index: &Index) -> PathBuf {
    let hex = &index.images[0].layers[0].digest["sha256:".len()..];
    if oci {
        root.join("blobs/sha256").join(hex)
    } else {
        root.join(hex)
    }
}

#[derive(Clone, Copy, Debug)]
enum Replacement {
    /// A symlink to a 0600 copy of the blob elsewhere.
    Symlink,
    Directory,
    Fifo,
}

fn replace(blob: &Path, with: Replacement, outside: &Path) {
    let bytes = std::fs::read(blob).unwrap();
    std::fs::remove_file(blob).unwrap();
    match with {
        Replacement::Symlink => {
            std::fs::write(outside, &bytes).unwrap();
            std::fs::set_permissions(outside, std::fs::Permissions::from_mode(0o600)).unwrap();
            symlink(outside, blob).unwrap();
        }
        Replacement::Directory => std::fs::create_dir(blob).unwrap(),
        Replacement::Fifo => rustix::fs::mknodat(
            rustix::fs::CWD,
            blob,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap(),
    }
}

async fn refused(transport: &str, with: Replacement) {
    refused_with(transport, with, fast_copy_options()).await;
}

/// The same, with the layer recompressed on the way: the compression step reads a local
/// blob file itself (`ImageSource::blob_file`) and must refuse it just as `open_blob` does.
async fn refused_recompressing(transport: &str, with: Replacement) {
    let options = CopyOptions {
        compression: Compression::Zstd,
        recompress: true,
        ..fast_copy_options()
    };
    refused_with(transport, with, options).await;
}

async fn refused_with(transport: &str, with: Replacement, options: CopyOptions) {
    let a = TestRegistry::anonymous().await.unwrap();
    let index = index();
    seed_index(&a, "app", "v1", &index).await;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("src");
    let src = match transport {
        "oci" => format!("oci:{}:v1", root.display()),
        _ => format!("dir:{}", root.display()),
    };
    copy_between(
        &format!("docker://{}/app:v1", a.host()),
        &src,
        fast_copy_options(),
    )
    .await
    .0
    .unwrap();
    replace(
        &layer_file(&root, transport == "oci", &index),
        with,
        &tmp.path().join("secret"),
    );
    let dst = tmp.path().join("dst");

    let (result, _) = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        copy_between(&src, &format!("oci:{}:v1", dst.display()), options),
    )
    .await
    .expect("the copy must not wait on a FIFO");

    let err = result.unwrap_err();
    let kind = match with {
        Replacement::Symlink => "a symlink",
        Replacement::Directory => "a directory",
        Replacement::Fifo => "a FIFO",
    };
    assert!(matches!(err, CopyError::NotRegularFile { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("is {kind}, not a regular file")),
        "{err}"
    );
    let layer = layer_file(&dst, true, &index);
    assert!(!layer.exists(), "nothing of the refused blob was copied");
}

#[tokio::test]
async fn layout_blob_that_is_a_symlink_is_not_followed() {
    refused("oci", Replacement::Symlink).await;
}

#[tokio::test]
async fn layout_blob_that_is_a_directory_is_refused() {
    refused("oci", Replacement::Directory).await;
}

#[tokio::test]
async fn layout_blob_that_is_a_fifo_is_refused_without_waiting() {
    refused("oci", Replacement::Fifo).await;
}

#[tokio::test]
async fn dir_blob_that_is_a_symlink_is_not_followed() {
    refused("dir", Replacement::Symlink).await;
}

#[tokio::test]
async fn dir_blob_that_is_a_directory_is_refused() {
    refused("dir", Replacement::Directory).await;
}

#[tokio::test]
async fn dir_blob_that_is_a_fifo_is_refused_without_waiting() {
    refused("dir", Replacement::Fifo).await;
}

#[tokio::test]
async fn layout_blob_that_is_a_symlink_is_not_followed_when_recompressing() {
    refused_recompressing("oci", Replacement::Symlink).await;
}

#[tokio::test]
async fn dir_blob_that_is_a_fifo_is_refused_without_waiting_when_recompressing() {
    refused_recompressing("dir", Replacement::Fifo).await;
}

/// An oci-archive of `index` whose layer member is written as `kind` (a symlink to the
/// config member, a directory or a FIFO) instead of a file.
fn hostile_oci_archive(path: &Path, index: &Index, kind: tar::EntryType) {
    let image = &index.images[0];
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut file = |name: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, name, bytes).unwrap();
    };
    let blob = |digest: &str| format!("blobs/sha256/{}", &digest["sha256:".len()..]);
    file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let entry = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": image.manifest.media_type,
            "digest": image.manifest.digest,
            "size": image.manifest.size,
        }],
    });
    file("index.json", &serde_json::to_vec(&entry).unwrap());
    file(&blob(&image.manifest.digest), &image.manifest.bytes);
    file(&blob(&image.config.digest), &image.config.bytes);
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_size(0);
    header.set_mode(0o644);
    let layer = blob(&image.layers[0].digest);
    if kind == tar::EntryType::Symlink {
        builder
            .append_link(&mut header, &layer, &image.config.digest["sha256:".len()..])
            .unwrap();
    } else {
        builder
            .append_data(&mut header, &layer, std::io::empty())
            .unwrap();
    }
    builder.finish().unwrap();
}

#[tokio::test]
async fn archive_members_that_are_not_files_are_refused_as_blobs() {
    let index = index();
    let tmp = tempfile::tempdir().unwrap();
    for (n, kind) in [
        tar::EntryType::Symlink,
        tar::EntryType::Directory,
        tar::EntryType::Fifo,
    ]
    .into_iter()
    .enumerate()
    {
        let tar = tmp.path().join(format!("hostile-{n}.tar"));
        hostile_oci_archive(&tar, &index, kind);
        let dst = tmp.path().join(format!("dst-{n}"));
        let (result, _) = copy_between(
            &format!("oci-archive:{}", tar.display()),
            &format!("oci:{}:v1", dst.display()),
            fast_copy_options(),
        )
        .await;
        let err = result.unwrap_err();
        assert!(
            matches!(err, CopyError::Archive { .. }),
            "{kind:?}: {err:?}"
        );
        assert!(
            err.to_string().contains("not a regular file"),
            "{kind:?}: {err}"
        );
        assert!(
            !layer_file(&dst, true, &index).exists(),
            "{kind:?}: nothing of the member was copied"
        );
    }
}

#[tokio::test]
async fn an_index_json_or_manifest_json_that_is_a_symlink_is_not_followed() {
    let a = TestRegistry::anonymous().await.unwrap();
    let index = index();
    seed_index(&a, "app", "v1", &index).await;
    let tmp = tempfile::tempdir().unwrap();
    for (src, file) in [
        (
            format!("oci:{}", tmp.path().join("l").display()),
            "l/index.json",
        ),
        (
            format!("dir:{}", tmp.path().join("d").display()),
            "d/manifest.json",
        ),
    ] {
        copy_between(
            &format!("docker://{}/app:v1", a.host()),
            &src,
            fast_copy_options(),
        )
        .await
        .0
        .unwrap();
        let path = tmp.path().join(file);
        let secret = tmp
            .path()
            .join(format!("{}.secret", file.replace('/', "-")));
        std::fs::rename(&path, &secret).unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        symlink(&secret, &path).unwrap();

        let (result, _) = copy_between(
            &src,
            &format!("oci:{}", tmp.path().join("dst").display()),
            fast_copy_options(),
        )
        .await;

        let err = result.unwrap_err();
        assert!(
            matches!(err, CopyError::NotRegularFile { .. }),
            "{src}: {err:?}"
        );
    }
}

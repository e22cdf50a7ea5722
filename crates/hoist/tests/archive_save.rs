//! `hoist save`: the archive has docker's layout, and skopeo reads it.

mod support;

use hoist::archive::{save_images, ArchiveError};
use hoist_testkit::ImageBuilder;
use support::archive::{
    files, image, manifest_json, members, oci_config, oci_layer_diff_ids, skopeo, Store,
};

#[test]
fn save_writes_config_layers_manifest_and_repositories_like_docker() {
    let store = Store::new();
    let img = image(&["a", "b"]);
    let record = store.put(&img, &["app:1"]);
    let archive = store.save(&["app:1"]);
    let files = files(&archive);

    let manifest = manifest_json(&archive);
    let item = &manifest[0];
    let config_name = format!("{}.json", record.image_id.hex());
    assert_eq!(item["Config"], config_name.as_str());
    assert_eq!(item["RepoTags"], serde_json::json!(["app:1"]));
    assert_eq!(files[&config_name], img.config.bytes);
    let layers = item["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    for (path, tar) in layers.iter().zip(&img.tars) {
        let path = path.as_str().unwrap();
        assert!(path.ends_with("/layer.tar"), "{path}");
        assert_eq!(&files[path], tar, "{path} is the uncompressed layer");
        let dir = path.strip_suffix("/layer.tar").unwrap();
        assert_eq!(files[&format!("{dir}/VERSION")], b"1.0");
        let v1: serde_json::Value = serde_json::from_slice(&files[&format!("{dir}/json")]).unwrap();
        assert_eq!(v1["id"], dir);
    }
    let top = layers[1]
        .as_str()
        .unwrap()
        .strip_suffix("/layer.tar")
        .unwrap();
    let repositories: serde_json::Value = serde_json::from_slice(&files["repositories"]).unwrap();
    assert_eq!(repositories, serde_json::json!({"app": {"1": top}}));
}

#[test]
fn members_are_in_lexical_order() {
    let store = Store::new();
    store.put(&image(&["a", "b", "c"]), &["app:1"]);
    let names: Vec<String> = members(&store.save(&["app"]))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn skopeo_reads_the_archive_with_the_same_config_and_diff_ids() {
    let store = Store::new();
    let img = image(&["a", "b"]);
    store.put(&img, &["app:1"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.tar");
    std::fs::write(&file, store.save(&["app:1"])).unwrap();
    let oci = dir.path().join("oci");
    skopeo(&[
        "copy",
        &format!("docker-archive:{}", file.display()),
        &format!("oci:{}:app", oci.display()),
    ]);
    let config = oci_config(&oci);
    let expected: serde_json::Value = serde_json::from_slice(&img.config.bytes).unwrap();
    assert_eq!(config, expected);
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!(img.diff_ids)
    );
    assert_eq!(oci_layer_diff_ids(&oci), img.diff_ids);
}

#[test]
fn a_repeated_layer_is_written_once_and_linked() {
    let layer = hoist_testkit::Layer::from_files(&[("same", b"same")]).unwrap();
    let img = ImageBuilder::new()
        .layer(layer.clone())
        .layer(layer)
        .build()
        .unwrap();
    let store = Store::new();
    store.put(&img, &["twice:1"]);
    let archive = store.save(&["twice:1"]);
    let layers = manifest_json(&archive)[0]["Layers"].clone();
    let second = layers[1].as_str().unwrap();
    let first = layers[0].as_str().unwrap();
    let link = members(&archive)
        .into_iter()
        .find(|(n, _)| n == second)
        .unwrap()
        .1;
    assert_eq!(link.header.entry_type(), tar::EntryType::Symlink);
    assert_eq!(
        link.header.link_name().unwrap().unwrap().to_str().unwrap(),
        format!("../{first}")
    );
}

#[test]
fn a_name_alone_saves_every_tag_of_the_repository() {
    let store = Store::new();
    store.put(&image(&["one"]), &["app:1"]);
    store.put(&image(&["two"]), &["app:2"]);
    store.put(&image(&["other"]), &["other:1"]);
    let manifest = manifest_json(&store.save(&["app"]));
    let mut tags: Vec<String> = manifest
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["RepoTags"][0].as_str().unwrap().to_owned())
        .collect();
    tags.sort();
    assert_eq!(tags, ["app:1", "app:2"]);
}

#[test]
fn an_image_saved_by_id_has_no_repo_tags() {
    let store = Store::new();
    let record = store.put(&image(&["a"]), &["app:1"]);
    let manifest = manifest_json(&store.save(&[&record.image_id.hex()[..12]]));
    assert!(manifest[0]["RepoTags"].is_null());
    assert!(!files(&store.save(&[record.image_id.as_str()])).contains_key("repositories"));
}

#[test]
fn an_unknown_reference_is_no_such_image() {
    let store = Store::new();
    let mut out = Vec::new();
    let err = save_images(&store.meta, &["nope:1".to_owned()], &mut out).unwrap_err();
    assert!(matches!(err, ArchiveError::Image(_)), "{err:?}");
    assert_eq!(err.to_string(), "No such image: nope:1");
}

#[test]
fn an_image_without_layers_is_refused_like_docker() {
    let store = Store::new();
    store.put(&ImageBuilder::new().build().unwrap(), &["empty:1"]);
    let mut out = Vec::new();
    let err = save_images(&store.meta, &["empty:1".to_owned()], &mut out).unwrap_err();
    assert_eq!(err.to_string(), "empty export - not implemented");
}

#[test]
fn a_zstd_layer_is_saved_uncompressed() {
    let store = Store::new();
    let img = image(&["z"]);
    let mut record = store.put(&img, &[]);
    let zstd = zstd::encode_all(img.tars[0].as_slice(), 3).unwrap();
    let zstd_digest = hoist::digest::Digest::sha256_of(&zstd);
    store
        .meta
        .content()
        .write_blob(&zstd_digest, &zstd)
        .unwrap();
    record.layers[0].digest = zstd_digest;
    record.layers[0].size = zstd.len() as u64;
    record.layers[0].media_type = hoist::media::types::OCI_LAYER_ZSTD.to_owned();
    store.meta.put_image(&record).unwrap();
    let archive = store.save(&[record.image_id.as_str()]);
    let layer = manifest_json(&archive)[0]["Layers"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(files(&archive)[&layer], img.tars[0]);
}

#[test]
fn a_stored_layer_that_does_not_match_its_diff_id_fails_the_save() {
    let store = Store::new();
    let img = image(&["a"]);
    let other = image(&["other"]);
    let mut record = store.put(&img, &["app:1"]);
    store.put(&other, &["other:1"]);
    record.layers[0].digest = support::archive::digest(&other.layers[0]);
    store.meta.put_image(&record).unwrap();
    let mut out = Vec::new();
    let err = save_images(&store.meta, &["app:1".to_owned()], &mut out).unwrap_err();
    assert!(
        matches!(err, ArchiveError::StoredLayerMismatch { .. }),
        "{err:?}"
    );
    // Found by the counting pass: not one byte of the wrong layer reached the archive.
    let tar = &other.tars[0];
    assert!(!out.windows(tar.len()).any(|w| w == tar.as_slice()));
    assert!(err.to_string().contains("pull it again"), "{err}");
}

#[tokio::test]
async fn copy_from_the_store_to_a_docker_archive_writes_what_save_writes() {
    use std::sync::Arc;

    use hoist::copy::{copy, CopyOptions, DockerArchiveSink, ImageSource, StoreSource};
    use hoist::progress::NoProgress;
    use hoist::reference::Reference;
    use hoist::store::MetadataStore;

    let store = Store::new();
    store.put(&image(&["a", "b"]), &["app:1"]);
    let saved = store.save(&["app:1"]);
    let meta = Arc::new(MetadataStore::open(store.meta.content()).unwrap());
    let reference = Reference::parse("app:1").unwrap();
    let source = StoreSource::new(meta, &reference);
    let root = source.resolve().await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let tar = out.path().join("copied.tar");
    let sink = DockerArchiveSink::open(&tar, Some(&reference)).unwrap();

    copy(&source, &sink, &root, &CopyOptions::default(), &NoProgress)
        .await
        .unwrap();

    assert_eq!(std::fs::read(&tar).unwrap(), saved);
    drop(sink);
    let left: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
    assert_eq!(
        left.len(),
        1,
        "only the archive: no staging or temporary file"
    );
}

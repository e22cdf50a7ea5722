//! `hoist load`: archives from `hoist save`, skopeo's docker-archive and OCI layout tarballs
//! land in the store with their image IDs and tags.

mod support;

use std::io::Write as _;

use hoist::archive::LoadEvent;
use hoist::copy::load_archive;
use hoist::media::types::{DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_MANIFEST_V2};
use support::archive::{entries, image, skopeo, write_tar, Store};

#[test]
fn a_saved_image_loads_with_its_image_id_and_tag() {
    let source = Store::new();
    let img = image(&["a", "b"]);
    let record = source.put(&img, &["app:1"]);
    let archive = source.save(&["app:1"]);

    let target = Store::new();
    let report = load_archive(&target.meta, archive.as_slice()).unwrap();
    assert_eq!(target.image_id_of("app:1"), Some(record.image_id.clone()));
    assert_eq!(report.images[0].image_id, record.image_id);
    let lines: Vec<String> = report.events.iter().map(|e| e.to_string()).collect();
    assert_eq!(lines, ["Loaded image: app:1"]);
}

#[test]
fn loaded_layers_are_the_uncompressed_tars_marked_for_compression_on_push() {
    let source = Store::new();
    let img = image(&["a", "b"]);
    source.put(&img, &["app:1"]);
    let target = Store::new();
    let report = load_archive(&target.meta, source.save(&["app:1"]).as_slice()).unwrap();
    let record = target
        .meta
        .image(&report.images[0].manifest_digest)
        .unwrap()
        .unwrap();
    assert_eq!(record.manifest_media_type, DOCKER_MANIFEST_V2);
    for (layer, diff_id) in record.layers.iter().zip(&img.diff_ids) {
        assert_eq!(layer.media_type, DOCKER_LAYER);
        assert_eq!(layer.digest.as_str(), diff_id);
        assert_eq!(layer.diff_id.as_str(), diff_id);
    }
    let manifest: serde_json::Value = serde_json::from_slice(
        &target
            .meta
            .content()
            .read_to_vec_capped(&record.manifest_digest, 1 << 20)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["layers"][0]["mediaType"], DOCKER_LAYER);
    assert_eq!(manifest["config"]["digest"], record.image_id.as_str());
}

#[test]
fn save_load_save_gives_the_same_archive() {
    let source = Store::new();
    source.put(&image(&["a", "b", "c"]), &["app:1", "app:latest"]);
    let first = source.save(&["app"]);
    let target = Store::new();
    load_archive(&target.meta, first.as_slice()).unwrap();
    let second = target.save(&["app"]);
    assert_eq!(first, second);
}

#[test]
fn loading_twice_is_idempotent() {
    let source = Store::new();
    source.put(&image(&["a"]), &["app:1"]);
    let archive = source.save(&["app:1"]);
    let target = Store::new();
    let first = load_archive(&target.meta, archive.as_slice()).unwrap();
    let second = load_archive(&target.meta, archive.as_slice()).unwrap();
    assert_eq!(first.images, second.images);
    assert_eq!(target.meta.images().unwrap().len(), 1);
}

#[test]
fn a_moved_tag_says_the_old_image_is_renamed() {
    let store = Store::new();
    let old = store.put(&image(&["old"]), &["app:1"]);
    let source = Store::new();
    let new = source.put(&image(&["new"]), &["app:1"]);
    let report = load_archive(&store.meta, source.save(&["app:1"]).as_slice()).unwrap();
    assert_eq!(
        report.events[0].to_string(),
        format!(
            "The image app:1 already exists, renaming the old one with ID {} to empty string",
            old.image_id
        )
    );
    assert_eq!(store.image_id_of("app:1"), Some(new.image_id));
}

#[test]
fn an_untagged_image_is_reported_by_id() {
    let source = Store::new();
    let record = source.put(&image(&["a"]), &[]);
    let target = Store::new();
    let report = load_archive(
        &target.meta,
        source.save(&[record.image_id.as_str()]).as_slice(),
    )
    .unwrap();
    assert_eq!(
        report.events,
        [LoadEvent::Untagged(record.image_id.clone())]
    );
    assert_eq!(
        report.events[0].to_string(),
        format!("Loaded image ID: {}", record.image_id)
    );
}

#[test]
fn a_gzip_compressed_archive_loads() {
    let source = Store::new();
    let record = source.put(&image(&["a"]), &["app:1"]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&source.save(&["app:1"])).unwrap();
    let target = Store::new();
    load_archive(&target.meta, gz.finish().unwrap().as_slice()).unwrap();
    assert_eq!(target.image_id_of("app:1"), Some(record.image_id));
}

#[test]
fn a_gzip_layer_member_is_kept_compressed_with_its_diff_id_checked() {
    let source = Store::new();
    let img = image(&["a"]);
    let record = source.put(&img, &["app:1"]);
    let mut members = entries(&source.save(&["app:1"]));
    for (name, _, data, _) in &mut members {
        if name.ends_with("/layer.tar") {
            *data = img.layers[0].bytes.clone();
        }
    }
    let target = Store::new();
    let report = load_archive(&target.meta, write_tar(&members).as_slice()).unwrap();
    let loaded = target
        .meta
        .image(&report.images[0].manifest_digest)
        .unwrap()
        .unwrap();
    assert_eq!(loaded.image_id, record.image_id);
    assert_eq!(loaded.layers[0].media_type, DOCKER_LAYER_GZIP);
    assert_eq!(loaded.layers[0].digest, record.layers[0].digest);
    assert_eq!(loaded.layers[0].diff_id.as_str(), img.diff_ids[0]);
}

#[test]
fn a_docker_archive_written_by_skopeo_loads() {
    let source = Store::new();
    let record = source.put(&image(&["a", "b"]), &["app:1"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("skopeo.tar");
    skopeo(&[
        "copy",
        &format!("oci:{}:docker.io/library/app:1", source.root().display()),
        &format!("docker-archive:{}:app:2", file.display()),
    ]);
    let target = Store::new();
    let report = load_archive(&target.meta, std::fs::File::open(&file).unwrap()).unwrap();
    assert_eq!(target.image_id_of("app:2"), Some(record.image_id));
    assert_eq!(report.events[0].to_string(), "Loaded image: app:2");
}

#[test]
fn an_oci_layout_tarball_loads_with_its_manifest_unchanged() {
    let source = Store::new();
    let record = source.put(&image(&["a", "b"]), &["app:1"]);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    skopeo(&[
        "copy",
        &format!("oci:{}:docker.io/library/app:1", source.root().display()),
        &format!("oci:{}:example.com/team/app:7", layout.display()),
    ]);
    let mut builder = tar::Builder::new(Vec::new());
    builder.append_dir_all(".", &layout).unwrap();
    let tarball = builder.into_inner().unwrap();

    let target = Store::new();
    let report = load_archive(&target.meta, tarball.as_slice()).unwrap();
    assert_eq!(report.images[0].manifest_digest, record.manifest_digest);
    assert_eq!(
        target.image_id_of("example.com/team/app:7"),
        Some(record.image_id)
    );
    let loaded = target.meta.image(&record.manifest_digest).unwrap().unwrap();
    assert_eq!(loaded.layers, record.layers);
}

#[test]
fn an_oci_layout_with_a_bare_ref_name_loads_untagged() {
    let source = Store::new();
    let record = source.put(&image(&["a"]), &["app:1"]);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    skopeo(&[
        "copy",
        &format!("oci:{}:docker.io/library/app:1", source.root().display()),
        &format!("oci:{}:latest", layout.display()),
    ]);
    let mut builder = tar::Builder::new(Vec::new());
    builder.append_dir_all(".", &layout).unwrap();
    let target = Store::new();
    let report = load_archive(&target.meta, builder.into_inner().unwrap().as_slice()).unwrap();
    assert_eq!(report.events, [LoadEvent::Untagged(record.image_id)]);
    assert!(target.meta.all_references().unwrap().is_empty());
}

#[tokio::test]
async fn load_records_what_a_copy_from_the_archive_into_the_store_records() {
    use std::sync::Arc;

    use hoist::copy::{copy, Archive, ArchiveFormat, CopyOptions, StoreSink};
    use hoist::progress::NoProgress;
    use hoist::reference::Reference;
    use hoist::store::MetadataStore;

    let source = Store::new();
    source.put(&image(&["a", "b"]), &["app:1"]);
    let archive = source.save(&["app:1"]);
    let tar = source.root().join("app.tar");
    std::fs::write(&tar, &archive).unwrap();

    let loaded = Store::new();
    let report = load_archive(&loaded.meta, archive.as_slice()).unwrap();

    let copied = Store::new();
    let meta = Arc::new(MetadataStore::open(copied.meta.content()).unwrap());
    let source = Archive::open(&tar, ArchiveFormat::Docker)
        .unwrap()
        .select(None)
        .unwrap();
    let root = hoist::copy::ImageSource::resolve(&source).await.unwrap();
    let sink = StoreSink::open(Arc::clone(&meta), &Reference::parse("app:1").unwrap())
        .unwrap()
        .without_unpack();
    copy(&source, &sink, &root, &CopyOptions::default(), &NoProgress)
        .await
        .unwrap();

    let digest = &report.images[0].manifest_digest;
    assert_eq!(root.digest, *digest, "the same synthesized manifest");
    assert_eq!(
        loaded.meta.image(digest).unwrap(),
        copied.meta.image(digest).unwrap(),
        "one recording path"
    );
    assert_eq!(
        loaded.meta.all_references().unwrap(),
        copied.meta.all_references().unwrap()
    );
}

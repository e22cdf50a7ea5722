//! Layer store: staging through the sink, publication, reuse, holds and sweeping.

use std::fs;
use std::sync::Arc;

use bytes::Bytes;
use hoist_testkit::image::Layer;
use tempfile::TempDir;

use super::*;
use crate::media::Platform;
use crate::store::layers::LayerSinkFactory;

struct Fixture {
    _dir: TempDir,
    layers: LayerStore,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir_in("/dev/shm").unwrap();
    let content = ContentStore::open(dir.path()).unwrap();
    let meta = Arc::new(MetadataStore::open(&content).unwrap());
    let layers = LayerStore::open(meta).unwrap();
    Fixture { _dir: dir, layers }
}

fn digest(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

/// Stores the layers' gzip blobs and records an image made of them.
fn record(f: &Fixture, name: &str, layers: &[&Layer]) -> ImageRecord {
    let meta = f.layers.metadata();
    let record = ImageRecord {
        image_id: Digest::sha256_of(format!("config-{name}").as_bytes()),
        manifest_digest: Digest::sha256_of(format!("manifest-{name}").as_bytes()),
        manifest_media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
        manifest_size: 1,
        index_digest: None,
        platform: Platform {
            os: "linux".to_owned(),
            architecture: "amd64".to_owned(),
            variant: None,
            ..Default::default()
        },
        size: 1,
        created: None,
        layers: layers
            .iter()
            .map(|l| {
                let blob = Digest::sha256_of(&l.gzip);
                meta.content().write_blob(&blob, &l.gzip).unwrap();
                ImageLayer {
                    diff_id: digest(&l.diff_id),
                    digest: blob,
                    size: l.gzip.len() as u64,
                    media_type: "application/vnd.oci.image.layer.v1.tar+gzip".to_owned(),
                }
            })
            .collect(),
    };
    meta.put_image(&record).unwrap();
    record
}

/// Feeds `layer`'s tar through a sink in small chunks, then finishes it.
fn stream(f: &Fixture, layer: &Layer) {
    let blob = Digest::sha256_of(&layer.gzip);
    let mut sink = f.layers.open(&blob).unwrap();
    for chunk in layer.tar.chunks(700) {
        sink.write(Bytes::copy_from_slice(chunk)).unwrap();
    }
    sink.finish(&digest(&layer.diff_id)).unwrap();
}

/// Names under `layers/` other than the lock.
fn listing(f: &Fixture) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(f.layers.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != PUBLISH_LOCK)
        .collect();
    names.sort();
    names
}

fn base() -> Layer {
    Layer::builder()
        .dir("etc")
        .file("etc/os-release", b"base")
        .build()
        .unwrap()
}

fn top() -> Layer {
    Layer::builder()
        .dir("app")
        .file("app/run", b"top")
        .build()
        .unwrap()
}

#[test]
fn a_streamed_layer_is_invisible_until_its_image_registers() {
    let f = fixture();
    let base = base();
    stream(&f, &base);
    let staged = listing(&f);
    assert_eq!(staged.len(), 1);
    assert!(staged[0].starts_with(TEMP_PREFIX), "{staged:?}");

    let image = record(&f, "one", &[&base]);
    let chain = f.layers.register_image(&image).unwrap();
    assert_eq!(chain[0].digest(), &digest(&base.diff_id));
    assert_eq!(listing(&f), vec![chain[0].hex().to_owned()]);
    let diff = f.layers.diff_path(&chain[0]);
    assert_eq!(fs::read(diff.join("etc/os-release")).unwrap(), b"base");
    let record = f.layers.get(&chain[0]).unwrap().unwrap();
    assert_eq!(record.ref_count, 1);
    assert_eq!(record.diff_id, digest(&base.diff_id));
}

#[test]
fn an_aborted_unpack_leaves_no_directory() {
    let f = fixture();
    let base = base();
    let blob = Digest::sha256_of(&base.gzip);
    let mut sink = f.layers.open(&blob).unwrap();
    sink.write(Bytes::copy_from_slice(&base.tar[..base.tar.len() / 2]))
        .unwrap();
    sink.abort();
    assert!(listing(&f).is_empty(), "{:?}", listing(&f));
}

#[test]
fn a_layer_that_fails_to_unpack_fails_the_sink_and_leaves_nothing() {
    let f = fixture();
    let blob = Digest::sha256_of(b"garbage");
    let mut sink = f.layers.open(&blob).unwrap();
    let garbage = vec![0x41u8; 4096];
    let wrote = sink.write(Bytes::from(garbage.clone()));
    let finished = match wrote {
        Ok(()) => sink.finish(&Digest::sha256_of(&garbage)),
        Err(e) => {
            sink.abort();
            Err(e)
        }
    };
    assert!(finished.is_err());
    assert!(listing(&f).is_empty(), "{:?}", listing(&f));
}

#[test]
fn registering_without_a_staged_unpack_unpacks_from_the_blob() {
    let f = fixture();
    let (base, top) = (base(), top());
    let image = record(&f, "one", &[&base, &top]);
    let chain = f.layers.register_image(&image).unwrap();
    assert_eq!(
        fs::read(f.layers.diff_path(&chain[1]).join("app/run")).unwrap(),
        b"top"
    );
    let record = f.layers.get(&chain[1]).unwrap().unwrap();
    assert_eq!(record.parent.as_ref(), Some(chain[0].digest()));
}

#[test]
fn a_shared_layer_is_unpacked_once_and_needs_no_sink_afterwards() {
    let f = fixture();
    let (base, top) = (base(), top());
    stream(&f, &base);
    let one = record(&f, "one", &[&base]);
    let chain = f.layers.register_image(&one).unwrap();
    let marker = f.layers.diff_path(&chain[0]).join("etc/marker");
    fs::write(&marker, b"first unpack").unwrap();

    // The metadata store now knows the base blob's diffID: only the top needs a sink.
    let meta = f.layers.metadata();
    let source = crate::store::metadata::BlobSource {
        digest: Digest::sha256_of(&base.gzip),
        repository: crate::reference::Reference::parse("example.com/x")
            .unwrap()
            .repository()
            .clone(),
        hmac: None,
    };
    meta.add_blob_source(&digest(&base.diff_id), &source)
        .unwrap();
    let blobs = [Digest::sha256_of(&base.gzip), Digest::sha256_of(&top.gzip)];
    assert_eq!(f.layers.needs_unpack(&blobs).unwrap(), vec![false, true]);

    let two = record(&f, "two", &[&base, &top]);
    f.layers.register_image(&two).unwrap();
    assert_eq!(
        fs::read(&marker).unwrap(),
        b"first unpack",
        "base was unpacked again"
    );
    assert_eq!(f.layers.get(&chain[0]).unwrap().unwrap().ref_count, 2);
}

#[test]
fn a_blob_that_does_not_match_its_diff_id_is_not_published() {
    let f = fixture();
    let base = base();
    let mut image = record(&f, "one", &[&base]);
    image.layers[0].diff_id = Digest::sha256_of(b"something else");
    let err = f.layers.register_image(&image).unwrap_err();
    assert!(matches!(err, LayerError::DiffIdMismatch { .. }), "{err:?}");
    assert!(listing(&f).is_empty(), "{:?}", listing(&f));
}

#[test]
fn sweeping_deletes_unheld_layers_top_first_and_stale_directories() {
    let f = fixture();
    let (base, top) = (base(), top());
    let one = record(&f, "one", &[&base]);
    let two = record(&f, "two", &[&base, &top]);
    let chain = f.layers.register_image(&two).unwrap();
    f.layers.register_image(&one).unwrap();
    // A dead process's unpack and an orphan directory without a record.
    fs::create_dir(f.layers.dir().join(".tmp-999-0-0")).unwrap();
    let orphan = Digest::sha256_of(b"orphan");
    fs::create_dir(f.layers.dir().join(orphan.hex())).unwrap();

    let meta = f.layers.metadata();
    meta.delete_image(&two.manifest_digest).unwrap();
    let sweep = sweep_layers(meta).unwrap();
    assert_eq!(sweep.removed, vec![chain[1].digest().clone()]);
    assert_eq!(sweep.stale_dirs, 2);
    assert_eq!(listing(&f), vec![chain[0].hex().to_owned()]);

    meta.delete_image(&one.manifest_digest).unwrap();
    let sweep = sweep_layers(meta).unwrap();
    assert_eq!(sweep.removed, vec![chain[0].digest().clone()]);
    assert!(listing(&f).is_empty());
}

#[test]
fn an_image_removed_while_it_registers_is_recorded_again_with_its_holds() {
    let f = fixture();
    let image = record(&f, "raced", &[&base()]);
    // What a concurrent `rmi` does between a pull's recording and its layers' registration.
    f.layers
        .metadata()
        .delete_image(&image.manifest_digest)
        .unwrap();

    let chain = f.layers.register_image(&image).unwrap();

    let meta = f.layers.metadata();
    assert_eq!(
        meta.image(&image.manifest_digest).unwrap(),
        Some(image.clone())
    );
    let held = meta.held_layers(&image.manifest_digest).unwrap();
    assert_eq!(held, vec![chain[0].digest().clone()]);
}

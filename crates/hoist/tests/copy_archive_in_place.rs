//! Copying from an uncompressed archive *file* leaves its layers where they are: a layer
//! member is not spooled to a staging directory but read from its offset when the copy wants
//! it, and verified by the sink — a docker-archive's `<id>/layer.tar` hashed when the archive
//! is read, an oci-archive's `blobs/sha256/<hex>` only then — so a file changed in between
//! fails the copy. A compressed archive is spooled whole, as before.

mod support;

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use hoist::copy::{copy, Archive, ArchiveFormat, ImageSource, LayoutSink};
use hoist::media::{Descriptor, Manifest};
use hoist_testkit::{ImageBuilder, ImagePusher, Layer, LayerEncoding, TestRegistry};

use support::copy::{copy_between, fast_copy_options};
use support::pull::Recorder;

/// Bigger than any manifest or config (4 MiB): left in place.
const BIG: usize = 6 << 20;

/// An archive of `format` at `path` of an image with a small layer and a `BIG` random one,
/// uncompressed (written by copying it from a registry where the layers are plain tars).
async fn write_archive(path: &Path, format: ArchiveFormat) {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = ImageBuilder::new()
        .platform("linux", "amd64", None)
        .layer_encoded(
            Layer::from_files(&[("small.txt", b"small")]).unwrap(),
            LayerEncoding::Uncompressed,
        )
        .layer_encoded(Layer::random(BIG).unwrap(), LayerEncoding::Uncompressed)
        .build()
        .unwrap();
    ImagePusher::new(&registry)
        .push_image("app", "v1", &image)
        .await
        .unwrap();
    let destination = match format {
        ArchiveFormat::Docker => format!("docker-archive:{}:app:v1", path.display()),
        ArchiveFormat::Oci => format!("oci-archive:{}:v1", path.display()),
    };
    let (result, _) = copy_between(
        &format!("docker://{}/app:v1", registry.host()),
        &destination,
        fast_copy_options(),
    )
    .await;
    result.unwrap();
}

const FORMATS: [ArchiveFormat; 2] = [ArchiveFormat::Docker, ArchiveFormat::Oci];

/// The layers of the image `source` holds, bottom first, with its root.
async fn layers(source: &dyn ImageSource) -> (Descriptor, Vec<Descriptor>) {
    let root = source.resolve().await.unwrap();
    let bytes = source.manifest(&root).await.unwrap();
    let Manifest::Image(manifest) = Manifest::parse(&root.media_type, &bytes).unwrap() else {
        panic!("a docker-archive entry is an image manifest");
    };
    (root, manifest.layers)
}

/// Copies the image `root` of `source` into a new `oci:` layout `out`, tagged `v1`.
async fn copy_to_layout(
    source: &dyn ImageSource,
    root: &Descriptor,
    out: &Path,
) -> Result<(), hoist::copy::CopyError> {
    let sink = LayoutSink::open(out, Some("v1")).unwrap();
    let options = fast_copy_options();
    copy(source, &sink, root, &options, &Recorder::default()).await?;
    Ok(())
}

/// Where the data of the archive member of `size` bytes starts in the tar file at `path`.
fn member_offset(path: &Path, size: u64) -> u64 {
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    let entry = archive
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.size() == size)
        .expect("the member");
    entry.raw_file_position()
}

#[tokio::test]
async fn an_uncompressed_archive_leaves_its_big_layer_in_place_and_copies_it_whole() {
    for format in FORMATS {
        copies_from_in_place(format).await;
    }
}

async fn copies_from_in_place(format: ArchiveFormat) {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("app.tar");
    write_archive(&tar, format).await;

    let source = Archive::open(&tar, format).unwrap().select(None).unwrap();
    let (root, layers) = layers(&source).await;
    assert!(
        source.blob_file(&layers[0]).unwrap().is_some(),
        "{format:?}: a small layer is spooled"
    );
    assert_eq!(
        source.blob_file(&layers[1]).unwrap(),
        None,
        "{format:?}: the big layer is read from the archive, not from a file of its own"
    );

    let out = dir.path().join("layout");
    copy_to_layout(&source, &root, &out).await.unwrap();
    let hex = layers[1].digest.as_str().trim_start_matches("sha256:");
    let copied = std::fs::read(out.join("blobs/sha256").join(hex)).unwrap();
    assert_eq!(copied.len() as u64, layers[1].size);
    assert_eq!(
        hoist::digest::Digest::sha256_of(&copied),
        layers[1].digest,
        "the layer's bytes, whole"
    );
}

#[tokio::test]
async fn a_compressed_archive_is_spooled_whole() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("app.tar");
    write_archive(&tar, ArchiveFormat::Docker).await;
    let gz = dir.path().join("app.tar.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::copy(&mut std::fs::File::open(&tar).unwrap(), &mut encoder).unwrap();
    encoder.finish().unwrap();

    let source = Archive::open(&gz, ArchiveFormat::Docker)
        .unwrap()
        .select(None)
        .unwrap();
    let (_, layers) = layers(&source).await;
    assert!(
        source.blob_file(&layers[1]).unwrap().is_some(),
        "a gzip stream has no offsets: its layers are spooled"
    );
}

#[tokio::test]
async fn an_archive_changed_after_it_was_read_fails_the_copy() {
    for format in FORMATS {
        changed_after_reading(format).await;
    }
}

async fn changed_after_reading(format: ArchiveFormat) {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("app.tar");
    write_archive(&tar, format).await;
    let source = Archive::open(&tar, format).unwrap().select(None).unwrap();
    let (root, layers) = layers(&source).await;

    // One byte in the middle of the big layer's random file, changed in the archive file.
    let offset = member_offset(&tar, layers[1].size) + layers[1].size / 2;
    let mut file = OpenOptions::new().write(true).open(&tar).unwrap();
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.write_all(&[0x5a ^ 0xff]).unwrap();
    file.write_all(&[0x00, 0x01]).unwrap();
    drop(file);

    let out = dir.path().join("layout");
    let err = copy_to_layout(&source, &root, &out).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains(layers[1].digest.as_str()),
        "{format:?}: the error names the layer: {message}"
    );
    let hex = layers[1].digest.as_str().trim_start_matches("sha256:");
    assert!(
        !out.join("blobs/sha256").join(hex).exists(),
        "nothing unverified is stored"
    );
}

/// A docker-archive made by hand: `manifest.json` naming `config.json` (whose diffIDs are
/// `diff_ids`) and the uncompressed layer `layer` as `abc/layer.tar`.
fn hand_made_archive(path: &Path, layer: &[u8], diff_ids: &[String]) {
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let manifest = serde_json::json!([{
        "Config": "config.json",
        "RepoTags": ["app:v1"],
        "Layers": ["abc/layer.tar"],
    }]);
    tar_of(
        path,
        &[
            ("abc/layer.tar", layer.to_vec()),
            ("config.json", serde_json::to_vec(&config).unwrap()),
            ("manifest.json", serde_json::to_vec(&manifest).unwrap()),
        ],
    );
}

#[tokio::test]
async fn a_layer_left_unread_is_named_by_its_diff_id_and_checked_against_it() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("app.tar");
    let layer = Layer::random(BIG).unwrap().tar;
    let digest = hoist::digest::Digest::sha256_of(&layer);
    let copy_to = |name: &str| {
        let tar = tar.clone();
        let out = dir.path().join(name);
        async move {
            let source = Archive::open(&tar, ArchiveFormat::Docker)?.select(None)?;
            let (root, layers) = layers(&source).await;
            copy_to_layout(&source, &root, &out).await?;
            Ok::<_, hoist::copy::CopyError>(layers)
        }
    };

    // The config's diffID is the layer's: the manifest names it so, and the copy holds it.
    hand_made_archive(&tar, &layer, &[digest.to_string()]);
    let layers = copy_to("good").await.unwrap();
    assert_eq!(layers[0].digest, digest);
    let blob = dir.path().join("good/blobs/sha256").join(digest.hex());
    assert_eq!(std::fs::read(blob).unwrap(), layer);

    // A diffID the layer does not hash to: the copy fails on the layer's bytes.
    let wrong = hoist::digest::Digest::sha256_of(b"another layer");
    hand_made_archive(&tar, &layer, &[wrong.to_string()]);
    let message = format!("{:#}", copy_to("wrong").await.unwrap_err());
    assert!(message.contains(wrong.as_str()), "{message}");

    // A config with no diffID for the layer: docker's "layers length mismatch", at once.
    hand_made_archive(&tar, &layer, &[]);
    let err = Archive::open(&tar, ArchiveFormat::Docker)
        .unwrap()
        .select(None)
        .unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("layers length mismatch"), "{message}");
}

#[tokio::test]
async fn a_config_too_big_to_read_is_refused_by_name_not_as_missing() {
    // The config is a `blobs/sha256/` member bigger than any config hoist reads, so it is
    // left in the archive; the layer, left unread, needs the config's diffIDs.
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("big-config.tar");
    let config = Layer::random(BIG).unwrap().tar;
    let config_name = format!(
        "blobs/sha256/{}",
        hoist::digest::Digest::sha256_of(&config).hex()
    );
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": ["app:v1"],
        "Layers": ["abc/layer.tar"],
    }]);
    tar_of(
        &tar,
        &[
            ("abc/layer.tar", Layer::random(BIG).unwrap().tar),
            (&config_name, config),
            ("manifest.json", serde_json::to_vec(&manifest).unwrap()),
        ],
    );
    let err = Archive::open(&tar, ArchiveFormat::Docker)
        .unwrap()
        .select(None)
        .unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains(&config_name) && message.contains("more than"),
        "{message}"
    );
}

/// A tar at `path` of `members` (name, bytes), regular files.
fn tar_of(path: &Path, members: &[(&str, Vec<u8>)]) {
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, name, bytes.as_slice())
            .unwrap();
    }
    builder.finish().unwrap();
}

#[tokio::test]
async fn a_truncated_archive_and_a_big_blob_named_as_a_manifest_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let blob = Layer::random(BIG).unwrap().tar;
    let digest = hoist::digest::Digest::sha256_of(&blob);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest.as_str(),
            "size": 300,
        }],
    });
    let tar = dir.path().join("hostile.tar");
    tar_of(
        &tar,
        &[
            ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
            ("index.json", serde_json::to_vec(&index).unwrap()),
            (&format!("blobs/sha256/{}", digest.hex()), blob),
        ],
    );

    // index.json names the big blob as its manifest: refused for its size, by name.
    let source = Archive::open(&tar, ArchiveFormat::Oci)
        .unwrap()
        .select(None)
        .unwrap();
    let root = source.resolve().await.unwrap();
    let message = format!("{:#}", source.manifest(&root).await.unwrap_err());
    assert!(
        message.contains(digest.hex()) && message.contains("more than"),
        "{message}"
    );

    // The same archive cut inside the blob: "truncated" when it is opened.
    let len = std::fs::metadata(&tar).unwrap().len();
    let cut = OpenOptions::new().write(true).open(&tar).unwrap();
    cut.set_len(len - (2 << 20)).unwrap();
    drop(cut);
    let message = format!("{:#}", Archive::open(&tar, ArchiveFormat::Oci).unwrap_err());
    assert!(message.contains("truncated"), "{message}");
}

#[tokio::test]
async fn a_later_member_of_the_same_name_wins_whichever_way_it_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("twice.tar");
    let big = Layer::random(BIG).unwrap().tar;
    let small = Layer::from_files(&[("small.txt", b"small")]).unwrap().tar;
    for (first, last) in [(&big, &small), (&small, &big)] {
        let digest = hoist::digest::Digest::sha256_of(last);
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [digest.as_str()]},
        });
        let manifest = serde_json::json!([{
            "Config": "config.json",
            "RepoTags": ["app:v1"],
            "Layers": ["abc/layer.tar"],
        }]);
        tar_of(
            &tar,
            &[
                ("abc/layer.tar", first.clone()),
                ("abc/layer.tar", last.clone()),
                ("config.json", serde_json::to_vec(&config).unwrap()),
                ("manifest.json", serde_json::to_vec(&manifest).unwrap()),
            ],
        );
        let source = Archive::open(&tar, ArchiveFormat::Docker)
            .unwrap()
            .select(None)
            .unwrap();
        let (root, layers) = layers(&source).await;
        assert_eq!(layers[0].digest, digest, "the last abc/layer.tar");
        let out = dir.path().join(format!("out-{}", last.len()));
        copy_to_layout(&source, &root, &out).await.unwrap();
        let blob = out.join("blobs/sha256").join(digest.hex());
        assert!(std::fs::read(blob).unwrap() == *last);
    }
}

#[tokio::test]
async fn a_big_members_size_field_rewritten_is_refused_never_copied_nor_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("app.tar");
    write_archive(&tar, ArchiveFormat::Docker).await;
    let original = std::fs::read(&tar).unwrap();
    let header = {
        let mut archive = tar::Archive::new(std::fs::File::open(&tar).unwrap());
        let entry = archive
            .entries()
            .unwrap()
            .map(Result::unwrap)
            .find(|e| e.size() as usize > BIG)
            .unwrap();
        entry.raw_header_position() as usize
    };
    let size = u64::from_str_radix(
        std::str::from_utf8(&original[header + 124..header + 135]).unwrap(),
        8,
    )
    .unwrap();
    let file_len = original.len() as u64;
    for claimed in [
        0,
        1,
        4 << 20,
        size - 1,
        size + 1,
        size + 4096,
        file_len,
        0o77_777_777_777,
    ] {
        let mut bytes = original.clone();
        let field = format!("{claimed:011o}\0");
        bytes[header + 124..header + 136].copy_from_slice(field.as_bytes());
        // The header's checksum made right again, so the reader gets as far as the size.
        fix_checksum(&mut bytes, header);
        std::fs::write(&tar, &bytes).unwrap();

        let Ok(archive) = Archive::open(&tar, ArchiveFormat::Docker) else {
            continue;
        };
        let Ok(source) = archive.select(None) else {
            continue;
        };
        let Ok(root) = source.resolve().await else {
            continue;
        };
        let out = dir.path().join(format!("out-{claimed}"));
        // The sink checks every byte against the descriptors: a wrong size never copies.
        let copied = copy_to_layout(&source, &root, &out).await;
        assert!(
            copied.is_err(),
            "{claimed} bytes claimed, {size} true: copied"
        );
    }
}

#[tokio::test]
async fn a_compressed_layer_tar_is_hashed_on_the_first_read_and_still_left_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("gzip-layer.tar");
    let layer = Layer::random(BIG).unwrap().tar;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, &layer).unwrap();
    let gzipped = encoder.finish().unwrap();
    let diff_id = hoist::digest::Digest::sha256_of(&layer);
    hand_made_archive(&tar, &gzipped, &[diff_id.to_string()]);

    let source = Archive::open(&tar, ArchiveFormat::Docker)
        .unwrap()
        .select(None)
        .unwrap();
    let (root, layers) = layers(&source).await;
    let digest = hoist::digest::Digest::sha256_of(&gzipped);
    assert_eq!(layers[0].digest, digest, "named by the hash of its bytes");
    assert_eq!(source.blob_file(&layers[0]).unwrap(), None, "left in place");
    let out = dir.path().join("layout");
    copy_to_layout(&source, &root, &out).await.unwrap();
    let blob = out.join("blobs/sha256").join(digest.hex());
    assert!(std::fs::read(blob).unwrap() == gzipped);
}

/// Makes the checksum of the tar header at `header` in `bytes` right for its other fields.
fn fix_checksum(bytes: &mut [u8], header: usize) {
    bytes[header + 148..header + 156].copy_from_slice(b"        ");
    let sum: u32 = bytes[header..header + 512]
        .iter()
        .map(|&b| u32::from(b))
        .sum();
    bytes[header + 148..header + 156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// A small deterministic generator (splitmix64): the same mutations on every run.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The in-place reading is not reached by the `docker_archive` fuzz target (which reads a
/// stream): archives of both formats mutated in their headers, their small members, their
/// big layer, or cut short, must each give an image copied whole or an error — never a panic,
/// never a blob that is not what its name says.
#[tokio::test]
async fn mutated_archives_read_in_place_copy_whole_or_fail_never_panic() {
    // A panic on a worker thread would reach the copy only as a failed task: count them all.
    static PANICS: AtomicUsize = AtomicUsize::new(0);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));
    let dir = tempfile::tempdir().unwrap();
    // More rounds, and another seed, for a longer search by hand.
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let rounds = env("HOIST_MUTATION_ROUNDS", 60);
    let mut mutator = Mutator(env("HOIST_MUTATION_SEED", 0x68_6f69_7374));
    for format in FORMATS {
        let tar = dir.path().join("app.tar");
        write_archive(&tar, format).await;
        let original = std::fs::read(&tar).unwrap();
        // (header offset, data offset, data size) of every member.
        let members: Vec<(usize, usize, usize)> = {
            let mut archive = tar::Archive::new(original.as_slice());
            let entries = archive.entries().unwrap().map(Result::unwrap);
            entries
                .map(|e| {
                    let (header, data) = (e.raw_header_position(), e.raw_file_position());
                    (header as usize, data as usize, e.size() as usize)
                })
                .collect()
        };
        let (mut copied, mut refused) = (0, 0);
        for round in 0..rounds {
            let mut bytes = original.clone();
            let (header, data, size) = members[mutator.below(members.len())];
            match mutator.below(6) {
                // A few bytes of a header changed, its checksum right or not.
                0 | 1 => {
                    for _ in 0..=mutator.below(4) {
                        bytes[header + mutator.below(512)] = mutator.next() as u8;
                    }
                    if mutator.below(2) == 0 {
                        fix_checksum(&mut bytes, header);
                    }
                }
                // Another entry type.
                2 => {
                    bytes[header + 156] = b"0125xgLK7"[mutator.below(9)];
                    fix_checksum(&mut bytes, header);
                }
                // A byte of a member's data (a JSON member's, a config's or a layer's).
                3 if size > 0 => bytes[data + mutator.below(size)] ^= 1 << mutator.below(8),
                // Cut anywhere.
                _ => bytes.truncate(mutator.below(bytes.len())),
            }
            std::fs::write(&tar, &bytes).unwrap();
            let outcome = async {
                let source = Archive::open(&tar, format)?.select(None)?;
                let root = source.resolve().await?;
                let out = dir.path().join(format!("out-{format:?}-{round}"));
                copy_to_layout(&source, &root, &out).await?;
                Ok::<_, hoist::copy::CopyError>(out)
            };
            match outcome.await {
                Ok(out) => {
                    copied += 1;
                    for blob in std::fs::read_dir(out.join("blobs/sha256")).unwrap() {
                        let blob = blob.unwrap();
                        let hash =
                            hoist::digest::Digest::sha256_of(&std::fs::read(blob.path()).unwrap());
                        assert_eq!(
                            hash.hex(),
                            blob.file_name().to_str().unwrap(),
                            "{format:?} round {round}: a blob under another's name"
                        );
                    }
                    std::fs::remove_dir_all(&out).unwrap();
                }
                Err(err) => {
                    refused += 1;
                    assert!(!format!("{err:#}").is_empty());
                }
            }
        }
        // Both outcomes are reached: the mutations are neither all harmless nor all fatal.
        assert!(
            copied > 0 && refused > 0,
            "{format:?}: {copied} copied, {refused} refused"
        );
    }
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a panic while copying");
}

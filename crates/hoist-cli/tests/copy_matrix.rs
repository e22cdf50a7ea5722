//! `hoist copy` between every pair of transports — `docker://`, `oci:`, `dir:`,
//! `docker-archive:`, `oci-archive:` and `hoist:` (the store at `--root`), 36 pairs — for one
//! subject: an OCI index of three platforms whose images each hold a gzip, a zstd and an
//! uncompressed layer.
//!
//! For every pair, with no compression asked:
//! - the digests are kept: the destination holds the source's root manifest byte for byte
//!   (skopeo reads it back; the store is checked through the digest `copy -q` prints). A
//!   `docker-archive:` holds one platform with uncompressed layers (as `docker save` and skopeo
//!   write it): into one, the host's platform is taken from the index and skopeo must read its
//!   exact config and the layers' diffIDs; out of one, the manifest hoist reads it as is the same
//!   whatever the destination.
//! - the image comes back to the same image ID: pulled from the registry, read from the store,
//!   or copied from a file transport into the store, `hoist inspect` gives the config digest
//!   of the host's platform.
//!
//! One registry and one store serve the whole matrix (the transports are the variable, not
//! the registry), so the test stays at a few hundred short `hoist` runs.

mod sandbox;

use std::collections::BTreeMap;
use std::path::Path;

use hoist::media::Platform;
use hoist_testkit::{
    sha256_digest, skopeo, Image, ImageBuilder, ImagePusher, Index, Layer, LayerEncoding,
    ManifestFormat, TestRegistry,
};
use sandbox::{stderr, stdout, Sandbox};

/// The six transports `hoist copy` reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Transport {
    Registry,
    Layout,
    Dir,
    DockerArchive,
    OciArchive,
    Store,
}

const TRANSPORTS: [Transport; 6] = [
    Transport::Registry,
    Transport::Layout,
    Transport::Dir,
    Transport::DockerArchive,
    Transport::OciArchive,
    Transport::Store,
];

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Registry => "docker",
            Transport::Layout => "oci",
            Transport::Dir => "dir",
            Transport::DockerArchive => "docker-archive",
            Transport::OciArchive => "oci-archive",
            Transport::Store => "hoist",
        }
    }

    /// A fresh location of this transport named `name`: a repository of `registry`, a path
    /// under `files`, or a tag of the store.
    fn location(self, name: &str, registry: &TestRegistry, files: &Path) -> String {
        let path = files.join(name);
        match self {
            Transport::Registry => format!("docker://{}/matrix/{name}:v1", registry.host()),
            Transport::Layout => format!("oci:{}:v1", path.display()),
            Transport::Dir => format!("dir:{}", path.display()),
            Transport::DockerArchive => {
                format!("docker-archive:{}:matrix/{name}:v1", path.display())
            }
            Transport::OciArchive => format!("oci-archive:{}:v1", path.display()),
            Transport::Store => format!("hoist:matrix/{name}:v1"),
        }
    }
}

/// One image per platform, each with a gzip, a zstd and an uncompressed layer.
fn subject() -> Index {
    let image = |arch: &str, variant: Option<&str>| {
        ImageBuilder::new()
            .platform("linux", arch, variant)
            .layer_encoded(
                Layer::from_files(&[("arch.txt", arch.as_bytes())]).unwrap(),
                LayerEncoding::Gzip,
            )
            .layer_encoded(Layer::random(16 << 10).unwrap(), LayerEncoding::Zstd)
            .layer_encoded(
                Layer::from_files(&[("plain.txt", b"plain")]).unwrap(),
                LayerEncoding::Uncompressed,
            )
            .build()
            .unwrap()
    };
    Index::new(
        ManifestFormat::Oci,
        vec![
            image("amd64", None),
            image("arm64", Some("v8")),
            image("s390x", None),
        ],
    )
    .unwrap()
}

/// The subject's image for this host's platform (what a docker-archive holds, what a pull
/// records).
fn host_image(index: &Index) -> &Image {
    let host = Platform::host();
    index
        .images
        .iter()
        .find(|i| i.platform.architecture == host.architecture)
        .expect("the host's platform is one of the subject's three")
}

/// `hoist ARGS…`, which must succeed; its stdout trimmed.
async fn hoist_ok(sandbox: &Sandbox, args: &[&str]) -> String {
    let out = sandbox.hoist(args).await;
    assert!(out.status.success(), "hoist {args:?}: {}", stderr(&out));
    stdout(&out).trim().to_owned()
}

/// The digest of the root manifest at `location` (any transport but `hoist:`). skopeo reads
/// it, but for `oci:` and `oci-archive:`: skopeo 1.9 finds no OCI-layout descriptor of a
/// Docker schema 2 manifest (what a docker-archive's image is, kept as it is), so the
/// layout's `index.json` is read here, and the manifest blob checked against its digest.
fn root_digest(transport: Transport, location: &str) -> String {
    let layout_file = |path: &str, name: &str| -> Vec<u8> {
        match transport {
            Transport::Layout => std::fs::read(Path::new(path).join(name)).unwrap(),
            _ => {
                let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
                let mut entries = archive.entries().unwrap();
                let mut entry = entries
                    .find(|e| e.as_ref().unwrap().path().unwrap() == Path::new(name))
                    .unwrap_or_else(|| panic!("{name} missing from {path}"))
                    .unwrap();
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
                bytes
            }
        }
    };
    match transport {
        Transport::Layout | Transport::OciArchive => {
            let rest = location.split_once(':').unwrap().1;
            let (path, tag) = rest.rsplit_once(':').unwrap();
            let index: serde_json::Value =
                serde_json::from_slice(&layout_file(path, "index.json")).unwrap();
            let descriptor = index["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
                .unwrap_or_else(|| panic!("no {tag} in {location}'s index.json"));
            let digest = descriptor["digest"].as_str().unwrap();
            let blob = layout_file(path, &format!("blobs/sha256/{}", &digest[7..]));
            assert_eq!(sha256_digest(&blob), digest, "{location}: manifest blob");
            digest.to_owned()
        }
        _ => sha256_digest(&skopeo::inspect_raw(location)),
    }
}

/// skopeo's view of a docker-archive: its config bytes and its layers' digests.
fn archive_view(location: &str) -> (Vec<u8>, Vec<String>) {
    let manifest: serde_json::Value =
        serde_json::from_slice(&skopeo::inspect_raw(location)).unwrap();
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect();
    (skopeo::inspect_config(location), layers)
}

/// The image ID `hoist inspect REF` reports.
async fn image_id(sandbox: &Sandbox, reference: &str) -> String {
    let out = hoist_ok(sandbox, &["inspect", reference]).await;
    let all: serde_json::Value = serde_json::from_str(&out).unwrap();
    all[0]["Id"].as_str().unwrap().to_owned()
}

/// Brings the image at `location` (of `transport`) back into the store and returns its image
/// ID: `hoist pull` from a registry, `inspect` of a store tag, a copy into the store otherwise.
async fn image_id_back(
    sandbox: &Sandbox,
    transport: Transport,
    location: &str,
    name: &str,
) -> String {
    match transport {
        Transport::Registry => {
            let reference = location.trim_start_matches("docker://");
            hoist_ok(sandbox, &["pull", "-q", reference]).await;
            image_id(sandbox, reference).await
        }
        Transport::Store => image_id(sandbox, location.trim_start_matches("hoist:")).await,
        _ => {
            let back = format!("back/{name}:v1");
            hoist_ok(sandbox, &["copy", "-q", location, &format!("hoist:{back}")]).await;
            image_id(sandbox, &back).await
        }
    }
}

#[tokio::test]
async fn copy_between_every_pair_of_transports_keeps_digests_and_the_image_id() {
    let started = std::time::Instant::now();
    let registry = TestRegistry::anonymous().await.unwrap();
    let index = subject();
    ImagePusher::new(&registry)
        .push_index("matrix/seed", "v1", &index)
        .await
        .unwrap();
    let host = host_image(&index);
    let sandbox = Sandbox::new();
    let files = sandbox.dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();

    // Every transport's copy of the subject, written by hoist from the registry.
    let seed = format!("docker://{}/matrix/seed:v1", registry.host());
    let mut sources = BTreeMap::new();
    for transport in TRANSPORTS {
        let source = match transport {
            Transport::Registry => seed.clone(),
            _ => {
                let source =
                    transport.location(&format!("src-{}", transport.name()), &registry, &files);
                hoist_ok(&sandbox, &["copy", "-q", &seed, &source]).await;
                source
            }
        };
        sources.insert(transport, source);
    }

    // The manifest hoist reads a docker-archive as, the same into every destination.
    let mut from_archive: Option<String> = None;
    let mut failures = Vec::new();
    for from in TRANSPORTS {
        for to in TRANSPORTS {
            let name = format!("{}-to-{}", from.name(), to.name());
            let source = &sources[&from];
            let destination = to.location(&name, &registry, &files);

            let digest = hoist_ok(&sandbox, &["copy", "-q", source, &destination]).await;

            let pair = format!("{source} → {destination}");
            if to == Transport::DockerArchive {
                let (config, layers) = archive_view(&destination);
                if config != host.config.bytes || layers != host.diff_ids {
                    failures.push(format!("{pair}: not the host's config and diffIDs"));
                }
            } else {
                let expected = match from {
                    Transport::DockerArchive => from_archive.get_or_insert(digest.clone()).clone(),
                    _ => index.digest().to_owned(),
                };
                if digest != expected {
                    failures.push(format!("{pair}: copied {digest}, expected {expected}"));
                }
                if to != Transport::Store {
                    let held = root_digest(to, &destination);
                    if held != expected {
                        failures.push(format!("{pair}: skopeo reads {held}, expected {expected}"));
                    }
                }
            }
            let id = image_id_back(&sandbox, to, &destination, &name).await;
            if id != host.config.digest {
                failures.push(format!(
                    "{pair}: back with image ID {id}, expected {}",
                    host.config.digest
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // A docker-archive source is the host's image with its uncompressed layers.
    let archived = from_archive.expect("docker-archive was a source");
    let raw = skopeo::inspect_raw(&format!(
        "dir:{}",
        files.join("docker-archive-to-dir").display()
    ));
    assert_eq!(sha256_digest(&raw), archived);
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(manifest["config"]["digest"], host.config.digest);
    let layers: Vec<_> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    assert_eq!(layers, host.diff_ids, "uncompressed layers");
    eprintln!("36 pairs copied and read back in {:?}", started.elapsed());
}

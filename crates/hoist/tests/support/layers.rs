//! Shared helpers for the layer store and export tests: a store whose pulls unpack into its
//! layer store, and the reference rootfs `umoci unpack` makes of the same image.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use hoist::pull::{PullOptions, Puller};
use hoist::reference::Reference;
use hoist::store::metadata::ImageRecord;
use hoist::store::{ContentStore, LayerStore, MetadataStore};
use hoist_testkit::TestRegistry;
use tempfile::TempDir;

use std::time::Duration;

use hoist::registry::{RegistryClient, RegistryConfig, StaticCredentials};

use crate::support::pull::{fast_options, test_config, Recorder};

/// A store root with its metadata and layer store.
pub struct LayeredStore {
    pub dir: TempDir,
    pub meta: Arc<MetadataStore>,
    pub layers: LayerStore,
}

impl LayeredStore {
    pub fn new() -> LayeredStore {
        LayeredStore::with_options(hoist::unpack::UnpackOptions::diff())
    }

    /// A store whose layers are unpacked with `options` (e.g. forced rootless).
    pub fn with_options(options: hoist::unpack::UnpackOptions) -> LayeredStore {
        let dir = TempDir::new().unwrap();
        let content = ContentStore::open(&dir.path().join("root")).unwrap();
        let meta = Arc::new(MetadataStore::open(&content).unwrap());
        let layers = LayerStore::open_with(Arc::clone(&meta), options).unwrap();
        LayeredStore { dir, meta, layers }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// A puller unpacking into the layer store (`unpack` false: `--no-unpack`).
    pub fn puller(&self, unpack: bool) -> Puller {
        self.puller_with(PullOptions {
            layers: unpack.then(|| self.layers.clone()),
            ..fast_options()
        })
    }

    /// A puller unpacking into the layer store, `concurrency` downloads at once.
    pub fn puller_with_concurrency(&self, concurrency: usize) -> Puller {
        let mut options = PullOptions {
            layers: Some(self.layers.clone()),
            ..fast_options()
        };
        options.download.max_concurrent = concurrency;
        self.puller_with(options)
    }

    /// A puller with `options`, its client reading with a short timeout.
    pub fn puller_with(&self, options: PullOptions) -> Puller {
        let content = ContentStore::open(&self.root()).unwrap();
        // A short read timeout: a fault that leaves a connection open costs seconds, not 30.
        let config = RegistryConfig {
            read_timeout: Duration::from_secs(2),
            ..test_config()
        };
        let client = RegistryClient::new(config, Arc::new(StaticCredentials::none())).unwrap();
        Puller::new(
            client,
            content.clone(),
            MetadataStore::open(&content).unwrap(),
            options,
        )
    }

    /// Pulls `reference` and returns the image record.
    pub async fn pull(&self, reference: &Reference, unpack: bool) -> ImageRecord {
        let outcome = self
            .puller(unpack)
            .pull(reference, &Recorder::default())
            .await
            .unwrap();
        self.meta
            .image(&outcome.images[0].manifest_digest)
            .unwrap()
            .unwrap()
    }

    /// Names under `layers/` that are layer directories (not the lock).
    pub fn layer_dirs(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root().join("layers"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != ".lock")
            .collect();
        names.sort();
        names
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `umoci unpack` of `REPO:TAG` from the registry (through `skopeo copy` into an OCI layout):
/// the bundle's `rootfs/`.
pub fn umoci_rootfs(registry: &TestRegistry, repo_tag: &str, work: &Path) -> PathBuf {
    let layout = work.join("layout");
    let bundle = work.join("bundle");
    let tag = repo_tag.rsplit_once(':').map_or("latest", |(_, t)| t);
    run(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/{repo_tag}", registry.host()),
        &format!("oci:{}:{tag}", layout.display()),
    ]));
    let mut umoci = Command::new("umoci");
    umoci.arg("unpack");
    if !is_root() {
        umoci.arg("--rootless");
    }
    run(umoci
        .arg("--image")
        .arg(format!("{}:{tag}", layout.display()))
        .arg(&bundle));
    bundle.join("rootfs")
}

pub fn is_root() -> bool {
    hoist::unpack::Privileges::detect() == hoist::unpack::Privileges::Root
}

//! Shared helpers for the pull integration tests: a store in a temporary directory, a puller
//! with a fast backoff, a progress recorder, and checks on what landed in the store. Images
//! are built and pushed by `hoist-testkit`, independently of hoist.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hoist::credentials::Credentials;
use hoist::digest::Digest;
use hoist::progress::{ProgressEvent, ProgressSink, Status};
use hoist::pull::{PullOptions, Puller};
use hoist::reference::Reference;
use hoist::registry::{RegistryClient, RegistryConfig, StaticCredentials};
use hoist::store::{ContentStore, MetadataStore};
use hoist::transfer::{Backoff, TransferConfig};
use hoist_testkit::{Image, ImagePusher, TestRegistry};
use tempfile::TempDir;

/// Options with a backoff of milliseconds, so retries do not slow the suite.
pub fn fast_options() -> PullOptions {
    PullOptions {
        download: TransferConfig {
            backoff: Backoff::Linear {
                step: Duration::from_millis(20),
            },
            ..TransferConfig::downloads()
        },
        ..PullOptions::default()
    }
}

/// A store root in a temporary directory.
pub struct Store {
    pub dir: TempDir,
}

impl Store {
    pub fn new() -> Store {
        Store {
            dir: TempDir::new().unwrap(),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn content(&self) -> ContentStore {
        ContentStore::open(&self.root()).unwrap()
    }

    pub fn metadata(&self) -> MetadataStore {
        MetadataStore::open(&self.content()).unwrap()
    }

    /// A puller for this store, anonymous.
    pub fn puller(&self, options: PullOptions) -> Puller {
        self.puller_with(anonymous_client(), options)
    }

    pub fn puller_with(&self, client: RegistryClient, options: PullOptions) -> Puller {
        let content = self.content();
        let metadata = MetadataStore::open(&content).unwrap();
        Puller::new(client, content, metadata, options)
    }

    /// Every file under `blobs/sha256`, checked to hash to its name.
    pub fn blobs(&self) -> Vec<Digest> {
        blobs_in(&self.root())
    }
}

/// Every blob of the layout at `root`, asserting each one hashes to its name.
pub fn blobs_in(root: &Path) -> Vec<Digest> {
    let dir = root.join("blobs/sha256");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let bytes = std::fs::read(entry.path()).unwrap();
        let actual = Digest::sha256_of(&bytes);
        assert_eq!(actual.hex(), name, "blob {name} does not hash to its name");
        found.push(actual);
    }
    found.sort();
    found
}

/// The default registry configuration without the machine's certs.d directories.
pub fn test_config() -> RegistryConfig {
    RegistryConfig {
        certs_dirs: Vec::new(),
        ..RegistryConfig::default()
    }
}

pub fn anonymous_client() -> RegistryClient {
    RegistryClient::new(test_config(), Arc::new(StaticCredentials::none())).unwrap()
}

pub fn client_with(host: &str, user: &str, password: &str) -> RegistryClient {
    let creds = Credentials::Basic {
        username: user.to_string(),
        password: password.to_string(),
    };
    let lookup = StaticCredentials::none().with(host, creds);
    RegistryClient::new(test_config(), Arc::new(lookup)).unwrap()
}

/// `HOST/NAME` parsed.
pub fn reference(registry: &TestRegistry, name: &str) -> Reference {
    Reference::parse(&format!("{}/{name}", registry.host())).unwrap()
}

/// Collects progress events.
#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<ProgressEvent>>,
}

impl ProgressSink for Recorder {
    fn emit(&self, event: ProgressEvent) {
        self.events.lock().unwrap().push(event);
    }
}

impl Recorder {
    pub fn events(&self) -> Vec<ProgressEvent> {
        self.events.lock().unwrap().clone()
    }

    /// Lines as docker prints them without a TTY, byte counts left out.
    pub fn lines(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter(|e| !matches!(e.status, Status::Downloading { .. }))
            .map(|e| e.to_string())
            .collect()
    }

    pub fn has_line(&self, line: &str) -> bool {
        self.lines().iter().any(|l| l == line)
    }

    /// The statuses one blob went through.
    pub fn statuses_of(&self, digest: &str) -> Vec<Status> {
        let id = &digest.trim_start_matches("sha256:")[..12];
        self.events()
            .into_iter()
            .filter(|e| e.id == id)
            .map(|e| e.status)
            .collect()
    }
}

/// Pushes `image` as `repo:tag` anonymously.
pub async fn push(registry: &TestRegistry, repo: &str, tag: &str, image: &Image) -> String {
    ImagePusher::new(registry)
        .push_image(repo, tag, image)
        .await
        .unwrap()
}

/// GETs of blobs in the registry's access log.
pub fn blob_gets(registry: &TestRegistry) -> usize {
    registry
        .access_log()
        .iter()
        .filter(|e| e.method == "GET" && e.path.contains("/blobs/sha256:"))
        .count()
}

/// GETs of one blob.
pub fn gets_of(registry: &TestRegistry, digest: &str) -> usize {
    registry
        .access_log()
        .iter()
        .filter(|e| e.method == "GET" && e.path.ends_with(&format!("/blobs/{digest}")))
        .count()
}

/// `skopeo inspect --raw oci:ROOT:REF`: the manifest bytes skopeo reads from the layout.
pub fn skopeo_raw(root: &Path, reference: &str) -> Vec<u8> {
    super::skopeo::inspect_raw(&format!("oci:{}:{reference}", root.display()))
}

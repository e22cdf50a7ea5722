//! Tests of the composed store: docker's order, podman's fallback, and writing where docker would.

use super::*;
use crate::credentials::DOCKER_HUB_KEY;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt as _;

const TEST_HELPER_SCRIPT: &str = include_str!("../testdata/docker-credential-test.sh");

/// A temporary home: `docker/config.json`, `podman/auth.json`, and `bin/docker-credential-test`
/// storing into `helper-store/`.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).unwrap();
        let store_dir = dir.path().join("helper-store");
        let script = TEST_HELPER_SCRIPT.replace("@STORE_DIR@", store_dir.to_str().unwrap());
        let program = bin.join("docker-credential-test");
        fs::write(&program, script).unwrap();
        fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
        Home { dir }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("docker/config.json")
    }

    fn podman_path(&self) -> PathBuf {
        self.dir.path().join("podman/auth.json")
    }

    fn store(&self) -> CredentialStore {
        CredentialStore::new(self.config_path())
            .with_podman_auth_files(vec![self.podman_path()])
            .with_helper_search_path(path_with(&self.dir.path().join("bin")))
    }

    fn write_config(&self, value: Value) {
        write_json(&self.config_path(), &value);
    }

    fn write_podman(&self, value: Value) {
        write_json(&self.podman_path(), &value);
    }

    fn config(&self) -> Value {
        serde_json::from_slice(&fs::read(self.config_path()).unwrap()).unwrap()
    }

    fn helper_actions(&self) -> String {
        fs::read_to_string(self.dir.path().join("helper-store/actions.log")).unwrap_or_default()
    }
}

fn write_json(path: &Path, value: &Value) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, serde_json::to_vec(value).unwrap()).unwrap();
}

fn basic(username: &str, password: &str) -> Credentials {
    Credentials::Basic {
        username: username.into(),
        password: password.into(),
    }
}

fn auth(user_pass: &str) -> Value {
    json!({ "auth": STANDARD.encode(user_pass) })
}

#[test]
fn lookup_without_any_file_is_anonymous() {
    let home = Home::new();
    assert_eq!(home.store().lookup("myreg:5000").unwrap(), None);
}

#[test]
fn lookup_reads_auths_of_docker_config() {
    let home = Home::new();
    home.write_config(json!({ "auths": { "myreg:5000": auth("u:p") } }));
    assert_eq!(
        home.store().lookup("myreg:5000").unwrap(),
        Some(basic("u", "p"))
    );
}

#[test]
fn lookup_of_docker_io_reads_the_index_key() {
    let home = Home::new();
    home.write_config(json!({ "auths": { DOCKER_HUB_KEY: auth("hub:pw") } }));
    for domain in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
        assert_eq!(
            home.store().lookup(domain).unwrap(),
            Some(basic("hub", "pw")),
            "{domain}"
        );
    }
}

#[test]
fn lookup_uses_the_per_host_helper_before_auths() {
    let home = Home::new();
    home.write_config(json!({
        "credHelpers": { "myreg:5000": "test" },
        "auths": { "myreg:5000": auth("file:pw") },
    }));
    let store = home.store();
    store.store("myreg:5000", &basic("helper", "pw")).unwrap();
    assert_eq!(
        store.lookup("myreg:5000").unwrap(),
        Some(basic("helper", "pw"))
    );
    assert!(home.helper_actions().contains("get myreg:5000"));
}

#[test]
fn lookup_uses_creds_store_for_every_host() {
    let home = Home::new();
    home.write_config(json!({ "credsStore": "test" }));
    let store = home.store();
    store.store("a.example", &basic("a", "1")).unwrap();
    assert_eq!(store.lookup("a.example").unwrap(), Some(basic("a", "1")));
    assert_eq!(store.lookup("b.example").unwrap(), None);
}

#[test]
fn lookup_falls_back_to_podman_auth_json() {
    let home = Home::new();
    home.write_config(json!({ "auths": { "other:1": auth("o:p") } }));
    home.write_podman(json!({ "auths": { "docker.io": auth("pod:man") } }));
    assert_eq!(
        home.store().lookup("docker.io").unwrap(),
        Some(basic("pod", "man"))
    );
}

#[test]
fn docker_config_wins_over_podman() {
    let home = Home::new();
    home.write_config(json!({ "auths": { "myreg": auth("docker:1") } }));
    home.write_podman(json!({ "auths": { "myreg": auth("podman:2") } }));
    assert_eq!(
        home.store().lookup("myreg").unwrap(),
        Some(basic("docker", "1"))
    );
}

#[test]
fn lookup_reports_a_missing_configured_helper() {
    let home = Home::new();
    home.write_config(json!({ "credsStore": "desktop" }));
    let err = home.store().lookup("myreg").unwrap_err();
    assert!(
        err.to_string().contains("docker-credential-desktop"),
        "{err}"
    );
}

#[test]
fn store_without_helper_writes_auths_entry() {
    let home = Home::new();
    let location = home
        .store()
        .store("127.0.0.1:5000", &basic("u", "p"))
        .unwrap();
    assert_eq!(location, StoreLocation::File(home.config_path()));
    assert_eq!(
        home.config(),
        json!({ "auths": { "127.0.0.1:5000": auth("u:p") } })
    );
}

#[test]
fn store_for_docker_io_uses_the_index_key() {
    let home = Home::new();
    home.store().store("docker.io", &basic("u", "p")).unwrap();
    assert_eq!(home.config()["auths"][DOCKER_HUB_KEY], auth("u:p"));
}

#[test]
fn store_with_helper_keeps_the_secret_out_of_the_file() {
    let home = Home::new();
    home.write_config(json!({ "credHelpers": { "myreg:5000": "test" } }));
    let location = home
        .store()
        .store("myreg:5000", &basic("u", "hunter2"))
        .unwrap();
    assert_eq!(location, StoreLocation::Helper("test".into()));
    assert_eq!(home.config()["auths"], json!({ "myreg:5000": {} }));
    assert!(!fs::read_to_string(home.config_path())
        .unwrap()
        .contains("hunter2"));
    assert_eq!(home.helper_actions(), "store myreg:5000\n");
}

#[test]
fn erase_removes_every_spelling_of_the_registry() {
    let home = Home::new();
    home.write_config(json!({ "auths": {
        "myreg:5000": auth("a:1"),
        "https://myreg:5000": auth("b:2"),
        "myreg:5001": auth("c:3"),
    } }));
    let location = home.store().erase("myreg:5000").unwrap();
    assert_eq!(location, Some(StoreLocation::File(home.config_path())));
    assert_eq!(home.config()["auths"], json!({ "myreg:5001": auth("c:3") }));
}

#[test]
fn erase_when_not_logged_in_is_none_and_writes_nothing() {
    let home = Home::new();
    assert_eq!(home.store().erase("myreg:5000").unwrap(), None);
    assert!(!home.config_path().exists());
}

#[test]
fn erase_with_helper_removes_from_helper_and_file() {
    let home = Home::new();
    home.write_config(json!({ "credHelpers": { "myreg:5000": "test" } }));
    let store = home.store();
    store.store("myreg:5000", &basic("u", "p")).unwrap();
    let location = store.erase("myreg:5000").unwrap();
    assert_eq!(location, Some(StoreLocation::Helper("test".into())));
    assert_eq!(store.lookup("myreg:5000").unwrap(), None);
    assert_eq!(home.config()["auths"], json!({}));
    assert!(home.helper_actions().contains("erase myreg:5000"));
}

#[test]
fn store_keeps_unknown_top_level_fields() {
    let home = Home::new();
    home.write_config(json!({ "psFormat": "table {{.ID}}", "plugins": { "x": { "k": "v" } } }));
    home.store().store("h", &basic("u", "p")).unwrap();
    let config = home.config();
    assert_eq!(config["psFormat"], "table {{.ID}}");
    assert_eq!(config["plugins"], json!({ "x": { "k": "v" } }));
}

/// `PATH` with `bin` first, so the helper finds both itself and the shell's tools.
fn path_with(bin: &Path) -> std::ffi::OsString {
    let inherited = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin.to_path_buf()];
    dirs.extend(std::env::split_paths(&inherited));
    std::env::join_paths(dirs).unwrap()
}

#[test]
fn registry_client_lookup_answers_like_lookup() {
    let home = Home::new();
    home.write_config(json!({ "auths": { "myreg:5000": auth("u:p") } }));
    let lookup: &dyn CredentialLookup = &home.store();
    assert_eq!(lookup.lookup("myreg:5000").unwrap(), Some(basic("u", "p")));
    assert_eq!(lookup.lookup("other:1").unwrap(), None);
}

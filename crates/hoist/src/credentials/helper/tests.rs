//! Tests that run real `docker-credential-*` programs (shell scripts in temporary directories).

use super::*;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// The test helper script, shared with the CLI's integration tests.
pub(crate) const TEST_HELPER_SCRIPT: &str = include_str!("../testdata/docker-credential-test.sh");

/// Writes an executable `docker-credential-NAME` with `body` into `bin`.
fn write_program(bin: &Path, name: &str, body: &str) {
    let program = bin.join(format!("docker-credential-{name}"));
    fs::write(&program, body).unwrap();
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A temp dir with `bin/docker-credential-test` storing into `store/`.
struct TestHelper {
    dir: tempfile::TempDir,
}

impl TestHelper {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).unwrap();
        let store = dir.path().join("store");
        let script = TEST_HELPER_SCRIPT.replace("@STORE_DIR@", store.to_str().unwrap());
        write_program(&bin, "test", &script);
        TestHelper { dir }
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn helper(&self, name: &str) -> CredentialHelper {
        CredentialHelper::new(name).with_search_path(path_with(&self.bin()))
    }

    fn actions(&self) -> String {
        fs::read_to_string(self.dir.path().join("store/actions.log")).unwrap_or_default()
    }
}

fn basic(username: &str, password: &str) -> Credentials {
    Credentials::Basic {
        username: username.into(),
        password: password.into(),
    }
}

#[test]
fn store_then_get_returns_the_credentials() {
    let test = TestHelper::new();
    let helper = test.helper("test");
    helper.store("myreg:5000", &basic("alice", "pw")).unwrap();
    assert_eq!(
        helper.get("myreg:5000").unwrap(),
        Some(basic("alice", "pw"))
    );
    assert_eq!(test.actions(), "store myreg:5000\nget myreg:5000\n");
}

#[test]
fn get_of_unknown_server_is_none() {
    let test = TestHelper::new();
    assert_eq!(test.helper("test").get("nowhere:1").unwrap(), None);
}

#[test]
fn identity_token_is_stored_under_the_token_username() {
    let test = TestHelper::new();
    let helper = test.helper("test");
    let token = Credentials::IdentityToken {
        username: "alice".into(),
        token: "refresh".into(),
    };
    helper.store("h", &token).unwrap();
    let stored = fs::read_to_string(test.dir.path().join("store/entries/h")).unwrap();
    assert!(stored.contains("\"Username\":\"<token>\""), "{stored}");
    let expected = Credentials::IdentityToken {
        username: String::new(),
        token: "refresh".into(),
    };
    assert_eq!(helper.get("h").unwrap(), Some(expected));
}

#[test]
fn erase_reports_whether_anything_was_removed() {
    let test = TestHelper::new();
    let helper = test.helper("test");
    helper.store("h", &basic("u", "p")).unwrap();
    assert!(helper.erase("h").unwrap());
    assert!(!helper.erase("h").unwrap());
    assert_eq!(helper.get("h").unwrap(), None);
}

#[test]
fn list_names_every_server_with_its_user() {
    let test = TestHelper::new();
    let helper = test.helper("test");
    helper.store("a:1", &basic("alice", "p")).unwrap();
    helper.store("b:2", &basic("bob", "p")).unwrap();
    let listed = helper.list().unwrap();
    let expected: BTreeMap<String, String> = [("a:1", "alice"), ("b:2", "bob")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(listed, expected);
}

#[test]
fn missing_program_is_helper_not_found() {
    let test = TestHelper::new();
    let err = test.helper("absent").get("h").unwrap_err();
    assert!(
        matches!(err, CredentialError::HelperNotFound { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("docker-credential-absent"),
        "{err}"
    );
}

#[test]
fn failing_helper_error_carries_status_and_output() {
    let test = TestHelper::new();
    write_program(
        &test.bin(),
        "broken",
        "#!/bin/sh\necho 'keychain locked'\necho 'detail' >&2\nexit 3\n",
    );
    let err = test.helper("broken").get("h").unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, CredentialError::HelperFailed { action: "get", .. }),
        "{err:?}"
    );
    assert!(message.contains("docker-credential-broken"), "{message}");
    assert!(message.contains("exit status: 3"), "{message}");
    assert!(
        message.contains("keychain locked") && message.contains("detail"),
        "{message}"
    );
}

#[test]
fn malformed_get_output_is_an_error_without_the_output() {
    let test = TestHelper::new();
    write_program(
        &test.bin(),
        "garbled",
        "#!/bin/sh\necho '{\"Secret\": hunter2'\n",
    );
    let err = test.helper("garbled").get("h").unwrap_err();
    assert!(
        matches!(err, CredentialError::HelperOutput { .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn debug_of_get_result_hides_the_secret() {
    let test = TestHelper::new();
    let helper = test.helper("test");
    helper.store("h", &basic("u", "hunter2")).unwrap();
    let shown = format!("{:?}", helper.get("h").unwrap());
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn a_helper_still_open_for_writing_is_started_once_it_is_closed() {
    // The race the CI hit: another thread's child held the just-written script open for
    // writing, and the start failed with "text file busy". Here the test holds it open itself,
    // which makes the kernel refuse every start until it is closed.
    let test = TestHelper::new();
    let writer = fs::OpenOptions::new()
        .append(true)
        .open(test.bin().join("docker-credential-test"))
        .unwrap();
    let closer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(30));
        drop(writer);
    });
    let got = test.helper("test").get("h");
    closer.join().unwrap();
    assert_eq!(got.unwrap(), None);
}

/// `PATH` with `bin` first, so the helper finds both itself and the shell's tools.
fn path_with(bin: &Path) -> std::ffi::OsString {
    let inherited = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin.to_path_buf()];
    dirs.extend(std::env::split_paths(&inherited));
    std::env::join_paths(dirs).unwrap()
}

//! Tests of `config.json` reading and writing, on files in temporary directories.

use super::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;

fn basic(username: &str, password: &str) -> Credentials {
    Credentials::Basic {
        username: username.into(),
        password: password.into(),
    }
}

fn write_config(dir: &Path, value: &Value) -> PathBuf {
    let path = dir.join("config.json");
    fs::write(&path, serde_json::to_vec(value).unwrap()).unwrap();
    path
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

#[test]
fn missing_file_reads_as_empty_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let file = DockerConfigFile::load(dir.path().join("config.json")).unwrap();
    assert_eq!(file.auth("myreg:5000").unwrap(), None);
    assert_eq!(file.helper_for("myreg:5000").unwrap(), None);
}

#[test]
fn empty_file_reads_as_empty_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    fs::write(&path, "  \n").unwrap();
    assert_eq!(
        DockerConfigFile::load(path).unwrap().auth("h").unwrap(),
        None
    );
}

#[test]
fn malformed_json_error_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    fs::write(&path, "{\n  \"auths\": {,\n}").unwrap();
    let err = DockerConfigFile::load(&path).unwrap_err();
    assert!(
        matches!(err, CredentialError::MalformedJson { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("line 2"), "{message}");
}

#[test]
fn auths_that_is_not_an_object_is_a_shape_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &json!({ "auths": ["x"] }));
    let err = DockerConfigFile::load(path).unwrap_err();
    assert!(err.to_string().contains("auths is not an object"), "{err}");
}

#[test]
fn auth_is_found_by_exact_key() {
    let dir = tempfile::tempdir().unwrap();
    let auths = json!({ "auths": { "myreg:5000": { "auth": STANDARD.encode("u:p") } } });
    let file = DockerConfigFile::load(write_config(dir.path(), &auths)).unwrap();
    assert_eq!(file.auth("myreg:5000").unwrap(), Some(basic("u", "p")));
}

#[test]
fn auth_is_found_under_a_legacy_url_key() {
    let dir = tempfile::tempdir().unwrap();
    let auths =
        json!({ "auths": { "https://myreg:5000/v2/": { "auth": STANDARD.encode("u:p") } } });
    let file = DockerConfigFile::load(write_config(dir.path(), &auths)).unwrap();
    assert_eq!(file.auth("myreg:5000").unwrap(), Some(basic("u", "p")));
    assert_eq!(file.auth("myreg:5001").unwrap(), None);
}

#[test]
fn cred_helpers_entry_wins_over_creds_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({ "credsStore": "desktop", "credHelpers": { "myreg:5000": "test" } });
    let file = DockerConfigFile::load(write_config(dir.path(), &config)).unwrap();
    assert_eq!(
        file.helper_for("myreg:5000").unwrap().as_deref(),
        Some("test")
    );
    assert_eq!(
        file.helper_for("other").unwrap().as_deref(),
        Some("desktop")
    );
}

#[test]
fn empty_cred_helpers_entry_means_the_file_even_with_creds_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({ "credsStore": "desktop", "credHelpers": { "myreg:5000": "" } });
    let file = DockerConfigFile::load(write_config(dir.path(), &config)).unwrap();
    assert_eq!(file.helper_for("myreg:5000").unwrap(), None);
}

#[test]
fn helper_name_with_a_slash_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({ "credsStore": "../../bin/sh" });
    let file = DockerConfigFile::load(write_config(dir.path(), &config)).unwrap();
    let err = file.helper_for("myreg").unwrap_err();
    assert!(
        matches!(err, CredentialError::InvalidHelperName { .. }),
        "{err:?}"
    );
}

#[test]
fn save_keeps_unknown_fields_and_other_entries() {
    let dir = tempfile::tempdir().unwrap();
    let original = json!({
        "auths": { "other:1": { "auth": STANDARD.encode("o:p"), "email": "e@x" } },
        "proxies": { "default": { "httpProxy": "http://proxy:3128" } },
        "currentContext": "remote",
    });
    let path = write_config(dir.path(), &original);
    let mut file = DockerConfigFile::load(&path).unwrap();
    file.set_auth("myreg:5000", &basic("u", "p"));
    file.save().unwrap();

    let written = read_json(&path);
    assert_eq!(written["proxies"], original["proxies"]);
    assert_eq!(written["currentContext"], "remote");
    assert_eq!(written["auths"]["other:1"], original["auths"]["other:1"]);
    assert_eq!(
        written["auths"]["myreg:5000"],
        json!({ "auth": STANDARD.encode("u:p") })
    );
}

#[test]
fn save_creates_the_directory_and_a_0600_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new").join("config.json");
    let mut file = DockerConfigFile::load(&path).unwrap();
    file.set_auth("h", &basic("u", "p"));
    file.save().unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = fs::metadata(path.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
}

#[test]
fn save_leaves_no_temporary_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let mut file = DockerConfigFile::load(&path).unwrap();
    file.set_auth("h", &basic("u", "p"));
    file.save().unwrap();
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("config.json")]);
}

#[test]
fn save_through_a_symlink_replaces_the_link_target() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.json");
    fs::write(&real, "{}").unwrap();
    let link = dir.path().join("config.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let mut file = DockerConfigFile::load(&link).unwrap();
    file.set_auth("h", &basic("u", "p"));
    file.save().unwrap();
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        read_json(&real)["auths"]["h"]["auth"],
        STANDARD.encode("u:p")
    );
}

#[test]
fn remove_auths_drops_only_the_named_keys() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({ "auths": { "a": {}, "https://a": {}, "b": {} } });
    let path = write_config(dir.path(), &config);
    let mut file = DockerConfigFile::load(&path).unwrap();
    let keys = file.auth_keys("a").unwrap();
    assert_eq!(keys, vec!["a".to_string(), "https://a".to_string()]);
    assert!(file.remove_auths(&keys));
    file.save().unwrap();
    assert_eq!(read_json(&path)["auths"], json!({ "b": {} }));
}

#[test]
fn helper_marker_entry_holds_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let mut file = DockerConfigFile::load(&path).unwrap();
    file.set_helper_marker("h");
    file.save().unwrap();
    assert_eq!(read_json(&path)["auths"]["h"], json!({}));
    assert_eq!(
        DockerConfigFile::load(&path).unwrap().auth("h").unwrap(),
        None
    );
}

#[test]
fn debug_does_not_show_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let auths = json!({ "auths": { "h": { "auth": STANDARD.encode("u:hunter2") } } });
    let file = DockerConfigFile::load(write_config(dir.path(), &auths)).unwrap();
    let shown = format!("{file:?} {:?}", file.auth("h").unwrap());
    assert!(!shown.contains("hunter2") && !shown.contains(&STANDARD.encode("u:hunter2")));
}

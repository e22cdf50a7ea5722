//! `hoist login` / `hoist logout` end to end: the built `hoist` binary against real
//! `docker-registry` processes (htpasswd and token auth), with HOME, DOCKER_CONFIG and PATH
//! pointed at a temporary directory so that nothing of the real user is read or written.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hoist_testkit::{TestRegistry, TokenServer};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt as _;

/// The credential helper script the library's unit tests use too.
const TEST_HELPER_SCRIPT: &str =
    include_str!("../../hoist/src/credentials/testdata/docker-credential-test.sh");

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-pw";

/// A temporary home for one test: `home/.docker/config.json`, an empty hoist config file, and
/// `bin/docker-credential-test` (first on PATH) keeping its entries in `helper-store/`.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        fs::create_dir_all(dir.path().join("home")).unwrap();
        let store = dir.path().join("helper-store");
        let script = TEST_HELPER_SCRIPT.replace("@STORE_DIR@", store.to_str().unwrap());
        let program = bin.join("docker-credential-test");
        fs::write(&program, script).unwrap();
        fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(dir.path().join("hoist.toml"), "").unwrap();
        Sandbox { dir }
    }

    fn docker_config_path(&self) -> PathBuf {
        self.dir.path().join("home/.docker/config.json")
    }

    fn write_docker_config(&self, value: &Value) {
        let path = self.docker_config_path();
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    }

    fn docker_config(&self) -> Value {
        serde_json::from_slice(&fs::read(self.docker_config_path()).unwrap()).unwrap()
    }

    fn helper_actions(&self) -> String {
        fs::read_to_string(self.dir.path().join("helper-store/actions.log")).unwrap_or_default()
    }

    fn helper_entry(&self, host: &str) -> Option<String> {
        fs::read_to_string(self.dir.path().join("helper-store/entries").join(host)).ok()
    }

    /// Runs `hoist ARGS` with `stdin` piped in (so stdin is never a terminal).
    async fn hoist(&self, args: &[&str], stdin: &str) -> Output {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hoist"));
        command.args(args);
        self.run(command, stdin).await
    }

    /// Runs `hoist ARGS` on a pseudo-terminal (util-linux `script`), typing `typed` into it.
    async fn hoist_on_terminal(&self, args: &[&str], typed: &str) -> Output {
        let line = std::iter::once(env!("CARGO_BIN_EXE_hoist"))
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        let mut command = tokio::process::Command::new("script");
        command.args(["-qec", &line, "/dev/null"]);
        self.run(command, typed).await
    }

    async fn run(&self, mut command: tokio::process::Command, stdin: &str) -> Output {
        let inherited = std::env::var_os("PATH").unwrap_or_default();
        let mut path = vec![self.dir.path().join("bin")];
        path.extend(std::env::split_paths(&inherited));
        let mut child = command
            .env("HOME", self.dir.path().join("home"))
            .env("DOCKER_CONFIG", self.docker_config_path().parent().unwrap())
            .env("HOIST_CONFIG", self.dir.path().join("hoist.toml"))
            .env(
                "REGISTRY_AUTH_FILE",
                self.dir.path().join("podman-auth.json"),
            )
            .env("XDG_CONFIG_HOME", self.dir.path().join("home/.config"))
            .env("PATH", std::env::join_paths(path).unwrap())
            .env_remove("HOIST_ROOT")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(stdin.as_bytes()).await.unwrap();
        drop(pipe);
        child.wait_with_output().await.unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "hoist failed: {}\nstdout: {}\nstderr: {}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

fn assert_one_line_failure(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "hoist succeeded: {}",
        text(&output.stdout)
    );
    let stderr = text(&output.stderr);
    let failure_lines = stderr.lines().filter(|l| l.starts_with("Error: ")).count();
    assert_eq!(failure_lines, 1, "{stderr}");
    stderr
}

async fn htpasswd_registry() -> TestRegistry {
    TestRegistry::htpasswd(USER, PASSWORD).await.unwrap()
}

async fn login_with_stdin(sandbox: &Sandbox, host: &str, password: &str) -> Output {
    let stdin = format!("{password}\n");
    sandbox
        .hoist(&["login", "-u", USER, "--password-stdin", host], &stdin)
        .await
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn login_with_password_stdin_writes_docker_compatible_auths_entry() {
    let registry = htpasswd_registry().await;
    let sandbox = Sandbox::new();
    let output = login_with_stdin(&sandbox, &registry.host(), PASSWORD).await;
    assert_success(&output);
    assert!(text(&output.stdout).contains("Login Succeeded"));
    let config = sandbox.docker_config();
    let expected = STANDARD.encode(format!("{USER}:{PASSWORD}"));
    assert_eq!(
        config["auths"][registry.host()],
        json!({ "auth": expected })
    );
    assert_eq!(mode_of(&sandbox.docker_config_path()), 0o600);
}

#[tokio::test]
async fn login_with_wrong_password_says_unauthorized_and_writes_nothing() {
    let registry = htpasswd_registry().await;
    let sandbox = Sandbox::new();
    let output = login_with_stdin(&sandbox, &registry.host(), "wrong-password").await;
    let stderr = assert_one_line_failure(&output);
    assert!(stderr.contains("unauthorized"), "{stderr}");
    assert!(stderr.contains(&registry.host()), "{stderr}");
    assert!(!stderr.contains("wrong-password"), "{stderr}");
    assert!(!sandbox.docker_config_path().exists());
}

#[tokio::test]
async fn failed_login_leaves_existing_credentials_alone() {
    let registry = htpasswd_registry().await;
    let sandbox = Sandbox::new();
    assert_success(&login_with_stdin(&sandbox, &registry.host(), PASSWORD).await);
    let before = fs::read(sandbox.docker_config_path()).unwrap();
    assert!(!login_with_stdin(&sandbox, &registry.host(), "wrong")
        .await
        .status
        .success());
    assert_eq!(fs::read(sandbox.docker_config_path()).unwrap(), before);
}

#[tokio::test]
async fn login_keeps_other_settings_of_config_json() {
    let registry = htpasswd_registry().await;
    let sandbox = Sandbox::new();
    let other = json!({ "auth": STANDARD.encode("bob:pw") });
    sandbox.write_docker_config(&json!({
        "auths": { "other.example": other },
        "proxies": { "default": { "httpProxy": "http://proxy:3128" } },
    }));
    assert_success(&login_with_stdin(&sandbox, &registry.host(), PASSWORD).await);
    let config = sandbox.docker_config();
    assert_eq!(config["auths"]["other.example"], other);
    assert_eq!(
        config["proxies"]["default"]["httpProxy"],
        "http://proxy:3128"
    );
}

#[tokio::test]
async fn logout_removes_the_entry() {
    let registry = htpasswd_registry().await;
    let sandbox = Sandbox::new();
    assert_success(&login_with_stdin(&sandbox, &registry.host(), PASSWORD).await);
    let output = sandbox.hoist(&["logout", &registry.host()], "").await;
    assert_success(&output);
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "Removing login credentials for {}",
            registry.host()
        )),
        "{stdout}"
    );
    assert_eq!(sandbox.docker_config()["auths"], json!({}));
}

#[tokio::test]
async fn logout_when_not_logged_in_says_so_and_succeeds() {
    let sandbox = Sandbox::new();
    let output = sandbox.hoist(&["logout", "127.0.0.1:1"], "").await;
    assert_success(&output);
    assert!(text(&output.stdout).contains("Not logged in to 127.0.0.1:1"));
    assert!(!sandbox.docker_config_path().exists());
}

#[tokio::test]
async fn logout_without_host_means_docker_hub() {
    let sandbox = Sandbox::new();
    let hub = json!({ "auth": STANDARD.encode("hubuser:pw") });
    sandbox.write_docker_config(&json!({ "auths": { "https://index.docker.io/v1/": hub } }));
    let output = sandbox.hoist(&["logout"], "").await;
    assert_success(&output);
    assert!(text(&output.stdout).contains("Removing login credentials for docker.io"));
    assert_eq!(sandbox.docker_config()["auths"], json!({}));
}

#[tokio::test]
async fn login_and_logout_go_through_the_configured_credential_helper() {
    let registry = htpasswd_registry().await;
    let host = registry.host();
    let sandbox = Sandbox::new();
    sandbox.write_docker_config(&json!({ "credHelpers": { host.clone(): "test" } }));

    let output = login_with_stdin(&sandbox, &host, PASSWORD).await;
    assert_success(&output);
    let entry = sandbox
        .helper_entry(&host.replace(':', "_"))
        .expect("helper holds the login");
    assert!(
        entry.contains(&format!("\"Username\":\"{USER}\"")),
        "{entry}"
    );
    let config_text = fs::read_to_string(sandbox.docker_config_path()).unwrap();
    assert!(!config_text.contains(PASSWORD), "{config_text}");
    assert_eq!(
        sandbox.docker_config()["auths"][&host],
        json!({}),
        "docker's secret-free marker only"
    );
    assert!(!text(&output.stderr).contains("unencrypted"));

    let output = sandbox.hoist(&["logout", &host], "").await;
    assert_success(&output);
    assert!(sandbox.helper_entry(&host.replace(':', "_")).is_none());
    assert!(sandbox
        .helper_actions()
        .contains(&format!("store {host}\n")));
    assert!(sandbox
        .helper_actions()
        .contains(&format!("erase {host}\n")));
    assert_eq!(sandbox.docker_config()["auths"], json!({}));
}

#[tokio::test]
async fn login_without_a_terminal_refuses_to_prompt() {
    let sandbox = Sandbox::new();
    let output = sandbox
        .hoist(&["login", "-u", USER, "127.0.0.1:1"], "")
        .await;
    let stderr = assert_one_line_failure(&output);
    assert!(
        stderr.contains("not a terminal") && stderr.contains("--password-stdin"),
        "{stderr}"
    );
    assert!(!sandbox.docker_config_path().exists());
}

#[tokio::test]
async fn login_on_a_terminal_prompts_for_user_and_password() {
    let registry = htpasswd_registry().await;
    let sandbox = Sandbox::new();
    let typed = format!("{USER}\n{PASSWORD}\n");
    let output = sandbox
        .hoist_on_terminal(&["login", &registry.host()], &typed)
        .await;
    assert_success(&output);
    let shown = text(&output.stdout);
    assert!(
        shown.contains("Username: ") && shown.contains("Password: "),
        "{shown}"
    );
    assert!(shown.contains("Login Succeeded"), "{shown}");
    let expected = STANDARD.encode(format!("{USER}:{PASSWORD}"));
    assert_eq!(
        sandbox.docker_config()["auths"][registry.host()]["auth"],
        expected
    );
}

#[tokio::test]
async fn password_flag_works_with_docker_s_warning() {
    let registry = htpasswd_registry().await;
    let sandbox = Sandbox::new();
    let output = sandbox
        .hoist(&["login", "-u", USER, "-p", PASSWORD, &registry.host()], "")
        .await;
    assert_success(&output);
    assert!(text(&output.stderr).contains("WARNING! Using --password via the CLI is insecure"));
}

#[tokio::test]
async fn login_without_flags_reuses_valid_stored_credentials() {
    let registry = htpasswd_registry().await;
    let sandbox = Sandbox::new();
    let stored = json!({ "auth": STANDARD.encode(format!("{USER}:{PASSWORD}")) });
    sandbox.write_docker_config(&json!({ "auths": { registry.host(): stored } }));
    let output = sandbox.hoist(&["login", &registry.host()], "").await;
    assert_success(&output);
    assert!(text(&output.stderr).contains("Authenticating with existing credentials"));
}

#[tokio::test]
async fn login_to_a_token_auth_registry_verifies_through_the_token_server() {
    let tokens = TokenServer::builder().user(USER, PASSWORD).start().unwrap();
    let registry = TestRegistry::builder()
        .token_auth(tokens.auth_config())
        .start()
        .await
        .unwrap();
    let sandbox = Sandbox::new();
    assert_success(&login_with_stdin(&sandbox, &registry.host(), PASSWORD).await);
    let stderr =
        assert_one_line_failure(&login_with_stdin(&sandbox, &registry.host(), "nope").await);
    assert!(stderr.contains("unauthorized"), "{stderr}");
}

#[tokio::test]
async fn malformed_config_json_fails_naming_the_file() {
    let sandbox = Sandbox::new();
    fs::create_dir_all(sandbox.docker_config_path().parent().unwrap()).unwrap();
    fs::write(sandbox.docker_config_path(), "{\"auths\": {").unwrap();
    let stderr = assert_one_line_failure(&sandbox.hoist(&["logout", "myreg:5000"], "").await);
    let path = sandbox.docker_config_path().display().to_string();
    assert!(
        stderr.contains("malformed JSON") && stderr.contains(&path),
        "{stderr}"
    );
}

#[tokio::test]
async fn invalid_hoist_config_fails_naming_file_and_line() {
    let sandbox = Sandbox::new();
    let config = sandbox.dir.path().join("hoist.toml");
    fs::write(
        &config,
        "max_concurrent_downloads = 3\nmax_concurent_uploads = 5\n",
    )
    .unwrap();
    let stderr = assert_one_line_failure(&sandbox.hoist(&["logout", "myreg:5000"], "").await);
    assert!(stderr.contains(&config.display().to_string()), "{stderr}");
    assert!(
        stderr.contains("line 2") && stderr.contains("max_concurent_uploads"),
        "{stderr}"
    );
}

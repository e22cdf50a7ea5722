//! The `testkit` binary's `seed` command against a real registry.

use std::process::Command;

use hoist_testkit::{Layer, TestRegistry};

fn testkit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_testkit"))
}

#[tokio::test]
async fn seed_from_dir_pushes_one_layer_made_of_the_directory() {
    let reg = TestRegistry::htpasswd("seeder", "pw").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("greeting"), b"hi\n").unwrap();
    let out = testkit()
        .args(["seed", "--registry", &reg.host(), "--repo", "demo/dir:v1"])
        .args(["--user", "seeder", "--password", "pw", "--from-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains("pw"), "credentials must not be printed");
    let expected = Layer::from_dir(dir.path()).unwrap();
    let layer_line = stdout.lines().find(|l| l.starts_with("layer")).unwrap();
    assert!(
        layer_line.contains(&hoist_testkit::sha256_digest(&expected.gzip)),
        "{stdout}"
    );
    let resp = reg
        .client()
        .get(format!("{}/v2/demo/dir/manifests/v1", reg.url()))
        .basic_auth("seeder", Some("pw"))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[test]
fn seed_refuses_a_repo_without_a_tag() {
    let out = testkit()
        .args(["seed", "--registry", "127.0.0.1:1", "--repo", "demo/notag"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected NAME:TAG"));
}

/// Whether `pid` is gone or a zombie.
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let path = task.unwrap().path().join("children");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        out.extend(text.split_whitespace().map(|p| p.parse::<u32>().unwrap()));
    }
    out
}

#[test]
fn registry_dies_when_the_process_that_started_it_is_killed() {
    use std::io::BufRead;
    let mut serve = testkit()
        .args(["serve", "anonymous"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(serve.stdout.take().unwrap()).lines();
    let ready = lines
        .find(|l| l.as_ref().unwrap().starts_with("registry:"))
        .unwrap();
    assert!(ready.unwrap().contains("127.0.0.1:"));
    let registry_pid = children(serve.id())
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .unwrap_or_default()
                .contains("serve")
        })
        .expect("the registry is a child of `testkit serve`");
    serve.kill().unwrap(); // SIGKILL: no destructor runs
    serve.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !is_dead(registry_pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        is_dead(registry_pid),
        "registry {registry_pid} outlived its parent"
    );
}

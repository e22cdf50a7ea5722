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

//! `hoist sync` end to end: the built binary between real `docker-registry` processes, from a
//! skopeo sync YAML file; the second run finds everything up to date; `--dry-run` writes
//! nothing; `--keep-going` reports a missing repository on stderr, syncs the rest and exits 1.

mod sandbox;

use sandbox::{arch_image, push_index, stderr, stdout, Sandbox};

use hoist_testkit::{ImagePusher, TestRegistry};

/// A source registry with `team/app:v1` (an index of two platforms) and `base/tool:1.0`.
async fn source() -> TestRegistry {
    let registry = TestRegistry::anonymous().await.unwrap();
    push_index(&registry, "team/app", &["amd64", "arm64"]).await;
    ImagePusher::new(&registry)
        .push_image("base/tool", "1.0", &arch_image("amd64"))
        .await
        .unwrap();
    registry
}

fn yaml(sandbox: &Sandbox, text: &str) -> String {
    let path = sandbox.dir.path().join("sync.yml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn yaml_sync_copies_then_finds_everything_up_to_date() {
    let (a, b) = (source().await, TestRegistry::anonymous().await.unwrap());
    let sandbox = Sandbox::new();
    let file = yaml(
        &sandbox,
        &format!(
            "{}:\n    images:\n        team/app: []\n    images-by-semver:\n        base/tool: \">= 1\"\n",
            a.host()
        ),
    );
    let dest = format!("{}/mirror", b.host());
    let args = ["sync", "--src", "yaml", "--dest", "docker", &file, &dest];

    let first = sandbox.hoist(&args).await;

    assert!(first.status.success(), "{}", stderr(&first));
    let text = stdout(&first);
    assert!(
        text.contains(&format!(
            "Copying image 2/2: docker://{}/base/tool:1.0 to docker://{dest}/tool:1.0",
            a.host()
        )),
        "{text}"
    );
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("Synced 2 images (0 up to date, 2 copied: "),
        "{last}"
    );

    let second = sandbox.hoist(&args).await;

    assert!(second.status.success(), "{}", stderr(&second));
    let text = stdout(&second);
    assert!(
        text.contains(&format!("docker://{dest}/app:v1: up to date")),
        "{text}"
    );
    let last = text.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        "Synced 2 images (2 up to date, 0 copied: 0 blobs sent, 0 mounted, 0 already there)"
    );
}

#[tokio::test]
async fn dry_run_prints_what_would_move_and_copies_nothing() {
    let (a, b) = (source().await, TestRegistry::anonymous().await.unwrap());
    let sandbox = Sandbox::new();
    let src = format!("{}/base/tool:1.0", a.host());
    let dest = format!("{}/mirror", b.host());

    let out = sandbox
        .hoist(&[
            "sync",
            "--dry-run",
            "-s",
            "docker",
            "-d",
            "docker",
            &src,
            &dest,
        ])
        .await;

    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "Would copy docker://{src} to docker://{dest}/tool:1.0: 1 manifest, 2 blobs ("
        )),
        "{text}"
    );
    assert!(
        text.contains("Would sync 1 image (0 up to date, 1 to copy: 2 blobs ("),
        "{text}"
    );
    assert_eq!(b.count_requests("PUT", "/v2/"), 0);
}

#[tokio::test]
async fn keep_going_reports_the_missing_repository_and_exits_1() {
    let (a, b) = (source().await, TestRegistry::anonymous().await.unwrap());
    let sandbox = Sandbox::new();
    let file = yaml(
        &sandbox,
        &format!(
            "{}:\n    images:\n        team/app: [v1]\n        team/missing: []\n",
            a.host()
        ),
    );
    let dest = format!("{}/mirror", b.host());

    let out = sandbox
        .hoist(&[
            "sync",
            "--keep-going",
            "--src",
            "yaml",
            "--dest",
            "docker",
            &file,
            &dest,
        ])
        .await;

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let errors = stderr(&out);
    assert!(
        errors.contains(&format!(
            "Error: cannot list the tags of {}/team/missing",
            a.host()
        )),
        "{errors}"
    );
    let last = stdout(&out).lines().last().unwrap_or_default().to_owned();
    assert!(
        last.starts_with("Synced 1 image (0 up to date, 1 copied"),
        "{last}"
    );
    assert!(last.ends_with(", 1 failed)"), "{last}");
}

#[tokio::test]
async fn unknown_transports_are_usage_errors() {
    let sandbox = Sandbox::new();

    let out = sandbox
        .hoist(&["sync", "--src", "oci", "--dest", "docker", "a", "b"])
        .await;

    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[tokio::test]
async fn json_prints_one_object_per_line_with_bytes_and_a_summary() {
    let (a, b) = (source().await, TestRegistry::anonymous().await.unwrap());
    let sandbox = Sandbox::new();
    let file = yaml(
        &sandbox,
        &format!(
            "{}:\n    images:\n        team/app: []\n        base/tool: ['1.0']\n",
            a.host()
        ),
    );
    let dest = format!("{}/mirror", b.host());
    let args = [
        "sync",
        "--json",
        "--concurrency",
        "2",
        "--src",
        "yaml",
        "--dest",
        "docker",
        &file,
        &dest,
    ];

    let first = sandbox.hoist(&args).await;
    let second = sandbox.hoist(&args).await;

    for out in [&first, &second] {
        assert!(out.status.success(), "{}", stderr(out));
    }
    let events = |text: String| -> Vec<serde_json::Value> {
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    };
    let (first, second) = (events(stdout(&first)), events(stdout(&second)));
    let kinds = |events: &[serde_json::Value]| -> Vec<String> {
        let mut kinds: Vec<String> = events
            .iter()
            .map(|e| e["event"].as_str().unwrap_or_default().to_owned())
            .collect();
        kinds.sort();
        kinds
    };
    assert_eq!(
        kinds(&first),
        ["done", "done", "started", "started", "summary"]
    );
    assert_eq!(
        kinds(&second),
        ["skipped", "skipped", "started", "started", "summary"]
    );
    let sent: u64 = first
        .iter()
        .filter(|e| e["event"] == "done")
        .map(|e| e["bytes"].as_u64().unwrap())
        .sum();
    assert!(sent > 0);
    let summary = first.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(
        (summary["copied"].as_u64(), summary["bytes"].as_u64()),
        (Some(2), Some(sent))
    );
    assert!(second
        .iter()
        .filter(|e| e["event"] == "skipped")
        .all(|e| e["reason"] == "up-to-date" && e["bytes"] == 0));
}

#[tokio::test]
async fn since_without_a_dir_destination_is_a_usage_error() {
    let sandbox = Sandbox::new();

    let out = sandbox
        .hoist(&[
            "sync",
            "--since",
            "/nowhere",
            "--src",
            "dir",
            "--dest",
            "docker",
            "/a",
            "r.example/x",
        ])
        .await;

    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--since needs --dest dir"),
        "{}",
        stderr(&out)
    );
}

//! What hoist writes, and where, on successful runs: a closed stdout (`hoist … | head -1`)
//! ends output quietly while the work completes and the store stays consistent; at the
//! default verbosity nothing internal reaches stderr (a platform switch, a schema 1 image),
//! while `-v`/`--debug` show more.

mod sandbox;

use sandbox::{push_index, registry_with_image, stderr, stdout, Sandbox};

use hoist_testkit::{ImagePusher, Layer, Schema1Builder, TestRegistry, TrustKey};

async fn registry_with_index() -> TestRegistry {
    let registry = TestRegistry::anonymous().await.unwrap();
    push_index(&registry, "team/multi", &["amd64", "arm64"]).await;
    registry
}

fn assert_no_panic(out: &std::process::Output) {
    let err = stderr(out);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");
}

#[tokio::test]
async fn pull_into_a_closed_pipe_completes_and_exits_zero() {
    let (registry, image) = registry_with_image().await;
    let sandbox = Sandbox::new();
    let reference = format!("{}/team/app:v1", registry.host());

    let out = sandbox.hoist_closed_stdout(&["pull", &reference]).await;

    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    // The pull completed: the image is recorded under its tag and every blob is stored.
    let inspect = sandbox.hoist(&["inspect", &reference]).await;
    assert!(inspect.status.success(), "{}", stderr(&inspect));
    assert!(stdout(&inspect).contains(image.digest()));
    for layer in &image.layers {
        let hex = layer.digest.trim_start_matches("sha256:");
        assert!(sandbox.root().join("blobs/sha256").join(hex).is_file());
    }
}

#[tokio::test]
async fn store_commands_into_a_closed_pipe_end_quietly() {
    let (registry, _image) = registry_with_image().await;
    let sandbox = Sandbox::new();
    let reference = format!("{}/team/app:v1", registry.host());
    assert!(sandbox
        .hoist(&["pull", "-q", &reference])
        .await
        .status
        .success());

    for args in [
        vec!["images"],
        vec!["images", "--json"],
        vec!["inspect", reference.as_str()],
        vec!["pull", reference.as_str()],
    ] {
        let out = sandbox.hoist_closed_stdout(&args).await;
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
}

#[tokio::test]
async fn platform_switch_logs_nothing_at_default_verbosity() {
    let registry = registry_with_index().await;
    let sandbox = Sandbox::new();
    let reference = format!("{}/team/multi:v1", registry.host());
    let first = sandbox
        .hoist(&["pull", "-q", "--platform", "linux/amd64", &reference])
        .await;
    assert!(first.status.success(), "{}", stderr(&first));

    for quiet in [true, false] {
        // Each pull asks for arm64 while `NAME@INDEX` still names the amd64 manifest.
        let mut args = vec!["pull", "--platform", "linux/arm64", reference.as_str()];
        if quiet {
            args.insert(1, "-q");
        }
        let out = sandbox.hoist(&args).await;

        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
        assert!(stdout(&out).ends_with(&format!("{reference}\n")));
    }
}

#[tokio::test]
async fn platform_switch_detail_is_shown_with_debug() {
    let registry = registry_with_index().await;
    let sandbox = Sandbox::new();
    let reference = format!("{}/team/multi:v1", registry.host());
    for platform in ["linux/amd64", "linux/arm64"] {
        let out = sandbox
            .hoist(&["pull", "-q", "--debug", "--platform", platform, &reference])
            .await;
        assert!(out.status.success(), "{}", stderr(&out));
        if platform == "linux/arm64" {
            let err = stderr(&out);
            assert!(err.contains("DEBUG"), "{err}");
            assert!(
                err.contains("digest reference points at another image"),
                "{err}"
            );
            assert!(!err.contains("ERROR"), "{err}");
        }
    }
}

#[tokio::test]
async fn schema1_deprecation_warning_is_printed_once() {
    let registry = TestRegistry::builder()
        .accept_schema1()
        .start()
        .await
        .unwrap();
    let image = Schema1Builder::new("team/old", "v1")
        .layer(Layer::from_files(&[("old.txt", b"old")]).unwrap())
        .build(&TrustKey::generate())
        .unwrap();
    ImagePusher::new(&registry)
        .push_schema1("team/old", "v1", &image)
        .await
        .unwrap();
    let sandbox = Sandbox::new();
    let reference = format!("{}/team/old:v1", registry.host());

    let out = sandbox.hoist(&["pull", &reference]).await;

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let text = stdout(&out);
    assert_eq!(
        text.matches("uses outdated schema1 manifest format")
            .count(),
        1,
        "{text}"
    );
}

#[tokio::test]
async fn log_lines_have_no_colour_codes_off_a_terminal_or_with_no_color() {
    let sandbox = Sandbox::new();
    let out = sandbox
        .hoist_env(&["-vv", "images"], &[("NO_COLOR", "1")])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("DEBUG"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
}

#[tokio::test]
async fn a_warning_into_a_closed_stderr_does_not_panic() {
    let (registry, _image) = registry_with_image().await;
    let sandbox = Sandbox::new();
    let reference = format!("{}/team/app:v1", registry.host());

    // Pulling another platform of a single-platform image prints docker's warning on stderr.
    let out = sandbox
        .hoist_closed_stderr(&["pull", "-q", "--platform", "linux/arm64", &reference])
        .await;

    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), format!("{reference}\n"));
}

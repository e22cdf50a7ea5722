//! `hoist pull` on a terminal: run under a pseudo-terminal (`script(1)`), a layer served
//! slowly through the testkit's fault proxy so bars are drawn while bytes move. The bars carry
//! docker's byte counts (`1.2MB/3MB`), the transfer rate and the time left; each layer ends
//! with its status line.

mod sandbox;

use sandbox::{stderr, Sandbox};

use hoist_testkit::{FaultProxy, ImageBuilder, ImagePusher, Layer, Rule, TestRegistry};

#[tokio::test]
async fn pull_on_a_terminal_draws_bars_with_sizes_rate_and_time_left() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = ImageBuilder::new()
        .layer(Layer::random(3_000_000).unwrap())
        .build()
        .unwrap();
    ImagePusher::new(&registry)
        .push_image("team/big", "v1", &image)
        .await
        .unwrap();
    let proxy = FaultProxy::start(&registry).await.unwrap();
    proxy.rule(Rule::get_blob().throttle(1_500_000));
    let sandbox = Sandbox::new();
    let reference = format!("{}/team/big:v1", proxy.host());
    let hoist = format!(
        "{} --root {} --config {} pull {reference}",
        env!("CARGO_BIN_EXE_hoist"),
        sandbox.root().display(),
        sandbox.config_path().display()
    );

    let out = tokio::process::Command::new("script")
        .args(["-qfec", &hoist, "/dev/null"])
        .env_clear()
        .env("HOME", sandbox.dir.path().join("home"))
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TERM", "xterm")
        .env("COLUMNS", "120")
        .env("LINES", "40")
        .output()
        .await
        .unwrap();

    assert!(out.status.success(), "{}", stderr(&out));
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("Pull complete"), "{screen}");
    assert!(screen.contains("[="), "a bar was drawn: {screen}");
    assert!(
        screen.contains("MB/3.001MB"),
        "docker's byte counts: {screen}"
    );
    assert!(screen.contains("B/s "), "the rate: {screen}");
    assert!(
        !screen.contains(".356kB"),
        "4 significant digits, as docker: {screen}"
    );
    assert!(screen.contains(&reference), "{screen}");
}

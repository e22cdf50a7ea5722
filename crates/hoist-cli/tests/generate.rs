//! `hoist completion SHELL` and `hoist man DIR`: generated from the clap definitions, so every
//! command appears in them.

mod sandbox;

use sandbox::{stderr, stdout, Sandbox};

const COMMANDS: [&str; 7] = [
    "pull",
    "ls",
    "catalog",
    "manifest",
    "history",
    "completion",
    "sync",
];

#[tokio::test]
async fn completion_scripts_name_every_command() {
    let sandbox = Sandbox::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = sandbox.hoist(&["completion", shell]).await;
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for command in COMMANDS {
            assert!(script.contains(command), "{shell} script lacks {command}");
        }
    }
    let bad = sandbox.hoist(&["completion", "tcsh"]).await;
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test]
async fn man_writes_one_page_per_command() {
    let sandbox = Sandbox::new();
    let dir = sandbox.dir.path().join("man1");

    let out = sandbox.hoist(&["man", dir.to_str().unwrap()]).await;

    assert!(out.status.success(), "{}", stderr(&out));
    let main = std::fs::read_to_string(dir.join("hoist.1")).unwrap();
    assert!(main.starts_with(".ie"), "{}", &main[..40.min(main.len())]);
    for command in COMMANDS {
        let page = std::fs::read_to_string(dir.join(format!("hoist-{command}.1"))).unwrap();
        assert!(page.contains(&format!("hoist\\-{command}")), "{command}");
    }
}

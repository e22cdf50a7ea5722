//! The built `hoist` binary run in a sandbox: its store root, HOME, DOCKER_CONFIG and config
//! file all in one temporary directory, the environment otherwise empty (PATH kept), so nothing
//! of the real user is read or written.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::write(dir.path().join("hoist.toml"), "").unwrap();
        Sandbox { dir }
    }

    /// The store root every command is given with `--root`.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Runs `hoist --root ROOT --config CONFIG ARGS…`.
    pub async fn hoist(&self, args: &[&str]) -> Output {
        let home = self.dir.path().join("home");
        tokio::process::Command::new(env!("CARGO_BIN_EXE_hoist"))
            .arg("--root")
            .arg(self.root())
            .arg("--config")
            .arg(self.dir.path().join("hoist.toml"))
            .args(args)
            .env_clear()
            .env("HOME", &home)
            .env("DOCKER_CONFIG", home.join(".docker"))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .output()
            .await
            .unwrap()
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

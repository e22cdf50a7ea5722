//! The built `hoist` binary run in a sandbox: its store root, HOME, DOCKER_CONFIG and config
//! file all in one temporary directory, the environment otherwise empty (PATH kept), so nothing
//! of the real user is read or written.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use hoist_testkit::store::SeededStore;
use hoist_testkit::{
    Blob, Image, ImageBuilder, ImagePusher, Index, Layer, ManifestFormat, TestRegistry,
};

/// An anonymous registry holding `team/app:v1`, a two-layer linux/amd64 image.
pub async fn registry_with_image() -> (TestRegistry, Image) {
    let registry = TestRegistry::anonymous().await.unwrap();
    let image = ImageBuilder::new()
        .layer(Layer::from_files(&[("hello.txt", b"hello\n")]).unwrap())
        .layer(Layer::from_files(&[("world.txt", b"world\n")]).unwrap())
        .build()
        .unwrap();
    ImagePusher::new(&registry)
        .push_image("team/app", "v1", &image)
        .await
        .unwrap();
    (registry, image)
}

/// A one-layer image for `linux/ARCH` whose layer holds its architecture's name.
pub fn arch_image(arch: &str) -> Image {
    ImageBuilder::new()
        .platform("linux", arch, None)
        .layer(Layer::from_files(&[("arch.txt", arch.as_bytes())]).unwrap())
        .build()
        .unwrap()
}

/// `repo:v1` on `registry`: an OCI index of one [`arch_image`] per architecture.
pub async fn push_index(registry: &TestRegistry, repo: &str, archs: &[&str]) -> Index {
    let images = archs.iter().map(|a| arch_image(a)).collect();
    let index = Index::new(ManifestFormat::Oci, images).unwrap();
    ImagePusher::new(registry)
        .push_index(repo, "v1", &index)
        .await
        .unwrap();
    index
}

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
        self.command(args).output().await.unwrap()
    }

    /// Runs `hoist … ARGS…` with `ENV=VALUE` pairs added to its environment.
    pub async fn hoist_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        command.output().await.unwrap()
    }

    /// Runs `hoist … ARGS…` with a stdout whose reader is gone before hoist writes anything
    /// (`hoist … | head -0`): every write to stdout fails with `EPIPE`. The output's stdout is
    /// empty.
    pub async fn hoist_closed_stdout(&self, args: &[&str]) -> Output {
        let mut command = self.command(args);
        command.stdout(std::process::Stdio::piped());
        command.stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap();
        drop(child.stdout.take());
        child.wait_with_output().await.unwrap()
    }

    /// Runs `hoist … ARGS…` with a stderr whose reader is gone before hoist writes anything.
    pub async fn hoist_closed_stderr(&self, args: &[&str]) -> Output {
        let mut command = self.command(args);
        command.stdout(std::process::Stdio::piped());
        command.stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap();
        drop(child.stderr.take());
        child.wait_with_output().await.unwrap()
    }

    /// The command `hoist --root ROOT --config CONFIG ARGS…` in the sandbox's environment.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let home = self.dir.path().join("home");
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hoist"));
        command
            .arg("--root")
            .arg(self.root())
            .arg("--config")
            .arg(self.config_path())
            .args(args)
            .env_clear()
            .env("HOME", &home)
            .env("DOCKER_CONFIG", home.join(".docker"))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        command
    }

    /// The configuration file every command is given with `--config` (empty at first).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("hoist.toml")
    }
}

/// `hoist --root ROOT ARGS…` as a blocking command with HOME at `home` and no config file from
/// the environment: for tests against a store seeded through the testkit
/// (`hoist_testkit::store::SeededStore`) rather than a [`Sandbox`].
pub fn command_at(root: &Path, home: &Path, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hoist"));
    command
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("HOIST_CONFIG")
        .env("HOME", home);
    command
}

/// A store seeded through the testkit, and `hoist --root ROOT` run against it as a blocking
/// command (HOME at the root, stdin closed unless given).
#[derive(Default)]
pub struct SeededRoot(pub SeededStore);

impl std::ops::Deref for SeededRoot {
    type Target = SeededStore;
    fn deref(&self) -> &SeededStore {
        &self.0
    }
}

impl SeededRoot {
    pub fn new() -> SeededRoot {
        SeededRoot::default()
    }

    /// `hoist --root ROOT ARGS…`, not yet run.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        command_at(&self.root(), &self.root(), args)
    }

    /// Runs `hoist --root ROOT ARGS…` with stdin closed.
    pub fn hoist(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs `hoist --root ROOT ARGS…` with `input` on its stdin.
    pub fn hoist_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write as _;
        use std::process::Stdio;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    /// The store holds `blob`.
    pub fn has(&self, blob: &Blob) -> bool {
        self.meta
            .content()
            .has(&hoist_testkit::store::digest(blob))
            .unwrap()
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

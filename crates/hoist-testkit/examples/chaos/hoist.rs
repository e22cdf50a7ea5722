//! Running the `hoist` binary under test: to completion (with a timeout that counts as a hang),
//! or killed with `SIGKILL` after a delay, its output captured either way.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

/// One `hoist` binary on one store root, with an empty configuration and no credentials.
#[derive(Debug, Clone)]
pub struct Hoist {
    bin: PathBuf,
    root: PathBuf,
    /// Holds an empty `XDG_CONFIG_HOME` and `DOCKER_CONFIG`, so no user file changes a run.
    home: PathBuf,
}

/// How a run ended.
#[derive(Debug)]
pub struct Run {
    /// The exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    /// Whether the harness killed it (a planned kill, or a hang past the timeout).
    pub killed: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// Exit status 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// The lines of stderr that start with `Error: `.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("Error: "))
            .collect()
    }

    /// A failure that says so in exactly one `Error: ` line.
    pub fn is_one_clear_error(&self) -> bool {
        !self.killed && matches!(self.code, Some(c) if c != 0) && self.error_lines().len() == 1
    }

    /// The run's stderr in one line, for reports.
    pub fn brief(&self) -> String {
        let text = self.stderr.trim().replace('\n', " | ");
        format!("exit {:?} after {:.1?}: {text}", self.code, self.elapsed)
    }
}

impl Hoist {
    /// `bin` on `root`; `home` is created to hold empty configuration directories.
    pub fn new(bin: &Path, root: &Path, home: &Path) -> std::io::Result<Hoist> {
        std::fs::create_dir_all(home.join("config"))?;
        std::fs::create_dir_all(home.join("docker"))?;
        Ok(Hoist {
            bin: bin.to_path_buf(),
            root: root.to_path_buf(),
            home: home.to_path_buf(),
        })
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root")
            .arg(&self.root)
            .args(args)
            .env_remove("HOIST_ROOT")
            .env_remove("HOIST_CONFIG")
            .env_remove("RUST_LOG")
            .env("XDG_CONFIG_HOME", self.home.join("config"))
            .env("DOCKER_CONFIG", self.home.join("docker"))
            .env("REGISTRY_AUTH_FILE", self.home.join("auth.json"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs until it exits or `limit` has passed; then it gets `SIGKILL` and the run says
    /// `killed` (a planned kill, or a hang when `limit` is a timeout).
    pub async fn run(&self, args: &[&str], limit: Duration) -> Run {
        let started = Instant::now();
        let mut child = match self.command(args).spawn() {
            Ok(child) => child,
            Err(e) => {
                return Run {
                    code: Some(-1),
                    killed: false,
                    stdout: String::new(),
                    stderr: format!("cannot start {}: {e}", self.bin.display()),
                    elapsed: started.elapsed(),
                }
            }
        };
        let stdout = capture(child.stdout.take());
        let stderr = capture(child.stderr.take());
        let (code, killed) = match tokio::time::timeout(limit, child.wait()).await {
            Ok(status) => (status.ok().and_then(|s| s.code()), false),
            Err(_) => (kill(&mut child).await, true),
        };
        let elapsed = started.elapsed();
        Run {
            code,
            killed,
            stdout: stdout.await.unwrap_or_default(),
            stderr: stderr.await.unwrap_or_default(),
            elapsed,
        }
    }
}

async fn kill(child: &mut Child) -> Option<i32> {
    let _ = child.start_kill();
    child.wait().await.ok().and_then(|s| s.code())
}

fn capture<R>(pipe: Option<R>) -> tokio::task::JoinHandle<String>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes).await;
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}

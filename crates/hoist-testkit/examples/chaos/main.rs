//! `chaos`: the reliability harness of issue 15, run by `scripts/chaos.sh` (outside CI; needs
//! `docker-registry`; everything on loopback, under one work directory).
//!
//! It drives a `hoist` binary (`--hoist PATH`) against real registries from the testkit:
//! 1. **kills** ([`kills`]): `kill -9` at random points of pull, push, copy registry →
//!    registry, load and export, `--kills N` times each; after each kill the next run must
//!    complete, every stored blob hash to its name and nothing temporary outlive `prune`;
//!    bytes moved twice are counted by a proxy;
//! 2. **faults** ([`faults`]): `--fault-runs N` pulls and N pushes through the fault proxy on a
//!    random schedule ([`schedule`]): each ends in success or one clear error, nothing corrupt
//!    is stored;
//! 3. **soak** ([`soak`]): four processes pulling, pushing, removing and pruning on one root
//!    for `--soak-seconds N`: no unexpected error, the store consistent at the end.
//!
//! Then it prints the figures ([`report`]) and exits non-zero if anything did not hold.
//! `--seed` makes the schedules and kill points repeatable (timing still varies).

mod check;
mod faults;
mod fixture;
mod hoist;
mod kills;
mod report;
mod schedule;
mod soak;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, ValueEnum};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::hoist::Hoist;

#[derive(Parser)]
#[command(
    name = "chaos",
    about = "kill -9, fault and soak runs against a hoist binary"
)]
struct Args {
    /// The hoist binary under test.
    #[arg(long)]
    hoist: PathBuf,
    /// Work directory (default: a new temporary one, removed at the end unless --keep).
    #[arg(long)]
    work: Option<PathBuf>,
    /// Keep the work directory.
    #[arg(long)]
    keep: bool,
    /// Which parts to run (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Part>,
    /// Kills per operation.
    #[arg(long, default_value_t = 50)]
    kills: usize,
    /// Which operations to kill (default: all five).
    #[arg(long, value_enum, value_delimiter = ',')]
    kill_ops: Vec<KillOp>,
    /// Pulls, and as many pushes, through the fault proxy.
    #[arg(long, default_value_t = 100)]
    fault_runs: usize,
    /// Fault runs at once (each on its own store and proxy).
    #[arg(long, default_value_t = 3)]
    fault_workers: usize,
    /// Duration of the four-process soak.
    #[arg(long, default_value_t = 600)]
    soak_seconds: u64,
    /// Size of the image's larger random layer, MiB (the other is half).
    #[arg(long, default_value_t = 8)]
    layer_mib: usize,
    /// Seed of every random choice (default: the time).
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    Kills,
    Faults,
    Soak,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum KillOp {
    Pull,
    Push,
    Copy,
    Load,
    Export,
}

/// Where the run keeps its stores and which binary it drives.
pub struct Ctx {
    bin: PathBuf,
    pub work: PathBuf,
}

impl Ctx {
    /// A [`Hoist`] on the store `WORK/NAME/root`.
    pub fn hoist(&self, name: &str) -> Result<Hoist, String> {
        let dir = self.work.join(name);
        Hoist::new(&self.bin, &dir.join("root"), &dir.join("home"))
            .map_err(|e| format!("preparing {}: {e}", dir.display()))
    }

    /// Runs `args`, which must succeed (setup steps).
    pub async fn must(&self, hoist: &Hoist, args: &[&str]) -> Result<(), String> {
        let run = hoist.run(args, Duration::from_secs(600)).await;
        if run.ok() {
            Ok(())
        } else {
            Err(format!("hoist {}: {}", args.join(" "), run.brief()))
        }
    }
}

/// Locks, ignoring poisoning (a panicked harness task leaves plain counters).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    let created = match &args.work {
        Some(work) => std::fs::create_dir_all(work).map(|()| (work.clone(), None)),
        None => tempfile::Builder::new()
            .prefix("hoist-chaos-")
            .tempdir()
            .map(|dir| (dir.path().to_path_buf(), Some(dir))),
    };
    let (work, temporary) = match created {
        Ok(created) => created,
        Err(e) => {
            eprintln!("chaos: cannot create the work directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ctx = Ctx {
        bin: args.hoist.clone(),
        work,
    };
    let started = Instant::now();
    let mut report = report::Report::new(seed);
    println!("chaos: seed {seed}, work {}", ctx.work.display());
    let fixture = match fixture::Fixture::start(args.layer_mib).await {
        Ok(fixture) => fixture,
        Err(e) => {
            eprintln!("chaos: {e}");
            return ExitCode::FAILURE;
        }
    };
    report.image(&fixture);
    let wants = |part: Part| args.only.is_empty() || args.only.contains(&part);
    let mut rng = StdRng::seed_from_u64(seed);
    if wants(Part::Kills) {
        let wants_op = |op: KillOp| args.kill_ops.is_empty() || args.kill_ops.contains(&op);
        let n = args.kills;
        for op in [
            KillOp::Pull,
            KillOp::Push,
            KillOp::Copy,
            KillOp::Load,
            KillOp::Export,
        ] {
            if !wants_op(op) {
                continue;
            }
            let figures = match op {
                KillOp::Pull => kills::pull(&ctx, &fixture, n, &mut rng).await,
                KillOp::Push => kills::push(&ctx, &fixture, n, &mut rng).await,
                KillOp::Copy => kills::copy(&ctx, &fixture, n, &mut rng).await,
                KillOp::Load => kills::load(&ctx, &fixture, n, &mut rng).await,
                KillOp::Export => kills::export(&ctx, &fixture, n, &mut rng).await,
            };
            report.kills(figures, started.elapsed());
        }
    }
    if wants(Part::Faults) {
        let (runs, workers) = (args.fault_runs, args.fault_workers.max(1));
        report.faults(
            faults::pulls(&ctx, &fixture, runs, workers, seed).await,
            started.elapsed(),
        );
        report.faults(
            faults::pushes(&ctx, &fixture, runs, workers, seed).await,
            started.elapsed(),
        );
    }
    if wants(Part::Soak) {
        report.soak(
            soak::soak(&ctx, &fixture, args.soak_seconds, seed).await,
            started.elapsed(),
        );
    }
    let held = report.finish(started.elapsed());
    if args.keep {
        if let Some(dir) = temporary {
            println!("chaos: kept {}", dir.keep().display());
        }
    }
    if held {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

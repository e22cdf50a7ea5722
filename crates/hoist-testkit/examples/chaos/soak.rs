//! Four processes on one store root for a while: one pulls (two images sharing a layer), one
//! tags and pushes, one removes images (`rmi`), one collects garbage (`prune`), each in a loop
//! with short random pauses. Errors are expected only where another process legitimately
//! got there first (an image removed before it was tagged, pushed or removed again); any other
//! failure is counted as unexpected. At the end the store is collected once more and checked:
//! every blob hashes to its name, every manifest `index.json` names is whole, nothing is left
//! in `ingest/` or temporary directories, and both images pull and export again.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::check;
use crate::fixture::{counted_registry, Fixture};
use crate::hoist::{Hoist, Run};
use crate::{lock, Ctx};

const TIMEOUT: Duration = Duration::from_secs(600);

/// Failures that mean another process got there first (lower case): the image was removed
/// before it was tagged, pushed or removed again, or (`rmi`) a pull tagged it again between
/// the removal of the tag and of the image.
const EXPECTED: [&str; 3] = [
    "no such image",
    "does not exist locally",
    "is still referenced by",
];

/// One process's loop.
#[derive(Debug, Default)]
pub struct Loop {
    pub runs: usize,
    pub ok: usize,
    /// Expected failures by message.
    pub expected: BTreeMap<String, usize>,
    /// Unexpected failures, one line each.
    pub unexpected: Vec<String>,
}

/// What the soak showed.
#[derive(Debug, Default)]
pub struct SoakFigures {
    pub seconds: u64,
    pub loops: BTreeMap<&'static str, Loop>,
    pub blobs_checked: usize,
    pub corrupt: usize,
    /// Final-check failures (corrupt blobs, missing blobs, leftovers, a final pull or export).
    pub failures: Vec<String>,
}

impl SoakFigures {
    /// Runs of all four processes.
    pub fn runs(&self) -> usize {
        self.loops.values().map(|l| l.runs).sum()
    }

    /// Expected failures of all four.
    pub fn expected(&self) -> usize {
        self.loops
            .values()
            .map(|l| l.expected.values().sum::<usize>())
            .sum()
    }

    /// Unexpected failures of all four.
    pub fn unexpected(&self) -> usize {
        self.loops.values().map(|l| l.unexpected.len()).sum()
    }
}

impl Loop {
    fn record(&mut self, run: &Run, what: &str) {
        self.runs += 1;
        if run.ok() {
            self.ok += 1;
            return;
        }
        let line = run.error_lines().first().copied().unwrap_or_default();
        let expected =
            run.is_one_clear_error() && EXPECTED.iter().any(|e| line.to_lowercase().contains(e));
        if expected {
            let key: String = line.split(':').take(2).collect::<Vec<_>>().join(":");
            *self.expected.entry(key).or_default() += 1;
        } else {
            self.unexpected.push(format!("{what}: {}", run.brief()));
        }
    }
}

/// Runs the four loops for `seconds`, then the final checks.
pub async fn soak(ctx: &Ctx, fixture: &Fixture, seconds: u64, seed: u64) -> SoakFigures {
    let mut figures = SoakFigures {
        seconds,
        ..SoakFigures::default()
    };
    let result: Result<(), String> = async {
        let hoist = ctx.hoist("soak")?;
        let (_registry, proxy) = counted_registry().await?;
        let app = fixture.app_at(&fixture.source.host());
        let small = fixture.small_at(&fixture.source.host());
        let pushed = format!("{}/chaos/soak:v1", proxy.host());
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let loops: Mutex<BTreeMap<&'static str, Loop>> = Mutex::default();
        let run_loop = |name: &'static str, n: u64| {
            let (hoist, loops) = (&hoist, &loops);
            let (app, small, pushed) = (app.as_str(), small.as_str(), pushed.as_str());
            async move {
                let mut rng = StdRng::seed_from_u64(seed.wrapping_add(n));
                while Instant::now() < deadline {
                    let image = if rng.random_bool(0.5) { app } else { small };
                    let steps: Vec<Vec<&str>> = match name {
                        "pull" => vec![vec!["pull", "-q", image]],
                        "push" => vec![vec!["tag", app, pushed], vec!["push", "-q", pushed]],
                        "rmi" => {
                            let which = [app, small, pushed][rng.random_range(0..3)];
                            vec![vec!["rmi", which]]
                        }
                        _ => vec![vec!["prune"]],
                    };
                    for step in steps {
                        let run = hoist.run(&step, TIMEOUT).await;
                        let failed = !run.ok();
                        lock(loops)
                            .entry(name)
                            .or_default()
                            .record(&run, &step.join(" "));
                        if failed {
                            break;
                        }
                    }
                    let pause = if name == "pull" { 0..200 } else { 0..1500 };
                    tokio::time::sleep(Duration::from_millis(rng.random_range(pause))).await;
                }
            }
        };
        futures_util::future::join4(
            run_loop("pull", 1),
            run_loop("push", 2),
            run_loop("rmi", 3),
            run_loop("prune", 4),
        )
        .await;
        figures.loops = loops.into_inner().unwrap_or_else(|e| e.into_inner());
        final_checks(ctx, &hoist, &[&app, &small], &mut figures).await;
        Ok(())
    }
    .await;
    figures.failures.extend(result.err());
    figures
}

async fn final_checks(ctx: &Ctx, hoist: &Hoist, images: &[&str], figures: &mut SoakFigures) {
    let prune = hoist.run(&["prune"], TIMEOUT).await;
    if !prune.ok() {
        figures
            .failures
            .push(format!("final prune: {}", prune.brief()));
    }
    let blobs = check::store_blobs(hoist.root());
    figures.blobs_checked += blobs.blobs;
    figures.corrupt += blobs.corrupt.len();
    figures.failures.extend(blobs.corrupt);
    let missing = check::missing_from_index(hoist.root());
    figures.failures.extend(
        missing
            .into_iter()
            .map(|m| format!("index.json names a missing {m}")),
    );
    let left = check::leftovers(hoist.root());
    figures.failures.extend(
        left.iter()
            .map(|p| format!("left after prune: {}", p.display())),
    );
    for image in images {
        if let Err(e) = ctx.must(hoist, &["pull", "-q", image]).await {
            figures.failures.push(e);
        }
        let dir = ctx.work.join("soak-export");
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = ctx
            .must(hoist, &["export", image, &dir.to_string_lossy()])
            .await
        {
            figures.failures.push(e);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! Pulls and pushes through the fault proxy on a random schedule ([`crate::schedule`]).
//!
//! Every run must end in success or in one clear error (non-zero exit, exactly one `Error: `
//! line on stderr) within a timeout, and leave no corrupt object: after each pull every blob of
//! the store hashes to its name, after each push every blob of the registry does, and a push
//! that succeeded left the image's manifest under its tag. Several workers run at once, each
//! with its own store root and proxy.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hoist_testkit::FaultProxy;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::check;
use crate::fixture::{counted_registry, Fixture};
use crate::hoist::{Hoist, Run};
use crate::schedule;
use crate::{lock, Ctx};

/// A run that neither finishes nor fails in this long hangs.
const HANG: Duration = Duration::from_secs(600);

/// What the fault runs of one operation showed.
#[derive(Debug, Default)]
pub struct FaultFigures {
    pub op: &'static str,
    pub runs: usize,
    pub succeeded: usize,
    /// Failures with exactly one `Error: ` line, by message (digits replaced by `#`).
    pub clear_errors: BTreeMap<String, usize>,
    /// Everything that did not hold: unclear failures, hangs, corrupt blobs, wrong digests.
    pub failures: Vec<String>,
    pub blobs_checked: usize,
    pub corrupt: usize,
    /// Faults the proxy injected, by kind.
    pub faults: BTreeMap<String, usize>,
}

impl FaultFigures {
    /// Failures with one clear error.
    pub fn clear_error_count(&self) -> usize {
        self.clear_errors.values().sum()
    }

    /// Faults injected.
    pub fn fault_count(&self) -> usize {
        self.faults.values().sum()
    }

    fn record(&mut self, run: &Run, proxy: &FaultProxy, what: &str) {
        self.runs += 1;
        for request in proxy.requests() {
            if let Some(rule) = request.rule {
                *self.faults.entry(rule).or_default() += 1;
            }
        }
        if run.ok() {
            self.succeeded += 1;
        } else if run.is_one_clear_error() {
            let line = run.error_lines().first().copied().unwrap_or_default();
            *self.clear_errors.entry(normalized(line)).or_default() += 1;
        } else if run.killed {
            self.failures.push(format!("{what} hung: {}", run.brief()));
        } else {
            self.failures
                .push(format!("{what} unclear: {}", run.brief()));
        }
    }

    fn blobs(&mut self, check: check::BlobCheck) {
        self.blobs_checked += check.blobs;
        self.corrupt += check.corrupt.len();
        self.failures.extend(check.corrupt);
    }
}

/// An error line with digits as `#` and at most 110 characters, to count alike errors together.
fn normalized(line: &str) -> String {
    let line: String = line
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect();
    let mut cut: String = line.chars().take(110).collect();
    if cut.len() < line.len() {
        cut.push('…');
    }
    cut
}

/// `runs` pulls through faults, on `workers` stores at once.
pub async fn pulls(
    ctx: &Ctx,
    fixture: &Fixture,
    runs: usize,
    workers: usize,
    seed: u64,
) -> FaultFigures {
    let figures = Mutex::new(FaultFigures {
        op: "pull",
        ..FaultFigures::default()
    });
    let next = AtomicUsize::new(0);
    let worker = |w: usize| {
        let (figures, next) = (&figures, &next);
        async move {
            let mut rng = StdRng::seed_from_u64(seed.wrapping_add(w as u64));
            let hoist = ctx.hoist(&format!("faults-pull-{w}"))?;
            let proxy = FaultProxy::start(&fixture.source)
                .await
                .map_err(|e| e.to_string())?;
            let reference = fixture.app_at(&proxy.host());
            while next.fetch_add(1, Ordering::SeqCst) < runs {
                proxy.clear_rules();
                proxy.clear_requests();
                for rule in schedule::pull_rules(&mut rng, &fixture.app) {
                    proxy.rule(rule);
                }
                let run = hoist.run(&["pull", "-q", &reference], HANG).await;
                proxy.clear_rules();
                {
                    let mut f = lock(figures);
                    f.record(&run, &proxy, &format!("pull {reference}"));
                    f.blobs(check::store_blobs(hoist.root()));
                }
                clean(&hoist, &reference, figures).await;
            }
            Ok::<(), String>(())
        }
    };
    let results = futures_util::future::join_all((0..workers).map(worker)).await;
    let mut figures = figures.into_inner().unwrap_or_else(|e| e.into_inner());
    figures
        .failures
        .extend(results.into_iter().filter_map(Result::err));
    figures
}

/// `runs` pushes through faults, each to a new registry, from `workers` stores at once.
pub async fn pushes(
    ctx: &Ctx,
    fixture: &Fixture,
    runs: usize,
    workers: usize,
    seed: u64,
) -> FaultFigures {
    let figures = Mutex::new(FaultFigures {
        op: "push",
        ..FaultFigures::default()
    });
    let next = AtomicUsize::new(0);
    let worker = |w: usize| {
        let (figures, next) = (&figures, &next);
        async move {
            let mut rng = StdRng::seed_from_u64(seed.wrapping_add(1000 + w as u64));
            let hoist = ctx.hoist(&format!("faults-push-{w}"))?;
            let source = fixture.app_at(&fixture.source.host());
            ctx.must(&hoist, &["pull", "-q", &source]).await?;
            while next.fetch_add(1, Ordering::SeqCst) < runs {
                let (registry, proxy) = counted_registry().await?;
                let target = format!("{}/chaos/pushed:v1", proxy.host());
                ctx.must(&hoist, &["tag", &source, &target]).await?;
                for rule in schedule::push_rules(&mut rng, &fixture.app) {
                    proxy.rule(rule);
                }
                let run = hoist.run(&["push", "-q", &target], HANG).await;
                proxy.clear_rules();
                let direct = format!("{}/chaos/pushed:v1", registry.host());
                let digest = if run.ok() {
                    Some(hoist.run(&["digest", &direct], HANG).await)
                } else {
                    None
                };
                {
                    let mut f = lock(figures);
                    f.record(&run, &proxy, &format!("push {target}"));
                    f.blobs(check::registry_blobs(&registry.storage_dir()));
                    let pushed = digest.map(|d| (d.stdout.trim().to_string(), d.brief()));
                    if let Some((digest, brief)) = pushed.filter(|(d, _)| d != fixture.app.digest())
                    {
                        f.failures
                            .push(format!("pushed {direct} has digest {digest:?}: {brief}"));
                    }
                }
                let untag = hoist.run(&["rmi", &target], HANG).await;
                if !untag.ok() {
                    lock(figures)
                        .failures
                        .push(format!("rmi {target}: {}", untag.brief()));
                }
            }
            Ok::<(), String>(())
        }
    };
    let results = futures_util::future::join_all((0..workers).map(worker)).await;
    let mut figures = figures.into_inner().unwrap_or_else(|e| e.into_inner());
    figures
        .failures
        .extend(results.into_iter().filter_map(Result::err));
    figures
}

/// Removes the pulled image (if the pull got that far) and collects garbage.
async fn clean(hoist: &Hoist, reference: &str, figures: &Mutex<FaultFigures>) {
    let _ = hoist.run(&["rmi", reference], HANG).await;
    let prune = hoist.run(&["prune"], HANG).await;
    if !prune.ok() {
        lock(figures)
            .failures
            .push(format!("prune: {}", prune.brief()));
    }
}

//! `kill -9` at random points of pull, push, copy (registry → registry), load and export.
//!
//! Each operation is first run once to completion to learn its duration `T`; then, until it has
//! been killed `n` times, a cycle: start it, `SIGKILL` it after a delay drawn uniformly from
//! `[0, T]` (a run that ends first counts as finished, not as a kill), run it again to
//! completion, check the result and the store, clean up (`rmi`, `prune`) and check that nothing
//! temporary is left.
//!
//! Bytes moved twice are counted by a rule-less [`FaultProxy`](hoist_testkit::FaultProxy) in
//! front of each registry: the blob bytes it sent (pull, copy's source) or received in uploads
//! (push, copy's destination) over the killed run and the completing run, minus one copy of
//! each blob the operation needs. That is what a kill costs the network; bytes kept in `ingest/`
//! after a kill (what a resumed download need not fetch again) are counted too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use hoist_testkit::tree;
use hoist_testkit::{FaultProxy, ProxiedRequest};
use rand::rngs::StdRng;
use rand::Rng;

use crate::check;
use crate::fixture::{blob_bytes, counted_registry, Fixture};
use crate::hoist::Hoist;
use crate::Ctx;

/// The timeout of a run that must complete.
const FINISH: Duration = Duration::from_secs(300);

/// What the kills of one operation showed.
#[derive(Debug, Default)]
pub struct KillFigures {
    pub op: &'static str,
    /// Uninterrupted duration of one run.
    pub duration: Duration,
    /// Runs killed while running.
    pub kills: usize,
    /// Runs that finished before their kill point.
    pub finished_first: usize,
    /// Runs after a kill that completed.
    pub completed: usize,
    /// Everything that did not hold, one line each.
    pub failures: Vec<String>,
    /// Blobs hashed after the cycles, and how many did not hash to their name.
    pub blobs_checked: usize,
    pub corrupt: usize,
    /// Entries found in `ingest/` or temporary directories after `prune`.
    pub left: BTreeSet<PathBuf>,
    /// One copy of each blob, summed over cycles; blob bytes actually moved.
    pub needed_bytes: u64,
    pub moved_bytes: u64,
    /// Partial data kept in `ingest/` right after the kills.
    pub kept_bytes: u64,
    /// Export: directories a killed export left private (0700, as it creates them until it
    /// sets their final mode) that `export --force` kept so because the image has no entry of
    /// their own (apply semantics: an existing directory's metadata stays).
    pub private_dirs: usize,
}

impl KillFigures {
    fn new(op: &'static str) -> KillFigures {
        KillFigures {
            op,
            ..KillFigures::default()
        }
    }

    /// Bytes moved beyond one copy of each blob.
    pub fn moved_again(&self) -> u64 {
        self.moved_bytes.saturating_sub(self.needed_bytes)
    }

    fn check_store(&mut self, hoist: &Hoist) {
        let blobs = check::store_blobs(hoist.root());
        self.blobs_checked += blobs.blobs;
        self.corrupt += blobs.corrupt.len();
        self.failures.extend(blobs.corrupt);
        let missing = check::missing_from_index(hoist.root());
        self.failures.extend(
            missing
                .into_iter()
                .map(|m| format!("index.json names a missing {m}")),
        );
    }

    fn check_registry(&mut self, storage: &std::path::Path) {
        let blobs = check::registry_blobs(storage);
        self.blobs_checked += blobs.blobs;
        self.corrupt += blobs.corrupt.len();
        self.failures.extend(blobs.corrupt);
    }

    /// `rmi` (when given a reference), `prune`, then what is left in `ingest/` and temp dirs
    /// (each leftover counted once, however many cleanups it outlives).
    async fn clean(&mut self, hoist: &Hoist, reference: Option<&str>) {
        if let Some(reference) = reference {
            let rmi = hoist.run(&["rmi", reference], FINISH).await;
            if !rmi.ok() {
                self.failures
                    .push(format!("rmi {reference}: {}", rmi.brief()));
            }
        }
        let prune = hoist.run(&["prune"], FINISH).await;
        if !prune.ok() {
            self.failures.push(format!("prune: {}", prune.brief()));
        }
        for path in check::leftovers(hoist.root()) {
            if self.left.insert(path.clone()) {
                self.failures
                    .push(format!("left after prune: {}", path.display()));
            }
        }
    }

    /// One cycle's kill and completion of `args`; false when the completion failed.
    async fn kill_then_finish(&mut self, hoist: &Hoist, args: &[&str], rng: &mut StdRng) -> bool {
        let limit = self.duration.as_millis().max(1) as u64;
        let delay = Duration::from_millis(rng.random_range(0..=limit));
        let first = hoist.run(args, delay).await;
        if first.killed {
            self.kills += 1;
        } else if first.ok() {
            self.finished_first += 1;
        } else {
            self.failures.push(format!(
                "{} before its kill: {}",
                args.join(" "),
                first.brief()
            ));
        }
        self.kept_bytes += check::ingest_bytes(hoist.root());
        let next = hoist.run(args, FINISH).await;
        if next.ok() {
            self.completed += 1;
        } else {
            self.failures
                .push(format!("{} after a kill: {}", args.join(" "), next.brief()));
        }
        next.ok()
    }

    /// Runs `args` once to completion and keeps its duration as `T`.
    async fn measure(&mut self, hoist: &Hoist, args: &[&str]) -> Result<(), String> {
        let run = hoist.run(args, FINISH).await;
        if !run.ok() {
            return Err(format!(
                "{} (uninterrupted): {}",
                args.join(" "),
                run.brief()
            ));
        }
        self.duration = run.elapsed;
        Ok(())
    }

    fn done(&self, n: usize, cycles: usize) -> bool {
        self.kills >= n || cycles >= 3 * n
    }
}

/// Blob bytes the proxy sent in answers to blob GETs.
fn fetched(proxy: &FaultProxy) -> u64 {
    let requests = proxy.requests();
    requests
        .iter()
        .filter(|r| r.method == "GET" && r.is_blob_get())
        .map(|r| r.response_bytes)
        .sum()
}

/// Blob bytes the proxy received in upload requests.
fn uploaded(proxy: &FaultProxy) -> u64 {
    let requests: Vec<ProxiedRequest> = proxy.requests();
    requests
        .iter()
        .filter(|r| r.path.contains("/blobs/uploads/"))
        .map(|r| r.request_bytes)
        .sum()
}

/// `hoist digest REF` equals `want`.
async fn check_digest(hoist: &Hoist, reference: &str, want: &str, figures: &mut KillFigures) {
    let run = hoist.run(&["digest", reference], FINISH).await;
    if run.stdout.trim() != want {
        figures.failures.push(format!(
            "{reference} has digest {:?}, want {want}: {}",
            run.stdout.trim(),
            run.brief()
        ));
    }
}

/// Kills `hoist pull` `n` times.
pub async fn pull(ctx: &Ctx, fixture: &Fixture, n: usize, rng: &mut StdRng) -> KillFigures {
    let mut figures = KillFigures::new("pull");
    let result: Result<(), String> = async {
        let hoist = ctx.hoist("kill-pull")?;
        let proxy = FaultProxy::start(&fixture.source)
            .await
            .map_err(|e| e.to_string())?;
        let reference = fixture.app_at(&proxy.host());
        let args = ["pull", "-q", reference.as_str()];
        figures.measure(&hoist, &args).await?;
        figures.clean(&hoist, Some(&reference)).await;
        let mut cycles = 0;
        while !figures.done(n, cycles) {
            cycles += 1;
            proxy.clear_requests();
            figures.kill_then_finish(&hoist, &args, rng).await;
            figures.needed_bytes += blob_bytes(&fixture.app);
            figures.moved_bytes += fetched(&proxy);
            figures.check_store(&hoist);
            figures.clean(&hoist, Some(&reference)).await;
        }
        Ok(())
    }
    .await;
    figures.failures.extend(result.err());
    figures
}

/// Kills `hoist push` `n` times, each cycle to a new registry.
pub async fn push(ctx: &Ctx, fixture: &Fixture, n: usize, rng: &mut StdRng) -> KillFigures {
    let mut figures = KillFigures::new("push");
    let result: Result<(), String> = async {
        let hoist = ctx.hoist("kill-push")?;
        let source = fixture.app_at(&fixture.source.host());
        ctx.must(&hoist, &["pull", "-q", &source]).await?;
        let mut cycles = 0;
        while !figures.done(n, cycles) {
            let (registry, proxy) = counted_registry().await?;
            let target = format!("{}/chaos/pushed:v1", proxy.host());
            ctx.must(&hoist, &["tag", &source, &target]).await?;
            let args = ["push", "-q", target.as_str()];
            if cycles == 0 {
                figures.measure(&hoist, &args).await?;
            } else {
                figures.kill_then_finish(&hoist, &args, rng).await;
                figures.needed_bytes += blob_bytes(&fixture.app);
                figures.moved_bytes += uploaded(&proxy);
                figures.check_registry(&registry.storage_dir());
                check_digest(&hoist, &target, fixture.app.digest(), &mut figures).await;
                figures.check_store(&hoist);
            }
            figures.clean(&hoist, Some(&target)).await;
            cycles += 1;
        }
        Ok(())
    }
    .await;
    figures.failures.extend(result.err());
    figures
}

/// Kills `hoist copy docker://… docker://…` `n` times, each cycle to a new registry.
pub async fn copy(ctx: &Ctx, fixture: &Fixture, n: usize, rng: &mut StdRng) -> KillFigures {
    let mut figures = KillFigures::new("copy");
    let result: Result<(), String> = async {
        let hoist = ctx.hoist("kill-copy")?;
        let source_proxy = FaultProxy::start(&fixture.source)
            .await
            .map_err(|e| e.to_string())?;
        let source = format!("docker://{}", fixture.app_at(&source_proxy.host()));
        let mut cycles = 0;
        while !figures.done(n, cycles) {
            let (registry, proxy) = counted_registry().await?;
            let target = format!("{}/chaos/copied:v1", proxy.host());
            let destination = format!("docker://{target}");
            let args = ["copy", source.as_str(), destination.as_str()];
            source_proxy.clear_requests();
            if cycles == 0 {
                figures.measure(&hoist, &args).await?;
            } else {
                figures.kill_then_finish(&hoist, &args, rng).await;
                // Both sides: the source's blobs fetched, the destination's uploaded.
                figures.needed_bytes += 2 * blob_bytes(&fixture.app);
                figures.moved_bytes += fetched(&source_proxy) + uploaded(&proxy);
                figures.check_registry(&registry.storage_dir());
                check_digest(&hoist, &target, fixture.app.digest(), &mut figures).await;
                figures.check_store(&hoist);
            }
            figures.clean(&hoist, None).await;
            cycles += 1;
        }
        Ok(())
    }
    .await;
    figures.failures.extend(result.err());
    figures
}

/// Kills `hoist load -i ARCHIVE` `n` times (the archive is a `hoist save` of the app image).
pub async fn load(ctx: &Ctx, fixture: &Fixture, n: usize, rng: &mut StdRng) -> KillFigures {
    let mut figures = KillFigures::new("load");
    let result: Result<(), String> = async {
        let hoist = ctx.hoist("kill-load")?;
        let reference = fixture.app_at(&fixture.source.host());
        let archive = ctx.work.join("app.tar");
        let archive = archive.to_string_lossy();
        ctx.must(&hoist, &["pull", "-q", &reference]).await?;
        ctx.must(&hoist, &["save", "-o", &archive, &reference])
            .await?;
        figures.clean(&hoist, Some(&reference)).await;
        let args = ["load", "-q", "-i", &*archive];
        figures.measure(&hoist, &args).await?;
        figures.clean(&hoist, Some(&reference)).await;
        let mut cycles = 0;
        while !figures.done(n, cycles) {
            cycles += 1;
            figures.kill_then_finish(&hoist, &args, rng).await;
            figures.check_store(&hoist);
            figures.clean(&hoist, Some(&reference)).await;
        }
        Ok(())
    }
    .await;
    figures.failures.extend(result.err());
    figures
}

/// Kills `hoist export REF DIR` `n` times, alternating a store with unpacked layers (the
/// layer-store route) and one pulled with `--no-unpack` (the blob route). A killed export
/// leaves no DIR, or a whole one (killed after its rename); the export after the kill needs
/// `--force` only in that second case, must equal a clean export, and leaves none of the
/// hidden siblings exports write into.
pub async fn export(ctx: &Ctx, fixture: &Fixture, n: usize, rng: &mut StdRng) -> KillFigures {
    let mut figures = KillFigures::new("export");
    let result: Result<(), String> = async {
        let reference = fixture.app_at(&fixture.source.host());
        let layers = ctx.hoist("kill-export-layers")?;
        let blobs = ctx.hoist("kill-export-blobs")?;
        ctx.must(&layers, &["pull", "-q", &reference]).await?;
        ctx.must(&blobs, &["pull", "-q", "--no-unpack", &reference])
            .await?;
        let clean_dir = ctx.work.join("export-clean");
        let clean_str = clean_dir.to_string_lossy();
        figures
            .measure(&blobs, &["export", &reference, &clean_str])
            .await?;
        let expected = tree::snapshot(&clean_dir).map_err(|e| e.to_string())?;
        let dir = ctx.work.join("export-killed");
        let dir_str = dir.to_string_lossy();
        let mut cycles = 0;
        while !figures.done(n, cycles) {
            let hoist = if cycles % 2 == 0 { &layers } else { &blobs };
            cycles += 1;
            let limit = figures.duration.as_millis().max(1) as u64;
            let delay = Duration::from_millis(rng.random_range(0..=limit));
            let _ = std::fs::remove_dir_all(&dir);
            let first = hoist.run(&["export", &reference, &dir_str], delay).await;
            if first.killed {
                figures.kills += 1;
            } else if first.ok() {
                figures.finished_first += 1;
            } else {
                figures
                    .failures
                    .push(format!("export before its kill: {}", first.brief()));
            }
            // A DIR is there only if the first run got as far as its rename: whole, so
            // the completion writes over it with --force; else none is needed.
            let args = match dir.exists() {
                true => vec!["export", "--force", reference.as_str(), &*dir_str],
                false => vec!["export", reference.as_str(), &*dir_str],
            };
            if let (true, Ok(partial)) = (first.killed && dir.exists(), tree::snapshot(&dir)) {
                figures.failures.extend(
                    tree::differences(&expected, &partial)
                        .into_iter()
                        .take(5)
                        .map(|d| format!("a killed export's DIR is not whole: {d}")),
                );
            }
            let next = hoist.run(&args, FINISH).await;
            if next.ok() {
                figures.completed += 1;
            } else {
                figures
                    .failures
                    .push(format!("export after a kill: {}", next.brief()));
            }
            let mut got = tree::snapshot(&dir).map_err(|e| e.to_string())?;
            figures.private_dirs += restore_private_dirs(&expected, &mut got);
            let differences = tree::differences(&expected, &got);
            figures.failures.extend(
                differences
                    .into_iter()
                    .take(5)
                    .map(|d| format!("export after a kill differs: {d}")),
            );
            let siblings = std::fs::read_dir(&ctx.work)
                .map_err(|e| e.to_string())?
                .filter_map(Result::ok)
                .filter(|e| {
                    let name = e.file_name();
                    name.to_string_lossy()
                        .starts_with(".export-killed.hoist-export-")
                })
                .count();
            if siblings > 0 {
                figures.failures.push(format!(
                    "{siblings} export siblings left after the completion"
                ));
            }
            figures.check_store(hoist);
            figures.clean(hoist, None).await;
        }
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&clean_dir);
        Ok(())
    }
    .await;
    figures.failures.extend(result.err());
    figures
}

/// Counts the directories of `got` that differ from `expected` only by the private mode a
/// killed export left (0700), and gives them the expected mode so they are not reported twice.
fn restore_private_dirs(
    expected: &BTreeMap<PathBuf, tree::Node>,
    got: &mut BTreeMap<PathBuf, tree::Node>,
) -> usize {
    let mut restored = 0;
    for (path, want) in expected {
        let Some(node) = got.get_mut(path) else {
            continue;
        };
        let private = node.kind == "dir" && node.mode == 0o700 && want.mode != 0o700;
        if private
            && (tree::Node {
                mode: want.mode,
                ..node.clone()
            }) == *want
        {
            node.mode = want.mode;
            restored += 1;
        }
    }
    restored
}

//! The figures, printed as each part ends and summed up at the end: what was tried, what held,
//! and every line that did not (the first few of each part).

use std::time::Duration;

use crate::faults::FaultFigures;
use crate::fixture::{blob_bytes, Fixture};
use crate::kills::KillFigures;
use crate::soak::SoakFigures;

/// Lines of failures printed per part.
const SHOWN: usize = 10;

/// The summary being built.
pub struct Report {
    seed: u64,
    summary: Vec<String>,
    problems: usize,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

impl Report {
    pub fn new(seed: u64) -> Report {
        Report {
            seed,
            summary: Vec::new(),
            problems: 0,
        }
    }

    pub fn image(&mut self, fixture: &Fixture) {
        let app = &fixture.app;
        self.line(format!(
            "image: {} layers + config, {} of blobs ({})",
            app.layers.len(),
            mib(blob_bytes(app)),
            app.digest()
        ));
    }

    fn line(&mut self, line: String) {
        println!("{line}");
        self.summary.push(line);
    }

    fn failures(&mut self, what: &str, failures: &[String]) {
        self.problems += failures.len();
        for failure in failures.iter().take(SHOWN) {
            println!("  FAILED {what}: {failure}");
        }
        if failures.len() > SHOWN {
            println!("  … and {} more", failures.len() - SHOWN);
        }
    }

    pub fn kills(&mut self, f: KillFigures, at: Duration) {
        self.line(format!(
            "kill -9 {:<6} {:>3} kills ({} runs finished before their kill point), {} of {} next runs completed; \
             {} blobs hashed, {} corrupt; {} left after prune; moved again {} of {} needed, {} in ingest/ right after the kills; \
             {} dirs left private; one run {:.1?} [{at:.0?}]",
            f.op,
            f.kills,
            f.finished_first,
            f.completed,
            f.kills + f.finished_first,
            f.blobs_checked,
            f.corrupt,
            f.left.len(),
            mib(f.moved_again()),
            mib(f.needed_bytes),
            mib(f.kept_bytes),
            f.private_dirs,
            f.duration,
        ));
        self.failures(&format!("kill {}", f.op), &f.failures);
    }

    pub fn faults(&mut self, f: FaultFigures, at: Duration) {
        self.line(format!(
            "faults {:<5} {} runs, {} faults injected: {} succeeded, {} failed with one clear error, {} did not hold; \
             {} blobs hashed, {} corrupt [{at:.0?}]",
            f.op,
            f.runs,
            f.fault_count(),
            f.succeeded,
            f.clear_error_count(),
            f.failures.len(),
            f.blobs_checked,
            f.corrupt,
        ));
        let kinds: Vec<String> = f.faults.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        self.line(format!("  injected: {}", kinds.join(", ")));
        for (error, n) in &f.clear_errors {
            self.line(format!("  clear error ×{n}: {error}"));
        }
        self.failures(&format!("faults {}", f.op), &f.failures);
    }

    pub fn soak(&mut self, f: SoakFigures, at: Duration) {
        self.line(format!(
            "soak {} s: {} runs, {} expected errors, {} unexpected; final store: {} blobs hashed, {} corrupt, {} other problems [{at:.0?}]",
            f.seconds,
            f.runs(),
            f.expected(),
            f.unexpected(),
            f.blobs_checked,
            f.corrupt,
            f.failures.len(),
        ));
        for (name, l) in &f.loops {
            let expected: Vec<String> = l
                .expected
                .iter()
                .map(|(k, n)| format!("{k} ×{n}"))
                .collect();
            self.line(format!(
                "  {name:<5} {} runs, {} ok, expected errors: [{}], unexpected: {}",
                l.runs,
                l.ok,
                expected.join("; "),
                l.unexpected.len()
            ));
        }
        let unexpected: Vec<String> = f
            .loops
            .values()
            .flat_map(|l| l.unexpected.clone())
            .collect();
        self.failures("soak", &unexpected);
        self.failures("soak final check", &f.failures);
    }

    /// Prints the summary; true when everything held.
    pub fn finish(self, elapsed: Duration) -> bool {
        println!("\n== chaos summary (seed {}, {elapsed:.0?})", self.seed);
        for line in &self.summary {
            println!("{line}");
        }
        if self.problems == 0 {
            println!("everything held");
        } else {
            println!("{} problems (see FAILED lines above)", self.problems);
        }
        self.problems == 0
    }
}

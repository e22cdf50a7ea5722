//! How `hoist sync` shows a run as a whole, from its `hoist::sync::SyncEvent`s:
//! [`SyncDisplay`].
//!
//! - By default, one totals line ([`crate::progress::TOTALS_ID`]) after each image and each
//!   blob sent: `Synced 12/100 images (10 copied, 2 up to date, 0 failed), 34.5MB sent,
//!   2.1MB/s` — redrawn in place under the per-layer bars on a terminal, printed after each
//!   image otherwise (with the copy's own docker-style lines around it).
//! - `--json`: one JSON object per line on stdout and nothing else there, for scripts:
//!   `{"event":"started"|"done"|"skipped"|"failed", "index", "total", "source",
//!   "destination", …}`; `done` carries `digest`, `bytes` (sent, or that would be sent with
//!   `--dry-run`) and `dry_run`; `skipped` its `reason` (`up-to-date`, `not-attempted`) and
//!   the `digest` held; `failed` its `error` (a repository that could not be listed has a
//!   `null` index and destination). The run ends with one `summary` object (see
//!   `commands::sync`).
//!
//! Both go through the progress renderer's queue (never written from the run's tasks), so
//! they keep their order with the other lines and no terminal I/O blocks the run.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use hoist::progress::{ProgressEvent, ProgressSink};
use hoist::sync::{SkipReason, SyncEvent, SyncObserver};
use serde_json::{json, Value};

use crate::progress::{JSON_ID, TOTALS_ID};
use crate::units::human_size;

/// What has happened so far.
#[derive(Debug, Default)]
struct Totals {
    total: usize,
    copied: usize,
    up_to_date: usize,
    failed: usize,
    sent: u64,
}

/// A sync's totals line, or its JSON lines (see the module docs).
pub struct SyncDisplay {
    out: Arc<dyn ProgressSink>,
    json: bool,
    /// Whether the totals line is redrawn in place (a terminal): it may then follow every blob.
    in_place: bool,
    started: Instant,
    totals: Mutex<Totals>,
}

impl SyncDisplay {
    /// Shows the run through `out` (the renderer's queue): JSON lines when `json`, else the
    /// totals line, after every blob too when `in_place`.
    pub fn new(out: Arc<dyn ProgressSink>, json: bool, in_place: bool) -> SyncDisplay {
        SyncDisplay {
            out,
            json,
            in_place,
            started: Instant::now(),
            totals: Mutex::new(Totals::default()),
        }
    }

    /// One JSON line.
    pub fn json_line(&self, value: &Value) {
        self.out
            .emit(ProgressEvent::message(JSON_ID, value.to_string()));
    }

    fn totals_line(&self, totals: &Totals) -> String {
        let done = totals.copied + totals.up_to_date + totals.failed;
        let seconds = self.started.elapsed().as_secs_f64();
        let rate = if seconds > 0.0 {
            // Whole bytes per second is what is shown.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let rate = (totals.sent as f64 / seconds) as u64;
            rate
        } else {
            0
        };
        format!(
            "Synced {done}/{} images ({} copied, {} up to date, {} failed), {} sent, {}/s",
            totals.total,
            totals.copied,
            totals.up_to_date,
            totals.failed,
            human_size(totals.sent, 3),
            human_size(rate, 3),
        )
    }

    fn count(&self, event: &SyncEvent) -> Option<String> {
        let mut totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            SyncEvent::Started { total, .. } => {
                totals.total = *total;
                return None;
            }
            SyncEvent::Done { .. } => totals.copied += 1,
            SyncEvent::Skipped {
                reason: SkipReason::UpToDate,
                ..
            } => totals.up_to_date += 1,
            SyncEvent::Skipped { .. } => return None,
            SyncEvent::Failed {
                index: Some(_),
                total,
                ..
            } => {
                totals.total = *total;
                totals.failed += 1;
            }
            // A repository that could not be listed is no image: the summary names it.
            SyncEvent::Failed { .. } => return None,
            SyncEvent::BlobSent { total, .. } => {
                totals.sent = *total;
                if !self.in_place {
                    return None;
                }
            }
        }
        Some(self.totals_line(&totals))
    }
}

impl SyncObserver for SyncDisplay {
    fn event(&self, event: &SyncEvent) {
        if self.json {
            if let Some(value) = event_json(event) {
                self.json_line(&value);
            }
            return;
        }
        if let Some(line) = self.count(event) {
            self.out.emit(ProgressEvent::message(TOTALS_ID, line));
        }
    }
}

/// The JSON object of `event`; `None` for a blob (too many for a script's log).
pub fn event_json(event: &SyncEvent) -> Option<Value> {
    let image_fields = |name: &str, index: usize, total: usize, image: &hoist::sync::SyncImage| {
        json!({
            "event": name,
            "index": index,
            "total": total,
            "source": image.source.to_string(),
            "destination": image.destination.to_string(),
        })
    };
    let value = match event {
        SyncEvent::Started {
            index,
            total,
            image,
        } => image_fields("started", *index, *total, image),
        SyncEvent::Done {
            index,
            total,
            image,
            digest,
            bytes,
            dry_run,
        } => {
            let mut value = image_fields("done", *index, *total, image);
            value["digest"] = json!(digest.as_ref().map(ToString::to_string));
            value["bytes"] = json!(bytes);
            value["dry_run"] = json!(dry_run);
            value
        }
        SyncEvent::Skipped {
            index,
            total,
            image,
            reason,
            digest,
        } => {
            let mut value = image_fields("skipped", *index, *total, image);
            value["reason"] = json!(reason.as_str());
            value["digest"] = json!(digest.as_ref().map(ToString::to_string));
            value["bytes"] = json!(0);
            value
        }
        SyncEvent::Failed {
            index,
            total,
            subject,
            destination,
            error,
        } => json!({
            "event": "failed",
            "index": index,
            "total": total,
            "source": subject,
            "destination": destination,
            "error": error,
        }),
        SyncEvent::BlobSent { .. } => return None,
    };
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist::copy::ImageLocation;
    use hoist::sync::SyncImage;

    fn image() -> SyncImage {
        SyncImage {
            source: ImageLocation::parse("docker://r.example/team/app:v1").unwrap(),
            destination: ImageLocation::parse("docker://m.example/mirror/app:v1").unwrap(),
        }
    }

    #[test]
    fn each_image_event_is_one_json_object_with_its_bytes() {
        let done = event_json(&SyncEvent::Done {
            index: 2,
            total: 3,
            image: image(),
            digest: None,
            bytes: 1234,
            dry_run: false,
        })
        .unwrap();
        assert_eq!(done["event"], "done");
        assert_eq!(done["bytes"], 1234);
        assert_eq!(done["source"], "docker://r.example/team/app:v1");
        let skipped = event_json(&SyncEvent::Skipped {
            index: 1,
            total: 3,
            image: image(),
            reason: SkipReason::UpToDate,
            digest: None,
        })
        .unwrap();
        assert_eq!(skipped["reason"], "up-to-date");
        assert!(!skipped.to_string().contains('\n'));
    }

    #[derive(Default)]
    struct Lines(Mutex<Vec<String>>);

    impl ProgressSink for Lines {
        fn emit(&self, event: ProgressEvent) {
            self.0.lock().unwrap().push(event.status.to_string());
        }
    }

    #[test]
    fn the_totals_line_counts_images_and_bytes() {
        let lines = Arc::new(Lines::default());
        let display = SyncDisplay::new(lines.clone(), false, false);
        display.event(&SyncEvent::Started {
            index: 1,
            total: 2,
            image: image(),
        });
        display.event(&SyncEvent::BlobSent {
            digest: hoist::digest::Digest::sha256_of(b"x"),
            bytes: 1_500_000,
            total: 1_500_000,
        });
        display.event(&SyncEvent::Done {
            index: 1,
            total: 2,
            image: image(),
            digest: None,
            bytes: 1_500_000,
            dry_run: false,
        });

        let lines = lines.0.lock().unwrap();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0]
                .starts_with("Synced 1/2 images (1 copied, 0 up to date, 0 failed), 1.5MB sent, "),
            "{}",
            lines[0]
        );
    }
}

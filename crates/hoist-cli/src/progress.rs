//! Rendering pull and push progress the way the docker CLI does (`jsonmessage.DisplayJSONMessagesStream`):
//! on a terminal, one line per layer redrawn in place with a bar while bytes move; otherwise
//! plain `ID: Status` lines; with `-q`, nothing.
//!
//! The library emits [`ProgressEvent`]s from the pull's task; [`Renderer::sink`] only queues
//! them (never blocks the pull), and a thread of the renderer's own writes the terminal, so no
//! terminal I/O happens inside async code. [`Renderer::finish`] drains the queue and waits for
//! the thread, so every line is out before the final reference is printed.
//!
//! Two kinds of line besides docker's: a totals line ([`TOTALS_ID`], `hoist sync`'s images,
//! bytes and rate), redrawn in place on a terminal and printed as it is otherwise; and, in
//! [`Mode::Json`], nothing but the JSON lines a command sends ([`JSON_ID`]), one object per
//! line, for scripts.
//!
//! Plain lines are throttled: a status change is always printed, but `Downloading` and `Pushing` (with their
//! byte counts) at most once per [`PLAIN_DOWNLOAD_INTERVAL`] per layer, and `Retrying in N
//! seconds` once per retry, so a log file gets a bounded number of lines per layer.

use std::collections::HashMap;
use std::fmt;
use std::io::Write as _;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hoist::progress::{ProgressEvent, ProgressSink, Status};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// The id of a totals line (see the module docs).
pub const TOTALS_ID: &str = "\u{0}totals";
/// The id of a JSON line (see the module docs).
pub const JSON_ID: &str = "\u{0}json";

/// Least time between two plain `Downloading` lines of one layer.
pub const PLAIN_DOWNLOAD_INTERVAL: Duration = Duration::from_secs(1);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bars redrawn in place (stdout is a terminal).
    Terminal,
    /// `ID: Status` lines.
    Plain,
    /// Nothing (`-q`).
    Quiet,
    /// Only the JSON lines ([`JSON_ID`]) (`--json`).
    Json,
}

/// Queues events for the rendering thread.
#[derive(Clone)]
struct Queue {
    tx: Arc<Mutex<Option<mpsc::Sender<ProgressEvent>>>>,
}

impl ProgressSink for Queue {
    fn emit(&self, event: ProgressEvent) {
        let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = guard.as_ref() {
            // A gone renderer only loses progress, which is advisory.
            let _ = tx.send(event);
        }
    }
}

/// A progress renderer: a sink for the pull and a thread drawing what it receives.
pub struct Renderer {
    queue: Queue,
    thread: Option<JoinHandle<()>>,
}

impl Renderer {
    /// Starts rendering in `mode`.
    pub fn start(mode: Mode) -> Renderer {
        let (tx, rx) = mpsc::channel();
        let thread = match mode {
            Mode::Quiet => None,
            Mode::Plain => Some(std::thread::spawn(move || plain(rx))),
            Mode::Terminal => Some(std::thread::spawn(move || terminal(rx))),
            Mode::Json => Some(std::thread::spawn(move || json_lines(rx))),
        };
        let tx = thread.is_some().then_some(tx);
        Renderer {
            queue: Queue {
                tx: Arc::new(Mutex::new(tx)),
            },
            thread,
        }
    }

    /// The sink to give the pull.
    pub fn sink(&self) -> &dyn ProgressSink {
        &self.queue
    }

    /// The same sink, owned, for whoever reports from outside the operation's call (a
    /// sync's observer). It stops forwarding once [`Renderer::finish`] is called.
    pub fn shared(&self) -> Arc<dyn ProgressSink> {
        Arc::new(self.queue.clone())
    }

    /// Waits until every queued event is drawn.
    pub fn finish(mut self) {
        self.queue
            .tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Plain lines, throttled (see the module doc).
fn plain(rx: mpsc::Receiver<ProgressEvent>) {
    let mut last: HashMap<String, (String, Instant)> = HashMap::new();
    let stdout = std::io::stdout();
    for event in rx {
        let Some(line) = plain_line(&event, &mut last, Instant::now()) else {
            continue;
        };
        let mut out = stdout.lock();
        // stdout gone (a closed pipe): nothing more to show, the pull goes on.
        let _ = writeln!(out, "{line}");
    }
}

/// `--json`: the JSON lines, nothing else.
fn json_lines(rx: mpsc::Receiver<ProgressEvent>) {
    let stdout = std::io::stdout();
    for event in rx {
        if let (JSON_ID, Status::Message(line)) = (event.id.as_str(), &event.status) {
            // stdout gone (a closed pipe): nothing more to show, the operation goes on.
            let _ = writeln!(stdout.lock(), "{line}");
        }
    }
}

/// The line to print for `event`, if any; `last` holds each id's last printed status.
pub fn plain_line(
    event: &ProgressEvent,
    last: &mut HashMap<String, (String, Instant)>,
    now: Instant,
) -> Option<String> {
    if let (TOTALS_ID | JSON_ID, Status::Message(text)) = (event.id.as_str(), &event.status) {
        return Some(text.clone());
    }
    if !event.is_blob_event() {
        return Some(event.to_string());
    }
    let (status, text) = match &event.status {
        Status::Downloading { current, total }
        | Status::Extracting { current, total }
        | Status::Pushing { current, total } => (
            event.status.to_string(),
            format!("{} {}", event.status, bytes_progress(*current, *total)),
        ),
        other => (other.to_string(), other.to_string()),
    };
    let repeated = last.get(&event.id).is_some_and(|(previous, at)| {
        *previous == status
            && (!matches!(
                event.status,
                Status::Downloading { .. } | Status::Extracting { .. } | Status::Pushing { .. }
            ) || now.duration_since(*at) < PLAIN_DOWNLOAD_INTERVAL)
    });
    if repeated {
        return None;
    }
    last.insert(event.id.clone(), (status, now));
    Some(format!("{}: {text}", event.id))
}

/// `1.2MB/3.4MB` (docker's `units.HumanSize`: decimal units, 3 significant digits).
pub fn bytes_progress(current: u64, total: Option<u64>) -> String {
    match total {
        Some(total) => format!("{}/{}", human_size(current), human_size(total)),
        None => human_size(current),
    }
}

/// docker's `units.HumanSize`: decimal units, 4 significant digits (`336.4kB`, `23.22MB`).
fn human_size(bytes: u64) -> String {
    crate::units::human_size(bytes, 4)
}

/// A transfer rate in whole bytes per second (a rate not yet measured is 0).
fn per_second(rate: f64) -> u64 {
    if rate.is_finite() && rate > 0.0 {
        // Truncation to whole bytes per second is what is shown.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = rate as u64;
        whole
    } else {
        0
    }
}

/// Time left as people read it: `45s`, `3m20s`, `1h05m`.
pub fn time_left(left: Duration) -> String {
    let seconds = left.as_secs();
    match seconds {
        0..=59 => format!("{seconds}s"),
        60..=3599 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, seconds / 60 % 60),
    }
}

/// Bars on the terminal: one line per layer (in the order the layers first appear, which is
/// the manifest's), messages as lines of their own, in order. A bar fills the terminal's
/// width and ends with docker's byte counts (`23.22MB/312.8MB`), the rate and the time left.
fn terminal(rx: mpsc::Receiver<ProgressEvent>) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
    let text =
        ProgressStyle::with_template("{prefix}{msg}").unwrap_or(ProgressStyle::default_bar());
    let bar = ProgressStyle::with_template("{prefix}{msg} [{wide_bar}] {sizes} {speed} {left}")
        .unwrap_or(ProgressStyle::default_bar())
        .progress_chars("=> ")
        .with_key("sizes", |state: &ProgressState, w: &mut dyn fmt::Write| {
            let _ = w.write_str(&bytes_progress(state.pos(), state.len()));
        })
        .with_key("speed", |state: &ProgressState, w: &mut dyn fmt::Write| {
            let _ = write!(w, "{}/s", human_size(per_second(state.per_sec())));
        })
        .with_key("left", |state: &ProgressState, w: &mut dyn fmt::Write| {
            let _ = w.write_str(&time_left(state.eta()));
        });
    let mut lines: HashMap<String, ProgressBar> = HashMap::new();
    // The totals line, once there is one: always the last line, redrawn in place.
    let mut totals: Option<ProgressBar> = None;
    let add = |totals: &Option<ProgressBar>, line: ProgressBar| match totals {
        Some(last) => multi.insert_before(last, line),
        None => multi.add(line),
    };
    for event in rx {
        if let (TOTALS_ID, Status::Message(message)) = (event.id.as_str(), &event.status) {
            let line = totals
                .get_or_insert_with(|| multi.add(ProgressBar::new(0).with_style(text.clone())));
            line.set_message(message.clone());
            continue;
        }
        if !event.is_blob_event() {
            // A line of its own, kept in place below the layers shown so far.
            let line = add(&totals, ProgressBar::new(0).with_style(text.clone()));
            line.finish_with_message(event.to_string());
            continue;
        }
        let line = lines.entry(event.id.clone()).or_insert_with(|| {
            add(
                &totals,
                ProgressBar::new(0)
                    .with_style(text.clone())
                    .with_prefix(format!("{}: ", event.id)),
            )
        });
        match &event.status {
            Status::Downloading { current, total }
            | Status::Extracting { current, total }
            | Status::Pushing { current, total } => {
                line.set_message(event.status.to_string());
                line.set_length(total.unwrap_or(*current));
                line.set_position(*current);
                line.set_style(bar.clone());
            }
            other => {
                line.set_style(text.clone());
                line.set_message(other.to_string());
            }
        }
    }
    for line in lines.values().chain(totals.iter()) {
        line.abandon();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist::digest::Digest;

    fn event(status: Status) -> ProgressEvent {
        ProgressEvent::new(&Digest::sha256_of(b"layer"), status)
    }

    #[test]
    fn status_changes_are_always_printed() {
        let mut last = HashMap::new();
        let now = Instant::now();
        let a = plain_line(&event(Status::PullingFsLayer), &mut last, now);
        let b = plain_line(&event(Status::PullComplete), &mut last, now);
        assert!(a.unwrap().ends_with(": Pulling fs layer"));
        assert!(b.unwrap().ends_with(": Pull complete"));
    }

    #[test]
    fn downloading_is_printed_at_most_once_per_interval() {
        let mut last = HashMap::new();
        let now = Instant::now();
        let downloading = |current| {
            event(Status::Downloading {
                current,
                total: Some(3_400_000),
            })
        };
        let first = plain_line(&downloading(1), &mut last, now).unwrap();
        assert!(first.ends_with(": Downloading 1B/3.4MB"), "{first}");
        assert_eq!(plain_line(&downloading(2), &mut last, now), None);
        let later = now + PLAIN_DOWNLOAD_INTERVAL;
        assert!(plain_line(&downloading(1_200_000), &mut last, later)
            .unwrap()
            .ends_with(": Downloading 1.2MB/3.4MB"));
    }

    #[test]
    fn messages_are_printed_as_they_are() {
        let mut last = HashMap::new();
        let line = plain_line(
            &ProgressEvent::message("", "Digest: sha256:00"),
            &mut last,
            Instant::now(),
        );
        assert_eq!(line.as_deref(), Some("Digest: sha256:00"));
    }

    #[test]
    fn time_left_reads_as_people_write_it() {
        assert_eq!(time_left(Duration::from_secs(45)), "45s");
        assert_eq!(time_left(Duration::from_secs(200)), "3m20s");
        assert_eq!(time_left(Duration::from_secs(3900)), "1h05m");
    }

    #[test]
    fn rates_are_whole_bytes_per_second() {
        assert_eq!(per_second(1234.9), 1234);
        assert_eq!(per_second(f64::NAN), 0);
        assert_eq!(per_second(-1.0), 0);
    }

    #[test]
    fn human_sizes_are_decimal_like_docker() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_000), "1kB");
        assert_eq!(human_size(3_400_000), "3.4MB");
        assert_eq!(human_size(1_234_567), "1.235MB");
    }
}

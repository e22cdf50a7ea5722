//! Progress events of pulls and pushes, as data: what happened to which blob. Rendering (bars on
//! a TTY, plain lines otherwise) belongs to the CLI; the library only emits.
//!
//! Corresponds to docker's `pkg/progress` (`progress.Progress{ID, Action, Current, Total}` sent
//! through a `progress.Output`) with the per-layer statuses docker's `distribution` package
//! prints. An event is ([`ProgressEvent::id`], [`Status`]): the id is docker's short id, the
//! first 12 hex characters of the blob digest ([`short_id`]), so `hoist pull` lines look like
//! `docker pull` lines (`a3ed95caeb02: Pull complete`).
//!
//! # Who emits what
//! - The scheduler ([`crate::transfer::Scheduler`]): `Waiting`, `Retrying in N seconds`.
//! - The copy engine ([`crate::copy`]), in the [`Wording`] its sink chose: push's
//!   `Preparing`, `Waiting`, `Pushing`, `Pushed`, `Layer already exists`, `Mounted from R`, or
//!   pull's `Pulling fs layer`, `Waiting`, `Pull complete`, `Already exists` (the local
//!   store's layer writer adds `Downloading`, `Verifying Checksum`, `Download complete`).
//! - Pull's own lines, as [`Status::Message`] (docker's `progress.Message`): `TAG: Pulling
//!   from NAME`, `Digest: D`, `Status: Downloaded newer image for REF` / `Status: Image is up
//!   to date for REF`, the schema 1 deprecation warning.
//!
//! # Invariants
//! - [`ProgressSink::emit`] never blocks and never fails: progress is advisory, a slow or gone
//!   renderer must not slow or break a transfer.
//! - Byte-count events are throttled by the emitter ([`Throttle`]): at most one per
//!   [`Throttle::INTERVAL`] or per [`Throttle::STEP_PERCENT`] of the total, plus the last one,
//!   so a renderer sees a bounded number of events per layer whatever its size.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::digest::Digest;

/// Length of docker's short id (`stringid.TruncateID`): 12 hex characters.
pub const SHORT_ID_LEN: usize = 12;

/// docker's short id of a blob: the first 12 hex characters of its digest.
pub fn short_id(digest: &Digest) -> String {
    digest.hex().chars().take(SHORT_ID_LEN).collect()
}

/// What is happening to one blob. `Display` gives docker's exact wording (without the bar).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The layer is not present and a download was scheduled.
    PullingFsLayer,
    /// The transfer waits for a free download (or upload) slot.
    Waiting,
    /// Bytes received so far; `total` when the size is known.
    Downloading {
        /// Bytes of the blob held so far (including a resumed prefix).
        current: u64,
        /// The blob's size, if known.
        total: Option<u64>,
    },
    /// The download failed and will be retried after the given delay (counted down by
    /// whole seconds, as docker does).
    RetryingIn {
        /// Seconds until the next attempt.
        seconds: u64,
    },
    /// All bytes are in; the digest is being checked.
    VerifyingChecksum,
    /// The blob is verified and stored.
    DownloadComplete,
    /// Decompressed bytes applied to the layer store so far.
    Extracting {
        /// Bytes processed.
        current: u64,
        /// Total bytes, if known.
        total: Option<u64>,
    },
    /// The layer is stored (and unpacked when the layer store is used).
    PullComplete,
    /// The blob was already in the local store: nothing was fetched.
    AlreadyExists,
    /// Push: the layer is being prepared.
    Preparing,
    /// Push: bytes sent so far.
    Pushing {
        /// Bytes sent.
        current: u64,
        /// Total bytes, if known.
        total: Option<u64>,
    },
    /// Push: the layer was uploaded.
    Pushed,
    /// Push: the registry already has the layer.
    LayerAlreadyExists,
    /// Push: the layer was mounted from another repository of the same registry.
    MountedFrom {
        /// The repository it was mounted from (as docker prints it, e.g. `library/alpine`).
        repository: String,
    },
    /// A line about the operation rather than one blob (docker's `progress.Message`):
    /// `Pulling from library/busybox`, `Digest: sha256:…`, `Status: …`, warnings.
    Message(String),
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::PullingFsLayer => f.write_str("Pulling fs layer"),
            Status::Waiting => f.write_str("Waiting"),
            Status::Downloading { .. } => f.write_str("Downloading"),
            // docker: "Retrying in %d second%s" (plural unless exactly 1).
            Status::RetryingIn { seconds: 1 } => f.write_str("Retrying in 1 second"),
            Status::RetryingIn { seconds } => write!(f, "Retrying in {seconds} seconds"),
            Status::VerifyingChecksum => f.write_str("Verifying Checksum"),
            Status::DownloadComplete => f.write_str("Download complete"),
            Status::Extracting { .. } => f.write_str("Extracting"),
            Status::PullComplete => f.write_str("Pull complete"),
            Status::AlreadyExists => f.write_str("Already exists"),
            Status::Preparing => f.write_str("Preparing"),
            Status::Pushing { .. } => f.write_str("Pushing"),
            Status::Pushed => f.write_str("Pushed"),
            Status::LayerAlreadyExists => f.write_str("Layer already exists"),
            Status::MountedFrom { repository } => write!(f, "Mounted from {repository}"),
            Status::Message(text) => f.write_str(text),
        }
    }
}

/// The words the copy engine uses for a blob's steps, chosen by the sink
/// ([`crate::copy::ImageSink::wording`]): a copy into a registry or a layout speaks like
/// `docker push`, a copy into the local store like `docker pull`, so `hoist pull` and `hoist
/// copy docker://R/x hoist:R/x` print the same lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wording {
    /// `Preparing`, `Pushing`, `Pushed`, `Layer already exists` (docker's push).
    #[default]
    Push,
    /// `Pulling fs layer`, `Downloading`, `Pull complete`, `Already exists` (docker's pull;
    /// the store's writer adds `Verifying Checksum` and `Download complete`).
    Pull,
}

impl Wording {
    /// A blob whose bytes will be sent is announced (`Preparing` / `Pulling fs layer`).
    pub fn announced(self) -> Status {
        match self {
            Wording::Push => Status::Preparing,
            Wording::Pull => Status::PullingFsLayer,
        }
    }

    /// The sink already held the blob (`Layer already exists` / `Already exists`).
    pub fn present(self) -> Status {
        match self {
            Wording::Push => Status::LayerAlreadyExists,
            Wording::Pull => Status::AlreadyExists,
        }
    }

    /// The blob's bytes are in the sink (`Pushed` / `Pull complete`).
    pub fn done(self) -> Status {
        match self {
            Wording::Push => Status::Pushed,
            Wording::Pull => Status::PullComplete,
        }
    }
}

/// One progress event: docker's `progress.Progress` for a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressEvent {
    /// docker's short id of the blob ([`short_id`]).
    pub id: String,
    /// What happened.
    pub status: Status,
}

impl ProgressEvent {
    /// The event `status` for the blob `digest`.
    pub fn new(digest: &Digest, status: Status) -> ProgressEvent {
        ProgressEvent {
            id: short_id(digest),
            status,
        }
    }
}

impl ProgressEvent {
    /// A message line (docker's `progress.Message(out, id, text)`): `id` is a tag or digest
    /// for `latest: Pulling from library/busybox`, or empty for a line of its own
    /// (`Digest: sha256:…`).
    pub fn message(id: impl Into<String>, text: impl Into<String>) -> ProgressEvent {
        ProgressEvent {
            id: id.into(),
            status: Status::Message(text.into()),
        }
    }

    /// Whether this event is about one blob (a per-layer line), not a message.
    pub fn is_blob_event(&self) -> bool {
        !matches!(self.status, Status::Message(_))
    }
}

impl fmt::Display for ProgressEvent {
    /// `ID: Status`, the way docker prints a line without a TTY; a message without an id is
    /// printed alone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.id.is_empty() {
            write!(f, "{}", self.status)
        } else {
            write!(f, "{}: {}", self.id, self.status)
        }
    }
}

/// The progress sink: where progress events go (docker's `progress.Output`), unlike the
/// image sinks, blob writers and layer sinks, which receive bytes. Implementations must not
/// block.
pub trait ProgressSink: Send + Sync {
    /// Records one event.
    fn emit(&self, event: ProgressEvent);
}

/// A sink that drops every event (`-q`, and library users who do not care).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn emit(&self, _event: ProgressEvent) {}
}

/// A sink that forwards events to a channel, for the CLI's renderer and for tests.
///
/// The channel is unbounded so that `emit` never blocks a transfer; throttling at the emitters
/// keeps it small. Events emitted after the receiver is dropped are discarded.
#[derive(Debug, Clone)]
pub struct ChannelProgress {
    tx: mpsc::UnboundedSender<ProgressEvent>,
}

impl ChannelProgress {
    /// A sink and the receiving end of its channel.
    pub fn new() -> (ChannelProgress, mpsc::UnboundedReceiver<ProgressEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (ChannelProgress { tx }, rx)
    }
}

impl ProgressSink for ChannelProgress {
    fn emit(&self, event: ProgressEvent) {
        // A closed receiver means nobody renders any more: progress is advisory.
        let _ = self.tx.send(event);
    }
}

/// Throttled `Pushing` events for one blob's bytes, named by `id` (a digest, or push's
/// diffID); silent without a sink. Shared by every writer that sends or compresses a blob.
#[derive(Clone)]
pub(crate) struct PushReporter {
    sink: Option<Arc<dyn ProgressSink>>,
    id: Digest,
    total: u64,
    throttle: Throttle,
    wording: Wording,
}

impl PushReporter {
    /// A reporter of `total` bytes for `id` into `sink`, if any.
    pub(crate) fn new(
        sink: Option<&Arc<dyn ProgressSink>>,
        id: &Digest,
        total: u64,
    ) -> PushReporter {
        PushReporter {
            sink: sink.cloned(),
            id: id.clone(),
            total,
            throttle: Throttle::new(),
            wording: Wording::Push,
        }
    }

    /// Reports in `wording`'s words: `Downloading` for [`Wording::Pull`].
    pub(crate) fn worded(mut self, wording: Wording) -> PushReporter {
        self.wording = wording;
        self
    }

    /// `current` bytes are done: a `Pushing` (`Downloading`) event unless the throttle holds
    /// it back.
    pub(crate) fn report(&mut self, current: u64) {
        if let Some(sink) = &self.sink {
            if self.throttle.admit(current, Some(self.total)) {
                let total = Some(self.total);
                let status = match self.wording {
                    Wording::Push => Status::Pushing { current, total },
                    Wording::Pull => Status::Downloading { current, total },
                };
                sink.emit(ProgressEvent::new(&self.id, status));
            }
        }
    }
}

/// Runs `work` while handing the events it emits to `progress` from this task, so the
/// caller's sink needs no `'static` lifetime and sees events in order.
pub(crate) async fn forward_until_done<T>(
    work: impl std::future::Future<Output = T>,
    mut events: mpsc::UnboundedReceiver<ProgressEvent>,
    progress: &dyn ProgressSink,
) -> T {
    tokio::pin!(work);
    let result = loop {
        tokio::select! {
            biased;
            Some(event) = events.recv() => progress.emit(event),
            result = &mut work => break result,
        }
    };
    // Transfers still running for other callers may hold senders: take what is there now.
    while let Ok(event) = events.try_recv() {
        progress.emit(event);
    }
    result
}

/// Decides which byte-count events of one blob are worth sending: the first, then one per
/// [`INTERVAL`](Throttle::INTERVAL) or per [`STEP_PERCENT`](Throttle::STEP_PERCENT) of the
/// total (whichever comes first), and always the one that reaches the total.
#[derive(Debug, Clone)]
pub struct Throttle {
    last_time: Option<Instant>,
    last_bytes: u64,
}

impl Throttle {
    /// Minimum time between two events of one blob.
    pub const INTERVAL: Duration = Duration::from_millis(100);
    /// Progress (in percent of the total) that justifies an event before the interval.
    pub const STEP_PERCENT: u64 = 1;

    /// A throttle that lets the next event through.
    pub fn new() -> Throttle {
        Throttle {
            last_time: None,
            last_bytes: 0,
        }
    }

    /// Whether an event at `current` of `total` bytes should be emitted now; records it if so.
    pub fn admit(&mut self, current: u64, total: Option<u64>) -> bool {
        self.admit_at(Instant::now(), current, total)
    }

    fn admit_at(&mut self, now: Instant, current: u64, total: Option<u64>) -> bool {
        let admit = match self.last_time {
            None => true,
            Some(last) => {
                let finished = total.is_some_and(|t| current >= t && self.last_bytes < t);
                let stepped = total.is_some_and(|t| {
                    t > 0
                        && current.saturating_sub(self.last_bytes).saturating_mul(100)
                            >= t.saturating_mul(Self::STEP_PERCENT)
                });
                finished || stepped || now.duration_since(last) >= Self::INTERVAL
            }
        };
        if admit {
            self.last_time = Some(now);
            self.last_bytes = current;
        }
        admit
    }
}

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest::sha256_of(b"layer")
    }

    #[test]
    fn short_id_is_first_twelve_hex_characters() {
        let d = digest();
        assert_eq!(short_id(&d), &d.hex()[..12]);
        assert_eq!(short_id(&d).len(), 12);
    }

    #[test]
    fn statuses_use_docker_wording() {
        let cases = [
            (Status::PullingFsLayer, "Pulling fs layer"),
            (Status::Waiting, "Waiting"),
            (
                Status::Downloading {
                    current: 1,
                    total: Some(2),
                },
                "Downloading",
            ),
            (Status::RetryingIn { seconds: 5 }, "Retrying in 5 seconds"),
            (Status::RetryingIn { seconds: 1 }, "Retrying in 1 second"),
            (Status::VerifyingChecksum, "Verifying Checksum"),
            (Status::DownloadComplete, "Download complete"),
            (Status::PullComplete, "Pull complete"),
            (Status::AlreadyExists, "Already exists"),
            (Status::LayerAlreadyExists, "Layer already exists"),
            (
                Status::MountedFrom {
                    repository: "library/alpine".into(),
                },
                "Mounted from library/alpine",
            ),
        ];
        for (status, text) in cases {
            assert_eq!(status.to_string(), text);
        }
    }

    #[test]
    fn event_displays_as_docker_plain_line() {
        let d = digest();
        let event = ProgressEvent::new(&d, Status::PullComplete);
        assert_eq!(
            event.to_string(),
            format!("{}: Pull complete", &d.hex()[..12])
        );
    }

    #[test]
    fn message_without_id_is_printed_alone() {
        let event = ProgressEvent::message("", "Digest: sha256:00");
        assert_eq!(event.to_string(), "Digest: sha256:00");
        assert!(!event.is_blob_event());
        let tagged = ProgressEvent::message("latest", "Pulling from library/busybox");
        assert_eq!(tagged.to_string(), "latest: Pulling from library/busybox");
    }

    #[test]
    fn channel_sink_delivers_events_in_order() {
        let (sink, mut rx) = ChannelProgress::new();
        let d = digest();
        sink.emit(ProgressEvent::new(&d, Status::Waiting));
        sink.emit(ProgressEvent::new(&d, Status::PullComplete));
        assert_eq!(rx.try_recv().unwrap().status, Status::Waiting);
        assert_eq!(rx.try_recv().unwrap().status, Status::PullComplete);
    }

    #[test]
    fn channel_sink_ignores_a_dropped_receiver() {
        let (sink, rx) = ChannelProgress::new();
        drop(rx);
        sink.emit(ProgressEvent::new(&digest(), Status::Waiting));
    }

    #[test]
    fn throttle_admits_first_event_and_drops_small_quick_steps() {
        let mut t = Throttle::new();
        let start = Instant::now();
        assert!(t.admit_at(start, 0, Some(10_000)));
        // 0.5 % later and 10 ms later: dropped.
        assert!(!t.admit_at(start + Duration::from_millis(10), 50, Some(10_000)));
    }

    #[test]
    fn throttle_admits_one_percent_steps_before_the_interval() {
        let mut t = Throttle::new();
        let start = Instant::now();
        assert!(t.admit_at(start, 0, Some(10_000)));
        assert!(t.admit_at(start + Duration::from_millis(1), 100, Some(10_000)));
    }

    #[test]
    fn throttle_admits_after_the_interval_without_total() {
        let mut t = Throttle::new();
        let start = Instant::now();
        assert!(t.admit_at(start, 0, None));
        assert!(!t.admit_at(start + Duration::from_millis(50), 1, None));
        assert!(t.admit_at(start + Throttle::INTERVAL, 2, None));
    }

    #[test]
    fn throttle_always_admits_reaching_the_total() {
        let mut t = Throttle::new();
        let start = Instant::now();
        assert!(t.admit_at(start, 0, Some(1_000_000)));
        assert!(t.admit_at(start, 999_999, Some(1_000_000)));
        assert!(t.admit_at(start, 1_000_000, Some(1_000_000)));
    }
}

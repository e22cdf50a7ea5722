//! Parallel range fetch of one big blob: when it applies ([`RangeFetch`]), which parts are
//! still missing ([`Spans::missing`]), and how far the bytes are complete from byte zero
//! ([`Spans::prefix`]).
//!
//! containerd 2.1's `concurrent_layer_fetch_buffer` fetches a layer above a size as several
//! `Range` requests on several connections; one HTTP stream is otherwise the limit of a big
//! layer wherever each connection is capped (a proxy, a CDN's per-connection shaping, a long
//! fat link). hoist does the same for blobs of at least [`RangeFetch::threshold`] bytes: the
//! blob is cut into parts of [`RangeFetch::part_size`] bytes, fetched by
//! [`RangeFetch::connections`] workers, each part written at its offset into the blob's
//! ingest (the content store's `ingest_parts`), and the whole digest is checked once at the
//! end. The parts are hashed — and decompressed and unpacked — in order as the complete
//! prefix grows, by the same pipeline thread as a one-stream download, so hashing stays one
//! pass and unpacking follows the prefix instead of waiting for the whole blob.
//!
//! Unlike containerd, hoist first fetches [`RangeFetch::probe`] bytes as one stream and asks a
//! [`Probe`] whether the link or the pipeline limited it: parts cost CPU one stream does not
//! (each byte written, then read back to be hashed in order), which on a link faster than
//! hoist (loopback, a LAN) only slows the pull; so parts are used only where the pipeline
//! waited for the network most of the time.
//!
//! This module holds only the arithmetic; the fetching is the store's layer writer's
//! (`crate::copy`'s `store_parts`), the bookkeeping on disk the ingest's.
//!
//! Invariants: [`Spans`] are sorted, disjoint, non-empty and not touching (adjacent spans are
//! merged), so [`Spans::prefix`] is the end of the first span when it starts at 0.

use std::ops::Range;
use std::time::{Duration, Instant};

/// When and how a big blob is fetched in parts. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeFetch {
    /// Blobs of at least this many bytes are fetched in parts; `0` turns parallel fetching
    /// off (every blob is one stream). Default 64 MiB, containerd 2.1's usual
    /// `concurrent_layer_fetch_buffer`.
    pub threshold: u64,
    /// The size of one part (one `Range` request), at least 1 MiB outside tests. Default
    /// 16 MiB: small enough that a kill loses little, large enough that the requests'
    /// round trips do not count.
    pub part_size: u64,
    /// Parts fetched at once, each on its own connection (at least 1). Default 4.
    pub connections: usize,
    /// How many bytes of a big blob are first fetched as one stream to see whether the link
    /// or hoist is what limits it (see the module docs); `0`: in parts at once, without
    /// looking (containerd 2.1's way). Default 8 MiB.
    pub probe: u64,
}

/// Default [`RangeFetch::threshold`].
pub const DEFAULT_THRESHOLD: u64 = 64 << 20;
/// Default [`RangeFetch::part_size`].
pub const DEFAULT_PART_SIZE: u64 = 16 << 20;
/// Default [`RangeFetch::connections`].
pub const DEFAULT_CONNECTIONS: usize = 4;
/// Default [`RangeFetch::probe`].
pub const DEFAULT_PROBE: u64 = 8 << 20;

impl Default for RangeFetch {
    fn default() -> RangeFetch {
        RangeFetch {
            threshold: DEFAULT_THRESHOLD,
            part_size: DEFAULT_PART_SIZE,
            connections: DEFAULT_CONNECTIONS,
            probe: DEFAULT_PROBE,
        }
    }
}

impl RangeFetch {
    /// One stream for every blob.
    pub fn off() -> RangeFetch {
        RangeFetch {
            threshold: 0,
            ..RangeFetch::default()
        }
    }

    /// Whether a blob of `size` bytes is fetched in parts: parallel fetching is on, the blob
    /// reaches the threshold, and it makes at least two parts on at least two connections.
    pub fn applies_to(&self, size: u64) -> bool {
        self.threshold > 0
            && size >= self.threshold
            && self.connections > 1
            && size > self.part_size.max(1)
    }
}

/// The shortest a [`Probe`] watches, however fast its bytes come: long enough that one
/// scheduling hiccup on a busy machine does not decide.
pub(crate) const PROBE_MIN_TIME: Duration = Duration::from_millis(250);
/// The longest a [`Probe`] watches, however few bytes came (a slow link must not wait for
/// its [`RangeFetch::probe`] bytes on one connection).
pub(crate) const PROBE_MAX_TIME: Duration = Duration::from_secs(2);

/// What a [`Probe`] saw limit the one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bottleneck {
    /// The pipeline waited for the network most of the time: more connections can help.
    Link,
    /// The pipeline was busy (hashing, decompressing, unpacking) most of the time: more
    /// connections would only add work (each part is written, then read back to be hashed).
    Consumer,
}

/// Watches the first bytes of a big blob arriving as one stream, and says whether the link or
/// the pipeline consuming them limits it: the pipeline's time waiting for the network,
/// against the time the window lasted. The window starts with the first bytes (not the
/// request: its round trip is not the link's rate) and lasts until [`RangeFetch::probe`]
/// bytes came and [`PROBE_MIN_TIME`] passed, or [`PROBE_MAX_TIME`] passed. More than half of
/// it waiting is [`Bottleneck::Link`]: parts on several connections then pay, and cost
/// nothing on a link already faster than hoist (loopback, a LAN), where one stream is kept.
#[derive(Debug)]
pub(crate) struct Probe {
    bytes: u64,
    /// When the window started: the time, the offset and the pipeline's wait until then.
    start: Option<(Instant, u64, Duration)>,
}

/// What the window measured, for the trace.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProbeResult {
    pub(crate) bottleneck: Bottleneck,
    pub(crate) bytes: u64,
    pub(crate) elapsed: Duration,
    pub(crate) waited: Duration,
}

impl Probe {
    /// A probe watching at least `bytes` bytes.
    pub(crate) fn new(bytes: u64) -> Probe {
        Probe { bytes, start: None }
    }

    /// Takes in that the stream reached `offset` at `now`, the pipeline having waited
    /// `waited` for the feed in all (a growing total). The verdict once the window is over.
    pub(crate) fn observe(
        &mut self,
        now: Instant,
        offset: u64,
        waited: Duration,
    ) -> Option<ProbeResult> {
        let Some((started, from, waited_before)) = self.start else {
            self.start = Some((now, offset, waited));
            return None;
        };
        let elapsed = now.saturating_duration_since(started);
        let bytes = offset.saturating_sub(from);
        let over = (bytes >= self.bytes && elapsed >= PROBE_MIN_TIME) || elapsed >= PROBE_MAX_TIME;
        if !over {
            return None;
        }
        let waited = waited.saturating_sub(waited_before).min(elapsed);
        let bottleneck = if waited * 2 > elapsed {
            Bottleneck::Link
        } else {
            Bottleneck::Consumer
        };
        Some(ProbeResult {
            bottleneck,
            bytes,
            elapsed,
            waited,
        })
    }
}

/// Byte ranges of a blob known to be complete on disk. See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spans {
    spans: Vec<Range<u64>>,
}

impl Spans {
    /// The spans of `ranges` (in any order, overlapping or not; empty ones are dropped).
    pub fn from_ranges(ranges: impl IntoIterator<Item = Range<u64>>) -> Spans {
        let mut spans = Spans::default();
        for range in ranges {
            spans.insert(range);
        }
        spans
    }

    /// The spans, sorted and disjoint.
    pub fn ranges(&self) -> &[Range<u64>] {
        &self.spans
    }

    /// Adds `range`, merging it with the spans it overlaps or touches.
    pub fn insert(&mut self, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        let (mut start, mut end) = (range.start, range.end);
        let mut kept = Vec::with_capacity(self.spans.len() + 1);
        for span in self.spans.drain(..) {
            if span.end < start || span.start > end {
                kept.push(span);
            } else {
                start = start.min(span.start);
                end = end.max(span.end);
            }
        }
        kept.push(start..end);
        kept.sort_by_key(|span| span.start);
        self.spans = kept;
    }

    /// How many bytes are complete from byte zero on.
    pub fn prefix(&self) -> u64 {
        match self.spans.first() {
            Some(first) if first.start == 0 => first.end,
            _ => 0,
        }
    }

    /// The bytes the spans cover.
    pub fn covered(&self) -> u64 {
        self.spans.iter().map(|span| span.end - span.start).sum()
    }

    /// The parts still to fetch of a blob of `size` bytes: every gap, from `from` on, cut into
    /// pieces of at most `part_size` bytes, in order.
    pub fn missing(&self, from: u64, size: u64, part_size: u64) -> Vec<Range<u64>> {
        let part_size = part_size.max(1);
        let mut parts = Vec::new();
        let mut cut = |gap: Range<u64>| {
            let mut start = gap.start;
            while start < gap.end {
                let end = gap.end.min(start.saturating_add(part_size));
                parts.push(start..end);
                start = end;
            }
        };
        let mut at = from;
        for span in &self.spans {
            if span.end <= at {
                continue;
            }
            if span.start > at {
                cut(at..span.start.min(size));
            }
            at = at.max(span.end);
        }
        if at < size {
            cut(at..size);
        }
        parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_merge_when_they_touch_or_overlap() {
        let spans = Spans::from_ranges([10..20, 0..5, 5..10, 30..40, 35..50]);
        assert_eq!(spans.ranges(), &[0..20, 30..50]);
        assert_eq!(spans.prefix(), 20);
        assert_eq!(spans.covered(), 40);
    }

    #[test]
    fn no_prefix_until_byte_zero_is_complete() {
        let spans = Spans::from_ranges(std::iter::once(4..8));
        assert_eq!(spans.prefix(), 0);
        assert_eq!(Spans::default().prefix(), 0);
    }

    #[test]
    fn missing_parts_fill_every_gap_in_pieces() {
        let spans = Spans::from_ranges([0..10, 25..30]);
        assert_eq!(
            spans.missing(0, 42, 8),
            vec![10..18, 18..25, 30..38, 38..42]
        );
        assert_eq!(spans.missing(26, 42, 100), vec![30..42]);
        assert!(Spans::from_ranges(std::iter::once(0..42))
            .missing(0, 42, 8)
            .is_empty());
    }

    #[test]
    fn parts_apply_only_to_blobs_at_the_threshold_with_two_parts() {
        let fetch = RangeFetch {
            threshold: 100,
            part_size: 40,
            connections: 4,
            probe: 0,
        };
        assert!(!fetch.applies_to(99));
        assert!(fetch.applies_to(100));
        assert!(!RangeFetch::off().applies_to(u64::MAX));
        assert!(!RangeFetch {
            connections: 1,
            ..fetch
        }
        .applies_to(1000));
        assert!(!RangeFetch {
            part_size: 1000,
            ..fetch
        }
        .applies_to(1000));
    }

    #[test]
    fn a_probe_decides_after_its_bytes_and_its_shortest_time() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut probe = Probe::new(100);
        // The first bytes start the window (after the request's round trip).
        assert!(probe.observe(ms(5), 10, Duration::from_millis(5)).is_none());
        // Enough bytes, too soon.
        assert!(probe
            .observe(ms(50), 500, Duration::from_millis(50))
            .is_none());
        // Enough bytes and time: the pipeline waited 200 of 250 ms: the link limits.
        let seen = probe
            .observe(ms(255), 900, Duration::from_millis(205))
            .unwrap();
        assert_eq!(seen.bottleneck, Bottleneck::Link);
        assert_eq!(seen.bytes, 890);
        assert_eq!(seen.waited, Duration::from_millis(200));

        // A pipeline that waited only 50 of 300 ms is the limit itself.
        let mut probe = Probe::new(100);
        probe.observe(ms(0), 0, Duration::ZERO);
        let seen = probe
            .observe(ms(300), 1000, Duration::from_millis(50))
            .unwrap();
        assert_eq!(seen.bottleneck, Bottleneck::Consumer);
    }

    #[test]
    fn a_slow_link_is_seen_before_the_probe_bytes_arrive() {
        let t0 = Instant::now();
        let mut probe = Probe::new(1 << 30);
        probe.observe(t0, 0, Duration::ZERO);
        assert!(probe
            .observe(t0 + PROBE_MAX_TIME / 2, 10, PROBE_MAX_TIME / 2)
            .is_none());
        let seen = probe
            .observe(t0 + PROBE_MAX_TIME, 20, PROBE_MAX_TIME)
            .unwrap();
        assert_eq!(seen.bottleneck, Bottleneck::Link);
    }
}

//! The parallel range fetch of one big layer into the store: [`fetch_parts`], used by the
//! store's layer writer (`store_layer`) for blobs [`RangeFetch::applies_to`].
//!
//! containerd 2.1's `concurrent_layer_fetch_buffer`, on hoist's ingest, once the layer
//! writer's probe found the link to be the bottleneck: the parts still missing
//! ([`Spans::missing`] of what the ingest records complete and of the prefix the probe's one
//! stream already sent into the pipeline) go to
//! [`RangeFetch::connections`] workers, each taking the next part from a shared queue and
//! reading it with one `Range: bytes=START-END` request ([`BlobInput::open_part`]) on its own
//! connection. A part's bytes are written at their offset into the ingest's file as they
//! arrive ([`IngestParts::write_at`]: the network's chunks, about [`WRITE_BATCH`] bytes of
//! them at a time, in one `pwritev` on a blocking thread, never copied into a buffer of ours,
//! and no part ever held whole), then synced and recorded ([`IngestParts::complete`]). As
//! the bytes written from byte zero grow — the complete parts, then what the part at their
//! end has written so far — their end is sent to the layer's pipeline ([`Feed::Placed`]),
//! which hashes, decompresses and unpacks them in order: the hash starts with the first
//! bytes, not after the first part (measured: waiting for whole parts made a 1 GiB pull on
//! loopback 9 % slower than one stream). Memory is a batch per connection.
//!
//! The prefix the probe's stream sent is the pipeline's (written by its tee, in order), not
//! recorded in `parts.json`: a rerun after a kill fetches it again, as parts — one probe
//! window, against a record that would otherwise have to wait for the tee's writes.
//!
//! # Failures
//! - A part whose answer breaks off is asked again for the bytes it still lacks, by itself
//!   (`Range: bytes=REACHED-END`), under [`PART_RETRY`]; a part that still fails fails the
//!   attempt, and the blob's next attempt fetches only what is still missing.
//! - A source that declines a part — no `Range` support, a registry or mirror answering 200
//!   or another `Content-Range`, or a body longer than the part — ends the parallel fetch:
//!   [`PartsEnd::Declined`], and the writer falls back to one stream from the complete prefix.
//! - Wrong bytes in a part cannot be seen here; the digest check at the commit catches them,
//!   and the writer then fetches the blob again as one stream.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::sink::BlobInput;
use super::CopyError;
use crate::store::{IngestParts, StoreError};
use crate::transfer::pipeline::{Feed, Pipeline};
use crate::transfer::{blocking, Backoff, RangeFetch, RetryPolicy, Spans};

/// Bytes a worker holds (as the network's chunks) before writing them: one `pwritev` on a
/// blocking thread.
pub(super) const WRITE_BATCH: usize = 256 * 1024;

/// How one part is retried after its answer broke off: a few attempts, a short backoff
/// (the connection is what failed, not the registry), `Retry-After` up to 10 s.
pub(super) const PART_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    backoff: Backoff::Linear {
        step: Duration::from_millis(200),
    },
    max_retry_after: Duration::from_secs(10),
};

/// How a parallel fetch ended.
pub(super) enum PartsEnd {
    /// Every byte is placed and announced to the pipeline.
    Complete,
    /// The source does not serve parts: fetch the rest as one stream.
    Declined,
    /// The pipeline stopped (its error is the answer).
    PipelineStopped,
}

/// What the workers tell the fetch.
enum Event {
    /// `len` more bytes of the part starting at `start` were written: it is written from its
    /// start up to `at`.
    Written {
        start: u64,
        at: u64,
        len: u64,
    },
    /// A part is complete and recorded.
    Done(Range<u64>),
    Declined,
    Failed(CopyError),
}

/// Chunks received and not yet written.
#[derive(Default)]
struct Batch {
    chunks: Vec<Bytes>,
    /// Their bytes.
    len: usize,
}

/// The shared state of one fetch.
struct Fetch<'a> {
    input: &'a dyn BlobInput,
    parts: &'a IngestParts,
    queue: Mutex<VecDeque<Range<u64>>>,
    /// The sink's location, for messages.
    location: &'a str,
}

/// Fetches the parts of the blob `parts` still lacks (see the module docs). `placed` is the
/// end of the prefix the pipeline has been told of; it grows as parts complete. `report` is
/// called with the bytes received so far (for `Downloading`).
pub(super) async fn fetch_parts(
    input: &dyn BlobInput,
    parts: &IngestParts,
    pipe: &Pipeline,
    config: RangeFetch,
    placed: &mut u64,
    location: &str,
    report: &mut (dyn FnMut(u64) + Send),
) -> Result<PartsEnd, CopyError> {
    let size = parts.size();
    let mut done = parts.done();
    // What was sent as one stream (a probe) is the pipeline's already: not fetched again.
    done.insert(0..*placed);
    // How far each part being fetched is written from its start.
    let mut heads = HashMap::new();
    if !announce(pipe, &done, &heads, placed).await {
        return Ok(PartsEnd::PipelineStopped);
    }
    let fetch = Fetch {
        input,
        parts,
        queue: Mutex::new(done.missing(0, size, config.part_size).into()),
        location,
    };
    let mut received = done.covered();
    let (tx, mut rx) = mpsc::channel(64);
    let workers = (0..config.connections.max(1)).map(|_| fetch.work(tx.clone()));
    let mut workers = std::pin::pin!(futures_util::future::join_all(workers));
    drop(tx);
    let mut finished = false;
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                Some(Event::Written { start, at, len }) => {
                    received += len;
                    report(received);
                    heads.insert(start, at);
                    if !announce(pipe, &done, &heads, placed).await {
                        return Ok(PartsEnd::PipelineStopped);
                    }
                }
                Some(Event::Done(part)) => {
                    heads.remove(&part.start);
                    done.insert(part);
                    if !announce(pipe, &done, &heads, placed).await {
                        return Ok(PartsEnd::PipelineStopped);
                    }
                }
                Some(Event::Declined) => return Ok(PartsEnd::Declined),
                Some(Event::Failed(error)) => return Err(error),
                None => break,
            },
            _ = &mut workers, if !finished => finished = true,
        }
    }
    if done.prefix() < size {
        return Err(CopyError::interrupted(format!(
            "{location}: the parts of blob {} ended at {} of {size} bytes",
            input.id(),
            done.prefix()
        )));
    }
    Ok(PartsEnd::Complete)
}

/// Tells the pipeline how far the bytes are written from byte zero, if that grew: the parts
/// complete, and then as much of the part being fetched at their end as is written (so
/// hashing starts with the first bytes, not after the first part; what is written but not
/// yet recorded only counts for this process, a rerun trusts `parts.json`). `false` when the
/// pipeline has stopped.
async fn announce(
    pipe: &Pipeline,
    done: &Spans,
    heads: &HashMap<u64, u64>,
    placed: &mut u64,
) -> bool {
    let complete = done.prefix();
    let prefix = heads
        .get(&complete)
        .map_or(complete, |&at| at.max(complete));
    if prefix <= *placed {
        return true;
    }
    *placed = prefix;
    pipe.send(Feed::Placed(prefix)).await.is_ok()
}

impl Fetch<'_> {
    /// One connection's worker: parts from the queue until it is empty or something failed.
    async fn work(&self, tx: mpsc::Sender<Event>) {
        loop {
            let next = self
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front();
            let Some(part) = next else { return };
            let event = match self.part(part.clone(), &tx).await {
                Ok(true) => Event::Done(part),
                Ok(false) => Event::Declined,
                Err(error) => Event::Failed(error),
            };
            let go_on = matches!(event, Event::Done(_));
            if tx.send(event).await.is_err() || !go_on {
                return;
            }
        }
    }

    /// Fetches `part` whole, retrying what it still lacks; `false` when it was declined.
    async fn part(&self, part: Range<u64>, tx: &mpsc::Sender<Event>) -> Result<bool, CopyError> {
        let mut at = part.start;
        let mut failed = 0;
        loop {
            let error = match self.read(part.start, &mut at, part.end, tx).await {
                Ok(true) => break,
                Ok(false) => return Ok(false),
                Err(error) => error,
            };
            failed += 1;
            let Some(wait) = PART_RETRY.next_wait(failed, &error) else {
                return Err(error);
            };
            tracing::warn!(%error, blob = %self.input.id(), at, end = part.end, ?wait, "a part failed, retrying it");
            tokio::time::sleep(wait).await;
        }
        let parts = self.parts.clone();
        let recorded = part.clone();
        blocking("the copy", move || parts.complete(recorded))
            .await?
            .map_err(|e| self.store_error(e))?;
        Ok(true)
    }

    /// One request for the bytes `*at..end` of the part starting at `start`, written as they come; `*at` follows what was
    /// written. `false` when the source declined the range.
    async fn read(
        &self,
        start: u64,
        at: &mut u64,
        end: u64,
        tx: &mpsc::Sender<Event>,
    ) -> Result<bool, CopyError> {
        let Some(mut stream) = self.input.open_part(*at..end).await? else {
            return Ok(false);
        };
        let mut batch = Batch::default();
        while let Some(item) = stream.next().await {
            let chunk = match item {
                Ok(chunk) => chunk,
                Err(error) => {
                    // What arrived is kept: the retry asks for the rest.
                    self.write(start, at, &mut batch, tx).await?;
                    return Err(error);
                }
            };
            if *at + (batch.len + chunk.len()) as u64 > end {
                tracing::info!(blob = %self.input.id(), "a part's answer is longer than the part; fetching as one stream");
                return Ok(false);
            }
            batch.len += chunk.len();
            batch.chunks.push(chunk);
            if batch.len >= WRITE_BATCH {
                self.write(start, at, &mut batch, tx).await?;
            }
        }
        self.write(start, at, &mut batch, tx).await?;
        if *at < end {
            return Err(CopyError::interrupted(format!(
                "{}: a part of blob {} ended {} bytes short",
                self.location,
                self.input.id(),
                end - *at
            )));
        }
        Ok(true)
    }

    /// Writes `batch` at `*at` (in the part starting at `start`) on a blocking thread, then
    /// advances `*at` and reports it.
    async fn write(
        &self,
        start: u64,
        at: &mut u64,
        batch: &mut Batch,
        tx: &mpsc::Sender<Event>,
    ) -> Result<(), CopyError> {
        if batch.len == 0 {
            return Ok(());
        }
        let (parts, offset, chunks) = (self.parts.clone(), *at, std::mem::take(&mut batch.chunks));
        let (mut chunks, written) = blocking("the copy", move || {
            let written = parts.write_at(offset, &chunks);
            (chunks, written)
        })
        .await?;
        written.map_err(|e| self.store_error(e))?;
        let len = std::mem::take(&mut batch.len) as u64;
        *at += len;
        chunks.clear();
        batch.chunks = chunks;
        // The fetch may have stopped listening (it ended): nothing to report then.
        let _ = tx
            .send(Event::Written {
                start,
                at: *at,
                len,
            })
            .await;
        Ok(())
    }

    fn store_error(&self, e: StoreError) -> CopyError {
        CopyError::store(self.location, format!("write blob {}", self.input.id()), e)
    }
}

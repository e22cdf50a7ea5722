//! The compressed stream as the pipeline's decoder sees it: [`Tee`], which stores each fed
//! chunk into the ingest before handing it on, replays a resumed prefix from the ingest's
//! file, and takes the bytes a fetch in parts placed in the file ([`Feed::Placed`]) into the
//! ingest's hash in order, as the complete prefix grows. Either way the ingest's hash covers
//! exactly the bytes the decoder reads, in order, once.

use std::io::{self, Read};

use bytes::{Buf, Bytes};

use super::pipeline::{Feed, FeedRx};
use crate::compress::budget::MemoryPermit;
use crate::compress::window::{frame_window, FRAME_HEADER_MAX, WINDOWS};
use crate::store::{Ingest, StoreError};

/// Buffer for placed bytes nothing decodes (they are only hashed).
const PLACED_BUFFER: usize = 256 * 1024;

/// Why the tee stopped before the end of the blob.
pub(super) enum Stop {
    Abandoned,
    Store(StoreError),
}

/// The compressed stream as the decoder sees it: first the resumed prefix from disk, then the
/// feed, each fed chunk written into the ingest before the decoder gets it.
pub(super) struct Tee<'a> {
    prefix: Option<io::Take<std::fs::File>>,
    feed: &'a mut FeedRx,
    pending: Bytes,
    ingest: &'a mut Ingest,
    /// The end of the complete prefix a fetch in parts placed in the file (`Feed::Placed`).
    placed: u64,
    /// `Feed::End` was received: every later read is end-of-stream.
    ended: bool,
    /// Set when reading stopped for a reason other than the end of the blob; reads then fail.
    pub(super) stop: Option<Stop>,
}

impl<'a> Tee<'a> {
    /// The stream of `ingest`: `prefix` (what a killed process left) first, then the feed.
    pub(super) fn new(
        prefix: Option<io::Take<std::fs::File>>,
        feed: &'a mut FeedRx,
        ingest: &'a mut Ingest,
    ) -> Tee<'a> {
        Tee {
            prefix,
            feed,
            pending: Bytes::new(),
            ingest,
            placed: 0,
            ended: false,
            stop: None,
        }
    }

    /// Takes every placed byte not yet in the hash into it, without handing it on.
    fn hash_placed(&mut self) {
        let mut buf = Vec::new();
        while self.stop.is_none() && self.ingest.offset() < self.placed {
            if buf.is_empty() {
                buf = vec![0u8; PLACED_BUFFER];
            }
            if let Err(e) = self.ingest.read_placed(&mut buf, self.placed) {
                self.stopped(Stop::Store(e));
            }
        }
    }
}

impl Tee<'_> {
    fn stopped(&mut self, stop: Stop) -> io::Error {
        let message = match &stop {
            Stop::Abandoned => "download given up",
            Stop::Store(_) => "cannot write to the store",
        };
        self.stop = Some(stop);
        io::Error::other(message)
    }
}

impl Tee<'_> {
    /// Stores the rest of the feed without reading it (nothing decodes it): the resumed
    /// prefix is already in the ingest, so it is skipped.
    pub(super) fn drain(&mut self) {
        self.prefix = None;
        self.pending = Bytes::new();
        while self.stop.is_none() && !self.ended {
            match self.feed.recv() {
                Some(Feed::Chunk(chunk)) => {
                    if let Err(e) = self.ingest.write_chunk(&chunk) {
                        self.stopped(Stop::Store(e));
                    }
                }
                Some(Feed::Placed(upto)) => {
                    self.placed = upto;
                    self.hash_placed();
                }
                Some(Feed::End) => self.ended = true,
                None => {
                    self.stopped(Stop::Abandoned);
                }
            }
        }
    }
}

impl Tee<'_> {
    /// Reads the zstd frame header and takes its window's share of the process's
    /// [`WINDOWS`] budget. While the budget cannot hold it, the feed is stored without being
    /// decoded, so the download goes on; then the stream is rewound to byte zero, read back
    /// from the ingest, for the decoder. `None` once the stream stopped (given up, store
    /// failure): nothing will be decoded, so nothing waits for the budget, and the stop is
    /// left for the decoder's first read to report.
    pub(super) fn window_permit(&mut self) -> Option<MemoryPermit<'static>> {
        let mut header = [0u8; FRAME_HEADER_MAX];
        let mut len = 0;
        while len < header.len() {
            match self.read(&mut header[len..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => len += n,
            }
        }
        let window = frame_window(&header[..len]);
        let permit = loop {
            if let Some(permit) = WINDOWS.try_take(window) {
                break permit;
            }
            if self.stop.is_none() && !self.ended && self.store_next() {
                continue;
            }
            if self.stop.is_some() {
                return None;
            }
            // Every byte is stored: waiting stalls nothing.
            break WINDOWS.take(window);
        };
        self.rewind();
        Some(permit)
    }

    /// Stores the next fed chunk without handing it on; `false` at the end of the feed or
    /// when it stopped.
    fn store_next(&mut self) -> bool {
        match self.feed.recv() {
            Some(Feed::Chunk(chunk)) => match self.ingest.write_chunk(&chunk) {
                Ok(()) => true,
                Err(e) => {
                    self.stopped(Stop::Store(e));
                    false
                }
            },
            Some(Feed::Placed(upto)) => {
                self.placed = upto;
                self.hash_placed();
                self.stop.is_none()
            }
            Some(Feed::End) => {
                self.ended = true;
                false
            }
            None => {
                self.stopped(Stop::Abandoned);
                false
            }
        }
    }

    /// Starts the stream again from byte zero: everything taken from the feed so far is in
    /// the ingest, so it is read back from there.
    fn rewind(&mut self) {
        if self.stop.is_some() {
            return;
        }
        self.pending = Bytes::new();
        match self.ingest.read_written() {
            Ok(written) => self.prefix = Some(written),
            Err(e) => {
                self.stopped(Stop::Store(e));
            }
        }
    }
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.is_some() {
            return Err(io::Error::other("stream stopped"));
        }
        if let Some(prefix) = &mut self.prefix {
            match prefix.read(buf) {
                Ok(0) => self.prefix = None,
                Ok(n) => return Ok(n),
                Err(e) => {
                    let what = format!("the partial download of {}", self.ingest.digest());
                    return Err(self.stopped(Stop::Store(StoreError::io("read back", what, e))));
                }
            }
        }
        if self.ended {
            return Ok(0);
        }
        while self.pending.is_empty() {
            if self.ingest.offset() < self.placed {
                let placed = self.placed;
                return match self.ingest.read_placed(buf, placed) {
                    Ok(n) => Ok(n),
                    Err(e) => Err(self.stopped(Stop::Store(e))),
                };
            }
            match self.feed.recv() {
                Some(Feed::Chunk(chunk)) => {
                    if let Err(e) = self.ingest.write_chunk(&chunk) {
                        return Err(self.stopped(Stop::Store(e)));
                    }
                    self.pending = chunk;
                }
                Some(Feed::Placed(upto)) => self.placed = upto,
                Some(Feed::End) => {
                    self.ended = true;
                    return Ok(0);
                }
                None => return Err(self.stopped(Stop::Abandoned)),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.advance(n);
        Ok(n)
    }
}

//! Decode-ahead: a decompressing reader run on its own thread, so that what the caller does
//! with the decompressed bytes (hash them, untar them) overlaps the decompression instead of
//! following it.
//!
//! A gzip layer inflates on one core (zlib-rs, about 650 MB/s of output here); the diffID's
//! sha256 and the untar are about as much work again. Where one thread did all three — the
//! layer store unpacking a stored blob, `export` of an image pulled with `--no-unpack`
//! (`crate::store::layers`' `unpack_checked`) — [`DecodeAhead`] moves the decoder to a thread
//! of its own. The pull pipeline does not need it: there the diffID hash and the untar have
//! their own threads already (`crate::transfer`'s `pipeline`). Measured on big2g's layer
//! (bench/RESULTS.md, "Parallel inflate of one gzip stream"): inflate + sha256 1.25× faster
//! on two cores, the same CPU time. Speculative parallel inflate of one stream (rapidgzip's
//! method) did not pay on two cores; the same section has its numbers and its design.
//!
//! The decoder thread fills [`CHUNK`]-byte buffers (a handoff per buffer, not per inflate
//! call: handing over each call's ~150 KiB cost more than the overlap won) and sends them
//! over a bounded channel; the reader gives the buffers back to be refilled. At most
//! [`BUFFERS`] exist, so memory stays under `BUFFERS × CHUNK` whatever the layer's size.
//! When a decode ends, its buffers are kept for the next one ([`SPARE`] at most, process-wide,
//! so 8 MiB stay allocated after the last): a 50-layer export otherwise allocated, zeroed and
//! faulted in fresh megabytes per layer (split50's `export docker://` 634 → 561 ms).
//!
//! The bytes, their order and the errors are the decoder's own: a decoding error arrives
//! after the bytes decoded before it, as the same [`io::Error`] (kind and message), and is
//! returned again by every later read. A decoder that panics ends its thread, and the reader
//! returns an error for it rather than an early end of stream. Dropping the reader stops the
//! thread at its next handoff.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SendError, SyncSender, TrySendError};
use std::sync::Mutex;
use std::thread::JoinHandle;

/// Bytes per handoff from the decoder thread.
pub(crate) const CHUNK: usize = 1 << 20;

/// Buffers in flight between the decoder thread and the reader.
pub(crate) const BUFFERS: usize = 4;

/// Buffers kept across decodes, for the next decoder thread (two decodes' worth: an export
/// decodes the next layer while one is applied).
pub(crate) const SPARE: usize = 2 * BUFFERS;

/// The buffers finished decodes gave back (at most [`SPARE`]).
static SPARES: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// A kept buffer if there is one, else a new one.
fn take_spare() -> Vec<u8> {
    let kept = SPARES.lock().ok().and_then(|mut spares| spares.pop());
    kept.unwrap_or_else(|| vec![0; CHUNK])
}

/// Keeps `buffer` for a later decode, unless [`SPARE`] are kept already.
fn give_back(buffer: Vec<u8>) {
    if buffer.len() != CHUNK {
        return;
    }
    if let Ok(mut spares) = SPARES.lock() {
        if spares.len() < SPARE {
            spares.push(buffer);
        }
    }
}

/// What the decoder thread sends.
enum Message {
    /// A buffer and how many of its bytes are data.
    Data(Vec<u8>, usize),
    /// The decoder's end of stream.
    End,
    /// The decoder's error; nothing follows it.
    Failed(io::Error),
}

/// A reader of what `decoder` yields, decoded on a thread of its own (see the module docs).
pub(crate) struct DecodeAhead {
    full: Receiver<Message>,
    empty: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    len: usize,
    pos: usize,
    /// Set once the stream ended or failed: what every later read returns.
    ended: Option<Ended>,
    thread: Option<JoinHandle<()>>,
}

enum Ended {
    Complete,
    Failed(io::ErrorKind, String),
}

impl DecodeAhead {
    /// Starts the thread decoding `decoder`.
    pub(crate) fn spawn<R: Read + Send + 'static>(decoder: R) -> io::Result<DecodeAhead> {
        let (full_tx, full) = sync_channel(BUFFERS);
        let (empty, empty_rx) = sync_channel(BUFFERS);
        let thread = std::thread::Builder::new()
            .name("hoist-decode".into())
            .spawn(move || decode(decoder, &full_tx, &empty_rx))?;
        Ok(DecodeAhead {
            full,
            empty,
            current: Vec::new(),
            len: 0,
            pos: 0,
            ended: None,
            thread: Some(thread),
        })
    }

    /// Takes the next message, settling `ended` on the last one.
    fn next_chunk(&mut self) {
        let message = self.full.recv().unwrap_or_else(|_| {
            // The thread is gone without saying why: it panicked.
            let panicked = self.thread.take().map(JoinHandle::join);
            Message::Failed(io::Error::other(match panicked {
                Some(Err(_)) => "the decompressing thread panicked",
                _ => "the decompressing thread stopped before the end of the stream",
            }))
        });
        match message {
            Message::Data(buffer, len) => {
                let used = std::mem::replace(&mut self.current, buffer);
                if used.capacity() > 0 {
                    // Fails only when the thread has ended: the buffer is kept for later.
                    if let Err(TrySendError::Full(used) | TrySendError::Disconnected(used)) =
                        self.empty.try_send(used)
                    {
                        give_back(used);
                    }
                }
                self.len = len;
                self.pos = 0;
            }
            Message::End => self.ended = Some(Ended::Complete),
            Message::Failed(e) => self.ended = Some(Ended::Failed(e.kind(), e.to_string())),
        }
    }
}

impl Drop for DecodeAhead {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.current));
        // Buffers sent and not read; the thread itself gives back the ones it holds.
        while let Ok(message) = self.full.try_recv() {
            if let Message::Data(buffer, _) = message {
                give_back(buffer);
            }
        }
    }
}

impl Read for DecodeAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.pos == self.len {
            match &self.ended {
                Some(Ended::Complete) => return Ok(0),
                Some(Ended::Failed(kind, message)) => {
                    return Err(io::Error::new(*kind, message.clone()))
                }
                None => self.next_chunk(),
            }
        }
        let n = buf.len().min(self.len - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The decoder thread: fills buffers from `decoder` and sends them until its end, its first
/// error, or the reader's going away; then keeps the buffers given back for a later decode.
fn decode<R: Read>(decoder: R, full: &SyncSender<Message>, empty: &Receiver<Vec<u8>>) {
    if let Some(buffer) = send_decoded(decoder, full, empty) {
        give_back(buffer);
    }
    while let Ok(buffer) = empty.try_recv() {
        give_back(buffer);
    }
}

/// [`decode`]'s loop: the buffer it held when it stopped, if any.
fn send_decoded<R: Read>(
    mut decoder: R,
    full: &SyncSender<Message>,
    empty: &Receiver<Vec<u8>>,
) -> Option<Vec<u8>> {
    let mut allocated = 0;
    loop {
        let mut buffer = match empty.try_recv() {
            Ok(buffer) => buffer,
            Err(_) if allocated < BUFFERS => {
                allocated += 1;
                take_spare()
            }
            Err(_) => empty.recv().ok()?,
        };
        let (len, outcome) = fill(&mut decoder, &mut buffer);
        let unsent = if len > 0 {
            match full.send(Message::Data(buffer, len)) {
                Ok(()) => None,
                Err(SendError(Message::Data(buffer, _))) => return Some(buffer),
                Err(_) => return None,
            }
        } else {
            Some(buffer)
        };
        let last = match outcome {
            Ok(false) => continue,
            Ok(true) => Message::End,
            Err(e) => Message::Failed(e),
        };
        // The reader may be gone; either way this thread is done.
        let _ = full.send(last);
        return unsent;
    }
}

/// Reads from `decoder` until `buffer` is full, the stream ends (`Ok(true)`) or it fails:
/// how many bytes were read, and whether the stream ended.
fn fill<R: Read>(decoder: &mut R, buffer: &mut [u8]) -> (usize, io::Result<bool>) {
    let mut len = 0;
    while len < buffer.len() {
        match decoder.read(&mut buffer[len..]) {
            Ok(0) => return (len, Ok(true)),
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (len, Err(e)),
        }
    }
    (len, Ok(false))
}

#[cfg(test)]
mod tests;

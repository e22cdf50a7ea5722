//! [`Chunks`]: the buffers a pipeline decodes into. Each decoded chunk goes, shared and never
//! copied ([`Bytes`]), to the diffID's hasher and to the layer sink; once both have dropped
//! it, its buffer is taken back for a later chunk — so, after the first few, no buffer is
//! allocated or zeroed either.
//!
//! Measured on `hoist pull` of big2g, zstd (one 2 GiB layer, tmpfs, 2 cores): the two copies
//! this replaced (one into the hasher's channel, one into the sink's) and the zeroing of fresh
//! buffers were 15 % and then 6 % of the pull's samples.

use std::collections::VecDeque;
use std::io::{self, Read};

use bytes::{Bytes, BytesMut};

/// At most this many sent chunks are watched for their return; the channels behind the
/// hasher and the sink hold fewer, so in a steady pass every buffer comes back.
const WATCHED: usize = 32;

/// Buffers of one size, filled from a reader and recycled once their chunk is consumed.
pub(super) struct Chunks {
    size: usize,
    /// Full chunks handed out, oldest first: consumers take them in order, so the oldest is
    /// the first to come back.
    sent: VecDeque<Bytes>,
}

impl Chunks {
    /// Buffers of `size` bytes.
    pub(super) fn new(size: usize) -> Chunks {
        Chunks {
            size,
            sent: VecDeque::new(),
        }
    }

    /// The next chunk of `reader`: a full buffer, or less at the reader's end (empty once it
    /// has ended). An error loses the bytes read into the buffer before it.
    pub(super) fn fill(&mut self, reader: &mut impl Read) -> io::Result<Bytes> {
        let mut buf = self.take();
        let mut filled = 0;
        while filled < buf.len() {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(filled);
        let chunk = buf.freeze();
        if chunk.len() == self.size {
            if self.sent.len() == WATCHED {
                self.sent.pop_front();
            }
            self.sent.push_back(chunk.clone());
        }
        Ok(chunk)
    }

    /// The oldest sent buffer if nothing else holds it any more, or a new one.
    fn take(&mut self) -> BytesMut {
        if self.sent.front().is_some_and(Bytes::is_unique) {
            if let Some(Ok(buf)) = self.sent.pop_front().map(Bytes::try_into_mut) {
                if buf.len() == self.size {
                    return buf;
                }
            }
        }
        BytesMut::zeroed(self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that gives at most `step` bytes a read, as a decoder does.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.step).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn chunks_are_full_buffers_then_the_rest_then_empty() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
        let mut reader = Trickle {
            data: &data,
            step: 700,
        };
        let mut chunks = Chunks::new(4096);
        let mut out = Vec::new();
        let mut sizes = Vec::new();
        loop {
            let chunk = chunks.fill(&mut reader).unwrap();
            if chunk.is_empty() {
                break;
            }
            sizes.push(chunk.len());
            out.extend_from_slice(&chunk);
        }
        assert_eq!(sizes, [4096, 4096, 1808]);
        assert_eq!(out, data);
    }

    #[test]
    fn a_consumed_buffer_is_reused_and_a_held_one_is_not() {
        let data: Vec<u8> = (0..3 * 1024u32).map(|i| (i / 1024) as u8).collect();
        let mut reader = Trickle {
            data: &data,
            step: usize::MAX,
        };
        let mut chunks = Chunks::new(1024);
        let first = chunks.fill(&mut reader).unwrap();
        let at = first.as_ptr();
        drop(first);
        let second = chunks.fill(&mut reader).unwrap();
        assert_eq!(second.as_ptr(), at);
        assert_eq!(&second[..], &data[1024..2048]);
        let third = chunks.fill(&mut reader).unwrap();
        assert_ne!(third.as_ptr(), second.as_ptr());
        assert_eq!(&third[..], &data[2048..]);
    }
}

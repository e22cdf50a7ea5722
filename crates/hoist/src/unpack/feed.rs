//! `ChannelReader`: the blocking end of the pull pipeline, as a [`std::io::Read`].
//!
//! The download task (async) sends decompressed chunks through a bounded
//! `tokio::sync::mpsc` channel; the unpacker runs on a blocking thread and reads them through
//! this adapter. An `Err` chunk (a network or digest failure upstream) surfaces as a read
//! error, which fails the unpack; a closed channel is the end of the stream.
//!
//! ```no_run
//! # async fn f(target: std::path::PathBuf) {
//! use hoist::unpack::{unpack_layer, ChannelReader, UnpackOptions};
//! let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(8);
//! let unpack = tokio::task::spawn_blocking(move || {
//!     unpack_layer(ChannelReader::new(rx), &target, &UnpackOptions::diff())
//! });
//! // ... the download loop: tx.send(Ok(decompressed_chunk)).await ...
//! drop(tx);
//! let report = unpack.await;
//! # }
//! ```

use std::io::{self, Read};

use bytes::{Buf, Bytes};
use tokio::sync::mpsc::Receiver;

/// Reads the chunks of a channel in order.
#[derive(Debug)]
pub struct ChannelReader {
    rx: Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl ChannelReader {
    /// Wraps the receiving end. Use it only from a blocking thread (`spawn_blocking`):
    /// reading blocks on `Receiver::blocking_recv`, which tokio forbids (panics) inside an
    /// async task.
    pub fn new(rx: Receiver<io::Result<Bytes>>) -> Self {
        Self {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_read_in_order_then_eof() {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let writer = std::thread::spawn(move || {
            for chunk in [&b"hello "[..], b"", b"world"] {
                tx.blocking_send(Ok(Bytes::from_static(chunk))).unwrap();
            }
        });
        let mut out = String::new();
        ChannelReader::new(rx).read_to_string(&mut out).unwrap();
        writer.join().unwrap();
        assert_eq!(out, "hello world");
    }

    #[test]
    fn an_error_chunk_is_a_read_error() {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tx.try_send(Ok(Bytes::from_static(b"ab"))).unwrap();
        tx.try_send(Err(io::Error::other("digest mismatch")))
            .unwrap();
        let mut r = ChannelReader::new(rx);
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.to_string(), "digest mismatch");
        assert_eq!(out, b"ab");
    }
}

//! Compression of layer blobs, in one place: the [`Compression`] enum, the [`Encoder`]s
//! (parallel, byte-for-byte reproducible), the decoders (`decode`), decoding ahead on a thread
//! of its own for a blob read from disk (`ahead`) and [`sniff`]ing a blob's format from its
//! magic bytes. Plain synchronous `Read`/`Write` adapters: the copy engine's
//! compression step (`crate::copy`'s `compress_step`, a stream step on the source side) and
//! the store's layer pipeline (`crate::transfer`'s `pipeline`) run them on blocking threads.
//! This module depends on neither.
//!
//! Encoders — used when a copy or a push compresses a layer on the way (skopeo's
//! `--dest-compress`; docker's `compression.CompressStream` in `v2PushDescriptor` for a layer
//! loaded uncompressed):
//! - **gzip** ([`ParallelGzip`], `gzip`): independent 512 KiB blocks deflated by libdeflate
//!   on all cores, each one gzip member, with an output that depends only on the input and the
//!   level, never on the core count — so the layer's digest is the same on every machine (see
//!   that module's docs for the format, the block size and the level). One [`GzipPool`] of
//!   threads serves every encoder of the process (`pool`).
//! - **zstd** ([`Encoder::Zstd`]): libzstd's streaming multithreaded mode (`nbWorkers ≥ 1`).
//!   Its output is the same for any number of workers ≥ 1 (zstd's documented guarantee for
//!   streaming compression, facebook/zstd#2238, the fix of #2327; checked by this module's
//!   tests) but differs from single-threaded mode (`nbWorkers = 0`), which hoist therefore
//!   never uses. Level 3 (zstd's default).
//!
//! [`Encoder`] is the one [`Write`] for either; [`Encoder::finish`] ends the stream. Because
//! the output is a function of the input alone, a compressed stream can be produced again and
//! resumed at any offset (what the compression step does after a failed upload).
//! Memory is bounded whatever the input size: gzip keeps at most [`BLOCKS_IN_FLIGHT`] blocks of
//! 512 KiB in flight in the whole process, however many layers compress at once (`pool`);
//! zstd its own job buffers (a few MiB per worker at level 3, per encoder).
//!
//! Decoders read what these encoders write and what any other tool writes: gzip of any number
//! of members, zstd of any number of frames (`decode`). `budget` holds the one kind of memory
//! budget shared by threads (zstd windows while decoding, gzip blocks while encoding).

mod ahead;
pub(crate) mod budget;
mod decode;
mod gzip;
mod pool;
pub(crate) mod window;

#[cfg(test)]
mod tests;

use std::io::{self, Write};

pub(crate) use ahead::DecodeAhead;
pub use decode::Compression;
pub(crate) use decode::Decoder;
pub use gzip::{default_workers, GzipOptions, ParallelGzip, BLOCK_SIZE, DEFAULT_LEVEL};
pub use pool::{GzipPool, BLOCKS_IN_FLIGHT};

/// zstd's default level, the one push uses.
pub const ZSTD_LEVEL: i32 = 3;

/// A compressing writer of one [`Compression`] (see the module docs).
pub enum Encoder<W: Write> {
    /// No compression: bytes pass through.
    Plain(W),
    /// Parallel gzip.
    Gzip(ParallelGzip<W>),
    /// Multithreaded zstd.
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    /// An encoder of `compression` into `inner` using `workers` threads (at least 1; the
    /// output does not depend on it): for gzip, the process's shared pool of that many
    /// ([`GzipPool::shared`]).
    pub fn new(compression: Compression, inner: W, workers: usize) -> io::Result<Encoder<W>> {
        let workers = workers.max(1);
        Ok(match compression {
            Compression::None => Encoder::Plain(inner),
            Compression::Gzip => Encoder::Gzip(ParallelGzip::new(
                inner,
                GzipOptions {
                    level: DEFAULT_LEVEL,
                    workers,
                },
            )),
            Compression::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(inner, ZSTD_LEVEL)?;
                encoder.multithread(u32::try_from(workers).unwrap_or(u32::MAX))?;
                Encoder::Zstd(encoder)
            }
        })
    }

    /// Ends the stream (trailer, last frame) and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Plain(mut inner) => {
                inner.flush()?;
                Ok(inner)
            }
            Encoder::Gzip(gzip) => gzip.finish(),
            Encoder::Zstd(zstd) => {
                let mut inner = zstd.finish()?;
                inner.flush()?;
                Ok(inner)
            }
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Plain(w) => w.write(buf),
            Encoder::Gzip(w) => w.write(buf),
            Encoder::Zstd(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Plain(w) => w.flush(),
            Encoder::Gzip(w) => w.flush(),
            // zstd's flush ends a block early, which would make the output depend on when the
            // caller flushes; only the inner writer is flushed.
            Encoder::Zstd(w) => w.get_mut().flush(),
        }
    }
}

/// The compression a blob starts with, from its magic bytes (gzip `1f 8b`, zstd frame
/// `28 b5 2f fd`), [`Compression::None`] otherwise.
pub fn sniff(prefix: &[u8]) -> Compression {
    if prefix.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

//! Compression of layer tars for push: parallel, and byte-for-byte reproducible.
//!
//! A layer loaded from a docker-archive is stored uncompressed; push compresses it while
//! uploading (issue 5, docker's `compression.CompressStream` in `v2PushDescriptor` for layers
//! with no compressed blob). Two formats:
//! - **gzip** ([`ParallelGzip`], `gzip`): pigz's block technique on all cores, with an output
//!   that depends only on the input and the level, never on the core count — so the layer's
//!   digest is the same on every machine (see that module's docs for the format and the block
//!   size).
//! - **zstd** ([`Encoder::Zstd`]): libzstd's streaming multithreaded mode (`nbWorkers ≥ 1`).
//!   Its output is the same for any number of workers ≥ 1 (zstd's documented guarantee for
//!   streaming compression, facebook/zstd#2238, the fix of #2327; checked by this module's
//!   tests) but differs from single-threaded mode (`nbWorkers = 0`), which hoist therefore
//!   never uses. Level 3 (zstd's default).
//!
//! [`Encoder`] is the one [`Write`] push uses for either; [`Encoder::finish`] ends the stream.
//! Memory is bounded whatever the input size: gzip keeps at most `2 × workers` blocks of
//! 128 KiB in flight, zstd its own job buffers (a few MiB per worker at level 3).

mod gzip;

#[cfg(test)]
mod tests;

use std::io::{self, Write};

pub use gzip::{
    default_workers, GzipOptions, ParallelGzip, BLOCK_SIZE, DEFAULT_LEVEL, DICTIONARY_SIZE,
};

use crate::transfer::Compression;

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
    /// output does not depend on it).
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

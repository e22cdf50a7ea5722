//! Parallel gzip whose output does not depend on the number of threads: independent blocks
//! deflated by libdeflate, each its own gzip member.
//!
//! # Format
//! The input is cut into blocks of exactly [`BLOCK_SIZE`] bytes (the last one shorter; an
//! empty input is one empty block). Each block is deflated on its own by libdeflate at
//! [`GzipOptions::level`] and written as one whole gzip member — header, deflate stream ending
//! in a final block, CRC-32 and ISIZE of that block — and the members are concatenated in
//! input order. RFC 1952 §2.2: "A gzip file consists of a series of members"; `gzip -d`,
//! `pigz -d`, Go's `gzip.Reader` (multistream by default: containerd, docker, skopeo, crane),
//! klauspost's pgzip (umoci) and hoist's own decoder (flate2's `MultiGzDecoder`, see `decode`)
//! read them as one stream.
//!
//! Why members rather than one member of sync-flushed blocks primed with the 32 KiB before
//! them (pigz's technique, hoist's format before issue 13): libdeflate, which deflates about
//! 1.5× faster than zlib-rs for a smaller output, has no preset dictionary and always ends its
//! stream with a final block, so a block cannot continue the stream of the one before it.
//! Larger blocks win back what the dictionary gave: on debian's layer tar (128 MB, see
//! bench/RESULTS.md, "libdeflate for the compressing push"), 512 KiB blocks at level 5 make
//! 38.04 % of the input where zlib-rs's 128 KiB dictionary-primed blocks at level 6 made
//! 39.05 % for 1.7× the CPU, and skopeo's pgzip 40.0 %.
//!
//! Why [`DEFAULT_LEVEL`] = 3: the fastest level whose output stays at docker's ratio and under
//! skopeo's on the layers measured (512 KiB blocks; MB; skopeo 1.22 is `copy --dest-compress`,
//! docker's is zlib level 6, `gzip -6` one stream):
//!
//! | layer tar | level 1 | 2 | 3 | 4 | 5 | zlib 6 | `gzip -6` | skopeo 1.22 |
//! |---|---:|---:|---:|---:|---:|---:|---:|---:|
//! | debian (128 MB) | 52.30 | 50.14 | 49.79 | 49.59 | 48.82 | 50.11 | — | 51.40 |
//! | 200 MB of /usr | 73.74 | 70.06 | 69.43 | 69.04 | 67.54 | 69.84 ¹ | 68.02 | 72.34 |
//!
//! ¹ zlib-rs, 128 KiB blocks primed with the 32 KiB before them (pigz's way).
//! Level 1 is bigger than skopeo's output on both; level 2 is docker's size on debian but 0.9 %
//! over level 3 on /usr; level 3 costs 17 % less CPU than level 5 (debian, user time for three
//! passes: 2.63 s against 3.18 s), level 2 26 %.
//!
//! Against docker's own compressor (Go's `compress/gzip`, level 6, one stream), measured later:
//! level 3 is 2.4 % smaller on debian and 2.8 % on the bench's 2 GB layer, but 2.6 % bigger on
//! files100k (100 000 files of base64 of random bytes, almost no matches to find), where even
//! level 6 stays above Go's output and only level 9 gets under it (bench/RESULTS.md, "Export
//! and command start-up"): no level that competes on speed fixes that shape of input.
//!
//! Why [`BLOCK_SIZE`] = 512 KiB: above 256 KiB the ratio barely moves (debian at level 5:
//! 256 KiB 38.16 %, 512 KiB 38.04 %, 1 MiB 37.97 %; same CPU), while memory grows with it:
//! the blocks in flight are bounded for the whole process (`pool`), so bigger blocks means
//! fewer in flight for the same memory. It must never change: it is part of the digest.
//!
//! A block that looks incompressible — its bytes' Shannon entropy above
//! [`INCOMPRESSIBLE_BITS`] bits per byte, as random, encrypted or already-compressed data
//! (a `.gz`, a JPEG, a JAR inside the layer) — is deflated at level 0 (stored blocks) instead:
//! deflate would spend most of its time looking for matches that are not there and save well
//! under 1 % (klauspost/compress skips such input the same way).
//!
//! Every member is a function of its block's bytes and the level alone — never of how many
//! workers compressed it, in which order they finished, or how the caller cut its writes — so
//! the whole output is a function of the input and [`GzipOptions::level`]. That is what makes
//! the digest of a layer hoist compresses reproducible on any machine (issue 5: "a digest that
//! does not depend on the core count"): recompressing a layer after a garbage collection yields
//! the blob the registry already has. It also depends on libdeflate's version (pinned in
//! Cargo.lock), as any compressor's output does on its version.
//!
//! Member header: no name, no mtime (0), `XFL` 0, `OS` 255 ("unknown"), as Go's
//! `compress/gzip` writes it, so nothing about the machine leaks into the digest.
//!
//! # Threads and memory
//! The blocks are deflated by a [`GzipPool`] shared by every encoder of the process asking for
//! the same number of workers (default: [`std::thread::available_parallelism`]); the blocks in
//! flight are bounded for the whole process (see `pool`). The writer thread (the caller) only
//! copies input, hands blocks out and writes finished members in order, at most `2 × workers`
//! of its own in flight; dropping the writer drops its blocks.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::Receiver;

use super::pool::{Compressors, GzipPool, Member, BLOCKS};

/// Input bytes per block. Part of the output format: changing it changes every digest.
pub const BLOCK_SIZE: usize = 512 << 10;
/// The default libdeflate level (see the module docs).
pub const DEFAULT_LEVEL: u32 = 3;
/// Entropy (bits per byte, of the byte histogram) above which a block is stored rather than
/// deflated. Part of the output format, like [`BLOCK_SIZE`].
pub const INCOMPRESSIBLE_BITS: f64 = 7.95;

/// gzip member header: magic, deflate, no flags, mtime 0, XFL 0, OS 255.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// CRC-32 and ISIZE.
const TRAILER_LEN: usize = 8;

/// How to compress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GzipOptions {
    /// libdeflate level 0–12 (part of the output: the same level gives the same bytes).
    pub level: u32,
    /// Threads compressing blocks (at least 1; does not change the output).
    pub workers: usize,
}

impl Default for GzipOptions {
    fn default() -> GzipOptions {
        GzipOptions {
            level: DEFAULT_LEVEL,
            workers: default_workers(),
        }
    }
}

/// The number of threads the machine offers (1 if unknown).
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// A [`Write`] that gzips what it is given into `W`, in parallel. Call
/// [`ParallelGzip::finish`] to write the last member and get `W` back; a writer dropped
/// before that leaves `W` holding an incomplete stream.
pub struct ParallelGzip<W: Write> {
    inner: W,
    level: i32,
    block: Vec<u8>,
    /// Members handed out and not yet written, in input order.
    pending: VecDeque<Receiver<io::Result<Member>>>,
    max_pending: usize,
    pool: GzipPool,
    /// Whether a block was handed out (an empty input still makes one member).
    started: bool,
}

impl<W: Write> ParallelGzip<W> {
    /// A compressor writing into `inner` with `options`, on the process's shared pool of
    /// `options.workers` threads ([`GzipPool::shared`]).
    pub fn new(inner: W, options: GzipOptions) -> ParallelGzip<W> {
        ParallelGzip::with_pool(inner, options.level, GzipPool::shared(options.workers))
    }

    /// A compressor writing into `inner` at `level` on `pool`.
    pub fn with_pool(inner: W, level: u32, pool: GzipPool) -> ParallelGzip<W> {
        ParallelGzip {
            inner,
            level: i32::try_from(level.min(12)).unwrap_or(12),
            block: Vec::with_capacity(BLOCK_SIZE),
            pending: VecDeque::new(),
            max_pending: 2 * pool.workers(),
            pool,
            started: false,
        }
    }

    /// Compresses what is left, writes it, flushes and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.block.is_empty() || !self.started {
            self.submit()?;
        }
        while !self.pending.is_empty() {
            self.write_oldest()?;
        }
        self.inner.flush()?;
        let ParallelGzip { inner, .. } = self;
        Ok(inner)
    }

    /// Hands the current block to the pool once a share of the budget is taken (see `pool`),
    /// then writes the members that are ready.
    fn submit(&mut self) -> io::Result<()> {
        let permit = loop {
            self.write_ready()?;
            if self.pending.len() < self.max_pending {
                if let Some(permit) = BLOCKS.try_take(Some(BLOCK_SIZE as u64)) {
                    break permit;
                }
                if self.pending.is_empty() {
                    // Nothing of ours holds budget: wait for other encoders to give some back.
                    break BLOCKS.take(Some(BLOCK_SIZE as u64));
                }
            }
            self.write_oldest()?;
        };
        let input = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK_SIZE));
        self.pending
            .push_back(self.pool.deflate(self.level, input, permit));
        self.started = true;
        self.write_ready()
    }

    /// Writes the oldest members while they are ready.
    fn write_ready(&mut self) -> io::Result<()> {
        while let Some(oldest) = self.pending.front() {
            match oldest.try_recv() {
                Ok(member) => {
                    self.pending.pop_front();
                    self.inner.write_all(&member?.bytes)?;
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return Err(worker_lost()),
            }
        }
        Ok(())
    }

    /// Waits for the oldest member and writes it.
    fn write_oldest(&mut self) -> io::Result<()> {
        let Some(oldest) = self.pending.pop_front() else {
            return Ok(());
        };
        let member = oldest.recv().unwrap_or_else(|_| Err(worker_lost()))?;
        self.inner.write_all(&member.bytes)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = BLOCK_SIZE - self.block.len();
        let n = room.min(buf.len());
        self.block.extend_from_slice(&buf[..n]);
        if self.block.len() == BLOCK_SIZE {
            self.submit()?;
        }
        Ok(n)
    }

    /// Writes the members already compressed; a partial block stays until it is full (a flush
    /// must not change the output, or the digest would depend on the caller's buffering).
    fn flush(&mut self) -> io::Result<()> {
        self.write_ready()?;
        self.inner.flush()
    }
}

/// Whether the byte histogram of `input` has more than [`INCOMPRESSIBLE_BITS`] of entropy
/// per byte (see the module docs).
pub(super) fn looks_incompressible(input: &[u8]) -> bool {
    if input.len() < 4096 {
        return false;
    }
    // Four tables, one per byte of each 4-byte group, summed after: in a run of one byte
    // value (a tar's zero padding) one table would make every increment wait for the one
    // before (measured: 13 % of a compressing copy of files100k's layer). `u32`: the input
    // is one block.
    let mut tables = [[0u32; 256]; 4];
    let mut groups = input.chunks_exact(4);
    for group in &mut groups {
        for (table, &b) in tables.iter_mut().zip(group) {
            table[usize::from(b)] += 1;
        }
    }
    for &b in groups.remainder() {
        tables[0][usize::from(b)] += 1;
    }
    let total = input.len() as f64;
    let bits: f64 = (0..256)
        .map(|i| tables.iter().map(|table| u64::from(table[i])).sum::<u64>())
        .filter(|&c| c > 0)
        .map(|c| {
            let p = c as f64 / total;
            -p * p.log2()
        })
        .sum();
    bits > INCOMPRESSIBLE_BITS
}

fn worker_lost() -> io::Error {
    io::Error::other("a gzip worker thread stopped")
}

/// One block as one whole gzip member (see the module docs): header, the block deflated at
/// `level` (0 when it looks incompressible), CRC-32 and ISIZE.
pub(super) fn deflate_member(
    compressors: &mut Compressors,
    level: i32,
    input: &[u8],
) -> io::Result<Vec<u8>> {
    let level = match looks_incompressible(input) {
        true => 0,
        false => level,
    };
    let (compressor, scratch) = compressors.of(level);
    let bound = compressor.deflate_compress_bound(input.len());
    if scratch.len() < bound {
        scratch.resize(bound, 0);
    }
    let deflated = compressor
        .deflate_compress(input, scratch)
        .map_err(|e| io::Error::other(format!("deflate: {e}")))?;
    // Deflated into the worker's scratch and copied out at its size: a member in flight holds
    // only its own bytes.
    let mut member = Vec::with_capacity(HEADER.len() + deflated + TRAILER_LEN);
    member.extend_from_slice(&HEADER);
    member.extend_from_slice(&scratch[..deflated]);
    member.extend_from_slice(&libdeflater::crc32(input).to_le_bytes());
    // ISIZE is the length modulo 2^32 (RFC 1952 §2.3.1); a block is far shorter anyway.
    member.extend_from_slice(&(input.len() as u32).to_le_bytes());
    Ok(member)
}

//! Starting the write-back of an ingest's bytes while the blob is still arriving, so that the
//! `fsync` of its commit finds little left to write — and of any file written front to back
//! and fsynced at the end ([`WritebackFile`], for the archives `save` writes). Without it a
//! big blob sits in the page cache until the commit (the kernel starts background write-back
//! only past 10 % of memory dirty), and the commit then waits for all of it: 0.21–0.33 s at
//! the end of a 746 MB layer's pull on ext4, after everything else was done.
//!
//! The kernel's way to ask for write-back without waiting is `sync_file_range(WRITE)`, which
//! rustix does not offer; `posix_fadvise(DONTNEED)` on a range starts the same asynchronous
//! write-back of its dirty pages (Linux's `generic_fadvise`), and drops only the pages already
//! clean — those just written are dirty, so the cache keeps them. (The first range of a resumed
//! ingest also covers the prefix written before, on disk and clean: those pages may go — the
//! pull read that prefix before its first new write — and are read from the disk if ever
//! needed again.) Advice only: its errors are ignored, and on tmpfs it does nothing.

use std::io::{self, Write};
use std::num::NonZeroU64;
use std::os::fd::AsFd;

use rustix::fs::{fadvise, Advice};

/// Write-back is started every this many bytes written.
const STEP: u64 = 8 << 20;

/// Where the write-back of one sequentially written file stands.
#[derive(Debug, Default)]
pub(super) struct Writeback {
    /// Bytes before this offset were handed to write-back.
    started: u64,
}

impl Writeback {
    /// `file` now holds `offset` bytes: hands the ones since the last call to write-back once
    /// there are [`STEP`] of them. An offset below the last one (the file was truncated)
    /// starts over from there.
    pub(super) fn wrote(&mut self, file: impl AsFd, offset: u64) {
        if offset < self.started {
            self.started = offset;
        }
        let Some(len) = NonZeroU64::new(offset - self.started).filter(|n| n.get() >= STEP) else {
            return;
        };
        let _ = fadvise(file, self.started, Some(len), Advice::DontNeed);
        self.started = offset;
    }
}

/// A file written front to back (`File` or `&mut File`), its write-back following the
/// writes, so that the `fsync` that ends the write does not wait for all of it.
#[derive(Debug)]
pub struct WritebackFile<F> {
    file: F,
    written: u64,
    writeback: Writeback,
}

impl<F: Write + AsFd> WritebackFile<F> {
    /// Writing `file` from its start.
    pub fn new(file: F) -> Self {
        WritebackFile {
            file,
            written: 0,
            writeback: Writeback::default(),
        }
    }

    /// The file, to be fsynced.
    pub fn into_inner(self) -> F {
        self.file
    }
}

impl<F: Write + AsFd> Write for WritebackFile<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        self.writeback.wrote(self.file.as_fd(), self.written);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_back_starts_every_step_and_over_after_a_truncate() {
        let file = tempfile::tempfile().unwrap();
        let mut writeback = Writeback::default();
        writeback.wrote(&file, STEP - 1);
        assert_eq!(
            writeback.started, 0,
            "less than a step: nothing handed over"
        );
        writeback.wrote(&file, STEP + 5);
        assert_eq!(writeback.started, STEP + 5);
        writeback.wrote(&file, 10); // truncated and written again
        assert_eq!(writeback.started, 10);
        writeback.wrote(&file, 10 + STEP);
        assert_eq!(writeback.started, 10 + STEP);
    }

    #[test]
    fn a_file_written_through_it_holds_every_byte() {
        let data: Vec<u8> = (0..(2 * STEP + 3)).map(|i| (i % 251) as u8).collect();
        let mut out = WritebackFile::new(tempfile::tempfile().unwrap());
        for chunk in data.chunks(1 << 20) {
            out.write_all(chunk).unwrap();
        }
        assert_eq!(out.writeback.started, 2 * STEP);
        let mut file = out.into_inner();
        let mut back = Vec::new();
        io::Seek::rewind(&mut file).unwrap();
        io::Read::read_to_end(&mut file, &mut back).unwrap();
        assert_eq!(back, data);
    }
}

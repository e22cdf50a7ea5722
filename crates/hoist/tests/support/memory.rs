//! What the memory tests (`pull_memory`, `push_memory`, each its own process) share: a writer
//! hashing what goes through it, so generated layers never sit in memory to be hashed, and
//! this process's resident memory from `/proc/self/status`.

use std::fs;
use std::io::{self, Write};

use sha2::{Digest as _, Sha256};

/// Hashes what is written through it.
pub struct Hashing<W> {
    inner: W,
    hasher: Sha256,
}

impl<W> Hashing<W> {
    /// A hashing writer over `inner`.
    pub fn new(inner: W) -> Hashing<W> {
        Hashing {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The inner writer and the `sha256:` digest of what went through.
    pub fn finish(self) -> (W, String) {
        (
            self.inner,
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
        )
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A field of `/proc/self/status` in KiB (`VmRSS:`, `VmHWM:`).
pub fn status_kib(field: &str) -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Resets the peak (`VmHWM`) to the current RSS (Linux 4.0+) and returns that RSS in KiB.
pub fn reset_peak() -> u64 {
    fs::write("/proc/self/clear_refs", "5").unwrap();
    status_kib("VmRSS:")
}

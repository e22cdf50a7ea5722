//! Memory stays bounded whatever the layer size: a 384 MiB layer streamed from a generator
//! (never held in memory) unpacks with a peak RSS far below its size. Its own test binary, so
//! no other test shares the process whose `/proc/self/status` is read.

use std::fs;
use std::io::{self, Cursor, Read};

use hoist::unpack::{unpack_layer, UnpackOptions};

/// Readers read one after another.
struct Concat(Vec<Box<dyn Read>>);

impl Read for Concat {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while let Some(first) = self.0.first_mut() {
            let n = first.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            self.0.remove(0);
        }
        Ok(0)
    }
}

/// A tar of `files` regular files of `size` non-zero bytes each, generated while read.
fn generated_layer(files: u32, size: u64) -> Concat {
    let mut parts: Vec<Box<dyn Read>> = Vec::new();
    for i in 0..files {
        let mut h = tar::Header::new_gnu();
        h.set_path(format!("data/blob{i}")).unwrap();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        parts.push(Box::new(Cursor::new(h.as_bytes().to_vec())));
        parts.push(Box::new(io::repeat(0xa5).take(size)));
    }
    parts.push(Box::new(Cursor::new(vec![0u8; 1024])));
    Concat(parts)
}

fn status_kib(field: &str) -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn unpack_of_a_384_mib_layer_keeps_peak_rss_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    // Reset the peak (VmHWM) to the current RSS (Linux 4.0+).
    fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = status_kib("VmRSS:");
    let report = unpack_layer(
        generated_layer(6, 64 << 20),
        tmp.path(),
        &UnpackOptions::diff(),
    )
    .unwrap();
    let peak = status_kib("VmHWM:");
    assert_eq!(report.content_bytes, 6 * (64 << 20));
    assert_eq!(
        fs::metadata(tmp.path().join("data/blob5")).unwrap().len(),
        64 << 20
    );
    // One 1 MiB buffer plus bookkeeping; 32 MiB of slack for the allocator and test harness.
    assert!(
        peak.saturating_sub(before) < 32 * 1024,
        "peak RSS grew by {} KiB while unpacking 384 MiB",
        peak.saturating_sub(before)
    );
}

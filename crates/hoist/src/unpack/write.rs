//! Writing a regular file's content: large buffered writes, holes instead of zeros.
//!
//! The tar crate expands GNU sparse entries into a plain byte stream (holes read as zeros), and
//! an ordinary entry of zeros compresses to almost nothing, so either can be a "tar bomb" that
//! declares far more bytes than the blob holds. [`write_content`] therefore never writes an
//! all-zero block: it skips it with the file offset and sets the final length with
//! `ftruncate`, so holes stay holes on disk (like `tar --sparse` / `cp --sparse=always`) and
//! the disk only receives the bytes that carry data. Declared sizes are capped separately (see
//! [`super::UnpackOptions::max_file_size`]) because reading a petabyte of zeros would still
//! take forever.
//!
//! Memory: one buffer of [`BUFFER_SIZE`] bytes per unpack, reused for every file. No fsync: a
//! layer is committed (renamed into place) by the layer store, which syncs what it needs.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

/// Size of the read/write buffer (1 MiB: few, large writes).
pub const BUFFER_SIZE: usize = 1 << 20;
/// Granularity of hole detection: one filesystem block.
const HOLE_BLOCK: usize = 4096;

/// Copies `src` into `file` from offset 0, leaving all-zero blocks as holes, and sets the file
/// length to the number of bytes read. Returns that number.
pub fn write_content(src: &mut dyn Read, file: &File, buf: &mut [u8]) -> io::Result<u64> {
    let mut offset = 0u64;
    let mut written_end = 0u64;
    loop {
        let filled = fill(src, buf)?;
        if filled == 0 {
            break;
        }
        if let Some(end) = write_blocks(file, &buf[..filled], offset)? {
            written_end = end;
        }
        offset += filled as u64;
        if filled < buf.len() {
            break;
        }
    }
    // Trailing holes (and a file that is all holes) get their length here.
    if written_end != offset {
        file.set_len(offset)?;
    }
    Ok(offset)
}

/// Reads until `buf` is full or the source ends.
fn fill(src: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match src.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Writes the runs of non-zero blocks of `data` at `offset`; returns the file offset where
/// the last write ended, if anything was written.
fn write_blocks(file: &File, data: &[u8], offset: u64) -> io::Result<Option<u64>> {
    let mut written_end = None;
    let mut run_start: Option<usize> = None;
    let mut pos = 0;
    while pos < data.len() {
        let end = (pos + HOLE_BLOCK).min(data.len());
        let zero = is_zero(&data[pos..end]);
        match (zero, run_start) {
            (false, None) => run_start = Some(pos),
            (true, Some(start)) => {
                file.write_all_at(&data[start..pos], offset + start as u64)?;
                written_end = Some(offset + pos as u64);
                run_start = None;
            }
            _ => {}
        }
        pos = end;
    }
    if let Some(start) = run_start {
        file.write_all_at(&data[start..], offset + start as u64)?;
        written_end = Some(offset + data.len() as u64);
    }
    Ok(written_end)
}

fn is_zero(block: &[u8]) -> bool {
    let mut chunks = block.chunks_exact(16);
    let wide = chunks
        .by_ref()
        .all(|c| u128::from_ne_bytes(c.try_into().unwrap_or([1; 16])) == 0);
    wide && chunks.remainder().iter().all(|b| *b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn zero_runs_become_holes_and_data_survives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        let mut content = vec![0u8; 8 << 20];
        content[5 << 20] = 7;
        content[(8 << 20) - 1] = 9;
        let mut buf = vec![0u8; BUFFER_SIZE];
        let n = write_content(&mut content.as_slice(), &file, &mut buf).unwrap();
        assert_eq!(n, 8 << 20);
        assert_eq!(std::fs::read(&path).unwrap(), content);
        // Two 4 KiB blocks of data; allow filesystem overhead but not 8 MiB.
        assert!(file.metadata().unwrap().blocks() * 512 < 1 << 20);
    }

    #[test]
    fn all_zero_content_has_its_length() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("z")).unwrap();
        let mut buf = vec![0u8; BUFFER_SIZE];
        let n = write_content(&mut io::repeat(0).take(3 << 20), &file, &mut buf).unwrap();
        assert_eq!(n, 3 << 20);
        assert_eq!(file.metadata().unwrap().len(), 3 << 20);
    }

    #[test]
    fn is_zero_sees_a_single_byte() {
        let mut b = [0u8; 4096];
        assert!(is_zero(&b));
        b[4095] = 1;
        assert!(!is_zero(&b));
        assert!(!is_zero(&[0, 0, 1]));
    }
}

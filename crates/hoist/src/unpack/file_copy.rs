//! Copying one regular file's content from a layer directory into an export without filling
//! its holes: a layer holding a 10 GiB sparse file costs no disk in the layer store (the
//! unpacker never writes all-zero blocks) and must cost none in the export. The source's data
//! extents are found with `SEEK_DATA`/`SEEK_HOLE` and each is copied by `copy_file_range` in
//! the kernel (which, without reflinks, would write a hole's zeros if asked to copy it), else
//! through a bounded buffer; a trailing hole is only a length (`ftruncate`).

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

use rustix::fs::{self as rfs, SeekFrom};
use rustix::io::Errno;

/// The buffer of a copy the kernel cannot do (`copy_file_range` refused).
const COPY_BUFFER: usize = 1 << 20;

/// Copies the content of `input` (whose metadata is `meta`) into the empty `output`.
pub(super) fn copy_extents(input: &File, output: &File, meta: &fs::Metadata) -> io::Result<()> {
    let len = meta.len();
    // Fewer allocated blocks than bytes means holes; a dense file skips the extent walk
    // (two `lseek`s and an `ftruncate` per file).
    if meta.blocks().saturating_mul(512) >= len {
        return copy_range(input, output, 0, len);
    }
    let mut pos = 0;
    while pos < len {
        let data = match rfs::seek(input, SeekFrom::Data(pos)) {
            Ok(data) => data,
            Err(Errno::NXIO) => break, // only a hole up to the end
            Err(Errno::INVAL | Errno::OPNOTSUPP) => pos, // no extent map: copy the rest
            Err(e) => return Err(e.into()),
        };
        if data >= len {
            break;
        }
        let hole = match rfs::seek(input, SeekFrom::Hole(data)) {
            Ok(hole) => hole.min(len),
            Err(Errno::INVAL | Errno::OPNOTSUPP) => len,
            Err(e) => return Err(e.into()),
        };
        copy_range(input, output, data, hole - data)?;
        pos = hole;
    }
    output.set_len(len)
}

/// Copies `len` bytes at `offset` of `input` to the same offset of `output`:
/// `copy_file_range` in the kernel, else (another file system, an old kernel) through a
/// bounded buffer. A source that shrank meanwhile is copied as far as it goes.
fn copy_range(input: &File, output: &File, offset: u64, len: u64) -> io::Result<()> {
    let (mut off_in, mut off_out) = (offset, offset);
    let end = offset + len;
    while off_in < end {
        let chunk = usize::try_from(end - off_in).unwrap_or(usize::MAX);
        match rfs::copy_file_range(input, Some(&mut off_in), output, Some(&mut off_out), chunk) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(Errno::INTR) => {}
            Err(Errno::XDEV | Errno::NOSYS | Errno::INVAL | Errno::OPNOTSUPP) => {
                return copy_range_buffered(input, output, off_in, end - off_in);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn copy_range_buffered(input: &File, output: &File, mut offset: u64, len: u64) -> io::Result<()> {
    let end = offset + len;
    let mut buf = vec![0u8; COPY_BUFFER.min(usize::try_from(len).unwrap_or(COPY_BUFFER))];
    while offset < end {
        let want = buf
            .len()
            .min(usize::try_from(end - offset).unwrap_or(usize::MAX));
        let n = match input.read_at(&mut buf[..want], offset) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        output.write_all_at(&buf[..n], offset)?;
        offset += n as u64;
    }
    Ok(())
}

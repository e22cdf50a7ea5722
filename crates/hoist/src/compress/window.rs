//! The memory of zstd windows in flight, bounded for the whole process.
//!
//! A zstd decoder keeps the last *window* bytes it produced: 2 MiB for layers compressed at
//! zstd's default level, up to 128 MiB (`--long=27`, libzstd's default decoding limit) for
//! layers made with long-distance matching. Several layers decoding at once each keep their
//! own window, so four such layers reached 429 MB of resident memory (issue 15, finding 10).
//!
//! Every zstd decoder of the download pipeline first reads its frame header
//! ([`frame_window`]) and takes that window's size from one [`MemoryBudget`], [`WINDOWS`], of
//! [`WINDOW_BUDGET`] bytes for as long as it decodes; a window the budget cannot hold now
//! waits for one to be given back. So the windows in flight together never exceed the largest
//! one a layer may have, whatever the number of layers pulled at once, and small windows (the
//! common case) never wait for each other. The waiting is the pipeline's business: it keeps
//! storing the compressed bytes meanwhile so the download does not stall (see `pipeline`).
//!
//! Only the first frame's header is read: a blob of several frames whose later frame declares
//! a larger window than its first decodes with that larger window, unbudgeted (no tool writes
//! such layers; libzstd still caps the window at 128 MiB). A blob whose header is not a zstd
//! frame's (a skippable frame first, or garbage the decoder will refuse) is charged the whole
//! budget.

use super::budget::MemoryBudget;

/// The bytes of windows the decoders of one process may hold at once: libzstd's default
/// largest window (`ZSTD_WINDOWLOG_LIMIT_DEFAULT`, 2^27), so that the largest window a layer
/// may have fits alone.
pub(crate) const WINDOW_BUDGET: u64 = 1 << 27;

/// The longest zstd frame header: magic (4), frame header descriptor (1), window descriptor
/// (1), dictionary ID (up to 4), frame content size (up to 8).
pub(crate) const FRAME_HEADER_MAX: usize = 18;

const ZSTD_MAGIC: u32 = 0xFD2F_B528;

/// The budget every download pipeline of this process draws from.
pub(crate) static WINDOWS: MemoryBudget = MemoryBudget::new(WINDOW_BUDGET);

/// The window a zstd frame needs, from the start of its bytes (at most
/// [`FRAME_HEADER_MAX`] are looked at); `None` when `header` does not start with a whole zstd
/// frame header (RFC 8878, section 3.1.1.1).
pub(crate) fn frame_window(header: &[u8]) -> Option<u64> {
    let magic = u32::from_le_bytes(header.get(..4)?.try_into().ok()?);
    if magic != ZSTD_MAGIC {
        return None;
    }
    let descriptor = *header.get(4)?;
    let single_segment = descriptor & 0x20 != 0;
    if !single_segment {
        let window = *header.get(5)?;
        let log = 10 + u32::from(window >> 3);
        let base = 1u64.checked_shl(log)?;
        return Some(base + (base / 8) * u64::from(window & 7));
    }
    // A single-segment frame's window is its content size, which follows the dictionary ID.
    let dictionary_len = [0, 1, 2, 4][usize::from(descriptor & 3)];
    let start = 5 + dictionary_len;
    let size = match descriptor >> 6 {
        0 => u64::from(*header.get(start)?),
        1 => {
            u64::from(u16::from_le_bytes(
                header.get(start..start + 2)?.try_into().ok()?,
            )) + 256
        }
        2 => u64::from(u32::from_le_bytes(
            header.get(start..start + 4)?.try_into().ok()?,
        )),
        _ => u64::from_le_bytes(header.get(start..start + 8)?.try_into().ok()?),
    };
    Some(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_of(compressed: &[u8]) -> &[u8] {
        &compressed[..compressed.len().min(FRAME_HEADER_MAX)]
    }

    #[test]
    fn the_window_of_a_default_level_frame_is_read_from_its_header() {
        let data = vec![7u8; 4 << 20];
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        encoder.include_contentsize(false).unwrap();
        std::io::Write::write_all(&mut encoder, &data).unwrap();
        let compressed = encoder.finish().unwrap();
        let window = frame_window(header_of(&compressed)).unwrap();
        // Level 3 on a large input: a window log of 21 (2 MiB) in current libzstd.
        assert!((1 << 20..=8 << 20).contains(&window), "{window}");
    }

    #[test]
    fn a_long_distance_frame_declares_its_large_window() {
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        encoder.include_contentsize(false).unwrap();
        encoder.window_log(27).unwrap();
        encoder.long_distance_matching(true).unwrap();
        std::io::Write::write_all(&mut encoder, &vec![1u8; 1 << 20]).unwrap();
        let compressed = encoder.finish().unwrap();
        assert_eq!(frame_window(header_of(&compressed)), Some(1 << 27));
    }

    #[test]
    fn a_single_segment_frame_needs_its_content_size() {
        let compressed = zstd::encode_all(&[5u8; 1000][..], 3).unwrap();
        assert_eq!(frame_window(header_of(&compressed)), Some(1000));
    }

    #[test]
    fn what_is_not_a_zstd_frame_has_no_window() {
        assert_eq!(frame_window(b"\x1f\x8b\x08\x00gzip"), None);
        assert_eq!(frame_window(&[0x28, 0xB5, 0x2F]), None);
        // A skippable frame first.
        assert_eq!(frame_window(&[0x50, 0x2A, 0x4D, 0x18, 4, 0, 0, 0]), None);
        // Truncated after the descriptor.
        assert_eq!(frame_window(&[0x28, 0xB5, 0x2F, 0xFD, 0x00]), None);
    }
}

//! `EntryMeta`: the metadata of one tar entry (mode, owner, times, xattrs, device numbers),
//! read from the ustar/GNU header with PAX records taking precedence, as Go's `archive/tar`
//! (and so docker) reads them.
//!
//! - mode: the permission bits including setuid/setgid/sticky (`& 0o7777`); a file is created
//!   with them when the umask keeps them whole (`on_create`), anything else gets an explicit
//!   `fchmod`, so the process umask never changes what is applied;
//! - uid/gid: PAX `uid`/`gid` override the octal/base-256 header fields (the tar crate already
//!   does this);
//! - mtime/atime: PAX `mtime`/`atime` with fractional seconds, else the header's whole seconds;
//!   atime defaults to mtime (docker sets both);
//! - xattrs: PAX `SCHILY.xattr.NAME` records (the form docker, Go and GNU tar write). Values are
//!   raw bytes.
//! - PAX sparse formats (`GNU.sparse.*`, GNU tar's `--sparse --format=posix`) are detected so
//!   the unpacker can refuse them: the tar crate only expands the old GNU `S` sparse type.

use std::io;

use rustix::fs::{Timespec, Timestamps};
use tar::Entry;

/// Metadata of one entry, ready to apply.
#[derive(Debug, Clone)]
pub struct EntryMeta {
    /// Permission bits, `0o7777` mask (setuid, setgid, sticky included).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Access and modification times.
    pub times: Timestamps,
    /// Extended attributes, in archive order.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// Device major and minor numbers (character and block devices).
    pub device: (u32, u32),
    /// The entry uses a PAX sparse format (`GNU.sparse.*` records), which the tar crate does
    /// not expand: its data would be the sparse map, not the file.
    pub pax_sparse: bool,
}

const XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";

/// Which header field failed to parse.
pub type FieldError = (&'static str, io::Error);

impl EntryMeta {
    /// Reads the metadata of `entry`.
    pub fn read<R: io::Read>(entry: &mut Entry<'_, R>) -> Result<Self, FieldError> {
        let header = entry.header();
        let old = header.as_old();
        let mode = numeric(header.mode().map(u64::from), &old.mode, "mode")? as u32 & 0o7777;
        let uid = id_field(numeric(header.uid(), &old.uid, "uid")?, "uid")?;
        let gid = id_field(numeric(header.gid(), &old.gid, "gid")?, "gid")?;
        let mut mtime = Timespec {
            tv_sec: i64::try_from(numeric(header.mtime(), &old.mtime, "mtime")?)
                .unwrap_or(i64::MAX),
            tv_nsec: 0,
        };
        // Only device entries carry meaningful numbers; other writers leave the fields blank.
        let device = if header.entry_type().is_character_special()
            || header.entry_type().is_block_special()
        {
            (
                header
                    .device_major()
                    .map_err(|e| ("devmajor", e))?
                    .unwrap_or(0),
                header
                    .device_minor()
                    .map_err(|e| ("devminor", e))?
                    .unwrap_or(0),
            )
        } else {
            (0, 0)
        };
        let mut atime = None;
        let mut xattrs = Vec::new();
        let mut pax_sparse = false;
        if let Some(pax) = entry.pax_extensions().map_err(|e| ("pax", e))? {
            for record in pax {
                let record = record.map_err(|e| ("pax", e))?;
                let key = record.key_bytes();
                if let Some(name) = key.strip_prefix(XATTR_PREFIX) {
                    xattrs.push((name.to_vec(), record.value_bytes().to_vec()));
                } else if key == b"mtime" {
                    if let Some(t) = parse_pax_time(record.value_bytes()) {
                        mtime = t;
                    }
                } else if key == b"atime" {
                    atime = parse_pax_time(record.value_bytes());
                } else if key.starts_with(b"GNU.sparse.") {
                    pax_sparse = true;
                }
            }
        }
        Ok(Self {
            mode,
            uid,
            gid,
            times: Timestamps {
                last_access: atime.unwrap_or(mtime),
                last_modification: mtime,
            },
            xattrs,
            device,
            pax_sparse,
        })
    }
}

/// A numeric header field; a blank one (all NUL or spaces) reads as 0, as Go's
/// `archive/tar` (and so docker) reads it.
fn numeric(parsed: io::Result<u64>, raw: &[u8], field: &'static str) -> Result<u64, FieldError> {
    match parsed {
        Ok(value) => Ok(value),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        Err(e) => Err((field, e)),
    }
}

fn id_field(value: u64, field: &'static str) -> Result<u32, FieldError> {
    u32::try_from(value).map_err(|_| {
        (
            field,
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{value} does not fit 32 bits"),
            ),
        )
    })
}

/// Parses a PAX time: `SECONDS[.FRACTION]`, possibly negative.
pub fn parse_pax_time(raw: &[u8]) -> Option<Timespec> {
    let text = std::str::from_utf8(raw).ok()?;
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let secs: i64 = secs.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let nanos: i64 = digits.parse().ok()?;
    Some(if negative && nanos > 0 {
        Timespec {
            tv_sec: -secs - 1,
            tv_nsec: 1_000_000_000 - nanos,
        }
    } else if negative {
        Timespec {
            tv_sec: -secs,
            tv_nsec: 0,
        }
    } else {
        Timespec {
            tv_sec: secs,
            tv_nsec: nanos,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_time_keeps_nanoseconds() {
        let t = parse_pax_time(b"1700000000.123456789123").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 123_456_789));
        let t = parse_pax_time(b"5.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (5, 500_000_000));
    }

    #[test]
    fn pax_time_handles_negative_and_garbage() {
        let t = parse_pax_time(b"-1.25").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (-2, 750_000_000));
        assert!(parse_pax_time(b"abc").is_none());
        assert!(parse_pax_time(b"1.2x").is_none());
    }
}

//! Applying one layer to a directory, safely: docker's `archive.UnpackLayer` /
//! `ApplyLayer` and containerd's `archive.Apply`, without a chroot. A layer comes as a tar
//! stream ([`unpack_layer`]) or, for `hoist export` from the layer store, as an unpacked layer
//! directory (`DiffApplier`, in `apply_dir`, with its helpers `file_copy` and `work_queue`);
//! both execute whiteouts as [`whiteout`] defines them, and nothing else in hoist does.
//!
//! # Entry point
//! [`unpack_layer`] reads an **uncompressed** tar from any [`std::io::Read`] and applies it
//! below `target`. It is blocking and uses bounded memory (one 1 MiB copy buffer, at most
//! [`MAX_ENTRY_METADATA`] of extension headers at a time, plus a set of the paths the layer
//! created in apply mode and one record per directory for its times), whatever the layer size.
//!
//! The pull pipeline feeds it while the blob is still downloading: the async download task
//! hashes and decompresses chunks and sends them through a bounded channel; a blocking thread
//! (`tokio::task::spawn_blocking`) wraps the receiving end in [`ChannelReader`] and calls
//! `unpack_layer`. Back-pressure comes from the channel bound. When the tar ends, the rest of
//! the stream is drained so the sender's digest check sees every byte.
//!
//! # Modes
//! - [`UnpackMode::Diff`]: `target` is the layer's own (empty) directory; whiteouts are kept in
//!   the form [`WhiteoutFormat`] selects (see [`whiteout`]) for an overlay mount and export.
//! - [`UnpackMode::Apply`]: `target` is a rootfs holding the lower layers; whiteouts are
//!   executed and hardlinks may point at lower-layer files.
//!
//! # Safety
//! Every name is parsed into an [`EntryPath`] (no `..` above the root; absolute names are
//! confined) and every write is an `*at` syscall on a directory fd resolved inside the root by
//! [`root`] (openat2 `RESOLVE_IN_ROOT`, else a manual `O_NOFOLLOW` walk) — so a symlink planted
//! by this or an earlier layer, absolute or relative, chained or looping, cannot redirect a
//! write outside the root; hardlink targets are resolved the same way. An entry that cannot be
//! placed safely fails the whole layer with an [`UnpackError`] naming it (docker's
//! `breakoutError`).
//!
//! # Limits (hostile input)
//! - regular files declaring more than [`UnpackOptions::max_file_size`] (default
//!   [`DEFAULT_MAX_FILE_SIZE`], 64 GiB, counted after GNU sparse expansion) are refused;
//! - all-zero blocks are never written (holes), so sparse files stay sparse and a zero-filled
//!   bomb costs no disk;
//! - extension headers before one entry are limited to [`MAX_ENTRY_METADATA`].
//!
//! # Deviations from docker
//! - A tar that ends at an entry boundary without the end-of-archive blocks is accepted (as Go's
//!   `archive/tar` and so docker accept it); a tar that ends inside a header or inside an
//!   entry's data is an error.
//! - AUFS hardlink directories (`.wh..wh.plnk`) are skipped, not used as link targets.
//! - `LIBARCHIVE.xattr.*` PAX records are ignored; `SCHILY.xattr.*` are applied.
//! - Without privileges, a directory that an *earlier* layer made read-only for its owner is
//!   not made writable again (umoci does this temporarily).
//! - In diff mode the target holds only this layer, so a hardlink to a lower-layer file fails
//!   ([`EntryProblem::LinkTargetMissing`]); docker's own tar writer never produces one (a
//!   layer's first link to an inode is written as the file).
//! - [`WhiteoutFormat::Overlay`] needs `trusted.*` xattrs (`CAP_SYS_ADMIN`); without it the
//!   opaque marker fails the layer, so [`UnpackOptions::diff`] picks
//!   [`WhiteoutFormat::Marker`] when not root.

mod apply;
mod apply_dir;
mod copy_meta;
mod created;
mod error;
mod feed;
mod file_copy;
mod implicit;
mod meta;
pub mod nofollow;
mod on_create;
pub mod path;
mod report;
pub mod root;
mod stream;
pub mod whiteout;
mod work_queue;
mod write;

#[cfg(test)]
mod tests;

use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;

use tar::EntryType;

pub(crate) use apply_dir::DiffApplier;
pub use error::{EntryKind, EntryProblem, UnpackError};
pub use feed::ChannelReader;
pub use implicit::TarFacts;
pub use path::EntryPath;
pub use report::{Unapplied, UnpackReport};
pub use whiteout::WhiteoutFormat;

use apply::Unpacker;
use root::Root;
use stream::{is_budget_exceeded, Meter, MeteredReader};
use whiteout::{classify, interprets_whiteouts, whiteout_kind, Whiteout};

/// Default cap on one regular file's declared size: 64 GiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 64 << 30;
/// Most bytes of extension headers (PAX, GNU long names, sparse maps) before one entry: 1 MiB.
pub const MAX_ENTRY_METADATA: u64 = 1 << 20;

/// Where the layer is unpacked, which decides what whiteouts do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnpackMode {
    /// Into the layer's own directory; whiteouts are kept (see [`WhiteoutFormat`]).
    Diff,
    /// Onto a root filesystem holding the lower layers; whiteouts are executed.
    Apply,
}

/// Whether ownership can be applied and device nodes created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privileges {
    /// `fchown` and `mknod` are used.
    Root,
    /// Ownership and devices are recorded in the report (`umoci unpack --rootless`).
    Rootless,
}

impl Privileges {
    /// `Root` when the effective uid is 0, else `Rootless`.
    pub fn detect() -> Self {
        if rustix::process::geteuid().is_root() {
            Self::Root
        } else {
            Self::Rootless
        }
    }
}

/// How to unpack.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Diff or apply.
    pub mode: UnpackMode,
    /// How diff mode keeps whiteouts.
    pub whiteouts: WhiteoutFormat,
    /// Whether to chown and mknod (injectable so both paths can be tested).
    pub privileges: Privileges,
    /// Cap on a regular file's declared size.
    pub max_file_size: u64,
    /// Skip `openat2` and always walk components by hand (tests; kernels with a broken
    /// `openat2`).
    pub force_manual_walk: bool,
}

impl UnpackOptions {
    /// Diff mode with the detected privileges: overlay whiteouts as root, marker files
    /// otherwise (the `trusted.*` namespace needs `CAP_SYS_ADMIN`).
    pub fn diff() -> Self {
        let privileges = Privileges::detect();
        Self {
            mode: UnpackMode::Diff,
            whiteouts: match privileges {
                Privileges::Root => WhiteoutFormat::Overlay,
                Privileges::Rootless => WhiteoutFormat::Marker,
            },
            privileges,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            force_manual_walk: false,
        }
    }

    /// Apply mode (flatten onto a rootfs) with the detected privileges.
    pub fn apply() -> Self {
        Self {
            mode: UnpackMode::Apply,
            ..Self::diff()
        }
    }
}

/// Applies the uncompressed layer tar read from `reader` below the existing directory
/// `target`, and drains `reader` to its end.
pub fn unpack_layer<R: Read>(
    reader: R,
    target: &Path,
    options: &UnpackOptions,
) -> Result<UnpackReport, UnpackError> {
    let root =
        Root::open(target, !options.force_manual_walk).map_err(|source| UnpackError::Target {
            path: target.to_path_buf(),
            source,
        })?;
    let meter = Rc::new(Meter::default());
    let mut archive = tar::Archive::new(MeteredReader::new(reader, meter.clone()));
    let mut unpacker = Unpacker::new(root, options);
    let mut last: Option<String> = None;
    {
        let mut entries = archive.entries().map_err(|e| tar_error(e, &meter, &last))?;
        loop {
            meter.arm(MAX_ENTRY_METADATA);
            let next = entries.next();
            meter.disarm();
            let mut entry = match next {
                None => break,
                Some(Ok(entry)) => entry,
                Some(Err(e)) => return Err(tar_error(e, &meter, &last)),
            };
            let raw = entry.path_bytes().into_owned();
            let shown = String::from_utf8_lossy(&raw).into_owned();
            apply_entry(&mut unpacker, &mut entry, &raw).map_err(|(kind, problem)| {
                UnpackError::Entry {
                    path: shown.clone(),
                    kind,
                    problem,
                }
            })?;
            // Whatever the entry did not consume (a directory's or link's data) is read here,
            // outside the metadata budget.
            io::copy(&mut entry, &mut io::sink()).map_err(|e| tar_error(e, &meter, &last))?;
            last = Some(shown);
        }
    }
    unpacker
        .finish()
        .map_err(|(path, problem)| UnpackError::Entry {
            path: path.to_string(),
            kind: EntryKind::Dir,
            problem,
        })?;
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| tar_error(e, &meter, &last))?;
    let mut report = std::mem::take(&mut unpacker.report);
    report.tar_bytes = meter.total();
    if options.mode == UnpackMode::Diff {
        report.root_entry = unpacker.dirs.root_entry;
        report.implicit_dirs = unpacker.dirs.implicit();
    }
    Ok(report)
}

fn tar_error(e: io::Error, meter: &Meter, last: &Option<String>) -> UnpackError {
    if is_budget_exceeded(&e) {
        UnpackError::MetadataTooLarge {
            limit: MAX_ENTRY_METADATA,
            after: last.clone(),
        }
    } else {
        UnpackError::Tar {
            offset: meter.total(),
            after: last.clone(),
            source: e,
        }
    }
}

/// Classifies one entry and hands it to the unpacker.
fn apply_entry<R: Read>(
    unpacker: &mut Unpacker<'_>,
    entry: &mut tar::Entry<'_, R>,
    raw: &[u8],
) -> Result<(), (EntryKind, EntryProblem)> {
    let entry_type = entry.header().entry_type();
    let Some(kind) = entry_kind(entry_type, raw) else {
        return Ok(()); // PAX global header: ignored, as docker does
    };
    unpacker.report.entries += 1;
    let path = EntryPath::parse(raw).map_err(|p| (kind, EntryProblem::BadName(p)))?;
    let options = unpacker.options;
    if options.mode == UnpackMode::Diff {
        unpacker.dirs.note(&path, kind == EntryKind::Dir);
    }
    if interprets_whiteouts(options.mode, options.whiteouts) {
        // AUFS metadata lives in top-level `.wh..wh.*` directories (docker checks the prefix
        // of the whole name): skip them and everything below.
        let aufs_meta = path.components().first().is_some_and(|first| {
            first.starts_with(whiteout::WHITEOUT_META_PREFIX) && path.components().len() > 1
        });
        let whiteout = match path.split_last() {
            _ if aufs_meta => Whiteout::AufsMeta,
            Some((_, last)) => classify(last),
            None => Whiteout::None,
        };
        if whiteout != Whiteout::None {
            let kind = whiteout_kind(whiteout);
            return unpacker.whiteout(&path, whiteout).map_err(|p| (kind, p));
        }
    }
    unpacker.apply(entry, kind, &path).map_err(|p| (kind, p))
}

/// The unpacker's view of a tar type; `None` for entries to skip.
pub(crate) fn entry_kind(entry_type: EntryType, raw: &[u8]) -> Option<EntryKind> {
    Some(match entry_type {
        // Pre-POSIX archives mark directories only by a trailing slash (Go does the same).
        EntryType::Regular if raw.ends_with(b"/") => EntryKind::Dir,
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => EntryKind::File,
        EntryType::Directory => EntryKind::Dir,
        EntryType::Symlink => EntryKind::Symlink,
        EntryType::Link => EntryKind::Hardlink,
        EntryType::Char => EntryKind::Char,
        EntryType::Block => EntryKind::Block,
        EntryType::Fifo => EntryKind::Fifo,
        EntryType::XGlobalHeader => return None,
        other => EntryKind::Other(other.as_byte()),
    })
}

//! `hoist export REF -`: an image's flattened root filesystem as one tar stream — what
//! `crane export IMAGE -` and `docker export` write — for `tar -x`, `docker import` or a file;
//! of a stored image here ([`export_tar`]), of any source through
//! [`export_tar_from_source`](super::export_tar_from_source).
//!
//! The layer blobs are read from the top layer down, each decompressed once and its diffID
//! checked, and every entry is written or skipped as it is read ([`super::flatten`] decides):
//! nothing is staged, memory holds the paths seen, not the data. Entries keep their headers
//! (mode, owner, times, device numbers) and their xattrs (PAX `SCHILY.xattr.*`, but the
//! `trusted.overlay.*` ones a directory export refuses too); whiteouts are executed, not
//! written; hard links are written after their target, even one in a lower layer.
//!
//! A blob that does not decompress to its diffID fails the export **after** its entries were
//! written: a stream cannot be taken back, so the exit status is the verdict, as for `crane
//! export`. The tar holds no `..` and no absolute name (names are the normalised
//! [`EntryPath`]s).

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use tar::{Archive, Builder, EntryType, Header};

use super::flatten::{Decision, Flattener, Kind, Reread, Waiting};
use super::ExportError;
use crate::compress::DecodeAhead;
use crate::digest::HashingReader;
use crate::store::layers::{check_diff_id, compression_of, decoder};
use crate::store::metadata::{ImageLayer, ImageRecord};
use crate::store::MetadataStore;
use crate::unpack::path::EntryPath;
use crate::unpack::{entry_kind, EntryKind};

/// What a tar export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarReport {
    /// Layers read.
    pub layers: usize,
    /// Entries written (hard links included).
    pub entries: u64,
}

/// A header and the PAX records kept with it.
#[derive(Debug)]
pub(super) struct Kept {
    header: Header,
    pax: Vec<(String, Vec<u8>)>,
}

/// Writes the flattened root filesystem of the stored `image` to `out` as a tar (see the
/// module docs). Blocking.
pub fn export_tar(
    metadata: &MetadataStore,
    image: &ImageRecord,
    out: impl Write,
) -> Result<TarReport, ExportError> {
    let _lease = metadata.content().lease()?;
    let open = |layer: &ImageLayer| -> Result<DecodeAhead, ExportError> {
        let compression = compression_of(layer)?;
        let blob = metadata.content().open_blob(&layer.digest)?;
        Ok(decoder(compression, blob, &layer.digest)?)
    };
    let mut export = TarExport::new(out);
    for (index, layer) in image.layers.iter().enumerate().rev() {
        let reread = export.layer(index, layer, open(layer)?)?;
        if !reread.is_empty() {
            export.reread(layer, open(layer)?, reread)?;
        }
    }
    export.finish(image.layers.len())
}

/// A tar export under way: the flattener's state and the tar being written. Each layer is
/// handed to it as its decompressed stream, from the top layer down.
pub(super) struct TarExport<W: Write> {
    flat: Flattener<Kept>,
    writer: TarWriter<W>,
}

impl<W: Write> TarExport<W> {
    pub(super) fn new(out: W) -> Self {
        TarExport {
            flat: Flattener::default(),
            writer: TarWriter {
                builder: Builder::new(out),
                entries: 0,
            },
        }
    }

    /// Writes what layer `index` (`layer`, decompressed: `decoded`) adds to the tar; returns
    /// the links to its hidden entries, for [`TarExport::reread`] when there are any.
    pub(super) fn layer(
        &mut self,
        index: usize,
        layer: &ImageLayer,
        decoded: impl Read,
    ) -> Result<Reread<Kept>, ExportError> {
        let TarExport { flat, writer } = self;
        flat.begin_layer(index);
        read_layer(layer, decoded, |entry, path, kind| {
            let kept = kept(entry).map_err(|e| tar_error(layer, e))?;
            match flat.entry(path, kind, kept)? {
                Decision::Skip => Ok(()),
                Decision::Emit {
                    name,
                    header,
                    links,
                } => {
                    writer.entry(entry, header, &name)?;
                    writer.links(links, &name)
                }
                Decision::Links { target, links } => writer.links(links, &target),
            }
        })?;
        Ok(flat.end_layer()?)
    }

    /// Reads `layer` again for the links to its hidden entries: the first link of each is
    /// written with the entry's content, the others link to it.
    pub(super) fn reread(
        &mut self,
        layer: &ImageLayer,
        decoded: impl Read,
        mut reread: Reread<Kept>,
    ) -> Result<(), ExportError> {
        let writer = &mut self.writer;
        read_layer(layer, decoded, |entry, path, _| {
            // Taken out when met: a later entry of the same name is not the one linked to.
            let Some(mut links) = reread.remove(&path.to_bytes()) else {
                return Ok(());
            };
            if links.is_empty() {
                return Ok(());
            }
            let first = links.remove(0);
            let kept = kept(entry).map_err(|e| tar_error(layer, e))?;
            writer.entry(entry, kept, &first.path)?;
            writer.links(links, &first.path)
        })
    }

    /// Ends the tar, once every one of the image's `layers` was written.
    pub(super) fn finish(self, layers: usize) -> Result<TarReport, ExportError> {
        self.flat.finish()?;
        let entries = self.writer.entries;
        let mut out = self
            .writer
            .builder
            .into_inner()
            .map_err(ExportError::Write)?;
        out.flush().map_err(ExportError::Write)?;
        Ok(TarReport { layers, entries })
    }
}

/// Reads the decompressed layer `decoded` (of `layer`) as a tar, handing each entry that is
/// not a PAX global header to `each` with its path and kind; then checks its diffID.
fn read_layer(
    layer: &ImageLayer,
    decoded: impl Read,
    mut each: impl FnMut(
        &mut tar::Entry<'_, &mut dyn Read>,
        &EntryPath,
        Kind,
    ) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let mut reader = HashingReader::new(decoded);
    {
        let mut archive = Archive::new(&mut reader as &mut dyn Read);
        let entries = archive.entries().map_err(|e| tar_error(layer, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| tar_error(layer, e))?;
            let raw = entry.path_bytes().into_owned();
            let Some(kind) = entry_kind(entry.header().entry_type(), &raw) else {
                continue;
            };
            let refused = |problem: String| ExportError::TarEntry {
                blob: layer.digest.clone(),
                name: String::from_utf8_lossy(&raw).into_owned(),
                problem,
            };
            let path = EntryPath::parse(&raw).map_err(|p| refused(p.to_string()))?;
            let kind = match kind {
                EntryKind::Dir => Kind::Dir,
                EntryKind::Hardlink => {
                    let target = entry.link_name_bytes().unwrap_or_default();
                    let target = EntryPath::parse(&target)
                        .map_err(|p| refused(format!("its link target: {p}")))?;
                    Kind::Link(target)
                }
                EntryKind::Other(byte) => {
                    return Err(refused(format!(
                        "unsupported entry type {:?}",
                        byte as char
                    )))
                }
                _ => Kind::Other,
            };
            each(&mut entry, &path, kind)?;
        }
    }
    // The rest of the stream (the end-of-archive blocks, padding) counts in the diffID.
    io::copy(&mut reader, &mut io::sink()).map_err(|e| tar_error(layer, e))?;
    Ok(check_diff_id(layer, reader.finish())?)
}

fn tar_error(layer: &ImageLayer, source: io::Error) -> ExportError {
    ExportError::Tar {
        blob: layer.digest.clone(),
        source,
    }
}

/// The entry's header and the PAX records worth keeping: xattrs (not `trusted.overlay.*`),
/// times, and owner ids or names too long for the header. Names, link names and sizes are
/// the writer's to set.
fn kept(entry: &mut tar::Entry<'_, impl Read>) -> io::Result<Kept> {
    let mut pax = Vec::new();
    if let Some(extensions) = entry.pax_extensions()? {
        for extension in extensions {
            let extension = extension?;
            let Ok(key) = extension.key() else {
                continue;
            };
            let xattr = key.starts_with("SCHILY.xattr.") || key.starts_with("LIBARCHIVE.xattr.");
            let keep = match xattr {
                true => !key.contains(".xattr.trusted.overlay."),
                false => matches!(
                    key,
                    "mtime" | "atime" | "ctime" | "uid" | "gid" | "uname" | "gname"
                ),
            };
            if keep {
                pax.push((key.to_owned(), extension.value_bytes().to_vec()));
            }
        }
    }
    Ok(Kept {
        header: entry.header().clone(),
        pax,
    })
}

/// The tar being written.
struct TarWriter<W: Write> {
    builder: Builder<W>,
    entries: u64,
}

impl<W: Write> TarWriter<W> {
    /// Writes `entry` (whose header and PAX records are `kept`) under `name`.
    fn entry(
        &mut self,
        entry: &mut tar::Entry<'_, impl Read>,
        kept: Kept,
        name: &EntryPath,
    ) -> Result<(), ExportError> {
        let Kept { mut header, pax } = kept;
        self.pax(&pax)?;
        let path = out_name(name);
        let written = match header.entry_type() {
            EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default();
                self.builder
                    .append_link(&mut header, path, OsStr::from_bytes(&target))
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse
                if !entry.path_bytes().ends_with(b"/") =>
            {
                // A sparse file is written whole: its holes as zeros.
                header.set_entry_type(EntryType::Regular);
                header.set_size(entry.size());
                self.builder.append_data(&mut header, path, entry)
            }
            other => {
                if matches!(
                    other,
                    EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse
                ) {
                    // A pre-POSIX directory: a regular entry whose name ends in `/`.
                    header.set_entry_type(EntryType::Directory);
                }
                header.set_size(0);
                self.builder.append_data(&mut header, path, io::empty())
            }
        };
        written.map_err(ExportError::Write)?;
        self.entries += 1;
        Ok(())
    }

    /// Writes each of `links` as a hard link to `target`.
    fn links(&mut self, links: Vec<Waiting<Kept>>, target: &EntryPath) -> Result<(), ExportError> {
        for link in links {
            let Kept { mut header, pax } = link.header;
            self.pax(&pax)?;
            header.set_entry_type(EntryType::Link);
            header.set_size(0);
            self.builder
                .append_link(&mut header, out_name(&link.path), out_name(target))
                .map_err(ExportError::Write)?;
            self.entries += 1;
        }
        Ok(())
    }

    fn pax(&mut self, pax: &[(String, Vec<u8>)]) -> Result<(), ExportError> {
        if pax.is_empty() {
            return Ok(());
        }
        let records = pax.iter().map(|(k, v)| (k.as_str(), v.as_slice()));
        self.builder
            .append_pax_extensions(records)
            .map_err(ExportError::Write)
    }
}

/// The name an entry is written under: its normalised path, `./` for the root.
fn out_name(path: &EntryPath) -> PathBuf {
    match path.is_root() {
        true => PathBuf::from("./"),
        false => PathBuf::from(OsStr::from_bytes(&path.to_bytes())),
    }
}

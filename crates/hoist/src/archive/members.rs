//! Reading an archive stream for `load`: every member once, in whatever order it comes.
//!
//! docker's `tarexporter.Load` extracts the whole archive into a temporary directory (with
//! `chrootarchive`) and then reads `manifest.json`. hoist never extracts anything to disk:
//! - **blob-like members** (layers, configs, `blobs/…`) stream straight into the content store
//!   through a [`Spool`](crate::store::Spool), hashed as written and committed under their own
//!   digest; only the name → digest map stays in memory. `blobs/sha256/<hex>` members must
//!   hash to their name ([`ArchiveError::BlobDigestMismatch`]);
//! - **small JSON members** (`manifest.json`, `repositories`, `index.json`, `oci-layout`) are
//!   kept in memory, each capped at [`MAX_JSON_MEMBER`];
//! - the v1-compatibility `<id>/json` and `<id>/VERSION` files are skipped (docker ignores them
//!   too since 1.10);
//! - **links** (symlinks and hard links) are never followed on disk: they are remembered as a
//!   name → target pair, resolved only when `manifest.json` names one, and only to a regular
//!   member of the same archive, one hop (docker 20.10 writes `layer.tar` symlinks for
//!   repeated layers, skopeo for v1 compatibility). A link whose target is absolute or climbs
//!   out of the archive is refused when used ([`ArchiveError::UnsafeLink`]).
//! - **Other kinds** (directories, FIFOs, devices) are never created anywhere; their names
//!   are remembered so that `manifest.json` or `index.json` naming one as a blob fails with
//!   [`ArchiveError::NotRegularMember`] rather than "missing" (issue 15, finding 4).
//! - **Hostile names**: a member whose path is absolute or contains a `..` component fails
//!   the whole load ([`ArchiveError::UnsafeMember`]), as does a member cut short by the end
//!   of the stream (a truncated archive).
//!
//! Blobs spooled before a failure stay in the store unreferenced; the next garbage collection
//! deletes them. Nothing is tagged before every image has been checked (see [`super::load`]).
//!
//! **In place** (a copy or export *from* an uncompressed archive file, never `load`): a blob
//! member bigger than any manifest or config hoist accepts ([`IN_PLACE_MIN`]) — a layer — is
//! not written anywhere; its offset in the archive is kept ([`InPlace`]) and its bytes are
//! read from there when the copy wants them, and verified by whatever receives them. Nor is it
//! read then when its digest is claimed elsewhere — its data is skipped: one named
//! `blobs/sha256/<hex>` (an OCI layout's, docker 25's `docker save`) by its name, an
//! uncompressed `<id>/layer.tar` by the diffID its image's config gives it (its digest, as a
//! registry's manifest claims one; [`Members::layer`]). A compressed `layer.tar` is hashed on
//! the way, its digest being known no other way. A 10 GB archive then needs no 10 GB of
//! staging, nor a first 10 GB read.

use std::collections::HashMap;
use std::io::{self, BufWriter, Read, Seek};

use tar::{Archive, Entries, EntryType};

use super::load::sniff;
use super::{ArchiveError, MANIFEST_FILE, REPOSITORIES_FILE, V1_JSON_FILE, VERSION_FILE};
use crate::compress::Compression;
use crate::digest::{diff_id_of, Algorithm, Digest};
use crate::media::{MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE};
use crate::store::{BlobInfo, ContentStore};

/// Largest JSON member read into memory: 8 MiB (a `manifest.json` of thousands of images).
pub const MAX_JSON_MEMBER: u64 = 8 << 20;

/// Bytes gathered before a write into a blob's spool.
const SPOOL_WRITE: usize = 1 << 20;

/// The smallest blob member left in place when reading in place: one byte more than any
/// manifest or config hoist reads, so those are always spooled and only layers stay put.
pub(crate) const IN_PLACE_MIN: u64 = (if MAX_MANIFEST_SIZE > MAX_CONFIG_SIZE {
    MAX_MANIFEST_SIZE
} else {
    MAX_CONFIG_SIZE
}) as u64
    + 1;

/// Where a blob member left in place is in the archive file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InPlace {
    /// The offset of its first byte in the archive file.
    pub(crate) offset: u64,
    /// Its size.
    pub(crate) size: u64,
    /// The compression its first bytes announce.
    pub(crate) compression: Compression,
}

/// `index.json` of an OCI image layout.
pub(crate) const OCI_INDEX_FILE: &str = "index.json";
/// `oci-layout` of an OCI image layout.
pub(crate) const OCI_LAYOUT_FILE: &str = "oci-layout";

const JSON_MEMBERS: [&str; 4] = [
    MANIFEST_FILE,
    REPOSITORIES_FILE,
    OCI_INDEX_FILE,
    OCI_LAYOUT_FILE,
];

/// What an archive held, by normalised member name.
#[derive(Debug, Default)]
pub(crate) struct Members {
    blobs: HashMap<String, BlobInfo>,
    json: HashMap<String, Vec<u8>>,
    links: HashMap<String, Link>,
    /// Members that are neither files nor links, with what they are.
    others: HashMap<String, &'static str>,
    /// The blobs left in the archive (read in place), by digest.
    in_place: HashMap<Digest, InPlace>,
    /// Uncompressed members left in place unread, their digest not known yet: a layer's is
    /// its diffID, which the image's config names ([`Members::layer`]).
    unhashed: HashMap<String, InPlace>,
}

#[derive(Debug)]
struct Link {
    /// The target as written.
    raw: String,
    /// The target as a member name, `None` when it leaves the archive.
    resolved: Option<String>,
}

impl Members {
    /// A small JSON member (`manifest.json`, `repositories`, `index.json`, `oci-layout`).
    pub(crate) fn json(&self, name: &str) -> Option<&[u8]> {
        self.json.get(name).map(Vec::as_slice)
    }

    /// The blob a member name from `manifest.json` designates, through at most one link.
    /// `what` says what the member should be, for the error.
    pub(crate) fn blob(&self, name: &str, what: &str) -> Result<&BlobInfo, ArchiveError> {
        let member = self.member(name, what)?;
        match (self.blobs.get(&member), self.unhashed.get(&member)) {
            (Some(info), _) => Ok(info),
            // Only a layer may be that big (a manifest or config is at most IN_PLACE_MIN - 1).
            (None, Some(place)) => Err(ArchiveError::MemberTooLarge {
                name: name.to_owned(),
                size: place.size,
                max: IN_PLACE_MIN - 1,
            }),
            (None, None) => Err(self.missing(&member, what)),
        }
    }

    /// Whether the layer member `name` was left in place unread (see [`Members::layer`]).
    pub(crate) fn is_unhashed(&self, name: &str) -> bool {
        self.member(name, "a layer")
            .is_ok_and(|member| self.unhashed.contains_key(&member))
    }

    /// The layer member `name` designates: its blob, and where it is in the archive when it
    /// was left in place. One left there unread is an uncompressed layer, whose digest is its
    /// diffID: `diff_id` (the config's), checked by whoever reads its bytes.
    pub(crate) fn layer(
        &self,
        name: &str,
        what: &str,
        diff_id: Option<&Digest>,
    ) -> Result<(BlobInfo, Option<InPlace>), ArchiveError> {
        let member = self.member(name, what)?;
        if let Some(info) = self.blobs.get(&member) {
            return Ok((info.clone(), self.in_place(&info.digest)));
        }
        match (self.unhashed.get(&member), diff_id) {
            (Some(place), Some(diff_id)) => Ok((
                BlobInfo {
                    digest: diff_id.clone(),
                    size: place.size,
                },
                Some(*place),
            )),
            _ => Err(self.missing(&member, what)),
        }
    }

    /// The member `name` designates (normalised), a blob or a member left unread, through at
    /// most one link.
    fn member(&self, name: &str, what: &str) -> Result<String, ArchiveError> {
        let normalized = normalize(name).ok_or_else(|| ArchiveError::UnsafeMember {
            name: name.to_owned(),
        })?;
        let held =
            |member: &String| self.blobs.contains_key(member) || self.unhashed.contains_key(member);
        if held(&normalized) {
            return Ok(normalized);
        }
        if let Some(link) = self.links.get(&normalized) {
            let unsafe_link = || ArchiveError::UnsafeLink {
                name: name.to_owned(),
                target: link.raw.clone(),
            };
            let target = link.resolved.as_ref().ok_or_else(unsafe_link)?;
            return held(target).then(|| target.clone()).ok_or_else(unsafe_link);
        }
        Err(self.missing(&normalized, what))
    }

    /// The error for a member `name` that is not a regular file of the archive: not there, or
    /// a directory, FIFO or device.
    pub(crate) fn missing(&self, name: &str, what: &str) -> ArchiveError {
        match self.others.get(name) {
            Some(kind) => ArchiveError::NotRegularMember {
                name: name.to_owned(),
                kind,
            },
            None if self.links.contains_key(name) => ArchiveError::NotRegularMember {
                name: name.to_owned(),
                kind: "a link",
            },
            None => ArchiveError::MissingMember {
                name: name.to_owned(),
                what: what.to_owned(),
            },
        }
    }

    /// The `blobs/sha256/<hex>` members that are not regular files (links, directories,
    /// FIFOs, devices): the digest their name claims and what they are.
    pub(crate) fn oci_non_regular(
        &self,
    ) -> impl Iterator<Item = (Digest, String, &'static str)> + '_ {
        let others = self.others.iter().map(|(name, kind)| (name, *kind));
        let links = self.links.keys().map(|name| (name, "a link"));
        others
            .chain(links)
            .filter_map(|(name, kind)| Some((named_digest(name)?, name.clone(), kind)))
    }

    /// Where the blob `digest` is in the archive file, when it was left in place.
    pub(crate) fn in_place(&self, digest: &Digest) -> Option<InPlace> {
        self.in_place.get(digest).copied()
    }

    /// The blobs left in place, by digest.
    pub(crate) fn placed(&self) -> &HashMap<Digest, InPlace> {
        &self.in_place
    }

    /// Every `blobs/<alg>/<hex>` member: the blobs of an OCI layout archive.
    pub(crate) fn oci_blobs(&self) -> impl Iterator<Item = &BlobInfo> {
        self.blobs
            .iter()
            .filter(|(name, _)| name.starts_with("blobs/"))
            .map(|(_, info)| info)
    }
}

/// Reads every member of the tar stream `reader` as the module docs say.
pub(crate) fn read_members(
    content: &ContentStore,
    reader: impl Read,
) -> Result<Members, ArchiveError> {
    let mut archive = Archive::new(reader);
    let entries = archive.entries().map_err(ArchiveError::reading)?;
    read_entries(content, entries, None)
}

/// Reads the members of the uncompressed archive `file` (`len` bytes, read from its first
/// byte), leaving its big blob members in place (see the module docs): the data of one named
/// by its digest is skipped, not read.
pub(crate) fn read_members_in_place(
    content: &ContentStore,
    file: impl Read + Seek,
    len: u64,
) -> Result<Members, ArchiveError> {
    let mut archive = Archive::new(file);
    let entries = archive.entries_with_seek().map_err(ArchiveError::reading)?;
    read_entries(content, entries, Some(len))
}

/// The members `entries` yields; `in_place`: the length of the archive file they are read
/// from, whose big blob members stay there.
fn read_entries<R: Read>(
    content: &ContentStore,
    entries: Entries<'_, R>,
    in_place: Option<u64>,
) -> Result<Members, ArchiveError> {
    let mut members = Members::default();
    for (position, entry) in entries.enumerate() {
        let mut entry = entry.map_err(|e| {
            // No valid first header (too short, a bad checksum) and no OS error: not a tar.
            if position == 0 && e.raw_os_error().is_none() && e.get_ref().is_some() {
                ArchiveError::NotAnArchive
            } else {
                ArchiveError::reading(e)
            }
        })?;
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = normalize(&raw_name).ok_or_else(|| ArchiveError::UnsafeMember {
            name: raw_name.clone(),
        })?;
        match entry.header().entry_type() {
            EntryType::Regular | EntryType::Continuous => {}
            EntryType::Symlink | EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                let resolved = if entry.header().entry_type() == EntryType::Symlink {
                    resolve_relative(&name, &target)
                } else {
                    normalize(&target)
                };
                members.links.insert(
                    name,
                    Link {
                        raw: target,
                        resolved,
                    },
                );
                continue;
            }
            // Directories, devices, FIFOs: nothing to keep (and never created anywhere).
            kind => {
                let kind = match kind {
                    EntryType::Directory => "a directory",
                    EntryType::Fifo => "a FIFO",
                    EntryType::Char => "a character device",
                    EntryType::Block => "a block device",
                    _ => "not a regular file",
                };
                members.others.insert(name, kind);
                continue;
            }
        }
        let size = entry.size();
        if JSON_MEMBERS.contains(&name.as_str()) {
            let bytes = read_json_member(&mut entry, &name, size)?;
            members.json.insert(name, bytes);
        } else if is_v1_compat_file(&name) {
            continue;
        } else if let Some(len) = in_place.filter(|_| size >= IN_PLACE_MIN) {
            let offset = entry.raw_file_position();
            check_complete(&name, len.saturating_sub(offset).min(size), size)?;
            let head = read_head(&mut entry)?;
            let place = InPlace {
                offset,
                size,
                compression: sniff(&head),
            };
            let info = match named_digest(&name) {
                // `blobs/sha256/<hex>`: the name is the digest claimed, and whoever reads the
                // bytes checks them against it, as a registry's are; the data is skipped.
                Some(digest) => BlobInfo { digest, size },
                // An uncompressed layer's digest is its diffID: skipped too, named later.
                None if place.compression == Compression::None => {
                    // A later member of the same name wins, as tar has it.
                    members.blobs.remove(&name);
                    members.unhashed.insert(name, place);
                    continue;
                }
                None => hash_member(&mut entry, &head, &name, size)?,
            };
            members.in_place.insert(info.digest.clone(), place);
            members.unhashed.remove(&name);
            members.blobs.insert(name, info);
        } else {
            let info = spool_member(content, &mut entry, &name, size)?;
            members.unhashed.remove(&name);
            members.blobs.insert(name, info);
        }
    }
    Ok(members)
}

fn read_json_member(entry: &mut impl Read, name: &str, size: u64) -> Result<Vec<u8>, ArchiveError> {
    if size > MAX_JSON_MEMBER {
        return Err(ArchiveError::MemberTooLarge {
            name: name.to_owned(),
            size,
            max: MAX_JSON_MEMBER,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    entry
        .take(MAX_JSON_MEMBER)
        .read_to_end(&mut bytes)
        .map_err(ArchiveError::reading)?;
    check_complete(name, bytes.len() as u64, size)?;
    Ok(bytes)
}

fn spool_member(
    content: &ContentStore,
    entry: &mut impl Read,
    name: &str,
    size: u64,
) -> Result<BlobInfo, ArchiveError> {
    // Large writes: tar hands out a member's bytes a few KiB at a time, and a write per
    // piece costs more than hashing it (a 2 GiB layer took 260 000 `write`s).
    let mut spool = BufWriter::with_capacity(SPOOL_WRITE, content.spool()?);
    let copied = io::copy(entry, &mut spool).map_err(ArchiveError::reading)?;
    let spool = spool
        .into_inner()
        .map_err(|e| ArchiveError::reading(e.into_error()))?;
    check_complete(name, copied, size)?;
    let info = spool.commit()?;
    check_named(name, &info)?;
    Ok(info)
}

/// Hashes a member left in place (see the module docs) whose first bytes `head` were read:
/// one not named by its digest, whose digest is known no other way.
fn hash_member(
    entry: &mut impl Read,
    head: &[u8],
    name: &str,
    size: u64,
) -> Result<BlobInfo, ArchiveError> {
    let (digest, read) = diff_id_of(head.chain(entry)).map_err(ArchiveError::reading)?;
    check_complete(name, read, size)?;
    Ok(BlobInfo { digest, size })
}

/// The first bytes of a member (up to 4: enough to tell its compression).
fn read_head(entry: &mut impl Read) -> Result<Vec<u8>, ArchiveError> {
    let mut head = Vec::with_capacity(4);
    entry
        .take(4)
        .read_to_end(&mut head)
        .map_err(ArchiveError::reading)?;
    Ok(head)
}

/// A `blobs/sha256/<hex>` member must hash to its name.
fn check_named(name: &str, info: &BlobInfo) -> Result<(), ArchiveError> {
    match named_digest(name) {
        Some(named) if named != info.digest => Err(ArchiveError::BlobDigestMismatch {
            name: name.to_owned(),
            actual: info.digest.clone(),
        }),
        _ => Ok(()),
    }
}

/// A member shorter than its header says: the stream ended inside it.
fn check_complete(name: &str, got: u64, size: u64) -> Result<(), ArchiveError> {
    if got == size {
        return Ok(());
    }
    Err(ArchiveError::Read(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the archive ends inside member {name:?} ({got} of {size} bytes): it is truncated"),
    )))
}

/// The digest a `blobs/sha256/<hex>` name claims.
fn named_digest(name: &str) -> Option<Digest> {
    let hex = name.strip_prefix("blobs/sha256/")?;
    Digest::from_hex(Algorithm::Sha256, hex).ok()
}

/// `<dir>/json` or `<dir>/VERSION`.
fn is_v1_compat_file(name: &str) -> bool {
    match name.split_once('/') {
        Some((dir, file)) => {
            !dir.is_empty() && !file.contains('/') && (file == V1_JSON_FILE || file == VERSION_FILE)
        }
        None => false,
    }
}

/// A member name without `.` and empty components; `None` if it is absolute or has `..`.
/// The archive's root (`.`, `./`) is the empty name.
pub(super) fn normalize(name: &str) -> Option<String> {
    if name.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            part => parts.push(part),
        }
    }
    // `./` (the root of a `tar -C DIR .`) normalises to the empty name: no member's.
    Some(parts.join("/"))
}

/// A symlink's target as a member name, relative to the link's directory; `None` if absolute
/// or if it climbs above the archive's root.
fn resolve_relative(link: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_dots_and_refuse_escapes() {
        assert_eq!(normalize("./a//b/./c").as_deref(), Some("a/b/c"));
        assert_eq!(normalize("/etc/passwd"), None);
        assert_eq!(normalize("a/../../x"), None);
        assert_eq!(normalize("../x"), None);
        assert_eq!(normalize("./").as_deref(), Some(""));
    }

    #[test]
    fn symlinks_resolve_within_the_archive_only() {
        assert_eq!(
            resolve_relative("b/layer.tar", "../a/layer.tar").as_deref(),
            Some("a/layer.tar")
        );
        assert_eq!(resolve_relative("b/layer.tar", "../../etc/passwd"), None);
        assert_eq!(resolve_relative("b/layer.tar", "/etc/passwd"), None);
    }

    #[test]
    fn v1_files_are_recognised() {
        assert!(is_v1_compat_file("abc/json"));
        assert!(is_v1_compat_file("abc/VERSION"));
        assert!(!is_v1_compat_file("abc/layer.tar"));
        assert!(!is_v1_compat_file("json"));
    }
}

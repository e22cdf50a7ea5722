//! Reading the blob and manifest files of a directory transport (`oci:`, `dir:`, the store's
//! own layout, an archive's staged members): [`open_regular`], [`read_manifest_file`],
//! [`stream_blob_file`].
//!
//! A layout or `dir:` directory is input: whoever wrote it chose what its files are. A
//! `blobs/sha256/<hex>` that is a symlink to `/root/.ssh/id_ed25519` (a 0600 file the user
//! running `hoist copy` as root can read) must not be read and sent on — into a 0644 ingest
//! file or, for a `docker://` destination, to a registry before the digest check refuses it
//! (issue 15, finding 4). So every such file is opened with `O_NOFOLLOW` (a symlink in the
//! last component fails with `ELOOP`) and `O_NONBLOCK` (opening a FIFO does not wait for a
//! writer), then `fstat`ed on the descriptor: anything but a regular file — a symlink, a
//! directory, a FIFO, a device, a socket — is refused with [`CopyError::NotRegularFile`],
//! before a byte is read. skopeo and umoci follow symlinks here; hoist does not, on purpose.
//!
//! Manifests are capped at [`MAX_MANIFEST_SIZE`] and verified against their descriptor's
//! digest here; blob bytes are streamed unverified, because the sink verifies them (see
//! [`super::source`]).

use std::fs::File;
use std::io::SeekFrom;
use std::path::Path;

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use rustix::fs::{FileType, Mode, OFlags};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::source::BlobStream;
use super::CopyError;
use crate::media::{Descriptor, MAX_MANIFEST_SIZE};
use crate::transfer::blocking;

/// Bytes read from a blob file per stream item.
const READ_PIECE: usize = 64 << 10;

/// What a non-regular file is, in words (`a symlink`, `a directory`, …).
fn describe(kind: FileType) -> &'static str {
    match kind {
        FileType::Symlink => "a symlink",
        FileType::Directory => "a directory",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        _ => "not a regular file",
    }
}

/// Opens `path` for reading if it is a regular file, never following a symlink in its last
/// component and never blocking on a FIFO. Blocking (one `open` and one `fstat`).
pub(crate) fn open_regular(location: &str, path: &Path) -> Result<File, CopyError> {
    let io = |action, source| CopyError::Io {
        location: location.to_owned(),
        action,
        path: path.display().to_string(),
        source,
    };
    let refuse = |kind| CopyError::NotRegularFile {
        location: location.to_owned(),
        path: path.display().to_string(),
        kind,
    };
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        // ELOOP: the last component is a symlink (O_NOFOLLOW).
        Err(rustix::io::Errno::LOOP) => return Err(refuse(describe(FileType::Symlink))),
        Err(e) => return Err(io("open", e.into())),
    };
    let stat = rustix::fs::fstat(&fd).map_err(|e| io("inspect", e.into()))?;
    let kind = FileType::from_raw_mode(stat.st_mode);
    if kind != FileType::RegularFile {
        return Err(refuse(describe(kind)));
    }
    // O_NONBLOCK means nothing for a regular file; clear it all the same so the descriptor
    // is an ordinary one.
    rustix::fs::fcntl_setfl(&fd, OFlags::empty()).map_err(|e| io("open", e.into()))?;
    Ok(File::from(fd))
}

/// [`open_regular`] on a blocking thread.
async fn open_regular_async(location: &str, path: &Path) -> Result<tokio::fs::File, CopyError> {
    let (owned_location, owned_path) = (location.to_owned(), path.to_owned());
    let file = blocking("the copy", move || {
        open_regular(&owned_location, &owned_path)
    })
    .await??;
    Ok(tokio::fs::File::from_std(file))
}

/// A small JSON file of a directory transport (`index.json`, a `dir:`'s `manifest.json`),
/// a regular file only, read up to [`MAX_MANIFEST_SIZE`] + 1 bytes (a larger one fails to
/// parse or verify).
pub(crate) async fn read_small_file(location: &str, path: &Path) -> Result<Vec<u8>, CopyError> {
    let file = open_regular_async(location, path).await?;
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_SIZE as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|source| CopyError::Io {
            location: location.to_owned(),
            action: "read",
            path: path.display().to_string(),
            source,
        })?;
    Ok(bytes)
}

/// The manifest file `path`, capped at [`MAX_MANIFEST_SIZE`] and verified against
/// `descriptor`'s digest.
pub(crate) async fn read_manifest_file(
    location: String,
    path: &Path,
    descriptor: &Descriptor,
) -> Result<Bytes, CopyError> {
    let bytes = read_small_file(&location, path).await?;
    let actual = crate::digest::Digest::of(descriptor.digest.algorithm(), &bytes);
    if actual != descriptor.digest {
        return Err(CopyError::DigestMismatch {
            location,
            expected: descriptor.digest.clone(),
            actual,
        });
    }
    Ok(Bytes::from(bytes))
}

/// The blob file `path` from `offset`, in 64 KiB pieces.
pub(crate) async fn stream_blob_file(
    location: String,
    path: &Path,
    offset: u64,
) -> Result<BlobStream, CopyError> {
    let mut file = open_regular_async(&location, path).await?;
    let shown = path.display().to_string();
    let io = move |action, source| CopyError::Io {
        location: location.clone(),
        action,
        path: shown.clone(),
        source,
    };
    file.seek(SeekFrom::Start(offset))
        .await
        .map_err(|e| io("seek", e))?;
    let pieces = stream::try_unfold((file, io), |(mut file, io)| async move {
        let mut buf = vec![0u8; READ_PIECE];
        let n = file.read(&mut buf).await.map_err(|e| io("read", e))?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), (file, io))))
    });
    Ok(pieces.boxed())
}

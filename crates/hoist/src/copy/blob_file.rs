//! Reading the blob and manifest files of a directory transport (`oci:`, `dir:`, the store's
//! own layout, an archive's staged members): [`open_regular`], [`read_manifest_file`],
//! [`stream_blob_file`] (read ahead on a thread of its own).
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
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use rustix::fs::{FileType, Mode, OFlags};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::source::{ended_checked, BlobStream};
use super::CopyError;
use crate::media::{Descriptor, MAX_MANIFEST_SIZE};
use crate::transfer::blocking;

/// Bytes read from a blob file per stream item.
const READ_PIECE: usize = 256 << 10;

/// Pieces read ahead of the stream's consumer.
const PIECES_AHEAD: usize = 4;

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

/// The blob file `path` from `offset`, in [`READ_PIECE`] pieces read ahead on a blocking
/// thread of its own ([`PIECES_AHEAD`] at most waiting).
pub(crate) async fn stream_blob_file(
    location: String,
    path: &Path,
    offset: u64,
) -> Result<BlobStream, CopyError> {
    let shown = path.display().to_string();
    let (opened_at, finished) = (location.clone(), shown.clone());
    let io = io_error(location, shown);
    let (seeking, path) = (io.clone(), path.to_owned());
    let (file, left) = blocking("the copy", move || {
        let mut file = open_regular(&opened_at, &path)?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| seeking("seek", e))?;
        let len = file.metadata().map_err(|e| seeking("inspect", e))?.len();
        Ok::<_, CopyError>((file, len.saturating_sub(offset)))
    })
    .await??;
    Ok(spawn_pieces(file, left, io, finished))
}

/// The `len` bytes of `file` from `start` (a blob left in place in an archive, the file
/// `shown` in messages), read with positioned reads (the file is shared) and streamed as
/// [`stream_blob_file`] streams a whole file; a file that ends sooner ends the stream sooner.
pub(crate) fn stream_file_range(
    location: String,
    shown: String,
    file: Arc<File>,
    start: u64,
    len: u64,
) -> BlobStream {
    let io = io_error(location, shown.clone());
    let range = FileRange {
        file,
        position: start,
        left: len,
    };
    spawn_pieces(range, len, io, shown)
}

/// The error of an I/O `action` on the file `path` of the copy from `location`.
fn io_error(
    location: String,
    path: String,
) -> impl Fn(&'static str, std::io::Error) -> CopyError + Clone + Send + 'static {
    move |action, source| CopyError::Io {
        location: location.clone(),
        action,
        path: path.clone(),
        source,
    }
}

/// A part of a shared file, as a reader (`pread`: no shared cursor).
struct FileRange {
    file: Arc<File>,
    position: u64,
    left: u64,
}

impl Read for FileRange {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = usize::try_from(self.left).map_or(buf.len(), |left| left.min(buf.len()));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.position)?;
        self.position += n as u64;
        self.left -= n as u64;
        Ok(n)
    }
}

/// `reader`'s pieces ([`read_pieces`]) on a blocking thread of its own, as a stream; `shown`
/// names the file if the thread stops without finishing.
fn spawn_pieces(
    reader: impl Read + Send + 'static,
    left: u64,
    io: impl Fn(&'static str, std::io::Error) -> CopyError + Send + 'static,
    shown: String,
) -> BlobStream {
    let (pieces, received) = mpsc::channel(PIECES_AHEAD);
    let done = Arc::new(AtomicBool::new(false));
    let ended = Arc::clone(&done);
    tokio::task::spawn_blocking(move || {
        read_pieces(reader, left, &pieces, &io);
        ended.store(true, Ordering::Release);
    });
    ended_checked(received, done, move || {
        CopyError::interrupted(format!("reading blob file {shown} stopped"))
    })
}

/// Sends `file`'s pieces until its end, its first error, or the stream's being dropped;
/// `left`, the bytes it held when opened, sizes them (a small blob gets a small piece).
fn read_pieces(
    mut file: impl Read,
    mut left: u64,
    pieces: &mpsc::Sender<Result<Bytes, CopyError>>,
    io: &impl Fn(&'static str, std::io::Error) -> CopyError,
) {
    loop {
        // Read into the vector's spare capacity: a file fills it without zeroing it first.
        let size = usize::try_from(left).map_or(READ_PIECE, |n| n.clamp(1, READ_PIECE));
        let mut piece = Vec::with_capacity(size);
        let read = Read::by_ref(&mut file)
            .take(READ_PIECE as u64)
            .read_to_end(&mut piece);
        let item = match read {
            Ok(0) => return,
            Ok(n) => {
                left = left.saturating_sub(n as u64);
                Ok(Bytes::from(piece))
            }
            Err(e) => Err(io("read", e)),
        };
        let failed = item.is_err();
        if pieces.blocking_send(item).is_err() || failed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    async fn streamed(path: &Path, offset: u64) -> (Vec<u8>, Vec<usize>) {
        let mut stream = stream_blob_file("test".into(), path, offset).await.unwrap();
        let (mut bytes, mut pieces) = (Vec::new(), Vec::new());
        while let Some(piece) = stream.next().await {
            let piece = piece.unwrap();
            pieces.push(piece.len());
            bytes.extend_from_slice(&piece);
        }
        (bytes, pieces)
    }

    /// The bytes from the offset asked for, in pieces of at most `READ_PIECE`, whatever the
    /// file's length against the piece size (shorter, a multiple, one byte over).
    #[tokio::test]
    async fn streams_the_file_from_the_offset_in_bounded_pieces() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, READ_PIECE - 1, READ_PIECE, 3 * READ_PIECE + 1] {
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let path = dir.path().join(format!("blob-{len}"));
            std::fs::write(&path, &data).unwrap();
            for offset in [0, len / 2, len] {
                let (bytes, pieces) = streamed(&path, offset as u64).await;
                assert!(bytes == data[offset..], "{len} bytes from {offset}");
                assert!(
                    pieces.iter().all(|&n| n > 0 && n <= READ_PIECE),
                    "{pieces:?}"
                );
            }
        }
    }

    /// A stream dropped after its first piece lets its reader go (the test would hang on the
    /// runtime's shutdown otherwise), and a symlink is refused before anything is read.
    #[tokio::test]
    async fn a_dropped_stream_stops_and_a_symlink_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, vec![7u8; 20 * READ_PIECE]).unwrap();
        let mut stream = stream_blob_file("test".into(), &path, 0).await.unwrap();
        assert_eq!(stream.next().await.unwrap().unwrap().len(), READ_PIECE);
        drop(stream);

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let refused = stream_blob_file("test".into(), &link, 0).await.err();
        assert!(matches!(refused, Some(CopyError::NotRegularFile { .. })));
    }

    /// A range of a shared file: its bytes only, in bounded pieces, read by two streams at
    /// once; a range past the file's end ends where the file does.
    #[tokio::test]
    async fn a_range_streams_its_bytes_only_and_ends_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("archive");
        let data: Vec<u8> = (0..3 * READ_PIECE + 7).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = Arc::new(File::open(&path).unwrap());
        let collect = |start: usize, len: usize| {
            let stream = stream_file_range(
                "test".into(),
                "archive".into(),
                Arc::clone(&file),
                start as u64,
                len as u64,
            );
            async move {
                let pieces: Vec<Bytes> = stream.map(Result::unwrap).collect().await;
                assert!(pieces
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= READ_PIECE));
                pieces.concat()
            }
        };
        let (a, b) = tokio::join!(collect(5, 2 * READ_PIECE), collect(READ_PIECE + 1, 9));
        assert!(a == data[5..5 + 2 * READ_PIECE]);
        assert!(b == data[READ_PIECE + 1..READ_PIECE + 10]);
        let past = collect(data.len() - 3, 100).await;
        assert!(past == data[data.len() - 3..], "ends with the file");
        assert!(collect(data.len(), 10).await.is_empty());
    }
}

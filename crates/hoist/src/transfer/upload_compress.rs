//! Compressing a stored uncompressed layer while it is uploaded, keeping the compressed blob
//! (push's writer for docker-archive loads, `crate::push`).
//!
//! Corresponds to docker 20.10's `v2PushDescriptor.uploadUsingSession` for a layer with no
//! compressed blob: docker pipes the layer tar through `compression.CompressStream` into the
//! upload session and learns the digest at the end (`PUT ?digest=`). hoist does the same and,
//! like containerd's converters, also keeps what it sent: the compressed bytes are teed into a
//! [`Spool`] of the content store, so the next push (to this registry or another) re-sends
//! exactly these bytes, and a failed attempt resumes from the stored blob instead of
//! compressing again.
//!
//! One [`Compression`] task runs on a blocking thread per layer: read the stored tar (the
//! blob named by its diffID) → [`Encoder`] (parallel gzip or multithreaded zstd, see
//! [`crate::compress`]) → tee: the spool, and (optionally) a bounded channel whose receiver
//! is the body of one streamed `PATCH`. Memory stays bounded: the channel holds
//! [`CHANNEL_PIECES`] pieces of [`PIECE_SIZE`] bytes, the encoder its blocks in flight.
//!
//! When the network side goes away (the `PATCH` failed), the task keeps compressing into the
//! spool so the next attempt has the whole blob; when the [`CompressTask`] is dropped (the
//! push was abandoned), the task stops at its next read and the spool is discarded.
//!
//! [`Compression`]: super::Compression

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::upload_body::SendError;
use super::Compression;
use crate::compress::Encoder;
use crate::digest::Digest;
use crate::progress::PushReporter;
use crate::store::{BlobInfo, ContentStore, Spool};

/// Bytes per piece handed to the network.
pub(crate) const PIECE_SIZE: usize = 256 << 10;
/// Pieces the channel to the network holds.
pub(crate) const CHANNEL_PIECES: usize = 8;
/// Bytes read from the stored tar at a time.
const READ_SIZE: usize = 1 << 20;

/// What the network side receives: compressed pieces, or the error that ended compression.
pub(crate) type Piece = io::Result<Bytes>;

/// The layer to compress.
#[derive(Debug, Clone)]
pub(crate) struct CompressJob {
    pub(crate) content: ContentStore,
    pub(crate) diff_id: Digest,
    pub(crate) size: u64,
    pub(crate) compression: Compression,
    pub(crate) workers: usize,
}

/// A running compression; dropping it stops the work and discards the partial blob.
#[derive(Debug)]
pub(crate) struct CompressTask {
    diff_id: Digest,
    handle: Option<tokio::task::JoinHandle<Result<BlobInfo, SendError>>>,
    cancel: Arc<AtomicBool>,
}

impl CompressTask {
    /// Starts compressing `job` into the store, sending the compressed pieces to `network`
    /// if given, and reporting uncompressed bytes read to `reporter`.
    pub(crate) fn start(
        job: CompressJob,
        network: Option<mpsc::Sender<Piece>>,
        reporter: PushReporter,
    ) -> CompressTask {
        let cancel = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&cancel);
        let diff_id = job.diff_id.clone();
        let handle = tokio::task::spawn_blocking(move || compress(&job, network, reporter, &stop));
        CompressTask {
            diff_id,
            handle: Some(handle),
            cancel,
        }
    }

    /// Waits for the compressed blob to be in the store. The outcome is handed out once;
    /// a later call reports the task as gone.
    pub(crate) async fn wait(&mut self) -> Result<BlobInfo, SendError> {
        let lost = |reason: String| SendError::Compress {
            diff_id: self.diff_id.clone(),
            source: io::Error::other(reason),
        };
        let Some(handle) = self.handle.take() else {
            return Err(lost("compression outcome already collected".into()));
        };
        handle.await.map_err(|e| lost(e.to_string()))?
    }
}

impl Drop for CompressTask {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// The blocking side: stored tar → encoder → spool (+ network), then commit.
fn compress(
    job: &CompressJob,
    network: Option<mpsc::Sender<Piece>>,
    mut reporter: PushReporter,
    cancel: &AtomicBool,
) -> Result<BlobInfo, SendError> {
    let fail = |source: io::Error| SendError::Compress {
        diff_id: job.diff_id.clone(),
        source,
    };
    let mut tar = job
        .content
        .open_blob(&job.diff_id)
        .map_err(|source| SendError::Store {
            digest: job.diff_id.clone(),
            source,
        })?;
    let spool = job.content.spool().map_err(|source| SendError::Store {
        digest: job.diff_id.clone(),
        source,
    })?;
    // A failed compression must not end the request body cleanly (the registry would hold a
    // truncated upload): this handle tells the receiver about the failure.
    let failure = network.clone();
    let tee = Tee {
        spool,
        network,
        piece: Vec::with_capacity(PIECE_SIZE),
    };
    let result = (|| {
        let mut encoder = Encoder::new(job.compression, tee, job.workers)?;
        let mut buf = vec![0u8; READ_SIZE];
        let mut read = 0u64;
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "push abandoned"));
            }
            let n = tar.read(&mut buf)?;
            if n == 0 {
                break;
            }
            encoder.write_all(&buf[..n])?;
            read += n as u64;
            reporter.report(read);
        }
        if read != job.size {
            return Err(io::Error::other(format!(
                "stored layer has {read} bytes, {} recorded",
                job.size
            )));
        }
        let mut tee = encoder.finish()?;
        tee.send_piece()?;
        Ok(tee)
    })();
    match result {
        Ok(tee) => {
            // Dropping both senders ends the request body.
            drop(failure);
            let Tee { spool, network, .. } = tee;
            drop(network);
            spool.commit().map_err(|source| SendError::Store {
                digest: job.diff_id.clone(),
                source,
            })
        }
        Err(e) => {
            if let Some(network) = failure {
                let _ = network.blocking_send(Err(io::Error::new(e.kind(), e.to_string())));
            }
            Err(fail(e))
        }
    }
}

/// Writes to the spool and, while the network side listens, to the channel.
struct Tee {
    spool: Spool,
    network: Option<mpsc::Sender<Piece>>,
    piece: Vec<u8>,
}

impl Tee {
    /// Hands the collected bytes to the network side; a closed channel (the request failed)
    /// is let go and writing continues into the spool alone.
    fn send_piece(&mut self) -> io::Result<()> {
        if self.piece.is_empty() {
            return Ok(());
        }
        let piece = Bytes::from(std::mem::replace(
            &mut self.piece,
            Vec::with_capacity(PIECE_SIZE),
        ));
        if let Some(network) = &self.network {
            if network.blocking_send(Ok(piece)).is_err() {
                self.network = None;
            }
        }
        Ok(())
    }
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.spool.write(buf)?;
        if self.network.is_some() {
            self.piece.extend_from_slice(&buf[..n]);
            if self.piece.len() >= PIECE_SIZE {
                self.send_piece()?;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

//! The compression step on the source side of a copy: [`CompressedLayer`], a layer as the
//! source holds it, (re)compressed into the format a copy asks for
//! ([`CopyOptions::compression`](super::CopyOptions::compression), skopeo's `--dest-compress`;
//! push's compression of layers loaded uncompressed), as a [`BlobInput`] any sink's one
//! [`BlobWriter`](super::BlobWriter) reads.
//!
//! containers/image's `blobPipelineCompressionStep` and go-containerregistry's
//! `stream.NewLayer`: the source's bytes stream through a blocking thread — hashed (they must
//! be the layer the descriptor names), decompressed if they were compressed otherwise, hashed
//! again (the diffID), compressed with [`Encoder`] — and come out as the blob's stream, whose
//! digest and size the writer learns by hashing what it receives (the registry's closing
//! `PUT ?digest=`, a spool in a content store). docker 20.10 does the same for a layer it holds
//! uncompressed (`v2PushDescriptor.uploadUsingSession` through `compression.CompressStream`).
//!
//! # Verification
//! The stream ends cleanly only when the source's bytes had the layer's size and digest: a
//! mismatch ends it with [`CopyError::DigestMismatch`] or [`CopyError::SizeMismatch`], so a
//! writer never commits what an unverified layer became. A source whose blobs were verified
//! when stored (push's local store, [`ImageSource::verified_at_rest`]) has only its size
//! checked, and an uncompressed sha256 layer is hashed once: its digest is its diffID. The
//! diffID is [`BlobInput::diff_id`] afterwards (push records it beside the new digest). The
//! compressed bytes are hashed once too — by the spool that keeps them, or by the pass — and
//! their digest is [`BlobInput::made_digest`], so the writer only counts them.
//!
//! # Resuming
//! hoist's encoders make bytes that depend on the input alone (`crate::compress`), so the
//! step can be opened again at any offset: it compresses from the start and skips what the
//! writer already holds — how a registry upload resumes after a reset, or goes on in chunks
//! after a `413`. A sink that keeps compressed layers ([`ImageSink::keeps_compressed_in`],
//! push) also gets every byte teed into a spool of its content store, committed when the
//! stream verified — the pass goes on into the spool when its writer gives up, and the next
//! opening waits for it, then reads that blob instead of compressing again.
//!
//! A source that keeps its blobs as local files ([`ImageSource::blob_file`]: the store, `oci:`,
//! `dir:`, an archive) is read on the pass's own thread; a registry's stream comes through a
//! channel. Memory stays bounded: channels of a few pieces, and the encoder's blocks in flight.
//!
//! [`ImageSink::keeps_compressed_in`]: super::ImageSink::keeps_compressed_in

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::blob_file::{open_regular, stream_blob_file};
use super::blob_input::{BlobInput, Measure};
use super::convert::compressed_layer_type;
use super::layout::blob_path;
use super::source::{ended_checked, BlobStream, CopyFuture, ImageSource};
use super::CopyError;
use crate::compress::{Compression, Decoder, Encoder};
use crate::digest::{Algorithm, Digest, Hasher};
use crate::media::Descriptor;
use crate::store::{ContentStore, Spool};
use crate::transfer::TransferError;

/// Pieces in flight on each side of the encoder thread.
const DEPTH: usize = 4;
/// Bytes per compressed piece handed to the writer.
const PIECE: usize = 256 << 10;
/// Bytes decompressed at a time.
const READ: usize = 256 << 10;

/// One layer compressed on the way. See the module docs.
pub(crate) struct CompressedLayer<'a> {
    source: &'a dyn ImageSource,
    layer: Descriptor,
    from: Compression,
    to: Compression,
    workers: usize,
    media_type: String,
    keep: Option<ContentStore>,
    /// Source bytes read by the current opening.
    read: Arc<AtomicU64>,
    made: Arc<Mutex<Made>>,
    /// Held by the pass that tees into `keep` until it ends: the next opening waits for it
    /// and reads the kept blob rather than compressing the layer a second time.
    keeping: Arc<tokio::sync::Mutex<()>>,
}

/// What a verified pass left.
#[derive(Debug, Default, Clone)]
struct Made {
    diff_id: Option<Digest>,
    /// The compressed bytes' digest (the kept blob's, or the pass's own hash without a spool).
    digest: Option<Digest>,
    /// The compressed blob kept in the sink's content store.
    kept: Option<Digest>,
}

impl<'a> CompressedLayer<'a> {
    /// The layer `layer` of `source`, compressed with `to` on `workers` threads (at least one;
    /// the bytes do not depend on it), a copy kept in `keep` if given.
    pub(crate) fn new(
        source: &'a dyn ImageSource,
        layer: Descriptor,
        to: Compression,
        workers: usize,
        keep: Option<ContentStore>,
    ) -> CompressedLayer<'a> {
        let from = layer
            .layer_media_type()
            .map(|t| Compression::from(t.compression))
            .unwrap_or_default();
        CompressedLayer {
            source,
            media_type: compressed_layer_type(&layer.media_type, to).to_owned(),
            layer,
            from,
            to,
            workers,
            keep,
            read: Arc::new(AtomicU64::new(0)),
            made: Arc::default(),
            keeping: Arc::default(),
        }
    }

    fn made(&self) -> Made {
        self.made
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn start(&self, offset: u64) -> Result<BlobStream, CopyError> {
        // A pass keeping the blob goes on when its writer gave up: wait for its end.
        let keeping = match &self.keep {
            Some(_) => Some(Arc::clone(&self.keeping).lock_owned().await),
            None => None,
        };
        if let (Some(content), Some(kept)) = (&self.keep, self.made().kept) {
            let path = blob_path(content.root(), &kept);
            return stream_blob_file(self.location(), &path, offset).await;
        }
        self.read.store(0, Ordering::Relaxed);
        let feed = match self.source.blob_file(&self.layer)? {
            // A local file is read on the pass's own thread: no stream, no channel.
            Some(path) => Feed::File(path),
            None => Feed::Stream(self.forward_blob().await?),
        };
        let spool =
            match &self.keep {
                Some(content) => Some(content.spool().map_err(|e| {
                    CopyError::store(&self.location(), "keep a compressed layer", e)
                })?),
                None => None,
            };
        let (output, output_rx) = mpsc::channel::<Result<Bytes, CopyError>>(DEPTH);
        let done = Arc::new(AtomicBool::new(false));
        let pass = Pass {
            layer: self.layer.clone(),
            location: self.location(),
            check: !self.source.verified_at_rest(),
            from: self.from,
            to: self.to,
            workers: self.workers,
            read: Arc::clone(&self.read),
            made: Arc::clone(&self.made),
            done: Arc::clone(&done),
        };
        let out = Output {
            channel: Some(output),
            skip: offset,
            piece: Vec::with_capacity(PIECE),
            hasher: spool.is_none().then(|| Hasher::new(Algorithm::Sha256)),
            spool,
        };
        tokio::task::spawn_blocking(move || {
            pass.run(feed, out);
            drop(keeping);
        });
        let layer = self.layer.digest.clone();
        Ok(ended_checked(output_rx, done, move || {
            CopyError::interrupted(format!("compressing layer {layer} stopped"))
        }))
    }

    /// The source's blob stream, forwarded into a channel the pass's thread reads.
    async fn forward_blob(&self) -> Result<mpsc::Receiver<Result<Bytes, CopyError>>, CopyError> {
        let mut stream = self.source.open_blob(&self.layer, 0).await?;
        let (input, input_rx) = mpsc::channel::<Result<Bytes, CopyError>>(DEPTH);
        tokio::spawn(async move {
            while let Some(item) = stream.next().await {
                let failed = item.is_err();
                if input.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(input_rx)
    }
}

/// Where a pass reads the source's bytes.
enum Feed {
    /// The blob's local file ([`ImageSource::blob_file`]), opened by the pass.
    File(PathBuf),
    /// The source's stream, forwarded into a channel.
    Stream(mpsc::Receiver<Result<Bytes, CopyError>>),
}

impl BlobInput for CompressedLayer<'_> {
    fn media_type(&self) -> &str {
        &self.media_type
    }

    fn descriptor(&self) -> Option<&Descriptor> {
        None
    }

    fn id(&self) -> &Digest {
        &self.layer.digest
    }

    fn location(&self) -> String {
        self.source.location()
    }

    fn open(&self, offset: u64) -> CopyFuture<'_, BlobStream> {
        Box::pin(self.start(offset))
    }

    fn measure(&self) -> Measure {
        Measure::read(Arc::clone(&self.read), self.layer.size)
    }

    fn diff_id(&self) -> Option<Digest> {
        self.made().diff_id
    }

    fn hashes_itself(&self) -> bool {
        true
    }

    fn made_digest(&self) -> Option<Digest> {
        self.made().digest
    }
}

/// One pass over the source on a blocking thread.
struct Pass {
    layer: Descriptor,
    location: String,
    /// Hash the source's bytes against the layer's digest (not for a source verified at rest).
    check: bool,
    from: Compression,
    to: Compression,
    workers: usize,
    read: Arc<AtomicU64>,
    made: Arc<Mutex<Made>>,
    done: Arc<AtomicBool>,
}

impl Pass {
    fn run(self, feed: Feed, out: Output) {
        let failure = out.channel.clone();
        let result = self
            .open(feed)
            .and_then(|mut reader| self.compress(&mut reader, out));
        match result {
            Ok(()) => self.done.store(true, Ordering::Release),
            Err(e) => {
                if let Some(failure) = failure {
                    let _ = failure.blocking_send(Err(e));
                }
            }
        }
    }

    fn open(&self, feed: Feed) -> Result<Input, CopyError> {
        let source = match feed {
            Feed::File(path) => Source::File {
                file: open_regular(&self.location, &path)?,
                location: self.location.clone(),
                path,
            },
            Feed::Stream(channel) => Source::Stream {
                channel,
                pending: Bytes::new(),
            },
        };
        Ok(Input {
            source,
            hasher: self
                .check
                .then(|| Hasher::new(self.layer.digest.algorithm())),
            taken: 0,
            read: Arc::clone(&self.read),
            failure: None,
        })
    }

    fn compress(&self, reader: &mut Input, out: Output) -> Result<(), CopyError> {
        let interrupted = |e: io::Error| {
            CopyError::interrupted(format!("compressing layer {}: {e}", self.layer.digest))
        };
        let mut encoder = Encoder::new(self.to, out, self.workers).map_err(interrupted)?;
        // An uncompressed sha256 layer is its own tar: the source digest verified below is
        // the diffID, so its bytes are hashed once, not twice.
        let plain =
            self.from == Compression::None && self.layer.digest.algorithm() == Algorithm::Sha256;
        let mut diff_id = (!plain).then(|| Hasher::new(Algorithm::Sha256));
        let mut decoder = Decoder::new(self.from, &mut *reader).map_err(|e| self.decompress(e))?;
        let mut buf = vec![0u8; READ];
        let decoded = loop {
            match decoder.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    if let Some(diff_id) = &mut diff_id {
                        diff_id.update(&buf[..n]);
                    }
                    encoder.write_all(&buf[..n]).map_err(interrupted)?;
                }
                Err(e) => break Err(e),
            }
        };
        drop(decoder);
        if let Err(e) = decoded {
            return Err(reader.failure.take().unwrap_or_else(|| self.decompress(e)));
        }
        // Bytes after the compressed stream's end still count for the digest.
        io::copy(reader, &mut io::sink()).map_err(|e| match reader.failure.take() {
            Some(failure) => failure,
            None => interrupted(e),
        })?;
        self.verify(reader)?;
        let mut out = encoder.finish().map_err(interrupted)?;
        out.send_piece().map_err(interrupted)?;
        let kept = match out.spool.take() {
            Some(spool) => Some(
                spool
                    .commit()
                    .map_err(|e| CopyError::store(&self.location, "keep a compressed layer", e))?
                    .digest,
            ),
            None => None,
        };
        let digest = kept
            .clone()
            .or_else(|| out.hasher.take().map(Hasher::finish));
        let mut made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
        made.digest = digest;
        made.diff_id = Some(match diff_id {
            Some(diff_id) => diff_id.finish(),
            None => self.layer.digest.clone(),
        });
        if kept.is_some() {
            made.kept = kept;
        }
        Ok(())
    }

    fn decompress(&self, e: io::Error) -> CopyError {
        CopyError::Transfer {
            location: self.location.clone(),
            source: Box::new(TransferError::Decompress {
                digest: self.layer.digest.clone(),
                format: self.from,
                source: Arc::new(e),
            }),
        }
    }

    /// The source's bytes were the layer the descriptor names (only their size, for a source
    /// verified at rest).
    fn verify(&self, input: &Input) -> Result<(), CopyError> {
        if input.taken != self.layer.size {
            return Err(CopyError::SizeMismatch {
                location: self.location.clone(),
                digest: self.layer.digest.clone(),
                expected: self.layer.size,
                actual: input.taken,
            });
        }
        let Some(hasher) = &input.hasher else {
            return Ok(());
        };
        let actual = hasher.clone().finish();
        if actual != self.layer.digest {
            return Err(CopyError::DigestMismatch {
                location: self.location.clone(),
                expected: self.layer.digest.clone(),
                actual,
            });
        }
        Ok(())
    }
}

/// The source's bytes as a [`Read`], hashed and counted as they are taken.
struct Input {
    source: Source,
    /// `None` for a source verified at rest: the bytes are only counted.
    hasher: Option<Hasher>,
    /// Bytes taken.
    taken: u64,
    read: Arc<AtomicU64>,
    /// The source's own error, kept to be reported instead of the I/O error it became.
    failure: Option<CopyError>,
}

/// An opened [`Feed`].
enum Source {
    File {
        file: File,
        /// The source and the file, for a read error's message.
        location: String,
        path: PathBuf,
    },
    Stream {
        channel: mpsc::Receiver<Result<Bytes, CopyError>>,
        pending: Bytes,
    },
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.source {
            Source::File {
                file,
                location,
                path,
            } => match file.read(buf) {
                Ok(n) => n,
                Err(e) => {
                    let message = e.to_string();
                    self.failure = Some(CopyError::Io {
                        location: location.clone(),
                        action: "read",
                        path: path.display().to_string(),
                        source: e,
                    });
                    return Err(io::Error::other(message));
                }
            },
            Source::Stream { channel, pending } => {
                while pending.is_empty() {
                    match channel.blocking_recv() {
                        Some(Ok(chunk)) => *pending = chunk,
                        Some(Err(e)) => {
                            let message = e.to_string();
                            self.failure = Some(e);
                            return Err(io::Error::other(message));
                        }
                        None => return Ok(0),
                    }
                }
                let n = buf.len().min(pending.len());
                buf[..n].copy_from_slice(&pending.split_to(n));
                n
            }
        };
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        self.taken += n as u64;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The compressed bytes: into the spool, and, past the first `skip` bytes, to the writer in
/// pieces. When the writer goes away the pass stops, unless a spool still wants the bytes.
struct Output {
    channel: Option<mpsc::Sender<Result<Bytes, CopyError>>>,
    skip: u64,
    piece: Vec<u8>,
    spool: Option<Spool>,
    /// The digest of every byte made, when no spool hashes them.
    hasher: Option<Hasher>,
}

impl Output {
    fn send_piece(&mut self) -> io::Result<()> {
        if self.piece.is_empty() {
            return Ok(());
        }
        let piece = Bytes::from(std::mem::replace(
            &mut self.piece,
            Vec::with_capacity(PIECE),
        ));
        if let Some(channel) = &self.channel {
            if channel.blocking_send(Ok(piece)).is_err() {
                self.channel = None;
            }
        }
        if self.channel.is_none() && self.spool.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the writer went away",
            ));
        }
        Ok(())
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(spool) = &mut self.spool {
            spool.write_all(buf)?;
        }
        if let Some(hasher) = &mut self.hasher {
            hasher.update(buf);
        }
        // Below `skip`, so it fits the buffer's usize length.
        let skipped = self.skip.min(buf.len() as u64) as usize;
        self.skip -= skipped as u64;
        if self.channel.is_some() {
            self.piece.extend_from_slice(&buf[skipped..]);
            if self.piece.len() >= PIECE {
                self.send_piece()?;
            }
        } else if self.spool.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the writer went away",
            ));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

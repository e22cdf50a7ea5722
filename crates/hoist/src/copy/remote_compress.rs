//! Compressing an uncompressed layer from any source while uploading it to a registry:
//! [`RemoteCompressWriter`], [`RegistryImage`](super::RegistryImage)'s
//! [`ImageSink::compressing_writer`](super::ImageSink::compressing_writer).
//!
//! What `skopeo copy --dest-compress` does to a registry, and docker's
//! `v2PushDescriptor.uploadUsingSession` for a layer with no compressed blob: the source's
//! bytes are read as a stream, compressed on a blocking thread ([`Encoder`]: parallel gzip or
//! multithreaded zstd, bytes independent of the thread count), and the compressed bytes go up
//! in one streamed `PATCH` with no length; the closing `PUT ?digest=` names the digest learnt
//! at the end. The uncompressed bytes are hashed on the way and must match the layer's
//! descriptor (digest and size), else the session is cancelled before the `PUT`
//! ([`CopyError::DigestMismatch`]): nothing unverified reaches the registry.
//!
//! Unlike push's writer (which keeps the compressed blob in the content store and resumes from
//! it), there is nowhere to keep the bytes: a failed attempt compresses again on a new
//! session, and a registry that asks for chunks (`OCI-Chunk-Min-Length`) or refuses the
//! stream with `413` is answered with [`CopyError::TooLarge`]. Memory stays bounded: two
//! channels of a few pieces each, and the encoder's blocks in flight.

use std::io::{self, Write};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::sink::CompressingWriter;
use super::source::ImageSource;
use super::CopyError;
use crate::compress::Encoder;
use crate::digest::{Algorithm, Digest, Hasher};
use crate::media::Descriptor;
use crate::progress::{ProgressSink, PushReporter};
use crate::registry::{RegistryError, RemoteRepository};
use crate::transfer::Compression;

/// Pieces in flight on each side of the encoder.
const DEPTH: usize = 4;
/// Bytes per compressed piece handed to the network.
const PIECE: usize = 256 << 10;

/// Compresses one layer into a registry repository (see the module docs).
pub struct RemoteCompressWriter {
    repo: RemoteRepository,
    location: String,
    descriptor: Descriptor,
    compression: Compression,
    workers: usize,
}

/// What the encoder thread saw: the uncompressed input and the compressed output.
struct Hashed {
    input: Digest,
    input_size: u64,
    output: Digest,
    output_size: u64,
}

impl RemoteCompressWriter {
    /// A writer of `descriptor` (uncompressed) into `repo`, compressed with `compression` on
    /// `workers` threads; `location` names the destination in errors.
    pub fn new(
        repo: RemoteRepository,
        location: String,
        descriptor: Descriptor,
        compression: Compression,
        workers: usize,
    ) -> RemoteCompressWriter {
        RemoteCompressWriter {
            repo,
            location,
            descriptor,
            compression,
            workers,
        }
    }

    fn registry_error(&self, e: RegistryError) -> CopyError {
        if e.status() == Some(413) {
            return self.too_large();
        }
        CopyError::upload(
            &self.location,
            format!("upload layer {} compressed", self.descriptor.digest),
            e,
        )
    }

    fn too_large(&self) -> CopyError {
        CopyError::TooLarge {
            location: self.location.clone(),
            digest: self.descriptor.digest.clone(),
            chunk: 0,
        }
    }

    async fn attempt(
        &mut self,
        source: &dyn ImageSource,
        progress: Option<&Arc<dyn ProgressSink>>,
    ) -> Result<Descriptor, CopyError> {
        let mut session = self
            .repo
            .start_upload()
            .await
            .map_err(|e| self.registry_error(e))?;
        if session.min_chunk_size().is_some() {
            let _ = session.cancel().await;
            return Err(self.too_large());
        }
        let mut stream = source.open_blob(&self.descriptor, 0).await?;
        let (input, input_rx) = mpsc::channel::<Option<Bytes>>(DEPTH);
        let (output, mut output_rx) = mpsc::channel::<io::Result<Bytes>>(DEPTH);
        let (compression, workers) = (self.compression, self.workers);
        let algorithm = self.descriptor.digest.algorithm();
        let encoder = tokio::task::spawn_blocking(move || {
            encode(input_rx, output, compression, workers, algorithm)
        });

        let mut reporter =
            PushReporter::new(progress, &self.descriptor.digest, self.descriptor.size);
        let feed = async {
            let mut read = 0u64;
            while let Some(item) = stream.next().await {
                let chunk = match item {
                    Ok(chunk) => chunk,
                    Err(e) => {
                        // An unfinished input must not end the request body cleanly.
                        let _ = input.send(None).await;
                        return Err(e);
                    }
                };
                read += chunk.len() as u64;
                reporter.report(read);
                if input.send(Some(chunk)).await.is_err() {
                    break;
                }
            }
            drop(input);
            Ok(())
        };
        let body = futures_util::stream::poll_fn(move |cx| output_rx.poll_recv(cx));
        let send = session.write_stream(reqwest::Body::wrap_stream(body), None);
        let (fed, sent) = tokio::join!(feed, send);
        let hashed = encoder.await.map_err(|e| CopyError::Interrupted {
            reason: e.to_string(),
        })?;
        fed?;
        if let Err(e) = sent {
            let _ = session.cancel().await;
            return Err(self.registry_error(e));
        }
        let hashed = match hashed {
            Ok(hashed) => hashed,
            Err(e) => {
                let _ = session.cancel().await;
                return Err(CopyError::Interrupted {
                    reason: format!("compressing layer {}: {e}", self.descriptor.digest),
                });
            }
        };
        if let Err(e) = self.check(&hashed) {
            let _ = session.cancel().await;
            return Err(e);
        }
        session
            .finish(&hashed.output, None)
            .await
            .map_err(|e| self.registry_error(e))?;
        Ok(Descriptor::new("", hashed.output, hashed.output_size))
    }

    /// The uncompressed bytes were the layer the descriptor names.
    fn check(&self, hashed: &Hashed) -> Result<(), CopyError> {
        if hashed.input_size != self.descriptor.size {
            return Err(CopyError::SizeMismatch {
                location: self.location.clone(),
                digest: self.descriptor.digest.clone(),
                expected: self.descriptor.size,
                actual: hashed.input_size,
            });
        }
        if hashed.input != self.descriptor.digest {
            return Err(CopyError::DigestMismatch {
                location: self.location.clone(),
                expected: self.descriptor.digest.clone(),
                actual: hashed.input.clone(),
            });
        }
        Ok(())
    }
}

impl CompressingWriter for RemoteCompressWriter {
    fn write<'a>(
        &'a mut self,
        source: &'a dyn ImageSource,
        progress: Option<&'a Arc<dyn ProgressSink>>,
    ) -> BoxFuture<'a, Result<Descriptor, CopyError>> {
        Box::pin(self.attempt(source, progress))
    }
}

/// The blocking side: input pieces → hash → encoder → hash → output pieces. A `None` input
/// piece means the source failed.
fn encode(
    mut input: mpsc::Receiver<Option<Bytes>>,
    output: mpsc::Sender<io::Result<Bytes>>,
    compression: Compression,
    workers: usize,
    algorithm: Algorithm,
) -> io::Result<Hashed> {
    let failure = output.clone();
    let result = (|| {
        let sink = Pieces {
            output,
            hasher: Hasher::new(Algorithm::Sha256),
            piece: Vec::with_capacity(PIECE),
        };
        let mut encoder = Encoder::new(compression, sink, workers)?;
        let mut hasher = Hasher::new(algorithm);
        while let Some(piece) = input.blocking_recv() {
            let Some(piece) = piece else {
                return Err(io::Error::other("the source ended early"));
            };
            hasher.update(&piece);
            encoder.write_all(&piece)?;
        }
        let mut sink = encoder.finish()?;
        sink.send()?;
        let output_size = sink.hasher.bytes_hashed();
        Ok(Hashed {
            input_size: hasher.bytes_hashed(),
            input: hasher.finish(),
            output: sink.hasher.finish(),
            output_size,
        })
    })();
    if let Err(e) = &result {
        let _ = failure.blocking_send(Err(io::Error::new(e.kind(), e.to_string())));
    }
    result
}

/// Collects compressed bytes into pieces for the network, hashing them.
struct Pieces {
    output: mpsc::Sender<io::Result<Bytes>>,
    hasher: Hasher,
    piece: Vec<u8>,
}

impl Pieces {
    fn send(&mut self) -> io::Result<()> {
        if self.piece.is_empty() {
            return Ok(());
        }
        let piece = Bytes::from(std::mem::replace(
            &mut self.piece,
            Vec::with_capacity(PIECE),
        ));
        self.output
            .blocking_send(Ok(piece))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the upload ended"))
    }
}

impl Write for Pieces {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        self.piece.extend_from_slice(buf);
        if self.piece.len() >= PIECE {
            self.send()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

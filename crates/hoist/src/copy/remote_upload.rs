//! Uploading one blob to a registry from another source's stream: [`RemoteBlobWriter`].
//!
//! The one registry blob writer of the copy engine, and so of push (docker's
//! `layerUpload.ReadFrom` + `Commit`): monolithic `PUT` for blobs up to
//! [`SendPolicy::monolithic_max`], one streamed `PATCH` for larger ones, chunked `PATCH`es when
//! the registry asks (`OCI-Chunk-Min-Length`) or answers `413` (halving down to
//! [`SendPolicy::min_chunk_size`]), and the session kept across attempts so the next one asks
//! the registry how much it holds (`Range`) and reopens the *source* at that offset. The bytes
//! come from a stream that can only be reopened, not seeked, and are hashed on the way through.
//!
//! # Verification
//! Every byte sent is hashed here; the closing `PUT ?digest=` is only sent when the bytes
//! hash to the expected digest and have the descriptor's size (a mismatch cancels the
//! session: [`CopyError::DigestMismatch`], not retried). The hash must cover the whole blob:
//! an attempt resumes a session at the offset the registry reports (`Range`), after hashing
//! the bytes it holds beyond those already hashed (chunks acknowledged one by one need none;
//! the part of a streamed `PATCH` a registry kept after a reset is read again from the
//! source, not sent again). A session the registry voided (distribution 2.8 does after a
//! reset mid-`PATCH`) or whose prefix cannot be read starts over from 0 on a new session.
//! The registry checks the digest again when closing the session.
//!
//! Memory: at most one chunk (or one monolithic blob, ≤ 4 MiB by default) is held.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Bytes, BytesMut};
use futures_util::future::BoxFuture;
use futures_util::StreamExt;

use super::sink::BlobWriter;
use super::source::{BlobStream, ImageSource};
use super::CopyError;
use crate::digest::Hasher;
use crate::media::Descriptor;
use crate::progress::{ProgressSink, PushReporter};
use crate::registry::{BlobUpload, RegistryError, RemoteRepository};
use crate::transfer::SendPolicy;

/// Sends one blob to a registry repository, over as many attempts as the caller makes.
pub struct RemoteBlobWriter {
    repo: RemoteRepository,
    location: String,
    descriptor: Descriptor,
    policy: SendPolicy,
    session: Option<BlobUpload>,
    /// Set once the registry asked for chunks (413 or `OCI-Chunk-Min-Length`).
    chunk: Option<u64>,
    /// The hash of the bytes the registry acknowledged in the kept session.
    hasher: Hasher,
    /// The kept session was handed over holding the whole blob, from bytes verified
    /// elsewhere ([`RemoteBlobWriter::adopt_complete`]): it only needs closing.
    complete: bool,
}

impl RemoteBlobWriter {
    /// A writer of `descriptor` into `repo` (`location` names it in errors).
    pub fn new(
        repo: RemoteRepository,
        location: String,
        descriptor: Descriptor,
        policy: SendPolicy,
    ) -> RemoteBlobWriter {
        let hasher = Hasher::new(descriptor.digest.algorithm());
        RemoteBlobWriter {
            repo,
            location,
            descriptor,
            policy,
            session: None,
            chunk: None,
            hasher,
            complete: false,
        }
    }

    /// Sends through `session` (opened by a declined cross-repository mount) on the next
    /// attempt instead of opening another; a session kept from an earlier attempt is
    /// cancelled.
    pub async fn adopt(&mut self, session: BlobUpload) {
        if let Some(old) = self.session.replace(session) {
            let _ = old.cancel().await;
        }
        self.hasher = Hasher::new(self.descriptor.digest.algorithm());
    }

    /// Like [`RemoteBlobWriter::adopt`], for a session that already received the whole blob
    /// from bytes the caller verified (push's compressed layer, streamed while it was being
    /// written into the store, whose digest the store checked): if the registry still holds
    /// them all, the next attempt only closes the session.
    pub async fn adopt_complete(&mut self, session: BlobUpload) {
        self.adopt(session).await;
        self.complete = true;
    }

    fn registry_error(&self, e: RegistryError) -> CopyError {
        CopyError::upload(
            &self.location,
            format!("upload blob {}", self.descriptor.digest),
            e,
        )
    }

    /// The kept session if the registry still holds exactly the bytes hashed so far, else a
    /// new one with the hash restarted.
    async fn open_session(&mut self, source: &dyn ImageSource) -> Result<BlobUpload, CopyError> {
        if let Some(mut kept) = self.session.take() {
            match kept.refresh_offset().await {
                Ok(offset) if self.complete && offset == self.descriptor.size => return Ok(kept),
                Ok(offset) if offset == self.hasher.bytes_hashed() && !self.complete => {
                    return Ok(kept)
                }
                Ok(offset)
                    if !self.complete
                        && offset > self.hasher.bytes_hashed()
                        && offset <= self.descriptor.size
                        && self.catch_up(source, offset).await =>
                {
                    return Ok(kept)
                }
                Ok(offset) => {
                    tracing::debug!(offset, "upload session holds unhashed bytes; starting over");
                    let _ = kept.cancel().await;
                }
                Err(e) if e.is_auth() => return Err(self.registry_error(e)),
                Err(e) => tracing::debug!(error = %e, "upload session lost, starting a new one"),
            }
        }
        self.hasher = Hasher::new(self.descriptor.digest.algorithm());
        self.complete = false;
        let session = self
            .repo
            .start_upload()
            .await
            .map_err(|e| self.registry_error(e))?;
        Ok(session)
    }

    /// Hashes the source's bytes from what is hashed up to `offset` (what the registry holds
    /// of a streamed `PATCH` that did not finish); false when they cannot be read.
    async fn catch_up(&mut self, source: &dyn ImageSource, offset: u64) -> bool {
        let start = self.hasher.bytes_hashed();
        let Ok(mut stream) = source.open_blob(&self.descriptor, start).await else {
            return false;
        };
        let mut hasher = self.hasher.clone();
        while hasher.bytes_hashed() < offset {
            let Some(Ok(chunk)) = stream.next().await else {
                return false;
            };
            // Below `offset - hashed`, so it fits the chunk's usize length.
            let take = (offset - hasher.bytes_hashed()).min(chunk.len() as u64) as usize;
            hasher.update(&chunk[..take]);
        }
        tracing::debug!(
            offset,
            start,
            "resuming an upload session the registry kept"
        );
        self.hasher = hasher;
        true
    }

    async fn attempt(
        &mut self,
        source: &dyn ImageSource,
        progress: Option<&Arc<dyn ProgressSink>>,
    ) -> Result<(), CopyError> {
        let size = self.descriptor.size;
        let mut reporter =
            PushReporter::new(progress, &self.descriptor.digest, self.descriptor.size);
        let mut session = self.open_session(source).await?;
        if let Some(min) = session.min_chunk_size() {
            self.chunk = Some(self.chunk.unwrap_or(self.policy.chunk_size).max(min.max(1)));
        }
        let monolithic =
            session.offset() == 0 && size <= self.policy.monolithic_max && self.chunk.is_none();
        let last = if monolithic {
            let stream = source.open_blob(&self.descriptor, 0).await?;
            let bytes = PieceReader::new(stream, &self.location, &self.descriptor, 0)
                .piece(size)
                .await?;
            self.hasher.update(&bytes);
            Some(bytes)
        } else {
            if let Err(e) = self.send_rest(&mut session, source, &mut reporter).await {
                self.session = Some(session);
                return Err(e);
            }
            None
        };
        if let Err(e) = self.check_hash() {
            let _ = session.cancel().await;
            self.hasher = Hasher::new(self.descriptor.digest.algorithm());
            return Err(e);
        }
        reporter.report(size);
        let kept = session.clone();
        match session.finish(&self.descriptor.digest, last).await {
            Ok(()) => Ok(()),
            Err(e) => {
                if e.status() == Some(413) {
                    self.chunk = Some(self.first_chunk());
                }
                if monolithic {
                    // The bytes of a refused monolithic PUT were not kept: start over.
                    self.hasher = Hasher::new(self.descriptor.digest.algorithm());
                    let _ = kept.cancel().await;
                } else {
                    self.session = Some(kept);
                }
                Err(self.registry_error(e))
            }
        }
    }

    /// Sends bytes `session.offset()..size` from the source, streamed or chunked.
    async fn send_rest(
        &mut self,
        session: &mut BlobUpload,
        source: &dyn ImageSource,
        reporter: &mut PushReporter,
    ) -> Result<(), CopyError> {
        let size = self.descriptor.size;
        loop {
            let start = session.offset();
            if start >= size {
                return Ok(());
            }
            let stream = source.open_blob(&self.descriptor, start).await?;
            let result = match self.chunk {
                Some(chunk) => self.send_chunks(session, stream, chunk, reporter).await,
                None => self.send_streamed(session, stream, reporter).await,
            };
            match result {
                Ok(()) => {}
                Err(Failure::TooLarge) => self.shrink_chunk()?,
                Err(Failure::Copy(e)) => return Err(e),
            }
        }
    }

    /// One `PATCH` with the rest of the blob, hashed on the way.
    async fn send_streamed(
        &mut self,
        session: &mut BlobUpload,
        stream: BlobStream,
        reporter: &mut PushReporter,
    ) -> Result<(), Failure> {
        let start = session.offset();
        let size = self.descriptor.size;
        let shared = Arc::new(Mutex::new(self.hasher.clone()));
        let hashing = Arc::clone(&shared);
        let (location, descriptor) = (self.location.clone(), self.descriptor.clone());
        let mut body_reporter = reporter.clone();
        let body = stream.map(move |item| {
            let chunk = item?;
            let mut hasher = hashing.lock().unwrap_or_else(PoisonError::into_inner);
            if hasher.bytes_hashed() + chunk.len() as u64 > size {
                return Err(CopyError::SizeMismatch {
                    location: location.clone(),
                    digest: descriptor.digest.clone(),
                    expected: size,
                    actual: hasher.bytes_hashed() + chunk.len() as u64,
                });
            }
            hasher.update(&chunk);
            body_reporter.report(hasher.bytes_hashed());
            Ok::<Bytes, CopyError>(chunk)
        });
        let sent = session
            .write_stream(reqwest::Body::wrap_stream(body), Some(size - start))
            .await;
        // Only bytes the registry acknowledged count: after a failed PATCH the hash stays at
        // the session's offset (the next try sends from there, or starts over).
        sent.map_err(|e| self.failure(e))?;
        self.hasher = shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Ok(())
    }

    /// `PATCH`es of `chunk` bytes, each hashed once the registry acknowledged it.
    async fn send_chunks(
        &mut self,
        session: &mut BlobUpload,
        stream: BlobStream,
        chunk: u64,
        reporter: &mut PushReporter,
    ) -> Result<(), Failure> {
        let size = self.descriptor.size;
        let (location, descriptor) = (self.location.clone(), self.descriptor.clone());
        let mut reader = PieceReader::new(stream, &location, &descriptor, session.offset());
        while session.offset() < size {
            let want = chunk.min(size - session.offset());
            let bytes = reader.piece(want).await.map_err(Failure::Copy)?;
            session
                .write_chunk(bytes.clone())
                .await
                .map_err(|e| self.failure(e))?;
            self.hasher.update(&bytes);
            reporter.report(session.offset());
        }
        Ok(())
    }

    fn failure(&self, e: RegistryError) -> Failure {
        if e.status() == Some(413) {
            Failure::TooLarge
        } else {
            Failure::Copy(self.registry_error(e))
        }
    }

    /// After a 413: chunked from now on, at half the size tried last.
    fn shrink_chunk(&mut self) -> Result<(), CopyError> {
        let floor = self.policy.min_chunk_size.max(1);
        let next = match self.chunk {
            None => self.first_chunk(),
            Some(c) if c / 2 >= floor => c / 2,
            Some(c) => {
                return Err(CopyError::TooLarge {
                    location: self.location.clone(),
                    digest: self.descriptor.digest.clone(),
                    chunk: c,
                })
            }
        };
        tracing::debug!(chunk = next, "registry answered 413, sending in chunks");
        self.chunk = Some(next);
        Ok(())
    }

    fn first_chunk(&self) -> u64 {
        self.policy
            .chunk_size
            .min(self.descriptor.size / 2)
            .max(self.policy.min_chunk_size.max(1))
    }

    fn check_hash(&self) -> Result<(), CopyError> {
        if self.complete {
            return Ok(());
        }
        let hashed = self.hasher.bytes_hashed();
        if hashed != self.descriptor.size {
            return Err(CopyError::SizeMismatch {
                location: self.location.clone(),
                digest: self.descriptor.digest.clone(),
                expected: self.descriptor.size,
                actual: hashed,
            });
        }
        let actual = self.hasher.clone().finish();
        if actual != self.descriptor.digest {
            return Err(CopyError::DigestMismatch {
                location: self.location.clone(),
                expected: self.descriptor.digest.clone(),
                actual,
            });
        }
        Ok(())
    }
}

impl BlobWriter for RemoteBlobWriter {
    fn write<'a>(
        &'a mut self,
        source: &'a dyn ImageSource,
        progress: Option<&'a Arc<dyn ProgressSink>>,
    ) -> BoxFuture<'a, Result<(), CopyError>> {
        Box::pin(self.attempt(source, progress))
    }
}

enum Failure {
    /// `413 Payload Too Large`: send smaller pieces.
    TooLarge,
    Copy(CopyError),
}

/// Reads a blob stream in pieces of exact sizes, keeping what a network chunk had beyond
/// the piece for the next one.
pub(crate) struct PieceReader<'a> {
    stream: BlobStream,
    pending: Bytes,
    location: &'a str,
    descriptor: &'a Descriptor,
    read: u64,
}

impl<'a> PieceReader<'a> {
    pub(crate) fn new(
        stream: BlobStream,
        location: &'a str,
        descriptor: &'a Descriptor,
        start: u64,
    ) -> PieceReader<'a> {
        PieceReader {
            stream,
            pending: Bytes::new(),
            location,
            descriptor,
            read: start,
        }
    }

    /// Exactly `len` bytes (a chunk, or a whole small blob): fewer is a truncated source,
    /// reported as retryable.
    pub(crate) async fn piece(&mut self, len: u64) -> Result<Bytes, CopyError> {
        let cap = usize::try_from(len).map_err(|_| CopyError::Interrupted {
            reason: format!("a piece of {len} bytes does not fit in memory"),
        })?;
        let mut buf = BytesMut::with_capacity(cap);
        while buf.len() < cap {
            if self.pending.is_empty() {
                self.pending = match self.stream.next().await {
                    Some(item) => item?,
                    None => {
                        return Err(CopyError::Interrupted {
                            reason: format!(
                                "{}: blob {} ended after {} of {} bytes",
                                self.location,
                                self.descriptor.digest,
                                self.read + buf.len() as u64,
                                self.descriptor.size
                            ),
                        })
                    }
                };
            }
            let take = (cap - buf.len()).min(self.pending.len());
            buf.extend_from_slice(&self.pending.split_to(take));
        }
        self.read += len;
        Ok(buf.freeze())
    }
}

/// A session the registry no longer knows: a new attempt opens another.
pub(crate) fn is_void_session(e: &RegistryError) -> bool {
    matches!(e.status(), Some(404) | Some(416))
        || e.code().is_some_and(|c| {
            matches!(
                c.as_str(),
                "BLOB_UPLOAD_UNKNOWN" | "BLOB_UPLOAD_INVALID" | "RANGE_INVALID"
            )
        })
}

//! Uploading one blob to a registry from another source's stream: [`RemoteBlobWriter`].
//!
//! The one registry blob writer of the copy engine, and so of push (docker's
//! `layerUpload.ReadFrom` + `Commit`; go-containerregistry's `uploadOne`), for a blob whose
//! digest is known before its bytes and for a layer compressed on the way, whose digest is
//! learnt at the end (the compression step, `compress_step`) alike: monolithic `PUT` for blobs up to
//! [`SendPolicy::monolithic_max`], one streamed `PATCH` for larger ones, chunked `PATCH`es when
//! the registry asks (`OCI-Chunk-Min-Length`) or answers `413` (halving down to
//! [`SendPolicy::min_chunk_size`]), and the session kept across attempts so the next one asks
//! the registry how much it holds (`Range`) and reopens the *source* at that offset. The bytes
//! come from a stream that can only be reopened, not seeked, and are hashed on the way through.
//!
//! # Verification
//! Every byte sent is hashed here; the closing `PUT ?digest=` is only sent when the bytes
//! hash to the expected digest and have the descriptor's size (a mismatch cancels the
//! session: [`CopyError::DigestMismatch`], not retried). For a compressed layer the digest
//! is the hash of what was sent, and the stream only ends cleanly once the compression step
//! verified the layer it read; a small one (its source at most
//! [`SendPolicy::monolithic_max`]) is gathered and sent in one `PUT`, a larger one streamed
//! with no length (or chunked). The hash must cover the whole blob:
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
use futures_util::StreamExt;

use super::blob_input::{BlobInput, Measure};
use super::sink::{BlobWriter, Progress};
use super::source::BlobStream;
use super::CopyError;
use crate::digest::{Algorithm, Digest, Hasher};
use crate::media::Descriptor;
use crate::progress::PushReporter;
use crate::registry::{BlobUpload, RegistryError, RemoteRepository};
use crate::transfer::SendPolicy;

/// Sends one blob to a registry repository, over as many attempts as the caller makes.
pub struct RemoteBlobWriter {
    repo: RemoteRepository,
    location: String,
    policy: SendPolicy,
    session: Option<BlobUpload>,
    /// Set once the registry asked for chunks (413 or `OCI-Chunk-Min-Length`).
    chunk: Option<u64>,
    /// The bytes the registry acknowledged in the kept session (`None`: none).
    hasher: Option<Acked>,
    /// The kept session received the whole blob: it only needs closing.
    complete: bool,
}

/// What one attempt sends: the input, and what is known of it up front.
struct Attempt<'a> {
    input: &'a dyn BlobInput,
    /// Digest and size when known before the bytes.
    known: Option<&'a Descriptor>,
    measure: Measure,
}

impl Attempt<'_> {
    fn size(&self) -> Option<u64> {
        self.known.map(|d| d.size)
    }

    fn algorithm(&self) -> Algorithm {
        self.known
            .map_or(Algorithm::Sha256, |d| d.digest.algorithm())
    }

    /// Nothing acknowledged yet: hashed unless the input hashes what it makes.
    fn acked(&self) -> Acked {
        let hash = self.known.is_some() || !self.input.hashes_itself();
        Acked {
            hasher: hash.then(|| Hasher::new(self.algorithm())),
            bytes: 0,
        }
    }
}

/// The bytes a registry acknowledged: how many, and their hash — unless the input reports the
/// digest of what it made ([`BlobInput::made_digest`]), which the registry checks on `PUT`
/// anyway, so the bytes are not hashed a second time.
#[derive(Clone)]
struct Acked {
    hasher: Option<Hasher>,
    bytes: u64,
}

impl Acked {
    fn update(&mut self, bytes: &[u8]) {
        self.bytes += bytes.len() as u64;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(bytes);
        }
    }

    fn bytes_hashed(&self) -> u64 {
        self.bytes
    }
}

impl RemoteBlobWriter {
    /// A writer into `repo` (`location` names it in errors).
    pub fn new(repo: RemoteRepository, location: String, policy: SendPolicy) -> RemoteBlobWriter {
        RemoteBlobWriter {
            repo,
            location,
            policy,
            session: None,
            chunk: None,
            hasher: None,
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
        self.restart();
    }

    /// Forgets what was hashed: the next bytes go to a new (or freshly adopted) session.
    fn restart(&mut self) {
        self.hasher = None;
        self.complete = false;
    }

    fn hashed(&self) -> u64 {
        self.hasher.as_ref().map_or(0, Acked::bytes_hashed)
    }

    fn registry_error(&self, id: &Digest, e: RegistryError) -> CopyError {
        CopyError::upload(&self.location, format!("upload blob {id}"), e)
    }

    /// The kept session if the registry still holds exactly the bytes hashed so far, else a
    /// new one with the hash restarted.
    async fn open_session(&mut self, blob: &Attempt<'_>) -> Result<BlobUpload, CopyError> {
        let id = blob.input.id();
        if let Some(mut kept) = self.session.take() {
            match kept.refresh_offset().await {
                Ok(offset) if offset == self.hashed() => return Ok(kept),
                Ok(offset)
                    if !self.complete
                        && offset > self.hashed()
                        && blob.size().is_none_or(|size| offset <= size)
                        && self.catch_up(blob, offset).await =>
                {
                    return Ok(kept)
                }
                Ok(offset) => {
                    tracing::debug!(offset, "upload session holds unhashed bytes; starting over");
                    let _ = kept.cancel().await;
                }
                Err(e) if e.is_auth() => return Err(self.registry_error(id, e)),
                Err(e) => tracing::debug!(error = %e, "upload session lost, starting a new one"),
            }
        }
        self.restart();
        self.repo
            .start_upload()
            .await
            .map_err(|e| self.registry_error(id, e))
    }

    /// Hashes the input's bytes from what is hashed up to `offset` (what the registry holds
    /// of a streamed `PATCH` that did not finish); false when they cannot be read.
    async fn catch_up(&mut self, blob: &Attempt<'_>, offset: u64) -> bool {
        let start = self.hashed();
        let Ok(mut stream) = blob.input.open(start).await else {
            return false;
        };
        let mut hasher = self.hasher.clone().unwrap_or_else(|| blob.acked());
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
        self.hasher = Some(hasher);
        true
    }

    /// Whether the blob goes in one `PUT`: small, and nothing sent or asked for chunks.
    fn monolithic(&self, session: &BlobUpload, blob: &Attempt<'_>) -> bool {
        let small = blob.size().unwrap_or(blob.measure.total()) <= self.policy.monolithic_max;
        session.offset() == 0 && !self.complete && small && self.chunk.is_none()
    }

    /// The whole blob in memory, for a monolithic `PUT`: exactly its size when known; else
    /// up to the end of the stream, giving up (chunked next time) past twice the limit.
    async fn gather(&mut self, blob: &Attempt<'_>) -> Result<Bytes, CopyError> {
        let stream = blob.input.open(0).await?;
        let mut reader = PieceReader::new(stream, &self.location, blob.input.id(), blob.size(), 0);
        let bytes = match blob.size() {
            Some(size) => reader.piece(size).await?,
            None => {
                let cap = 2 * self.policy.monolithic_max + (64 << 10);
                let bytes = reader.piece(cap + 1).await?;
                if bytes.len() as u64 > cap {
                    self.chunk = Some(self.first_chunk(None));
                    return Err(CopyError::interrupted(format!(
                        "{}: compressed layer {} is larger than expected",
                        self.location,
                        blob.input.id()
                    )));
                }
                bytes
            }
        };
        Ok(bytes)
    }

    /// Sends bytes `session.offset()..` from the input, streamed or chunked.
    async fn send_rest(
        &mut self,
        session: &mut BlobUpload,
        blob: &Attempt<'_>,
        reporter: &mut PushReporter,
    ) -> Result<(), CopyError> {
        loop {
            let start = session.offset();
            if blob.size().is_some_and(|size| start >= size) {
                return Ok(());
            }
            let stream = blob.input.open(start).await?;
            let result = match self.chunk {
                Some(chunk) => {
                    self.send_chunks(session, stream, chunk, blob, reporter)
                        .await
                }
                None => self.send_streamed(session, stream, blob, reporter).await,
            };
            match result {
                // A blob of unknown size ends with its stream; a known one may need more.
                Ok(()) if blob.size().is_none() || session.offset() == start => return Ok(()),
                Ok(()) => {}
                Err(Failure::TooLarge) => self.shrink_chunk(blob)?,
                Err(Failure::Copy(e)) => return Err(e),
            }
        }
    }

    /// One `PATCH` with the rest of the blob, hashed on the way.
    async fn send_streamed(
        &mut self,
        session: &mut BlobUpload,
        stream: BlobStream,
        blob: &Attempt<'_>,
        reporter: &mut PushReporter,
    ) -> Result<(), Failure> {
        let start = session.offset();
        let size = blob.size();
        let hasher = self.hasher.clone().unwrap_or_else(|| blob.acked());
        let shared = Arc::new(Mutex::new(hasher));
        let hashing = Arc::clone(&shared);
        // The input's own error, which the request only sees as a broken body.
        let failed: Arc<Mutex<Option<CopyError>>> = Arc::default();
        let failing = Arc::clone(&failed);
        let (location, id) = (self.location.clone(), blob.input.id().clone());
        let (mut body_reporter, measure) = (reporter.clone(), blob.measure.clone());
        let body = stream.map(move |item| {
            let checked = item.and_then(|chunk| {
                let mut hasher = hashing.lock().unwrap_or_else(PoisonError::into_inner);
                let total = hasher.bytes_hashed() + chunk.len() as u64;
                if let Some(expected) = size.filter(|size| total > *size) {
                    return Err(CopyError::SizeMismatch {
                        location: location.clone(),
                        digest: id.clone(),
                        expected,
                        actual: total,
                    });
                }
                hasher.update(&chunk);
                body_reporter.report(measure.at(hasher.bytes_hashed()));
                Ok(chunk)
            });
            checked.map_err(|e| {
                let message = e.to_string();
                *failing.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                std::io::Error::other(message)
            })
        });
        let sent = session
            .write_stream(reqwest::Body::wrap_stream(body), size.map(|s| s - start))
            .await;
        if let Some(e) = failed.lock().unwrap_or_else(PoisonError::into_inner).take() {
            return Err(Failure::Copy(e));
        }
        // Only bytes the registry acknowledged count: after a failed PATCH the hash stays at
        // the session's offset (the next try sends from there, or starts over).
        sent.map_err(|e| self.failure(blob, e))?;
        self.hasher = Some(
            shared
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        );
        Ok(())
    }

    /// `PATCH`es of `chunk` bytes, each hashed once the registry acknowledged it; a blob of
    /// unknown size ends with the first short piece.
    async fn send_chunks(
        &mut self,
        session: &mut BlobUpload,
        stream: BlobStream,
        chunk: u64,
        blob: &Attempt<'_>,
        reporter: &mut PushReporter,
    ) -> Result<(), Failure> {
        let size = blob.size();
        let location = self.location.clone();
        let mut reader =
            PieceReader::new(stream, &location, blob.input.id(), size, session.offset());
        loop {
            let want = match size {
                Some(size) if session.offset() >= size => return Ok(()),
                Some(size) => chunk.min(size - session.offset()),
                None => chunk,
            };
            let bytes = reader.piece(want).await.map_err(Failure::Copy)?;
            session
                .write_chunk(bytes.clone())
                .await
                .map_err(|e| self.failure(blob, e))?;
            self.hasher
                .get_or_insert_with(|| blob.acked())
                .update(&bytes);
            reporter.report(blob.measure.at(session.offset()));
            if (bytes.len() as u64) < want {
                return Ok(());
            }
        }
    }

    fn failure(&self, blob: &Attempt<'_>, e: RegistryError) -> Failure {
        if e.status() == Some(413) {
            Failure::TooLarge
        } else {
            Failure::Copy(self.registry_error(blob.input.id(), e))
        }
    }

    /// After a 413: chunked from now on, at half the size tried last.
    fn shrink_chunk(&mut self, blob: &Attempt<'_>) -> Result<(), CopyError> {
        let floor = self.policy.min_chunk_size.max(1);
        let next = match self.chunk {
            None => self.first_chunk(blob.size()),
            Some(c) if c / 2 >= floor => c / 2,
            Some(c) => {
                return Err(CopyError::TooLarge {
                    location: self.location.clone(),
                    digest: blob.input.id().clone(),
                    chunk: c,
                })
            }
        };
        tracing::debug!(chunk = next, "registry answered 413, sending in chunks");
        self.chunk = Some(next);
        Ok(())
    }

    fn first_chunk(&self, size: Option<u64>) -> u64 {
        self.policy
            .chunk_size
            .min(size.map_or(u64::MAX, |size| size / 2))
            .max(self.policy.min_chunk_size.max(1))
    }

    /// The blob the session now holds: the expected one, checked against the hash; or, for a
    /// digest learnt at the end, what the hash says.
    fn sent_blob(&self, blob: &Attempt<'_>) -> Result<Descriptor, CopyError> {
        let acked = self.hasher.clone().unwrap_or_else(|| blob.acked());
        let hashed = acked.bytes_hashed();
        let actual = match acked.hasher {
            Some(hasher) => hasher.finish(),
            None => blob.input.made_digest().ok_or_else(|| {
                CopyError::interrupted(format!(
                    "{}: the digest of what {} became was not reported",
                    self.location,
                    blob.input.id()
                ))
            })?,
        };
        let Some(expected) = blob.known else {
            return Ok(Descriptor::new(blob.input.media_type(), actual, hashed));
        };
        if hashed != expected.size {
            return Err(CopyError::SizeMismatch {
                location: self.location.clone(),
                digest: expected.digest.clone(),
                expected: expected.size,
                actual: hashed,
            });
        }
        if actual != expected.digest {
            return Err(CopyError::DigestMismatch {
                location: self.location.clone(),
                expected: expected.digest.clone(),
                actual,
            });
        }
        Ok(expected.clone())
    }
}

impl BlobWriter for RemoteBlobWriter {
    async fn write(
        &mut self,
        input: &dyn BlobInput,
        progress: Progress<'_>,
    ) -> Result<Descriptor, CopyError> {
        let blob = Attempt {
            input,
            known: input.descriptor(),
            measure: input.measure(),
        };
        let mut reporter = PushReporter::new(progress, input.id(), blob.measure.total());
        let mut session = self.open_session(&blob).await?;
        if let Some(min) = session.min_chunk_size() {
            self.chunk = Some(self.chunk.unwrap_or(self.policy.chunk_size).max(min.max(1)));
        }
        let monolithic = self.monolithic(&session, &blob);
        let last = if monolithic {
            let bytes = self.gather(&blob).await?;
            let mut acked = blob.acked();
            acked.update(&bytes);
            self.hasher = Some(acked);
            Some(bytes)
        } else {
            if !self.complete {
                if let Err(e) = self.send_rest(&mut session, &blob, &mut reporter).await {
                    self.session = Some(session);
                    return Err(e);
                }
            }
            None
        };
        let sent = match self.sent_blob(&blob) {
            Ok(sent) => sent,
            Err(e) => {
                let _ = session.cancel().await;
                self.restart();
                return Err(e);
            }
        };
        reporter.report(blob.measure.total());
        let kept = session.clone();
        match session.finish(&sent.digest, last).await {
            Ok(()) => Ok(sent),
            Err(e) => {
                if e.status() == Some(413) {
                    self.chunk = Some(self.first_chunk(blob.size()));
                }
                if monolithic {
                    // The bytes of a refused monolithic PUT were not kept: start over.
                    self.restart();
                    let _ = kept.cancel().await;
                } else {
                    // Every byte is in the session: the next attempt only closes it.
                    self.complete = true;
                    self.session = Some(kept);
                }
                Err(self.registry_error(input.id(), e))
            }
        }
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
    id: &'a Digest,
    /// The blob's size when known: a stream ending before it is truncated.
    size: Option<u64>,
    read: u64,
}

impl<'a> PieceReader<'a> {
    pub(crate) fn new(
        stream: BlobStream,
        location: &'a str,
        id: &'a Digest,
        size: Option<u64>,
        start: u64,
    ) -> PieceReader<'a> {
        PieceReader {
            stream,
            pending: Bytes::new(),
            location,
            id,
            size,
            read: start,
        }
    }

    /// `len` bytes (a chunk, or a whole small blob). Fewer only where a blob of unknown size
    /// ended; a blob of known size that ends early is truncated, reported as retryable.
    pub(crate) async fn piece(&mut self, len: u64) -> Result<Bytes, CopyError> {
        let cap = usize::try_from(len).map_err(|_| {
            CopyError::interrupted(format!("a piece of {len} bytes does not fit in memory"))
        })?;
        let mut buf = BytesMut::with_capacity(cap.min(16 << 20));
        while buf.len() < cap {
            if self.pending.is_empty() {
                self.pending = match self.stream.next().await {
                    Some(item) => item?,
                    None if self.size.is_none() => break,
                    None => {
                        return Err(CopyError::interrupted(format!(
                            "{}: blob {} ended after {} of {} bytes",
                            self.location,
                            self.id,
                            self.read + buf.len() as u64,
                            self.size.unwrap_or_default()
                        )))
                    }
                };
            }
            let take = (cap - buf.len()).min(self.pending.len());
            buf.extend_from_slice(&self.pending.split_to(take));
        }
        self.read += buf.len() as u64;
        Ok(buf.freeze())
    }
}

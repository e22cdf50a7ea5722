//! Sending one blob's bytes from the content store to a registry: monolithic, streamed or
//! chunked, resumed where the registry allows it.
//!
//! Used by push's sink (`crate::push`) for layers stored uncompressed, which it compresses
//! while uploading ([`UploadSource::NeedsCompression`]); the stored compressed blob is what
//! the retries of such a layer resume from ([`UploadSource::Stored`]). Blobs copied as they
//! are go through the copy engine's streaming writer (`crate::copy::remote_upload`) instead.
//!
//! Corresponds to the byte-moving half of docker's `v2PushDescriptor.uploadUsingSession`
//! (`layerUpload.ReadFrom` + `Commit`) with what docker leaves to its HTTP client done here:
//! - **the original bytes**: an [`UploadSource::Stored`] blob is read from the content store
//!   file as it is (no recompression), so the registry ends up with the digest the image was
//!   pulled with; the file is streamed, never read whole, except a blob of at most
//!   [`SendPolicy::monolithic_max`] bytes, which goes in one `PUT` (the spec's "monolithic
//!   upload": one request after the `POST`);
//! - **streamed** (`PATCH` with the rest of the file, then `PUT ?digest=`) for larger blobs;
//! - **chunked** (`PATCH` with `Content-Range`, each chunk at least the registry's
//!   `OCI-Chunk-Min-Length`) when the registry asks for a minimum chunk, or answers `413 Payload
//!   Too Large` to a body: each 413 halves the chunk size, down to
//!   [`SendPolicy::min_chunk_size`] (or the registry's minimum), before giving up;
//! - **resumption**: a [`BlobSender`] keeps its session across attempts; the next attempt asks
//!   the registry how much it holds ([`BlobUpload::refresh_offset`], the session's `Range`)
//!   and sends only the rest. A session the registry voided (distribution 2.8 does after a
//!   reset mid-`PATCH`) or cannot report is abandoned for a new `POST`.
//!
//! - **compressed while sending**: an [`UploadSource::NeedsCompression`] layer (a
//!   docker-archive load keeps uncompressed tars) is compressed on the way out
//!   (`upload_compress`): one streamed `PATCH` with no length, then `PUT ?digest=` once the
//!   digest is known, the compressed bytes kept in the content store as they go. A layer of at
//!   most [`SendPolicy::monolithic_max`] uncompressed bytes, or a session that asks for chunks,
//!   is compressed into the store first and sent as stored. After the first attempt the source
//!   *is* the stored compressed blob, so retries resume like any other (no second
//!   compression), and [`BlobSender::send`] returns that blob.
//!
//! Progress: `Pushing` with bytes handed to the network (resumed prefix included), throttled;
//! while compressing, uncompressed bytes read out of the layer's size (as docker counts them).

use std::io::SeekFrom;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

use super::upload_compress::{CompressJob, CompressTask, Piece, CHANNEL_PIECES};
use super::Compression;
use crate::digest::Digest;
use crate::progress::{ProgressEvent, ProgressSink, Status, Throttle};
use crate::registry::{BlobUpload, RegistryError, RemoteRepository};
use crate::store::{BlobInfo, ContentStore, StoreError};

/// Where a blob's bytes come from.
#[derive(Debug, Clone)]
pub enum UploadSource {
    /// A blob in the content store, sent byte for byte.
    Stored {
        /// The store.
        content: ContentStore,
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
    },
    /// An uncompressed layer, stored as the blob `diff_id`, to compress with `compression`
    /// while uploading (a layer loaded from a docker-archive).
    NeedsCompression {
        /// The store.
        content: ContentStore,
        /// The layer's uncompressed digest (its blob in the store).
        diff_id: Digest,
        /// Its size.
        size: u64,
        /// The compression to apply.
        compression: Compression,
        /// Threads to compress with (the output does not depend on it).
        workers: usize,
    },
}

/// Sizes that decide how a blob is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendPolicy {
    /// Blobs up to this size go in one `PUT` (default 4 MiB).
    pub monolithic_max: u64,
    /// The first chunk size once chunked (default 16 MiB; raised to the registry's minimum).
    pub chunk_size: u64,
    /// The smallest chunk a 413 may shrink to (default 256 KiB).
    pub min_chunk_size: u64,
}

impl Default for SendPolicy {
    fn default() -> SendPolicy {
        SendPolicy {
            monolithic_max: 4 << 20,
            chunk_size: 16 << 20,
            min_chunk_size: 256 << 10,
        }
    }
}

/// Why sending a blob failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The registry refused or could not be reached.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The blob could not be opened in the store.
    #[error("cannot open blob {digest} in the store")]
    Store {
        /// The blob.
        digest: Digest,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// The blob could not be read from the store.
    #[error("cannot read blob {digest} from the store")]
    Read {
        /// The blob.
        digest: Digest,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The registry answered 413 even to the smallest chunk allowed.
    #[error("registry refuses chunks of {chunk} bytes for blob {digest} (413 Payload Too Large)")]
    TooLarge {
        /// The blob.
        digest: Digest,
        /// The smallest chunk tried.
        chunk: u64,
    },
    /// Compressing the layer failed (reading it, compressing, or writing the store).
    #[error("cannot compress layer {diff_id} for upload")]
    Compress {
        /// The layer.
        diff_id: Digest,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl SendError {
    /// Whether a new attempt can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SendError::Registry(e) => e.is_retryable() || is_void_session(e),
            SendError::Store { .. }
            | SendError::Read { .. }
            | SendError::TooLarge { .. }
            | SendError::Compress { .. } => false,
        }
    }
}

/// Sends one blob, possibly over several attempts (see the module docs).
pub struct BlobSender {
    repo: RemoteRepository,
    source: UploadSource,
    policy: SendPolicy,
    session: Option<BlobUpload>,
    /// Set once the registry asked for chunks (413 or `OCI-Chunk-Min-Length`).
    chunk: Option<u64>,
    /// The compression of a [`UploadSource::NeedsCompression`] layer still running.
    compressing: Option<CompressTask>,
}

impl std::fmt::Debug for BlobSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobSender")
            .field("repository", &self.repo.path())
            .field("source", &self.source)
            .field("session", &self.session)
            .field("chunk", &self.chunk)
            .finish()
    }
}

impl BlobSender {
    /// A sender of `source` to `repo`.
    pub fn new(repo: RemoteRepository, source: UploadSource, policy: SendPolicy) -> BlobSender {
        BlobSender {
            repo,
            source,
            policy,
            session: None,
            chunk: None,
            compressing: None,
        }
    }

    /// What is being sent: after a compressing attempt, the compressed blob in the store.
    pub fn source(&self) -> &UploadSource {
        &self.source
    }

    /// Uses `session` (one a refused mount opened, docker's fallback) instead of a new `POST`;
    /// a session held before is cancelled.
    pub async fn adopt(&mut self, session: BlobUpload) {
        if let Some(old) = self.session.replace(session) {
            // Best effort: the registry purges abandoned sessions anyway.
            let _ = old.cancel().await;
        }
    }

    /// One attempt: resume or open a session, send what the registry lacks, and close it with
    /// the digest. `progress_id` names the `Pushing` lines (none when `None`). Returns the blob
    /// now in the registry (for a compressed layer, its new digest and size).
    pub async fn send(
        &mut self,
        progress: &Arc<dyn ProgressSink>,
        progress_id: Option<&Digest>,
    ) -> Result<BlobInfo, SendError> {
        if let Some(sent) = self.send_compressing(progress, progress_id).await? {
            return Ok(sent);
        }
        let (content, digest, size) = match &self.source {
            UploadSource::Stored {
                content,
                digest,
                size,
            } => (content.clone(), digest.clone(), *size),
            // `send_compressing` has turned the source into the stored compressed blob.
            UploadSource::NeedsCompression { diff_id, .. } => {
                return Err(SendError::Compress {
                    diff_id: diff_id.clone(),
                    source: std::io::Error::other("compressed blob missing"),
                })
            }
        };
        let mut reporter = Reporter::new(progress, progress_id, size);
        let mut session = self.open_session().await?;
        if let Some(min) = session.min_chunk_size() {
            let floor = min.max(1);
            self.chunk = Some(self.chunk.unwrap_or(self.policy.chunk_size).max(floor));
        }
        let last = if session.offset() == 0
            && size <= self.policy.monolithic_max
            && self.chunk.is_none()
        {
            Some(read_range(&content, &digest, 0, size).await?)
        } else {
            let sent = self
                .send_rest(&mut session, &content, &digest, size, &mut reporter)
                .await;
            if let Err(e) = sent {
                // Keep the session: the next attempt asks how much of it the registry holds.
                self.session = Some(session);
                return Err(e);
            }
            None
        };
        reporter.report(size);
        let kept = session.clone();
        match session.finish(&digest, last).await {
            Ok(()) => Ok(BlobInfo { digest, size }),
            Err(e) => {
                if is_too_large(&e) {
                    // A monolithic body refused: send in chunks from now on.
                    self.chunk = Some(self.first_chunk(size));
                }
                // The closing PUT failed, not necessarily the bytes: the next attempt asks
                // the registry what it holds and sends only what is missing.
                self.session = Some(kept);
                Err(e.into())
            }
        }
    }

    /// For a [`UploadSource::NeedsCompression`] source: compresses it into the store, streaming
    /// it to the registry on the way when it is large; `Some` when that sent it, `None` when
    /// the source is now the stored compressed blob and should be sent as such (a small layer,
    /// a registry that wants chunks, or a previous attempt that compressed it already).
    async fn send_compressing(
        &mut self,
        progress: &Arc<dyn ProgressSink>,
        progress_id: Option<&Digest>,
    ) -> Result<Option<BlobInfo>, SendError> {
        let UploadSource::NeedsCompression {
            content,
            diff_id,
            size,
            compression,
            workers,
        } = self.source.clone()
        else {
            return Ok(None);
        };
        if self.compressing.is_none() {
            let job = CompressJob {
                content: content.clone(),
                diff_id: diff_id.clone(),
                size,
                compression,
                workers,
            };
            let reporter = Some(Reporter::new(progress, progress_id, size));
            if size > self.policy.monolithic_max && self.chunk.is_none() {
                let (network, body) = mpsc::channel(CHANNEL_PIECES);
                self.compressing = Some(CompressTask::start(job, Some(network), reporter));
                // On an error the compression goes on into the store; the next attempt
                // collects it below and resumes the session from the stored blob.
                if let Some(sent) = self
                    .stream_compressed(body, &content, &diff_id, size)
                    .await?
                {
                    return Ok(Some(sent));
                }
            } else {
                self.compressing = Some(CompressTask::start(job, None, reporter));
            }
        }
        self.stored_compressed(&content, &diff_id).await?;
        Ok(None)
    }

    /// Sends what the compression task produces in one streamed `PATCH`, then closes the
    /// session with the digest; `None` when the session calls for another way (chunks, or a
    /// session with bytes in it already).
    async fn stream_compressed(
        &mut self,
        body: mpsc::Receiver<Piece>,
        content: &ContentStore,
        diff_id: &Digest,
        size: u64,
    ) -> Result<Option<BlobInfo>, SendError> {
        let mut session = self.open_session().await?;
        if let Some(min) = session.min_chunk_size() {
            self.chunk = Some(self.policy.chunk_size.max(min.max(1)));
        }
        if session.offset() != 0 || self.chunk.is_some() {
            self.session = Some(session);
            return Ok(None);
        }
        let pieces = stream::unfold(body, |mut body| async move {
            body.recv().await.map(|piece| (piece, body))
        });
        if let Err(e) = session
            .write_stream(reqwest::Body::wrap_stream(pieces), None)
            .await
        {
            self.session = Some(session);
            if is_too_large(&e) {
                self.chunk = Some(self.first_chunk(size));
                return Ok(None);
            }
            return Err(e.into());
        }
        let sent = self.stored_compressed(content, diff_id).await?;
        let kept = session.clone();
        match session.finish(&sent.digest, None).await {
            Ok(()) => Ok(Some(sent)),
            Err(e) => {
                // The bytes are in the registry's session and in the store: the next attempt
                // asks what the registry holds and closes it.
                self.session = Some(kept);
                Err(e.into())
            }
        }
    }

    /// Waits for the compression and makes its stored blob the source.
    async fn stored_compressed(
        &mut self,
        content: &ContentStore,
        diff_id: &Digest,
    ) -> Result<BlobInfo, SendError> {
        let Some(mut task) = self.compressing.take() else {
            return Err(SendError::Compress {
                diff_id: diff_id.clone(),
                source: std::io::Error::other("no compression running"),
            });
        };
        let sent = task.wait().await?;
        self.source = UploadSource::Stored {
            content: content.clone(),
            digest: sent.digest.clone(),
            size: sent.size,
        };
        Ok(sent)
    }

    /// The session to write to: the kept one if the registry still knows it (with its offset
    /// refreshed), else a new one.
    async fn open_session(&mut self) -> Result<BlobUpload, SendError> {
        if let Some(mut kept) = self.session.take() {
            match kept.refresh_offset().await {
                Ok(offset) => {
                    tracing::debug!(offset, "resuming upload session");
                    return Ok(kept);
                }
                Err(e) if e.is_auth() => return Err(e.into()),
                Err(e) => tracing::debug!(error = %e, "upload session lost, starting a new one"),
            }
        }
        Ok(self.repo.start_upload().await?)
    }

    /// Sends bytes `session.offset()..size`, streamed or chunked, switching to chunks on 413.
    async fn send_rest(
        &mut self,
        session: &mut BlobUpload,
        content: &ContentStore,
        digest: &Digest,
        size: u64,
        reporter: &mut Reporter,
    ) -> Result<(), SendError> {
        loop {
            let start = session.offset();
            if start >= size {
                return Ok(());
            }
            let result = match self.chunk {
                Some(chunk) => {
                    let len = chunk.min(size - start);
                    let bytes = read_range(content, digest, start, len).await?;
                    let r = session.write_chunk(bytes).await;
                    if r.is_ok() {
                        reporter.report(session.offset());
                    }
                    r
                }
                None => {
                    let body = file_body(content, digest, start, size, reporter.clone()).await?;
                    session.write_stream(body, Some(size - start)).await
                }
            };
            match result {
                Ok(()) => {}
                Err(e) if is_too_large(&e) => self.shrink_chunk(digest, size)?,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// After a 413: chunked from now on, at half the size tried last.
    fn shrink_chunk(&mut self, digest: &Digest, size: u64) -> Result<(), SendError> {
        let floor = self.policy.min_chunk_size.max(1);
        let next = match self.chunk {
            None => self.first_chunk(size),
            Some(c) if c / 2 >= floor => c / 2,
            Some(c) => {
                return Err(SendError::TooLarge {
                    digest: digest.clone(),
                    chunk: c,
                })
            }
        };
        tracing::debug!(chunk = next, "registry answered 413, sending in chunks");
        self.chunk = Some(next);
        Ok(())
    }

    /// The first chunk size after a refused whole body: below the body, at most the policy's.
    fn first_chunk(&self, size: u64) -> u64 {
        self.policy
            .chunk_size
            .min(size / 2)
            .max(self.policy.min_chunk_size.max(1))
    }
}

fn is_too_large(e: &RegistryError) -> bool {
    e.status() == Some(413)
}

/// A session the registry no longer knows: a new attempt opens another.
fn is_void_session(e: &RegistryError) -> bool {
    matches!(e.status(), Some(404) | Some(416))
        || e.code().is_some_and(|c| {
            matches!(
                c.as_str(),
                "BLOB_UPLOAD_UNKNOWN" | "BLOB_UPLOAD_INVALID" | "RANGE_INVALID"
            )
        })
}

/// Emits throttled `Pushing` events.
#[derive(Clone)]
pub(super) struct Reporter {
    sink: Arc<dyn ProgressSink>,
    id: Option<Digest>,
    total: u64,
    throttle: Throttle,
}

impl Reporter {
    fn new(sink: &Arc<dyn ProgressSink>, id: Option<&Digest>, total: u64) -> Reporter {
        Reporter {
            sink: Arc::clone(sink),
            id: id.cloned(),
            total,
            throttle: Throttle::new(),
        }
    }

    pub(super) fn report(&mut self, current: u64) {
        if let Some(id) = &self.id {
            if self.throttle.admit(current, Some(self.total)) {
                self.sink.emit(ProgressEvent::new(
                    id,
                    Status::Pushing {
                        current,
                        total: Some(self.total),
                    },
                ));
            }
        }
    }
}

/// A request body reading `digest` from `start` to `size` in 64 KiB pieces, reporting each.
async fn file_body(
    content: &ContentStore,
    digest: &Digest,
    start: u64,
    size: u64,
    reporter: Reporter,
) -> Result<reqwest::Body, SendError> {
    let file = open_at(content, digest, start).await?;
    let pieces = stream::try_unfold(
        (file, start, reporter),
        move |(mut file, pos, mut reporter)| async move {
            if pos >= size {
                return Ok::<_, std::io::Error>(None);
            }
            let want = (size - pos).min(64 << 10) as usize;
            let mut buf = vec![0u8; want];
            file.read_exact(&mut buf).await?;
            let pos = pos + want as u64;
            reporter.report(pos);
            Ok(Some((Bytes::from(buf), (file, pos, reporter))))
        },
    );
    Ok(reqwest::Body::wrap_stream(pieces))
}

async fn open_at(
    content: &ContentStore,
    digest: &Digest,
    start: u64,
) -> Result<tokio::fs::File, SendError> {
    let opened = {
        let content = content.clone();
        let digest = digest.clone();
        tokio::task::spawn_blocking(move || content.open_blob(&digest)).await
    };
    let std_file = match opened {
        Ok(Ok(file)) => file,
        Ok(Err(source)) => {
            return Err(SendError::Store {
                digest: digest.clone(),
                source,
            })
        }
        Err(join) => return Err(read_error(digest, std::io::Error::other(join))),
    };
    let mut file = tokio::fs::File::from_std(std_file);
    file.seek(SeekFrom::Start(start))
        .await
        .map_err(|e| read_error(digest, e))?;
    Ok(file)
}

/// `len` bytes of `digest` from `start` (a chunk or a small blob: bounded by the policy).
async fn read_range(
    content: &ContentStore,
    digest: &Digest,
    start: u64,
    len: u64,
) -> Result<Bytes, SendError> {
    let mut file = open_at(content, digest, start).await?;
    let len = usize::try_from(len).map_err(|e| read_error(digest, std::io::Error::other(e)))?;
    let mut buf = vec![0u8; len];
    file.read_exact(&mut buf)
        .await
        .map_err(|e| read_error(digest, e))?;
    Ok(Bytes::from(buf))
}

fn read_error(digest: &Digest, source: std::io::Error) -> SendError {
    SendError::Read {
        digest: digest.clone(),
        source,
    }
}

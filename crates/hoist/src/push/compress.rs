//! Push's writer for a layer stored uncompressed (a docker-archive load): compressed while it
//! is uploaded, and kept in the content store — [`StoreCompressWriter`], the push sink's
//! [`ImageSink::compressing_writer`](crate::copy::ImageSink::compressing_writer).
//!
//! docker 20.10's `v2PushDescriptor.uploadUsingSession` for a layer with no compressed blob
//! pipes the layer tar through `compression.CompressStream` into the upload session and learns
//! the digest at the end (`PUT ?digest=`). hoist does the same and, like containerd's
//! converters, also keeps what it sent: the compression task (`transfer::upload_compress`)
//! tees the compressed bytes into the content store, so the next push (to this registry or
//! another) re-sends exactly these bytes (see `super::convert`), and a failed attempt resumes
//! from the stored blob instead of compressing again.
//!
//! The first attempt starts the compression. A layer larger than
//! [`SendPolicy::monolithic_max`](crate::transfer::SendPolicy::monolithic_max) is streamed to
//! a new session as it is compressed (one `PATCH` with no length), closed with the digest once
//! it is known. A small layer, a registry that asks for chunks (`OCI-Chunk-Min-Length`) or one
//! that refuses the stream with `413` gets the stored compressed blob instead, sent by the
//! copy engine's registry writer ([`RemoteBlobWriter`]: monolithic, streamed or chunked) — as
//! does every later attempt, resuming a session that already received every byte (a failed
//! closing `PUT`) without sending them again.
//!
//! Progress: `Pushing` counts uncompressed bytes read while compressing (as docker counts
//! them), then bytes of the compressed blob sent by the registry writer, both under the
//! layer's line.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream;

use super::run::{DiffIds, Target};
use super::sink::record_source;
use crate::copy::remote_upload::RemoteBlobWriter;
use crate::copy::{BlobWriter, CompressingWriter, CopyError, ImageSource, Renamed};
use crate::digest::Digest;
use crate::media::Descriptor;
use crate::progress::{ProgressSink, PushReporter};
use crate::registry::{BlobUpload, RegistryError};
use crate::store::BlobInfo;
use crate::transfer::{CompressJob, CompressTask, Compression, SendError, CHANNEL_PIECES};

/// One uncompressed layer's way into the registry, over as many attempts as the engine makes.
pub(crate) struct StoreCompressWriter {
    run: Arc<Target>,
    /// The layer as stored (uncompressed; its blob digest is its diffID).
    layer: Descriptor,
    diff_id: Digest,
    diff_ids: Arc<DiffIds>,
    compression: Compression,
    workers: usize,
    location: String,
    /// The compression, from the first attempt until its blob is stored.
    task: Option<CompressTask>,
    /// The compressed blob, once stored.
    stored: Option<BlobInfo>,
    /// Sends the stored blob.
    writer: Option<RemoteBlobWriter>,
    /// A session that received the whole compressed stream but was not closed.
    filled: Option<BlobUpload>,
}

impl StoreCompressWriter {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        run: Arc<Target>,
        layer: Descriptor,
        diff_id: Digest,
        diff_ids: Arc<DiffIds>,
        compression: Compression,
        workers: usize,
        location: String,
    ) -> StoreCompressWriter {
        StoreCompressWriter {
            run,
            layer,
            diff_id,
            diff_ids,
            compression,
            workers,
            location,
            task: None,
            stored: None,
            writer: None,
            filled: None,
        }
    }

    fn registry_error(&self, e: RegistryError) -> CopyError {
        CopyError::upload(
            &self.location,
            format!("upload layer {} compressed", self.layer.digest),
            e,
        )
    }

    fn send_error(&self, e: SendError) -> CopyError {
        CopyError::Send {
            location: self.location.clone(),
            digest: self.layer.digest.clone(),
            source: Box::new(e),
        }
    }

    async fn attempt(
        &mut self,
        source: &dyn ImageSource,
        progress: Option<&Arc<dyn ProgressSink>>,
    ) -> Result<Descriptor, CopyError> {
        if self.stored.is_none() {
            if self.task.is_none() {
                if let Some(sent) = self.first(progress).await? {
                    return self.done(sent).await;
                }
            }
            self.stored = Some(self.wait().await?);
        }
        let Some(stored) = self.stored.clone() else {
            return Err(CopyError::Interrupted {
                reason: format!("compressed blob of layer {} lost", self.layer.digest),
            });
        };
        let blob = Descriptor::new(&self.layer.media_type, stored.digest.clone(), stored.size);
        let (repo, location, policy) = (
            self.run.repo.clone(),
            self.location.clone(),
            self.run.policy,
        );
        let writer = self
            .writer
            .get_or_insert_with(|| RemoteBlobWriter::new(repo, location, blob.clone(), policy));
        if let Some(session) = self.filled.take() {
            writer.adopt_complete(session).await;
        }
        let renamed = progress.map(|p| {
            Arc::new(Renamed::new(
                Arc::clone(p),
                &blob.digest,
                &self.layer.digest,
            )) as Arc<dyn ProgressSink>
        });
        writer.write(source, renamed.as_ref()).await?;
        self.done(stored).await
    }

    /// Starts the compression; for a large layer, streams it to a new session meanwhile.
    /// `Some` when that put the blob in the registry.
    async fn first(
        &mut self,
        progress: Option<&Arc<dyn ProgressSink>>,
    ) -> Result<Option<BlobInfo>, CopyError> {
        let job = CompressJob {
            content: self.run.content.clone(),
            diff_id: self.layer.digest.clone(),
            size: self.layer.size,
            compression: self.compression,
            workers: self.workers,
        };
        let reporter = PushReporter::new(progress, &self.layer.digest, self.layer.size);
        if self.layer.size <= self.run.policy.monolithic_max {
            self.task = Some(CompressTask::start(job, None, reporter));
            return Ok(None);
        }
        let mut session = match self.run.repo.start_upload().await {
            Ok(session) => session,
            Err(e) => return Err(self.registry_error(e)),
        };
        if session.min_chunk_size().is_some() {
            // Chunks are cut from the stored blob.
            let _ = session.cancel().await;
            self.task = Some(CompressTask::start(job, None, reporter));
            return Ok(None);
        }
        let (network, body) = tokio::sync::mpsc::channel(CHANNEL_PIECES);
        self.task = Some(CompressTask::start(job, Some(network), reporter));
        let pieces = stream::unfold(body, |mut body| async move {
            body.recv().await.map(|piece| (piece, body))
        });
        let streamed = session
            .write_stream(reqwest::Body::wrap_stream(pieces), None)
            .await;
        if let Err(e) = streamed {
            // The compression goes on into the store; the stored blob is sent next.
            let _ = session.cancel().await;
            if e.status() == Some(413) {
                return Ok(None);
            }
            return Err(self.registry_error(e));
        }
        let stored = self.wait().await?;
        let kept = session.clone();
        match session.finish(&stored.digest, None).await {
            Ok(()) => Ok(Some(stored)),
            Err(e) => {
                // Every byte is in the session and in the store: the next attempt asks the
                // registry what it holds and only closes it.
                self.stored = Some(stored);
                self.filled = Some(kept);
                Err(self.registry_error(e))
            }
        }
    }

    /// Waits for the compressed blob to be in the store.
    async fn wait(&mut self) -> Result<BlobInfo, CopyError> {
        let Some(mut task) = self.task.take() else {
            return Err(CopyError::Interrupted {
                reason: format!("no compression running for layer {}", self.layer.digest),
            });
        };
        task.wait().await.map_err(|e| self.send_error(e))
    }

    /// The compressed blob is in the registry: recorded as a blob of the layer (docker's
    /// `TagAndAdd`) and confirmed.
    async fn done(&mut self, sent: BlobInfo) -> Result<Descriptor, CopyError> {
        self.diff_ids
            .insert(sent.digest.clone(), self.diff_id.clone());
        record_source(&self.run, &self.diff_id, &sent.digest, &self.location).await?;
        self.run.confirm(&sent.digest);
        Ok(Descriptor::new("", sent.digest, sent.size))
    }
}

impl CompressingWriter for StoreCompressWriter {
    fn write<'a>(
        &'a mut self,
        source: &'a dyn ImageSource,
        progress: Option<&'a Arc<dyn ProgressSink>>,
    ) -> BoxFuture<'a, Result<Descriptor, CopyError>> {
        Box::pin(self.attempt(source, progress))
    }
}

//! The blob half of [`copy`](super::copy): every blob of the walk into the sink, each once, the
//! cheapest way first, scheduled and retried by the [`Scheduler`].
//!
//! One [`BlobJob`] per blob. On its first attempt it chooses its input (`blob_input`): the blob
//! as the source holds it; or, for a layer [`CopyOptions::compression`] asks to compress, the
//! compressed blob the source already has ([`ImageSource::compressed_blob`]) or the
//! compression step over the layer (`compress_step`, with a copy kept where the sink says:
//! [`ImageSink::keeps_compressed_in`]). A blob of known digest is looked for first
//! ([`ImageSink::find_blob`]: present, or mounted); otherwise the bytes go through the one
//! writer of the sink's [`BlobStore`](super::BlobStore), kept across attempts. A layer
//! compressed on the way comes back as the blob the sink now holds, which the manifests are
//! rewritten to name (`convert`).

use std::future::Future;
use std::sync::Arc;

use super::blob_input::{BlobInput, SourceBlob};
use super::compress_step::CompressedLayer;
use super::convert::{compressed_layer_type, needs_compression};
use super::sink::{DynBlobWriter, Found, ImageSink};
use super::source::ImageSource;
use super::{CopyError, CopyOptions};
use crate::digest::Digest;
use crate::media::Descriptor;
use crate::progress::{short_id, ProgressEvent, ProgressSink, Status, Wording};
use crate::reference::Repository;
use crate::transfer::{Scheduler, TransferConfig, TransferJob};

/// How a blob reached the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BlobResult {
    Existing,
    Mounted,
    Copied,
}

/// What one blob job yields: how it reached the sink, and, for a layer compressed on the way,
/// the layer as the source holds it and the blob the sink now has.
pub(super) type BlobOutput = (BlobResult, Option<(Descriptor, Descriptor)>);

/// Every blob of `blobs` (with whether it is a config) into the sink, cheapest way first.
/// A push sends the layers, then the configs (docker's push sends the config after the
/// layers, so a refusal on the first layer stops the copy before anything else is sent). A
/// pull fetches the configs beside the layers, as docker's puller and containerd fetch the
/// config at once: on a link with latency, fetching it after the last layer added one round
/// trip to every pull.
pub(super) async fn send_blobs(
    source: &dyn ImageSource,
    sink: &dyn ImageSink,
    blobs: &[(Descriptor, bool)],
    options: &CopyOptions,
    uploads: &Scheduler,
    progress: &Arc<dyn ProgressSink>,
) -> Result<Vec<BlobOutput>, CopyError> {
    let from = source.repository();
    let workers = match options.compression_workers {
        0 => crate::compress::default_workers(),
        n => n,
    };
    let job = |descriptor: &Descriptor, silent: bool| BlobJob {
        source,
        sink,
        id: source.progress_id(descriptor),
        descriptor: descriptor.clone(),
        compress: !silent
            && needs_compression(
                &descriptor.media_type,
                options.compression,
                options.recompress,
            ),
        options: (options.compression, workers),
        silent,
        from: from.clone(),
        wording: sink.wording(),
        input: None,
        writer: None,
        progress: Arc::clone(progress),
    };
    let layers = blobs.iter().filter(|(_, config)| !config);
    let configs = blobs.iter().filter(|(_, config)| *config);
    let layer_jobs = layers.map(|(d, c)| job(d, *c)).collect();
    let config_jobs: Vec<_> = configs.map(|(d, c)| job(d, *c)).collect();
    match sink.wording() {
        Wording::Push => {
            let mut done = uploads.run_all(layer_jobs, &**progress).await?;
            done.extend(uploads.run_all(config_jobs, &**progress).await?);
            Ok(done)
        }
        Wording::Pull => {
            // Outside the layers' slots, as docker's puller fetches the config beside its
            // download manager: a 3-layer image shows no layer `Waiting` for the config.
            let config_slots = Scheduler::new(TransferConfig {
                max_concurrent: config_jobs.len(),
                ..uploads.config().clone()
            });
            let configs = config_slots.run_all(config_jobs, &**progress);
            let layers = async {
                let (mut present, pending) = announce_pull(layer_jobs).await?;
                present.extend(uploads.run_all_announced(pending, &**progress).await?);
                Ok::<_, CopyError>(present)
            };
            let (mut done, layers) = futures_util::future::try_join(configs, layers).await?;
            done.extend(layers);
            Ok(done)
        }
    }
}

/// One blob, cheapest way first (see the module docs).
struct BlobJob<'a> {
    source: &'a dyn ImageSource,
    sink: &'a dyn ImageSink,
    /// Names the progress lines ([`ImageSource::progress_id`]).
    id: Digest,
    /// The blob as the source holds it.
    descriptor: Descriptor,
    /// A layer to compress on the way, with `options`' compression and threads.
    compress: bool,
    options: (crate::compress::Compression, usize),
    silent: bool,
    from: Option<Repository>,
    /// The sink's words for the blob's steps.
    wording: Wording,
    /// Chosen on the first attempt, kept for the others.
    input: Option<Input<'a>>,
    writer: Option<Box<dyn DynBlobWriter>>,
    progress: Arc<dyn ProgressSink>,
}

/// What a job sends.
enum Input<'a> {
    /// A blob the source holds; `converted` when it is the compressed form of the layer.
    Blob {
        blob: SourceBlob<'a>,
        converted: bool,
    },
    /// The layer compressed on the way.
    Compressed(CompressedLayer<'a>),
}

impl Input<'_> {
    fn as_dyn(&self) -> &dyn BlobInput {
        match self {
            Input::Blob { blob, .. } => blob,
            Input::Compressed(layer) => layer,
        }
    }
}

impl<'a> BlobJob<'a> {
    fn say(&self, status: Status) {
        if !self.silent {
            self.progress.emit(ProgressEvent::new(&self.id, status));
        }
    }

    /// The progress sink for a writer that names its lines by `digest`, renaming them to
    /// the progress id.
    fn writer_progress(&self, digest: &Digest) -> Option<Arc<dyn ProgressSink>> {
        if self.silent {
            return None;
        }
        Some(if self.id == *digest {
            Arc::clone(&self.progress)
        } else {
            Arc::new(Renamed::new(Arc::clone(&self.progress), digest, &self.id))
        })
    }

    /// The blob as it is, a compressed blob the source has, or the compression step. Borrows
    /// nothing of the job across its awaits (the job's writer need not be `Sync`).
    fn choose(&self) -> impl Future<Output = Result<Input<'a>, CopyError>> + Send + 'a {
        let (source, sink, compress) = (self.source, self.sink, self.compress);
        let (descriptor, (compression, workers)) = (self.descriptor.clone(), self.options);
        let as_is = self.silent;
        async move {
            if !compress {
                let blob = SourceBlob::new(source, descriptor);
                // Configs and referrers' blobs (the silent ones) are no image layers.
                let blob = if as_is { blob.as_is() } else { blob };
                return Ok(Input::Blob {
                    blob,
                    converted: false,
                });
            }
            if let Some(mut blob) = source.compressed_blob(&descriptor, compression).await? {
                blob.media_type =
                    compressed_layer_type(&descriptor.media_type, compression).to_owned();
                let blob = SourceBlob::new(source, blob);
                return Ok(Input::Blob {
                    blob,
                    converted: true,
                });
            }
            if !sink.takes_compressed_layers() {
                return Err(CopyError::CannotCompress {
                    location: sink.location(),
                    digest: descriptor.digest,
                });
            }
            let keep = sink.keeps_compressed_in();
            let layer = CompressedLayer::new(source, descriptor, compression, workers, keep);
            Ok(Input::Compressed(layer))
        }
    }

    async fn once(&mut self) -> Result<BlobOutput, CopyError> {
        let input = match self.input.take() {
            Some(input) => input,
            None => self.choose().await?,
        };
        let sent = self.send(input.as_dyn()).await;
        let converted = match &input {
            Input::Blob { converted, .. } => *converted,
            Input::Compressed(_) => true,
        };
        self.input = Some(input);
        let (result, blob) = sent?;
        Ok((result, converted.then(|| (self.descriptor.clone(), blob))))
    }

    /// The input into the sink: found there, or written; the blob the sink now holds.
    async fn send(&mut self, input: &dyn BlobInput) -> Result<(BlobResult, Descriptor), CopyError> {
        if let Some(known) = input.descriptor() {
            if let Some(found) = self.sink.find_blob(known, self.from.as_ref()).await? {
                return Ok((self.found(found), known.clone()));
            }
        }
        let progress = self.writer_progress(input.id());
        let sink = self.sink;
        let writer = self
            .writer
            .get_or_insert_with(|| sink.blobs().blob_writer(input));
        let mut blob = writer.write_dyn(input, progress.as_ref()).await?;
        blob.media_type = input.media_type().to_owned();
        self.say(self.wording.done());
        Ok((BlobResult::Copied, blob))
    }

    /// The blob was made present without its bytes: says so, in the sink's words.
    fn found(&self, found: Found) -> BlobResult {
        match found {
            Found::Existing => {
                self.say(self.wording.present());
                BlobResult::Existing
            }
            Found::Mounted(repository) => {
                self.say(Status::MountedFrom { repository });
                BlobResult::Mounted
            }
        }
    }
}

impl TransferJob for BlobJob<'_> {
    type Output = BlobOutput;
    type Error = CopyError;

    fn progress_id(&self) -> Option<&Digest> {
        (!self.silent).then_some(&self.id)
    }

    async fn attempt(&mut self) -> Result<Self::Output, CopyError> {
        self.once().await
    }
}

/// docker's pull order, for a sink speaking [`Wording::Pull`]: a layer the sink already holds
/// is `Already exists` and is never scheduled; every other one is announced `Pulling fs
/// layer` before any of them waits for a slot. Returns the blobs found and the jobs left.
async fn announce_pull<'a>(
    jobs: Vec<BlobJob<'a>>,
) -> Result<(Vec<BlobOutput>, Vec<BlobJob<'a>>), CopyError> {
    let mut found = Vec::new();
    let mut pending = Vec::with_capacity(jobs.len());
    for job in jobs {
        let present = match job.compress {
            false => {
                job.sink
                    .find_blob(&job.descriptor, job.from.as_ref())
                    .await?
            }
            // Whether the compressed blob is present is only known once it is made.
            true => None,
        };
        match present {
            Some(present) => found.push((job.found(present), None)),
            None => {
                job.say(Wording::Pull.announced());
                pending.push(job);
            }
        }
    }
    Ok((found, pending))
}

/// Passes events on with the lines of one blob renamed from its digest to its progress id
/// (what a writer reports under the digest, a push shows under the diffID).
pub(crate) struct Renamed {
    inner: Arc<dyn ProgressSink>,
    from: String,
    to: String,
}

impl Renamed {
    pub(crate) fn new(inner: Arc<dyn ProgressSink>, from: &Digest, to: &Digest) -> Renamed {
        Renamed {
            inner,
            from: short_id(from),
            to: short_id(to),
        }
    }
}

impl ProgressSink for Renamed {
    fn emit(&self, mut event: ProgressEvent) {
        if event.id == self.from {
            event.id.clone_from(&self.to);
        }
        self.inner.emit(event);
    }
}

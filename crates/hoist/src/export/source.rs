//! Export straight from an image source, nothing stored: `hoist export docker://REF DIR`, the
//! task `crane export REF - | tar -x` does, with every byte verified — or `oci:PATH[:TAG]`
//! (`umoci unpack`'s task), `dir:`, an archive: any [`ImageSource`]. Or as one tar stream
//! ([`export_tar_from_source`], `crane export REF -`'s task), the layers read from the top
//! one down ([`super::flatten`]).
//!
//! The image is chosen as [`ImageView::image`] chooses it (the platform asked for, else the
//! host's), judged by the trust policy when one applies (its image manifest, before any layer
//! is read: DESIGN.md principle 6), and its layers are applied onto the target in order, each
//! in one pass: the blob's bytes stream from the source (retried and resumed at the byte
//! reached, as a pull's are) and are hashed as they arrive, decompressed on a thread of its
//! own, hashed again (the diffID) and untarred in apply mode — the blob route of
//! [`export_image`](super::export_image) with a network stream in place of the stored file.
//! The next layers' blobs are requested while one is applied ([`SourceExport::downloads`] at
//! once), each held back by a channel of a few chunks until its turn: a registry's round
//! trips overlap the work, and memory stays bounded whatever the layers' sizes.
//!
//! A layer is only known good once its last byte arrived: a blob whose bytes do not hash to
//! its digest, a diffID other than the config's, a cut the retries cannot bridge, all fail the
//! export, and a failed export removes what it wrote (the rules of [`crate::export`]), so a
//! tree that is left is one whose every byte was verified.

use std::io::{self, Write};
use std::path::Path;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use tokio::sync::mpsc;

use super::tar_out::TarExport;
use super::{ExportError, ExportOptions, ExportReport, ExportSource, TarReport, Target};
use crate::compress::{Compression, DecodeAhead, Decoder};
use crate::copy::{CopyError, ImageSource};
use crate::digest::Hasher;
use crate::media::{Descriptor, Platform};
use crate::store::layers::{compression_of, unpack_decoded};
use crate::store::metadata::ImageLayer;
use crate::store::FileError;
use crate::transfer::RetryPolicy;
use crate::trust::Verification;
use crate::unpack::{ChannelReader, UnpackMode, UnpackOptions, UnpackReport};
use crate::view::{ImageView, ViewError};

/// Chunks in flight between a layer's fetch and its unpack thread.
const DEPTH: usize = 16;

/// What to export from a source, besides [`ExportOptions`].
pub struct SourceExport<'a> {
    /// The platform of a multi-platform image (the host's when `None`).
    pub platform: Option<&'a Platform>,
    /// The trust policy's verifier with the source as its subject, when one applies.
    pub verify: Option<&'a Verification>,
    /// How a failed blob read is retried (resumed at the byte reached).
    pub retry: RetryPolicy,
    /// Blobs read at once (at least 1): the layer being applied and the next ones
    /// (`max_concurrent_downloads`, docker's 3).
    pub downloads: usize,
}

/// Writes the root filesystem of the image `source` names into `dir`, reading it from the
/// source as it goes and storing nothing (see the module docs). Needs a tokio runtime with
/// blocking threads.
pub async fn export_from_source(
    source: &dyn ImageSource,
    what: &SourceExport<'_>,
    dir: &Path,
    options: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    let (platform, layers) = chosen_layers(source, what).await?;
    let target = Target::prepare(dir, options.force)?;
    let result = apply_layers(source, &layers, target.dir(), options, what).await;
    let report = target.finish(result)?;
    Ok(ExportReport {
        platform: Some(platform),
        ..report
    })
}

/// Writes the flattened root filesystem of the image `source` names to `out` as one tar
/// ([`export_tar`](super::export_tar)'s, for an image outside the store), reading its layers
/// from the top one down, each verified as it is read; nothing stored. The next layers' blobs
/// are requested while one is read (`downloads` at once, each held to a few chunks until its
/// turn); a layer with links to its own hidden entries is fetched a second time. Returns what
/// was written and the image's platform. Needs a tokio runtime with blocking threads.
pub async fn export_tar_from_source<W: Write + Send + 'static>(
    source: &dyn ImageSource,
    what: &SourceExport<'_>,
    out: W,
) -> Result<(TarReport, Platform), ExportError> {
    let (platform, layers) = chosen_layers(source, what).await?;
    let retry = &what.retry;
    let top_down: Vec<usize> = (0..layers.len()).rev().collect();
    let (senders, receivers): (Vec<_>, Vec<_>) =
        top_down.iter().map(|_| mpsc::channel(DEPTH)).unzip();
    let fetches: Vec<_> = top_down
        .iter()
        .zip(senders)
        .map(|(&i, chunks)| fetch_nth(i, source, &layers[i].0, chunks, retry))
        .collect();
    let fetches = futures_util::stream::iter(fetches)
        .buffered(what.downloads.max(1))
        .try_collect::<Vec<Fetched>>();
    let reads = async {
        let mut export = TarExport::new(out);
        for (&i, received) in top_down.iter().zip(receivers) {
            let (descriptor, layer) = &layers[i];
            let decoded = start_decoder(layer, received).map_err(|e| (i, e))?;
            let owned = layer.clone();
            let read = move |x: &mut TarExport<W>| x.layer(i, &owned, decoded);
            let (next, reread) = blocking(export, layer, read).await.map_err(|e| (i, e))?;
            export = next;
            if !reread.is_empty() {
                let owned = layer.clone();
                let read = move |x: &mut TarExport<W>, d| x.reread(&owned, d, reread);
                let again = tar_pass(source, descriptor, layer, retry, export, read).await;
                export = again.map_err(|e| (i, e))?.0;
            }
        }
        Ok::<_, (usize, ExportError)>(export)
    };
    let (fetched, read) = tokio::join!(fetches, reads);
    // The first layer read (the highest) that failed decides; for one layer, the fetch's
    // failure is the cause (the reading only saw its stream end badly).
    let export = match (fetched, read) {
        (Err((f, fetch)), Err((r, read))) => return Err(if f >= r { fetch } else { read }),
        (Err((_, fetch)), Ok(_)) => return Err(fetch),
        (Ok(_), Err((_, read))) => return Err(read),
        (Ok(fetched), Ok(export)) => {
            if let Some(i) = fetched.iter().position(|f| matches!(f, Fetched::Abandoned)) {
                return Err(ExportError::Stopped {
                    blob: layers[top_down[i]].1.digest.clone(),
                    reason: "the layer was read before its blob was read to the end".into(),
                });
            }
            export
        }
    };
    let count = layers.len();
    let report = tokio::task::spawn_blocking(move || export.finish(count))
        .await
        .map_err(|e| ExportError::Write(io::Error::other(e)))??;
    Ok((report, platform))
}

/// Runs `work` on the tar export `export` on a blocking thread; returns the export for the
/// next pass, and what `work` returned.
async fn blocking<W, T>(
    export: TarExport<W>,
    layer: &ImageLayer,
    work: impl FnOnce(&mut TarExport<W>) -> Result<T, ExportError> + Send + 'static,
) -> Result<(TarExport<W>, T), ExportError>
where
    W: Write + Send + 'static,
    T: Send + 'static,
{
    let (export, worked) = tokio::task::spawn_blocking(move || {
        let mut export = export;
        let result = work(&mut export);
        (export, result)
    })
    .await
    .map_err(|e| ExportError::Stopped {
        blob: layer.digest.clone(),
        reason: e.to_string(),
    })?;
    Ok((export, worked?))
}

/// A second read of `layer`'s blob into the tar export `export`: the blob fetched again
/// (retried, hashed) while `work` reads it decompressed on a blocking thread.
async fn tar_pass<W, T>(
    source: &dyn ImageSource,
    descriptor: &Descriptor,
    layer: &ImageLayer,
    retry: &RetryPolicy,
    export: TarExport<W>,
    work: impl FnOnce(&mut TarExport<W>, DecodeAhead) -> Result<T, ExportError> + Send + 'static,
) -> Result<(TarExport<W>, T), ExportError>
where
    W: Write + Send + 'static,
    T: Send + 'static,
{
    let (chunks, received) = mpsc::channel(DEPTH);
    let decoded = start_decoder(layer, received)?;
    let read = blocking(export, layer, move |x| work(x, decoded));
    let (fetched, read) = tokio::join!(fetch(source, descriptor, chunks, retry), read);
    // The fetch's failure is the cause: the reading only saw its stream end badly.
    match (fetched?, read?) {
        (Fetched::Whole, done) => Ok(done),
        (Fetched::Abandoned, _) => Err(ExportError::Stopped {
            blob: layer.digest.clone(),
            reason: "the layer was read before its blob was read to the end".into(),
        }),
    }
}

/// The image `source` names, chosen and judged as [`export_from_source`] says: its platform,
/// and its layers, bottom first, each with the diffID its config gives it.
async fn chosen_layers(
    source: &dyn ImageSource,
    what: &SourceExport<'_>,
) -> Result<(Platform, Vec<(Descriptor, ImageLayer)>), ExportError> {
    let view = ImageView::new(source);
    let image = view.image(what.platform).await.map_err(Box::new)?;
    if let Some(verification) = what.verify {
        verification
            .check(&image.descriptor.digest)
            .await
            .map_err(Box::new)?;
    }
    let (config, _) = view.config(&image).await.map_err(Box::new)?;
    let diff_ids = config.diff_ids();
    let count = image.manifest.classified_layers().count();
    if count != diff_ids.len() {
        return Err(ExportError::DiffIdCount {
            image: image.descriptor.digest.clone(),
            layers: count,
            diff_ids: diff_ids.len(),
        });
    }
    let layers = image
        .manifest
        .classified_layers()
        .zip(diff_ids)
        .map(|((descriptor, _), diff_id)| {
            let layer = ImageLayer {
                diff_id: diff_id.clone(),
                digest: descriptor.digest.clone(),
                size: descriptor.size,
                media_type: descriptor.media_type.clone(),
            };
            (descriptor.clone(), layer)
        })
        .collect();
    Ok((config.platform(), layers))
}

async fn apply_layers(
    source: &dyn ImageSource,
    layers: &[(Descriptor, ImageLayer)],
    dir: &Path,
    options: &ExportOptions,
    what: &SourceExport<'_>,
) -> Result<ExportReport, ExportError> {
    let retry = &what.retry;
    let unpack = UnpackOptions {
        mode: UnpackMode::Apply,
        ..options.unpack.clone()
    };
    let (senders, receivers): (Vec<_>, Vec<_>) =
        layers.iter().map(|_| mpsc::channel(DEPTH)).unzip();
    // The next layers' blobs are requested while one is applied; each fetch waits on its
    // channel until its layer's turn, so memory stays at `DEPTH` chunks a layer.
    let fetches: Vec<_> = layers
        .iter()
        .zip(senders)
        .enumerate()
        .map(|(i, ((descriptor, _), chunks))| fetch_nth(i, source, descriptor, chunks, retry))
        .collect();
    let fetches = futures_util::stream::iter(fetches)
        .buffered(what.downloads.max(1))
        .try_collect::<Vec<Fetched>>();
    let applies = async {
        let mut unapplied = Vec::new();
        // Each layer's decoder is started while the one before it is applied, so inflating
        // the next overlaps untarring this one. Dropped on the first failure: the fetches
        // still waiting on their channels stop.
        let mut decoders = layers
            .iter()
            .zip(receivers)
            .map(|((_, layer), received)| start_decoder(layer, received));
        let mut next = decoders.next().transpose().map_err(|e| (0, e))?;
        for (i, (_, layer)) in layers.iter().enumerate() {
            let Some(decoded) = next.take() else { break };
            next = decoders.next().transpose().map_err(|e| (i + 1, e))?;
            let report = apply(layer, decoded, dir, &unpack)
                .await
                .map_err(|e| (i, e))?;
            unapplied.extend(report.unapplied);
        }
        Ok::<_, (usize, ExportError)>(unapplied)
    };
    let (fetched, applied) = tokio::join!(fetches, applies);
    // The first layer that failed decides; for one layer, the fetch's failure is the cause
    // (the unpack only saw its stream end badly).
    let unapplied = match (fetched, applied) {
        (Err((f, fetch)), Err((a, apply))) => return Err(if f <= a { fetch } else { apply }),
        (Err((_, fetch)), Ok(_)) => return Err(fetch),
        (Ok(_), Err((_, apply))) => return Err(apply),
        (Ok(fetched), Ok(unapplied)) => {
            let abandoned = fetched.iter().position(|f| matches!(f, Fetched::Abandoned));
            if let Some(i) = abandoned {
                return Err(ExportError::Stopped {
                    blob: layers[i].1.digest.clone(),
                    reason: "the layer was applied before its blob was read to the end".into(),
                });
            }
            unapplied
        }
    };
    Ok(ExportReport {
        source: ExportSource::Source,
        layers: layers.len(),
        unapplied,
        platform: None,
    })
}

/// The decoder of `layer`'s chunks `received`, decoding on a thread of its own from now on.
fn start_decoder(
    layer: &ImageLayer,
    received: mpsc::Receiver<io::Result<Bytes>>,
) -> Result<DecodeAhead, ExportError> {
    let compression = compression_of(layer)?;
    let chunks = io::BufReader::with_capacity(1 << 16, ChannelReader::new(received));
    let deferred = Deferred::Pending(Some((compression, chunks)));
    DecodeAhead::spawn(deferred).map_err(|source| {
        ExportError::Io(FileError {
            op: "start decompressing",
            path: layer.digest.as_str().into(),
            source,
        })
    })
}

/// A decoder made at its first read, on the decoder's thread: making one reads the stream's
/// header, which may wait for the network (never on the async runtime).
enum Deferred {
    Pending(Option<(Compression, io::BufReader<ChannelReader>)>),
    Made(Decoder<io::BufReader<ChannelReader>>),
}

impl io::Read for Deferred {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Deferred::Pending(pending) = self {
            let (compression, chunks) = pending
                .take()
                .ok_or_else(|| io::Error::other("the decoder could not be made"))?;
            *self = Deferred::Made(Decoder::new(compression, chunks)?);
        }
        match self {
            Deferred::Made(decoder) => decoder.read(buf),
            Deferred::Pending(_) => Err(io::Error::other("the decoder could not be made")),
        }
    }
}

/// Applies `layer` from its started decoder on a blocking thread, its diffID checked.
async fn apply(
    layer: &ImageLayer,
    decoded: DecodeAhead,
    dir: &Path,
    unpack: &UnpackOptions,
) -> Result<UnpackReport, ExportError> {
    let (layer, dir, unpack) = (layer.clone(), dir.to_owned(), unpack.clone());
    let blob = layer.digest.clone();
    tokio::task::spawn_blocking(move || {
        let error = |source| ExportError::Unpack {
            blob: layer.digest.clone(),
            source,
        };
        unpack_decoded(decoded, &layer, &dir, &unpack, error)
    })
    .await
    .map_err(|e| ExportError::Stopped {
        blob,
        reason: e.to_string(),
    })?
}

/// How a fetch ended without failing.
enum Fetched {
    /// Every byte was read, and they were the blob's.
    Whole,
    /// The unpack stopped reading first (it failed; its error says why).
    Abandoned,
}

/// [`fetch`] of the `i`-th layer, its failure numbered.
async fn fetch_nth(
    i: usize,
    source: &dyn ImageSource,
    descriptor: &Descriptor,
    chunks: mpsc::Sender<io::Result<Bytes>>,
    retry: &RetryPolicy,
) -> Result<Fetched, (usize, ExportError)> {
    fetch(source, descriptor, chunks, retry)
        .await
        .map_err(|e| (i, e))
}

/// Streams the blob `descriptor` names into `chunks`, hashing every byte; a failed read is
/// retried as `retry` says, from the byte reached. The last chunk is followed by the end of
/// the stream only when the bytes were the blob's; otherwise by an error, so the unpack never
/// ends cleanly on bytes that are not the layer.
async fn fetch(
    source: &dyn ImageSource,
    descriptor: &Descriptor,
    chunks: mpsc::Sender<io::Result<Bytes>>,
    retry: &RetryPolicy,
) -> Result<Fetched, ExportError> {
    let mut hasher = Hasher::new(descriptor.digest.algorithm());
    let mut received: u64 = 0;
    let mut failed = 0;
    let failure = |chunks: mpsc::Sender<io::Result<Bytes>>, error: ExportError| async move {
        let _ = chunks.send(Err(io::Error::other(error.to_string()))).await;
        Err(error)
    };
    loop {
        let error = match source.open_blob(descriptor, received).await {
            Ok(mut stream) => loop {
                match stream.next().await {
                    None => break None,
                    Some(Ok(chunk)) => {
                        received += chunk.len() as u64;
                        if received > descriptor.size {
                            break Some(size_error(source, descriptor, received));
                        }
                        hasher.update(&chunk);
                        if chunks.send(Ok(chunk)).await.is_err() {
                            return Ok(Fetched::Abandoned);
                        }
                    }
                    Some(Err(e)) => break Some(e),
                }
            },
            Err(e) => Some(e),
        };
        let Some(error) = error else { break };
        failed += 1;
        match retry.next_wait(failed, &error) {
            Some(wait) => {
                tracing::warn!(%error, attempt = failed, ?wait, blob = %descriptor.digest, "reading a layer failed, retrying");
                tokio::time::sleep(wait).await;
            }
            None => return failure(chunks, ExportError::Source(Box::new(error))).await,
        }
    }
    if received != descriptor.size {
        let error = ViewError::SizeMismatch {
            location: source.location(),
            digest: descriptor.digest.clone(),
            declared: descriptor.size,
            actual: received,
        };
        return failure(chunks, ExportError::View(Box::new(error))).await;
    }
    let actual = hasher.finish();
    if actual != descriptor.digest {
        let error = ViewError::BlobVerification {
            location: source.location(),
            expected: descriptor.digest.clone(),
            actual,
        };
        return failure(chunks, ExportError::View(Box::new(error))).await;
    }
    Ok(Fetched::Whole)
}

/// More bytes than the descriptor declares: not retried (the source serves another blob).
fn size_error(source: &dyn ImageSource, descriptor: &Descriptor, received: u64) -> CopyError {
    CopyError::SizeMismatch {
        location: source.location(),
        digest: descriptor.digest.clone(),
        expected: descriptor.size,
        actual: received,
    }
}

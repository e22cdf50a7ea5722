//! The layer store's [`LayerSinkFactory`]: unpacking a layer while its blob downloads
//! (docker's `RootFSDownloadManager` registering layers from the download stream).
//!
//! Each [`LayerStore::open`] (one per pass over a layer's bytes) makes a temporary layer
//! directory and starts a thread running [`unpack_layer`] in diff mode on it, fed through a
//! bounded channel ([`ChannelReader`]); the pipeline's `write` calls send the decompressed
//! chunks. Layers are independent directories, so as many unpack in parallel as the download
//! manager downloads.
//!
//! - `finish(diff_id)` (the blob verified): the thread's result is awaited; on success
//!   `layer.json` (and `unapplied.jsonl` when unprivileged) are written and the directory is
//!   **staged** under the blob digest and diffID, still invisible. It becomes
//!   `layers/<chainID>` only in [`LayerStore::register_image`], after pull has checked the
//!   diffIDs against the image config — the chain ID needs the config anyway.
//! - `abort()`: an error is pushed into the channel (so a stream cut at an entry boundary is
//!   not taken for a complete tar), the thread awaited, the directory removed.
//!
//! A failed unpack fails the blob's transfer (the sink's error), so pull fails with it.

use std::io;
use std::thread::JoinHandle;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::staging::TempLayer;
use super::{LayerSink, LayerSinkFactory, LayerStore, Staged};
use crate::digest::Digest;
use crate::unpack::{unpack_layer, ChannelReader, UnpackError, UnpackReport};

/// Chunks in flight between the download pipeline and one unpack thread.
const CHANNEL_CHUNKS: usize = 16;

type Worker = JoinHandle<Result<UnpackReport, UnpackError>>;

impl LayerSinkFactory for LayerStore {
    fn open(&self, digest: &Digest) -> io::Result<Box<dyn LayerSink>> {
        let temp = TempLayer::create(self.dir())?;
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL_CHUNKS);
        let target = temp.diff();
        let options = self.unpack_options().clone();
        let worker = std::thread::Builder::new()
            .name(format!("hoist-unpack-{}", short(digest)))
            .spawn(move || unpack_layer(ChannelReader::new(rx), &target, &options))?;
        Ok(Box::new(UnpackSink {
            store: self.clone(),
            blob: digest.clone(),
            temp: Some(temp),
            tx: Some(tx),
            worker: Some(worker),
        }))
    }
}

/// One pass of one layer's bytes into a temporary directory.
struct UnpackSink {
    store: LayerStore,
    blob: Digest,
    temp: Option<TempLayer>,
    tx: Option<mpsc::Sender<io::Result<Bytes>>>,
    worker: Option<Worker>,
}

impl UnpackSink {
    /// Closes the channel and waits for the unpack's result.
    fn join(&mut self) -> io::Result<UnpackReport> {
        self.tx = None;
        let Some(worker) = self.worker.take() else {
            return Err(io::Error::other("the unpack thread was already joined"));
        };
        match worker.join() {
            Ok(Ok(report)) => Ok(report),
            Ok(Err(e)) => Err(io::Error::other(format!(
                "unpacking layer {} failed: {e}",
                self.blob
            ))),
            Err(_) => Err(io::Error::other(format!(
                "the thread unpacking layer {} panicked",
                self.blob
            ))),
        }
    }
}

impl LayerSink for UnpackSink {
    fn write(&mut self, decompressed: Bytes) -> io::Result<()> {
        let Some(tx) = &self.tx else {
            return Err(io::Error::other("write after the layer stream ended"));
        };
        if tx.blocking_send(Ok(decompressed)).is_err() {
            // The unpack stopped reading: it failed. Its error says why.
            return Err(match self.join() {
                Err(e) => e,
                Ok(_) => io::Error::other(format!(
                    "the unpack of layer {} ended before its stream",
                    self.blob
                )),
            });
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>, diff_id: &Digest) -> io::Result<()> {
        let report = self.join()?;
        let Some(temp) = self.temp.take() else {
            return Err(io::Error::other("the layer's directory is gone"));
        };
        let options = self.store.unpack_options();
        let meta = temp.describe(diff_id, options.whiteouts, options.privileges, &report)?;
        self.store.stage(
            self.blob.clone(),
            Staged {
                diff_id: diff_id.clone(),
                size: meta.size,
                temp,
            },
        );
        Ok(())
    }

    fn abort(mut self: Box<Self>) {
        if let Some(tx) = self.tx.take() {
            // Fails only when the unpack already stopped; either way it ends.
            let _ = tx.blocking_send(Err(io::Error::other("layer download aborted")));
        }
        let _ = self.join();
        // Dropping the temporary directory removes it.
        self.temp = None;
    }
}

impl Drop for UnpackSink {
    fn drop(&mut self) {
        // Neither finished nor aborted (the pipeline thread unwound): stop the unpack.
        if self.worker.is_some() {
            if let Some(tx) = self.tx.take() {
                let _ = tx.try_send(Err(io::Error::other("layer stream dropped")));
            }
            let _ = self.join();
        }
    }
}

fn short(digest: &Digest) -> &str {
    digest.hex().get(..12).unwrap_or(digest.hex())
}

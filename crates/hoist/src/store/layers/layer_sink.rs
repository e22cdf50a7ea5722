//! The hook through which decompressed layer bytes leave the download pipeline
//! (`crate::transfer`'s `pipeline`): the layer store's tar unpacker plugs in here (docker's
//! `layer.Store.Register`, which `xfer` feeds with the decompressed stream). The traits live
//! with the layer store, which implements them (`sink`), so the store does not depend on the
//! transfer code that calls them.
//!
//! # Contract
//! - A sink sees each decompressed byte of the layer exactly once, in order, on one blocking
//!   thread. Resuming after a dropped connection does not replay anything.
//! - It is then either finished (the compressed digest verified and the whole stream was
//!   written; `finish` gets the diffID computed over exactly those bytes) or aborted (download
//!   given up, digest mismatch, decompression error, or a restart from byte zero because the
//!   registry ignored `Range`). After an abort the pipeline may ask the factory for a fresh
//!   sink and start over.
//! - The pull code still checks the diffID against the image config after `finish`; an
//!   unpacker should therefore stage its result until then, keyed by that diffID.

use std::io;

use bytes::Bytes;

use crate::digest::Digest;

/// The layer sink: receives the decompressed bytes of one layer on their way into the store's
/// unpacker (not an image sink, which receives whole images in a copy, nor a blob writer, which
/// receives a blob's stored bytes). Blocking; runs on the pipeline's thread.
pub trait LayerSink: Send {
    /// The next decompressed bytes (shared with the diffID's hasher, not copied).
    fn write(&mut self, decompressed: Bytes) -> io::Result<()>;

    /// The stream is complete and its blob verified; `diff_id` is the sha256 of every byte
    /// written.
    fn finish(self: Box<Self>, diff_id: &Digest) -> io::Result<()>;

    /// The stream will not complete; drop whatever was staged.
    fn abort(self: Box<Self>);
}

/// Makes the [`LayerSink`] for a layer, once per pass over its bytes (again after a restart
/// from zero).
pub trait LayerSinkFactory: Send + Sync {
    /// A fresh sink for the layer blob `digest`.
    fn open(&self, digest: &Digest) -> io::Result<Box<dyn LayerSink>>;
}

impl<F> LayerSinkFactory for F
where
    F: Fn(&Digest) -> io::Result<Box<dyn LayerSink>> + Send + Sync,
{
    fn open(&self, digest: &Digest) -> io::Result<Box<dyn LayerSink>> {
        self(digest)
    }
}

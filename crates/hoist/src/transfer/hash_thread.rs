//! [`HashThread`]: the diffID's sha256 on a thread of its own, so that hashing the
//! decompressed bytes overlaps with decompressing them (the pipeline thread) and untarring
//! them (the layer sink's thread).
//!
//! Measured before it existed (`perf record`, `hoist pull` of the Debian minbase image, zstd,
//! tmpfs): the pipeline thread was the critical path with 55 % of the samples, a quarter of
//! all samples being sha256 (the compressed and the decompressed bytes).
//!
//! Chunks are shared, not copied ([`Bytes`]: the layer sink gets the same ones), through a
//! bounded channel ([`DEPTH`] chunks), so memory stays bounded and a slow hasher slows the
//! decoder rather than queueing the layer. Dropping a `HashThread`
//! without [`HashThread::finish`] (a restarted or failed pass) ends the thread.

use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use bytes::Bytes;

use crate::digest::{Algorithm, Digest, Hasher};

/// Chunks queued for the hashing thread.
const DEPTH: usize = 8;

/// A sha256 computed on another thread from the chunks given to [`HashThread::update`].
pub(crate) struct HashThread {
    chunks: Option<SyncSender<Bytes>>,
    thread: Option<JoinHandle<Digest>>,
    /// Hashes here when the thread could not be started or has gone.
    local: Option<Hasher>,
}

impl HashThread {
    /// Starts the thread (or, if the system refuses one, hashes on the caller's thread).
    pub(crate) fn new() -> HashThread {
        let (tx, rx) = sync_channel::<Bytes>(DEPTH);
        let spawned = std::thread::Builder::new()
            .name("hoist-diffid".to_owned())
            .spawn(move || {
                let mut hasher = Hasher::new(Algorithm::Sha256);
                for chunk in rx {
                    hasher.update(&chunk);
                }
                hasher.finish()
            });
        match spawned {
            Ok(thread) => HashThread {
                chunks: Some(tx),
                thread: Some(thread),
                local: None,
            },
            Err(_) => HashThread {
                chunks: None,
                thread: None,
                local: Some(Hasher::new(Algorithm::Sha256)),
            },
        }
    }

    /// Adds `bytes` to the hash.
    pub(crate) fn update(&mut self, bytes: Bytes) {
        if let Some(local) = &mut self.local {
            local.update(&bytes);
            return;
        }
        if let Some(tx) = &self.chunks {
            if tx.send(bytes).is_ok() {
                return;
            }
        }
        // The thread is gone (it cannot fail on its own, so only a panic): the digest
        // cannot be completed, which `finish` reports with `None`.
        self.chunks = None;
        self.thread = None;
    }

    /// The digest of everything given to [`HashThread::update`]; `None` if the hashing
    /// thread died.
    pub(crate) fn finish(mut self) -> Option<Digest> {
        if let Some(local) = self.local.take() {
            return Some(local.finish());
        }
        let tx = self.chunks.take()?;
        drop(tx);
        self.thread.take()?.join().ok()
    }
}

impl Drop for HashThread {
    fn drop(&mut self) {
        // Closing the channel ends the thread; it is not waited for.
        self.chunks.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_the_sha256_of_the_chunks_in_order() {
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut hash = HashThread::new();
        for chunk in data.chunks(65_536) {
            hash.update(Bytes::copy_from_slice(chunk));
        }
        assert_eq!(hash.finish(), Some(Digest::sha256_of(&data)));
    }

    #[test]
    fn nothing_hashed_is_the_empty_digest() {
        assert_eq!(HashThread::new().finish(), Some(Digest::sha256_of(b"")));
    }
}

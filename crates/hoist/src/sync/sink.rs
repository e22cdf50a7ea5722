//! The destination of one synced image: [`SyncSink`], the image's own sink (a registry
//! repository, a layout entry) that also knows what the whole run has put at the
//! destination and is putting there now ([`RunState`]), so a blob shared by several images
//! is sent once.
//!
//! `copy` already makes each blob present the cheapest way through
//! [`ImageSink::find_blob`]: held ⇒ `Layer already exists`; on the same registry as the
//! source ⇒ mounted from the source's repository. Between two registries that mount never
//! applies, yet a mirror of twenty repositories built on one base image would receive the
//! base layers twenty times. [`SyncSink::find_blob`], cheapest first:
//! 1. with `--since`, a blob the previous export holds ([`PreviousExport`]) counts as present:
//!    it crossed the gap already (`Layer already exists`), and is not written;
//! 2. the image's sink: present, or mounted from the source's repository;
//! 3. [`ImageSink::try_mount`] — the engine's own mount — from each destination repository
//!    of the same registry that this run has put the blob into (docker's push does the same
//!    with the repositories its v2 metadata knows), most recent first;
//! 4. otherwise the blob is claimed ([`InFlight`]): the first image to want it sends it;
//!    an image wanting it while another sends it waits, then starts again at 2 (it is now
//!    present or mountable).
//!
//! What the run knows is [`RunState`]: blobs by digest with the destination repositories
//! they were made present in — recorded as each blob is written, found or mounted — the
//! claims, the bytes sent, and the observer of the run's events. Nothing of it is kept
//! after the run: the destination stays the only state.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::events::{SyncEvent, SyncObserver};
use super::inflight::{InFlight, Turn};
use super::since::PreviousExport;
use crate::copy::{
    BlobInput, BlobStore, BlobWriter, CopyError, CopyFuture, DynBlobWriter, Found, ImageSink,
    Progress, StoredManifest,
};
use crate::digest::Digest;
use crate::media::Descriptor;
use crate::progress::Wording;
use crate::reference::Repository;
use crate::store::ContentStore;

/// What a run has put at the destination and is putting there (see the module docs). Shared
/// by every image of the run.
#[derive(Default)]
pub struct RunState {
    /// Destination repositories by the digests of the blobs they hold.
    filled: Mutex<HashMap<Digest, Vec<Repository>>>,
    /// Blobs being sent.
    in_flight: InFlight,
    /// Blobs this run has written to the destination.
    written: Mutex<HashSet<Digest>>,
    /// `--since`: what the previous export holds.
    pub(super) since: Option<PreviousExport>,
    /// Bytes sent to the destination so far.
    sent: AtomicU64,
    /// The next sink's claim owner id.
    next_owner: AtomicU64,
    /// Who hears of the run's progress.
    pub(super) observer: Option<Arc<dyn SyncObserver>>,
}

impl RunState {
    /// A run's state: with the previous export of `--since`, reporting to `observer`.
    pub fn new(since: Option<PreviousExport>, observer: Option<Arc<dyn SyncObserver>>) -> RunState {
        RunState {
            since,
            observer,
            ..RunState::default()
        }
    }

    /// Bytes sent to the destination so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Repositories other than `except` known to hold `digest`, most recent first.
    fn holding(&self, digest: &Digest, except: &Repository) -> Vec<Repository> {
        let filled = self.filled.lock().unwrap_or_else(|e| e.into_inner());
        filled
            .get(digest)
            .into_iter()
            .flat_map(|repositories| repositories.iter().rev())
            .filter(|r| *r != except)
            .cloned()
            .collect()
    }

    /// Records that `repository` holds the blob `digest`.
    pub fn record(&self, repository: &Repository, digest: &Digest) {
        let mut filled = self.filled.lock().unwrap_or_else(|e| e.into_inner());
        let holders = filled.entry(digest.clone()).or_default();
        if !holders.contains(repository) {
            holders.push(repository.clone());
        }
    }

    /// Whether this run has written the blob `digest` to the destination.
    fn was_written(&self, digest: &Digest) -> bool {
        let written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        written.contains(digest)
    }

    fn emit(&self, event: SyncEvent) {
        if let Some(observer) = &self.observer {
            observer.event(&event);
        }
    }
}

impl std::fmt::Debug for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunState")
            .field("sent", &self.sent())
            .finish_non_exhaustive()
    }
}

/// One image's destination (see the module docs).
pub struct SyncSink {
    inner: Box<dyn ImageSink>,
    /// The destination repository, when it is a registry's.
    repository: Option<Repository>,
    state: Arc<RunState>,
    /// This image's claims.
    owner: u64,
    /// Bytes this image sent.
    sent: Arc<AtomicU64>,
}

impl SyncSink {
    /// `inner`, the sink of the destination `repository` (a registry's; `None` for a layout),
    /// sharing what the run knows through `state`.
    pub fn new(
        inner: Box<dyn ImageSink>,
        repository: Option<Repository>,
        state: Arc<RunState>,
    ) -> SyncSink {
        let owner = state.next_owner.fetch_add(1, Ordering::Relaxed);
        SyncSink {
            inner,
            repository,
            state,
            owner,
            sent: Arc::default(),
        }
    }

    /// Bytes this image has sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    async fn find(
        &self,
        descriptor: &Descriptor,
        from: Option<&Repository>,
    ) -> Result<Option<Found>, CopyError> {
        let digest = &descriptor.digest;
        if let Some(previous) = &self.state.since {
            if previous.holds(digest) {
                return Ok(Some(Found::Existing));
            }
        }
        // Whether the blob was looked for again after a claim found it written meanwhile.
        let mut rechecked = false;
        loop {
            if let Some(found) = self.present(descriptor, from).await? {
                if let Some(own) = &self.repository {
                    self.state.record(own, digest);
                }
                return Ok(Some(found));
            }
            match self.state.in_flight.claim(digest, self.owner) {
                // Written (and released) between the look and the claim: look once more.
                Turn::Mine if !rechecked && self.state.was_written(digest) => {
                    self.state.in_flight.release(digest, self.owner);
                    rechecked = true;
                }
                Turn::Mine => return Ok(None),
                wait => wait.wait().await,
            }
        }
    }

    /// The blob made present without its bytes: in the sink, mounted from the source, or
    /// mounted from a repository the run filled.
    async fn present(
        &self,
        descriptor: &Descriptor,
        from: Option<&Repository>,
    ) -> Result<Option<Found>, CopyError> {
        if let Some(found) = self.inner.find_blob(descriptor, from).await? {
            return Ok(Some(found));
        }
        let Some(own) = &self.repository else {
            return Ok(None);
        };
        for candidate in self.state.holding(&descriptor.digest, own) {
            if Some(&candidate) == from {
                continue;
            }
            if self.inner.try_mount(descriptor, &candidate).await? {
                return Ok(Some(Found::Mounted(candidate.path().to_owned())));
            }
        }
        Ok(None)
    }
}

impl Drop for SyncSink {
    fn drop(&mut self) {
        self.state.in_flight.release_all(self.owner);
    }
}

impl ImageSink for SyncSink {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn tag(&self) -> Option<String> {
        self.inner.tag()
    }

    fn wording(&self) -> Wording {
        self.inner.wording()
    }

    fn blobs(&self) -> &dyn BlobStore {
        self
    }

    fn prepare(&self) -> CopyFuture<'_, ()> {
        self.inner.prepare()
    }

    fn try_mount<'b>(&'b self, d: &'b Descriptor, from: &'b Repository) -> CopyFuture<'b, bool> {
        self.inner.try_mount(d, from)
    }

    fn find_blob<'b>(
        &'b self,
        descriptor: &'b Descriptor,
        from: Option<&'b Repository>,
    ) -> CopyFuture<'b, Option<Found>> {
        Box::pin(self.find(descriptor, from))
    }

    fn takes_compressed_layers(&self) -> bool {
        self.inner.takes_compressed_layers()
    }

    fn keeps_compressed_in(&self) -> Option<ContentStore> {
        self.inner.keeps_compressed_in()
    }

    fn put_manifest<'b>(&'b self, manifest: &'b StoredManifest) -> CopyFuture<'b, ()> {
        self.inner.put_manifest(manifest)
    }

    fn holds_referrers(&self) -> bool {
        self.inner.holds_referrers()
    }

    fn puts_referrers_at_once(&self) -> bool {
        self.inner.puts_referrers_at_once()
    }

    fn put_referrer<'b>(
        &'b self,
        manifest: &'b StoredManifest,
        subject: &'b Descriptor,
    ) -> CopyFuture<'b, ()> {
        self.inner.put_referrer(manifest, subject)
    }
}

impl BlobStore for SyncSink {
    fn has_blob<'b>(&'b self, descriptor: &'b Descriptor) -> CopyFuture<'b, bool> {
        self.inner.blobs().has_blob(descriptor)
    }

    fn blob_writer(&self, input: &dyn BlobInput) -> Box<dyn DynBlobWriter> {
        Box::new(RecordingWriter {
            inner: self.inner.blobs().blob_writer(input),
            repository: self.repository.clone(),
            state: Arc::clone(&self.state),
            owner: self.owner,
            sent: Arc::clone(&self.sent),
        })
    }
}

/// The sink's own writer, then: the bytes counted, the blob recorded as held by the
/// destination repository, its claim released.
struct RecordingWriter {
    inner: Box<dyn DynBlobWriter>,
    repository: Option<Repository>,
    state: Arc<RunState>,
    owner: u64,
    sent: Arc<AtomicU64>,
}

impl BlobWriter for RecordingWriter {
    async fn write(
        &mut self,
        input: &dyn BlobInput,
        progress: Progress<'_>,
    ) -> Result<Descriptor, CopyError> {
        let blob = self.inner.write_dyn(input, progress).await?;
        self.sent.fetch_add(blob.size, Ordering::Relaxed);
        self.state.sent.fetch_add(blob.size, Ordering::Relaxed);
        if let Some(repository) = &self.repository {
            self.state.record(repository, &blob.digest);
        }
        // Recorded before the claim goes, so whoever claims next sees it written.
        let mut written = self.state.written.lock().unwrap_or_else(|e| e.into_inner());
        written.insert(blob.digest.clone());
        drop(written);
        self.state.in_flight.release(input.id(), self.owner);
        self.state.in_flight.release(&blob.digest, self.owner);
        self.state.emit(SyncEvent::BlobSent {
            digest: blob.digest.clone(),
            bytes: blob.size,
            total: self.state.sent(),
        });
        Ok(blob)
    }
}

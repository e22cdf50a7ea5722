//! The destination of one synced image: [`SyncSink`], the image's own sink (a registry
//! repository, a layout entry) that also knows which destination repositories this run has
//! already filled, so a blob shared by several repositories is sent once and mounted into
//! the others.
//!
//! `copy` already makes each blob present the cheapest way through
//! [`ImageSink::find_blob`]: held ⇒ `Layer already exists`; on the same registry as the
//! source ⇒ mounted from the source's repository. Between two registries that mount never
//! applies, yet a mirror of twenty repositories built on one base image would receive the
//! base layers twenty times. [`SyncSink::find_blob`] asks the image's sink first, then tries
//! [`ImageSink::try_mount`] — the engine's own mount — from each destination repository of
//! the same registry that a previous image of the run was copied into holding that blob
//! (docker's push does the same with the repositories its v2 metadata knows). What the run
//! knows is [`Filled`]: blobs by digest, with the repositories they were made present in,
//! recorded only once an image's copy succeeded. Nothing of it is kept after the run: the
//! destination stays the only state.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::copy::{BlobStore, CopyError, CopyFuture, Found, ImageSink, StoredManifest};
use crate::digest::Digest;
use crate::media::Descriptor;
use crate::progress::Wording;
use crate::reference::Repository;
use crate::store::ContentStore;

/// Destination repositories this run filled, by the digests of the blobs they now hold.
#[derive(Debug, Default)]
pub struct Filled {
    by_digest: HashMap<Digest, Vec<Repository>>,
}

impl Filled {
    /// Repositories other than `except` known to hold `digest`, most recent first.
    fn holding<'a>(
        &'a self,
        digest: &Digest,
        except: &'a Repository,
    ) -> impl Iterator<Item = &'a Repository> + 'a {
        self.by_digest
            .get(digest)
            .into_iter()
            .flat_map(|repositories| repositories.iter().rev())
            .filter(move |r| *r != except)
    }

    /// Records that `repository` holds the blobs `digests` (an image was copied into it).
    pub fn record(&mut self, repository: &Repository, digests: Vec<Digest>) {
        for digest in digests {
            let holders = self.by_digest.entry(digest).or_default();
            if !holders.contains(repository) {
                holders.push(repository.clone());
            }
        }
    }
}

/// One image's destination (see the module docs).
pub struct SyncSink<'a> {
    inner: Box<dyn ImageSink>,
    /// The destination repository, when it is a registry's.
    repository: Option<Repository>,
    filled: &'a Filled,
    /// Every blob the copy asked for, i.e. every blob of the image.
    asked: Mutex<Vec<Digest>>,
}

impl<'a> SyncSink<'a> {
    /// `inner`, the sink of the destination `repository` (a registry's; `None` for a layout),
    /// mounting from what `filled` knows.
    pub fn new(
        inner: Box<dyn ImageSink>,
        repository: Option<Repository>,
        filled: &'a Filled,
    ) -> SyncSink<'a> {
        SyncSink {
            inner,
            repository,
            filled,
            asked: Mutex::new(Vec::new()),
        }
    }

    /// After a successful copy: the image's blobs, recorded as held by its repository.
    pub fn into_record(self) -> Option<(Repository, Vec<Digest>)> {
        let digests = self.asked.into_inner().unwrap_or_else(|e| e.into_inner());
        Some((self.repository?, digests))
    }

    async fn find(
        &self,
        descriptor: &Descriptor,
        from: Option<&Repository>,
    ) -> Result<Option<Found>, CopyError> {
        if let Ok(mut asked) = self.asked.lock() {
            asked.push(descriptor.digest.clone());
        }
        if let Some(found) = self.inner.find_blob(descriptor, from).await? {
            return Ok(Some(found));
        }
        let Some(own) = &self.repository else {
            return Ok(None);
        };
        for candidate in self.filled.holding(&descriptor.digest, own) {
            if Some(candidate) == from {
                continue;
            }
            if self.inner.try_mount(descriptor, candidate).await? {
                return Ok(Some(Found::Mounted(candidate.path().to_owned())));
            }
        }
        Ok(None)
    }
}

impl ImageSink for SyncSink<'_> {
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
        self.inner.blobs()
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
}

//! What every part of one push shares: docker's `v2Pusher` fields and `pushState` ([`Target`]),
//! and the diffIDs of the layers being pushed ([`DiffIds`]).
//!
//! Invariant: a digest is [`Target::confirm`]ed only once the registry answered that the blob
//! (or manifest) is in the target repository: found by `HEAD`, mounted, or uploaded.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use super::hmac::HmacKey;
use crate::digest::Digest;
use crate::reference::Repository;
use crate::registry::{BlobUpload, RemoteRepository};
use crate::store::{ContentStore, MetadataStore};
use crate::transfer::SendPolicy;

/// One push's shared state.
pub(crate) struct Target {
    pub(crate) repo: RemoteRepository,
    pub(crate) target: Repository,
    pub(crate) content: ContentStore,
    pub(crate) metadata: Arc<MetadataStore>,
    pub(crate) key: Option<HmacKey>,
    /// docker's `pushState.hasAuthInfo`: the push has credentials.
    pub(crate) has_auth_info: bool,
    pub(crate) policy: SendPolicy,
    /// Digests confirmed present in the target repository during this push
    /// (docker's `pushState.remoteLayers`).
    pub(crate) confirmed: Mutex<HashSet<Digest>>,
    /// Blob digests whose existence was checked (docker's `checkedDigests`).
    pub(crate) checked: Mutex<HashSet<Digest>>,
    /// Upload sessions opened by declined mounts, for the blob's upload.
    pub(crate) sessions: Mutex<HashMap<Digest, BlobUpload>>,
}

impl Target {
    pub(crate) fn confirm(&self, digest: &Digest) {
        lock(&self.confirmed).insert(digest.clone());
    }

    pub(crate) fn is_confirmed(&self, digest: &Digest) -> bool {
        lock(&self.confirmed).contains(digest)
    }

    /// True the first time it is asked about `digest`: its existence check may go ahead.
    pub(crate) fn check_once(&self, digest: &Digest) -> bool {
        lock(&self.checked).insert(digest.clone())
    }

    /// Keeps the session a declined mount of `digest` opened (cancelling one kept before).
    pub(crate) async fn keep_session(&self, digest: &Digest, session: BlobUpload) {
        let old = lock(&self.sessions).insert(digest.clone(), session);
        if let Some(old) = old {
            // Best effort: the registry purges abandoned sessions anyway.
            let _ = old.cancel().await;
        }
    }

    /// The session kept for `digest`, if any.
    pub(crate) fn take_session(&self, digest: &Digest) -> Option<BlobUpload> {
        lock(&self.sessions).remove(digest)
    }
}

/// Blob digest ⇒ diffID of every layer of the image(s) of one tag, growing as compressed
/// blobs are chosen or made for uncompressed layers.
#[derive(Debug, Default)]
pub(crate) struct DiffIds(Mutex<HashMap<Digest, Digest>>);

impl DiffIds {
    pub(crate) fn new(map: HashMap<Digest, Digest>) -> DiffIds {
        DiffIds(Mutex::new(map))
    }

    /// The diffID of the layer blob `digest`; `None` for a blob that is not a layer.
    pub(crate) fn get(&self, digest: &Digest) -> Option<Digest> {
        lock(&self.0).get(digest).cloned()
    }

    /// `digest` is a blob of the layer `diff_id`.
    pub(crate) fn insert(&self, digest: Digest, diff_id: Digest) {
        lock(&self.0).insert(digest, diff_id);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

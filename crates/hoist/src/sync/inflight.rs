//! Blobs being sent right now by one image of a run: [`InFlight`], so that the same blob
//! wanted by two images copied at once (`--concurrency`) is sent once.
//!
//! Before the copy of an image sends a blob's bytes, its sink claims the digest
//! ([`InFlight::claim`]). The first claimant sends ([`Turn::Mine`]); every later one gets a
//! [`Turn::Wait`], waits until the claim is released and then looks again — by then the blob
//! is at the destination (a layout, the same repository) or mountable from the repository
//! that received it (`sink`'s [`super::sink::RunState`]), so its bytes do not move twice. A
//! claim is released when its blob is written ([`InFlight::release`]) or when the image that
//! held it ends, whatever the outcome ([`InFlight::release_all`], from the sink's `Drop`):
//! a failed image never leaves others waiting. A claimant that retries keeps its claim (the
//! owner is asked again and answered [`Turn::Mine`]).
//!
//! Waiting cannot deadlock: a claim is only held by a job that is sending (or waiting to
//! retry sending) that very blob, never by one waiting for another claim.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

use crate::digest::Digest;

/// The claims of a run (see the module docs).
#[derive(Debug, Default)]
pub struct InFlight {
    claims: Mutex<HashMap<Digest, Claim>>,
}

#[derive(Debug)]
struct Claim {
    /// The sink (one image) sending the blob.
    owner: u64,
    /// Never sent on: dropping it (on release) wakes every waiter.
    _released: watch::Sender<()>,
}

/// The answer to a claim.
#[derive(Debug)]
pub enum Turn {
    /// Send the blob; release it once written.
    Mine,
    /// Another image is sending it: wait ([`Turn::wait`]), then look again.
    Wait(watch::Receiver<()>),
}

impl Turn {
    /// Waits until the claim this turn waits on is released (at once for [`Turn::Mine`]).
    pub async fn wait(self) {
        if let Turn::Wait(mut released) = self {
            // Only ever ends with the sender dropped: that is the release.
            while released.changed().await.is_ok() {}
        }
    }
}

impl InFlight {
    /// Claims `digest` for `owner`: [`Turn::Mine`] when nobody else sends it.
    pub fn claim(&self, digest: &Digest, owner: u64) -> Turn {
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        match claims.get(digest) {
            Some(claim) if claim.owner != owner => Turn::Wait(claim._released.subscribe()),
            Some(_) => Turn::Mine,
            None => {
                let (released, _) = watch::channel(());
                claims.insert(
                    digest.clone(),
                    Claim {
                        owner,
                        _released: released,
                    },
                );
                Turn::Mine
            }
        }
    }

    /// Releases `owner`'s claim of `digest`, if it holds it.
    pub fn release(&self, digest: &Digest, owner: u64) {
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        if claims.get(digest).is_some_and(|c| c.owner == owner) {
            claims.remove(digest);
        }
    }

    /// Releases every claim `owner` holds (its image ended).
    pub fn release_all(&self, owner: u64) {
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        claims.retain(|_, claim| claim.owner != owner);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_second_claimant_waits_until_the_first_releases() {
        let in_flight = InFlight::default();
        let digest = Digest::sha256_of(b"base layer");

        assert!(matches!(in_flight.claim(&digest, 1), Turn::Mine));
        assert!(matches!(in_flight.claim(&digest, 1), Turn::Mine), "a retry");
        let turn = in_flight.claim(&digest, 2);
        assert!(matches!(turn, Turn::Wait(_)));
        let early = tokio::time::timeout(Duration::from_millis(20), turn.wait()).await;
        assert!(early.is_err(), "still claimed");

        let waiting = in_flight.claim(&digest, 2);
        in_flight.release(&digest, 2);
        in_flight.release(&digest, 1);
        tokio::time::timeout(Duration::from_secs(1), waiting.wait())
            .await
            .unwrap();
        assert!(matches!(in_flight.claim(&digest, 2), Turn::Mine));
    }

    #[tokio::test]
    async fn an_ended_image_releases_all_its_claims() {
        let in_flight = InFlight::default();
        let (a, b) = (Digest::sha256_of(b"a"), Digest::sha256_of(b"b"));
        in_flight.claim(&a, 1);
        in_flight.claim(&b, 1);
        let waiting = in_flight.claim(&b, 2);

        in_flight.release_all(1);

        tokio::time::timeout(Duration::from_secs(1), waiting.wait())
            .await
            .unwrap();
        assert!(matches!(in_flight.claim(&a, 3), Turn::Mine));
    }
}

//! Reading ahead: the small reads a command would otherwise make one after the other — an
//! index's manifests and their referrer lists, `.sig` tags, policy judgements, a level of
//! `hoist discover`, the platforms of `pull --all-platforms` (whose blobs still share the
//! puller's download slots) — kept [`READ_AHEAD`] in flight at once. Against a registry 20 ms
//! away each is a round trip: an index of 12 platforms costs two rounds instead of twelve.

use std::future::Future;

use futures_util::{Stream, StreamExt};

/// How many small reads a command keeps in flight at once (one number for every kind:
/// manifests, referrer lists, signature tags, judgements).
pub const READ_AHEAD: usize = 8;

/// `reads`, [`READ_AHEAD`] at a time, their outputs in the order given: a caller that stops
/// at the first error reports the one reading them one after the other would have. Taking
/// the futures as a `Vec` (named futures, collected first) keeps the stream `Send`, which a
/// closure over a borrowed slice inside the stream would not be.
pub fn in_order<F: Future>(reads: Vec<F>) -> impl Stream<Item = F::Output> {
    futures_util::stream::iter(reads).buffered(READ_AHEAD)
}

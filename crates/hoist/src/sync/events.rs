//! What a run tells while it goes: [`SyncEvent`]s to a [`SyncObserver`]
//! ([`super::SyncOptions::observer`]) — an image started, done (copied, or estimated with
//! `dry_run`), skipped (up to date, or not attempted after a failure), failed, and each
//! blob sent with the run's running total of bytes — for a progress display with totals
//! (images done out of all, bytes, rate) and for `hoist sync --json`'s one JSON object per
//! line.
//!
//! They complement, not replace, the per-blob [`crate::progress::ProgressEvent`]s the copy
//! engine emits (docker's push lines): those say what happens to one layer, these to one
//! image and the run. Every image of the plan ends with exactly one of `Done`, `Skipped` or
//! `Failed`; a repository that could not be planned is one `Failed` without an index.

use crate::digest::Digest;

use super::plan::SyncImage;

/// Why an image was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The destination already named its digest (or, with `--since`, the previous export).
    UpToDate,
    /// An earlier failure ended the run before it was attempted.
    NotAttempted,
}

impl SkipReason {
    /// The reason as a word for scripts: `up-to-date`, `not-attempted`.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::UpToDate => "up-to-date",
            SkipReason::NotAttempted => "not-attempted",
        }
    }
}

/// One thing that happened in a run (see the module docs). `index` counts images from 1 in
/// plan order; `total` is the number of images planned.
#[derive(Debug, Clone)]
pub enum SyncEvent {
    /// An image's sync began.
    Started {
        /// Its place in the plan.
        index: usize,
        /// Images planned.
        total: usize,
        /// The image.
        image: SyncImage,
    },
    /// An image was copied (or, with `dry_run`, estimated).
    Done {
        /// Its place in the plan.
        index: usize,
        /// Images planned.
        total: usize,
        /// The image.
        image: SyncImage,
        /// The digest now at the destination (that would be, with `dry_run`).
        digest: Option<Digest>,
        /// Bytes sent (that would be sent, with `dry_run`).
        bytes: u64,
        /// Whether this was only an estimate.
        dry_run: bool,
    },
    /// An image needed nothing, or was not attempted.
    Skipped {
        /// Its place in the plan.
        index: usize,
        /// Images planned.
        total: usize,
        /// The image.
        image: SyncImage,
        /// Why.
        reason: SkipReason,
        /// The digest the destination holds, when up to date.
        digest: Option<Digest>,
    },
    /// An image, or a repository of the source, failed.
    Failed {
        /// The image's place in the plan; `None` for a repository that could not be listed.
        index: Option<usize>,
        /// Images planned.
        total: usize,
        /// The image's source, or the repository.
        subject: String,
        /// The image's destination, if it is an image.
        destination: Option<String>,
        /// Why, in one line.
        error: String,
    },
    /// One blob's bytes reached the destination.
    BlobSent {
        /// The blob.
        digest: Digest,
        /// Its size.
        bytes: u64,
        /// Bytes the run has sent so far, this blob included.
        total: u64,
    },
}

/// Hears a run's [`SyncEvent`]s. Called from the run's tasks: must not block.
pub trait SyncObserver: Send + Sync {
    /// One event.
    fn event(&self, event: &SyncEvent);
}

/// `error` and its causes on one line, joined with `: ` (a cause repeating its error's
/// words is left out).
pub fn one_line(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(current) = cause {
        let text = current.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = current.source();
    }
    line
}

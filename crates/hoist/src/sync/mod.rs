//! Sync: many images between registries and directories, incrementally — `hoist sync --src
//! docker|dir|yaml SRC --dest docker|dir DEST`, skopeo sync's command for mirrors and
//! air-gapped sites, as configurations of the one copy engine ([`crate::copy::copy`]).
//!
//! Data flow: the command line's two ends ([`Source`], [`Destination`]; a source file read
//! into a [`SourceFile`]) ⇒ [`plan`] ⇒ a [`SyncPlan`], every image as a pair of
//! [`crate::copy::ImageLocation`]s (source, destination) ⇒ [`run`] ⇒ a [`SyncReport`]
//! (each image up to date, copied or estimated, and every failure).
//!
//! # Parts
//! | file | owns |
//! |------|------|
//! | `spec` | [`Source`], [`Destination`], destination names (skopeo's, `--scoped`), the `--dest dir` layout choice |
//! | `file` | [`SourceFile`]: skopeo sync's YAML accepted as is, and its TOML form; per-registry credentials, `tls-verify`, `cert-dir` |
//! | `filter` | [`TagFilter`]: listed tags, `images-by-tag-regex` (RE2), `images-by-semver` (Masterminds' ranges) |
//! | `plan` | [`plan`]: tags listed with pagination, layouts and `dir:` trees walked, names given |
//! | `run` | [`run`]: images `--concurrency` at a time, up-to-date check (one `HEAD`), copy or `--dry-run` estimate, `--keep-going` |
//! | `destination` | what the destination holds: an image's digest, its referrers, an estimate |
//! | `sink` | [`SyncSink`], [`RunState`]: mounts a blob from destination repositories the run already filled; `--since`'s blobs count as present |
//! | `inflight` | a blob wanted by two images at once is sent once: the first sends, the other waits |
//! | `since` | [`PreviousExport`]: `--since STATE`, what a previous export holds |
//! | `attachments` | referrers and signatures: `--no-referrers`, `--remove-signatures`, fallback and `.sig` tags |
//! | `events` | [`SyncEvent`], [`SyncObserver`]: images started, done, skipped, failed, blobs sent (progress totals, `--json`) |
//! | `error` | [`SyncError`] |
//!
//! # Behaviour kept from skopeo sync (1.22)
//! Transports `docker`, `dir`, `yaml` in and `docker`, `dir` out, `dir` to `dir` refused;
//! a repository without a tag means every tag; destination names are the last component of
//! the source repository (`--scoped`: the whole reference); a sync fails when any image
//! failed, after the others with `--keep-going`. Where hoist differs, on purpose:
//! - every platform of an index is copied unless `--platform` names one (skopeo's `--all`
//!   is the default); `--preserve-digests` always holds (nothing is rewritten);
//! - an image whose digest the destination already names costs one `HEAD` and moves nothing
//!   (skopeo's `OptimizeDestinationImageAlreadyExists`), and blobs shared between
//!   repositories of the destination registry are mounted, not sent again (`sink`);
//! - `--dest dir` is one shared OCI layout rather than a `dir:` directory per image (see
//!   `spec`), which a later `--src dir` reads back; a second sync into it writes only what
//!   it lacks; `--since STATE` makes a new export hold only what the previous one (STATE)
//!   lacks (`since`), so a second transfer across the gap carries only new blobs;
//! - images are copied `--concurrency` at a time (skopeo: one by one), a blob wanted by two
//!   of them sent once; referrers (signatures, SBOMs) travel unless `--no-referrers`, as
//!   with `hoist copy`;
//! - a registry that rate-limits (429 with `Retry-After`) slows the run down rather than
//!   failing it: tag-list pages, manifests and blobs are retried after the wait it asks,
//!   and every other request to that registry waits as long (`crate::registry`'s
//!   `rate_limit`);
//! - a repository of a source file that cannot be listed fails the run (skopeo logs it and
//!   exits 0), a misspelt key of the file is refused, and the file's registries and
//!   repositories are taken in sorted order, not Go's random map order.

mod attachments;
mod destination;
mod error;
mod events;
mod file;
mod filter;
mod inflight;
mod plan;
mod run;
mod since;
mod sink;
mod spec;

pub use attachments::{is_referrers_tag, is_signature, is_signature_tag, WithoutSignatures};
pub use error::SyncError;
pub use events::{one_line, SkipReason, SyncEvent, SyncObserver};
pub use file::{FileCredentials, RegistryImages, SourceFile};
pub use filter::{SemverRange, TagFilter};
pub use plan::{plan, PlanFailure, SyncImage, SyncPlan};
pub use run::{run, Estimate, ImageOutcome, SyncFailure, SyncOptions, SyncReport, SyncedImage};
pub use since::PreviousExport;
pub use sink::{RunState, SyncSink};
pub use spec::{
    dir_suffix, registry_suffix, Destination, Source, DESTINATION_TRANSPORTS, SOURCE_TRANSPORTS,
};

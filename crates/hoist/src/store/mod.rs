//! The local store: where pulled images live, on disk, shared by every hoist process.
//!
//! # Layout of the root
//! ```text
//! ROOT/
//!   oci-layout            {"imageLayoutVersion":"1.0.0"}
//!   index.json            OCI image index; tagged manifests carry
//!                         `org.opencontainers.image.ref.name`
//!   index.json.lock       flock serialising changes to index.json
//!   gc.lock               flock: writers hold it shared, garbage collection exclusive
//!   blobs/sha256/<hex>    verified content: manifests, configs, compressed layers
//!   ingest/<hex>/         partial writes (data, meta.json, lock, parts.json), resumable
//!   hoist.db (-wal, -shm) SQLite metadata: references, images, blob sources, layer records
//!   layers/<chainID hex>/ unpacked layers (see [`layers`]), `layers/.tmp-*` being unpacked
//! ```
//! The root
//! minus hoist's own parts is a valid [OCI image layout], so `skopeo inspect oci:ROOT:TAG` and
//! `umoci ls --layout ROOT` read it as is.
//!
//! # Parts
//! - [`content`]: [`ContentStore`], reads by digest, and the entry point for writes; docker's
//!   `distribution.ContentStore`, containerd's local content store.
//! - [`ingest`]: [`Ingest`], a partial write keyed by expected digest: hashed as written,
//!   committed by atomic rename only when the digest matches, resumed after a crash.
//! - [`ingest_parts`]: [`IngestParts`], an ingest written in parts at their offsets (a big
//!   blob fetched on several connections), with the record that makes it resumable.
//! - [`spool`]: [`Spool`], a write of a blob whose digest is not known in advance (a member
//!   of a `docker load` archive), committed under the digest its bytes turn out to have.
//! - [`layout`]: `oci-layout` and `index.json` (creation, recognition, tag entries).
//! - [`layers`]: [`LayerStore`], unpacked layers by chain ID (docker's `layer.Store`), fed
//!   while blobs download; [`sweep_layers`] is its part of garbage collection.
//! - `lock`: the `flock(2)` helpers both use.
//! - `writeback`: an ingest's bytes handed to the disk as they arrive, so that its commit's
//!   `fsync` does not wait for the whole blob.
//! - [`lease`]: writers' shared hold on the store against garbage collection.
//! - [`gc`]: [`collect_garbage`], mark-and-sweep of blobs, dangling images and stale ingests.
//! - [`metadata`]: [`MetadataStore`], `hoist.db`: the reference store (tags and digest
//!   references, mirrored in `index.json`), image records, blob sources (docker's
//!   `V2MetadataService`), layer records and the gc roots.
//!
//! # Invariants
//! - Nothing unverified is stored (DESIGN.md principle 2): a file under `blobs/` is complete and
//!   hashes to its name. There is no code path that writes there except [`Ingest::commit`]
//!   and [`Spool::commit`] (which hashes every byte as written and publishes through an ingest).
//! - Several hoist processes may use one root at once. Writers of the same digest exclude each
//!   other with a per-ingest lock; the second one waits and then finds the blob present.
//!   Locks are `flock`s, so a killed process never leaves one behind.
//! - A process killed at any instant leaves the root consistent: a blob is either fully in
//!   `blobs/` or a resumable ingest; `index.json` is the old or the new version.
//!
//! # Sync API
//! The store uses `std::fs` and blocking `flock`. Async code (the copy engine's writers)
//! calls it from blocking threads (`tokio::task::spawn_blocking`, or the pipeline thread
//! that already consumes the download stream); [`Ingest`] implements [`std::io::Write`] so it can sit at
//! the end of such a stream.
//!
//! [OCI image layout]: https://github.com/opencontainers/image-spec/blob/main/image-layout.md

pub mod content;
mod error;
pub mod gc;
pub mod ingest;
mod ingest_lock;
pub mod ingest_parts;
pub mod layers;
pub mod layout;
pub mod lease;
pub(crate) mod lock;
pub mod metadata;
pub mod spool;
mod writeback;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

pub use content::{BlobInfo, ContentStore};
pub use error::{FileError, LocalStoreError, StoreError};
pub use gc::{collect_garbage, GcError, GcOptions, GcReport};
pub use ingest::Ingest;
pub use ingest_parts::IngestParts;
pub use layers::{sweep_layers, ChainId, LayerError, LayerStore};
pub use layout::IndexEntry;
pub use lease::{GcLock, Lease};
pub use metadata::{MetadataError, MetadataStore};
pub use spool::Spool;
pub use writeback::WritebackFile;

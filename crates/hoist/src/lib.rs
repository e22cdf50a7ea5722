//! hoist: a daemonless container-image distribution engine.
//!
//! The library holds everything but the terminal (the `hoist` binary in `crates/hoist-cli` parses
//! arguments, reads the config file and renders progress). It is docker 20.10's `distribution`
//! package as Rust types: `Pull`, `Push`, `TranslatePullError`, `NewV2Repository` and their
//! configurations, plus copy, load, save and export over the same parts
//! (`shared/DESIGN.md`).
//!
//! # Data flow: source → walk → sink
//!
//! Every operation that moves an image is one [`copy::copy`] from an [`copy::ImageSource`] to
//! an [`copy::ImageSink`]:
//!
//! ```text
//!  ImageSource                     walk                      ImageSink
//!  registry (RegistryImage)   resolve the root, read     registry (RegistryImage)
//!  store    (StoreSource)  →  and verify every manifest → store    (StoreSink: unpack, record)
//!  oci: dir: archives         (copy::walk::plan): blobs    oci: dir: archives
//!                             once, manifests children
//!                             first, platform filter
//!                                      │
//!                  each blob through transfer's scheduler (concurrency, retries),
//!                  the sink's BlobWriter verifying it before it becomes visible
//! ```
//!
//! `pull` is a copy from a registry into the store, `push` a copy from the store to a
//! registry, `load` a copy from an archive into the store, `hoist copy` any pair; `save`
//! writes a docker-archive from the store's image records with the archive sink's writer.
//!
//! Destinations come in four kinds, one per layer of the design, each with one name:
//! - **image sink** ([`copy::ImageSink`]): where a copy writes an image, one per transport
//!   (`StoreSink`, `LayoutSink`, `DirSink`, the archive sinks, `RegistryImage`);
//! - **blob writer** (`BlobWriter`, in [`copy`]): one blob into an image sink, verified before
//!   it becomes visible, resumable;
//! - **layer sink** (`LayerSink`): a layer's decompressed bytes on their way into the store's
//!   unpacker while the blob downloads;
//! - **progress sink** ([`progress::ProgressSink`]): where progress events go.
//!
//! # Crate map
//!
//! | module | owns |
//! |---|---|
//! | [`reference`](mod@reference) | names, tags, digests in references; docker.io/library normalisation; validation |
//! | [`digest`] | the [`digest::Digest`] type; hashing and verifying readers and writers |
//! | [`media`] | media types, manifests, indexes, configs, descriptors, platforms and platform matching; schema 1 |
//! | [`compress`] | compressing and decompressing layer streams (gzip, zstd) |
//! | [`credentials`] | what a registry client presents, from docker's `config.json`, helpers, podman's `auth.json` |
//! | [`registry`] | the HTTP client for one registry: endpoints, TLS, auth, blobs, manifests, uploads |
//! | [`store`] | the local store: content (blobs, ingests), OCI layout, layer store, metadata database, gc, locks |
//! | [`unpack`] | applying a layer tar to a directory safely: whiteouts, hardlinks, xattrs, path confinement |
//! | [`transfer`] | moving blobs: the scheduler, retries and backoff, the layer stream into the store |
//! | [`copy`] | the engine: sources, sinks, the walk, and every transport (registry, store, `oci:`, `dir:`, archives) |
//! | [`pull`] | docker's pull as a copy into the store: which tags and platform, schema 1, docker's statuses |
//! | [`push`] | docker's push as a copy from the store: which tags, mount candidates, compression of loaded layers |
//! | [`sync`] | many images between registries and directories, incrementally (skopeo sync's sources, YAML and names) |
//! | [`archive`] | the docker-archive and OCI-archive formats: `save`, and what `load` reads and reports |
//! | [`trust`] | `policy.json`, sigstore signatures (verify before any layer, sign on push and copy), the verifier hook |
//! | [`export`] | an image's flattened root filesystem in a directory |
//! | [`images`] | managing the store's images: list, resolve, inspect, tag, delete |
//! | [`view`] | reading an image without storing it (digest, manifest, config, blob, inspect, history) |
//! | [`progress`] | progress events as data (rendering is the CLI's) |
//! | [`error`] | the one translation of library errors into docker's sentences |
//!
//! # Tests
//!
//! Unit tests sit beside the code: an inline `mod tests` when short, else `mod tests;` in the
//! module's own directory (`foo/tests.rs` for `foo.rs` or `foo/mod.rs`), or a `tests/`
//! directory with one file per part. Integration tests (`crates/hoist/tests/`) share one
//! `support` module and run against real registries, images and stores from `hoist-testkit`.

// No panics on any path input can reach (STYLE.md): outside tests, unwrap/expect/panic are errors.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod archive;
pub mod compress;
pub mod copy;
pub mod credentials;
pub mod digest;
pub mod error;
pub mod export;
pub mod images;
pub mod media;
pub mod progress;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registry;
pub mod store;
pub mod sync;
pub mod transfer;
pub mod trust;
pub mod unpack;
pub mod view;

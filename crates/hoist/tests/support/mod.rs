//! The one support module of hoist's integration tests: every test file declares `mod support;`
//! and takes what it needs from the part for its area. Images are built and registries started
//! by `hoist-testkit` (real `docker-registry` processes on loopback, its fault proxy for
//! faults); stores are seeded through `hoist_testkit::store`; skopeo and umoci check results
//! independently of hoist.
//!
//! - [`pull`]: a store in a temporary directory, a puller with a fast backoff, a progress
//!   recorder, checks on what landed in the store.
//! - [`push`]: a store filled by pulling, pushes with a fast backoff, what the target holds.
//! - [`copy`]: multi-platform indexes, `copy` between two locations, reads of a registry.
//! - [`layers`]: a store whose pulls unpack into its layer store; umoci's reference rootfs.
//! - [`archive`]: stores holding testkit images, tar archives read and rewritten in memory.
//! - [`memory`]: the memory tests' hashing writer and this process's resident memory.
//! - [`registry`]: the registry client's tests: images pushed with skopeo, clients built.
//! - [`sync`]: repositories sharing a base layer, one sync run, what a destination received.
//! - [`trust`]: an image and the testkit's signers, pulls under a policy naming them.
//! - `skopeo` (the testkit's): skopeo run, and its raw view of a manifest or config in any
//!   transport.

#![allow(dead_code)]

pub mod archive;
pub mod copy;
pub mod layers;
pub mod memory;
pub mod pull;
pub mod push;
pub mod registry;
pub mod sync;
pub mod trust;
pub use hoist_testkit::skopeo;

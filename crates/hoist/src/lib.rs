//! hoist: a daemonless container-image distribution engine.
//!
//! The library holds everything but the terminal: references and digests, the registry client,
//! and (as they land) the local store, unpacking, pull and push. Modules follow the data flow
//! laid out in `shared/DESIGN.md`.

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
pub mod transfer;
pub mod unpack;
pub mod view;

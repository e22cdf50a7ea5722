//! Unit tests of the store's parts that live in this module's files: garbage collection,
//! ingests and the root as an OCI layout (the metadata database and the layer store keep
//! theirs beside them, in `metadata/tests/` and `layers/tests.rs`; `testing` builds the
//! stores they share).

mod gc;
mod ingest;
mod ingest_parts;
mod layout;

//! Unit tests of layer unpacking, one file per kind of layer: ordinary entries, whiteouts,
//! hostile layers; `support` writes the tars and sandboxes they use.

mod entries;
mod hostile;
mod support;
mod whiteout;

//! Unit tests of references, one file per kind: docker's test vectors, malformed inputs, and
//! property tests of the parser.

mod malformed;
mod prop;
mod vectors;

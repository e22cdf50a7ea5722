//! Tests of the metadata database.

//! The `hoist` command.

fn main() {}

//! Diagnostics to stderr with `tracing`: warnings always, everything hoist logs with `--debug`.
//!
//! `RUST_LOG` (an `EnvFilter` directive) overrides both. Nothing logged anywhere in hoist
//! carries a secret (see `hoist::credentials`).

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Installs the subscriber; call once, first thing.
pub fn init(debug: bool) {
    let default = if debug { "warn,hoist=debug" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(debug)
        .try_init();
}

//! Diagnostics to stderr with `tracing`, by verbosity: at the default level only errors hoist
//! could not turn into a command's failure (what the user must act on), and the store's two
//! warnings a person must see: a command waiting for another hoist process's lock (else it
//! looks hung), and a store root open to other users that cannot be made private; `-v` adds warnings
//! (retries, skipped entries, clean-up that will happen later) and hoist's informational
//! lines; `-vv` or `--debug` everything hoist logs at debug level (which endpoint served a
//! request, each retry's cause); `-vvv` hoist's trace level too.
//!
//! `RUST_LOG` (an `EnvFilter` directive) overrides the level. Colours are used only when stderr
//! is a terminal and `NO_COLOR` is unset or empty (<https://no-color.org>). Nothing logged
//! anywhere in hoist carries a secret (see `hoist::credentials`).

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Installs the subscriber; call once, first thing. `verbose` is the number of `-v` flags;
/// `--debug` counts as two.
pub fn init(verbose: u8, debug: bool) {
    let level = if debug { verbose.max(2) } else { verbose };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_directive(level)));
    let colour = std::io::stderr().is_terminal() && !no_color(std::env::var_os("NO_COLOR"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(level >= 2)
        .try_init();
}

/// The `EnvFilter` directive for a verbosity level (see the module docs).
fn default_directive(level: u8) -> &'static str {
    match level {
        0 => "error,hoist::store::lease=warn,hoist::store::layout=warn",
        1 => "warn,hoist=info",
        2 => "warn,hoist=debug",
        _ => "info,hoist=trace",
    }
}

/// Whether `NO_COLOR` asks for no colours: set to anything but the empty string.
fn no_color(value: Option<std::ffi::OsString>) -> bool {
    value.is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_level_shows_errors_only() {
        assert_eq!(
            default_directive(0),
            "error,hoist::store::lease=warn,hoist::store::layout=warn"
        );
        assert_eq!(default_directive(2), "warn,hoist=debug");
    }

    #[test]
    fn no_color_is_any_non_empty_value() {
        assert!(no_color(Some("1".into())));
        assert!(!no_color(Some("".into())));
        assert!(!no_color(None));
    }
}

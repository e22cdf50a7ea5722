//! Writing results to stdout without ever panicking on a closed pipe.
//!
//! Rust ignores `SIGPIPE`, so a write to a pipe whose reader is gone (`hoist pull … | head -1`)
//! fails with `EPIPE`, and `println!` turns that failure into a panic (rc 101). Every result a
//! command prints goes through [`line()`] (the `outln!` macro) or [`bytes`]
//! instead: once stdout is closed, output ends quietly and the command carries on, so the work
//! in progress completes and the store stays consistent, and the exit status is the
//! operation's, as with docker's CLI whose writes simply fail. Other write failures (a full
//! disk behind a redirection) are reported by [`bytes`] to callers that stream data, for whom
//! a short output is an error.

use std::fmt;
use std::io::{self, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once stdout has been found closed: later writes are skipped.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Prints `args` and a newline to stdout; nothing once stdout is closed.
pub fn line(args: fmt::Arguments<'_>) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = io::stdout().lock();
    let result = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    if result.is_err() {
        // Closed pipe or any other failure: a line of output cannot be retried, and the
        // operation it reports on is done.
        CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Writes `data` to stdout as it is (no newline). A closed pipe ends output quietly
/// (`Ok`, later writes skipped); any other failure is returned, since a short copy of
/// streamed data (a manifest, a blob) must not look like a success.
pub fn bytes(data: &[u8]) -> io::Result<()> {
    if CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    match out.write_all(data).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Prints `args` and a newline to stderr (a warning or a notice); nothing when stderr is
/// closed, where `eprintln!` would panic.
pub fn error_line(args: fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

/// `eprintln!` that never panics: see `output::error_line`.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::error_line(format_args!($($arg)*))
    };
}

/// `println!` that never panics: see `output::line`.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}

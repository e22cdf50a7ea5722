//! The byte stream under the tar parser: counts bytes and bounds the metadata read per entry.
//!
//! The tar crate reads a PAX extended header, a GNU long name or long link name whole into
//! memory, and keeps one small record per chunk of a GNU sparse map. A hostile archive can
//! declare gigabytes for any of them. [`MeteredReader`] closes that hole without forking the
//! parser: the unpacker drains every entry's data itself, so everything the parser reads
//! *while looking for the next entry* is padding plus headers. The unpacker arms a budget
//! ([`Meter::arm`]) before asking for the next entry and disarms it afterwards; a read past the
//! budget fails with [`BudgetExceeded`], which the unpacker reports as
//! [`super::UnpackError::MetadataTooLarge`].

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

/// Marker error carried inside the `io::Error` when the metadata budget is spent.
#[derive(Debug, thiserror::Error)]
#[error("tar metadata budget exceeded")]
pub struct BudgetExceeded;

/// Shared counters between the unpacker and the reader it gave to the tar parser.
#[derive(Debug, Default)]
pub struct Meter {
    total: Cell<u64>,
    /// `None`: unlimited (entry data is being read).
    budget: Cell<Option<u64>>,
}

impl Meter {
    /// Allows at most `bytes` to be read until [`Meter::disarm`].
    pub fn arm(&self, bytes: u64) {
        self.budget.set(Some(bytes));
    }

    /// Lifts the limit.
    pub fn disarm(&self) {
        self.budget.set(None);
    }

    /// Bytes read from the stream so far.
    pub fn total(&self) -> u64 {
        self.total.get()
    }
}

/// A reader that reports to a [`Meter`].
pub struct MeteredReader<R> {
    inner: R,
    meter: Rc<Meter>,
}

impl<R: Read> MeteredReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, meter: Rc<Meter>) -> Self {
        Self { inner, meter }
    }
}

impl<R: Read> Read for MeteredReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let allowed = match self.meter.budget.get() {
            Some(0) if !buf.is_empty() => {
                return Err(io::Error::other(BudgetExceeded));
            }
            Some(left) => buf.len().min(usize::try_from(left).unwrap_or(usize::MAX)),
            None => buf.len(),
        };
        let n = self.inner.read(&mut buf[..allowed])?;
        self.meter.total.set(self.meter.total.get() + n as u64);
        if let Some(left) = self.meter.budget.get() {
            self.meter.budget.set(Some(left.saturating_sub(n as u64)));
        }
        Ok(n)
    }
}

/// True when `e` is (or wraps) [`BudgetExceeded`].
pub fn is_budget_exceeded(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.is::<BudgetExceeded>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armed_budget_stops_reads_and_disarm_lifts_it() {
        let meter = Rc::new(Meter::default());
        let mut r = MeteredReader::new(io::repeat(1).take(100), meter.clone());
        meter.arm(10);
        let mut buf = [0u8; 64];
        assert_eq!(r.read(&mut buf).unwrap(), 10);
        let err = r.read(&mut buf).unwrap_err();
        assert!(is_budget_exceeded(&err));
        meter.disarm();
        assert_eq!(r.read(&mut buf).unwrap(), 64);
        assert_eq!(meter.total(), 74);
    }
}

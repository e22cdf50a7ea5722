//! A reader and a writer that hash what passes through them and check it against an expected
//! digest: the "nothing unverified is stored" principle of DESIGN.md.
//!
//! Corresponds to go-digest's `Verifier` (used by docker's `distribution/pull_v2.go` to check
//! every layer and manifest). [`VerifyingWriter::finish`] returns the inner writer only when
//! the content matched, so a caller committing content (e.g. an atomic rename) cannot forget
//! the check. [`VerifyingReader`] reports a mismatch as an `io::Error` of kind `InvalidData`
//! at end of stream, so it composes with any `Read` consumer (`io::copy`, a tar reader).
//!
//! Invariant: exactly the bytes that the inner reader/writer accepted are hashed (a short
//! write hashes only what was written).

use std::io::{self, Read, Write};

use super::{Digest, DigestError, Hasher};

/// A writer that hashes what it writes and verifies it on [`finish`](VerifyingWriter::finish).
#[derive(Debug)]
pub struct VerifyingWriter<W: Write> {
    inner: W,
    expected: Digest,
    hasher: Hasher,
}

impl<W: Write> VerifyingWriter<W> {
    /// Wraps `inner`; the bytes written should hash to `expected`.
    pub fn new(inner: W, expected: Digest) -> VerifyingWriter<W> {
        let hasher = Hasher::new(expected.algorithm());
        VerifyingWriter {
            inner,
            expected,
            hasher,
        }
    }

    /// Continues a verification whose first bytes were already hashed into `hasher` (e.g.
    /// resuming a partial download). `hasher` must use `expected`'s algorithm; if it does not,
    /// [`finish`](VerifyingWriter::finish) reports a mismatch.
    pub fn resume(inner: W, expected: Digest, hasher: Hasher) -> VerifyingWriter<W> {
        VerifyingWriter {
            inner,
            expected,
            hasher,
        }
    }

    /// The digest the content must have.
    pub fn expected(&self) -> &Digest {
        &self.expected
    }

    /// How many bytes have been written (and hashed) so far, including resumed ones.
    pub fn bytes_written(&self) -> u64 {
        self.hasher.bytes_hashed()
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Ends the write: the inner writer if the content hashed to the expected digest,
    /// [`DigestError::Mismatch`] otherwise. The inner writer is not flushed.
    pub fn finish(self) -> Result<W, DigestError> {
        let actual = self.hasher.finish();
        if actual == self.expected {
            Ok(self.inner)
        } else {
            Err(DigestError::Mismatch {
                expected: self.expected,
                actual,
            })
        }
    }
}

impl<W: Write> Write for VerifyingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        // `n <= buf.len()` is Write's contract; `get` guards against an inner writer breaking it.
        self.hasher.update(buf.get(..n).unwrap_or(buf));
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes what it reads and fails at end of stream if the content did not hash
/// to the expected digest.
#[derive(Debug)]
pub struct VerifyingReader<R: Read> {
    inner: R,
    expected: Digest,
    state: ReadState,
}

#[derive(Debug)]
enum ReadState {
    Reading(Hasher),
    /// End of stream reached and the digest matched.
    Verified,
    /// End of stream reached and the digest did not match; repeated on every later read.
    Failed(DigestError),
}

impl<R: Read> VerifyingReader<R> {
    /// Wraps `inner`; the bytes read should hash to `expected`.
    pub fn new(inner: R, expected: Digest) -> VerifyingReader<R> {
        let hasher = Hasher::new(expected.algorithm());
        VerifyingReader {
            inner,
            expected,
            state: ReadState::Reading(hasher),
        }
    }

    /// The digest the content must have.
    pub fn expected(&self) -> &Digest {
        &self.expected
    }

    /// Whether end of stream was reached and the content matched.
    pub fn is_verified(&self) -> bool {
        matches!(self.state, ReadState::Verified)
    }

    /// The inner reader, verified or not.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn verify_at_eof(&mut self) -> io::Result<usize> {
        let state = std::mem::replace(&mut self.state, ReadState::Verified);
        self.state = match state {
            ReadState::Reading(hasher) => {
                let actual = hasher.finish();
                if actual == self.expected {
                    ReadState::Verified
                } else {
                    ReadState::Failed(DigestError::Mismatch {
                        expected: self.expected.clone(),
                        actual,
                    })
                }
            }
            done => done,
        };
        match &self.state {
            ReadState::Failed(err) => Err(io::Error::new(io::ErrorKind::InvalidData, err.clone())),
            _ => Ok(0),
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let ReadState::Reading(hasher) = &mut self.state else {
            return self.verify_at_eof();
        };
        let n = self.inner.read(buf)?;
        if n == 0 {
            return self.verify_at_eof();
        }
        hasher.update(buf.get(..n).unwrap_or(buf));
        Ok(n)
    }
}

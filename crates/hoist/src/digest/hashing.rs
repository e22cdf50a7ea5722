//! Hashing what a reader yields without checking it against anything: the diffID of a layer,
//! which is known only once the decompressed stream has been read to its end.
//!
//! A diffID is the sha256 of a layer's uncompressed tar (the image config's `rootfs.diff_ids`,
//! docker's `layer.DiffID`). [`HashingReader`] computes it while another consumer (an unpacker,
//! a tar writer) reads the stream; [`diff_id_of`] computes it when nothing else wants the
//! bytes. The caller compares the result with what it expected and words the mismatch
//! (pull's "layers from manifest don't match image configuration", save's stored-layer
//! check); where the expected digest is known *before* reading, [`super::VerifyingReader`]
//! is the reader to use instead.
//!
//! Invariant: exactly the bytes the inner reader returned are hashed, once each.

use std::io::{self, Read};

use super::{Algorithm, Digest, Hasher};

/// A reader that hashes (sha256) what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::new(Algorithm::Sha256),
        }
    }

    /// The digest of every byte read so far.
    pub fn finish(self) -> Digest {
        self.hasher.finish()
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// The sha256 of everything `reader` yields, and how many bytes that was: the diffID (and
/// uncompressed size) of a decompressed layer stream.
pub fn diff_id_of(reader: impl Read) -> io::Result<(Digest, u64)> {
    let mut reader = HashingReader::new(reader);
    let size = io::copy(&mut reader, &mut io::sink())?;
    Ok((reader.finish(), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_id_is_the_sha256_of_the_stream() {
        let (digest, size) = diff_id_of(&b"layer bytes"[..]).unwrap();
        assert_eq!(digest, Digest::sha256_of(b"layer bytes"));
        assert_eq!(size, 11);
    }

    #[test]
    fn a_hashing_reader_hashes_what_its_consumer_read() {
        let mut reader = HashingReader::new(&b"abcdef"[..]);
        let mut first = [0u8; 3];
        reader.read_exact(&mut first).unwrap();
        assert_eq!(reader.finish(), Digest::sha256_of(b"abc"));
    }
}

//! Decompression of layer blobs: gzip (flate2 on the zlib-rs backend), zstd, or none.
//!
//! Corresponds to docker's `archive.DecompressStream` as used by `xfer` when registering a
//! layer, except that the format comes from the descriptor's media type (the pull code maps
//! `…tar+gzip` / `…tar+zstd` / `…tar` to a [`Compression`]) rather than from sniffing magic
//! bytes: the registry's declaration is what the diffID check in pull is defined against.
//!
//! gzip is read with `MultiGzDecoder`, which continues over concatenated members as `gzip -d`
//! and Go's `gzip.Reader` do — hoist's own encoder writes one member per block (`gzip`), and
//! every path that reads a layer (pull, the layer store's unpack, export, load, save, the
//! copy's compression step) decodes through this [`Decoder`]; zstd's decoder likewise reads
//! concatenated frames.
//!
//! [`Decoder::source_mut`] gives back the compressed stream under the decoder so that the
//! download pipeline can read (and store) whatever the decoder left unread: trailing bytes
//! after the last member, or the rest of a blob the decoder failed on.

use std::fmt;
use std::io::{self, BufReader, Read};

use flate2::read::MultiGzDecoder;

use crate::media::LayerCompression;

/// How a blob's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Stored as is: configs, manifests, `application/vnd.oci.image.layer.v1.tar`.
    #[default]
    None,
    /// gzip (`…tar+gzip`, `application/vnd.docker.image.rootfs.diff.tar.gzip`).
    Gzip,
    /// Zstandard (`…tar+zstd`).
    Zstd,
}

impl From<LayerCompression> for Compression {
    /// The compression a layer's media type declares.
    fn from(compression: LayerCompression) -> Compression {
        match compression {
            LayerCompression::Gzip => Compression::Gzip,
            LayerCompression::Zstd => Compression::Zstd,
            LayerCompression::None => Compression::None,
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

/// A reader of decompressed bytes over a reader of compressed ones.
pub(crate) enum Decoder<R: Read> {
    Plain(R),
    // Boxed: the gzip state is several times larger than the others.
    Gzip(Box<MultiGzDecoder<R>>),
    Zstd(zstd::stream::read::Decoder<'static, BufReader<R>>),
}

impl<R: Read> Decoder<R> {
    /// A decoder of `compression` reading from `source`.
    pub(crate) fn new(compression: Compression, source: R) -> io::Result<Decoder<R>> {
        Ok(match compression {
            Compression::None => Decoder::Plain(source),
            Compression::Gzip => Decoder::Gzip(Box::new(MultiGzDecoder::new(source))),
            Compression::Zstd => Decoder::Zstd(zstd::stream::read::Decoder::new(source)?),
        })
    }

    /// The compressed stream, positioned after what the decoder has taken from it (bytes the
    /// decoder buffered but did not use are not given back).
    pub(crate) fn source_mut(&mut self) -> &mut R {
        match self {
            Decoder::Plain(r) => r,
            Decoder::Gzip(d) => d.get_mut(),
            Decoder::Zstd(d) => d.get_mut().get_mut(),
        }
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
        }
    }
}

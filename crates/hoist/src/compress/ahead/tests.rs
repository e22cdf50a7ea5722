use std::io::{self, Cursor, Read, Write};

use flate2::write::GzEncoder;
use flate2::GzBuilder;

use super::*;
use crate::compress::tests::input;
use crate::compress::{Compression, Decoder, Encoder};

/// What a reader yielded: its bytes, and its error (kind and message) if it failed.
type Outcome = (Vec<u8>, Option<(io::ErrorKind, String)>);

/// Everything `reader` yields until its end or its first error, read `piece` bytes at a time.
fn read_all(mut reader: impl Read, piece: usize) -> Outcome {
    let mut out = Vec::new();
    let mut buf = vec![0; piece];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (out, Some((e.kind(), e.to_string()))),
        }
    }
}

/// What the decoder gives directly, and through [`DecodeAhead`].
fn both(compression: Compression, blob: &[u8], piece: usize) -> [Outcome; 2] {
    let direct = read_all(Decoder::new(compression, blob).unwrap(), piece);
    let decoder = Decoder::new(compression, Cursor::new(blob.to_vec())).unwrap();
    let ahead = read_all(DecodeAhead::spawn(decoder).unwrap(), piece);
    [direct, ahead]
}

fn gzip(level: u32, data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// The gzip shapes layers come in, each decoding to `data`.
fn gzip_shapes(data: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let half = data.len() / 2;
    let mut members = gzip(6, &data[..half]);
    members.extend(gzip(6, &data[half..]));
    let mut headers = GzBuilder::new()
        .filename("layer.tar")
        .comment("a comment")
        .extra(b"AB\x02\x00hi".to_vec())
        .write(Vec::new(), flate2::Compression::new(6));
    headers.write_all(data).unwrap();
    let mut hoist = Encoder::new(Compression::Gzip, Vec::new(), 2).unwrap();
    hoist.write_all(data).unwrap();
    vec![
        ("level 6", gzip(6, data)),
        ("level 1", gzip(1, data)),
        ("level 0 (stored blocks)", gzip(0, data)),
        ("two members", members),
        ("FEXTRA, FNAME, FCOMMENT", headers.finish().unwrap()),
        ("hoist's parallel encoder", hoist.finish().unwrap()),
    ]
}

#[test]
fn gzip_output_is_the_decoders_own() {
    for len in [0, 1, CHUNK - 1, CHUNK, 3 * CHUNK + CHUNK / 2] {
        let data = input(len);
        for (shape, blob) in gzip_shapes(&data) {
            for piece in [1 << 16, 100_003] {
                let [direct, ahead] = both(Compression::Gzip, &blob, piece);
                assert_eq!(direct.1, None, "{shape}, {len} bytes");
                assert!(direct.0 == data, "{shape}, {len} bytes: direct");
                assert!(
                    ahead == direct,
                    "{shape}, {len} bytes: read {piece} at a time"
                );
            }
        }
    }
}

#[test]
fn small_reads_see_every_byte() {
    let data = input(70_000);
    let [direct, ahead] = both(Compression::Gzip, &gzip(6, &data), 7);
    assert!(direct.0 == data && ahead == direct);
}

#[test]
fn zstd_and_plain_output_is_the_decoders_own() {
    let data = input(2 * CHUNK + 5);
    let zstd = zstd::encode_all(&data[..], 3).unwrap();
    for (compression, blob) in [(Compression::Zstd, zstd), (Compression::None, data.clone())] {
        let [direct, ahead] = both(compression, &blob, 1 << 16);
        assert!(direct.0 == data && ahead == direct, "{compression}");
    }
}

#[test]
fn a_corrupt_or_cut_blob_fails_with_the_decoders_error_after_the_same_bytes() {
    let data = input(3 * CHUNK);
    let blob = gzip(6, &data);
    let mut flipped = blob.clone();
    flipped[blob.len() / 2] ^= 0x55;
    let mut garbage = blob.clone();
    garbage.extend_from_slice(b"not gzip");
    let cases = [
        ("a flipped byte", flipped),
        ("cut in the middle", blob[..blob.len() / 2].to_vec()),
        ("cut in the trailer", blob[..blob.len() - 3].to_vec()),
        ("trailing garbage", garbage),
        ("not gzip at all", b"plain text, no gzip header".to_vec()),
    ];
    for (case, blob) in cases {
        let [direct, ahead] = both(Compression::Gzip, &blob, 1 << 16);
        assert!(direct.1.is_some(), "{case}: the decoder should fail");
        assert_eq!(ahead.1, direct.1, "{case}");
        assert!(ahead.0 == direct.0, "{case}: the bytes before the error");
    }
}

#[test]
fn an_error_is_returned_by_every_later_read() {
    let decoder = Decoder::new(Compression::Gzip, Cursor::new(b"\x1f\x8bnot gzip".to_vec()));
    let mut reader = DecodeAhead::spawn(decoder.unwrap()).unwrap();
    let mut buf = [0; 16];
    let first = reader.read(&mut buf).unwrap_err();
    let second = reader.read(&mut buf).unwrap_err();
    assert_eq!(
        (first.kind(), first.to_string()),
        (second.kind(), second.to_string())
    );
}

/// Yields one byte, then panics.
struct Panicking(bool);

impl Read for Panicking {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if std::mem::replace(&mut self.0, true) {
            panic!("a decoder bug");
        }
        buf[0] = b'x';
        Ok(1)
    }
}

#[test]
fn a_panicking_decoder_is_an_error_not_an_end_of_stream() {
    let (bytes, error) = read_all(DecodeAhead::spawn(Panicking(false)).unwrap(), 16);
    assert_eq!(error.map(|(kind, _)| kind), Some(io::ErrorKind::Other));
    assert!(bytes.len() <= 1);
}

#[test]
fn dropping_the_reader_early_ends_the_thread() {
    let data = input(8 * CHUNK);
    let decoder = Decoder::new(Compression::Gzip, Cursor::new(gzip(1, &data))).unwrap();
    let mut reader = DecodeAhead::spawn(decoder).unwrap();
    let mut buf = [0; 10];
    reader.read_exact(&mut buf).unwrap();
    let thread = reader.thread.take().unwrap();
    drop(reader);
    thread.join().unwrap();
}

/// Buffers a finished decode gave back hold its bytes; a later decode that gets them yields
/// only its own (a short stream after a long one, and a reader dropped halfway between).
#[test]
fn reused_buffers_carry_nothing_over() {
    let long = vec![0xAA; 3 * CHUNK + 5];
    let (bytes, error) = read_all(DecodeAhead::spawn(Cursor::new(long.clone())).unwrap(), 4096);
    assert_eq!((bytes.len(), error), (long.len(), None));

    let mut halfway = DecodeAhead::spawn(Cursor::new(vec![0xBB; 2 * CHUNK])).unwrap();
    let mut some = vec![0; 1000];
    halfway.read_exact(&mut some).unwrap();
    drop(halfway);

    for len in [0, 1, 17, CHUNK - 1, CHUNK, CHUNK + 1] {
        let short: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let (bytes, error) = read_all(
            DecodeAhead::spawn(Cursor::new(short.clone())).unwrap(),
            7000,
        );
        assert_eq!(error, None);
        assert!(bytes == short, "a stream of {len} bytes came back changed");
    }
    assert!(SPARES.lock().unwrap().len() <= SPARE);
}

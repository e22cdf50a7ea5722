use std::io::{Read, Write};

use flate2::read::GzDecoder;

use super::*;
use crate::digest::Digest;

/// Compressible but not trivial input: text-like runs mixed with pseudo-random bytes.
pub(super) fn input(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if state % 3 == 0 {
            out.extend_from_slice(b"usr/lib/x86_64-linux-gnu/libc.so.6 ");
        } else {
            out.extend_from_slice(&state.to_le_bytes());
        }
    }
    out.truncate(len);
    out
}

fn encode(compression: Compression, data: &[u8], workers: usize, piece: usize) -> Vec<u8> {
    let mut encoder = Encoder::new(compression, Vec::new(), workers).unwrap();
    for chunk in data.chunks(piece.max(1)) {
        encoder.write_all(chunk).unwrap();
    }
    encoder.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(data).read_to_end(&mut out).unwrap();
    out
}

#[test]
fn gzip_output_decompresses_to_the_input() {
    for len in [
        0,
        1,
        BLOCK_SIZE - 1,
        BLOCK_SIZE,
        BLOCK_SIZE + 1,
        5 * BLOCK_SIZE + 77,
    ] {
        let data = input(len);
        let gz = encode(Compression::Gzip, &data, 3, 10_000);
        assert_eq!(gunzip(&gz), data, "length {len}");
    }
}

#[test]
fn gzip_digest_is_the_same_with_1_2_and_8_workers() {
    let data = input(3 * BLOCK_SIZE + 12_345);
    let digests: Vec<Digest> = [1, 2, 8]
        .iter()
        .map(|&w| Digest::sha256_of(&encode(Compression::Gzip, &data, w, 4096)))
        .collect();
    assert_eq!(digests[0], digests[1]);
    assert_eq!(digests[0], digests[2]);
}

#[test]
fn gzip_output_does_not_depend_on_how_the_input_is_written() {
    let data = input(2 * BLOCK_SIZE + 999);
    let mut flushed = Encoder::new(Compression::Gzip, Vec::new(), 2).unwrap();
    for chunk in data.chunks(1000) {
        flushed.write_all(chunk).unwrap();
        flushed.flush().unwrap();
    }
    assert_eq!(
        flushed.finish().unwrap(),
        encode(Compression::Gzip, &data, 2, data.len())
    );
}

#[test]
fn gzip_output_is_one_member_with_a_fixed_header() {
    let gz = encode(Compression::Gzip, b"hello", 1, 5);
    assert_eq!(&gz[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    let trailer = &gz[gz.len() - 8..];
    assert_eq!(&trailer[4..], &5u32.to_le_bytes());
    // A single member: the plain (not multi-member) decoder reads everything.
    assert_eq!(gunzip(&gz), b"hello");
}

#[test]
fn gzip_compresses_about_as_well_as_a_single_stream() {
    let data = input(8 * BLOCK_SIZE);
    let ours = encode(Compression::Gzip, &data, 2, 65536).len();
    let mut single = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    single.write_all(&data).unwrap();
    let single = single.finish().unwrap().len();
    assert!(
        (ours as f64) < single as f64 * 1.01 + 64.0,
        "parallel {ours} bytes vs single stream {single}"
    );
}

#[test]
fn gzip_is_readable_by_gzip_d() {
    let data = input(2 * BLOCK_SIZE + 5);
    let gz = encode(Compression::Gzip, &data, 2, 7777);
    let mut child = std::process::Command::new("gzip")
        .args(["-d", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&gz).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, data);
}

#[test]
fn zstd_digest_is_the_same_with_1_2_and_8_workers() {
    // Large enough for several zstd jobs at level 3 (job size is a few MiB).
    let data = input(20 << 20);
    let digests: Vec<Digest> = [1, 2, 8]
        .iter()
        .map(|&w| Digest::sha256_of(&encode(Compression::Zstd, &data, w, 1 << 16)))
        .collect();
    assert_eq!(digests[0], digests[1]);
    assert_eq!(digests[0], digests[2]);
}

#[test]
fn zstd_output_decompresses_to_the_input() {
    let data = input(300_000);
    let z = encode(Compression::Zstd, &data, 2, 3000);
    assert_eq!(zstd::decode_all(&z[..]).unwrap(), data);
}

#[test]
fn sniff_recognises_gzip_zstd_and_plain() {
    assert_eq!(
        sniff(&encode(Compression::Gzip, b"x", 1, 1)),
        Compression::Gzip
    );
    assert_eq!(
        sniff(&encode(Compression::Zstd, b"x", 1, 1)),
        Compression::Zstd
    );
    assert_eq!(sniff(b"usr/\0\0\0"), Compression::None);
    assert_eq!(sniff(b""), Compression::None);
}

/// xorshift bytes: no byte is likelier than another, nothing repeats.
fn random(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[test]
fn incompressible_blocks_are_stored_between_deflated_ones() {
    // compressible, random, compressible: the middle blocks are stored (5 bytes of framing
    // per 64 KiB), the others deflated, and the whole still decodes and is reproducible.
    let mut data = input(2 * BLOCK_SIZE);
    let noise = random(4 * BLOCK_SIZE);
    data.extend_from_slice(&noise);
    data.extend_from_slice(&input(2 * BLOCK_SIZE));
    let gz = encode(Compression::Gzip, &data, 2, 50_000);
    assert_eq!(gunzip(&gz), data);
    assert_eq!(gz, encode(Compression::Gzip, &data, 1, 7_000));
    let alone = encode(Compression::Gzip, &noise, 2, 50_000);
    assert!(
        alone.len() < noise.len() + noise.len() / 1000,
        "random input grew to {} bytes",
        alone.len()
    );
    assert!(gzip::looks_incompressible(&noise[..BLOCK_SIZE]));
    assert!(!gzip::looks_incompressible(&input(BLOCK_SIZE)));
}

use std::io::{Read, Write};

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

/// hoist's own gzip decoder (every member).
fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Decoder::new(Compression::Gzip, data)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// `program -d -c` (gzip, pigz) over `data`.
fn decompress_with(program: &str, data: &[u8]) -> Vec<u8> {
    let mut child = std::process::Command::new(program)
        .args(["-d", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{program} -d failed");
    out.stdout
}

/// The gzip members of `data`, each decoded on its own (flate2's single-member decoder stops
/// at the end of the first).
fn members(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut members = Vec::new();
    while !data.is_empty() {
        let mut decoder = flate2::bufread::GzDecoder::new(data);
        let mut out = Vec::new();
        decoder.read_to_end(&mut out).unwrap();
        data = decoder.into_inner();
        members.push(out);
    }
    members
}

/// The lengths the tests cut the input at: empty, less than a block, exactly N blocks, N blocks
/// and a byte.
fn lengths() -> [usize; 6] {
    [
        0,
        1,
        BLOCK_SIZE - 1,
        BLOCK_SIZE,
        3 * BLOCK_SIZE,
        3 * BLOCK_SIZE + 1,
    ]
}

#[test]
fn gzip_output_decodes_to_the_input_with_hoist_gzip_and_pigz() {
    for len in lengths() {
        let data = input(len);
        let gz = encode(Compression::Gzip, &data, 3, 10_000);
        assert_eq!(gunzip(&gz), data, "hoist, length {len}");
        assert_eq!(decompress_with("gzip", &gz), data, "gzip -d, length {len}");
        assert_eq!(decompress_with("pigz", &gz), data, "pigz -d, length {len}");
    }
}

#[test]
fn gzip_output_is_one_member_per_block() {
    for (len, count) in lengths().into_iter().zip([1, 1, 1, 1, 3, 4]) {
        let data = input(len);
        let members = members(&encode(Compression::Gzip, &data, 2, 65_536));
        assert_eq!(members.len(), count, "length {len}");
        assert_eq!(members.concat(), data, "length {len}");
        for member in &members[..count - 1] {
            assert_eq!(member.len(), BLOCK_SIZE);
        }
    }
}

#[test]
fn gzip_bytes_are_the_same_with_1_2_and_8_workers() {
    for len in lengths() {
        let data = input(len);
        let one = encode(Compression::Gzip, &data, 1, 4096);
        for workers in [2, 8] {
            let other = encode(Compression::Gzip, &data, workers, 4096);
            assert!(one == other, "{workers} workers, length {len}");
        }
    }
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
fn gzip_members_have_a_fixed_header_and_their_own_trailer() {
    let gz = encode(Compression::Gzip, b"hello", 1, 5);
    assert_eq!(&gz[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    let trailer = &gz[gz.len() - 8..];
    assert_eq!(&trailer[..4], &libdeflater::crc32(b"hello").to_le_bytes());
    assert_eq!(&trailer[4..], &5u32.to_le_bytes());
    // Each member is its block compressed alone.
    let data = input(BLOCK_SIZE + 3);
    let first = encode(Compression::Gzip, &data[..BLOCK_SIZE], 1, BLOCK_SIZE);
    let second = encode(Compression::Gzip, &data[BLOCK_SIZE..], 1, 3);
    assert!(encode(Compression::Gzip, &data, 2, 1000) == [first, second].concat());
}

#[test]
fn gzip_compresses_about_as_well_as_a_single_zlib_stream_at_level_6() {
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
    // per 64 KiB, 18 per member), the others deflated, and the whole still decodes and is
    // reproducible.
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

#[test]
fn encoders_asking_for_the_same_workers_share_one_pool() {
    let a = GzipPool::shared(3);
    let b = GzipPool::shared(3);
    assert!(a.same_as(&b));
    assert_eq!(a.workers(), 3);
    assert_eq!(
        GzipPool::shared(10 * BLOCKS_IN_FLIGHT).workers(),
        BLOCKS_IN_FLIGHT
    );
}

#[test]
fn many_concurrent_encoders_share_the_block_budget_and_all_finish() {
    // More encoders × blocks than the budget holds, each writing its members in order: all
    // finish (none waits on budget its own members hold) with the bytes one encoder alone makes.
    let data = input(3 * BLOCK_SIZE + 17);
    let alone = encode(Compression::Gzip, &data, 1, 1 << 20);
    let pool = GzipPool::new(4);
    std::thread::scope(|scope| {
        let encoders: Vec<_> = (0..BLOCKS_IN_FLIGHT + 8)
            .map(|i| {
                let (pool, data) = (pool.clone(), &data);
                scope.spawn(move || {
                    let mut gzip = ParallelGzip::with_pool(Vec::new(), DEFAULT_LEVEL, pool);
                    for chunk in data.chunks(1000 + i) {
                        gzip.write_all(chunk).unwrap();
                    }
                    gzip.finish().unwrap()
                })
            })
            .collect();
        for encoder in encoders {
            assert!(encoder.join().unwrap() == alone);
        }
    });
}

#[test]
fn a_writer_dropped_mid_stream_gives_its_blocks_back() {
    let data = input(4 * BLOCK_SIZE);
    for _ in 0..3 * BLOCKS_IN_FLIGHT {
        let mut gzip = ParallelGzip::with_pool(Vec::new(), DEFAULT_LEVEL, GzipPool::new(2));
        gzip.write_all(&data).unwrap();
        drop(gzip);
    }
    // Had the dropped blocks kept their shares, this encoder would wait forever.
    assert_eq!(gunzip(&encode(Compression::Gzip, &data, 2, 1 << 16)), data);
}

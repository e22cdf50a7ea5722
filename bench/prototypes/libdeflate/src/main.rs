//! Deflate one layer tar (argument 1) three times with variant N (argument 2): zlib-rs in
//! 128 KiB blocks primed with the 32 KiB before them (hoist's gzip today), or libdeflate in
//! independent blocks (one gzip member each); prints the size and the wall rate. The variant
//! is a row of bench/RESULTS.md's table (0-5) or `NAME BLOCK_KIB LEVEL`.

use flate2::{Compress, Compression, FlushCompress};
use std::time::Instant;
fn zlib_dict(input: &[u8], block: usize, level: u32) -> usize {
    let mut total = 0;
    let mut out = Vec::with_capacity(block * 2);
    for (i, chunk) in input.chunks(block).enumerate() {
        let mut c = Compress::new(Compression::new(level), false);
        if i > 0 {
            let start = i * block;
            c.set_dictionary(&input[start - 32768..start]).unwrap();
        }
        out.clear();
        c.compress_vec(chunk, &mut out, FlushCompress::Sync).unwrap();
        total += out.len();
    }
    total
}
fn libdeflate_blocks(input: &[u8], block: usize, level: i32) -> usize {
    let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(level).unwrap());
    let mut out = vec![0u8; c.gzip_compress_bound(block)];
    let mut total = 0;
    for chunk in input.chunks(block) {
        total += c.gzip_compress(chunk, &mut out).unwrap();
    }
    total
}
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let input = std::fs::read(&path).unwrap();
    let mb = input.len() as f64 / 1e6;
    println!("input {:.1} MB", mb);
    // Either a variant number of the table in bench/RESULTS.md, or NAME BLOCK_KIB LEVEL
    // (NAME: zlib-rs or libdeflate).
    let args: Vec<String> = std::env::args().skip(2).collect();
    let (name, block, level) = match args.as_slice() {
        [v] => {
            let v: usize = v.parse().unwrap();
            [("zlib-rs dict", 128 << 10, 6u32), ("libdeflate", 128 << 10, 6), ("libdeflate", 1 << 20, 6), ("libdeflate", 1 << 20, 5), ("libdeflate", 1 << 20, 4), ("zlib-rs dict", 128 << 10, 5)][v]
        }
        [name, kib, level] => {
            let name = if name.starts_with("zlib") { "zlib-rs dict" } else { "libdeflate" };
            (name, kib.parse::<usize>().unwrap() << 10, level.parse().unwrap())
        }
        _ => panic!("usage: defl LAYER.tar (VARIANT | NAME BLOCK_KIB LEVEL)"),
    };
    let t = Instant::now();
    let mut size = 0;
    for _ in 0..3 { size = if name.starts_with("zlib") { zlib_dict(&input, block, level) } else { libdeflate_blocks(&input, block, level as i32) }; }
    let s = t.elapsed().as_secs_f64() / 3.0;
    println!("{name:14} block {:5} KiB level {level}: {:.2} MB ({:.2} %) wall {:.0} MB/s", block >> 10, size as f64 / 1e6, 100.0 * size as f64 / input.len() as f64, mb / s);
}

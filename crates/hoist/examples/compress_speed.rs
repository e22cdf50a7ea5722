//! Throughput of hoist's layer compressors on one file, for the numbers in commit messages and
//! `bench/`: `cargo run --release --example compress_speed -- FILE [gzip[:LEVEL]|zstd] [WORKERS...]`.
//! Prints MB/s (input bytes per second) and the ratio for each worker count, and checks that
//! every worker count gives the same digest. gzip's LEVEL is libdeflate's (0–12, default 3).

use std::io::Write;
use std::time::Instant;

use hoist::compress::Encoder;
use hoist::digest::Digest;
use hoist::transfer::Compression;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: compress_speed FILE [gzip|zstd] [WORKERS...]")?;
    let format = args.next().unwrap_or_else(|| "gzip".to_owned());
    let (format, level) = match format.split_once(':') {
        Some((f, l)) => (f.to_owned(), Some(l.parse::<u32>()?)),
        None => (format, None),
    };
    let compression = match format.as_str() {
        "gzip" => Compression::Gzip,
        "zstd" => Compression::Zstd,
        other => return Err(format!("unknown compression {other}").into()),
    };
    let mut workers: Vec<usize> = args.map(|a| a.parse()).collect::<Result<_, _>>()?;
    if workers.is_empty() {
        workers = vec![1, hoist::compress::default_workers()];
    }
    let data = std::fs::read(&path)?;
    let mut first: Option<Digest> = None;
    for n in workers {
        let start = Instant::now();
        let sink = Vec::with_capacity(data.len());
        let mut encoder = match level {
            Some(level) if compression == Compression::Gzip => {
                let options = hoist::compress::GzipOptions { level, workers: n };
                Encoder::Gzip(hoist::compress::ParallelGzip::new(sink, options))
            }
            _ => Encoder::new(compression, sink, n)?,
        };
        for chunk in data.chunks(1 << 20) {
            encoder.write_all(chunk)?;
        }
        let out = encoder.finish()?;
        let secs = start.elapsed().as_secs_f64();
        let digest = Digest::sha256_of(&out);
        println!(
            "{compression} workers={n}: {:.1} MB/s, {} -> {} bytes ({:.1}%), {digest}",
            data.len() as f64 / secs / 1e6,
            data.len(),
            out.len(),
            100.0 * out.len() as f64 / data.len() as f64
        );
        if let Some(d) = &first {
            assert_eq!(d, &digest, "digest depends on the worker count");
        }
        first = Some(digest);
    }
    Ok(())
}

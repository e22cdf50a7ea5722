//! Inflate one gzip blob (argument 1) with variant argument 2 — `flate2` (MultiGzDecoder on
//! zlib-rs, hoist today), `flate2t` (the same on its own thread, decode-ahead, recycled buffers) or `rgz1`/`rgz2`/`rgzN` (rapidgzip-core with N workers) — and
//! argument 3 `sha` (hash the output with sha256, as the pull pipeline does) or `null`
//! (discard it). Prints the decoded size, the digest, the wall time and the decoder path.

use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::time::Instant;

/// The decode-ahead variant's buffer: 1 MiB, filled before each handoff.
const CHUNK: usize = 1 << 20;

/// A writer hashing what it is given, or discarding it.
struct Sink(Option<Sha256>, u64);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(h) = &mut self.0 {
            h.update(buf);
        }
        self.1 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (path, variant, mode) = (&args[1], args[2].as_str(), args[3].as_str());
    let mut sink = Sink((mode == "sha").then(Sha256::new), 0);
    let start = Instant::now();
    let mut path_used = String::from("-");
    if variant == "flate2t" {
        // Decode-ahead: flate2 on its own thread, 8 recycled CHUNK buffers going round
        // between it and the consumer (hash or discard) on this thread.
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize)>(8);
        let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        for _ in 0..8 {
            empty_tx.send(vec![0u8; CHUNK])?;
        }
        let path = path.clone();
        let worker = std::thread::spawn(move || -> io::Result<()> {
            let file = std::fs::File::open(path)?;
            let mut dec =
                flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(1 << 16, file));
            while let Ok(mut buf) = empty_rx.recv() {
                // Fill the buffer: one handoff per CHUNK, not per inflate call.
                let mut n = 0;
                while n < buf.len() {
                    match dec.read(&mut buf[n..])? {
                        0 => break,
                        read => n += read,
                    }
                }
                if n == 0 || full_tx.send((buf, n)).is_err() {
                    return Ok(());
                }
            }
            Ok(())
        });
        for (chunk, n) in full_rx {
            sink.write_all(&chunk[..n])?;
            let _ = empty_tx.send(chunk);
        }
        worker.join().map_err(|_| "decode thread panicked")??;
    } else if variant == "flate2" {
        let file = std::fs::File::open(path)?;
        let mut dec =
            flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(1 << 16, file));
        let mut buf = vec![0u8; 1 << 17];
        loop {
            let n = dec.read(&mut buf)?;
            if n == 0 {
                break;
            }
            sink.write_all(&buf[..n])?;
        }
    } else {
        let workers: usize = variant.trim_start_matches("rgz").parse()?;
        let decoder = rapidgzip_core::Decoder::builder()
            .decoder_threads(workers)
            .build()?;
        let mut reader = decoder.open(path)?;
        let handle = reader.handle();
        let mut buf = vec![0u8; 1 << 17];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            sink.write_all(&buf[..n])?;
        }
        let stats = handle.stats();
        path_used = format!("{:?} spawned {}", stats.path, stats.spawned_workers);
        reader.finish()?;
    }
    let wall = start.elapsed().as_secs_f64();
    let digest = sink
        .0
        .map(|h| format!("{:x}", h.finalize()))
        .unwrap_or_default();
    println!(
        "{variant} {mode} out {} wall {wall:.3} path {path_used} sha256 {digest}",
        sink.1
    );
    Ok(())
}

//! Per-entry cost of applying a layer tar, for the numbers in commit messages and issue 15's
//! "1 M entries" figure: `cargo run --release --example unpack_speed -- ENTRIES [apply|diff]`.
//! Builds an uncompressed tar of ENTRIES small files (1000 to a directory) in memory, unpacks
//! it into a fresh directory beside the current one (`./unpack-speed-*`, removed after), and
//! prints the time, entries per second and the process's peak RSS.

use std::io::Cursor;
use std::time::Instant;

use hoist::unpack::{unpack_layer, UnpackOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let entries: usize = args
        .next()
        .ok_or("usage: unpack_speed ENTRIES [apply|diff]")?
        .parse()?;
    let options = match args.next().as_deref() {
        None | Some("apply") => UnpackOptions::apply(),
        Some("diff") => UnpackOptions::diff(),
        Some(other) => return Err(format!("unknown mode {other}").into()),
    };
    let tar = build_tar(entries)?;
    let dir = tempfile::Builder::new()
        .prefix("unpack-speed-")
        .tempdir_in(".")?;
    let start = Instant::now();
    let report = unpack_layer(Cursor::new(&tar), dir.path(), &options)?;
    let elapsed = start.elapsed();
    println!(
        "{} entries ({} MB of tar) in {:.2} s: {:.0} entries/s; peak RSS {} MB",
        report.entries,
        tar.len() >> 20,
        elapsed.as_secs_f64(),
        report.entries as f64 / elapsed.as_secs_f64(),
        peak_rss_kb()? / 1024
    );
    Ok(())
}

fn build_tar(entries: usize) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for i in 0..entries {
        if i % 1000 == 0 {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            builder.append_data(&mut header, format!("d{}/", i / 1000), std::io::empty())?;
        }
        let data = format!("file {i}\n");
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        builder.append_data(&mut header, format!("d{}/f{i}", i / 1000), data.as_bytes())?;
    }
    builder.into_inner()
}

fn peak_rss_kb() -> std::io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    Ok(status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0))
}

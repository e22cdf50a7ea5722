//! A compressing push of a 50-layer image on a many-core machine's compression pool keeps the
//! peak RSS under 100 MiB: the layers are loaded uncompressed (a docker-archive streamed from a
//! file), so every one is gzipped on the way, with 32 compression workers (what `hoist push`
//! asks for on a 32-core machine) and docker's 5 uploads at once — more blocks than the
//! process's budget of gzip blocks in flight holds, so the shared pool, its cap on threads and
//! the budget are what keep memory down (measured: 74–85 MiB; 143 MiB when each encoder had
//! its own 32 threads and 64 blocks of 128 KiB).
//! The peak is this process's `VmHWM`, reset just before the push. Its own test binary, so no
//! other test shares the process.

mod support;

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use hoist::push::PushOptions;
use hoist::reference::Reference;
use hoist::transfer::Compression;
use hoist_testkit::TestRegistry;
use sha2::{Digest as _, Sha256};
use support::memory::{reset_peak, status_kib, Hashing};
use support::pull::{anonymous_client, Recorder, Store};
use support::push::{fast_push_options, pusher};

const LAYERS: u64 = 50;
/// Eight gzip blocks per layer: 5 layers at once want 40 blocks, the budget holds 16.
const LAYER_FILE: u64 = 4 << 20;

/// Compressible text lines from a seed, `left` bytes of them.
struct Text {
    state: u64,
    left: u64,
}

impl Read for Text {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n + 64 <= buf.len() && self.left > 0 {
            self.state = self
                .state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let line = format!(
                "{:>20} usr/lib/x86_64-linux-gnu/lib{}.so\n",
                self.state >> 40,
                self.state % 97
            );
            let take = line.len().min(self.left as usize);
            buf[n..n + take].copy_from_slice(&line.as_bytes()[..take]);
            n += take;
            self.left -= take as u64;
        }
        Ok(n)
    }
}

/// One layer tar of one generated file, and its diffID.
fn layer_tar(seed: u64) -> (Vec<u8>, String) {
    let mut tar = tar::Builder::new(Hashing::new(Vec::new()));
    let mut header = tar::Header::new_gnu();
    header.set_size(LAYER_FILE);
    header.set_mode(0o644);
    header.set_mtime(1_600_000_000);
    let data = Text {
        state: seed + 1,
        left: LAYER_FILE,
    };
    tar.append_data(&mut header, format!("data/{seed}.txt"), data)
        .unwrap();
    tar.into_inner().unwrap().finish()
}

/// A docker-archive of `LAYERS` generated layers tagged `tag`, written to `path` one layer at a
/// time (never the whole image in memory).
fn write_archive(path: &Path, tag: &str) {
    let mut archive = tar::Builder::new(BufWriter::new(File::create(path).unwrap()));
    let mut append = |name: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_600_000_000);
        archive.append_data(&mut header, name, bytes).unwrap();
    };
    let mut diff_ids = Vec::new();
    let mut files = Vec::new();
    for seed in 0..LAYERS {
        let (tar, diff_id) = layer_tar(seed);
        let name = format!("{}/layer.tar", &diff_id[7..]);
        append(&name, &tar);
        files.push(name);
        diff_ids.push(diff_id);
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let config_name = format!("{}.json", hex::encode(Sha256::digest(&config)));
    append(&config_name, &config);
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": config_name, "RepoTags": [tag], "Layers": files}
    ]))
    .unwrap();
    append("manifest.json", &manifest);
    archive.into_inner().unwrap().flush().unwrap();
}

// About a minute in a debug build (200 MiB generated, loaded and compressed), so not in the
// default run: `cargo test -p hoist --test push_memory -- --ignored`.
#[ignore = "slow: 200 MiB generated, loaded and pushed compressed; run with --ignored"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressing_push_of_50_layers_with_32_workers_keeps_peak_rss_under_100_mib() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let target = format!("{}/many/app:v1", registry.host());
    let work = tempfile::tempdir_in("/dev/shm").unwrap();
    let archive = work.path().join("image.tar");
    write_archive(&archive, &target);
    let store = Store::new();
    hoist::copy::load_archive(&store.metadata(), File::open(&archive).unwrap()).unwrap();
    fs::remove_file(&archive).unwrap();
    let options = PushOptions {
        compression: Compression::Gzip,
        compression_workers: 32,
        ..fast_push_options()
    };

    // Reset the peak (VmHWM) to the current RSS (Linux 4.0+), then push.
    let before = reset_peak();
    let outcome = pusher(&store, anonymous_client(), options)
        .push(&Reference::parse(&target).unwrap(), &Recorder::default())
        .await
        .unwrap();
    let peak = status_kib("VmHWM:");

    let record = store
        .metadata()
        .image(&outcome.tags[0].digest)
        .unwrap()
        .unwrap();
    assert_eq!(record.layers.len() as u64, LAYERS);
    assert!(record.layers.iter().all(|l| l.digest != l.diff_id));
    eprintln!("RSS before the push {before} KiB, peak during it {peak} KiB");
    assert!(
        peak < 100 * 1024,
        "peak RSS {peak} KiB (from {before} KiB) while pushing 50 layers compressed"
    );
}

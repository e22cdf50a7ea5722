//! `hoist pull`'s memory with zstd layers of the largest window libzstd decodes by default
//! (128 MiB, what `zstd --long=27` writes): several such layers download at once, but their
//! windows are decoded one at a time, so the pull's peak resident set stays under 100 MiB plus
//! one window (issue 15, finding 10: four of them reached 429 MB before; the three here, 421 MiB
//! without the window budget, about 170 MiB with it).
//!
//! Alone in its test binary: the peak is read with `getrusage(RUSAGE_CHILDREN)`, the largest
//! resident set of any child this process has waited for — here only `hoist` (the registry
//! is still running when it is read).

mod sandbox;

use std::io::{Read, Write};

use hoist::digest::{Algorithm, Hasher};

use hoist_testkit::{Blob, ImageBuilder, ImagePusher, Layer, ManifestFormat, TestRegistry};
use sandbox::{stderr, Sandbox};

const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const WINDOW_LOG: u32 = 27;
const WINDOW: u64 = 1 << WINDOW_LOG;
const MIB: u64 = 1 << 20;

/// A layer of one file a little larger than the window, made of one random MiB repeated:
/// the decoder fills its whole window, the blob stays small. The tar is streamed into the
/// hasher and the encoder, never held whole, so that this process stays small: a child's
/// peak resident set starts from its parent's (Linux records the parent's peak at `exec`
/// after `vfork`). Returns the layer (its diffID) and the zstd blob.
fn long_window_layer(seed: u64) -> (Layer, Vec<u8>) {
    let mut state = seed | 1;
    let block: Vec<u8> = (0..MIB)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let size = WINDOW + 8 * MIB;
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    encoder.window_log(WINDOW_LOG).unwrap();
    encoder.long_distance_matching(true).unwrap();
    let mut tar = tar::Builder::new(HashingWriter {
        hasher: Hasher::new(Algorithm::Sha256),
        inner: encoder,
    });
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_size(size);
    header.set_mtime(0);
    let content = Cycle { block, at: 0 }.take(size);
    tar.append_data(&mut header, "window.bin", content).unwrap();
    let written = tar.into_inner().unwrap();
    let layer = Layer {
        diff_id: written.hasher.finish().to_string(),
        tar: Vec::new(),
        gzip: Vec::new(),
    };
    (layer, written.inner.finish().unwrap())
}

/// `block` over and over.
struct Cycle {
    block: Vec<u8>,
    at: usize,
}

impl Read for Cycle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at = (self.at + n) % self.block.len();
        Ok(n)
    }
}

/// Hashes what it writes into `inner`.
struct HashingWriter<W> {
    hasher: Hasher,
    inner: W,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Peak resident set, in bytes, of the largest child waited for.
fn children_peak_rss() -> u64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0, "getrusage failed");
    u64::try_from(usage.ru_maxrss).unwrap() * 1024
}

#[tokio::test]
async fn long_window_zstd_layers_are_decoded_one_window_at_a_time() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let pusher = ImagePusher::new(&registry);
    let mut builder = ImageBuilder::new().format(ManifestFormat::Oci);
    let mut descriptors = Vec::new();
    for seed in 1..=3u64 {
        let (layer, bytes) = long_window_layer(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let blob = Blob::new(OCI_LAYER_ZSTD, bytes);
        pusher.push_blob("big/window", &blob).await.unwrap();
        descriptors.push(blob.descriptor());
        builder = builder.layer(layer);
    }
    let base = builder.build().unwrap();
    let mut manifest: serde_json::Value = serde_json::from_slice(&base.manifest.bytes).unwrap();
    manifest["layers"] = serde_json::Value::Array(descriptors);
    let manifest = Blob::new(
        &base.manifest.media_type,
        serde_json::to_vec(&manifest).unwrap(),
    );
    pusher.push_blob("big/window", &base.config).await.unwrap();
    pusher
        .push_manifest("big/window", "v1", &manifest)
        .await
        .unwrap();

    let sandbox = Sandbox::new();
    let reference = format!("{}/big/window:v1", registry.host());
    let out = sandbox.hoist(&["pull", "-q", &reference]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let peak = children_peak_rss();
    assert!(
        peak < 100 * MIB + WINDOW,
        "peak resident set {} MiB, more than 100 MiB plus one window of {} MiB",
        peak / MIB,
        WINDOW / MIB
    );
}

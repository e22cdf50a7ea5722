//! skopeo, the independent reader and writer tests check hoist against, for every transport
//! (`docker://` over plain HTTP, `oci:`, `dir:`, `docker-archive:`, `oci-archive:`).
//!
//! Test helpers: each runs the `skopeo` on PATH and panics with its stderr when it fails, so a
//! test reads as the steps it takes.

use std::process::Command;

/// Runs `skopeo --insecure-policy ARGS…`.
///
/// # Panics
/// When skopeo cannot be run or exits unsuccessfully.
pub fn run(args: &[&str]) {
    let out = Command::new("skopeo")
        .args(["--insecure-policy"])
        .args(args)
        .output()
        .expect("running skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `skopeo inspect --raw` of any transport reference: the root manifest's bytes.
///
/// # Panics
/// When skopeo cannot be run or exits unsuccessfully.
pub fn inspect_raw(reference: &str) -> Vec<u8> {
    inspect(&["--raw"], reference)
}

/// `skopeo inspect --config --raw`: the config bytes of the image `reference` names.
///
/// # Panics
/// When skopeo cannot be run or exits unsuccessfully.
pub fn inspect_config(reference: &str) -> Vec<u8> {
    inspect(&["--config", "--raw"], reference)
}

fn inspect(flags: &[&str], reference: &str) -> Vec<u8> {
    let out = Command::new("skopeo")
        .arg("inspect")
        .args(flags)
        .args(["--tls-verify=false", reference])
        .output()
        .expect("running skopeo");
    assert!(
        out.status.success(),
        "skopeo inspect {reference} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

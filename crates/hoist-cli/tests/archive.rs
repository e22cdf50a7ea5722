//! `hoist save` and `hoist load` run as the built binary: files, pipes, docker's output lines
//! and one-line failures.

mod sandbox;

use std::process::Output;

use hoist_testkit::{Image, ImageBuilder, Layer};
use sandbox::SeededRoot;

type Store = SeededRoot;

fn image(name: &str) -> Image {
    ImageBuilder::new()
        .layer(Layer::from_files(&[(name, name.as_bytes())]).unwrap())
        .build()
        .unwrap()
}

fn ok(output: Output) -> Output {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn save_to_a_file_then_load_it_prints_loaded_image() {
    let source = Store::new();
    let record = source.put(&image("a"), &["app:1"]);
    let file = source.root().join("out.tar");
    ok(source.hoist(&["save", "-o", file.to_str().unwrap(), "app:1"]));

    let target = Store::new();
    let out = ok(target.hoist(&["load", "-i", file.to_str().unwrap()]));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Loaded image: app:1\n"
    );
    let inspect = ok(target.hoist(&["inspect", "app:1"]));
    let json: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(json[0]["Id"], record.image_id.as_str());
}

#[test]
fn save_streams_to_a_pipe_and_load_reads_stdin() {
    let source = Store::new();
    source.put(&image("a"), &["app:1"]);
    let saved = ok(source.hoist(&["save", "app:1"])).stdout;
    assert!(!saved.is_empty());

    let target = Store::new();
    let out = ok(target.hoist_with_stdin(&["load", "-q"], &saved));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Loaded image: app:1\n"
    );
}

#[test]
fn a_failed_save_leaves_no_file() {
    let store = Store::new();
    let file = store.root().join("out.tar");
    let out = store.hoist(&["save", "-o", file.to_str().unwrap(), "nope:1"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "Error: No such image: nope:1\n"
    );
    assert!(!file.exists());
    let leftovers: Vec<_> = std::fs::read_dir(store.root())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".hoist_temp_"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn loading_a_hostile_archive_fails_with_one_line() {
    let store = Store::new();
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..4].copy_from_slice(b"../x");
    header.set_size(1);
    header.set_mode(0o644);
    header.set_cksum();
    let mut archive = header.as_bytes().to_vec();
    archive.extend_from_slice(b"x");
    archive.resize(1024 + 2048, 0);
    let out = store.hoist_with_stdin(&["load"], &archive);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "Error: refusing archive member \"../x\": its path is absolute or contains \"..\"\n"
    );
}

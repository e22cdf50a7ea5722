//! The fuzz targets' inputs, replayed in CI: every file of `fuzz/seeds/TARGET` (valid inputs
//! the fuzzers start from) and `fuzz/regressions/TARGET` (the input of each crash a fuzzer
//! found, kept with its fix), through the parser calls of `fuzz/fuzz_targets/TARGET.rs`. A
//! panic on any of them fails here in a second, without a nightly toolchain; the
//! coverage-guided runs themselves are `scripts/fuzz.sh` (see docs/reliability.md).

use std::path::{Path, PathBuf};

use hoist::copy::{Archive, ImageLocation};
use hoist::digest::Digest;
use hoist::media::types::{
    DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED, DOCKER_MANIFEST_V2,
    OCI_INDEX, OCI_MANIFEST,
};
use hoist::media::{ImageConfig, Manifest, Platform, Schema1Manifest};
use hoist::reference::{Reference, Repository, Tag};
use hoist::registry::auth::challenge::parse_header;
use hoist::registry::auth::token::parse_token_response;
use hoist::registry::errcode::decode_errors;
use hoist::registry::tags::parse_next_link;
use hoist::store::ContentStore;
use hoist::trust::keys::public_key;
use hoist::trust::sigstore::Payload;
use hoist::trust::Policy;
use hoist::unpack::{unpack_layer, UnpackOptions};

/// The inputs of one target: seeds and regressions, at least one.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut found = Vec::new();
    for kind in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            found.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    assert!(
        !found.is_empty(),
        "no inputs for {target} under {}",
        fuzz.display()
    );
    found
}

#[test]
fn reference_inputs_parse_or_fail_cleanly_and_round_trip() {
    for (path, data) in inputs("reference") {
        let Ok(s) = std::str::from_utf8(&data) else {
            continue;
        };
        if let Ok(reference) = Reference::parse(s) {
            let again = Reference::parse(&reference.to_string());
            assert_eq!(again.ok(), Some(reference), "{}", path.display());
        }
        let _ = Reference::parse_docker_ref(s);
        let _ = Repository::parse(s);
        let _ = Tag::parse(s);
        let _ = Digest::parse(s);
        let _ = Platform::parse(s);
        let _ = ImageLocation::parse(s);
    }
}

#[test]
fn manifest_inputs_parse_or_fail_cleanly() {
    const CONTENT_TYPES: [&str; 8] = [
        OCI_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST_V2,
        DOCKER_MANIFEST_LIST,
        DOCKER_MANIFEST_V1,
        DOCKER_MANIFEST_V1_SIGNED,
        "application/json",
        "",
    ];
    for (_, data) in inputs("manifest") {
        let Some((&selector, body)) = data.split_first() else {
            continue;
        };
        let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
        let _ = Manifest::parse(content_type, body);
        let _ = ImageConfig::parse(body);
        let _ = Schema1Manifest::parse(body);
    }
}

#[test]
fn authentication_inputs_parse_or_fail_cleanly() {
    for (_, data) in inputs("www_authenticate") {
        let _ = parse_token_response("https://auth.example/token", &data);
        let _ = decode_errors(401, &data);
        if let Ok(s) = std::str::from_utf8(&data) {
            let _ = parse_header(s);
            let _ = parse_next_link(s);
        }
    }
}

#[test]
fn layer_tar_inputs_unpack_or_fail_inside_their_directory() {
    for (path, data) in inputs("layer_tar") {
        let outer = tempfile::tempdir().unwrap();
        let target = outer.path().join("diff");
        std::fs::create_dir(&target).unwrap();
        let _ = unpack_layer(&data[..], &target, &UnpackOptions::diff());
        let names: Vec<_> = std::fs::read_dir(outer.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["diff"], "{} escaped its directory", path.display());
    }
}

#[test]
fn archive_inputs_load_or_fail_cleanly() {
    for (path, data) in inputs("docker_archive") {
        let dir = tempfile::tempdir().unwrap();
        let content = ContentStore::open(dir.path()).unwrap();
        let entries = Archive::read_any(Path::new("fuzz.tar"), content, &data[..])
            .and_then(|archive| archive.entries());
        // The seeds are valid archives of one image each (a docker-archive, an OCI layout).
        if path
            .parent()
            .is_some_and(|p| p.ends_with("seeds/docker_archive"))
        {
            assert_eq!(entries.map(|e| e.len()).ok(), Some(1), "{}", path.display());
        }
    }
}

#[test]
fn trust_inputs_parse_or_fail_cleanly() {
    for (path, data) in inputs("trust") {
        let Some((&selector, body)) = data.split_first() else {
            continue;
        };
        let is_seed = path.parent().is_some_and(|p| p.ends_with("seeds/trust"));
        match selector % 3 {
            0 => {
                if let Ok(text) = std::str::from_utf8(body) {
                    let _ = Policy::parse(Path::new("policy.json"), text);
                }
            }
            1 => {
                let parsed = Payload::parse(body);
                assert!(!is_seed || parsed.is_ok(), "{}", path.display());
            }
            _ => {
                let parsed = public_key(body, "key.pub");
                assert!(!is_seed || parsed.is_ok(), "{}", path.display());
            }
        }
    }
}

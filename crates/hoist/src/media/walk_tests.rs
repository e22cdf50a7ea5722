//! The walker's tests; the helpers that build manifests in memory are shared with the tests
//! of the walk's callers (`crate::copy`'s `walk`).

use std::collections::HashMap;

use super::*;
use crate::media::types::{OCI_CONFIG, OCI_LAYER_GZIP};

/// Manifests held in memory, by digest; and, as a copy source, the entries a walk asked it
/// to read ahead (`copy::walk`'s tests).
#[derive(Default)]
pub(crate) struct Manifests(
    pub(crate) HashMap<Digest, Bytes>,
    pub(crate) std::sync::Mutex<Vec<Vec<Digest>>>,
);

impl Manifests {
    pub(crate) fn add(&mut self, media_type: &str, json: serde_json::Value) -> Descriptor {
        let bytes = Bytes::from(serde_json::to_vec(&json).unwrap());
        let digest = Digest::sha256_of(&bytes);
        let d = Descriptor::new(media_type, digest.clone(), bytes.len() as u64);
        self.0.insert(digest, bytes);
        d
    }

    /// Walks `walker` to the end, skipping what is not held.
    fn run(&self, mut walker: Walker) -> Result<Vec<Node>, WalkError> {
        while let Some(next) = walker.next_manifest() {
            match self.0.get(&next.digest).cloned() {
                Some(bytes) => {
                    walker.visit(bytes)?;
                }
                None => walker.skip(),
            }
        }
        Ok(walker.finish())
    }
}

fn blob(n: u8) -> serde_json::Value {
    let d = Digest::sha256_of(&[n]);
    serde_json::json!({"mediaType": OCI_LAYER_GZIP, "digest": d.to_string(), "size": 1})
}

pub(crate) fn image(m: &mut Manifests, layers: &[u8], platform: &str) -> Descriptor {
    let config = serde_json::json!({"mediaType": OCI_CONFIG,
        "digest": Digest::sha256_of(platform.as_bytes()).to_string(), "size": 1});
    let mut d = m.add(
        OCI_MANIFEST,
        serde_json::json!({"schemaVersion": 2, "config": config,
            "layers": layers.iter().map(|n| blob(*n)).collect::<Vec<_>>()}),
    );
    d.platform = Some(Platform::parse(platform).unwrap());
    d
}

pub(crate) fn index(m: &mut Manifests, children: &[Descriptor]) -> Descriptor {
    m.add(
        OCI_INDEX,
        serde_json::json!({"schemaVersion": 2, "manifests": children}),
    )
}

fn digests(nodes: &[Node]) -> Vec<&Digest> {
    nodes.iter().map(|n| &n.descriptor.digest).collect()
}

#[test]
fn children_come_before_their_index_and_each_manifest_once() {
    let mut m = Manifests::default();
    let amd = image(&mut m, &[1, 2], "linux/amd64");
    let arm = image(&mut m, &[1, 3], "linux/arm64");
    let root = index(&mut m, &[amd.clone(), arm.clone(), amd.clone()]);

    let nodes = m
        .run(Walker::new([root.clone()], WalkLimits::default()))
        .unwrap();

    assert_eq!(digests(&nodes), [&amd.digest, &arm.digest, &root.digest]);
    assert_eq!(
        nodes[0].children.blobs().count(),
        3,
        "config and two layers"
    );
    assert_eq!(nodes[2].depth, 0);
    assert_eq!(nodes[0].depth, 1);
}

#[test]
fn a_platform_follows_only_the_best_match() {
    let mut m = Manifests::default();
    let amd = image(&mut m, &[1], "linux/amd64");
    let arm = image(&mut m, &[2], "linux/arm64");
    let root = index(&mut m, &[amd, arm.clone()]);

    let walker = Walker::new([root.clone()], WalkLimits::default())
        .platform(&Platform::parse("linux/arm64").unwrap());
    let nodes = m.run(walker).unwrap();

    assert_eq!(digests(&nodes), [&arm.digest, &root.digest]);
}

#[test]
fn a_platform_no_entry_matches_is_refused() {
    let mut m = Manifests::default();
    let amd = image(&mut m, &[1], "linux/amd64");
    let root = index(&mut m, &[amd]);

    let walker = Walker::new([root], WalkLimits::default())
        .platform(&Platform::parse("linux/s390x").unwrap());
    let err = m.run(walker).unwrap_err();

    assert!(matches!(err, WalkError::NoMatchingManifest(_)), "{err:?}");
}

#[test]
fn a_filter_leaves_entries_out() {
    let mut m = Manifests::default();
    let amd = image(&mut m, &[1], "linux/amd64");
    let attestation = image(&mut m, &[2], "unknown/unknown");
    let root = index(&mut m, &[amd.clone(), attestation]);

    let walker = Walker::new([root.clone()], WalkLimits::default()).filter(|d| !d.is_attestation());
    let nodes = m.run(walker).unwrap();

    assert_eq!(digests(&nodes), [&amd.digest, &root.digest]);
}

#[test]
fn indexes_nested_deeper_than_the_limit_are_refused() {
    let mut m = Manifests::default();
    let mut root = image(&mut m, &[1], "linux/amd64");
    for _ in 0..3 {
        root = index(&mut m, &[root]);
    }
    let limits = WalkLimits {
        max_depth: 2,
        ..WalkLimits::default()
    };

    let err = m.run(Walker::new([root.clone()], limits)).unwrap_err();
    assert!(
        matches!(err, WalkError::TooDeep { limit: 2, .. }),
        "{err:?}"
    );

    let nodes = m
        .run(Walker::new([root.clone()], limits).lenient())
        .unwrap();
    let deepest = &nodes[0];
    assert_eq!((deepest.depth, deepest.read), (2, false), "kept as a leaf");
    assert_eq!(nodes.len(), 3);
}

#[test]
fn a_manifest_larger_than_the_limit_is_refused() {
    let mut m = Manifests::default();
    let root = image(&mut m, &[1, 2, 3], "linux/amd64");
    let limits = WalkLimits {
        max_manifest_size: 10,
        ..WalkLimits::default()
    };

    let err = m.run(Walker::new([root], limits)).unwrap_err();

    assert!(
        matches!(err, WalkError::TooLarge { limit: 10, .. }),
        "{err:?}"
    );
}

#[test]
fn leniently_a_missing_or_unreadable_manifest_is_a_leaf() {
    let mut m = Manifests::default();
    let amd = image(&mut m, &[1], "linux/amd64");
    let missing = Descriptor::new(OCI_MANIFEST, Digest::sha256_of(b"absent"), 5);
    let not_json = m.add(OCI_MANIFEST, serde_json::json!("a string"));
    let root = index(&mut m, &[amd.clone(), missing.clone(), not_json.clone()]);

    let nodes = m
        .run(Walker::new([root.clone()], WalkLimits::default()).lenient())
        .unwrap();

    assert_eq!(
        digests(&nodes),
        [&amd.digest, &missing.digest, &not_json.digest, &root.digest]
    );
    assert!(!nodes[1].read && !nodes[2].read);
}

#[test]
fn leniently_an_entry_with_only_a_digest_still_counts() {
    let mut m = Manifests::default();
    let layer = Digest::sha256_of(b"layer");
    let sum = Digest::sha256_of(b"v1 layer");
    let root = m.add(
        "",
        serde_json::json!({"layers": [{"digest": layer.to_string()}, {"no": "digest"}],
            "fsLayers": [{"blobSum": sum.to_string()}]}),
    );

    let strict = m.run(Walker::new([root.clone()], WalkLimits::default()));
    assert!(
        matches!(strict, Err(WalkError::Malformed { .. })),
        "{strict:?}"
    );

    let nodes = m
        .run(Walker::new([root], WalkLimits::default()).lenient())
        .unwrap();
    let children = &nodes[0].children;
    assert_eq!(children.layers.len(), 1);
    assert_eq!(children.layers[0].digest, layer);
    assert_eq!(children.fs_layers, [sum]);
}

#[test]
fn several_roots_share_what_they_both_name() {
    let mut m = Manifests::default();
    let amd = image(&mut m, &[1], "linux/amd64");
    let arm = image(&mut m, &[2], "linux/arm64");
    let first = index(&mut m, std::slice::from_ref(&amd));
    let second = index(&mut m, &[amd.clone(), arm.clone()]);

    let nodes = m
        .run(Walker::new(
            [first.clone(), second.clone()],
            WalkLimits::default(),
        ))
        .unwrap();

    assert_eq!(
        digests(&nodes),
        [&amd.digest, &first.digest, &arm.digest, &second.digest]
    );
}

#[test]
fn the_stored_media_type_comes_from_the_body_when_the_descriptor_has_none() {
    let mut m = Manifests::default();
    let amd = image(&mut m, &[1], "linux/amd64");
    let mut root = index(&mut m, &[amd]);
    root.media_type = String::new();

    let nodes = m.run(Walker::new([root], WalkLimits::default())).unwrap();

    assert_eq!(nodes[1].descriptor.media_type, OCI_INDEX);
    assert_eq!(nodes[0].descriptor.media_type, OCI_MANIFEST);
}

/// A referrer of `subject` with one layer `n`.
pub(crate) fn referrer(m: &mut Manifests, subject: &Descriptor, n: u8) -> Descriptor {
    let config = serde_json::json!({"mediaType": "application/vnd.oci.empty.v1+json",
        "digest": Digest::sha256_of(b"{}").to_string(), "size": 2});
    let subject = Descriptor::new(&subject.media_type, subject.digest.clone(), subject.size);
    m.add(
        OCI_MANIFEST,
        serde_json::json!({"schemaVersion": 2, "artifactType": "application/x-test",
            "config": config, "layers": [blob(n)], "subject": subject}),
    )
}

#[test]
fn referrers_are_walked_after_what_is_queued_and_once() {
    let mut m = Manifests::default();
    let amd = image(&mut m, &[1], "linux/amd64");
    let root = index(&mut m, std::slice::from_ref(&amd));
    let sbom = referrer(&mut m, &root, 7);
    let sig = referrer(&mut m, &sbom, 8);
    let mut walker = Walker::new([root.clone()], WalkLimits::default());
    while let Some(next) = walker.next_manifest() {
        let next = next.clone();
        walker.visit(m.0[&next.digest].clone()).unwrap();
        let found: Vec<Descriptor> = [(&root, &sbom), (&sbom, &sig), (&root, &sbom)]
            .iter()
            .filter(|(subject, _)| subject.digest == next.digest)
            .map(|(_, r)| (*r).clone())
            .collect();
        walker.add_referrers(&next.digest, found).unwrap();
    }
    let nodes = walker.finish();
    assert_eq!(
        digests(&nodes),
        [&amd.digest, &root.digest, &sbom.digest, &sig.digest]
    );
    assert_eq!(nodes[2].depth, 0, "a referrer is a root of its own");
}

#[test]
fn more_referrers_than_the_limit_stop_the_walk() {
    let mut m = Manifests::default();
    let root = image(&mut m, &[1], "linux/amd64");
    let many: Vec<Descriptor> = (0..3).map(|n| referrer(&mut m, &root, n)).collect();
    let mut walker = Walker::new([root.clone()], WalkLimits::default()).max_referrers(2);

    let err = walker.add_referrers(&root.digest, many).unwrap_err();

    assert!(
        matches!(err, WalkError::TooManyReferrers { limit: 2, .. }),
        "{err}"
    );
}

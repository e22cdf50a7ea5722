//! The descriptor walk: from a root descriptor to the ordered list of what a copy moves.
//!
//! DESIGN.md principle 1: an image is a graph of descriptors (index → manifests → config +
//! layers). [`plan`] reads every manifest of the graph from the source (verified by digest and
//! size), and returns
//! - the **blobs** (configs and layers), each once, in first-seen order;
//! - the **manifests** in post order, children before parents, the root last — so a sink that
//!   stores them in that order never holds a manifest naming something it lacks (what
//!   go-containerregistry's `remote.WriteIndex` does, and what registries that check
//!   references on `PUT` require).
//!
//! Manifests are read generically (only `manifests`, `config`, `layers` matter), so artifacts
//! whose config or layer types hoist does not pull are still copied byte for byte. Docker schema
//! 1 is refused ([`CopyError::Schema1`]). Non-distributable ("foreign") layers that carry
//! `urls` are not copied, as `docker push` and skopeo leave them: registries need not hold them.
//!
//! With a platform, a root index is replaced by its best matching manifest (docker's
//! `filterManifests` through [`PlatformMatcher`]), so the destination gets that one manifest
//! under the tag.

use std::collections::HashSet;

use bytes::Bytes;
use serde::Deserialize;

use super::source::ImageSource;
use super::CopyError;
use crate::digest::Digest;
use crate::media::{Descriptor, ManifestKind, Platform, PlatformMatcher};

/// Indexes nested deeper than this are refused (an index naming itself would loop).
pub const MAX_INDEX_DEPTH: usize = 4;

/// What one copy moves, in the order it must reach the sink.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The root: what the sink's tag will name (the chosen manifest with a platform).
    pub root: Descriptor,
    /// Every config and layer once, with whether it is a config (configs get no progress
    /// line, as in `docker push`).
    pub blobs: Vec<(Descriptor, bool)>,
    /// Manifests with their exact bytes, children first, the root last.
    pub manifests: Vec<(Descriptor, Bytes)>,
}

/// The parts of any manifest the walk needs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shape {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

/// Reads the graph under `root` from `source` (see the module docs).
pub async fn plan(
    source: &dyn ImageSource,
    root: &Descriptor,
    platform: Option<&Platform>,
) -> Result<Plan, CopyError> {
    let mut walk = Walk {
        source,
        blobs: Vec::new(),
        seen_blobs: HashSet::new(),
        manifests: Vec::new(),
        seen_manifests: HashSet::new(),
    };
    let mut root = root.clone();
    let mut bytes = walk.read(&root).await?;
    if let Some(platform) = platform {
        let mut depth = 0;
        loop {
            let shape = parse(&root.digest, &bytes)?;
            let Some(entries) = shape.manifests else {
                break;
            };
            depth += 1;
            if depth > MAX_INDEX_DEPTH {
                return Err(CopyError::TooDeep {
                    digest: root.digest.clone(),
                    limit: MAX_INDEX_DEPTH,
                });
            }
            let matcher = PlatformMatcher::new(platform);
            let chosen = matcher.select(&entries)?;
            let Some(first) = chosen.first() else {
                return Err(crate::media::NoMatchingManifest::new(platform, &entries).into());
            };
            root = (*first).clone();
            bytes = walk.read(&root).await?;
        }
    }
    root.media_type = media_type_of(&root, &parse(&root.digest, &bytes)?);
    walk.visit(root.clone(), bytes, 0).await?;
    Ok(Plan {
        root,
        blobs: walk.blobs,
        manifests: walk.manifests,
    })
}

struct Walk<'a> {
    source: &'a dyn ImageSource,
    blobs: Vec<(Descriptor, bool)>,
    seen_blobs: HashSet<Digest>,
    manifests: Vec<(Descriptor, Bytes)>,
    seen_manifests: HashSet<Digest>,
}

impl Walk<'_> {
    async fn read(&self, descriptor: &Descriptor) -> Result<Bytes, CopyError> {
        let bytes = self.source.manifest(descriptor).await?;
        check_manifest(self.source, descriptor, &bytes)?;
        Ok(bytes)
    }

    /// Post-order: the children of `descriptor` (already read as `bytes`), then itself.
    async fn visit(
        &mut self,
        mut descriptor: Descriptor,
        bytes: Bytes,
        depth: usize,
    ) -> Result<(), CopyError> {
        if !self.seen_manifests.insert(descriptor.digest.clone()) {
            return Ok(());
        }
        let shape = parse(&descriptor.digest, &bytes)?;
        descriptor.media_type = media_type_of(&descriptor, &shape);
        if let Some(children) = &shape.manifests {
            if depth >= MAX_INDEX_DEPTH {
                return Err(CopyError::TooDeep {
                    digest: descriptor.digest.clone(),
                    limit: MAX_INDEX_DEPTH,
                });
            }
            for child in children {
                let child_bytes = self.read(child).await?;
                Box::pin(self.visit(child.clone(), child_bytes, depth + 1)).await?;
            }
        }
        if let Some(config) = &shape.config {
            self.add_blob(config, true);
        }
        for layer in shape.layers.iter().flatten() {
            if is_foreign(layer) {
                continue;
            }
            self.add_blob(layer, false);
        }
        self.manifests.push((descriptor, bytes));
        Ok(())
    }

    fn add_blob(&mut self, descriptor: &Descriptor, config: bool) {
        if self.seen_blobs.insert(descriptor.digest.clone()) {
            self.blobs.push((descriptor.clone(), config));
        }
    }
}

/// A non-distributable layer with `urls`: left where it is.
fn is_foreign(layer: &Descriptor) -> bool {
    !layer.urls.is_empty() && layer.layer_media_type().is_some_and(|t| !t.distributable)
}

fn parse(digest: &Digest, bytes: &[u8]) -> Result<Shape, CopyError> {
    let shape: Shape = serde_json::from_slice(bytes).map_err(|e| CopyError::Manifest {
        digest: digest.clone(),
        source: Box::new(crate::media::ManifestError::Malformed {
            format: "manifest",
            source: e,
        }),
    })?;
    if shape.schema_version == Some(1) {
        return Err(CopyError::Schema1 {
            digest: digest.clone(),
        });
    }
    Ok(shape)
}

/// The media type to store the manifest with: its descriptor's, else the body's own, else
/// what its shape says (an index or an OCI manifest).
fn media_type_of(descriptor: &Descriptor, shape: &Shape) -> String {
    let declared = descriptor.media_type.trim();
    if ManifestKind::from_media_type(declared).is_some() {
        return declared.to_owned();
    }
    if let Some(own) = shape.media_type.as_deref().filter(|t| !t.is_empty()) {
        return own.to_owned();
    }
    if !declared.is_empty() {
        return declared.to_owned();
    }
    if shape.manifests.is_some() {
        crate::media::types::OCI_INDEX.to_owned()
    } else {
        crate::media::types::OCI_MANIFEST.to_owned()
    }
}

/// The manifest bytes hash to the descriptor's digest and have its size.
fn check_manifest(
    source: &dyn ImageSource,
    descriptor: &Descriptor,
    bytes: &[u8],
) -> Result<(), CopyError> {
    let actual = Digest::of(descriptor.digest.algorithm(), bytes);
    if actual != descriptor.digest {
        return Err(CopyError::DigestMismatch {
            location: source.location(),
            expected: descriptor.digest.clone(),
            actual,
        });
    }
    if descriptor.size != bytes.len() as u64 {
        return Err(CopyError::SizeMismatch {
            location: source.location(),
            digest: descriptor.digest.clone(),
            expected: descriptor.size,
            actual: bytes.len() as u64,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use futures_util::future::BoxFuture;

    use super::*;
    use crate::copy::source::BlobStream;

    /// Manifests held in memory, by digest.
    #[derive(Default)]
    struct Manifests(HashMap<Digest, Bytes>);

    impl Manifests {
        fn add(&mut self, media_type: &str, json: serde_json::Value) -> Descriptor {
            let bytes = Bytes::from(serde_json::to_vec(&json).unwrap());
            let digest = Digest::sha256_of(&bytes);
            let d = Descriptor::new(media_type, digest.clone(), bytes.len() as u64);
            self.0.insert(digest, bytes);
            d
        }
    }

    impl ImageSource for Manifests {
        fn location(&self) -> String {
            "memory".into()
        }
        fn resolve(&self) -> BoxFuture<'_, Result<Descriptor, CopyError>> {
            unimplemented!()
        }
        fn manifest<'a>(&'a self, d: &'a Descriptor) -> BoxFuture<'a, Result<Bytes, CopyError>> {
            let bytes = self.0.get(&d.digest).cloned().unwrap();
            Box::pin(async move { Ok(bytes) })
        }
        fn open_blob<'a>(
            &'a self,
            _: &'a Descriptor,
            _: u64,
        ) -> BoxFuture<'a, Result<BlobStream, CopyError>> {
            unimplemented!()
        }
    }

    fn blob(n: u8) -> serde_json::Value {
        let d = Digest::sha256_of(&[n]);
        serde_json::json!({"mediaType": crate::media::types::OCI_LAYER_GZIP, "digest": d.to_string(), "size": 1})
    }

    fn image(m: &mut Manifests, layers: &[u8], platform: &str) -> Descriptor {
        let config = serde_json::json!({"mediaType": crate::media::types::OCI_CONFIG, "digest": Digest::sha256_of(platform.as_bytes()).to_string(), "size": 1});
        let mut d = m.add(
            crate::media::types::OCI_MANIFEST,
            serde_json::json!({"schemaVersion": 2, "config": config,
                "layers": layers.iter().map(|n| blob(*n)).collect::<Vec<_>>()}),
        );
        d.platform = Some(Platform::parse(platform).unwrap());
        d
    }

    fn index(m: &mut Manifests, children: &[Descriptor]) -> Descriptor {
        m.add(
            crate::media::types::OCI_INDEX,
            serde_json::json!({"schemaVersion": 2, "manifests": children}),
        )
    }

    #[tokio::test]
    async fn children_come_before_their_index_and_shared_blobs_once() {
        let mut m = Manifests::default();
        let amd = image(&mut m, &[1, 2], "linux/amd64");
        let arm = image(&mut m, &[1, 3], "linux/arm64");
        let root = index(&mut m, &[amd.clone(), arm.clone()]);

        let plan = plan(&m, &root, None).await.unwrap();

        let order: Vec<&Digest> = plan.manifests.iter().map(|(d, _)| &d.digest).collect();
        assert_eq!(order, [&amd.digest, &arm.digest, &root.digest]);
        assert_eq!(plan.blobs.len(), 5, "two configs, three distinct layers");
        assert_eq!(plan.blobs.iter().filter(|(_, config)| *config).count(), 2);
    }

    #[tokio::test]
    async fn a_platform_makes_the_matching_manifest_the_root() {
        let mut m = Manifests::default();
        let amd = image(&mut m, &[1], "linux/amd64");
        let arm = image(&mut m, &[2], "linux/arm64");
        let root = index(&mut m, &[amd, arm.clone()]);

        let plan = plan(&m, &root, Some(&Platform::parse("linux/arm64").unwrap()))
            .await
            .unwrap();

        assert_eq!(plan.root.digest, arm.digest);
        assert_eq!(plan.manifests.len(), 1);
    }

    #[tokio::test]
    async fn schema1_is_refused() {
        let mut m = Manifests::default();
        let root = m.add("", serde_json::json!({"schemaVersion": 1, "fsLayers": []}));

        let err = plan(&m, &root, None).await.unwrap_err();

        assert!(matches!(err, CopyError::Schema1 { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_manifest_that_does_not_match_its_digest_is_refused() {
        let mut m = Manifests::default();
        let mut root = image(&mut m, &[1], "linux/amd64");
        let other = image(&mut m, &[2], "linux/amd64");
        let bytes = m.0[&other.digest].clone();
        m.0.insert(root.digest.clone(), bytes);
        root.size = m.0[&root.digest].len() as u64;

        let err = plan(&m, &root, None).await.unwrap_err();

        assert!(matches!(err, CopyError::DigestMismatch { .. }), "{err:?}");
    }
}

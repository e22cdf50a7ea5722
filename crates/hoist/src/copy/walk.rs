//! What a copy moves: [`plan`] walks the graph under a root descriptor from an
//! [`ImageSource`] with the one [`Walker`] (every manifest read from the source, verified by
//! digest and size before the walker sees it), and returns
//! - the **blobs** (configs and layers), each once, in first-seen order;
//! - the **manifests** in post order, children before parents, the root last — so a sink that
//!   stores them in that order never holds a manifest naming something it lacks (what
//!   go-containerregistry's `remote.WriteIndex` does, and what registries that check
//!   references on `PUT` require).
//!
//! Manifests are read generically ([`crate::media::Children`]: only `manifests`, `config`,
//! `layers` matter), so artifacts whose config or layer types hoist does not pull are still
//! copied byte for byte. Docker schema 1 is refused ([`CopyError::Schema1`]). Non-distributable
//! ("foreign") layers that carry `urls` are not copied, as `docker push` and skopeo leave
//! them: registries need not hold them.
//!
//! With a platform, the walker follows only each index's best match (docker's
//! `filterManifests` through [`crate::media::PlatformMatcher`]), and the chosen image manifest
//! becomes the root: the destination gets that one manifest under the tag, no index.

use std::collections::HashSet;

use bytes::Bytes;

use super::source::ImageSource;
use super::CopyError;
use crate::digest::Digest;
use crate::media::{Descriptor, ManifestError, Platform, WalkError, WalkLimits, Walker};

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

/// Reads the graph under `root` from `source` (see the module docs).
pub async fn plan(
    source: &dyn ImageSource,
    root: &Descriptor,
    platform: Option<&Platform>,
) -> Result<Plan, CopyError> {
    let mut walker = Walker::new([root.clone()], WalkLimits::default());
    if let Some(platform) = platform {
        walker = walker.platform(platform);
    }
    while let Some(next) = walker.next_manifest() {
        let next = next.clone();
        let bytes = source.manifest(&next).await?;
        check_manifest(source, &next, &bytes)?;
        let node = walker.visit(bytes).map_err(from_walk)?;
        if node.is_some_and(|node| node.children.is_schema1()) {
            return Err(CopyError::Schema1 {
                digest: next.digest,
            });
        }
    }
    let mut nodes = walker.finish();
    if platform.is_some() {
        // The indexes were only the way to the chosen manifest.
        nodes.retain(|node| !node.children.is_index());
    }
    let mut blobs = Vec::new();
    let mut seen = HashSet::new();
    for node in &nodes {
        let children = &node.children;
        let config = children.config.iter().map(|c| (c, true));
        let layers = children.layers.iter().filter(|l| !is_foreign(l));
        for (blob, is_config) in config.chain(layers.map(|l| (l, false))) {
            if seen.insert(blob.digest.clone()) {
                blobs.push((blob.clone(), is_config));
            }
        }
    }
    let manifests: Vec<(Descriptor, Bytes)> = nodes
        .into_iter()
        .map(|node| (node.descriptor, node.bytes))
        .collect();
    let Some((root, _)) = manifests.last() else {
        return Err(CopyError::interrupted(format!(
            "the walk from {} visited nothing",
            root.digest
        )));
    };
    Ok(Plan {
        root: root.clone(),
        blobs,
        manifests,
    })
}

/// A walk's refusal as copy words it.
fn from_walk(error: WalkError) -> CopyError {
    match error {
        WalkError::Malformed { digest, source } => CopyError::Manifest {
            digest,
            source: Box::new(ManifestError::Malformed {
                format: "manifest",
                source,
            }),
        },
        WalkError::NoMatchingManifest(e) => CopyError::NoMatchingManifest(e),
        other => CopyError::Walk(Box::new(other)),
    }
}

/// A non-distributable layer with `urls`: left where it is.
fn is_foreign(layer: &Descriptor) -> bool {
    !layer.urls.is_empty() && layer.layer_media_type().is_some_and(|t| !t.distributable)
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
    use futures_util::future::BoxFuture;

    use super::*;
    use crate::copy::source::BlobStream;
    use crate::media::walk::tests::{image, index, Manifests};

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

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
//!
//! With referrers (OCI 1.1; `hoist copy` unless `--no-referrers`, as `oras copy -r`), each
//! manifest read is one more question to the source ([`ImageSource::referrers`]), whose answer
//! the same walker queues as more roots ([`Walker::add_referrers`], at most
//! [`crate::media::MAX_REFERRERS`] in one copy) — so referrers of referrers and every
//! platform's referrers come along, and never a second walk. When the walk follows all of an
//! index's entries, their lists are read ahead ([`read_ahead`]) once the
//! index's own is in (a registry without the referrers API has then said so, and each entry
//! costs one round trip, all at once), and so are the referrers they list, manifests and
//! lists, a level at a time (`lists_ahead`). They are returned apart
//! ([`Plan::referrers`]), each after its subject, for the sink's
//! [`ImageSink::put_referrer`](super::ImageSink::put_referrer). A listed referrer that is gone
//! (a stale fallback tag) or whose `subject` is another manifest is left out. Their blobs are
//! copied as they are, whatever their media types (an artifact's files are no image layers).

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use futures_util::future::join;
use futures_util::StreamExt;

use super::source::ImageSource;
use super::CopyError;
use crate::digest::Digest;
use crate::media::{Descriptor, ManifestError, Node, Platform, WalkError, WalkLimits, Walker};
use crate::registry::read_ahead;

/// What one copy moves, in the order it must reach the sink.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The root: what the sink's tag will name (the chosen manifest with a platform).
    pub root: Descriptor,
    /// Every config and layer once, with whether it is no image layer (a config, or a
    /// referrer's blob): those get no progress line (as configs in `docker push`), are never
    /// compressed on the way and are stored as they are.
    pub blobs: Vec<(Descriptor, bool)>,
    /// Manifests with their exact bytes, children first, the root last.
    pub manifests: Vec<(Descriptor, Bytes)>,
    /// The image manifests among them (not the indexes): what a trust policy judges, as
    /// containers/image judges each single image it copies (`copySingleImage`), never a list.
    pub images: Vec<Digest>,
    /// The referrers found, each after its subject (referrers of referrers after those).
    pub referrers: Vec<PlannedReferrer>,
}

/// A referrer (OCI 1.1) a copy carries: the manifest naming `subject`, after the manifests
/// it names itself (a referrer may be an index).
#[derive(Debug, Clone)]
pub struct PlannedReferrer {
    /// The manifest it refers to.
    pub subject: Descriptor,
    /// Its child manifests, children first, then the referrer itself, with their bytes.
    pub manifests: Vec<(Descriptor, Bytes)>,
}

/// Reads the graph under `root` from `source` (see the module docs); with `referrers`, the
/// referrers of every manifest read too.
pub async fn plan(
    source: &dyn ImageSource,
    root: &Descriptor,
    platform: Option<&Platform>,
    referrers: bool,
) -> Result<Plan, CopyError> {
    let mut walker = Walker::new([root.clone()], WalkLimits::default());
    if let Some(platform) = platform {
        walker = walker.platform(platform);
    }
    // Referrer ⇒ the subject it was listed for.
    let mut listed: HashMap<Digest, Digest> = HashMap::new();
    // Subject ⇒ its referrers, read ahead of the walk's visit.
    let mut ahead: HashMap<Digest, Vec<Descriptor>> = HashMap::new();
    while let Some(next) = walker.next_manifest() {
        let next = next.clone();
        let bytes = match source.manifest(&next).await {
            Ok(bytes) => bytes,
            Err(e) if listed.contains_key(&next.digest) && is_gone(&e) => {
                // A fallback tag may still list a referrer deleted since.
                tracing::debug!(referrer = %next.digest, error = %e, "listed referrer is gone");
                walker.skip();
                continue;
            }
            Err(e) => return Err(e),
        };
        check_manifest(source, &next, &bytes)?;
        let Some(node) = walker.visit(bytes).map_err(from_walk)? else {
            continue;
        };
        if node.children.is_schema1() {
            return Err(CopyError::Schema1 {
                digest: next.digest,
            });
        }
        // Without a platform the walk visits every entry: read them ahead, all at once, and
        // with referrers their lists and the index's own.
        if let (Some(entries), None) = (&node.children.manifests, platform) {
            let manifests = source.prefetch_manifests(entries);
            if referrers {
                let found = lists_ahead(source, &node.descriptor, entries);
                let (read, found) = join(manifests, found).await;
                read?;
                ahead.extend(found);
            } else {
                manifests.await?;
            }
        }
        // With a platform the indexes are only the way to the chosen manifest: not copied,
        // so neither are their referrers.
        if referrers && !(platform.is_some() && node.children.is_index()) {
            let subject = node.descriptor.clone();
            let found = match ahead.remove(&subject.digest) {
                Some(found) => found,
                None => source.referrers(&subject, None).await?,
            };
            for referrer in &found {
                listed.insert(referrer.digest.clone(), subject.digest.clone());
            }
            walker
                .add_referrers(&subject.digest, found)
                .map_err(from_walk)?;
        }
    }
    let mut nodes = walker.finish();
    // Post order: the root's graph ends with the root, the first node at depth 0; what
    // follows are the referrers' graphs.
    let image_len = nodes
        .iter()
        .position(|node| node.depth == 0)
        .map_or(nodes.len(), |i| i + 1);
    let extra = nodes.split_off(image_len);
    if platform.is_some() {
        // The indexes were only the way to the chosen manifest.
        nodes.retain(|node| !node.children.is_index());
    }
    let planned = group_referrers(extra, &listed);
    let mut blobs = Vec::new();
    let mut seen = HashSet::new();
    let image_blobs = nodes.iter().map(|node| (node, false));
    let referrer_nodes = planned.iter().flat_map(|(_, group)| group.iter());
    for (node, as_is) in image_blobs.chain(referrer_nodes.map(|node| (node, true))) {
        let children = &node.children;
        let config = children.config.iter().map(|c| (c, true));
        let layers = children.layers.iter().filter(|l| !is_foreign(l));
        for (blob, not_layer) in config.chain(layers.map(|l| (l, as_is))) {
            if seen.insert(blob.digest.clone()) {
                blobs.push((blob.clone(), not_layer));
            }
        }
    }
    let images = nodes
        .iter()
        .filter(|node| !node.children.is_index())
        .map(|node| node.descriptor.digest.clone())
        .collect();
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
    let referrers = planned
        .into_iter()
        .map(|(subject, group)| PlannedReferrer {
            subject,
            manifests: group
                .into_iter()
                .map(|node| (node.descriptor, node.bytes))
                .collect(),
        })
        .collect();
    Ok(Plan {
        root: root.clone(),
        blobs,
        manifests,
        images,
        referrers,
    })
}

/// How many of an index's entries' referrer lists [`plan`] reads ahead at most (the rest are
/// read as the walk visits them).
const REFERRERS_AHEAD_ENTRIES: usize = 64;

/// How many levels of referrers (of an index and its entries, then of those referrers, …)
/// [`lists_ahead`] reads ahead.
const REFERRER_LEVELS_AHEAD: usize = 3;

/// The referrer lists a walk following all of `index`'s `entries` will ask for, read ahead:
/// the index's own first (a registry without the referrers API says so once, and every
/// other list is then read from its tag at once), then the entries', then level by level
/// the referrers listed: their manifests (read ahead by the source) and their own lists.
async fn lists_ahead(
    source: &dyn ImageSource,
    index: &Descriptor,
    entries: &[Descriptor],
) -> HashMap<Digest, Vec<Descriptor>> {
    let mut found = referrers_ahead(source, vec![index.clone()]).await;
    found.extend(referrers_ahead(source, entries.to_vec()).await);
    let mut level: Vec<Descriptor> = found.values().flatten().cloned().collect();
    for _ in 0..REFERRER_LEVELS_AHEAD {
        level.retain(|d| !found.contains_key(&d.digest));
        level.sort_by(|a, b| a.digest.cmp(&b.digest));
        level.dedup_by(|a, b| a.digest == b.digest);
        if level.is_empty() {
            break;
        }
        let manifests = source.prefetch_manifests(&level);
        let (read, lists) = join(manifests, referrers_ahead(source, level.clone())).await;
        if let Err(e) = read {
            tracing::debug!(error = %e, "reading referrer manifests ahead failed");
        }
        level = lists.values().flatten().cloned().collect();
        found.extend(lists);
    }
    found
}

/// The referrers of `subjects` (an index's entries), read ahead ([`read_ahead::in_order`])
/// instead of one round trip per manifest as the walk visits them. A list that could not be
/// read is left out: the walk asks again and reports the error in its place.
async fn referrers_ahead(
    source: &dyn ImageSource,
    mut subjects: Vec<Descriptor>,
) -> HashMap<Digest, Vec<Descriptor>> {
    subjects.truncate(REFERRERS_AHEAD_ENTRIES);
    let lists: Vec<_> = subjects.iter().map(|s| source.referrers(s, None)).collect();
    let lists: Vec<_> = read_ahead::in_order(lists).collect().await;
    let mut found = HashMap::new();
    for (subject, list) in subjects.into_iter().zip(lists) {
        match list {
            Ok(list) => {
                found.insert(subject.digest, list);
            }
            Err(e) => {
                tracing::debug!(subject = %subject.digest, error = %e, "reading referrers ahead failed; the walk reads them again");
            }
        }
    }
    found
}

/// The referrers' nodes (post order: each referrer after its children) grouped per referrer,
/// with the subject each names. A referrer that could not be read, or whose `subject` is not
/// the manifest it was listed for (a stale or lying list), is left out with its children.
fn group_referrers(
    extra: Vec<Node>,
    listed: &HashMap<Digest, Digest>,
) -> Vec<(Descriptor, Vec<Node>)> {
    let mut groups = Vec::new();
    let mut group = Vec::new();
    for node in extra {
        let is_referrer = node.depth == 0;
        let read = node.read;
        group.push(node);
        if !is_referrer {
            continue;
        }
        let members = std::mem::take(&mut group);
        let Some(referrer) = members.last() else {
            continue;
        };
        let subject = referrer.children.subject.clone();
        let expected = listed.get(&referrer.descriptor.digest);
        match subject {
            Some(subject) if read && Some(&subject.digest) == expected => {
                groups.push((subject, members))
            }
            _ => tracing::debug!(
                referrer = %referrer.descriptor.digest,
                "listed as a referrer but not one of its subject: left out"
            ),
        }
    }
    groups
}

/// Whether a source's failure says the manifest is not there.
fn is_gone(error: &CopyError) -> bool {
    match error {
        CopyError::NotFound { .. } => true,
        CopyError::Registry { source, .. } => source.is_not_found(),
        CopyError::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
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
    use crate::media::walk::tests::{image, index, referrer, Manifests};

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
        fn prefetch_manifests<'a>(
            &'a self,
            manifests: &'a [Descriptor],
        ) -> BoxFuture<'a, Result<(), CopyError>> {
            let digests = manifests.iter().map(|d| d.digest.clone()).collect();
            self.1.lock().unwrap().push(digests);
            Box::pin(async { Ok(()) })
        }
        fn open_blob<'a>(
            &'a self,
            _: &'a Descriptor,
            _: u64,
        ) -> BoxFuture<'a, Result<BlobStream, CopyError>> {
            unimplemented!()
        }
        fn referrers<'a>(
            &'a self,
            subject: &'a Descriptor,
            _: Option<&'a str>,
        ) -> BoxFuture<'a, Result<Vec<Descriptor>, CopyError>> {
            let found = self
                .0
                .iter()
                .filter_map(|(digest, bytes)| {
                    let d = Descriptor::new("", digest.clone(), bytes.len() as u64);
                    crate::media::Referrer::of(&d, bytes)
                })
                .filter(|r| r.subject.digest == subject.digest)
                .map(|r| r.descriptor)
                .collect();
            Box::pin(async move { Ok(found) })
        }
    }

    #[tokio::test]
    async fn referrers_of_every_platform_and_of_referrers_come_after_the_image() {
        let mut m = Manifests::default();
        let amd = image(&mut m, &[1], "linux/amd64");
        let arm = image(&mut m, &[2], "linux/arm64");
        let root = index(&mut m, &[amd.clone(), arm.clone()]);
        let sbom = referrer(&mut m, &root, 7);
        let sig = referrer(&mut m, &sbom, 8);
        let on_arm = referrer(&mut m, &arm, 9);

        let without = plan(&m, &root, None, false).await.unwrap();
        let with = plan(&m, &root, None, true).await.unwrap();

        assert!(without.referrers.is_empty());
        assert_eq!(with.root.digest, root.digest);
        assert_eq!(with.manifests.len(), 3);
        let carried: Vec<(&Digest, &Digest)> = with
            .referrers
            .iter()
            .map(|r| (&r.subject.digest, &r.manifests[0].0.digest))
            .collect();
        assert_eq!(
            carried,
            [
                (&root.digest, &sbom.digest),
                (&arm.digest, &on_arm.digest),
                (&sbom.digest, &sig.digest)
            ]
        );
        let as_is: Vec<bool> = with.blobs.iter().map(|(_, as_is)| *as_is).collect();
        assert_eq!(
            with.blobs.len(),
            without.blobs.len() + 4,
            "3 layers + the empty config"
        );
        assert!(as_is[without.blobs.len()..].iter().all(|b| *b));
    }

    #[tokio::test]
    async fn an_index_s_entries_are_read_ahead_unless_a_platform_picks_one() {
        let mut m = Manifests::default();
        let amd = image(&mut m, &[1], "linux/amd64");
        let arm = image(&mut m, &[2], "linux/arm64");
        let root = index(&mut m, &[amd.clone(), arm.clone()]);

        plan(&m, &root, None, false).await.unwrap();
        let arm64 = Platform::parse("linux/arm64").unwrap();
        let one = plan(&m, &root, Some(&arm64), false).await.unwrap();

        let asked = m.1.lock().unwrap();
        assert_eq!(
            *asked,
            [vec![amd.digest, arm.digest.clone()]],
            "once, by the walk of all"
        );
        assert_eq!(one.root.digest, arm.digest);
    }

    #[tokio::test]
    async fn children_come_before_their_index_and_shared_blobs_once() {
        let mut m = Manifests::default();
        let amd = image(&mut m, &[1, 2], "linux/amd64");
        let arm = image(&mut m, &[1, 3], "linux/arm64");
        let root = index(&mut m, &[amd.clone(), arm.clone()]);

        let plan = plan(&m, &root, None, false).await.unwrap();

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

        let plan = plan(
            &m,
            &root,
            Some(&Platform::parse("linux/arm64").unwrap()),
            false,
        )
        .await
        .unwrap();

        assert_eq!(plan.root.digest, arm.digest);
        assert_eq!(plan.manifests.len(), 1);
    }

    #[tokio::test]
    async fn schema1_is_refused() {
        let mut m = Manifests::default();
        let root = m.add("", serde_json::json!({"schemaVersion": 1, "fsLayers": []}));

        let err = plan(&m, &root, None, false).await.unwrap_err();

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

        let err = plan(&m, &root, None, false).await.unwrap_err();

        assert!(matches!(err, CopyError::DigestMismatch { .. }), "{err:?}");
    }
}

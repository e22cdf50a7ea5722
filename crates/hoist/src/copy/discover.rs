//! [`discover`]: the referrers (OCI 1.1) of a manifest, and theirs in turn, as a tree — what
//! `hoist discover` prints (oras's `discover`).
//!
//! Only referrers are followed, never a manifest's children: like oras, the referrers of an
//! index's platform manifests are not those of the index. A level's lists are read 8 at a
//! time (each is a round trip or two to a registry). Each list comes from
//! [`ImageSource::referrers`] (a registry's referrers API or fallback tag, a layout's untagged
//! `index.json` entries), filtered by `artifactType` at every level when asked. Bounded:
//! [`MAX_DISCOVER_DEPTH`] levels and [`MAX_REFERRERS`] referrers in the whole tree (then
//! [`WalkError::TooManyReferrers`]); a referrer met twice (a list naming its own subject) is
//! shown once.

use std::collections::HashSet;

use futures_util::StreamExt;

use super::source::ImageSource;
use super::CopyError;
use crate::digest::Digest;
use crate::media::{Descriptor, WalkError, MAX_REFERRERS};
use crate::registry::read_ahead;

/// How many levels of referrers of referrers [`discover`] follows.
pub const MAX_DISCOVER_DEPTH: usize = 8;

/// One referrer and its own referrers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The referrer as its subject's list describes it.
    pub descriptor: Descriptor,
    /// Its referrers.
    pub referrers: Vec<Discovered>,
}

/// The referrers of `subject` in `source`, recursively (see the module docs).
pub async fn discover(
    source: &dyn ImageSource,
    subject: &Descriptor,
    artifact_type: Option<&str>,
) -> Result<Vec<Discovered>, CopyError> {
    let mut seen = HashSet::from([subject.digest.clone()]);
    let mut levels: Vec<Vec<(Descriptor, Option<usize>)>> = Vec::new();
    // Breadth first: level n holds the referrers of level n-1's entries (by index).
    let mut frontier: Vec<(Descriptor, Option<usize>)> = vec![(subject.clone(), None)];
    let mut count = 0;
    for _ in 0..MAX_DISCOVER_DEPTH {
        let mut next = Vec::new();
        {
            // A level's lists read ahead, taken in order (the stream borrows `frontier`).
            let lists: Vec<_> = frontier
                .iter()
                .map(|(descriptor, _)| source.referrers(descriptor, artifact_type))
                .collect();
            let mut lists = std::pin::pin!(read_ahead::in_order(lists).enumerate());
            while let Some((parent, list)) = lists.next().await {
                for found in list? {
                    if !seen.insert(found.digest.clone()) {
                        continue;
                    }
                    count += 1;
                    if count > MAX_REFERRERS {
                        return Err(too_many(&subject.digest));
                    }
                    next.push((found, Some(parent)));
                }
            }
        }
        if next.is_empty() {
            break;
        }
        levels.push(next.clone());
        frontier = next;
    }
    Ok(assemble(levels))
}

fn too_many(subject: &Digest) -> CopyError {
    CopyError::Walk(Box::new(WalkError::TooManyReferrers {
        subject: subject.clone(),
        limit: MAX_REFERRERS,
    }))
}

/// The tree from its levels: each entry hangs under its parent of the level above (the root's
/// level is the subject, parent `None`).
fn assemble(levels: Vec<Vec<(Descriptor, Option<usize>)>>) -> Vec<Discovered> {
    let mut below: Vec<Discovered> = Vec::new();
    let mut below_parents: Vec<Option<usize>> = Vec::new();
    for level in levels.into_iter().rev() {
        let mut built: Vec<Discovered> = level
            .iter()
            .map(|(descriptor, _)| Discovered {
                descriptor: descriptor.clone(),
                referrers: Vec::new(),
            })
            .collect();
        for (child, parent) in below.into_iter().zip(below_parents) {
            if let Some(node) = parent.and_then(|p| built.get_mut(p)) {
                node.referrers.push(child);
            }
        }
        below_parents = level.iter().map(|(_, parent)| *parent).collect();
        below = std::mem::take(&mut built);
    }
    below
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(name: &str) -> Descriptor {
        Descriptor::new("", Digest::sha256_of(name.as_bytes()), 1)
    }

    #[test]
    fn levels_assemble_into_a_tree() {
        let levels = vec![
            vec![(d("a"), Some(0)), (d("b"), Some(0))],
            vec![(d("b1"), Some(1)), (d("a1"), Some(0)), (d("b2"), Some(1))],
        ];
        let tree = assemble(levels);
        assert_eq!(tree.len(), 2);
        assert_eq!(tree[0].descriptor, d("a"));
        assert_eq!(tree[0].referrers.len(), 1);
        assert_eq!(tree[0].referrers[0].descriptor, d("a1"));
        let b: Vec<_> = tree[1].referrers.iter().map(|r| &r.descriptor).collect();
        assert_eq!(b, [&d("b1"), &d("b2")]);
    }
}

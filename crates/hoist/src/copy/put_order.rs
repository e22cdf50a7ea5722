//! The order a copy stores its manifests in: [`waves`]. The one rule is children before the
//! manifests naming them (a sink that stores them so never holds a manifest naming something
//! it lacks; registries that check references on `PUT` require it). A post order keeps it
//! one `PUT` at a time; waves keep it with every manifest whose children are all stored sent
//! at once — an index's platform manifests together, then the index — one round trip for the
//! platforms instead of one each (go-containerregistry's `remote.MultiWrite` does the same).
//! [`referrer_waves`] does the same for the referrers a copy carries into a registry.

use std::collections::HashMap;

use bytes::Bytes;

use super::walk::PlannedReferrer;
use crate::digest::Digest;
use crate::media::{Children, Descriptor};

/// `manifests` (children before parents, the root last, as [`super::walk::Plan::manifests`])
/// as waves of indexes into it: a manifest's children are all in earlier waves, and the root
/// is alone in the last one. A manifest whose bytes cannot be read as one (the walk read
/// them, so this does not happen) comes after everything before it.
pub fn waves(manifests: &[(Descriptor, Bytes)]) -> Vec<Vec<usize>> {
    let Some(root) = manifests.len().checked_sub(1) else {
        return Vec::new();
    };
    let mut levels: Vec<usize> = Vec::with_capacity(manifests.len());
    // The level of each manifest seen so far, by digest.
    let mut seen: HashMap<&Digest, usize> = HashMap::new();
    for (descriptor, bytes) in &manifests[..root] {
        let level = match Children::parse(bytes) {
            Ok(children) => children
                .manifests
                .iter()
                .flatten()
                .filter_map(|child| seen.get(&child.digest).map(|l| l + 1))
                .max()
                .unwrap_or(0),
            Err(_) => levels.iter().max().map_or(0, |l| l + 1),
        };
        seen.insert(&descriptor.digest, level);
        levels.push(level);
    }
    let last = levels.iter().max().map_or(0, |l| l + 1);
    levels.push(last);
    let mut waves = vec![Vec::new(); last + 1];
    for (i, level) in levels.into_iter().enumerate() {
        waves[level].push(i);
    }
    waves.retain(|wave| !wave.is_empty());
    waves
}

/// The referrers of a copy (`referrers`: each after its subject, as
/// [`super::walk::Plan::referrers`]) as waves of indexes into it, for a sink that stores
/// referrers of different subjects at once: a referrer comes after the referrer it refers
/// to, and after every earlier referrer of the same subject (a registry without the
/// referrers API keeps a subject's list in one tag, read, changed and put back).
pub fn referrer_waves(referrers: &[&PlannedReferrer]) -> Vec<Vec<usize>> {
    // The wave of each referrer put so far, and the first wave free for each subject.
    let mut wave_of: HashMap<&Digest, usize> = HashMap::new();
    let mut free: HashMap<&Digest, usize> = HashMap::new();
    let mut waves: Vec<Vec<usize>> = Vec::new();
    for (i, referrer) in referrers.iter().enumerate() {
        let subject = &referrer.subject.digest;
        let after_subject = wave_of.get(subject).map_or(0, |w| w + 1);
        let wave = after_subject.max(free.get(subject).copied().unwrap_or(0));
        free.insert(subject, wave + 1);
        if let Some((descriptor, _)) = referrer.manifests.last() {
            wave_of.insert(&descriptor.digest, wave);
        }
        if waves.len() <= wave {
            waves.resize(wave + 1, Vec::new());
        }
        waves[wave].push(i);
    }
    waves
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::types::{OCI_INDEX, OCI_MANIFEST};

    fn manifest(name: &str) -> (Descriptor, Bytes) {
        let bytes = Bytes::from(format!(r#"{{"schemaVersion":2,"layers":[],"x":"{name}"}}"#));
        (
            Descriptor::new(OCI_MANIFEST, Digest::sha256_of(&bytes), 1),
            bytes,
        )
    }

    fn index(entries: &[&(Descriptor, Bytes)]) -> (Descriptor, Bytes) {
        let entries: Vec<_> = entries.iter().map(|(d, _)| d).collect();
        let json = serde_json::json!({"schemaVersion": 2, "manifests": entries});
        let bytes = Bytes::from(json.to_string());
        (
            Descriptor::new(OCI_INDEX, Digest::sha256_of(&bytes), 1),
            bytes,
        )
    }

    #[test]
    fn an_index_s_platforms_go_together_then_the_index() {
        let (a, b, c) = (manifest("a"), manifest("b"), manifest("c"));
        let root = index(&[&a, &b, &c]);
        assert_eq!(waves(&[a, b, c, root]), vec![vec![0, 1, 2], vec![3]]);
    }

    #[test]
    fn a_nested_index_waits_for_its_children_and_the_root_for_everything() {
        let (a, b, c) = (manifest("a"), manifest("b"), manifest("c"));
        let inner = index(&[&a, &b]);
        let root = index(&[&inner, &c]);
        // c names nothing: it goes with a and b; the inner index after them; the root last.
        assert_eq!(
            waves(&[a, b, inner, c, root]),
            vec![vec![0, 1, 3], vec![2], vec![4]]
        );
    }

    #[test]
    fn one_manifest_is_one_wave_and_none_is_none() {
        assert_eq!(waves(&[manifest("a")]), vec![vec![0]]);
        assert!(waves(&[]).is_empty());
    }

    #[test]
    fn the_root_is_alone_even_when_it_names_nothing_stored_here() {
        // With a platform the root is the chosen manifest; other manifests never share its wave.
        let (a, b) = (manifest("a"), manifest("b"));
        assert_eq!(waves(&[a, b]), vec![vec![0], vec![1]]);
    }

    fn planned(subject: &(Descriptor, Bytes), name: &str) -> PlannedReferrer {
        PlannedReferrer {
            subject: subject.0.clone(),
            manifests: vec![manifest(name)],
        }
    }

    #[test]
    fn referrers_of_different_subjects_go_together_those_of_one_subject_in_turn() {
        let (a, b) = (manifest("a"), manifest("b"));
        let (sbom_a, sbom_b, sig_a) = (
            planned(&a, "sbom a"),
            planned(&b, "sbom b"),
            planned(&a, "sig a"),
        );
        // A signature of the SBOM of a: after it.
        let on_sbom = planned(&sbom_a.manifests[0], "sig of sbom a");
        let all = [&sbom_a, &sbom_b, &sig_a, &on_sbom];
        assert_eq!(referrer_waves(&all), vec![vec![0, 1], vec![2, 3]]);
        assert!(referrer_waves(&[]).is_empty());
    }

    #[test]
    fn unreadable_bytes_come_after_everything_before_them() {
        let (a, b) = (manifest("a"), manifest("b"));
        let odd = manifest("odd");
        let odd = (odd.0, Bytes::from_static(b"not json"));
        let root = manifest("root");
        assert_eq!(
            waves(&[a, odd, b, root]),
            vec![vec![0, 2], vec![1], vec![3]]
        );
    }
}

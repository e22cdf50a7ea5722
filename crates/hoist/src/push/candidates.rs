//! Which recorded blob sources a layer push tries, in which order, and how many.
//!
//! Corresponds to docker 20.10 `distribution/push_v2.go`: `getMaxMountAndExistenceCheckAttempts`
//! ([`Budget::for_size`]), `getRepositoryMountCandidates` ([`mount_candidates`]),
//! `sortV2MetadataByLikenessAndAge` / `byLikeness` ([`rank`]) and the candidate filter of
//! `layerAlreadyExists`.
//!
//! Ranking: a source recorded with the push's own credentials (its HMAC verifies) comes
//! before one that was not; then the one whose repository shares more leading path components
//! with the target (`docker.io/team/a` before `docker.io/other/a` for `docker.io/team/b`); then
//! the most recently recorded. The sources arrive most recent first from the metadata store,
//! so a stable sort keeps age as the last criterion, as docker's reversal + `sort.Stable`.
//!
//! Deviation from docker: only sources whose digest is the layer's own blob digest are
//! considered. docker rebuilds the manifest from whatever digest it finds or mounts; hoist
//! pushes the stored manifest bytes unchanged, so only that exact blob can satisfy them.

use super::hmac::{matches, HmacKey};
use crate::reference::Repository;
use crate::store::metadata::BlobSource;

/// docker's `smallLayerMaximumSize`: 100 KiB.
pub const SMALL_LAYER_MAX: u64 = 100 << 10;
/// docker's `middleLayerMaximumSize`: 10 MiB.
pub const MIDDLE_LAYER_MAX: u64 = 10 << 20;

/// How many mounts and existence checks a layer is worth before it is simply uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Cross-repository mount attempts.
    pub mounts: usize,
    /// Existence checks (HEAD) in the target repository, in all.
    pub existence_checks: usize,
    /// Whether an existence check may use a digest known only from other repositories.
    pub check_other_repositories: bool,
}

impl Budget {
    /// docker's `getMaxMountAndExistenceCheckAttempts`: big layers (> 10 MiB) 4 mounts and 3
    /// checks including digests seen elsewhere; middle ones (> 100 KiB) 3 mounts, 1 check;
    /// small ones 1 and 1.
    pub fn for_size(size: u64) -> Budget {
        let (mounts, existence_checks, check_other_repositories) = if size > MIDDLE_LAYER_MAX {
            (4, 3, true)
        } else if size > SMALL_LAYER_MAX {
            (3, 1, false)
        } else {
            (1, 1, false)
        };
        Budget {
            mounts,
            existence_checks,
            check_other_repositories,
        }
    }
}

/// Orders `sources` (most recent first) by likeness to `target`; see the module docs.
pub fn rank(target: &Repository, key: Option<&HmacKey>, sources: &mut [BlobSource]) {
    let wanted: Vec<&str> = target.as_str().split('/').collect();
    sources.sort_by_cached_key(|s| {
        let same_credentials = matches(s, key);
        let shared = matching_components(s.repository.as_str(), &wanted);
        (
            std::cmp::Reverse(same_credentials),
            std::cmp::Reverse(shared),
        )
    });
}

/// The number of leading path components of `path` equal to `wanted`'s (docker's
/// `numOfMatchingPathComponents`).
fn matching_components(path: &str, wanted: &[&str]) -> usize {
    path.split('/')
        .zip(wanted)
        .take_while(|(a, b)| a == *b)
        .count()
}

/// The sources to try mounting from: same registry, not the target itself, ranked, at most
/// `max` (docker's `getRepositoryMountCandidates`).
pub fn mount_candidates(
    target: &Repository,
    key: Option<&HmacKey>,
    max: usize,
    sources: &[BlobSource],
) -> Vec<BlobSource> {
    let mut candidates: Vec<BlobSource> = sources
        .iter()
        .filter(|s| s.repository.domain() == target.domain() && s.repository != *target)
        .cloned()
        .collect();
    rank(target, key, &mut candidates);
    candidates.truncate(max);
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Credentials;
    use crate::digest::Digest;

    fn repo(name: &str) -> Repository {
        Repository::parse(name).unwrap()
    }

    fn src(name: &str, hmac: Option<String>) -> BlobSource {
        BlobSource {
            digest: Digest::sha256_of(b"layer"),
            repository: repo(name),
            hmac,
        }
    }

    fn names(v: &[BlobSource]) -> Vec<&str> {
        v.iter().map(|s| s.repository.as_str()).collect()
    }

    #[test]
    fn budget_follows_dockers_size_classes() {
        assert_eq!(Budget::for_size(1).mounts, 1);
        assert_eq!(Budget::for_size(SMALL_LAYER_MAX + 1).mounts, 3);
        let big = Budget::for_size(MIDDLE_LAYER_MAX + 1);
        assert_eq!((big.mounts, big.existence_checks), (4, 3));
        assert!(big.check_other_repositories);
        assert!(!Budget::for_size(MIDDLE_LAYER_MAX).check_other_repositories);
    }

    #[test]
    fn mount_candidates_exclude_other_registries_and_the_target() {
        let target = repo("r:5000/team/app");
        let sources = [
            src("r:5000/team/app", None),
            src("other:5000/team/app", None),
            src("r:5000/base", None),
        ];
        let c = mount_candidates(&target, None, 10, &sources);
        assert_eq!(names(&c), ["r:5000/base"]);
    }

    #[test]
    fn path_similarity_beats_recency() {
        let target = repo("r:5000/team/app");
        // Most recent first, as the metadata store returns them.
        let sources = [
            src("r:5000/other/x", None),
            src("r:5000/team/lib", None),
            src("r:5000/team/tool", None),
        ];
        let c = mount_candidates(&target, None, 10, &sources);
        assert_eq!(
            names(&c),
            ["r:5000/team/lib", "r:5000/team/tool", "r:5000/other/x"]
        );
    }

    #[test]
    fn same_credentials_beat_path_similarity_and_the_budget_cuts() {
        let key = HmacKey::for_credentials(Some(&Credentials::Basic {
            username: "u".into(),
            password: "p".into(),
        }));
        let target = repo("r:5000/team/app");
        let mut signed = src("r:5000/far/away", None);
        signed.hmac = key
            .as_ref()
            .unwrap()
            .sign(&signed.digest, &signed.repository);
        let sources = [src("r:5000/team/lib", None), signed];
        let c = mount_candidates(&target, key.as_ref(), 1, &sources);
        assert_eq!(names(&c), ["r:5000/far/away"]);
    }
}

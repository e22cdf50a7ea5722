//! The paths one layer created, for its opaque whiteouts in apply mode.
//!
//! A `.wh..wh..opq` in directory `D` hides what lower layers put in `D` but not what this
//! layer put there, whatever the order of the entries (docker's `UnpackLayer` keeps an
//! `unpackedPaths` set for the same reason). Kept as every path, its ancestors included, a
//! layer of a million entries held about 100 MB of path bytes (issue 15, finding 10); here
//! each path is a 128-bit key — two SipHash-1-3 hashes under random keys chosen per unpack
//! — so the set takes about 20 bytes an entry and no path is copied. Two different paths
//! share a key with a probability of about n²/2¹²⁹ (10⁻²⁷ for a million entries), and the
//! keys are secret, so a layer cannot be built to collide: the worst a collision could do is
//! keep one lower-layer file an opaque directory should have hidden.

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

use super::path::EntryPath;

/// The set of created paths (see the module docs).
#[derive(Debug, Default)]
pub(super) struct CreatedPaths {
    keys: (RandomState, RandomState),
    created: HashSet<u128>,
}

impl CreatedPaths {
    /// Notes `path` and each of its ancestors.
    pub(super) fn insert(&mut self, path: &EntryPath) {
        let (mut a, mut b) = (self.keys.0.build_hasher(), self.keys.1.build_hasher());
        for (i, comp) in path.components().iter().enumerate() {
            if i > 0 {
                a.write(b"/");
                b.write(b"/");
            }
            a.write(comp);
            b.write(comp);
            self.created.insert(key(&a, &b));
        }
    }

    /// Whether `name` in the directory `dir` was noted.
    pub(super) fn contains_child(&self, dir: &EntryPath, name: &[u8]) -> bool {
        let (mut a, mut b) = (self.keys.0.build_hasher(), self.keys.1.build_hasher());
        for comp in dir.components() {
            a.write(comp);
            a.write(b"/");
            b.write(comp);
            b.write(b"/");
        }
        a.write(name);
        b.write(name);
        self.created.contains(&key(&a, &b))
    }
}

/// The key of the bytes written so far (SipHash's state is a stream: the same bytes give the
/// same hash however they were split into writes).
fn key(a: &impl Hasher, b: &impl Hasher) -> u128 {
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> EntryPath {
        EntryPath::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn a_path_and_its_ancestors_are_noted_and_nothing_else() {
        let mut created = CreatedPaths::default();
        created.insert(&path("usr/lib/x.so"));
        assert!(created.contains_child(&path("usr/lib"), b"x.so"));
        assert!(created.contains_child(&path("usr"), b"lib"));
        assert!(created.contains_child(&path(""), b"usr"));
        assert!(!created.contains_child(&path("usr/lib"), b"y.so"));
        assert!(!created.contains_child(&path("usr"), b"li"));
        // The same bytes split elsewhere are another path.
        assert!(!created.contains_child(&path("us"), b"r"));
    }

    #[test]
    fn a_million_paths_are_told_apart() {
        let mut created = CreatedPaths::default();
        for d in 0..1000 {
            for f in 0..1000 {
                created.insert(&path(&format!("d{d}/f{f}")));
            }
        }
        assert_eq!(created.created.len(), 1000 + 1000 * 1000);
        assert!(created.contains_child(&path("d999"), b"f999"));
        assert!(!created.contains_child(&path("d999"), b"f1000"));
    }
}

//! What a layer tar says that its unpacked directory cannot: whether it had an entry for the
//! root itself (`./`), and which directories exist only because an entry below them needed
//! a parent (no entry of their own).
//!
//! Both matter when a layer directory is applied onto lower layers (`hoist export` from the
//! layer store) instead of its tar: docker's `applyLayer` and umoci resolve an entry's
//! parents through the lower layers' symlinks (`lib/b` lands in `usr/lib/b` when a lower layer
//! made `lib -> usr/lib`) and leave an existing directory's metadata alone, but an explicit
//! directory entry replaces a symlink and sets its metadata. In the unpacked directory an
//! implicit `lib/` looks like any other, so the unpack records the difference
//! ([`super::UnpackReport::implicit_dirs`], [`super::UnpackReport::root_entry`]) for the
//! layer store to keep beside `diff/`.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::path::EntryPath;

/// What the layer store keeps beside `diff/` (see the module docs): whether the tar had a
/// `./` entry, and which of `diff/`'s directories exist only as parents of other entries.
///
/// Also two facts that spare the export a question per entry: whether any entry carried
/// extended attributes, and whether any directory was made opaque. Without them (a layer
/// unpacked before hoist recorded them) both read as "yes", and the export asks `diff/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TarFacts {
    /// The tar had an entry for the root itself, whose metadata export applies to its target.
    pub root_entry: bool,
    /// Directories without an entry of their own, as paths below `diff/` (`a/b`).
    pub implicit_dirs: Vec<String>,
    /// Some entry carried extended attributes: `diff/`'s are to be copied.
    #[serde(default = "unknown")]
    pub xattrs: bool,
    /// Some directory of `diff/` is opaque (its overlay attribute is to be looked for).
    #[serde(default = "unknown")]
    pub opaque_dirs: bool,
}

/// A fact a `layer.json` written before it was recorded does not have: it may hold.
fn unknown() -> bool {
    true
}

/// Directories named by entries and needed as parents, in diff mode.
#[derive(Debug, Default)]
pub(super) struct ImplicitDirs {
    explicit: HashSet<Vec<u8>>,
    parents: HashSet<Vec<u8>>,
    pub(super) root_entry: bool,
}

impl ImplicitDirs {
    /// Notes one entry (whiteouts too: their parents are resolved the same way).
    pub(super) fn note(&mut self, path: &EntryPath, is_dir: bool) {
        let comps = path.components();
        if comps.is_empty() {
            self.root_entry |= is_dir;
            return;
        }
        if is_dir {
            self.explicit.insert(path.to_bytes());
        }
        // Each parent once: stop at the first ancestor already known (its own are too).
        for end in (1..comps.len()).rev() {
            if !self.parents.insert(comps[..end].join(&b'/')) {
                break;
            }
        }
    }

    /// The parents without an entry of their own, sorted; `None` if one of them is not
    /// UTF-8 (the layer store keeps names as JSON strings, and then cannot say).
    pub(super) fn implicit(&self) -> Option<Vec<String>> {
        let mut dirs = Vec::new();
        for dir in self.parents.difference(&self.explicit) {
            dirs.push(String::from_utf8(dir.clone()).ok()?);
        }
        dirs.sort();
        Some(dirs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(dirs: &mut ImplicitDirs, path: &str, is_dir: bool) {
        dirs.note(&EntryPath::parse(path.as_bytes()).unwrap(), is_dir);
    }

    #[test]
    fn parents_without_entries_are_implicit_wherever_the_entry_comes() {
        let mut dirs = ImplicitDirs::default();
        note(&mut dirs, "lib/b", false);
        note(&mut dirs, "a/b/c/d", false);
        note(&mut dirs, "a/b/", true); // after its child: still explicit
        note(&mut dirs, "usr/", true);
        note(&mut dirs, "usr/x", false);
        assert_eq!(dirs.implicit().unwrap(), vec!["a", "a/b/c", "lib"]);
        assert!(!dirs.root_entry);
        note(&mut dirs, "./", true);
        assert!(dirs.root_entry);
    }

    #[test]
    fn facts_of_an_older_layer_json_may_hold() {
        // Written before the xattr and opaque facts were recorded: the export must look.
        let old: TarFacts =
            serde_json::from_str(r#"{"root_entry":true,"implicit_dirs":["lib"]}"#).unwrap();
        assert!(old.xattrs && old.opaque_dirs);
        let new: TarFacts = serde_json::from_str(
            r#"{"root_entry":false,"implicit_dirs":[],"xattrs":false,"opaque_dirs":false}"#,
        )
        .unwrap();
        assert!(!new.xattrs && !new.opaque_dirs);
    }
}

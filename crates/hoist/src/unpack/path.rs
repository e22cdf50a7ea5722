//! `EntryPath`: a tar entry name (or hardlink target) parsed once into components that lie
//! below the layer root.
//!
//! Parsing is lexical and happens at the boundary; it only decides what the archive *names*.
//! Where that name *lands* on disk (through symlinks already in the tree) is decided by
//! [`super::root`], which walks the components with `openat` and never leaves the root.
//!
//! Rules (docker's `applyLayer` cleans the name with `filepath.Clean` and refuses a result that
//! starts with `../` as a `breakoutError`; an absolute name is joined onto the root):
//! - empty components and `.` are dropped; a leading `/` is dropped (absolute names are
//!   confined to the root, as docker, containerd and GNU tar do);
//! - `..` removes the previous component; a `..` that would climb above the root is refused
//!   ([`PathProblem::EscapesRoot`]) — docker's `breakoutError`;
//! - NUL bytes are refused; the whole name is limited to [`MAX_NAME_LEN`] bytes and each
//!   component to [`MAX_COMPONENT_LEN`] (the kernel's `PATH_MAX` and `NAME_MAX`).
//!
//! Invariant: no component of an `EntryPath` is empty, `.`, `..` or contains `/` or NUL.

use std::fmt;

/// Longest entry name accepted, in bytes (Linux `PATH_MAX`).
pub const MAX_NAME_LEN: usize = 4096;
/// Longest single component accepted, in bytes (Linux `NAME_MAX`).
pub const MAX_COMPONENT_LEN: usize = 255;

/// Why a name is not a path inside the root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathProblem {
    /// A `..` component climbs above the root.
    #[error("`..` climbs out of the layer root")]
    EscapesRoot,
    /// The name contains a NUL byte.
    #[error("name contains a NUL byte")]
    Nul,
    /// The name is longer than [`MAX_NAME_LEN`].
    #[error("name is {0} bytes long, more than {MAX_NAME_LEN}")]
    TooLong(usize),
    /// A component is longer than [`MAX_COMPONENT_LEN`].
    #[error("a component is {0} bytes long, more than {MAX_COMPONENT_LEN}")]
    ComponentTooLong(usize),
}

/// A normalised path below the layer root; the empty path is the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct EntryPath {
    components: Vec<Vec<u8>>,
}

impl EntryPath {
    /// Parses a raw tar name (bytes as stored in the archive).
    pub fn parse(raw: &[u8]) -> Result<Self, PathProblem> {
        if raw.contains(&0) {
            return Err(PathProblem::Nul);
        }
        if raw.len() > MAX_NAME_LEN {
            return Err(PathProblem::TooLong(raw.len()));
        }
        let mut components: Vec<Vec<u8>> = Vec::new();
        for component in raw.split(|b| *b == b'/') {
            match component {
                b"" | b"." => {}
                b".." => {
                    if components.pop().is_none() {
                        return Err(PathProblem::EscapesRoot);
                    }
                }
                name if name.len() > MAX_COMPONENT_LEN => {
                    return Err(PathProblem::ComponentTooLong(name.len()));
                }
                name => components.push(name.to_vec()),
            }
        }
        Ok(Self { components })
    }

    /// The components, outermost first.
    pub fn components(&self) -> &[Vec<u8>] {
        &self.components
    }

    /// True for the root itself (`/`, `.`, `./`).
    pub fn is_root(&self) -> bool {
        self.components.is_empty()
    }

    /// The directory part and the final name; `None` for the root.
    pub fn split_last(&self) -> Option<(&[Vec<u8>], &[u8])> {
        self.components
            .split_last()
            .map(|(last, parent)| (parent, last.as_slice()))
    }

    /// The path of the parent directory (the root's parent is the root).
    pub(crate) fn parent(&self) -> Self {
        let mut components = self.components.clone();
        components.pop();
        Self { components }
    }

    /// The path as `a/b/c` bytes (empty for the root), used as a set key.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.components.join(&b'/')
    }
}

impl fmt::Display for EntryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str("/");
        }
        write!(f, "{}", String::from_utf8_lossy(&self.to_bytes()))
    }
}

/// True when `name` is one usable component (not empty, `.`, `..`, no `/` or NUL).
pub(crate) fn is_single_component(name: &[u8]) -> bool {
    !name.is_empty()
        && name != b"."
        && name != b".."
        && name.len() <= MAX_COMPONENT_LEN
        && !name.contains(&b'/')
        && !name.contains(&0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(raw: &str) -> Vec<String> {
        EntryPath::parse(raw.as_bytes())
            .unwrap()
            .components()
            .iter()
            .map(|c| String::from_utf8(c.clone()).unwrap())
            .collect()
    }

    #[test]
    fn absolute_names_are_confined_to_the_root() {
        assert_eq!(parts("/etc/passwd"), ["etc", "passwd"]);
    }

    #[test]
    fn dot_and_empty_components_are_dropped() {
        assert_eq!(parts("./a//./b/"), ["a", "b"]);
    }

    #[test]
    fn dotdot_inside_the_root_is_resolved_lexically() {
        assert_eq!(parts("a/b/../c"), ["a", "c"]);
    }

    #[test]
    fn dotdot_above_the_root_is_refused() {
        assert_eq!(
            EntryPath::parse(b"../../etc/passwd"),
            Err(PathProblem::EscapesRoot)
        );
        assert_eq!(
            EntryPath::parse(b"a/../../x"),
            Err(PathProblem::EscapesRoot)
        );
        assert_eq!(EntryPath::parse(b"/../x"), Err(PathProblem::EscapesRoot));
    }

    #[test]
    fn root_spellings_are_the_root() {
        for raw in ["/", ".", "./", ""] {
            assert!(EntryPath::parse(raw.as_bytes()).unwrap().is_root(), "{raw}");
        }
    }

    #[test]
    fn nul_and_overlong_names_are_refused() {
        assert_eq!(EntryPath::parse(b"a\0b"), Err(PathProblem::Nul));
        let long = vec![b'a'; 256];
        assert_eq!(
            EntryPath::parse(&long),
            Err(PathProblem::ComponentTooLong(256))
        );
        let deep = "a/".repeat(3000);
        assert_eq!(
            EntryPath::parse(deep.as_bytes()),
            Err(PathProblem::TooLong(6000))
        );
    }

    #[test]
    fn single_component_check_rejects_specials() {
        for bad in [&b""[..], b".", b"..", b"a/b", b"a\0"] {
            assert!(!is_single_component(bad));
        }
        assert!(is_single_component(b".wh.x"));
    }
}

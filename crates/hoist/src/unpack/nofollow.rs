//! Removing trees and changing modes inside directories that someone else may be writing to,
//! without ever following a symlink: the one implementation that the unpacker, the layer
//! store (`hoist rmi`, `hoist prune`, failed unpacks) and `hoist export` use.
//!
//! A layer tree is hostile ground: most images have a world-writable `tmp/`, and an image's
//! `./` entry can make a whole diff directory 0777, so a local user may rename and replace
//! anything below it while root removes it. A path-based removal (`lstat` a path, then
//! `read_dir`/`unlink`/`chmod` the same path) can then be made to delete or chmod files
//! outside the store by swapping a directory for a symlink between the check and the use
//! (the class of CVE-2018-15664 and of Go's `os.RemoveAll` before it went `*at`). Here every
//! step is relative to a directory fd opened with `O_NOFOLLOW | O_DIRECTORY`:
//! - an entry is first `unlinkat`ed as a non-directory; only `EISDIR` makes it a directory,
//!   which is then opened `O_NOFOLLOW`, so a symlink swapped in is unlinked as itself and a
//!   directory swapped in after the `unlinkat` is refused by the open (and retried);
//! - a directory without write or search permission for its owner (a layer may ship
//!   `d---------`) gets `0700` through its own fd before it is emptied, which matters only to
//!   an unprivileged owner (root's `CAP_DAC_OVERRIDE` ignores modes);
//! - a mode change by name ([`chmod_at`]) opens the entry `O_PATH | O_NOFOLLOW` and changes
//!   the inode behind that fd (through its `/proc/self/fd` link: the kernel has no
//!   `fchmodat(AT_SYMLINK_NOFOLLOW)` before `fchmodat2` in 6.6, and `fchmod` refuses `O_PATH`
//!   fds), so a symlink swapped in is refused rather than followed.
//!
//! Recursion keeps one fd per level, so trees are followed at most [`MAX_REMOVE_DEPTH`] deep.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Deepest directory tree removed (one open fd per level; as deep as an export applies).
pub const MAX_REMOVE_DEPTH: usize = 4096;

/// How often an entry that changes type under us (directory ⇄ other) is tried again before
/// the removal gives up: someone is racing it on purpose.
const MAX_RACES: usize = 8;

/// Removes `path` and everything below it, never following a symlink below `path`'s parent;
/// a missing `path` is not an error. `path`'s parent is opened normally: it must be a
/// directory only trusted users can write to (the store's `layers/`, an export's parent).
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let Some(name) = path.file_name() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name an entry to remove", path.display()),
        ));
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = match open_dir(rfs::CWD, parent, OFlags::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    remove_all_at(dir.as_fd(), std::os::unix::ffi::OsStrExt::as_bytes(name))
}

/// Removes `name` in `dir` and, if it is a directory, everything below it (`os.RemoveAll`,
/// fd-relative). A missing `name` is not an error.
pub fn remove_all_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    remove_entry(dir, name, 0)
}

/// Removes every entry of the directory `dir` for which `keep` says false.
pub fn remove_children_at(dir: BorrowedFd<'_>, keep: impl FnMut(&[u8]) -> bool) -> io::Result<()> {
    remove_children(dir, keep, 0)
}

/// Sets the mode of `name` in `dir` (a file, directory or node; never a symlink), on the inode
/// that `name` names when it is opened: a symlink swapped in fails with `ELOOP`.
pub fn chmod_at(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> io::Result<()> {
    let fd = rfs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    if FileType::from_raw_mode(rfs::fstat(&fd)?.st_mode) == FileType::Symlink {
        return Err(Errno::LOOP.into());
    }
    chmod_fd(fd.as_fd(), mode)
}

/// Whether `openat2` may be tried: cleared for the process by the first `ENOSYS` (a kernel
/// before 5.6) or `EPERM` (a seccomp filter that does not know it).
static OPENAT2: AtomicBool = AtomicBool::new(true);

/// Opens the directory `rel` below `root` (readable, so that its metadata can be set through
/// the fd) without following a symlink in any of its components, nor `..` out of `root`:
/// one `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` where the kernel has it, else one
/// `openat(O_NOFOLLOW)` per component (`open_dir_walking`). Both refuse a symlink
/// anywhere on the way (the walk is stricter still: plain names only, no `..` at all); when
/// `openat2` refuses a path (or a rename raced it), the walk opens it again to return the
/// error of the component at fault. An empty `rel` is `root` itself.
///
/// Measured on `hoist export` of split50 (debian's files in 50 layers, each with its own
/// copy of the directory tree; tmpfs): the walk was 75 886 `openat` and as many `close`,
/// one per component of every directory of every layer, twice (entries, then metadata).
pub fn open_dir_beneath(root: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    if rel.as_os_str().is_empty() {
        return Ok(open_dir(root, c".", OFlags::empty())?);
    }
    if OPENAT2.load(Ordering::Relaxed) {
        match rfs::openat2(
            root,
            rel,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
        ) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOSYS | Errno::PERM) => OPENAT2.store(false, Ordering::Relaxed),
            Err(_) => {}
        }
    }
    open_dir_walking(root, rel)
}

/// [`open_dir_beneath`] one component at a time, each opened `O_NOFOLLOW | O_DIRECTORY`;
/// only plain names are taken (no `..`, no absolute path).
fn open_dir_walking(root: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    let mut dir = open_dir(root, c".", OFlags::empty())?;
    for component in rel.components() {
        let Component::Normal(name) = component else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a path below the directory", rel.display()),
            ));
        };
        dir = open_dir(&dir, name, OFlags::empty())?;
    }
    Ok(dir)
}

/// The names in the directory `dir` (without `.` and `..`).
pub fn list_names(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let own = open_dir(dir, c".", OFlags::empty())?;
    let mut names = Vec::new();
    for entry in rfs::Dir::new(own)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    Ok(names)
}

fn remove_entry(dir: BorrowedFd<'_>, name: &[u8], depth: usize) -> io::Result<()> {
    for _ in 0..MAX_RACES {
        match rfs::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => return Ok(()),
            // Linux's answer for a directory (POSIX allows EPERM; Linux does not use it).
            Err(Errno::ISDIR) => {}
            Err(e) => return Err(e.into()),
        }
        if depth >= MAX_REMOVE_DEPTH {
            return Err(io::Error::other(format!(
                "directory tree deeper than {MAX_REMOVE_DEPTH} levels"
            )));
        }
        let sub = match open_for_removal(dir, name) {
            Ok(sub) => sub,
            // Replaced by a non-directory (or removed) since the unlinkat: start again.
            Err(Errno::NOTDIR | Errno::LOOP | Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        remove_children(sub.as_fd(), |_| false, depth + 1)?;
        match rfs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => return Ok(()),
            // Refilled, or replaced by a non-directory, meanwhile: start again.
            Err(Errno::NOTEMPTY | Errno::NOTDIR | Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::other(format!(
        "{:?} kept changing while it was being removed",
        String::from_utf8_lossy(name)
    )))
}

fn remove_children(
    dir: BorrowedFd<'_>,
    mut keep: impl FnMut(&[u8]) -> bool,
    depth: usize,
) -> io::Result<()> {
    for child in list_names(dir)? {
        if !keep(&child) {
            remove_entry(dir, &child, depth)?;
        }
    }
    Ok(())
}

/// Opens the directory `name` for listing and removing its entries, giving its owner `rwx`
/// through the fd first when it lacks them.
fn open_for_removal(dir: BorrowedFd<'_>, name: &[u8]) -> Result<OwnedFd, Errno> {
    let path = open_dir(dir, name, OFlags::PATH)?;
    let mode = rfs::fstat(&path)?.st_mode;
    if mode & 0o700 != 0o700 {
        // Only an unprivileged owner needs it, and only an owner (or root) may: a refusal
        // shows up as EACCES below, naming the real obstacle.
        let _ = chmod_fd(path.as_fd(), 0o700);
    }
    // Reopening `.` of an O_PATH directory fd names the same directory: no name is resolved.
    open_dir(&path, c".", OFlags::empty())
}

fn open_dir(dir: impl AsFd, name: impl rustix::path::Arg, extra: OFlags) -> Result<OwnedFd, Errno> {
    let access = if extra.contains(OFlags::PATH) {
        OFlags::empty()
    } else {
        OFlags::RDONLY
    };
    rfs::openat(
        dir,
        name,
        access | extra | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// `chmod` of the inode behind `fd` (which may be an `O_PATH` fd).
fn chmod_fd(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    Ok(rfs::chmod(proc_path.as_str(), Mode::from_raw_mode(mode))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    #[test]
    fn opening_beneath_refuses_symlinks_and_parents_with_both_methods() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir_all(outside.join("sub")).unwrap();
        let root_path = tmp.path().join("root");
        fs::create_dir_all(root_path.join("a/b/c")).unwrap();
        symlink(&outside, root_path.join("a/abs")).unwrap();
        symlink("b", root_path.join("a/rel")).unwrap();
        fs::write(root_path.join("a/file"), b"x").unwrap();
        let root = open_dir(rfs::CWD, &root_path, OFlags::empty()).unwrap();
        let same = |fd: &OwnedFd, path: &Path| {
            let (a, b) = (rfs::fstat(fd).unwrap(), fs::metadata(path).unwrap());
            assert_eq!(
                (a.st_dev, a.st_ino),
                (b.dev(), b.ino()),
                "{}",
                path.display()
            );
        };
        for open in [open_dir_beneath, open_dir_walking] {
            same(&open(root.as_fd(), Path::new("")).unwrap(), &root_path);
            same(
                &open(root.as_fd(), Path::new("a/b/c")).unwrap(),
                &root_path.join("a/b/c"),
            );
            for refused in [
                "a/abs",
                "a/abs/sub",
                "a/rel",
                "a/rel/c",
                "a/file",
                "../outside",
            ] {
                let rel = Path::new(refused);
                assert!(open(root.as_fd(), rel).is_err(), "{refused} was opened");
            }
            let missing = open(root.as_fd(), Path::new("a/none")).unwrap_err();
            assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        }
    }

    #[test]
    fn removes_read_only_directories_and_leaves_symlink_targets() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep"), b"x").unwrap();
        let tree = tmp.path().join("tree");
        fs::create_dir_all(tree.join("a/b")).unwrap();
        fs::write(tree.join("a/b/f"), b"x").unwrap();
        symlink(&outside, tree.join("a/link")).unwrap();
        fs::set_permissions(tree.join("a/b"), fs::Permissions::from_mode(0o500)).unwrap();
        fs::set_permissions(tree.join("a"), fs::Permissions::from_mode(0o000)).unwrap();
        remove_tree(&tree).unwrap();
        assert!(!tree.exists());
        assert!(outside.join("keep").exists());
        remove_tree(&tree).unwrap(); // already gone
    }

    #[test]
    fn a_tree_that_is_a_symlink_is_removed_as_the_link() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep"), b"x").unwrap();
        let link = tmp.path().join("tree");
        symlink(&outside, &link).unwrap();
        remove_tree(&link).unwrap();
        assert!(fs::symlink_metadata(&link).is_err());
        assert!(outside.join("keep").exists());
    }

    /// The attack of the review swaps a directory for a symlink between the check that it is
    /// a directory and its listing. Here the "check" is the `unlinkat` that answered `EISDIR`;
    /// the open that follows must refuse the symlink now standing there, so the removal
    /// starts that entry again (and unlinks the link) instead of emptying its target.
    #[test]
    fn a_directory_swapped_for_a_symlink_is_not_opened_through_it() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep"), b"x").unwrap();
        fs::create_dir(tmp.path().join("tree")).unwrap();
        symlink(&outside, tmp.path().join("tree/d")).unwrap();
        let tree = fs::File::open(tmp.path().join("tree")).unwrap();
        let err = open_for_removal(tree.as_fd(), b"d").unwrap_err();
        assert!(matches!(err, Errno::NOTDIR | Errno::LOOP), "{err:?}");
        remove_entry(tree.as_fd(), b"d", 0).unwrap();
        assert!(outside.join("keep").exists());
        assert!(fs::symlink_metadata(tmp.path().join("tree/d")).is_err());
    }

    /// Set in the child that [`an_unprivileged_owner_can_remove_directories_it_cannot_enter`]
    /// runs as another user, so that it does the work instead of starting another child.
    const UNPRIVILEGED_CHILD: &str = "HOIST_TEST_UNPRIVILEGED_CHILD";

    /// Only an unprivileged owner needs the `0700` given through the fd (root ignores
    /// modes), so as root the test runs itself again as `nobody` (uid 65534).
    #[test]
    fn an_unprivileged_owner_can_remove_directories_it_cannot_enter() {
        if rustix::process::geteuid().is_root() && std::env::var_os(UNPRIVILEGED_CHILD).is_none() {
            use std::os::unix::process::CommandExt;
            let name = "unpack::nofollow::tests::an_unprivileged_owner_can_remove_directories_it_cannot_enter";
            let spawned = std::process::Command::new(std::env::current_exe().unwrap())
                .args([name, "--exact", "--test-threads=1"])
                .env(UNPRIVILEGED_CHILD, "1")
                .env("TMPDIR", "/tmp")
                .uid(65534)
                .gid(65534)
                .output();
            let out = match spawned {
                Ok(out) => out,
                // The test binary lies below a directory `nobody` cannot enter (a checkout
                // in /root): only the privileged run below is possible.
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    eprintln!("cannot run the test binary as nobody ({e}); root only");
                    return remove_locked_tree();
                }
                Err(e) => panic!("running the test as nobody: {e}"),
            };
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("1 passed"),
                "as nobody:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        remove_locked_tree();
    }

    fn remove_locked_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("tree");
        fs::create_dir_all(tree.join("locked/inner")).unwrap();
        fs::write(tree.join("locked/inner/f"), b"x").unwrap();
        fs::set_permissions(tree.join("locked/inner"), fs::Permissions::from_mode(0o000)).unwrap();
        fs::set_permissions(tree.join("locked"), fs::Permissions::from_mode(0o100)).unwrap();
        remove_tree(&tree).unwrap();
        assert!(!tree.exists());
    }

    #[test]
    fn chmod_at_refuses_a_symlink_and_changes_a_file() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("target");
        fs::write(&target, b"x").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
        symlink(&target, tmp.path().join("link")).unwrap();
        fs::write(tmp.path().join("file"), b"x").unwrap();
        let dir = fs::File::open(tmp.path()).unwrap();
        let err = chmod_at(dir.as_fd(), b"link", 0o666).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(Errno::LOOP.raw_os_error()));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&target), 0o600);
        chmod_at(dir.as_fd(), b"file", 0o640).unwrap();
        assert_eq!(mode(&tmp.path().join("file")), 0o640);
    }

    #[test]
    fn remove_children_keeps_what_it_is_told_to() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("gone")).unwrap();
        fs::write(tmp.path().join("gone/f"), b"x").unwrap();
        fs::write(tmp.path().join("kept"), b"x").unwrap();
        let dir = fs::File::open(tmp.path()).unwrap();
        remove_children_at(dir.as_fd(), |name| name == b"kept").unwrap();
        let mut names = list_names(dir.as_fd()).unwrap();
        names.sort();
        assert_eq!(names, vec![b"kept".to_vec()]);
    }
}

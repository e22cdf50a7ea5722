//! What an entry this process creates already has, so that it is not set again: its owner,
//! and (a regular file) its permissions when created with them.
//!
//! A new inode belongs to the process's effective uid, and to its effective gid unless the
//! directory it is made in has the set-group-ID bit (then to the directory's group, and a new
//! directory inherits the bit): [`creates_owned`].
//!
//! `open(O_CREAT, mode)` gives `mode & !umask`: the permissions are whole when the umask
//! takes none of them away, and when there are no set-user-ID, set-group-ID or sticky bits
//! (a later `chown` would clear the first two, and those are always set by `chmod`, after
//! it). Otherwise the file is created private (0600) and its mode set explicitly, so the
//! umask never decides what a layer's file ends up with. Both layer routes use it: the tar
//! unpack (`apply`) and the copy of an unpacked layer (`apply_dir`).

use std::fs;

/// The process's effective uid and gid: who owns what it creates.
pub(super) fn process_ids() -> (u32, u32) {
    (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    )
}

/// Whether an entry this process (`process`: [`process_ids`]) creates in a directory with or
/// without the set-group-ID bit already has the owner `owner` (uid, gid).
pub(super) fn creates_owned(owner: (u32, u32), process: (u32, u32), setgid: bool) -> bool {
    !setgid && owner == process
}

/// The process's umask, from `/proc/self/status` (Linux 4.7 and later): reading it any other
/// way means setting it, which other threads would see. `None` when it cannot be read: then
/// every file gets an explicit `chmod`.
pub(super) fn process_umask() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(line.trim(), 8).ok()
}

/// Whether a file created with `mode` (permission bits) under `umask` has exactly `mode`.
pub(super) fn creates_whole(mode: u32, umask: Option<u32>) -> bool {
    mode & 0o7000 == 0 && umask.is_some_and(|umask| mode & 0o777 & umask == 0)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    use super::*;

    #[test]
    fn only_plain_permissions_the_umask_keeps_are_whole() {
        assert!(creates_whole(0o755, Some(0o022)));
        assert!(creates_whole(0o644, Some(0o022)));
        assert!(creates_whole(0o000, Some(0o077)));
        assert!(!creates_whole(0o666, Some(0o022)));
        assert!(!creates_whole(0o4755, Some(0)));
        assert!(!creates_whole(0o1777, Some(0)));
        assert!(!creates_whole(0o644, None));
    }

    #[test]
    fn a_set_group_id_directory_gives_its_group() {
        assert!(creates_owned((0, 0), (0, 0), false));
        assert!(!creates_owned((0, 0), (0, 0), true));
        assert!(!creates_owned((0, 1000), (0, 0), false));
        assert!(!creates_owned((1000, 0), (0, 0), false));
    }

    #[test]
    fn the_umask_is_read_as_the_kernel_applies_it() {
        let umask = process_umask().expect("Linux 4.7 or later reports Umask");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o777)
            .open(&path)
            .unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o777 & !umask);
    }
}

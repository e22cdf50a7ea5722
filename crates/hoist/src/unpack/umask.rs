//! Creating a regular file with its final permissions, so that no `chmod` follows.
//!
//! `open(O_CREAT, mode)` gives `mode & !umask`: the permissions are whole when the umask
//! takes none of them away, and when there are no set-user-ID, set-group-ID or sticky bits
//! (a later `chown` would clear the first two, and those are always set by `chmod`, after
//! it). Otherwise the file is created private (0600) and its mode set explicitly, so the
//! umask never decides what a layer's file ends up with. Both layer routes use it: the tar
//! unpack (`apply`) and the copy of an unpacked layer (`apply_dir`).

use std::fs;

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

//! Ordinary entries: every type, long names, special bits, owners, xattrs, times.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use tar::EntryType;

use super::support::{apply, options, Layer, Sandbox, MTIME};
use crate::unpack::report::Unapplied;
use crate::unpack::{unpack_layer, Privileges, UnpackMode};

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[test]
fn regular_file_content_and_mode_ignore_the_umask() {
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .file_mode("bin/tool", b"#!/bin/sh\n", 0o777)
        .finish();
    let report = apply(&tar, &sandbox.root).unwrap();
    let md = fs::metadata(sandbox.path("bin/tool")).unwrap();
    assert_eq!(md.permissions().mode() & 0o7777, 0o777);
    assert_eq!(fs::read(sandbox.path("bin/tool")).unwrap(), b"#!/bin/sh\n");
    assert_eq!(report.content_bytes, 10);
    assert_eq!(report.entries, 1);
}

#[test]
fn missing_parents_are_created_0755() {
    let sandbox = Sandbox::new();
    apply(&Layer::new().file("a/b/c", b"x").finish(), &sandbox.root).unwrap();
    let md = fs::metadata(sandbox.path("a/b")).unwrap();
    assert_eq!(md.permissions().mode() & 0o7777, 0o755);
}

#[test]
fn setuid_setgid_and_sticky_bits_survive() {
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .file_mode("usr/bin/su", b"elf", 0o4755)
        .file_mode("usr/bin/wall", b"elf", 0o2755)
        .entry_with(EntryType::Directory, b"tmp", b"", b"", |h| {
            h.set_mode(0o1777)
        })
        .finish();
    apply(&tar, &sandbox.root).unwrap();
    let mode = |p: &str| fs::symlink_metadata(sandbox.path(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("usr/bin/su"), 0o4755);
    assert_eq!(mode("usr/bin/wall"), 0o2755);
    assert_eq!(mode("tmp"), 0o1777);
}

#[test]
fn setuid_survives_chown_to_another_owner() {
    if !is_root() {
        return;
    }
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .entry_with(EntryType::Regular, b"suid", b"", b"x", |h| {
            h.set_mode(0o4711);
            h.set_uid(1234);
            h.set_gid(5678);
        })
        .finish();
    apply(&tar, &sandbox.root).unwrap();
    let md = fs::metadata(sandbox.path("suid")).unwrap();
    assert_eq!(
        (md.uid(), md.gid(), md.mode() & 0o7777),
        (1234, 5678, 0o4711)
    );
}

#[test]
fn symlink_target_is_stored_verbatim_with_its_owner() {
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .entry_with(EntryType::Symlink, b"lib", b"", b"", |h| {
            h.set_link_name("usr/lib").unwrap();
            h.set_uid(42);
            h.set_gid(43);
        })
        .finish();
    apply(&tar, &sandbox.root).unwrap();
    assert_eq!(
        fs::read_link(sandbox.path("lib")).unwrap().to_str(),
        Some("usr/lib")
    );
    let md = fs::symlink_metadata(sandbox.path("lib")).unwrap();
    if is_root() {
        assert_eq!((md.uid(), md.gid()), (42, 43));
    }
    assert_eq!(md.mtime() as u64, MTIME);
}

#[test]
fn hardlink_within_a_layer_shares_the_inode() {
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .file("bin/busybox", b"elf")
        .hardlink("bin/sh", "bin/busybox")
        .hardlink("sbin/init", "/bin/busybox")
        .finish();
    apply(&tar, &sandbox.root).unwrap();
    let ino = |p: &str| fs::metadata(sandbox.path(p)).unwrap().ino();
    assert_eq!(ino("bin/sh"), ino("bin/busybox"));
    assert_eq!(ino("sbin/init"), ino("bin/busybox"));
    assert_eq!(
        fs::metadata(sandbox.path("bin/busybox")).unwrap().nlink(),
        3
    );
}

#[test]
fn hardlink_to_a_lower_layer_file_in_apply_mode() {
    let sandbox = Sandbox::new();
    apply(
        &Layer::new().file("bin/busybox", b"elf").finish(),
        &sandbox.root,
    )
    .unwrap();
    apply(
        &Layer::new().hardlink("bin/ls", "bin/busybox").finish(),
        &sandbox.root,
    )
    .unwrap();
    let ino = |p: &str| fs::metadata(sandbox.path(p)).unwrap().ino();
    assert_eq!(ino("bin/ls"), ino("bin/busybox"));
}

#[test]
fn hardlink_to_a_symlink_links_the_symlink_itself() {
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .symlink("s", "/nonexistent")
        .hardlink("s2", "s")
        .finish();
    apply(&tar, &sandbox.root).unwrap();
    assert_eq!(
        fs::read_link(sandbox.path("s2")).unwrap().to_str(),
        Some("/nonexistent")
    );
}

#[test]
fn long_names_and_long_link_names() {
    let sandbox = Sandbox::new();
    let dir = format!("{}/{}", "d".repeat(120), "e".repeat(120));
    let file = format!("{dir}/{}", "f".repeat(200));
    let target = format!("/{file}");
    let tar = Layer::new()
        .file(&file, b"long")
        .symlink("sym", &target)
        .hardlink("hard", &file)
        .finish();
    apply(&tar, &sandbox.root).unwrap();
    assert_eq!(fs::read(sandbox.path(&file)).unwrap(), b"long");
    assert_eq!(
        fs::read_link(sandbox.path("sym")).unwrap().to_str(),
        Some(target.as_str())
    );
    assert_eq!(fs::read(sandbox.path("hard")).unwrap(), b"long");
}

#[test]
fn pax_path_linkpath_and_fractional_mtime() {
    let sandbox = Sandbox::new();
    let name = "p".repeat(150);
    let tar = Layer::new()
        .pax(&[("path", name.as_bytes()), ("mtime", b"1700000000.25")])
        .file("short", b"pax")
        .pax(&[("linkpath", b"target/from/pax")])
        .symlink("link", "ignored")
        .finish();
    apply(&tar, &sandbox.root).unwrap();
    let md = fs::metadata(sandbox.path(&name)).unwrap();
    assert_eq!((md.mtime(), md.mtime_nsec()), (1_700_000_000, 250_000_000));
    assert_eq!(
        fs::read_link(sandbox.path("link")).unwrap().to_str(),
        Some("target/from/pax")
    );
}

#[test]
fn user_xattrs_from_pax_are_applied() {
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .pax(&[("SCHILY.xattr.user.origin", b"hoist\0bin")])
        .file("f", b"x")
        .pax(&[("SCHILY.xattr.user.dir", b"1")])
        .dir("d")
        .finish();
    let report = apply(&tar, &sandbox.root).unwrap();
    assert!(report.xattrs);
    assert_eq!(
        xattr(&sandbox.path("f"), "user.origin"),
        Some(b"hoist\0bin".to_vec())
    );
    assert_eq!(xattr(&sandbox.path("d"), "user.dir"), Some(b"1".to_vec()));
}

#[test]
fn security_capability_survives_owner_and_mode_changes() {
    if !is_root() {
        return;
    }
    let sandbox = Sandbox::new();
    // VFS_CAP_REVISION_2, cap_net_bind_service (bit 10) permitted + effective.
    let cap: [u8; 20] = [0, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let tar = Layer::new()
        .pax(&[("SCHILY.xattr.security.capability", &cap)])
        .entry_with(EntryType::Regular, b"ping", b"", b"elf", |h| {
            h.set_uid(1);
            h.set_mode(0o755);
        })
        .finish();
    apply(&tar, &sandbox.root).unwrap();
    assert_eq!(
        xattr(&sandbox.path("ping"), "security.capability"),
        Some(cap.to_vec())
    );
}

#[test]
fn overlay_xattrs_from_a_layer_are_refused_and_recorded() {
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .pax(&[("SCHILY.xattr.trusted.overlay.redirect", b"/elsewhere")])
        .dir("d")
        .finish();
    let report = apply(&tar, &sandbox.root).unwrap();
    assert_eq!(xattr(&sandbox.path("d"), "trusted.overlay.redirect"), None);
    assert!(matches!(
        report.unapplied.as_slice(),
        [Unapplied::Xattr { path, name, .. }] if path == "d" && name == "trusted.overlay.redirect"
    ));
}

#[test]
fn directory_mtime_is_set_after_its_contents() {
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .entry_with(EntryType::Directory, b"d", b"", b"", |h| h.set_mtime(1000))
        .entry_with(EntryType::Regular, b"d/f", b"", b"x", |h| h.set_mtime(2000))
        .entry_with(EntryType::Directory, b"d/sub", b"", b"", |h| {
            h.set_mtime(3000)
        })
        .file("d/sub/g", b"y")
        .finish();
    apply(&tar, &sandbox.root).unwrap();
    let mtime = |p: &str| fs::symlink_metadata(sandbox.path(p)).unwrap().mtime();
    assert_eq!(mtime("d"), 1000);
    assert_eq!(mtime("d/f"), 2000);
    assert_eq!(mtime("d/sub"), 3000);
}

#[test]
fn root_entry_sets_the_root_directory_metadata() {
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .entry_with(EntryType::Directory, b"./", b"", b"", |h| {
            h.set_mode(0o700);
            h.set_mtime(4242);
        })
        .file("f", b"x")
        .finish();
    apply(&tar, &sandbox.root).unwrap();
    let md = fs::metadata(&sandbox.root).unwrap();
    assert_eq!((md.mode() & 0o7777, md.mtime()), (0o700, 4242));
}

#[test]
fn root_owned_files_in_a_set_group_id_directory_are_chowned_all_the_same() {
    // Root skips the chown of a file that is already its own, but a set-group-ID parent gives
    // new files its group: here the root becomes one (its `./` entry) after a file was written
    // in it, then a directory is one from its entry on.
    if !is_root() {
        return;
    }
    let shared = |h: &mut tar::Header| {
        h.set_mode(0o2775);
        h.set_uid(0);
        h.set_gid(1000);
    };
    let tar = Layer::new()
        .file("before", b"written while the root was plain")
        .entry_with(EntryType::Directory, b"./", b"", b"", shared)
        .file("after", b"root's group is 1000 now")
        .entry_with(EntryType::Directory, b"d/", b"", b"", shared)
        .file("d/f", b"d's group is 1000")
        .dir("d/sub")
        .file("d/sub/g", b"sub inherited the bit")
        .finish();
    for mode in [UnpackMode::Apply, UnpackMode::Diff] {
        let sandbox = Sandbox::new();
        let opts = options(mode, Privileges::Root, false);
        unpack_layer(tar.as_slice(), &sandbox.root, &opts).unwrap();
        for name in ["before", "after", "d/f", "d/sub", "d/sub/g"] {
            let md = fs::symlink_metadata(sandbox.path(name)).unwrap();
            assert_eq!((md.uid(), md.gid()), (0, 0), "{name} in {mode:?} mode");
        }
        assert_eq!(fs::metadata(sandbox.path("d")).unwrap().gid(), 1000);
    }
}

#[test]
fn fifo_is_created_with_its_mode() {
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .entry_with(EntryType::Fifo, b"run/pipe", b"", b"", |h| {
            h.set_mode(0o620)
        })
        .finish();
    apply(&tar, &sandbox.root).unwrap();
    let md = fs::symlink_metadata(sandbox.path("run/pipe")).unwrap();
    assert!(md.file_type().is_fifo());
    assert_eq!(md.mode() & 0o7777, 0o620);
}

#[test]
fn device_nodes_are_created_as_root() {
    if !is_root() {
        return;
    }
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .entry_with(EntryType::Char, b"dev/null", b"", b"", |h| {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
            h.set_mode(0o666);
        })
        .entry_with(EntryType::Block, b"dev/loop9", b"", b"", |h| {
            h.set_device_major(7).unwrap();
            h.set_device_minor(9).unwrap();
            h.set_mode(0o660);
        })
        .finish();
    let report = apply(&tar, &sandbox.root).unwrap();
    assert!(report.unapplied.is_empty());
    let null = fs::symlink_metadata(sandbox.path("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(null.mode() & 0o7777, 0o666);
    let lp = fs::symlink_metadata(sandbox.path("dev/loop9")).unwrap();
    assert!(lp.file_type().is_block_device());
}

#[test]
fn rootless_records_ownership_and_writes_a_manifest() {
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .entry_with(EntryType::Regular, b"etc/owned", b"", b"x", |h| {
            h.set_uid(1000);
            h.set_gid(1001);
        })
        .finish();
    let opts = options(UnpackMode::Apply, Privileges::Rootless, false);
    let report = unpack_layer(tar.as_slice(), &sandbox.root, &opts).unwrap();
    let md = fs::metadata(sandbox.path("etc/owned")).unwrap();
    assert_eq!(md.uid(), rustix::process::geteuid().as_raw());
    assert_eq!(
        report.unapplied,
        vec![Unapplied::Ownership {
            path: "etc/owned".into(),
            uid: 1000,
            gid: 1001
        }]
    );
    let manifest = sandbox.base.join("rootless.jsonl");
    report.write_manifest(&manifest).unwrap();
    let line: serde_json::Value =
        serde_json::from_str(fs::read_to_string(&manifest).unwrap().trim()).unwrap();
    assert_eq!(line["kind"], "ownership");
    assert_eq!(line["uid"], 1000);
}

#[test]
fn rootless_read_only_directory_still_receives_its_contents() {
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .entry_with(EntryType::Directory, b"ro", b"", b"", |h| h.set_mode(0o555))
        .file("ro/inside", b"x")
        .finish();
    let opts = options(UnpackMode::Apply, Privileges::Rootless, false);
    unpack_layer(tar.as_slice(), &sandbox.root, &opts).unwrap();
    assert!(sandbox.path("ro/inside").is_file());
    let md = fs::metadata(sandbox.path("ro")).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o555);
}

#[test]
fn pax_global_header_is_ignored() {
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .entry_with(
            EntryType::XGlobalHeader,
            b"global",
            b"",
            b"9 a=bcd\n",
            |_| {},
        )
        .file("f", b"x")
        .finish();
    let report = apply(&tar, &sandbox.root).unwrap();
    assert_eq!(report.entries, 1);
    assert!(!sandbox.path("global").exists());
}

#[test]
fn unknown_entry_type_is_an_error() {
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .entry_with(EntryType::new(b'Z'), b"weird", b"", b"", |_| {})
        .finish();
    let err = apply(&tar, &sandbox.root).unwrap_err();
    assert!(err.to_string().contains("weird"), "{err}");
}

#[test]
fn trailing_bytes_after_the_archive_are_drained() {
    let sandbox = Sandbox::new();
    let mut tar = Layer::new().file("f", b"x").finish();
    tar.extend_from_slice(&[0u8; 10_000]);
    let report = apply(&tar, &sandbox.root).unwrap();
    assert_eq!(report.tar_bytes, tar.len() as u64);
}

#[test]
fn missing_end_of_archive_blocks_are_accepted_like_docker() {
    let sandbox = Sandbox::new();
    let tar = Layer::new().file("f", b"x").bytes();
    apply(&tar, &sandbox.root).unwrap();
    assert!(sandbox.path("f").is_file());
}

fn xattr(path: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    match rustix::fs::lgetxattr(path, name, &mut buf) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(_) => None,
    }
}

#[test]
fn pipeline_feeds_the_unpacker_through_a_channel_reader() {
    let sandbox = Sandbox::new();
    let content: Vec<u8> = (0..3 << 20).map(|i| (i % 251) as u8).collect();
    let tar = Layer::new()
        .file("big", &content)
        .file("small", b"s")
        .finish();
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    let sender = std::thread::spawn(move || {
        for chunk in tar.chunks(64 << 10) {
            tx.blocking_send(Ok(bytes::Bytes::copy_from_slice(chunk)))
                .unwrap();
        }
    });
    let opts = options(UnpackMode::Diff, Privileges::Root, false);
    let report = unpack_layer(crate::unpack::ChannelReader::new(rx), &sandbox.root, &opts).unwrap();
    sender.join().unwrap();
    assert_eq!(fs::read(sandbox.path("big")).unwrap(), content);
    assert_eq!(report.content_bytes, (3 << 20) + 1);
}

#[test]
fn upstream_error_fails_the_unpack() {
    let sandbox = Sandbox::new();
    let tar = Layer::new().file("big", &vec![1u8; 100_000]).finish();
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    tx.try_send(Ok(bytes::Bytes::copy_from_slice(&tar[..10_000])))
        .unwrap();
    tx.try_send(Err(std::io::Error::other("layer digest mismatch")))
        .unwrap();
    drop(tx);
    let opts = options(UnpackMode::Diff, Privileges::Root, false);
    let err =
        unpack_layer(crate::unpack::ChannelReader::new(rx), &sandbox.root, &opts).unwrap_err();
    assert!(
        format!("{err:?}").contains("layer digest mismatch"),
        "{err:?}"
    );
}

#[test]
fn blank_numeric_fields_read_as_zero_like_go() {
    let sandbox = Sandbox::new();
    let mut h = tar::Header::new_gnu();
    h.set_path("blank").unwrap();
    h.set_size(1);
    h.set_mode(0o600);
    h.set_cksum(); // uid, gid and mtime left all-NUL
    let mut tar = h.as_bytes().to_vec();
    tar.extend_from_slice(&[b'x'; 512]);
    tar.extend_from_slice(&[0; 1024]);
    apply(&tar, &sandbox.root).unwrap();
    let md = fs::metadata(sandbox.path("blank")).unwrap();
    assert_eq!((md.mtime(), md.len()), (0, 1));
}

//! Hostile layers (issue 4, point 5). Each test unpacks with both resolvers (openat2 and the
//! manual walk) into a sandbox whose `outside/` holds sentinel `etc/passwd` and `etc/shadow`,
//! asserts that nothing outside the root changed (content, link counts, no new files), and
//! asserts what happened inside: confined, or refused with an error naming the entry.

use std::fs;
use std::os::unix::fs::MetadataExt;

use tar::EntryType;

use super::support::{options, with_both_resolvers, Layer, Sandbox};
use crate::unpack::error::{EntryKind, EntryProblem};
use crate::unpack::path::PathProblem;
use crate::unpack::root::ResolveError;
use crate::unpack::{unpack_layer, Privileges, UnpackError, UnpackMode, MAX_ENTRY_METADATA};

fn entry_problem(err: UnpackError) -> (String, EntryKind, EntryProblem) {
    match err {
        UnpackError::Entry {
            path,
            kind,
            problem,
        } => (path, kind, problem),
        other => panic!("expected an entry error, got {other:?}"),
    }
}

#[test]
fn dotdot_escape_is_refused_naming_the_entry() {
    let layer = Layer::new().file("../../etc/passwd", b"pwned").finish();
    with_both_resolvers(&[layer], |_, result| {
        let err = result.unwrap_err();
        assert!(err.to_string().contains("../../etc/passwd"), "{err}");
        let (_, kind, problem) = entry_problem(err);
        assert_eq!(kind, EntryKind::File);
        assert!(matches!(
            problem,
            EntryProblem::BadName(PathProblem::EscapesRoot)
        ));
    });
}

#[test]
fn dotdot_to_a_sibling_of_the_root_is_refused() {
    let layer = Layer::new()
        .file("a/../../outside/etc/passwd", b"pwned")
        .finish();
    with_both_resolvers(&[layer], |_, result| {
        assert!(matches!(
            entry_problem(result.unwrap_err()).2,
            EntryProblem::BadName(PathProblem::EscapesRoot)
        ));
    });
}

#[test]
fn absolute_path_is_confined_to_the_root() {
    for manual in [false, true] {
        let sandbox = Sandbox::new();
        let abs = format!("{}/etc/passwd", sandbox.outside_abs());
        let layer = Layer::new().file(&abs, b"pwned").finish();
        let opts = options(UnpackMode::Apply, Privileges::Root, manual);
        unpack_layer(layer.as_slice(), &sandbox.root, &opts).unwrap();
        sandbox.assert_outside_untouched();
        let inside = sandbox.root.join(abs.trim_start_matches('/'));
        assert_eq!(fs::read(inside).unwrap(), b"pwned");
    }
}

#[test]
fn file_through_a_symlink_to_slash_stays_inside() {
    for manual in [false, true] {
        let sandbox = Sandbox::new();
        let through = format!("escape{}/etc/shadow", sandbox.outside_abs());
        let layer = Layer::new()
            .symlink("escape", "/")
            .file(&through, b"pwned")
            .finish();
        let opts = options(UnpackMode::Apply, Privileges::Root, manual);
        unpack_layer(layer.as_slice(), &sandbox.root, &opts).unwrap();
        sandbox.assert_outside_untouched();
        let landed = sandbox
            .root
            .join(format!("{}/etc/shadow", sandbox.outside_abs()).trim_start_matches('/'));
        assert_eq!(fs::read(landed).unwrap(), b"pwned");
        assert_eq!(
            fs::read_link(sandbox.path("escape")).unwrap().to_str(),
            Some("/")
        );
    }
}

#[test]
fn relative_symlink_climbing_out_is_clamped_at_the_root() {
    // Escaping, either link would reach the sandbox base (ROOT/..), whose sentinel `x` the
    // outside check watches — never the host's `/`.
    let layer = Layer::new()
        .symlink("up", "..")
        .dir("sub")
        .symlink("sub/up2", "../..")
        .file("up/x", b"pwned")
        .file("sub/up2/y", b"pwned too")
        .finish();
    with_both_resolvers(&[layer], |sandbox, result| {
        result.unwrap();
        // `..` at the root stays at the root: up/x is ROOT/x, not the sibling BASE/x.
        assert_eq!(fs::read(sandbox.path("x")).unwrap(), b"pwned");
        assert_eq!(fs::read(sandbox.path("y")).unwrap(), b"pwned too");
    });
}

#[test]
fn symlink_planted_by_an_earlier_layer_is_not_written_through() {
    for manual in [false, true] {
        let sandbox = Sandbox::new();
        let outside_etc = format!("{}/etc", sandbox.outside_abs());
        let layer1 = Layer::new()
            .symlink("evil", &outside_etc)
            .symlink("pw", &format!("{outside_etc}/passwd"))
            .finish();
        let layer2 = Layer::new()
            .file("evil/shadow", b"pwned")
            .file("pw", b"replaced the link, not its target")
            .finish();
        let opts = options(UnpackMode::Apply, Privileges::Root, manual);
        unpack_layer(layer1.as_slice(), &sandbox.root, &opts).unwrap();
        unpack_layer(layer2.as_slice(), &sandbox.root, &opts).unwrap();
        sandbox.assert_outside_untouched();
        let landed = sandbox
            .root
            .join(outside_etc.trim_start_matches('/'))
            .join("shadow");
        assert_eq!(fs::read(landed).unwrap(), b"pwned");
        assert!(fs::symlink_metadata(sandbox.path("pw")).unwrap().is_file());
    }
}

#[test]
fn symlink_chain_is_followed_only_inside_the_root() {
    for manual in [false, true] {
        let sandbox = Sandbox::new();
        let layer = Layer::new()
            .symlink("a", "b")
            .symlink("b", "c/../d")
            .dir("c")
            .symlink("d", &format!("../..{}/etc", sandbox.outside_abs()))
            .file("a/passwd", b"pwned")
            .finish();
        let opts = options(UnpackMode::Apply, Privileges::Root, manual);
        unpack_layer(layer.as_slice(), &sandbox.root, &opts).unwrap();
        sandbox.assert_outside_untouched();
        let landed = sandbox
            .root
            .join(sandbox.outside_abs().trim_start_matches('/'))
            .join("etc/passwd");
        assert_eq!(fs::read(landed).unwrap(), b"pwned");
    }
}

#[test]
fn symlink_loop_is_refused() {
    let layer = Layer::new()
        .symlink("l1", "l2")
        .symlink("l2", "l1")
        .file("l1/x", b"")
        .finish();
    with_both_resolvers(&[layer], |_, result| {
        let (path, _, problem) = entry_problem(result.unwrap_err());
        assert_eq!(path, "l1/x");
        assert!(
            matches!(
                problem,
                EntryProblem::Parent(ResolveError::SymlinkLoop)
                    | EntryProblem::Parent(ResolveError::Io { .. })
            ),
            "{problem:?}"
        );
    });
}

#[test]
fn hardlink_to_an_absolute_host_file_is_refused_and_the_host_file_gains_no_link() {
    for manual in [false, true] {
        let sandbox = Sandbox::new();
        let shadow = format!("{}/etc/shadow", sandbox.outside_abs());
        let layer = Layer::new().hardlink("stolen", &shadow).finish();
        let opts = options(UnpackMode::Apply, Privileges::Root, manual);
        let err = unpack_layer(layer.as_slice(), &sandbox.root, &opts).unwrap_err();
        // The sandbox check includes the sentinel's link count (still 1).
        sandbox.assert_outside_untouched();
        assert_eq!(
            fs::metadata(sandbox.outside.join("etc/shadow"))
                .unwrap()
                .nlink(),
            1
        );
        let (path, kind, problem) = entry_problem(err);
        assert_eq!((path.as_str(), kind), ("stolen", EntryKind::Hardlink));
        assert!(
            matches!(problem, EntryProblem::LinkTargetMissing(_)),
            "{problem:?}"
        );
    }
}

#[test]
fn hardlink_with_dotdot_target_is_refused() {
    let layer = Layer::new()
        .hardlink("stolen", "../outside/etc/shadow")
        .finish();
    with_both_resolvers(&[layer], |_, result| {
        let (_, _, problem) = entry_problem(result.unwrap_err());
        assert!(matches!(
            problem,
            EntryProblem::BadLinkTarget {
                problem: PathProblem::EscapesRoot,
                ..
            }
        ));
    });
}

#[test]
fn hardlink_through_a_symlink_out_is_refused() {
    for manual in [false, true] {
        let sandbox = Sandbox::new();
        let layer = Layer::new()
            .symlink("s", &format!("{}/etc", sandbox.outside_abs()))
            .hardlink("stolen", "s/shadow")
            .finish();
        let opts = options(UnpackMode::Apply, Privileges::Root, manual);
        let err = unpack_layer(layer.as_slice(), &sandbox.root, &opts).unwrap_err();
        sandbox.assert_outside_untouched();
        assert!(matches!(
            entry_problem(err).2,
            EntryProblem::LinkTargetMissing(_)
        ));
    }
}

#[test]
fn whiteout_of_dotdot_is_refused() {
    for name in ["../.wh.x", "a/../../.wh.x"] {
        let layer = Layer::new().dir("a").file(name, b"").finish();
        with_both_resolvers(&[layer], |sandbox, result| {
            let (path, _, problem) = entry_problem(result.unwrap_err());
            assert_eq!(path, name);
            assert!(matches!(
                problem,
                EntryProblem::BadName(PathProblem::EscapesRoot)
            ));
            assert!(sandbox.base.join("x").exists());
        });
    }
}

#[test]
fn whiteouts_naming_dot_or_dotdot_are_refused() {
    for name in ["a/.wh..", "a/.wh...", "a/.wh."] {
        let layer = Layer::new().dir("a").file(name, b"").finish();
        with_both_resolvers(&[layer], |sandbox, result| {
            let (_, kind, problem) = entry_problem(result.unwrap_err());
            assert_eq!(kind, EntryKind::Whiteout);
            assert!(
                matches!(problem, EntryProblem::BadWhiteout),
                "{name}: {problem:?}"
            );
            assert!(sandbox.path("a").is_dir());
        });
    }
}

#[test]
fn whiteout_through_a_symlink_out_removes_nothing_outside() {
    for manual in [false, true] {
        let sandbox = Sandbox::new();
        let layer = Layer::new()
            .symlink("s", &format!("{}/etc", sandbox.outside_abs()))
            .file("s/.wh.passwd", b"")
            .file("s/.wh..wh..opq", b"")
            .finish();
        let opts = options(UnpackMode::Apply, Privileges::Root, manual);
        unpack_layer(layer.as_slice(), &sandbox.root, &opts).unwrap();
        sandbox.assert_outside_untouched();
    }
}

#[test]
fn device_node_without_privileges_is_recorded_not_created() {
    let sandbox = Sandbox::new();
    let layer = Layer::new()
        .entry_with(EntryType::Char, b"dev/null", b"", b"", |h| {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
            h.set_mode(0o666);
        })
        .finish();
    let opts = options(UnpackMode::Diff, Privileges::Rootless, false);
    let report = unpack_layer(layer.as_slice(), &sandbox.root, &opts).unwrap();
    sandbox.assert_outside_untouched();
    assert!(fs::symlink_metadata(sandbox.path("dev/null")).is_err());
    assert_eq!(
        report.unapplied,
        vec![crate::unpack::Unapplied::Device {
            path: "dev/null".into(),
            device: "char",
            major: 1,
            minor: 3,
            mode: 0o666,
            uid: 0,
            gid: 0,
        }]
    );
}

#[test]
fn hundred_thousand_entries_unpack() {
    let sandbox = Sandbox::new();
    let mut layer = Layer::new();
    for d in 0..100 {
        layer.dir(&format!("d{d}"));
        for f in 0..1000 {
            layer.file(&format!("d{d}/f{f}"), b"");
        }
    }
    let tar = layer.finish();
    let opts = options(UnpackMode::Diff, Privileges::Root, false);
    let report = unpack_layer(tar.as_slice(), &sandbox.root, &opts).unwrap();
    assert_eq!(report.entries, 100_100);
    assert_eq!(report.tar_bytes, tar.len() as u64);
    assert!(sandbox.path("d99/f999").is_file());
    assert_eq!(fs::read_dir(sandbox.path("d42")).unwrap().count(), 1000);
}

#[test]
fn duplicate_entries_later_one_wins() {
    let layer = Layer::new()
        .file("a", b"first")
        .file("a", b"second")
        .dir("b")
        .file("b", b"file replaces dir")
        .file("c", b"dir replaces file")
        .dir("c")
        .finish();
    with_both_resolvers(&[layer], |sandbox, result| {
        result.unwrap();
        assert_eq!(fs::read(sandbox.path("a")).unwrap(), b"second");
        assert_eq!(fs::read(sandbox.path("b")).unwrap(), b"file replaces dir");
        assert!(sandbox.path("c").is_dir());
    });
}

#[test]
fn duplicate_file_does_not_write_through_an_earlier_hardlink() {
    let layer = Layer::new()
        .file("a", b"original")
        .hardlink("b", "a")
        .file("a", b"new")
        .finish();
    with_both_resolvers(&[layer], |sandbox, result| {
        result.unwrap();
        assert_eq!(fs::read(sandbox.path("a")).unwrap(), b"new");
        assert_eq!(fs::read(sandbox.path("b")).unwrap(), b"original");
    });
}

#[test]
fn truncated_inside_file_data_is_an_error_naming_the_entry() {
    let full = Layer::new().file("big", &vec![7u8; 10_000]).finish();
    let cut = &full[..512 + 5_000];
    let sandbox = Sandbox::new();
    let err = super::support::apply(cut, &sandbox.root).unwrap_err();
    let (path, kind, problem) = entry_problem(err);
    assert_eq!((path.as_str(), kind), ("big", EntryKind::File));
    assert!(matches!(
        problem,
        EntryProblem::Truncated {
            expected: 10_000,
            got: 5_000
        }
    ));
}

#[test]
fn truncated_inside_a_header_is_an_error() {
    let full = Layer::new().file("a", b"x").file("b", b"y").finish();
    let cut = &full[..1024 + 300];
    let sandbox = Sandbox::new();
    let err = super::support::apply(cut, &sandbox.root).unwrap_err();
    match err {
        UnpackError::Tar { after, .. } => assert_eq!(after.as_deref(), Some("a")),
        other => panic!("expected a tar error, got {other:?}"),
    }
}

#[test]
fn truncated_inside_padding_is_an_error() {
    let full = Layer::new().file("a", b"x").file("b", b"y").finish();
    let cut = &full[..512 + 100];
    let sandbox = Sandbox::new();
    assert!(super::support::apply(cut, &sandbox.root).is_err());
}

/// A GNU sparse header (`S`): data chunks `(offset, bytes)`; the expanded size is the end of
/// the last chunk (the tar crate cannot express a trailing hole).
fn sparse_layer(name: &str, chunks: &[(u64, &[u8])]) -> Vec<u8> {
    let data: Vec<u8> = chunks.iter().flat_map(|(_, d)| d.to_vec()).collect();
    let real_size = chunks.last().map(|(o, d)| o + d.len() as u64).unwrap_or(0);
    Layer::new()
        .entry_with(EntryType::GNUSparse, name.as_bytes(), b"", &data, |h| {
            let gnu = h.as_gnu_mut().unwrap();
            for (slot, (offset, bytes)) in gnu.sparse.iter_mut().zip(chunks) {
                slot.set_offset(*offset);
                slot.set_length(bytes.len() as u64);
            }
            gnu.set_real_size(real_size);
        })
        .finish()
}

#[test]
fn huge_sparse_size_bomb_is_refused_before_writing() {
    let sandbox = Sandbox::new();
    let tar = sparse_layer("bomb", &[(1 << 49, &[1u8; 512])]);
    let err = super::support::apply(&tar, &sandbox.root).unwrap_err();
    let (path, kind, problem) = entry_problem(err);
    assert_eq!((path.as_str(), kind), ("bomb", EntryKind::File));
    assert!(
        matches!(problem, EntryProblem::TooLarge { .. }),
        "{problem:?}"
    );
    assert!(!sandbox.path("bomb").exists());
}

#[test]
fn sparse_file_is_written_sparsely() {
    let sandbox = Sandbox::new();
    let (first, last) = (64u64 << 20, 256u64 << 20);
    let tar = sparse_layer("sparse", &[(first, &[8u8; 512]), (last, &[9u8; 512])]);
    let report = super::support::apply(&tar, &sandbox.root).unwrap();
    let md = fs::metadata(sandbox.path("sparse")).unwrap();
    assert_eq!(md.len(), last + 512);
    assert!(
        md.blocks() * 512 < 1 << 20,
        "{} blocks allocated",
        md.blocks()
    );
    assert_eq!(report.content_bytes, md.len());
    let content = fs::read(sandbox.path("sparse")).unwrap();
    let at = |o: u64| &content[o as usize..o as usize + 512];
    assert_eq!(at(first), &[8u8; 512]);
    assert_eq!(at(last), &[9u8; 512]);
    assert!(content[..first as usize].iter().all(|b| *b == 0));
}

#[test]
fn zero_filled_file_takes_no_disk() {
    let sandbox = Sandbox::new();
    let tar = Layer::new().file("zeros", &vec![0u8; 16 << 20]).finish();
    super::support::apply(&tar, &sandbox.root).unwrap();
    let md = fs::metadata(sandbox.path("zeros")).unwrap();
    assert_eq!(md.len(), 16 << 20);
    assert!(md.blocks() * 512 < 1 << 20);
}

#[test]
fn declared_size_above_the_cap_is_refused() {
    let sandbox = Sandbox::new();
    let tar = Layer::new().file("f", &[1u8; 2048]).finish();
    let mut opts = options(UnpackMode::Apply, Privileges::Root, false);
    opts.max_file_size = 1024;
    let err = unpack_layer(tar.as_slice(), &sandbox.root, &opts).unwrap_err();
    assert!(matches!(
        entry_problem(err).2,
        EntryProblem::TooLarge {
            size: 2048,
            limit: 1024
        }
    ));
}

#[test]
fn oversized_pax_header_is_refused_without_buffering_it() {
    let sandbox = Sandbox::new();
    let huge = vec![b'a'; (MAX_ENTRY_METADATA as usize) + 4096];
    let tar = Layer::new()
        .file("ok", b"1")
        .pax(&[("comment", &huge)])
        .file("after", b"2")
        .finish();
    let err = super::support::apply(&tar, &sandbox.root).unwrap_err();
    match err {
        UnpackError::MetadataTooLarge { after, .. } => assert_eq!(after.as_deref(), Some("ok")),
        other => panic!("expected MetadataTooLarge, got {other:?}"),
    }
}

#[test]
fn oversized_gnu_long_name_is_refused() {
    let sandbox = Sandbox::new();
    let name = "a/".repeat((MAX_ENTRY_METADATA as usize) / 2 + 10);
    let tar = Layer::new().file(&name, b"x").finish();
    let err = super::support::apply(&tar, &sandbox.root).unwrap_err();
    assert!(
        matches!(err, UnpackError::MetadataTooLarge { .. }),
        "{err:?}"
    );
}

#[test]
fn entry_replacing_the_root_is_refused() {
    let layer = Layer::new().symlink("./", "/").finish();
    with_both_resolvers(&[layer], |sandbox, result| {
        let (_, kind, problem) = entry_problem(result.unwrap_err());
        assert_eq!(kind, EntryKind::Symlink);
        assert!(matches!(problem, EntryProblem::ReplacesRoot));
        assert!(sandbox.root.is_dir());
    });
}

#[test]
fn pax_sparse_file_is_refused_not_written_as_its_map() {
    let sandbox = Sandbox::new();
    let tar = Layer::new()
        .pax(&[
            ("GNU.sparse.major", b"1"),
            ("GNU.sparse.minor", b"0"),
            ("GNU.sparse.name", b"holes"),
            ("GNU.sparse.realsize", b"1048576"),
        ])
        .file("GNUSparseFile.0/holes", b"1\n1048064\n512\n")
        .finish();
    let err = super::support::apply(&tar, &sandbox.root).unwrap_err();
    assert!(matches!(entry_problem(err).2, EntryProblem::PaxSparse));
}

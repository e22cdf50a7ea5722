//! A layer tar as `hoist pull` unpacks it (`unpack_layer`, diff mode, as the layer store does):
//! headers (ustar, GNU long names, PAX, sparse), paths, links, whiteouts and modes from the
//! input, applied below a fresh directory. Any input must end in a report or an error; nothing
//! may be written outside the directory (checked: the directory's parent stays as it was).
#![no_main]

use hoist::unpack::{unpack_layer, UnpackOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(outer) = tempfile::tempdir() else {
        return;
    };
    let target = outer.path().join("diff");
    if std::fs::create_dir(&target).is_err() {
        return;
    }
    let _ = unpack_layer(data, &target, &UnpackOptions::diff());
    let names: Vec<_> = std::fs::read_dir(outer.path())
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("diff")],
        "an entry escaped the target"
    );
});

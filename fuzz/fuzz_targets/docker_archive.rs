//! An archive as `hoist load` and `hoist copy docker-archive:` read it: the tar's members (path
//! safety, links inside the archive), `manifest.json` or an OCI `index.json`, and the images
//! synthesized from them, with blobs spooled into a content store. Any input must give images
//! or an error.
#![no_main]

use std::path::Path;

use hoist::copy::Archive;
use hoist::store::ContentStore;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let Ok(content) = ContentStore::open(dir.path()) else {
        return;
    };
    if let Ok(archive) = Archive::read_any(Path::new("fuzz.tar"), content, data) {
        let _ = archive.entries();
    }
});

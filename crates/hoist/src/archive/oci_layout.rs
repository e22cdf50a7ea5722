//! Writing an OCI image layout directory as one tarball: what `oci-archive:` holds (skopeo's
//! `oci-archive` transport tars a layout it built in a temporary directory the same way).
//!
//! The tarball holds `oci-layout`, `index.json` and `blobs/<alg>/<hex>` with their
//! directories, nothing else (a content store's `ingest/`, lock and temporary files stay out).
//! Entries are in lexical order, `0644` files and `0755` directories owned by 0:0 with mtime
//! 0, so the same layout always gives the same bytes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tar::{Builder, EntryType};

use super::members::{OCI_INDEX_FILE, OCI_LAYOUT_FILE};
use super::save::header;
use super::ArchiveError;

/// Writes the layout at `root` to `out` as a tarball (see the module docs). Blocking.
pub fn write_oci_layout(root: &Path, out: &mut dyn Write) -> Result<(), ArchiveError> {
    let mut entries: BTreeMap<String, Option<PathBuf>> = BTreeMap::new();
    for name in [OCI_LAYOUT_FILE, OCI_INDEX_FILE] {
        entries.insert(name.to_owned(), Some(root.join(name)));
    }
    let read_dir = |dir: &Path| std::fs::read_dir(dir).map_err(ArchiveError::Read);
    entries.insert("blobs/".to_owned(), None);
    for algorithm in read_dir(&root.join("blobs"))? {
        let algorithm = algorithm.map_err(ArchiveError::Read)?;
        if !algorithm.file_type().map_err(ArchiveError::Read)?.is_dir() {
            continue;
        }
        let alg = algorithm.file_name().to_string_lossy().into_owned();
        entries.insert(format!("blobs/{alg}/"), None);
        for blob in read_dir(&algorithm.path())? {
            let blob = blob.map_err(ArchiveError::Read)?;
            let name = blob.file_name().to_string_lossy().into_owned();
            // Only committed blobs (their names are hex digests), no temporary files.
            if !blob.file_type().map_err(ArchiveError::Read)?.is_file()
                || !name.bytes().all(|b| b.is_ascii_hexdigit())
            {
                continue;
            }
            entries.insert(format!("blobs/{alg}/{name}"), Some(blob.path()));
        }
    }
    let mut builder = Builder::new(out);
    for (name, file) in &entries {
        let written = match file {
            None => {
                let mut h = header(EntryType::Directory, 0o755, 0, 0);
                builder.append_data(&mut h, name, io::empty())
            }
            Some(path) => {
                let file = File::open(path).map_err(ArchiveError::Read)?;
                let size = file.metadata().map_err(ArchiveError::Read)?.len();
                let mut h = header(EntryType::Regular, 0o644, size, 0);
                builder.append_data(&mut h, name, file)
            }
        };
        written.map_err(ArchiveError::Write)?;
    }
    builder.finish().map_err(ArchiveError::Write)?;
    builder
        .into_inner()
        .and_then(|out| out.flush())
        .map_err(ArchiveError::Write)
}

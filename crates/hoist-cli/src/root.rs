//! Where the local store lives (DESIGN.md, "The local store"): `--root DIR`, else
//! `$HOIST_ROOT` (both through clap), else `/var/lib/hoist` for root and
//! `$XDG_DATA_HOME/hoist` (default `~/.local/share/hoist`) for everyone else — the split
//! docker (root) and podman (rootless) users expect.

use std::path::PathBuf;

use hoist::store::{ContentStore, MetadataStore};

use crate::failure::CliError;

/// Opens (creating it if needed) the store at the root these flags choose.
pub fn open_store(flag: Option<&PathBuf>) -> Result<MetadataStore, CliError> {
    let root = store_root(flag)?;
    let content = ContentStore::open(&root)?;
    Ok(MetadataStore::open(&content)?)
}

/// The store root for these flags.
pub fn store_root(flag: Option<&PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(root) = flag {
        return Ok(root.clone());
    }
    if rustix::process::geteuid().is_root() {
        return Ok(PathBuf::from("/var/lib/hoist"));
    }
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(data).join("hoist"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/hoist")),
        None => Err(CliError::Usage(
            "cannot choose a store root: HOME is not set; pass --root DIR or set HOIST_ROOT"
                .to_string(),
        )),
    }
}

//! Temporary layer directories: where a layer is unpacked before it may become visible.
//!
//! `layers/.tmp-<pid>-<n>-<nanos>/` holds `diff/` (the unpack target) and, once the unpack
//! succeeded, `layer.json` and (unprivileged) `unapplied.jsonl`. The directory is removed
//! when its `TempLayer` is dropped unless it was published (renamed to `layers/<chainID>`).
//! A process killed mid-unpack leaves a `.tmp-` directory that nothing reads; garbage
//! collection, which runs only while no writer holds a lease, deletes it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::unpack::nofollow::remove_tree;
use crate::unpack::{Privileges, TarFacts, UnpackReport, WhiteoutFormat};

/// Prefix of temporary directories under `layers/`.
pub const TEMP_PREFIX: &str = ".tmp-";
/// The unpacked tree inside a layer directory.
pub const DIFF_DIR: &str = "diff";
/// A layer's description, beside `diff/`.
pub const LAYER_FILE: &str = "layer.json";
/// What an unprivileged unpack could not apply ([`UnpackReport::write_manifest`]).
pub const UNAPPLIED_FILE: &str = "unapplied.jsonl";

/// What `layer.json` says about a layer directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerMeta {
    /// The layer's diffID.
    pub diff_id: Digest,
    /// How whiteouts are kept in `diff/`: `"overlay"` or `"marker"`.
    pub whiteouts: String,
    /// Whether ownership and devices were applied (`"root"`) or recorded (`"rootless"`).
    pub privileges: String,
    /// Bytes of regular-file content the layer declared.
    pub size: u64,
    /// What the tar said that `diff/` cannot show; `None` for layers unpacked before hoist
    /// recorded it (export then applies the blobs instead of `diff/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tar: Option<TarFacts>,
}

impl LayerMeta {
    /// The whiteout format, `Marker` for anything but `"overlay"`.
    pub fn whiteout_format(&self) -> WhiteoutFormat {
        if self.whiteouts == "overlay" {
            WhiteoutFormat::Overlay
        } else {
            WhiteoutFormat::Marker
        }
    }

    /// Reads `layer.json` of the layer directory `dir`.
    pub fn read(dir: &Path) -> io::Result<LayerMeta> {
        let bytes = fs::read(dir.join(LAYER_FILE))?;
        serde_json::from_slice(&bytes).map_err(io::Error::other)
    }
}

/// A layer directory not (yet) visible; removed on drop unless published.
#[derive(Debug)]
pub(crate) struct TempLayer {
    path: Option<PathBuf>,
}

impl TempLayer {
    /// Creates a fresh `layers/.tmp-…/diff/`.
    pub(crate) fn create(layers_dir: &Path) -> io::Result<TempLayer> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "{TEMP_PREFIX}{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = layers_dir.join(name);
        fs::create_dir(&path)?;
        let temp = TempLayer { path: Some(path) };
        fs::create_dir(temp.diff())?;
        Ok(temp)
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Its `diff/`.
    pub(crate) fn diff(&self) -> PathBuf {
        self.path().join(DIFF_DIR)
    }

    /// Writes `layer.json` (and `unapplied.jsonl` when unprivileged) after a successful unpack.
    pub(crate) fn describe(
        &self,
        diff_id: &Digest,
        whiteouts: WhiteoutFormat,
        privileges: Privileges,
        report: &UnpackReport,
    ) -> io::Result<LayerMeta> {
        let meta = LayerMeta {
            diff_id: diff_id.clone(),
            whiteouts: match whiteouts {
                WhiteoutFormat::Overlay => "overlay",
                WhiteoutFormat::Marker => "marker",
            }
            .to_owned(),
            privileges: match privileges {
                Privileges::Root => "root",
                Privileges::Rootless => "rootless",
            }
            .to_owned(),
            size: report.content_bytes,
            tar: report.implicit_dirs.clone().map(|implicit_dirs| TarFacts {
                root_entry: report.root_entry,
                implicit_dirs,
                xattrs: report.xattrs,
                opaque_dirs: report.opaque_dirs,
            }),
        };
        if privileges == Privileges::Rootless {
            report.write_manifest(&self.path().join(UNAPPLIED_FILE))?;
        }
        let json = serde_json::to_vec(&meta).map_err(io::Error::other)?;
        fs::write(self.path().join(LAYER_FILE), json)?;
        Ok(meta)
    }

    /// Renames the directory to `to`; it is no longer removed on drop.
    pub(crate) fn publish(mut self, to: &Path) -> io::Result<()> {
        let from = self.path.take().unwrap_or_default();
        match fs::rename(&from, to) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.path = Some(from);
                Err(e)
            }
        }
    }
}

impl Drop for TempLayer {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            if let Err(e) = remove_tree(&path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove a temporary layer directory; gc will");
            }
        }
    }
}

//! `--since STATE`: what a previous `--dest dir` export holds, so the next export across the
//! air gap carries only what it lacks — [`PreviousExport`].
//!
//! # STATE
//! The previous export's directory (the OCI layout `--dest dir` wrote), or only its
//! `index.json`: the path of that file, or a directory holding it (kept on the connected
//! side when the disk went across). From its entries hoist learns which images the far side
//! has and, by walking each entry's manifests, every manifest and blob they hold. A manifest
//! is read from STATE's `blobs/` when it is there, else from the source of the image this
//! run plans under the same name (by digest: a registry keeps a manifest its tag moved
//! away from until it is deleted). An entry whose manifests can be read from neither is
//! left out with a warning: its blobs are exported again, never lost.
//!
//! # What the export then holds
//! - an image whose name STATE's `index.json` gives the same digest is up to date and is not
//!   written at all;
//! - any other image gets its entry and every manifest it needs (small, and what `--src dir`
//!   walks), but only the configs and layers STATE lacks: the sink takes those as present
//!   (`sink`), so the new directory holds only new blobs.
//!
//! Such a directory is not a complete layout on its own: `--src dir` of it into a registry
//! that received the previous export (or one fed the same way, in order) finds the missing
//! blobs there (`Layer already exists`), while into an empty registry it fails naming the
//! blob it lacks. Chains work: `--since` the second export's directory knows only the
//! second export's entries and their blobs as listed in its manifests — which is everything
//! the far side has after the two pushes.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::plan::SyncImage;
use super::run::open_source;
use super::SyncError;
use crate::copy::{plan as walk_plan, ImageLocation, ImageSource, LayoutSource};
use crate::digest::Digest;
use crate::media::Descriptor;
use crate::registry::RegistryClient;
use crate::store::layout::{read_index_manifests, IndexEntry, INDEX_FILE};
use crate::transfer::blocking;

/// What a previous export holds (see the module docs).
#[derive(Debug, Default)]
pub struct PreviousExport {
    /// Its named entries: name ⇒ digest.
    names: HashMap<String, Digest>,
    /// Every manifest, config and layer of its entries that could be walked.
    held: HashSet<Digest>,
}

impl PreviousExport {
    /// Reads STATE at `path`, walking each entry's manifests from STATE or from the source of
    /// the image of `images` with the same name.
    pub async fn read(
        client: &RegistryClient,
        path: &Path,
        images: &[SyncImage],
    ) -> Result<PreviousExport, SyncError> {
        let dir = state_dir(path)?;
        let entries = {
            let index_dir = dir.clone();
            let task = format!("reading {}", path.display());
            blocking(&task, move || read_index_manifests(&index_dir))
                .await?
                .map_err(|e| SyncError::Layout {
                    path: dir.clone(),
                    source: Box::new(e),
                })?
        };
        let mut previous = PreviousExport::default();
        for entry in entries {
            previous.add(client, &dir, &entry, images).await;
        }
        Ok(previous)
    }

    /// Whether the previous export holds the manifest or blob `digest`.
    pub fn holds(&self, digest: &Digest) -> bool {
        self.held.contains(digest)
    }

    /// The digest the previous export names `name` with.
    pub fn named(&self, name: &str) -> Option<&Digest> {
        self.names.get(name)
    }

    /// One entry: its name, and what its manifests name.
    async fn add(
        &mut self,
        client: &RegistryClient,
        dir: &Path,
        entry: &IndexEntry,
        images: &[SyncImage],
    ) {
        if let Some(name) = &entry.ref_name {
            self.names.insert(name.clone(), entry.digest.clone());
        }
        self.held.insert(entry.digest.clone());
        let root = Descriptor::new(&entry.media_type, entry.digest.clone(), entry.size);
        let in_state = crate::copy::layout::blob_path(dir, &entry.digest);
        let source: Box<dyn ImageSource> =
            if tokio::fs::try_exists(&in_state).await.unwrap_or(false) {
                Box::new(LayoutSource::new(dir, None))
            } else {
                let same_name = images.iter().find(|image| match &image.destination {
                    ImageLocation::Layout { tag, .. } => tag.is_some() && *tag == entry.ref_name,
                    _ => false,
                });
                match same_name.map(|image| open_source(client, &image.source)) {
                    Some(Ok(source)) => source,
                    _ => {
                        tracing::warn!(
                            digest = %entry.digest, name = ?entry.ref_name,
                            "--since: the manifest is neither in STATE nor at a source; its blobs \
                             are exported again"
                        );
                        return;
                    }
                }
            };
        match walk_plan(source.as_ref(), &root, None, false).await {
            Ok(plan) => {
                let manifests = plan.manifests.into_iter().map(|(d, _)| d.digest);
                let blobs = plan.blobs.into_iter().map(|(d, _)| d.digest);
                self.held.extend(manifests.chain(blobs));
            }
            Err(e) => tracing::warn!(
                digest = %entry.digest, error = %e,
                "--since: cannot read what this entry holds; its blobs are exported again"
            ),
        }
    }
}

/// The directory whose `index.json` STATE names.
fn state_dir(path: &Path) -> Result<PathBuf, SyncError> {
    let refused = |reason: &str| SyncError::Since {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if path.is_dir() {
        if !path.join(INDEX_FILE).is_file() {
            return Err(refused("no index.json in it: not a previous export"));
        }
        return Ok(path.to_owned());
    }
    if path.file_name().is_some_and(|n| n == INDEX_FILE) && path.is_file() {
        return Ok(match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        });
    }
    Err(refused(
        "expected a previous export's directory or its index.json",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_a_directory_with_an_index_or_the_index_itself() {
        let dir = tempfile::tempdir().unwrap();
        assert!(state_dir(dir.path()).is_err(), "no index.json");
        let index = dir.path().join(INDEX_FILE);
        std::fs::write(&index, r#"{"schemaVersion":2,"manifests":[]}"#).unwrap();

        assert_eq!(state_dir(dir.path()).unwrap(), dir.path());
        assert_eq!(state_dir(&index).unwrap(), dir.path());
        assert!(state_dir(&dir.path().join("other.json")).is_err());
    }
}

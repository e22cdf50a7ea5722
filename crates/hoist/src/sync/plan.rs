//! From a [`Source`] to the images to move: [`plan`] returns a [`SyncPlan`], each
//! [`SyncImage`] a source location and the destination location it goes to (named as
//! `spec` says).
//!
//! skopeo's `imagesToCopy`, with the same sources:
//! - a registry reference with a tag or digest is one image; a repository alone is every tag
//!   the registry lists (`GET /v2/NAME/tags/list`, following `Link` pagination:
//!   [`crate::registry::RemoteRepository::tags`]); none at all is an error;
//! - a directory is an OCI layout's named entries (its unnamed ones are referrers, which the
//!   copy of their subjects carries), or skopeo's `dir:` images below it (every
//!   directory holding a `manifest.json`; the walk does not go into an image, nor follow
//!   symlinks);
//! - a file lists registries and repositories (`file`); each repository's tags are listed
//!   only when its filter needs them.
//!
//! A repository of a file whose tags cannot be listed (missing, refused, unreachable) is a
//! [`PlanFailure`] and the others are still planned (skopeo logs it and carries on, and then
//! exits 0; hoist reports it and the run fails, after the rest with `--keep-going`).
//! Nothing here writes anything.

use std::path::{Path, PathBuf};

use super::file::SourceFile;
use super::filter::TagFilter;
use super::spec::{dir_suffix, registry_suffix, Destination, Source};
use super::SyncError;
use crate::copy::dir::DIR_MANIFEST_FILE;
use crate::copy::ImageLocation;
use crate::digest::Digest;
use crate::reference::{Reference, Repository, Tag};
use crate::registry::RegistryClient;
use crate::store::layout::{read_index_manifests, OCI_LAYOUT_FILE};
use crate::transfer::blocking;

/// One image to sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncImage {
    /// Where it is.
    pub source: ImageLocation,
    /// Where it goes.
    pub destination: ImageLocation,
}

/// A repository whose images could not be planned.
#[derive(Debug)]
pub struct PlanFailure {
    /// The repository (or file entry) as the source names it.
    pub repository: String,
    /// Why.
    pub error: SyncError,
}

/// What a sync will do.
#[derive(Debug, Default)]
pub struct SyncPlan {
    /// The images, in the order they are synced.
    pub images: Vec<SyncImage>,
    /// Repositories that could not be listed.
    pub failures: Vec<PlanFailure>,
}

/// Plans the sync of `source` into `destination` (see the module docs); `scoped` keeps the
/// whole source name at the destination.
pub async fn plan(
    client: &RegistryClient,
    source: &Source,
    file: Option<&SourceFile>,
    destination: &Destination,
    scoped: bool,
) -> Result<SyncPlan, SyncError> {
    match source {
        Source::Registry(reference) => {
            let images = registry_images(client, reference, &TagFilter::All).await?;
            if images.is_empty() {
                return Err(SyncError::Empty {
                    source_name: reference.to_string(),
                });
            }
            let images = name_registry_images(images, destination, scoped)?;
            Ok(SyncPlan {
                images,
                failures: Vec::new(),
            })
        }
        Source::Dir(dir) => {
            if matches!(destination, Destination::Layout(_)) {
                return Err(SyncError::DirToDir);
            }
            let found = dir_images(dir.clone()).await?;
            if found.is_empty() {
                return Err(SyncError::Empty {
                    source_name: dir.display().to_string(),
                });
            }
            let images = found
                .into_iter()
                .map(|(source, relative)| {
                    let destination = destination.location(&dir_suffix(&relative, scoped))?;
                    Ok(SyncImage {
                        source,
                        destination,
                    })
                })
                .collect::<Result<Vec<_>, SyncError>>()?;
            Ok(SyncPlan {
                images,
                failures: Vec::new(),
            })
        }
        Source::File(path) => {
            let read;
            let file = match file {
                Some(file) => file,
                None => {
                    read = SourceFile::read(path)?;
                    &read
                }
            };
            Ok(file_images(client, file, destination, scoped).await)
        }
    }
}

/// Every image a file names, repository by repository.
async fn file_images(
    client: &RegistryClient,
    file: &SourceFile,
    destination: &Destination,
    scoped: bool,
) -> SyncPlan {
    let mut plan = SyncPlan::default();
    for (registry, images) in &file.registries {
        for (path, filter) in &images.repositories {
            let name = format!("{registry}/{path}");
            let planned = async {
                let repository = Repository::parse(&name)?;
                let found = registry_images(client, &repository.into(), filter).await?;
                name_registry_images(found, destination, scoped)
            };
            match planned.await {
                Ok(found) => plan.images.extend(found),
                Err(error) => plan.failures.push(PlanFailure {
                    repository: name,
                    error,
                }),
            }
        }
    }
    plan
}

/// The registry images `reference` names: itself when it has a tag or digest, else the
/// repository's tags `filter` takes (listed ones without asking the registry).
async fn registry_images(
    client: &RegistryClient,
    reference: &Reference,
    filter: &TagFilter,
) -> Result<Vec<Reference>, SyncError> {
    if !reference.is_name_only() {
        return Ok(vec![reference.clone()]);
    }
    if let TagFilter::Listed(references) = filter {
        return references
            .iter()
            .map(|r| with_reference(reference, r))
            .collect();
    }
    let repository = reference.repository();
    let tags = client
        .repository(repository.domain(), repository.path())
        .tags(None)
        .await
        .map_err(|e| SyncError::List {
            repository: repository.to_string(),
            source: Box::new(e),
        })?;
    let mut images = Vec::new();
    for tag in tags.iter().filter(|t| filter.admits(t)) {
        match Tag::parse(tag) {
            Ok(tag) => images.push(reference.with_tag(tag)),
            // skopeo logs such a tag and goes on.
            Err(e) => tracing::warn!(%repository, %tag, error = %e, "skipping a malformed tag"),
        }
    }
    Ok(images)
}

/// `repository` with `text`: a digest when it parses as one (skopeo tries that first), else
/// a tag.
fn with_reference(repository: &Reference, text: &str) -> Result<Reference, SyncError> {
    if let Ok(digest) = Digest::parse(text) {
        return Ok(repository.with_digest(digest));
    }
    let tag = Tag::parse(text).map_err(|e| SyncError::Filter {
        repository: repository.repository().to_string(),
        filter: text.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(repository.with_tag(tag))
}

fn name_registry_images(
    references: Vec<Reference>,
    destination: &Destination,
    scoped: bool,
) -> Result<Vec<SyncImage>, SyncError> {
    references
        .into_iter()
        .map(|reference| {
            let destination = destination.location(&registry_suffix(&reference, scoped))?;
            Ok(SyncImage {
                source: ImageLocation::Registry(reference),
                destination,
            })
        })
        .collect()
}

/// The images of a `--src dir` directory with the path (or entry name) that names each.
async fn dir_images(dir: PathBuf) -> Result<Vec<(ImageLocation, String)>, SyncError> {
    blocking("the directory walk", move || find_dir_images(&dir)).await?
}

/// Blocking: see [`dir_images`].
fn find_dir_images(dir: &Path) -> Result<Vec<(ImageLocation, String)>, SyncError> {
    let io = |path: &Path, source: std::io::Error| SyncError::Read {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(dir).map_err(|e| io(dir, e))?;
    if !meta.is_dir() {
        return Err(io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        ));
    }
    if dir.join(OCI_LAYOUT_FILE).is_file() {
        let entries = read_index_manifests(dir).map_err(|e| SyncError::Layout {
            path: dir.to_owned(),
            source: Box::new(e),
        })?;
        let mut images = Vec::new();
        for entry in entries {
            let Some(name) = entry.ref_name else {
                // Referrers (`--dest dir` keeps them so) travel with their subjects.
                tracing::debug!(digest = %entry.digest, "an unnamed layout entry is no image");
                continue;
            };
            let location = ImageLocation::Layout {
                path: dir.to_owned(),
                tag: Some(name.clone()),
            };
            images.push((location, name));
        }
        return Ok(images);
    }
    let mut images = Vec::new();
    walk_dir_images(dir, dir, &mut images)?;
    images.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(images)
}

/// skopeo's `imagesToCopyFromDir`: `dir` is an image when it holds `manifest.json` (named by
/// its path below `base`, or by its own name when it is `base`); else its subdirectories are
/// searched.
fn walk_dir_images(
    base: &Path,
    dir: &Path,
    images: &mut Vec<(ImageLocation, String)>,
) -> Result<(), SyncError> {
    let io = |path: &Path, source: std::io::Error| SyncError::Read {
        path: path.to_owned(),
        source,
    };
    if dir.join(DIR_MANIFEST_FILE).is_file() {
        let relative = match dir.strip_prefix(base) {
            Ok(r) if !r.as_os_str().is_empty() => r.to_string_lossy().into_owned(),
            _ => base
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        images.push((ImageLocation::Dir(dir.to_owned()), relative));
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        // Symlinks are not followed (a loop, or a tree outside DIR).
        if entry
            .file_type()
            .map_err(|e| io(&entry.path(), e))?
            .is_dir()
        {
            walk_dir_images(base, &entry.path(), images)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skopeo_dir_trees_are_found_below_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        for image in ["busybox:1-glibc", "team/app:v1"] {
            let path = dir.path().join(image);
            std::fs::create_dir_all(&path).unwrap();
            std::fs::write(path.join("manifest.json"), "{}").unwrap();
        }
        std::fs::create_dir_all(dir.path().join("empty/deeper")).unwrap();

        let found = find_dir_images(dir.path()).unwrap();

        let names: Vec<&str> = found.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["busybox:1-glibc", "team/app:v1"]);
        assert_eq!(
            found[1].0,
            ImageLocation::Dir(dir.path().join("team/app:v1"))
        );
    }

    #[test]
    fn a_dir_image_given_itself_is_named_by_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("busybox:1-glibc");
        std::fs::create_dir_all(&image).unwrap();
        std::fs::write(image.join("manifest.json"), "{}").unwrap();

        let found = find_dir_images(&image).unwrap();

        assert_eq!(found[0].1, "busybox:1-glibc");
    }

    #[test]
    fn listed_references_are_digests_when_they_parse_as_one() {
        let repo = Reference::parse("r.example/redis").unwrap();
        let digest = format!("sha256:{}", "01".repeat(32));

        let by_digest = with_reference(&repo, &digest).unwrap();
        let by_tag = with_reference(&repo, "1.0").unwrap();

        assert_eq!(by_digest.to_string(), format!("r.example/redis@{digest}"));
        assert_eq!(by_tag.to_string(), "r.example/redis:1.0");
        assert!(with_reference(&repo, "not a tag").is_err());
    }
}

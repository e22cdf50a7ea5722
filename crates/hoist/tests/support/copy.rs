//! Shared helpers for the copy integration tests: a multi-platform index built and pushed by
//! the testkit (independently of hoist), `copy` between two locations with a fast backoff, and
//! reads of what a registry holds.
#![allow(dead_code)]

use hoist::copy::{
    copy, Archive, ArchiveFormat, ArchiveImage, CopyError, CopyOptions, CopyOutcome, DirSink,
    DirSource, DockerArchiveSink, ImageLocation, ImageSink, ImageSource, LayoutSink, LayoutSource,
    OciArchiveSink, RegistryImage,
};
use hoist::registry::RegistryClient;
use hoist_testkit::{Image, ImageBuilder, ImagePusher, Index, Layer, ManifestFormat, TestRegistry};

use crate::support::pull::{anonymous_client, Recorder};

/// A two-platform index (linux/amd64, linux/arm64/v8), each image with a small layer and a
/// 300 KiB random one.
pub fn two_platform_index(format: ManifestFormat) -> Index {
    let image = |arch: &str, variant: Option<&str>| {
        ImageBuilder::new()
            .format(format)
            .platform("linux", arch, variant)
            .layer(Layer::from_files(&[("arch.txt", arch.as_bytes())]).unwrap())
            .layer(Layer::random(300 << 10).unwrap())
            .build()
            .unwrap()
    };
    Index::new(
        format,
        vec![image("amd64", None), image("arm64", Some("v8"))],
    )
    .unwrap()
}

/// A three-platform index (linux/amd64, linux/arm64/v8, linux/s390x), each image with a
/// small layer and a 100 KiB random one.
pub fn three_platform_index(format: ManifestFormat) -> Index {
    let image = |arch: &str, variant: Option<&str>| {
        ImageBuilder::new()
            .format(format)
            .platform("linux", arch, variant)
            .layer(Layer::from_files(&[("arch.txt", arch.as_bytes())]).unwrap())
            .layer(Layer::random(100 << 10).unwrap())
            .build()
            .unwrap()
    };
    Index::new(
        format,
        vec![
            image("amd64", None),
            image("arm64", Some("v8")),
            image("s390x", None),
        ],
    )
    .unwrap()
}

/// An image with one layer of `size` random bytes.
pub fn big_image(size: usize) -> Image {
    ImageBuilder::new()
        .layer(Layer::random(size).unwrap())
        .build()
        .unwrap()
}

/// Seeds `registry` with `index` as `repo:tag`.
pub async fn seed_index(registry: &TestRegistry, repo: &str, tag: &str, index: &Index) {
    ImagePusher::new(registry)
        .push_index(repo, tag, index)
        .await
        .unwrap();
}

/// Options with a backoff of milliseconds.
pub fn fast_copy_options() -> CopyOptions {
    CopyOptions {
        upload: crate::support::push::fast_upload(),
        ..CopyOptions::default()
    }
}

/// Copies `src` to `dst` (locations as `hoist copy` takes them) anonymously.
pub async fn copy_between(
    src: &str,
    dst: &str,
    options: CopyOptions,
) -> (Result<CopyOutcome, CopyError>, Recorder) {
    copy_with(&anonymous_client(), src, dst, options).await
}

pub async fn copy_with(
    client: &RegistryClient,
    src: &str,
    dst: &str,
    options: CopyOptions,
) -> (Result<CopyOutcome, CopyError>, Recorder) {
    let progress = Recorder::default();
    let source = match open_source(client, src) {
        Ok(source) => source,
        Err(e) => return (Err(e), progress),
    };
    let root = match source.resolve().await {
        Ok(root) => root,
        Err(e) => return (Err(e), progress),
    };
    let sink: Box<dyn ImageSink> = match ImageLocation::parse(dst).unwrap() {
        ImageLocation::Registry(r) => Box::new(RegistryImage::new(client, &r)),
        ImageLocation::Layout { path, tag } => {
            Box::new(LayoutSink::open(&path, tag.as_deref()).unwrap())
        }
        ImageLocation::Dir(path) => Box::new(DirSink::open(&path).unwrap()),
        ImageLocation::DockerArchive { path, image } => {
            let tag = match image {
                Some(ArchiveImage::Tagged(r)) => Some(r),
                _ => None,
            };
            Box::new(DockerArchiveSink::open(&path, tag.as_ref()).unwrap())
        }
        ImageLocation::OciArchive { path, tag } => {
            Box::new(OciArchiveSink::open(&path, tag.as_deref()).unwrap())
        }
        ImageLocation::Store(_) => panic!("hoist: locations need a store: see copy_store.rs"),
    };
    let result = copy(source.as_ref(), sink.as_ref(), &root, &options, &progress).await;
    (result, progress)
}

/// The source `src` names (every transport but `hoist:`, which needs a store).
pub fn open_source(client: &RegistryClient, src: &str) -> Result<Box<dyn ImageSource>, CopyError> {
    Ok(match ImageLocation::parse(src)? {
        ImageLocation::Registry(r) => Box::new(RegistryImage::new(client, &r)),
        ImageLocation::Layout { path, tag } => Box::new(LayoutSource::new(&path, tag.as_deref())),
        ImageLocation::Dir(path) => Box::new(DirSource::new(&path)),
        ImageLocation::DockerArchive { path, image } => {
            Box::new(Archive::open(&path, ArchiveFormat::Docker)?.select(image.as_ref())?)
        }
        ImageLocation::OciArchive { path, tag } => {
            let archive = Archive::open(&path, ArchiveFormat::Oci)?;
            Box::new(match tag {
                Some(tag) => archive.select_tag(&tag)?,
                None => archive.select(None)?,
            })
        }
        ImageLocation::Store(_) => panic!("hoist: locations need a store: see copy_store.rs"),
    })
}

#[allow(unused_imports)]
pub use super::skopeo::inspect_raw as skopeo_raw;

/// The status of `HEAD /v2/REPO/KIND/REFERENCE` (`manifests` or `blobs`).
pub async fn head_status(base_url: &str, repo: &str, kind: &str, reference: &str) -> u16 {
    hoist_testkit::http_client()
        .unwrap()
        .head(format!("{base_url}/v2/{repo}/{kind}/{reference}"))
        .header(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
             application/vnd.docker.distribution.manifest.v2+json, \
             application/vnd.docker.distribution.manifest.list.v2+json",
        )
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Asserts every blob of every image of `index` is in `repo` of the registry at `base_url`
/// with its exact bytes, and every child manifest is there by digest.
pub async fn assert_index_copied(base_url: &str, repo: &str, index: &Index) {
    for image in &index.images {
        crate::support::push::assert_blobs_equal(base_url, repo, image).await;
        assert_eq!(
            head_status(base_url, repo, "manifests", image.digest()).await,
            200,
            "child manifest {} missing",
            image.digest()
        );
    }
}

/// Requests that wrote blob bytes: PATCHes and upload PUTs closing one of `digests`.
pub fn blob_writes(registry: &TestRegistry, digests: &[&str]) -> usize {
    registry
        .access_log()
        .iter()
        .filter(|e| {
            e.method == "PATCH"
                || (e.method == "PUT"
                    && e.path.contains("/blobs/uploads/")
                    && digests.iter().any(|d| {
                        e.path
                            .contains(&format!("digest={}", d.replace(':', "%3A")))
                    }))
        })
        .count()
}

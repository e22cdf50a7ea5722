//! Viewing an image without storing it: what `hoist digest`, `manifest`, `config`, `blob`,
//! `inspect docker://REF` and `history docker://REF` read (crane's `digest`, `manifest`,
//! `config`, `blob`; skopeo's `inspect`).
//!
//! [`ImageView`] reads through any [`ImageSource`] of the copy engine (a registry through
//! [`crate::copy::RegistryImage`], so mirrors, credentials, `certs.d` and `insecure` apply as
//! for a pull; the local store or an OCI layout alike), so there is one way to resolve a
//! reference and read verified manifests. Nothing is written anywhere.
//!
//! | file | owns |
//! |---|---|
//! | `mod` | [`ImageView`]: resolve, root manifest bytes, platform choice, config, verified blob stream; [`ViewError`] |
//! | [`inspect`] | [`RemoteInspect`]: skopeo's `inspect` output |
//! | [`history`] | [`HistoryRow`]: docker's `image history` rows from a config |
//!
//! Platform choice is docker's: an index's entries are matched with [`crate::media::PlatformMatcher`] (the
//! platform asked for, else the host's), best first; a nested index is followed (at most
//! [`MAX_INDEX_DEPTH`] deep). The choice is the one descriptor walk ([`Walker::platform`]).
//!
//! Invariants: every manifest returned was verified against its descriptor by the source;
//! [`ImageView::config`] verifies the config blob's digest and size before returning it;
//! [`ImageView::write_blob`] hashes every byte it passes on and fails after the last one if
//! they do not hash to the digest asked for (the bytes are already out: a caller streaming to
//! a pipe reports the failure through its exit status, as `crane blob` does).

pub mod history;
pub mod inspect;

use bytes::Bytes;
use futures_util::StreamExt;

use crate::copy::{CopyError, ImageSource};
use crate::digest::{Digest, Hasher};
use crate::media::{
    ConfigError, Descriptor, ImageConfig, ImageManifest, Manifest, ManifestError,
    NoMatchingManifest, Platform, WalkError, WalkLimits, Walker, MAX_CONFIG_SIZE,
};

pub use history::{history_rows, HistoryRow};
pub use inspect::{InspectLayer, RemoteInspect};

/// How many indexes deep [`ImageView::image`] follows before giving up: the walker's limit.
pub use crate::media::MAX_INDEX_DEPTH;

/// An image manifest chosen from a reference: the manifest and, when it came from an index,
/// the index's descriptor.
#[derive(Debug, Clone)]
pub struct ChosenImage {
    /// The root the reference resolved to (the index, or the manifest itself).
    pub root: Descriptor,
    /// The image manifest's descriptor (equal to `root` without an index).
    pub descriptor: Descriptor,
    /// The image manifest's exact bytes.
    pub bytes: Bytes,
    /// The image manifest, parsed.
    pub manifest: ImageManifest,
}

/// Why an image could not be viewed.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// The source failed (not found, registry refusal, unreadable store).
    #[error(transparent)]
    Source(#[from] Box<CopyError>),

    /// A manifest the source served is not one hoist can read.
    #[error("{location}: manifest {digest}")]
    Manifest {
        /// The source, as written.
        location: String,
        /// The manifest.
        digest: Digest,
        /// Why it was refused.
        #[source]
        source: Box<ManifestError>,
    },

    /// No entry of the index fits the platform (docker's "no matching manifest …").
    #[error(transparent)]
    NoMatchingManifest(#[from] Box<NoMatchingManifest>),

    /// Indexes nested deeper than [`MAX_INDEX_DEPTH`].
    #[error("{location}: indexes nested more than {MAX_INDEX_DEPTH} deep")]
    TooDeep {
        /// The source, as written.
        location: String,
    },

    /// A schema 1 image has no config blob or separate layer list to show.
    #[error("{location}: {digest} is a deprecated schema 1 manifest, which has no config blob")]
    Schema1 {
        /// The source, as written.
        location: String,
        /// The manifest.
        digest: Digest,
    },

    /// The config blob is not an image config hoist can read.
    #[error("{location}: config {digest}")]
    Config {
        /// The source, as written.
        location: String,
        /// The config blob.
        digest: Digest,
        /// Why.
        #[source]
        source: ConfigError,
    },

    /// A blob's bytes do not hash to its digest (or have another size than its descriptor's).
    #[error(
        "{location}: blob {expected} failed verification: the bytes received hash to {actual}"
    )]
    BlobVerification {
        /// The source, as written.
        location: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of the bytes received.
        actual: Digest,
    },

    /// A blob's size differs from the one its descriptor declares.
    #[error("{location}: blob {digest} is {actual} bytes, its descriptor says {declared}")]
    SizeMismatch {
        /// The source, as written.
        location: String,
        /// The blob.
        digest: Digest,
        /// The descriptor's size.
        declared: u64,
        /// The bytes received.
        actual: u64,
    },

    /// The blob is larger than the limit for what it is read as.
    #[error("{location}: blob {digest} is larger than the {limit}-byte limit")]
    TooLarge {
        /// The source, as written.
        location: String,
        /// The blob.
        digest: Digest,
        /// The limit.
        limit: usize,
    },

    /// Writing the blob's bytes to the caller's output failed.
    #[error("cannot write blob {digest}")]
    Output {
        /// The blob.
        digest: Digest,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// One image reference read through an [`ImageSource`]. See the module docs.
pub struct ImageView<'a> {
    source: &'a dyn ImageSource,
}

impl<'a> ImageView<'a> {
    /// A view of the image `source` was opened with.
    pub fn new(source: &'a dyn ImageSource) -> ImageView<'a> {
        ImageView { source }
    }

    /// The source, as written (`docker://host/app:v1`).
    pub fn location(&self) -> String {
        self.source.location()
    }

    /// The descriptor the reference resolves to (digest, media type, size): `hoist digest`.
    pub async fn resolve(&self) -> Result<Descriptor, ViewError> {
        self.source.resolve().await.map_err(|e| Box::new(e).into())
    }

    /// The bytes of the manifest `descriptor` names, verified by the source.
    pub async fn manifest_bytes(&self, descriptor: &Descriptor) -> Result<Bytes, ViewError> {
        self.source
            .manifest(descriptor)
            .await
            .map_err(|e| Box::new(e).into())
    }

    /// The root descriptor and its exact bytes (`hoist manifest` without `--platform`).
    pub async fn root(&self) -> Result<(Descriptor, Bytes), ViewError> {
        let root = self.resolve().await?;
        let bytes = self.manifest_bytes(&root).await?;
        Ok((root, bytes))
    }

    /// The image manifest for `platform` (the host's when `None`): the root itself when it is
    /// an image manifest, else the best match of the index, followed through nested indexes —
    /// the one descriptor walk ([`Walker`]) narrowed to the platform, each manifest read
    /// through the source.
    pub async fn image(&self, platform: Option<&Platform>) -> Result<ChosenImage, ViewError> {
        let (root, root_bytes) = self.root().await?;
        let wanted = platform.cloned().unwrap_or_else(Platform::host);
        let mut walker = Walker::new([root.clone()], WalkLimits::default()).platform(&wanted);
        let mut pending = Some(root_bytes);
        // The walk is a chain (one entry per index): the last manifest read is the choice.
        let mut last = None;
        while let Some(descriptor) = walker.next_manifest() {
            let descriptor = descriptor.clone();
            let bytes = match pending.take() {
                Some(bytes) => bytes,
                None => self.manifest_bytes(&descriptor).await?,
            };
            let manifest = self.parse(&descriptor, &bytes)?;
            walker
                .visit(bytes.clone())
                .map_err(|e| self.walk_error(e))?;
            last = Some((descriptor, bytes, manifest));
        }
        match last {
            Some((descriptor, bytes, Manifest::Image(manifest))) => Ok(ChosenImage {
                root,
                descriptor,
                bytes,
                manifest,
            }),
            Some((descriptor, _, Manifest::Schema1(_))) => Err(ViewError::Schema1 {
                location: self.location(),
                digest: descriptor.digest,
            }),
            // An index naming itself (or one already followed) ends the walk on an index.
            Some((_, _, Manifest::Index(_))) | None => Err(ViewError::TooDeep {
                location: self.location(),
            }),
        }
    }

    /// The config blob of `image`, verified, as its exact bytes.
    pub async fn config_bytes(&self, image: &ChosenImage) -> Result<Bytes, ViewError> {
        let descriptor = &image.manifest.config;
        let mut data = Vec::new();
        self.write_blob_capped(descriptor, MAX_CONFIG_SIZE, |chunk| {
            data.extend_from_slice(chunk);
            Ok(())
        })
        .await?;
        Ok(Bytes::from(data))
    }

    /// The config of `image`, verified and parsed, with its exact bytes.
    pub async fn config(&self, image: &ChosenImage) -> Result<(ImageConfig, Bytes), ViewError> {
        let bytes = self.config_bytes(image).await?;
        let config = ImageConfig::parse(&bytes).map_err(|source| ViewError::Config {
            location: self.location(),
            digest: image.manifest.config.digest.clone(),
            source,
        })?;
        Ok((config, bytes))
    }

    /// Streams the blob `digest` to `out` chunk by chunk, hashing every byte; fails after the
    /// last chunk when they do not hash to `digest` (see the module docs).
    pub async fn write_blob<F>(&self, digest: &Digest, out: F) -> Result<u64, ViewError>
    where
        F: FnMut(&[u8]) -> std::io::Result<()>,
    {
        let descriptor = Descriptor::new("application/octet-stream", digest.clone(), 0);
        self.stream_blob(&descriptor, None, out).await
    }

    async fn write_blob_capped<F>(
        &self,
        descriptor: &Descriptor,
        limit: usize,
        out: F,
    ) -> Result<u64, ViewError>
    where
        F: FnMut(&[u8]) -> std::io::Result<()>,
    {
        if descriptor.size > limit as u64 {
            return Err(self.too_large(&descriptor.digest, limit));
        }
        let written = self.stream_blob(descriptor, Some(limit), out).await?;
        if written != descriptor.size {
            return Err(ViewError::SizeMismatch {
                location: self.location(),
                digest: descriptor.digest.clone(),
                declared: descriptor.size,
                actual: written,
            });
        }
        Ok(written)
    }

    async fn stream_blob<F>(
        &self,
        descriptor: &Descriptor,
        limit: Option<usize>,
        mut out: F,
    ) -> Result<u64, ViewError>
    where
        F: FnMut(&[u8]) -> std::io::Result<()>,
    {
        let digest = &descriptor.digest;
        let mut stream = self
            .source
            .open_blob(descriptor, 0)
            .await
            .map_err(Box::new)?;
        let mut hasher = Hasher::new(digest.algorithm());
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(Box::new)?;
            hasher.update(&chunk);
            if limit.is_some_and(|limit| hasher.bytes_hashed() > limit as u64) {
                return Err(self.too_large(digest, limit.unwrap_or_default()));
            }
            out(&chunk).map_err(|source| ViewError::Output {
                digest: digest.clone(),
                source,
            })?;
        }
        let written = hasher.bytes_hashed();
        let actual = hasher.finish();
        if actual != *digest {
            return Err(ViewError::BlobVerification {
                location: self.location(),
                expected: digest.clone(),
                actual,
            });
        }
        Ok(written)
    }

    fn too_large(&self, digest: &Digest, limit: usize) -> ViewError {
        ViewError::TooLarge {
            location: self.location(),
            digest: digest.clone(),
            limit,
        }
    }

    /// A platform walk's failure in this view's words (malformed and oversized manifests are
    /// caught by [`ImageView::parse`] and the source first).
    fn walk_error(&self, error: WalkError) -> ViewError {
        match error {
            WalkError::NoMatchingManifest(none) => ViewError::NoMatchingManifest(none),
            WalkError::TooDeep { .. } => ViewError::TooDeep {
                location: self.location(),
            },
            WalkError::TooLarge { digest, limit, .. } => {
                self.too_large(&digest, usize::try_from(limit).unwrap_or(usize::MAX))
            }
            WalkError::Malformed { digest, source } => ViewError::Manifest {
                location: self.location(),
                digest,
                source: Box::new(ManifestError::Malformed {
                    format: "manifest",
                    source,
                }),
            },
            // A platform walk adds no referrers; any other refusal is the walk's own sentence.
            other => ViewError::Source(Box::new(CopyError::Walk(Box::new(other)))),
        }
    }

    fn parse(&self, descriptor: &Descriptor, bytes: &[u8]) -> Result<Manifest, ViewError> {
        Manifest::parse(&descriptor.media_type, bytes).map_err(|source| ViewError::Manifest {
            location: self.location(),
            digest: descriptor.digest.clone(),
            source: Box::new(source),
        })
    }
}

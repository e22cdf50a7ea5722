//! Pull as a configuration of the copy engine ([`crate::copy`]): the registry source, the
//! store sink and the options `hoist pull` copies an image manifest with, and how a copy's
//! failure is worded for a pull.
//!
//! - **Source** ([`PullSource`]): the registry image, with the manifests pull already read
//!   (resolved, verified, stored) served from memory, so the walk does not fetch them again.
//! - **Sink**: [`StoreSink::for_pull`], which streams each layer in one pass (fetch → sha256
//!   → decompress → diffID → untar), speaks docker's pull statuses and records the image with
//!   the index it was chosen from; pull records the references itself. Layers go to
//!   [`PullOptions::layers`](super::PullOptions::layers), else to
//!   [`PullOptions::layer_sink`](super::PullOptions::layer_sink), else nowhere, and then the
//!   config's diffIDs are recorded unread (`--no-unpack`), except for schema 1, whose config
//!   is built from them.
//! - **Options**: docker's 3 concurrent downloads, attempts and backoff from
//!   [`PullOptions::download`](super::PullOptions::download); no closing digest line (pull
//!   prints `Digest: D` and `Status: …`).
//! - **Errors** ([`from_copy`]): registry answers through `TranslatePullError`, a layer's
//!   verification as docker words it, the recording's own [`PullError`]s as they are.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use super::image::Origin;
use super::record::ImageResult;
use super::{PullError, Puller};
use crate::copy::{
    BlobStream, CopyError, CopyOptions, ImageSource, LayoutSignatures, RegistryImage, StoreSink,
};
use crate::digest::Digest;
use crate::error::translate_pull_error;
use crate::media::Descriptor;
use crate::reference::{Reference, Repository};
use crate::trust::sigstore::{attachments, RememberedSignatures, Signature};

/// The registry image being pulled, with manifests already read served from memory.
pub(super) struct PullSource {
    image: RegistryImage,
    manifests: HashMap<Digest, Bytes>,
    signatures: RememberedSignatures,
}

impl PullSource {
    /// `image`, with `manifests` (verified bytes by digest) already read, its signatures read
    /// through `signatures` (those the verifier read are not read again).
    pub(super) fn new(
        image: RegistryImage,
        manifests: impl IntoIterator<Item = (Digest, Bytes)>,
        signatures: &RememberedSignatures,
    ) -> PullSource {
        PullSource {
            image,
            manifests: manifests.into_iter().collect(),
            signatures: signatures.clone(),
        }
    }
}

impl ImageSource for PullSource {
    fn location(&self) -> String {
        ImageSource::location(&self.image)
    }

    fn resolve(&self) -> BoxFuture<'_, Result<Descriptor, CopyError>> {
        self.image.resolve()
    }

    fn manifest<'a>(
        &'a self,
        descriptor: &'a Descriptor,
    ) -> BoxFuture<'a, Result<Bytes, CopyError>> {
        match self.manifests.get(&descriptor.digest) {
            Some(bytes) => {
                let bytes = bytes.clone();
                Box::pin(async move { Ok(bytes) })
            }
            None => self.image.manifest(descriptor),
        }
    }

    fn open_blob<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        offset: u64,
    ) -> BoxFuture<'a, Result<BlobStream, CopyError>> {
        self.image.open_blob(descriptor, offset)
    }

    fn open_blob_part<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        part: std::ops::Range<u64>,
    ) -> BoxFuture<'a, Result<Option<BlobStream>, CopyError>> {
        self.image.open_blob_part(descriptor, part)
    }

    fn repository(&self) -> Option<Repository> {
        self.image.repository()
    }

    fn signatures(&self) -> Option<Box<dyn crate::trust::sigstore::SignatureHome>> {
        Some(Box::new(self.signatures.clone()))
    }
}

impl Puller {
    /// The store sink for the image of `origin` (see the module docs); `schema1`: diffIDs
    /// are always computed.
    pub(super) async fn sink(
        &self,
        origin: &Origin<'_>,
        schema1: bool,
    ) -> Result<StoreSink, PullError> {
        let metadata = Arc::clone(&self.metadata);
        let target = origin.target.clone();
        let index = origin.index_digest.clone();
        let sink = self
            .blocking(move || StoreSink::for_pull(metadata, &target, index))
            .await?
            .map_err(|e| from_copy(e, origin.target))?;
        let sink = sink
            .with_source(Some(origin.target.repository().clone()))
            .with_range_fetch(self.options.range_fetch);
        Ok(match (&self.options.layers, &self.options.layer_sink) {
            (Some(layers), _) => sink.with_layers(layers.clone()),
            (None, Some(unpacker)) => sink.with_layer_sink(Arc::clone(unpacker)),
            (None, None) if schema1 => sink,
            (None, None) => sink.trusting_config_diff_ids(),
        })
    }

    /// docker's download settings as the copy engine's.
    pub(super) fn copy_options(&self) -> CopyOptions {
        CopyOptions {
            upload: self.options.download.clone(),
            without_digest_line: true,
            signatures: self.options.signatures,
            ..CopyOptions::default()
        }
    }

    /// Stores the signatures attached by tag to `digests` in `origin`'s repository in the
    /// store, with [`PullOptions::signatures`](super::PullOptions::signatures): for what the
    /// copy engine does not carry itself — the index an image was chosen from, an image
    /// already pulled. Returns how many were added.
    pub(super) async fn carry_signatures(
        &self,
        origin: &Origin<'_>,
        digests: &[Digest],
    ) -> Result<usize, PullError> {
        let found = self.read_signatures(origin, digests).await?;
        self.keep_signatures(origin, found).await
    }

    /// The first half of [`Puller::carry_signatures`]: the signatures of `digests`, read
    /// (none without [`PullOptions::signatures`](super::PullOptions::signatures)).
    pub(super) async fn read_signatures(
        &self,
        origin: &Origin<'_>,
        digests: &[Digest],
    ) -> Result<Vec<(Digest, Vec<Signature>)>, PullError> {
        if !self.options.signatures {
            return Ok(Vec::new());
        }
        let image = format!("docker://{}", origin.target);
        Ok(attachments::read_each(origin.signatures, digests, &image).await?)
    }

    /// The second half of [`Puller::carry_signatures`]: `found` added to the store's.
    pub(super) async fn keep_signatures(
        &self,
        origin: &Origin<'_>,
        found: Vec<(Digest, Vec<Signature>)>,
    ) -> Result<usize, PullError> {
        if found.is_empty() {
            return Ok(0);
        }
        let image = format!("docker://{}", origin.target);
        let location = format!("hoist:{}", origin.target);
        let home = LayoutSignatures::writing(self.metadata.content().clone(), location);
        Ok(attachments::append_each(&home, found, &image).await?)
    }

    /// The image the sink recorded for `manifest_digest`.
    pub(super) async fn recorded(
        &self,
        manifest_digest: &Digest,
    ) -> Result<ImageResult, PullError> {
        let metadata = Arc::clone(&self.metadata);
        let digest = manifest_digest.clone();
        let record = self.blocking(move || metadata.image(&digest)).await??;
        match record {
            Some(record) => Ok(ImageResult::of(&record, true)),
            None => Err(PullError::interrupted(format!(
                "image {manifest_digest} was copied but not recorded"
            ))),
        }
    }
}

/// A copy's failure as a pull's (docker's `TranslatePullError` for registry answers).
pub(super) fn from_copy(error: CopyError, target: &Reference) -> PullError {
    match error {
        CopyError::Record { source, .. } => PullError::Record(source),
        CopyError::Transfer { source, .. } => PullError::Transfer(*source),
        CopyError::Registry { source, .. }
        | CopyError::NotFound {
            source: Some(source),
            ..
        } => PullError::registry(translate_pull_error(*source, target)),
        CopyError::Store { source, .. } => PullError::from(*source),
        CopyError::NoMatchingManifest(e) => PullError::NoMatchingManifest(e),
        CopyError::Manifest { source, .. } => PullError::Manifest {
            reference: target.to_string(),
            source,
        },
        other => PullError::Copy(Box::new(other)),
    }
}

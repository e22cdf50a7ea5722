//! [`CopyError`]: why a copy failed, naming the side (source or destination, as the user wrote
//! it), the digest and the registry's or the store's answer.

use std::time::Duration;

use crate::digest::Digest;
use crate::error::PullErrorMessage;
use crate::media::{ConfigError, ManifestError, NoMatchingManifest, WalkError};
use crate::reference::ReferenceError;
use crate::registry::RegistryError;
use crate::store::{LocalStoreError, MetadataError, StoreError};
use crate::transfer::{Interrupted, Retryable, SendError};

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The source image was refused by the verifier, or could not be judged.
    #[error(transparent)]
    Trust(#[from] Box<crate::trust::TrustError>),
    /// A location on the command line is malformed (`oci:` without a path, a bad reference).
    #[error("invalid image location {input:?}: {reason}")]
    Location {
        /// The location as written.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// A registry reference inside a location is malformed.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The source has no image under the reference asked for.
    #[error("{location}: manifest {reference} not found")]
    NotFound {
        /// The source, as written.
        location: String,
        /// The tag or digest that is missing.
        reference: String,
        /// The registry's answer, when it came from one.
        #[source]
        source: Option<Box<RegistryError>>,
    },
    /// A registry request failed.
    #[error("{location}: {action}")]
    Registry {
        /// The side, as written.
        location: String,
        /// What was being done (`read manifest sha256:…`, `upload blob sha256:…`).
        action: String,
        /// The registry's answer.
        #[source]
        source: Box<RegistryError>,
        /// It came from an upload session, which a 404 or 416 voids: another attempt opens a
        /// new one (`CopyError::upload`). Elsewhere a 404 is final.
        upload: bool,
    },
    /// A layout directory or the local store could not be read or written.
    #[error("{location}: {action}")]
    Store {
        /// The side, as written.
        location: String,
        /// What was being done.
        action: String,
        /// Why.
        #[source]
        source: Box<StoreError>,
    },
    /// The local store's metadata or blobs could not be read while resolving a reference.
    #[error("{location}: cannot resolve the image in the local store")]
    Local {
        /// The source, as written.
        location: String,
        /// Why.
        #[source]
        source: Box<super::store::IndexCheckError>,
    },
    /// The local store's metadata (`hoist.db`) could not be read or written by a sink or
    /// source that keeps records (push's v2 metadata).
    #[error("{location}: {action}")]
    Metadata {
        /// The side, as written.
        location: String,
        /// What was being done.
        action: String,
        /// Why.
        #[source]
        source: Box<MetadataError>,
    },
    /// The local store could not record what was copied into it: the layers do not match
    /// the config's diffIDs ("layers from manifest don't match image configuration"), the
    /// config or a manifest cannot be read, or `hoist.db` or the layer store failed. Nothing
    /// was recorded when the diffIDs did not match.
    #[error("{location}: {source}")]
    Record {
        /// The destination, as written (`hoist:REF`).
        location: String,
        /// Why, as pull words it.
        #[source]
        source: Box<RecordError>,
    },
    /// A file of a layout could not be read.
    #[error("{location}: cannot {action} {path}")]
    Io {
        /// The side, as written.
        location: String,
        /// What was being done (`read`, `open`).
        action: &'static str,
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file of a directory transport (`oci:`, `dir:`, an archive's member) that should be a
    /// blob or a manifest is a symlink, a directory, a FIFO or a device: refused unread.
    #[error("{location}: {path} is {kind}, not a regular file: refusing to read it")]
    NotRegularFile {
        /// The side, as written.
        location: String,
        /// The file.
        path: String,
        /// What it is (`a symlink`, `a FIFO` …).
        kind: &'static str,
    },
    /// A `docker-archive:` or `oci-archive:` could not be read or written.
    #[error("{location}: {source}")]
    Archive {
        /// The side, as written.
        location: String,
        /// What the archive code said.
        #[source]
        source: Box<crate::archive::ArchiveError>,
    },
    /// The source sent bytes that do not hash to the digest they were asked by.
    #[error("{location}: blob {expected} failed verification: the bytes hash to {actual}")]
    DigestMismatch {
        /// The source, as written.
        location: String,
        /// The digest asked for.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
    },
    /// The source sent a different number of bytes than the descriptor says.
    #[error("{location}: blob {digest} has {actual} bytes, its descriptor says {expected}")]
    SizeMismatch {
        /// The source, as written.
        location: String,
        /// The blob.
        digest: Digest,
        /// The descriptor's size.
        expected: u64,
        /// Bytes received.
        actual: u64,
    },
    /// A manifest does not parse.
    #[error("manifest {digest} cannot be read")]
    Manifest {
        /// The manifest.
        digest: Digest,
        /// Why.
        #[source]
        source: Box<ManifestError>,
    },
    /// A Docker schema 1 manifest: its digest is not over its bytes, so it cannot be copied
    /// verified (skopeo converts it; hoist refuses, as `docker push` cannot push one either).
    #[error("manifest {digest} is Docker schema 1, which copy does not support")]
    Schema1 {
        /// The manifest.
        digest: Digest,
    },
    /// The walk over the image's graph refused it: indexes nested too deep, a manifest too
    /// large.
    #[error(transparent)]
    Walk(Box<WalkError>),
    /// `--platform` matches no manifest of the index.
    #[error(transparent)]
    NoMatchingManifest(Box<NoMatchingManifest>),
    /// The registry answered `413 Payload Too Large` even to the smallest chunk allowed.
    #[error("{location}: registry refuses chunks of {chunk} bytes for blob {digest} (413 Payload Too Large)")]
    TooLarge {
        /// The destination, as written.
        location: String,
        /// The blob.
        digest: Digest,
        /// The smallest chunk tried.
        chunk: u64,
    },
    /// [`super::CopyOptions::compression`] asked for a layer to be compressed, and the
    /// destination cannot compress on the way in.
    #[error("{location}: cannot compress layer {digest} on the way in")]
    CannotCompress {
        /// The destination, as written.
        location: String,
        /// The layer.
        digest: Digest,
    },
    /// The copy would compress layers of a signed manifest on the way (`copy --dest-compress`;
    /// `push` of layers stored uncompressed), which rewrites the manifest: its signatures would
    /// name a digest the destination does not hold. Refused before anything is sent, as skopeo
    /// refuses ("Would invalidate signatures").
    #[error(
        "{location}: manifest {digest} is signed ({count} signature(s)), and compressing its \
         layers on the way changes its digest, so the signatures would no longer match; leave \
         them behind with --remove-signatures, or copy without --dest-compress"
    )]
    WouldInvalidateSignatures {
        /// The source, as written.
        location: String,
        /// The signed manifest.
        digest: Digest,
        /// How many signatures it has.
        count: usize,
    },
    /// A layer compressed on the way could not be sent.
    #[error("{location}: upload of layer {digest} failed")]
    Send {
        /// The destination, as written.
        location: String,
        /// The layer (uncompressed).
        digest: Digest,
        /// Why.
        #[source]
        source: Box<SendError>,
    },
    /// A layer streamed into the local store failed: verification (docker's "filesystem
    /// layer verification failed for digest D"), decompression, unpacking or the store.
    #[error("{location}: {source}")]
    Transfer {
        /// The destination (`hoist:REF`).
        location: String,
        /// What failed, naming the blob.
        source: Box<crate::transfer::TransferError>,
    },
    /// A blocking task or a stream ended abnormally (retried: a source that ended early, a
    /// task that did not finish): `the copy was interrupted: …`.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

impl CopyError {
    /// The copy was interrupted because of `reason`.
    pub(crate) fn interrupted(reason: impl Into<String>) -> CopyError {
        CopyError::Interrupted(Interrupted::new("the copy", reason))
    }

    /// A registry failure on `location` while doing `action`.
    pub(crate) fn registry(
        location: &str,
        action: impl Into<String>,
        source: RegistryError,
    ) -> CopyError {
        CopyError::registry_failure(location, action.into(), source, false)
    }

    /// A registry failure of an upload session on `location` while doing `action`: retried
    /// with a new session when the registry voided this one.
    pub(crate) fn upload(
        location: &str,
        action: impl Into<String>,
        source: RegistryError,
    ) -> CopyError {
        CopyError::registry_failure(location, action.into(), source, true)
    }

    fn registry_failure(
        location: &str,
        action: String,
        source: RegistryError,
        upload: bool,
    ) -> CopyError {
        CopyError::Registry {
            location: location.to_owned(),
            action,
            source: Box::new(source),
            upload,
        }
    }

    /// A store failure on `location` while doing `action`.
    pub(crate) fn store(
        location: &str,
        action: impl Into<String>,
        source: StoreError,
    ) -> CopyError {
        CopyError::Store {
            location: location.to_owned(),
            action: action.into(),
            source: Box::new(source),
        }
    }
}

/// Why the local store could not record an image that arrived in it (a pull, a copy to
/// `hoist:`, a load): the checks of `store_record` and the writes of the records. A pull
/// passes it on as it is ([`crate::pull::PullError::Record`]), so each sentence is written
/// here once.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A manifest under the root cannot be parsed.
    #[error("{source}")]
    Manifest {
        /// The manifest (the location or the digest it was read by).
        reference: String,
        /// What is wrong with it.
        #[source]
        source: Box<ManifestError>,
    },
    /// The image config cannot be read (docker's `ImageConfigPullError`).
    #[doc(alias = "ImageConfigPullError")]
    #[error("image config {digest}: {source}")]
    Config {
        /// The config's digest.
        digest: Digest,
        /// Why.
        #[source]
        source: ConfigError,
    },
    /// The diffIDs of the layers differ from the config's `rootfs.diff_ids` (docker's
    /// `errRootFSMismatch`). Nothing was recorded.
    #[error("{}", PullErrorMessage::LayersDontMatchConfig)]
    LayersDontMatchConfig {
        /// The config's `rootfs.diff_ids`.
        expected: Vec<Digest>,
        /// The diffIDs of the layers as they arrived; `None` for a layer stored without being
        /// decompressed (`pull --no-unpack`, checked when it is unpacked).
        actual: Vec<Option<Digest>>,
    },
    /// No image of the index fits the platform the tag is to name.
    #[error(transparent)]
    NoMatchingManifest(Box<NoMatchingManifest>),
    /// The local store failed (a blob, `hoist.db`, or the layer store making a layer
    /// available).
    #[error(transparent)]
    Local(Box<LocalStoreError>),
}

impl RecordError {
    /// Whether the message is one of docker's own sentences, printed as it is ("no matching
    /// manifest for …", "layers from manifest don't match image configuration").
    pub fn is_docker_sentence(&self) -> bool {
        matches!(
            self,
            RecordError::NoMatchingManifest(_) | RecordError::LayersDontMatchConfig { .. }
        )
    }
}

impl From<NoMatchingManifest> for RecordError {
    fn from(e: NoMatchingManifest) -> RecordError {
        RecordError::NoMatchingManifest(Box::new(e))
    }
}

impl<E: Into<LocalStoreError>> From<E> for RecordError {
    fn from(e: E) -> RecordError {
        RecordError::Local(Box::new(e.into()))
    }
}

impl From<NoMatchingManifest> for CopyError {
    fn from(e: NoMatchingManifest) -> CopyError {
        CopyError::NoMatchingManifest(Box::new(e))
    }
}

impl Retryable for CopyError {
    /// Network failures, 5xx, 429 and a voided upload session can be retried; a refusal
    /// (unauthorized, denied, not found), a bad manifest, a digest mismatch or a local store
    /// error cannot.
    fn is_retryable(&self) -> bool {
        match self {
            CopyError::Registry { source, upload, .. } => {
                source.is_retryable() || (*upload && crate::transfer::is_void_session(source))
            }
            CopyError::Interrupted(_) => true,
            CopyError::Metadata { source, .. } => source.is_busy(),
            CopyError::Send { source, .. } => source.is_retryable(),
            _ => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            CopyError::Registry { source, .. } => source.retry_after(),
            CopyError::Send { source, .. } => match source.as_ref() {
                SendError::Registry(e) => e.retry_after(),
                _ => None,
            },
            _ => None,
        }
    }
}

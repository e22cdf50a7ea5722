//! The local store as an [`ImageSink`]: [`StoreSink`], the `hoist:REF` destination of a copy
//! (`hoist copy docker://R/app:v1 hoist:app:v1`, `hoist copy oci:DIR:v1 hoist:app:v1`).
//!
//! A copy into the store is a pull whose bytes come from any [`super::ImageSource`], and it
//! speaks like one ([`Wording::Pull`]: `Pulling fs layer`, `Downloading`, `Verifying
//! Checksum`, `Download complete`, `Pull complete`, `Already exists`). The store's root is an
//! OCI layout, so configs, manifests and blobs hoist does not unpack are written exactly as
//! [`LayoutSink`] writes them (each blob through the content store's ingest: hashed as
//! written, renamed into `blobs/` only when its digest matches, resumed by the next attempt);
//! layers stream through the same ingest in one pass with their decompression, diffID and
//! unpacking (`store_layer`). What the store adds is the **recording**, done when the root manifest arrives — i.e. only
//! after the engine confirmed every blob and child manifest — by `store_record`, whose
//! recording code (`record_image`, `record_references`, `record_child_reference`) pull
//! records with too:
//! - each image manifest under the root gets an image record (image ID = config digest),
//!   its layers' diffIDs checked against the config first (docker's `errRootFSMismatch`,
//!   "layers from manifest don't match image configuration"), and, unless the sink was opened
//!   [`StoreSink::without_unpack`], its layers unpacked into the layer store
//!   ([`LayerStore::register_image`]);
//! - the tag (moved with force, docker's `AddTag(ref, id, true)`) and the digest reference
//!   `NAME@DIGEST` point at the image; for an index copied whole, every child image also gets
//!   `NAME@CHILD` and the tag names the image of [`StoreSink::with_platform`] (default the
//!   host's), which is what `hoist pull --all-platforms` leaves, so
//!   [`super::complete_index`] holds and a push sends the index whole;
//! - with [`StoreSink::with_source`] (a registry source), each layer's blob is recorded as
//!   seen in that repository (docker's `V2MetadataService.Add`), for later mounts.
//!
//! # Invariants
//! - A [`Lease`] is held from [`StoreSink::open`] until the sink is dropped: garbage
//!   collection cannot delete blobs copied but not yet referenced.
//! - Nothing is recorded (image, references, blob sources) unless every blob verified and the
//!   diffIDs of every image match its config.
//! - The destination must be a tag (a name means `:latest`): a digest says what an image is,
//!   not where to store it.

use std::sync::Arc;

use super::layout::LayoutSink;
use super::layout_signatures::LayoutSignatures;
use super::sink::{BlobInput, BlobStore, DynBlobWriter, ImageSink, StoredManifest};
use super::source::CopyFuture;
use super::store_layer::{StoreLayerWriter, Streamed};
use super::store_record::{record_root, Recording};
use super::CopyError;
use crate::digest::Digest;
use crate::media::{Descriptor, Platform};
use crate::progress::Wording;
use crate::reference::{Reference, Repository};
use crate::store::{LayerStore, Lease, MetadataStore};
use crate::transfer::blocking;
use crate::transfer::{Compression, LayerSinkFactory, RangeFetch};
use crate::trust::sigstore::SignatureHome;

/// The local store as a copy destination, under one tag. See the module docs.
#[derive(Debug, Clone)]
pub struct StoreSink {
    blobs: LayoutSink,
    metadata: Arc<MetadataStore>,
    layers: Option<LayerStore>,
    /// `None`: an untagged sink ([`StoreSink::untagged`]).
    reference: Option<Reference>,
    platform: Option<Platform>,
    source: Option<Repository>,
    /// What the layer writers computed and staged.
    streamed: Arc<Streamed>,
    /// Whether the tag and digest references are recorded (not for pull, which does).
    references: bool,
    /// The index an image root was chosen from (pull), recorded with the image.
    index: Option<Digest>,
    /// When big layers are fetched in parts.
    range_fetch: RangeFetch,
    _lease: Arc<Lease>,
}

impl StoreSink {
    /// The store `metadata` belongs to, the image to be tagged `reference` (a name means
    /// `:latest`), layers unpacked into its layer store. Takes the store's lease (waiting
    /// while garbage collection runs) and opens the layer store: blocking, so call it before
    /// entering async code or from a blocking thread.
    pub fn open(
        metadata: Arc<MetadataStore>,
        reference: &Reference,
    ) -> Result<StoreSink, CopyError> {
        let reference = reference.clone().with_default_tag();
        if reference.digest().is_some() {
            return Err(CopyError::Location {
                input: format!("hoist:{reference}"),
                reason: "a store destination needs a tag, not a digest".to_owned(),
            });
        }
        StoreSink::open_as(metadata, Some(reference))
    }

    /// The store `metadata` belongs to, the images recorded without any reference (docker's
    /// `load` of an image saved by ID: `Loaded image ID: sha256:…`). Blocking, like
    /// [`StoreSink::open`].
    pub fn untagged(metadata: Arc<MetadataStore>) -> Result<StoreSink, CopyError> {
        StoreSink::open_as(metadata, None)
    }

    fn open_as(
        metadata: Arc<MetadataStore>,
        reference: Option<Reference>,
    ) -> Result<StoreSink, CopyError> {
        let location = location_of(reference.as_ref());
        let layers = LayerStore::open(Arc::clone(&metadata)).map_err(|e| CopyError::Record {
            location: location.clone(),
            source: Box::new(e.into()),
        })?;
        StoreSink::create(metadata, reference, Some(layers))
    }

    /// The sink `hoist pull` copies one image manifest into (`crate::pull`): `target` (a tag
    /// or a digest reference) names it in messages only, the image is recorded with the index
    /// it was chosen from (`index`), and no reference is recorded: pull records them itself
    /// (docker's `addDigestReference` and `AddTag`, which tell whether the reference moved).
    /// Layers are not unpacked until [`StoreSink::with_layers`] or
    /// [`StoreSink::with_layer_sink`] says where. Takes the store's lease: blocking.
    pub(crate) fn for_pull(
        metadata: Arc<MetadataStore>,
        target: &Reference,
        index: Option<Digest>,
    ) -> Result<StoreSink, CopyError> {
        let mut sink = StoreSink::create(metadata, Some(target.clone()), None)?;
        sink.references = false;
        sink.index = index;
        Ok(sink)
    }

    fn create(
        metadata: Arc<MetadataStore>,
        reference: Option<Reference>,
        layers: Option<LayerStore>,
    ) -> Result<StoreSink, CopyError> {
        let location = location_of(reference.as_ref());
        let content = metadata.content().clone();
        let lease = content
            .lease()
            .map_err(|e| CopyError::store(&location, "take the store's lease", e))?;
        Ok(StoreSink {
            blobs: LayoutSink::for_store(content, location).speaking(Wording::Pull),
            metadata,
            streamed: Arc::new(Streamed::new(layers.clone())),
            layers,
            reference,
            platform: None,
            source: None,
            references: true,
            index: None,
            range_fetch: RangeFetch::default(),
            _lease: Arc::new(lease),
        })
    }

    /// Unpacks into `layers` (e.g. opened with other unpack options) instead of the layer
    /// store [`StoreSink::open`] opened.
    pub fn with_layers(mut self, layers: LayerStore) -> StoreSink {
        self.streamed = Arc::new(Streamed::new(Some(layers.clone())));
        self.layers = Some(layers);
        self
    }

    /// Stores blobs only, as `hoist pull --no-unpack` does (the diffIDs are still checked,
    /// by hashing the decompressed blobs).
    pub fn without_unpack(mut self) -> StoreSink {
        self.streamed = Arc::new(Streamed::new(None));
        self.layers = None;
        self
    }

    /// Sends every layer's decompressed bytes to `unpacker` instead of the layer store
    /// (`PullOptions::layer_sink`).
    pub(crate) fn with_layer_sink(mut self, unpacker: Arc<dyn LayerSinkFactory>) -> StoreSink {
        self.streamed = Arc::new(Streamed::feeding(unpacker));
        self.layers = None;
        self
    }

    /// Stores blobs only and records the config's diffIDs without decompressing the blobs,
    /// as `hoist pull --no-unpack` does: the layer store and export check them when they
    /// decompress the blobs (containerd's order).
    pub(crate) fn trusting_config_diff_ids(mut self) -> StoreSink {
        self.streamed = Arc::new(Streamed::storing_only());
        self.layers = None;
        self
    }

    /// The diffID of `blob` computed while it streamed in through this sink, if it did.
    pub(crate) fn streamed_diff_id(&self, blob: &Digest) -> Option<Digest> {
        self.streamed.diff_id(blob)
    }

    /// Fetches layers of at least `range_fetch.threshold` bytes as several `Range` requests
    /// at once where the first `range_fetch.probe` bytes showed the link to be the
    /// bottleneck (default [`RangeFetch::default`]; [`RangeFetch::off`]: always one stream).
    pub fn with_range_fetch(mut self, range_fetch: RangeFetch) -> StoreSink {
        self.range_fetch = range_fetch;
        self
    }

    /// For an index copied whole, tag the image of `platform` rather than the host's.
    pub fn with_platform(mut self, platform: Platform) -> StoreSink {
        self.platform = Some(platform);
        self
    }

    /// The registry repository the blobs come from ([`super::ImageSource::repository`]), so
    /// each layer is recorded as seen there, as pull records it.
    pub fn with_source(mut self, source: Option<Repository>) -> StoreSink {
        self.source = source;
        self
    }

    /// The reference the root is tagged with (`None` for [`StoreSink::untagged`]).
    pub fn reference(&self) -> Option<&Reference> {
        self.reference.as_ref()
    }

    async fn put_manifest_inner(&self, manifest: StoredManifest) -> Result<(), CopyError> {
        let StoredManifest {
            descriptor,
            bytes,
            root,
        } = manifest;
        let location = ImageSink::location(self);
        let content = self.blobs.content().clone();
        let recording = root.then(|| Recording {
            metadata: Arc::clone(&self.metadata),
            layers: self.layers.clone(),
            reference: self.reference.clone(),
            platform: self.platform.clone().unwrap_or_else(Platform::host),
            source: self.source.clone(),
            streamed: Arc::clone(&self.streamed),
            references: self.references,
            index: self.index.clone(),
            location: location.clone(),
        });
        blocking("the copy", move || {
            content
                .write_blob(&descriptor.digest, &bytes)
                .map_err(|e| {
                    CopyError::store(
                        &location,
                        format!("store manifest {}", descriptor.digest),
                        e,
                    )
                })?;
            match recording {
                Some(recording) => record_root(&recording, &descriptor, &bytes),
                None => Ok(()),
            }
        })
        .await?
    }
}

/// `hoist:REF` for messages; `hoist:(untagged)` for an untagged sink.
fn location_of(reference: Option<&Reference>) -> String {
    match reference {
        Some(reference) => format!("hoist:{reference}"),
        None => "hoist:(untagged)".to_owned(),
    }
}

impl ImageSink for StoreSink {
    fn location(&self) -> String {
        location_of(self.reference.as_ref())
    }

    fn tag(&self) -> Option<String> {
        self.reference
            .as_ref()
            .and_then(|r| r.tag())
            .map(|t| t.as_str().to_owned())
    }

    fn wording(&self) -> Wording {
        Wording::Pull
    }

    fn blobs(&self) -> &dyn BlobStore {
        self
    }

    fn put_manifest<'a>(&'a self, manifest: &'a StoredManifest) -> CopyFuture<'a, ()> {
        Box::pin(self.put_manifest_inner(manifest.clone()))
    }

    fn holds_referrers(&self) -> bool {
        true
    }

    /// The store's layout, as an `oci:` layout keeps them (`layout_signatures`).
    fn signatures(&self) -> Option<Box<dyn SignatureHome>> {
        let location = ImageSink::location(self);
        let home = LayoutSignatures::writing(self.blobs.content().clone(), location);
        Some(Box::new(home))
    }

    /// Into the store's layout as an `oci:` layout keeps them (an untagged `index.json`
    /// entry); nothing is recorded in the database: a referrer is no image.
    fn put_referrer<'a>(
        &'a self,
        manifest: &'a StoredManifest,
        subject: &'a Descriptor,
    ) -> CopyFuture<'a, ()> {
        self.blobs.put_referrer(manifest, subject)
    }
}

impl BlobStore for StoreSink {
    fn has_blob<'a>(&'a self, descriptor: &'a Descriptor) -> CopyFuture<'a, bool> {
        self.blobs.has_blob(descriptor)
    }

    /// A layer streams in through the store's layer writer (`store_layer`: stored, hashed,
    /// decompressed and unpacked in one pass); a config, a referrer's blob (whatever its media
    /// type, [`BlobInput::stored_as_is`]), a blob hoist does not unpack, or a
    /// layer compressed on the way (its digest known only at the end) is only stored — the
    /// recording unpacks such a layer from its blob, checking its diffID.
    fn blob_writer(&self, input: &dyn BlobInput) -> Box<dyn DynBlobWriter> {
        let layer = input
            .descriptor()
            .filter(|_| !input.stored_as_is())
            .and_then(|d| Some((d, d.layer_media_type()?)));
        match layer {
            Some((descriptor, layer)) => Box::new(StoreLayerWriter::new(
                self.blobs.content().clone(),
                Arc::clone(&self.streamed),
                descriptor.clone(),
                Compression::from(layer.compression),
                ImageSink::location(self),
                self.range_fetch,
            )),
            None => self.blobs.blob_writer(input),
        }
    }
}

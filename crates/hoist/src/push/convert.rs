//! Push's part of pushing an image whose layers are stored uncompressed (loaded from a
//! docker-archive): reusing the compressed blob an earlier push kept, and recording the
//! rewritten image afterwards.
//!
//! docker 20.10 pushes a loaded image by compressing each layer on the way out and building a
//! new manifest; its `V2MetadataService` remembers the compressed digest of each diffID, so
//! the next push finds the layer instead of compressing it again. In hoist the compression
//! and the manifest rewrite are the copy engine's ([`crate::copy::CopyOptions::compression`],
//! `crate::copy::convert`); push adds what its store knows:
//! - the compressed blob is **kept in the content store** (the engine's compression step tees
//!   it there for the push sink, `ImageSink::keeps_compressed_in`), so a later push — to this registry or another — reuses the
//!   very bytes: a blob source of the diffID whose blob the store holds, in the wanted
//!   compression (recognised by its magic bytes), is used as is ([`reusable_blob`], the push
//!   source's `compressed_blob`);
//! - after the manifest is in the registry, the rewritten image is recorded
//!   ([`Pusher::record_rewritten`]: an image record keyed by the new manifest digest, same
//!   image ID, the manifest bytes in the content store) with a digest reference `NAME@DIGEST`,
//!   as docker's push adds one (`addDigestReference`): `hoist inspect` lists it in
//!   `RepoDigests`, and `hoist pull NAME@DIGEST` finds it locally. The diffID ⇒ digest
//!   mappings were recorded as each blob was confirmed (the sink).

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use super::{spawn_blocking, PushError, Pusher};
use crate::compress::sniff;
use crate::compress::Compression;
use crate::copy::{oci_layer_type, CopyOutcome};
use crate::digest::Digest;
use crate::media::types::{essence, OCI_MANIFEST};
use crate::media::Descriptor;
use crate::reference::{Reference, Repository};
use crate::store::metadata::{ImageLayer, ImageRecord};
use crate::store::{BlobInfo, ContentStore, MetadataError, MetadataStore};

/// A blob already known for `diff_id` (a blob source from an earlier push or pull) that the
/// store holds in `compression`, most recently recorded first. Blocking.
pub(crate) fn reusable_blob(
    metadata: &MetadataStore,
    content: &ContentStore,
    diff_id: &Digest,
    compression: Compression,
) -> Result<Option<BlobInfo>, MetadataError> {
    let mut seen = Vec::new();
    for record in metadata.blob_sources(diff_id)? {
        let digest = record.source.digest;
        if digest == *diff_id || seen.contains(&digest) {
            continue;
        }
        seen.push(digest.clone());
        let Ok(Some(info)) = content.info(&digest) else {
            continue;
        };
        let mut magic = [0u8; 4];
        let read = content
            .open_blob(&digest)
            .ok()
            .and_then(|mut f| f.read(&mut magic).ok());
        if read.is_some_and(|n| sniff(&magic[..n]) == compression) {
            return Ok(Some(info));
        }
    }
    Ok(None)
}

/// The record of the image `record` as the registry now has it: the rewritten manifest, and
/// its layers as `converted` (original blob digest ⇒ compressed blob) made them.
fn rewritten_record(
    record: &ImageRecord,
    manifest: &Descriptor,
    converted: &HashMap<Digest, Descriptor>,
) -> ImageRecord {
    let oci = essence(&manifest.media_type) == OCI_MANIFEST;
    ImageRecord {
        manifest_digest: manifest.digest.clone(),
        manifest_media_type: manifest.media_type.clone(),
        manifest_size: manifest.size,
        index_digest: None,
        layers: record
            .layers
            .iter()
            .map(|l| match converted.get(&l.digest) {
                Some(blob) => ImageLayer {
                    diff_id: l.diff_id.clone(),
                    digest: blob.digest.clone(),
                    size: blob.size,
                    media_type: blob.media_type.clone(),
                },
                None => l.clone(),
            })
            .map(|mut l| {
                if oci {
                    l.media_type = oci_layer_type(&l.media_type);
                }
                l
            })
            .collect(),
        ..record.clone()
    }
}

impl Pusher {
    /// Records every image manifest the copy rewrote (of `records`, the tag's image or the
    /// children of its index): its bytes in the content store, its image record and the digest
    /// reference `NAME@DIGEST` (docker's `addDigestReference` after a push).
    pub(super) async fn record_rewritten(
        &self,
        records: &[ImageRecord],
        outcome: &CopyOutcome,
        repository: &Repository,
    ) -> Result<(), PushError> {
        let converted: HashMap<Digest, Descriptor> = outcome
            .converted
            .iter()
            .map(|(old, new)| (old.digest.clone(), new.clone()))
            .collect();
        let mut writes = Vec::new();
        for rewritten in &outcome.rewritten {
            let Some(record) = records
                .iter()
                .find(|r| r.manifest_digest == rewritten.original.digest)
            else {
                // An index naming rewritten children: its children are what docker records.
                continue;
            };
            let new = rewritten_record(record, &rewritten.descriptor, &converted);
            writes.push((new, rewritten.bytes.clone()));
        }
        let (content, metadata) = (self.content.clone(), Arc::clone(&self.metadata));
        let repository = repository.clone();
        spawn_blocking(move || -> Result<(), PushError> {
            for (record, bytes) in writes {
                content.write_blob(&record.manifest_digest, &bytes)?;
                let by_digest = Reference::new(
                    repository.clone(),
                    None,
                    Some(record.manifest_digest.clone()),
                );
                metadata.put_image(&record)?;
                metadata.add_digest(&by_digest, &record.manifest_digest, true)?;
            }
            Ok(())
        })
        .await?
    }
}

//! Sigstore signatures attached by tag (cosign's `sha256-HEX.sig`) in an OCI layout — an
//! `oci:` directory or the local store, whose root is one: [`LayoutSignatures`], the
//! layout's [`SignatureHome`].
//!
//! # The form, and why
//! A registry names an image's signatures by the tag `sha256-HEX.sig` in its repository; a
//! layout names the **same manifest, byte for byte, by an `index.json` entry whose
//! `org.opencontainers.image.ref.name` is `sha256-HEX.sig`** — the layout's own way of tagging
//! (image-layout spec), which is where `skopeo copy docker://R:sha256-HEX.sig
//! oci:DIR:sha256-HEX.sig` puts it and where `skopeo inspect oci:DIR:sha256-HEX.sig`, umoci
//! and go-containerregistry's `layout` find it. Its payload and config blobs are in `blobs/`
//! like any other. So a layout holds any number of images, each with its signatures found by
//! its digest exactly as on a registry, and a copy out of it pushes that manifest under that
//! tag unchanged (cosign verifies it there).
//!
//! The alternatives, and why not:
//! - cosign's own layout (`cosign save`, `cosign verify --local-image`, `pkg/oci/layout`)
//!   marks entries with a `kind` annotation (`dev.cosignproject.cosign/image`, `…/sigs`) and
//!   takes the *first* `…/sigs` entry as the signatures of the layout's one image: it is not
//!   keyed by digest, so it cannot say whose signatures an entry holds in a layout of several
//!   images (the store, an `oci:` directory of several tags, an index's platforms).
//! - as OCI 1.1 referrers (untagged entries with a `subject`, `layout_referrers`): the `.sig`
//!   manifest has no `subject`; adding one changes its digest and its bytes, and registries
//!   and cosign look for it by tag, not among referrers.
//! - skopeo's `oci:` transport stores no signatures of its own (`PutSignatures` refuses):
//!   it only ever holds a `.sig` as the image it copied under that name — this form.
//!
//! In the local store the entry is not a reference: the store's references live in its
//! database and its entries are full names (`docker.io/library/app:v1`), which a bare
//! `sha256-HEX.sig` never is; the database's `index.json` upkeep only touches names it knows,
//! so the entry stays. Garbage collection keeps the entry (and through it the payloads and
//! config) exactly as long as the image whose digest it names, and drops it with that image,
//! as it drops orphaned referrers (`store::gc`). The store needs no new schema.
//!
//! Reading never creates or locks anything (a source layout is someone else's): `index.json`
//! and blob files are read capped and as regular files only (`blob_file`), the manifest
//! verified against its entry's digest. Writing goes through the layout's [`ContentStore`]
//! (verified blob writes, `index.json` replaced atomically under its lock; the entry of the
//! tag is replaced, as a tag moves).

use std::path::PathBuf;

use bytes::Bytes;
use serde::Deserialize;

use super::blob_file::read_small_file;
use super::layout::{blob_path, read_manifest};
use super::CopyError;
use crate::digest::Digest;
use crate::media::types::OCI_MANIFEST;
use crate::media::Descriptor;
use crate::store::layout::{INDEX_FILE, REF_NAME_ANNOTATION};
use crate::store::{ContentStore, IndexEntry, StoreError};
use crate::transfer::blocking;
use crate::trust::sigstore::attachments::{HomeFuture, SigItem, SigPut, SignatureHome};
use crate::trust::TrustError;

/// The `.sig` manifests of an OCI layout (see the module docs): read from `root`, written
/// through `content` when the layout is a destination.
#[derive(Debug, Clone)]
pub struct LayoutSignatures {
    root: PathBuf,
    location: String,
    content: Option<ContentStore>,
}

#[derive(Deserialize)]
struct IndexFile {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

impl LayoutSignatures {
    /// The layout at `root`, read only (a source); `location` names it in errors.
    pub fn reading(root: PathBuf, location: String) -> LayoutSignatures {
        LayoutSignatures {
            root,
            location,
            content: None,
        }
    }

    /// The layout `content` is open on, read and written (a destination).
    pub fn writing(content: ContentStore, location: String) -> LayoutSignatures {
        LayoutSignatures {
            root: content.root().to_owned(),
            location,
            content: Some(content),
        }
    }

    fn error(&self, image: &str, action: String, source: CopyError) -> TrustError {
        TrustError::Layout {
            image: image.to_owned(),
            action,
            source: Box::new(source),
        }
    }

    async fn write(
        &self,
        image: &str,
        action: String,
        f: impl FnOnce(&ContentStore) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), TrustError> {
        let Some(content) = self.content.clone() else {
            let reason = "the layout is read only here".to_owned();
            let source = CopyError::Location {
                input: self.location.clone(),
                reason,
            };
            return Err(self.error(image, action, source));
        };
        let location = self.location.clone();
        let done = blocking("the signatures", move || f(&content))
            .await
            .map_err(|e| self.error(image, action.clone(), e.into()))?;
        done.map_err(|e| {
            self.error(
                image,
                action.clone(),
                CopyError::store(&location, "write", e),
            )
        })
    }

    /// The entry of `tag` in `index.json` (the last one, as a tag added later replaces).
    async fn entry(&self, tag: &str) -> Result<Option<Descriptor>, CopyError> {
        let path = self.root.join(INDEX_FILE);
        let bytes = read_small_file(&self.location, &path).await?;
        let index: IndexFile = serde_json::from_slice(&bytes).map_err(|e| CopyError::Io {
            location: self.location.clone(),
            action: "parse",
            path: path.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        Ok(index
            .manifests
            .into_iter()
            .rev()
            .find(|d| d.annotations.get(REF_NAME_ANNOTATION).map(String::as_str) == Some(tag)))
    }
}

impl SignatureHome for LayoutSignatures {
    fn sig_manifest<'a>(&'a self, tag: &'a str, image: &'a str) -> HomeFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            let action = || format!("reading signatures {tag}");
            let Some(entry) = self
                .entry(tag)
                .await
                .map_err(|e| self.error(image, action(), e))?
            else {
                return Ok(None);
            };
            read_manifest(self.root.clone(), self.location.clone(), &entry)
                .await
                .map(Some)
                .map_err(|e| self.error(image, action(), e))
        })
    }

    fn sig_blob<'a>(&'a self, blob: &'a Descriptor, image: &'a str) -> HomeFuture<'a, Bytes> {
        Box::pin(async move {
            // Payloads and configs are checked against their bounds (far below the manifest
            // cap this read has) before they are read.
            let path = blob_path(&self.root, &blob.digest);
            let mut bytes = read_small_file(&self.location, &path).await.map_err(|e| {
                let action = format!("reading signature blob {}", blob.digest);
                self.error(image, action, e)
            })?;
            bytes.truncate(usize::try_from(blob.size).unwrap_or(usize::MAX));
            Ok(Bytes::from(bytes))
        })
    }

    fn put_sig<'a>(&'a self, put: SigPut<'a>) -> HomeFuture<'a, ()> {
        let SigPut { item, bytes, image } = put;
        match item {
            SigItem::Blob(digest) => {
                let expected = digest.clone();
                Box::pin(self.write(
                    image,
                    format!("storing signature blob {digest}"),
                    move |content| content.write_blob(&expected, &bytes).map(drop),
                ))
            }
            SigItem::Manifest(tag) => {
                let entry = IndexEntry {
                    media_type: OCI_MANIFEST.to_owned(),
                    digest: Digest::sha256_of(&bytes),
                    size: bytes.len() as u64,
                    ref_name: Some(tag.to_owned()),
                };
                Box::pin(
                    self.write(image, format!("writing signatures {tag}"), move |content| {
                        content.write_blob(&entry.digest, &bytes)?;
                        content.index_add(&entry)
                    }),
                )
            }
        }
    }
}

//! Sigstore signatures as cosign attaches them: the tag `sha256-HEX.sig` in the image's own
//! repository names an OCI image manifest whose layers are the signatures — each a
//! simple-signing payload blob (`application/vnd.dev.cosign.simplesigning.v1+json`) with the
//! base64 ECDSA signature in the annotation `dev.cosignproject.cosign/signature`. Its config
//! is an OCI image config whose `rootfs.diff_ids` are the payload digests.
//!
//! Every function works on a [`SignatureHome`]: a registry repository (the tag), or an OCI
//! layout — an `oci:` directory or the local store — where the same manifest is named by an
//! `index.json` entry whose `org.opencontainers.image.ref.name` is that tag
//! (`copy::layout_signatures` says why that form).
//!
//! [`read`] returns them, bounded: the manifest is capped (4 MiB), at most
//! [`MAX_SIGNATURES`] layers are accepted (a manifest with more is refused before any blob
//! is read), and each payload is at most [`MAX_PAYLOAD`] bytes, read with a cap and checked
//! against its digest. Layers of other media types (attestations cosign attaches elsewhere,
//! foreign attachments) are counted, not read. A `.sig` outside these bounds, or malformed,
//! is an error, never skipped: containers/image fails a copy whose signatures it cannot read
//! (`GetSignaturesWithFormat`), and a copy that silently lost an image's signatures would be
//! refused later by a policy nobody expected to fail (`--remove-signatures` copies without).
//!
//! [`read_each`] and [`append_each`] carry an image's signatures from one home to another
//! (the copy engine, `hoist pull`, `hoist push`, `hoist copy`, as `skopeo copy` and `podman
//! push` do); [`copy_signatures`] is the two for one digest.
//!
//! [`append`] adds one signature the way containers/image and cosign do: the existing
//! manifest is kept with its layers (a signature already there with the same payload and
//! signature is not added twice), the payload and the updated config are uploaded, and the
//! manifest is put under the same tag. Like cosign's and containers/image's, this
//! read-modify-write of the tag is not atomic: two signers of one digest at the same instant
//! may leave only the last one's signature (see `registry::referrers` on the same race).

use std::collections::BTreeMap;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

pub use super::home::{HomeFuture, SigItem, SigPut, SignatureHome};
use crate::digest::Digest;
use crate::media::types::{OCI_CONFIG, OCI_MANIFEST};
use crate::media::{Descriptor, ImageManifest};
use crate::registry::read_ahead;
use crate::trust::TrustError;

/// The media type of a signature layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The most signature layers one `.sig` manifest may have.
pub const MAX_SIGNATURES: usize = 128;
/// The largest payload read (cosign's are a few hundred bytes).
pub const MAX_PAYLOAD: u64 = 256 << 10;
/// The largest `.sig` config read when appending.
const MAX_SIG_CONFIG: u64 = 1 << 20;

/// One signature of an image (untrusted until verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The payload bytes (what was signed).
    pub payload: Bytes,
    /// The layer's annotations (the signature, and certificates or bundles when present).
    pub annotations: BTreeMap<String, String>,
}

/// What the `.sig` tag of an image holds.
#[derive(Debug, Default)]
pub struct Attachments {
    /// The signatures, in manifest order.
    pub signatures: Vec<Signature>,
    /// Layers that are not simple-signing payloads.
    pub others: usize,
    /// The manifest and config as found, for [`append`].
    existing: Option<(ImageManifest, Option<serde_json::Value>)>,
}

/// The attachment tag of `digest`: `sha256-HEX.sig`.
pub fn tag_for(digest: &Digest) -> String {
    format!("{}-{}.sig", digest.algorithm().as_str(), digest.hex())
}

/// The digest an attachment tag names: `sha256-HEX.sig` ⇒ `sha256:HEX` (64 lowercase hex
/// digits); `None` for any other tag.
pub fn subject_of_tag(tag: &str) -> Option<Digest> {
    let hex = tag.strip_prefix("sha256-")?.strip_suffix(".sig")?;
    let lower_hex = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    lower_hex
        .then(|| Digest::parse(&format!("sha256:{hex}")).ok())
        .flatten()
}

/// The signatures attached to `digest` in `home` (`image` names it in errors). No `.sig`
/// tag means no signatures.
pub async fn read(
    home: &dyn SignatureHome,
    digest: &Digest,
    image: &str,
) -> Result<Attachments, TrustError> {
    read_with(home, digest, image, false).await
}

async fn read_with(
    home: &dyn SignatureHome,
    digest: &Digest,
    image: &str,
    with_config: bool,
) -> Result<Attachments, TrustError> {
    let tag = tag_for(digest);
    let bounds = |reason: String| TrustError::Attachments {
        image: image.to_owned(),
        tag: tag.clone(),
        reason,
    };
    let Some(bytes) = home.sig_manifest(&tag, image).await? else {
        return Ok(Attachments::default());
    };
    let manifest: ImageManifest = serde_json::from_slice(&bytes)
        .map_err(|e| bounds(format!("not an image manifest: {e}")))?;
    if manifest.layers.len() > MAX_SIGNATURES {
        return Err(bounds(format!(
            "{} layers, more than the {MAX_SIGNATURES} signatures hoist reads",
            manifest.layers.len()
        )));
    }
    let mut found = Attachments::default();
    for layer in &manifest.layers {
        if layer.media_type != SIMPLE_SIGNING {
            found.others += 1;
            continue;
        }
        if layer.size > MAX_PAYLOAD {
            return Err(bounds(format!(
                "signature payload {} is {} bytes, more than the {MAX_PAYLOAD} hoist reads",
                layer.digest, layer.size
            )));
        }
        let payload = read_blob(home, layer, image, &tag).await?;
        found.signatures.push(Signature {
            payload,
            annotations: layer.annotations.clone(),
        });
    }
    let config = match with_config && manifest.config.size <= MAX_SIG_CONFIG {
        true => read_blob(home, &manifest.config, image, &tag)
            .await
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()),
        false => None,
    };
    found.existing = Some((manifest, config));
    Ok(found)
}

/// The signatures attached to each of `digests` in `home`, read before anything is written
/// (a `.sig` outside the bounds fails here, as containers/image reads an image's signatures
/// before copying it); digests without any are left out. The tags are read ahead
/// ([`read_ahead::in_order`]: an index's platforms are a round trip each otherwise); the
/// result and the error reported are those of reading them in order.
pub async fn read_each(
    home: &dyn SignatureHome,
    digests: &[Digest],
    image: &str,
) -> Result<Vec<(Digest, Vec<Signature>)>, TrustError> {
    let reads: Vec<_> = digests.iter().map(|d| read_of(home, d, image)).collect();
    let mut reads = std::pin::pin!(read_ahead::in_order(reads));
    let mut found: Vec<(Digest, Vec<Signature>)> = Vec::new();
    while let Some((digest, read)) = reads.next().await {
        let signatures = read?.signatures;
        if !signatures.is_empty() && !found.iter().any(|(d, _)| d == digest) {
            found.push((digest.clone(), signatures));
        }
    }
    Ok(found)
}

/// [`read`], with the digest read (a named future for [`read_ahead::in_order`]).
async fn read_of<'a>(
    home: &'a dyn SignatureHome,
    digest: &'a Digest,
    image: &'a str,
) -> (&'a Digest, Result<Attachments, TrustError>) {
    (digest, read(home, digest, image).await)
}

/// Adds each of `found` ([`read_each`]'s) to `home`, one [`append`] each: payloads and every
/// annotation as they are, the signatures already there kept, one already there not added
/// twice. Returns how many were added. Different digests' tags are written
/// [`read_ahead::READ_AHEAD`] at a time (each is a read, uploads and a put: an index's
/// platforms one after the other were the slowest part of a signed copy between registries);
/// one digest's signatures in turn, since each rewrites its tag. The error reported is the
/// first in `found`'s order.
pub async fn append_each(
    home: &dyn SignatureHome,
    found: Vec<(Digest, Vec<Signature>)>,
    image: &str,
) -> Result<usize, TrustError> {
    let appends: Vec<_> = found
        .into_iter()
        .map(|(digest, signatures)| append_all(home, digest, signatures, image))
        .collect();
    let added: Vec<usize> = read_ahead::in_order(appends).try_collect().await?;
    Ok(added.into_iter().sum())
}

/// [`append`]s each of `signatures` to `digest`'s tag in turn; how many were added.
async fn append_all(
    home: &dyn SignatureHome,
    digest: Digest,
    signatures: Vec<Signature>,
    image: &str,
) -> Result<usize, TrustError> {
    let mut added = 0;
    for signature in signatures {
        if append(home, &digest, signature, image).await? {
            added += 1;
        }
    }
    Ok(added)
}

/// Copies the signatures attached to `digest` in `from` to the `.sig` manifest of the same
/// digest in `to`, as containers/image copies sigstore signatures along with an image
/// ([`read_each`], then [`append_each`]). Returns how many were added.
pub async fn copy_signatures(
    from: &dyn SignatureHome,
    to: &dyn SignatureHome,
    digest: &Digest,
    image: &str,
) -> Result<usize, TrustError> {
    let found = read_each(from, std::slice::from_ref(digest), image).await?;
    append_each(to, found, image).await
}

/// Adds `signature` (its payload, and its annotations: the base64 signature, certificates or
/// bundles) to the `.sig` manifest of `digest`; `false` when it was there already.
pub async fn append(
    home: &dyn SignatureHome,
    digest: &Digest,
    signature: Signature,
    image: &str,
) -> Result<bool, TrustError> {
    let tag = tag_for(digest);
    let current = read_with(home, digest, image, true).await?;
    let Signature {
        payload,
        annotations,
    } = signature;
    let layer = Descriptor {
        media_type: SIMPLE_SIGNING.to_owned(),
        digest: Digest::sha256_of(&payload),
        size: payload.len() as u64,
        urls: Vec::new(),
        annotations,
        platform: None,
        artifact_type: None,
    };
    let (mut manifest, config) = match current.existing {
        Some((manifest, config)) => (manifest, config),
        None => (empty_manifest(), None),
    };
    manifest
        .media_type
        .get_or_insert_with(|| OCI_MANIFEST.to_owned());
    if manifest
        .layers
        .iter()
        .any(|l| l.digest == layer.digest && l.annotations == layer.annotations)
    {
        return Ok(false);
    }
    home.put_sig(SigPut {
        item: SigItem::Blob(&layer.digest),
        bytes: payload,
        image,
    })
    .await?;
    manifest.layers.push(layer);
    let config = config_for(config, &manifest.layers);
    let config_bytes = Bytes::from(config.to_string());
    let config_digest = Digest::sha256_of(&config_bytes);
    manifest.config = Descriptor {
        media_type: OCI_CONFIG.to_owned(),
        digest: config_digest.clone(),
        size: config_bytes.len() as u64,
        urls: Vec::new(),
        annotations: BTreeMap::new(),
        platform: None,
        artifact_type: None,
    };
    home.put_sig(SigPut {
        item: SigItem::Blob(&config_digest),
        bytes: config_bytes,
        image,
    })
    .await?;
    let bytes = serde_json::to_vec(&manifest).map_err(|e| TrustError::Attachments {
        image: image.to_owned(),
        tag: tag.clone(),
        reason: e.to_string(),
    })?;
    home.put_sig(SigPut {
        item: SigItem::Manifest(&tag),
        bytes: Bytes::from(bytes),
        image,
    })
    .await?;
    Ok(true)
}

fn empty_manifest() -> ImageManifest {
    ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_owned()),
        artifact_type: None,
        config: Descriptor {
            media_type: OCI_CONFIG.to_owned(),
            digest: Digest::sha256_of(b"{}"),
            size: 2,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
        },
        layers: Vec::new(),
        subject: None,
        annotations: BTreeMap::new(),
    }
}

/// The `.sig` config for `layers`: the existing one (when it is an object) with
/// `rootfs.diff_ids` naming every layer, as cosign's (go-containerregistry's `mutate.Append`)
/// has; else a new one of cosign's shape.
fn config_for(existing: Option<serde_json::Value>, layers: &[Descriptor]) -> serde_json::Value {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest.to_string()).collect();
    let mut config = match existing {
        Some(value @ serde_json::Value::Object(_)) => value,
        _ => serde_json::json!({
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "os": "",
            "config": {},
        }),
    };
    config["rootfs"] = serde_json::json!({"type": "layers", "diff_ids": diff_ids});
    let history: Vec<serde_json::Value> = layers
        .iter()
        .map(|_| serde_json::json!({"created": "0001-01-01T00:00:00Z"}))
        .collect();
    config["history"] = serde_json::Value::Array(history);
    config
}

/// The blob `descriptor` read whole (at most its declared size) and checked against its
/// digest.
async fn read_blob(
    home: &dyn SignatureHome,
    descriptor: &Descriptor,
    image: &str,
    tag: &str,
) -> Result<Bytes, TrustError> {
    let bytes = home.sig_blob(descriptor, image).await?;
    let actual = Digest::of(descriptor.digest.algorithm(), &bytes);
    if actual != descriptor.digest {
        return Err(TrustError::Attachments {
            image: image.to_owned(),
            tag: tag.to_owned(),
            reason: format!("blob {} does not match its digest", descriptor.digest),
        });
    }
    Ok(bytes)
}

//! An independent sigstore signer and reader: ECDSA P-256 keys, cosign's simple-signing
//! payloads, and the `sha256-DIGEST.sig` attachment manifests cosign pushes — written here
//! with `p256` and `serde_json` directly, never with hoist's trust code, so a test that signs
//! with [`CosignKey`] and verifies with hoist (or signs with hoist and reads with
//! [`read_signatures`]) checks hoist against a second implementation of the format.
//!
//! The layout, as cosign 2 writes it: an OCI image manifest tagged `sha256-HEX.sig` in the
//! image's repository; each layer is a payload blob of media type
//! `application/vnd.dev.cosign.simplesigning.v1+json` with the annotation
//! `dev.cosignproject.cosign/signature` = base64(DER ECDSA signature over SHA-256 of the
//! payload); the config is an OCI config whose `rootfs.diff_ids` are the layer digests.
//! Keyless signatures ([`crate::fulcio`]) add the certificate, chain and Rekor bundle as
//! further annotations of the same layer.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};
use serde_json::json;

use crate::error::{Error, Result};
use crate::image::Blob;
use crate::push::ImagePusher;

/// The media type of a signature layer.
pub const SIMPLE_SIGNING_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// An ECDSA P-256 key pair, as `cosign generate-key-pair` makes (kept unencrypted here).
#[derive(Clone)]
pub struct CosignKey {
    key: SigningKey,
}

impl std::fmt::Debug for CosignKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CosignKey")
    }
}

impl CosignKey {
    /// A new random key.
    pub fn generate() -> CosignKey {
        loop {
            let bytes: [u8; 32] = rand::random();
            // Almost every 32-byte string is a valid scalar; draw again otherwise.
            if let Ok(key) = SigningKey::from_slice(&bytes) {
                return CosignKey { key };
            }
        }
    }

    /// The public key as PEM `PUBLIC KEY` (what `policy.json`'s `keyPath` names).
    pub fn public_pem(&self) -> String {
        self.key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    /// base64 of the DER ECDSA signature of `payload`.
    pub fn sign(&self, payload: &[u8]) -> String {
        let signature: Signature = self.key.sign(payload);
        STANDARD.encode(signature.to_der().as_bytes())
    }

    /// A signature layer for `digest` as `identity`, signed by this key.
    pub fn signature(&self, digest: &str, identity: &str) -> SignatureLayer {
        SignatureLayer::signed(self, payload(digest, identity))
    }
}

/// cosign's payload for `digest` as `identity` (`"optional": null`, as `cosign sign` writes
/// it without annotations).
pub fn payload(digest: &str, identity: &str) -> Vec<u8> {
    json!({
        "critical": {
            "identity": {"docker-reference": identity},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": null,
    })
    .to_string()
    .into_bytes()
}

/// One layer of a `.sig` manifest: a payload and the signature annotation.
#[derive(Debug, Clone)]
pub struct SignatureLayer {
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// The annotation's value (normally base64 of the signature).
    pub signature: String,
    /// The layer's other annotations (a keyless signature's certificate, chain and bundle).
    pub annotations: BTreeMap<String, String>,
}

impl SignatureLayer {
    /// `payload` signed by `key`.
    pub fn signed(key: &CosignKey, payload: Vec<u8>) -> SignatureLayer {
        SignatureLayer {
            signature: key.sign(&payload),
            payload,
            annotations: BTreeMap::new(),
        }
    }
}

/// The attachment tag of `digest` (`sha256:HEX` ⇒ `sha256-HEX.sig`).
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// The `.sig` manifest and config for `layers`, and the payload blobs.
pub fn signature_manifest(layers: &[SignatureLayer]) -> (Blob, Blob, Vec<Blob>) {
    let payloads: Vec<Blob> = layers
        .iter()
        .map(|l| Blob::new(SIMPLE_SIGNING_TYPE, l.payload.clone()))
        .collect();
    let config = Blob::new(
        "application/vnd.oci.image.config.v1+json",
        json!({
            "architecture": "",
            "config": {},
            "created": "0001-01-01T00:00:00Z",
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": payloads.iter().map(|p| p.digest.clone()).collect::<Vec<_>>()},
        })
        .to_string()
        .into_bytes(),
    );
    let descriptors: Vec<serde_json::Value> = payloads
        .iter()
        .zip(layers)
        .map(|(blob, layer)| {
            let mut annotations = layer.annotations.clone();
            annotations.insert(SIGNATURE_ANNOTATION.to_owned(), layer.signature.clone());
            json!({
                "mediaType": SIMPLE_SIGNING_TYPE,
                "size": blob.size,
                "digest": blob.digest,
                "annotations": annotations,
            })
        })
        .collect();
    let manifest = Blob::new(
        "application/vnd.oci.image.manifest.v1+json",
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config.descriptor(),
            "layers": descriptors,
        })
        .to_string()
        .into_bytes(),
    );
    (manifest, config, payloads)
}

/// Pushes `layers` as the `.sig` manifest of `digest` in `repo` (replacing any), as cosign
/// does. Returns the `.sig` manifest's digest.
pub async fn push_signatures(
    pusher: &ImagePusher,
    repo: &str,
    digest: &str,
    layers: &[SignatureLayer],
) -> Result<String> {
    let (manifest, config, payloads) = signature_manifest(layers);
    let mut pushed = std::collections::HashSet::new();
    for blob in payloads.iter().chain(std::iter::once(&config)) {
        if pushed.insert(blob.digest.clone()) {
            pusher.push_blob(repo, blob).await?;
        }
    }
    pusher
        .push_manifest(repo, &signature_tag(digest), &manifest)
        .await
}

/// The signature layers of `digest` in `repo` at the anonymous registry `base_url`
/// (`http://host:port`): payloads and annotations as found. Empty when there is no `.sig`
/// tag.
pub async fn read_signatures(
    client: &reqwest::Client,
    base_url: &str,
    repo: &str,
    digest: &str,
) -> Result<Vec<SignatureLayer>> {
    let url = format!("{base_url}/v2/{repo}/manifests/{}", signature_tag(digest));
    let Some(manifest) = get(client, &url).await? else {
        return Ok(Vec::new());
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&manifest).map_err(|e| Error::Protocol(format!("{url}: {e}")))?;
    let layers = manifest["layers"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::with_capacity(layers.len());
    for layer in layers {
        let blob_digest = layer["digest"].as_str().unwrap_or_default();
        let url = format!("{base_url}/v2/{repo}/blobs/{blob_digest}");
        let payload = get(client, &url)
            .await?
            .ok_or_else(|| Error::Protocol(format!("{url}: not found")))?;
        if crate::image::sha256_digest(&payload) != blob_digest {
            return Err(Error::Protocol(format!(
                "{url}: bytes do not match the digest"
            )));
        }
        let mut annotations: BTreeMap<String, String> = layer["annotations"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect();
        out.push(SignatureLayer {
            payload,
            signature: annotations.remove(SIGNATURE_ANNOTATION).unwrap_or_default(),
            annotations,
        });
    }
    Ok(out)
}

/// The body of a GET (`None` on 404), accepting OCI manifests.
async fn get(client: &reqwest::Client, url: &str) -> Result<Option<Vec<u8>>> {
    let http = |source| Error::Http {
        method: "GET".into(),
        url: url.to_owned(),
        source,
    };
    let response = client
        .get(url)
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .map_err(http)?;
    match response.status() {
        reqwest::StatusCode::NOT_FOUND => Ok(None),
        status if status.is_success() => Ok(Some(response.bytes().await.map_err(http)?.to_vec())),
        status => Err(Error::Status {
            method: "GET".into(),
            url: url.to_owned(),
            status: status.as_u16(),
            body: String::new(),
        }),
    }
}

/// Whether `layer`'s signature verifies with the PEM public key `public_pem`.
pub fn verifies(public_pem: &str, layer: &SignatureLayer) -> bool {
    let Ok(key) = VerifyingKey::from_public_key_pem(public_pem) else {
        return false;
    };
    let Ok(der) = STANDARD.decode(&layer.signature) else {
        return false;
    };
    let Ok(signature) = Signature::from_der(&der) else {
        return false;
    };
    key.verify(&layer.payload, &signature).is_ok()
}

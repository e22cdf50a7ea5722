//! Legacy Docker image manifests v2 schema 1, signed: [`Schema1Builder`], [`Schema1Image`] and
//! the [`TrustKey`] that signs them.
//!
//! Docker stopped producing schema 1 long ago and CNCF distribution 2.8 refuses it unless
//! `compatibility.schema1.enabled` is set (see [`crate::RegistryBuilder::accept_schema1`]), yet
//! docker 20.10 still pulls it, so hoist's tests need real signed schema 1 images. Independent
//! of hoist, this module writes them the way docker/distribution's `manifest/schema1`
//! (`Sign`, `Verify`) and docker/libtrust's `jsonsign.go` do:
//!
//! - The **payload** is the manifest (`schemaVersion: 1`, `name`, `tag`, `architecture`,
//!   `fsLayers` top-most first, `history` in the same order, each a `v1Compatibility` JSON
//!   string) marshalled with a three-space indent, as `json.MarshalIndent(m, "", "   ")`. Its
//!   sha256 is the manifest digest (docker's "canonical" digest): the registry answers it as
//!   `Docker-Content-Digest` and serves the manifest under it.
//! - `NewJSONSignature`: `formatLength` is the index just after the last non-space byte before
//!   the closing `}`, `formatTail` the bytes from there (`"\n}"`).
//! - `Sign`: the `protected` header is base64url (no padding) of
//!   `{"formatLength":N,"formatTail":base64url(tail),"time":RFC3339}`; the ES256 signature
//!   (P-256, SHA-256, `r‖s` as 32+32 bytes) is over `protected + "." + base64url(payload)`; the
//!   `header` carries the public key as a JWK (`crv`, `kid`, `kty`, `x`, `y`) and `alg`.
//! - `PrettySignature("signatures")`: the body is `payload[..formatLength]`, then
//!   `,\n   "signatures": ` and the signature array indented with the payload's indent as
//!   prefix and indent, then `\n}`. libtrust's `ParsePrettySignature` recovers the payload as
//!   `body[..formatLength] + formatTail`.
//!
//! The `kid` is libtrust's key ID: the first 240 bits of the sha256 of the key's DER
//! `SubjectPublicKeyInfo`, base32 without padding, in `:`-separated groups of four. libtrust
//! refuses a JWK whose `kid` does not match its key.
//!
//! Invariants: everything is deterministic for a given key (RFC 6979 signatures, a fixed
//! signing `time`), so the same builder calls give the same bytes; the digest of a
//! [`Schema1Image::manifest`] is that of [`Schema1Image::payload`], never of the signed body.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::image::{sha256_digest, Blob, Layer};

/// The signed schema 1 media type.
pub const SCHEMA1_SIGNED_MEDIA_TYPE: &str =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The `time` of every signature the testkit makes (libtrust puts the signing time there; a
/// fixed one keeps manifests reproducible).
const SIGNING_TIME: &str = "2020-01-01T00:00:00Z";

/// The DER `SubjectPublicKeyInfo` prefix of an uncompressed P-256 key (`id-ecPublicKey`,
/// `prime256v1`, a 66-byte BIT STRING), followed by the 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A libtrust-style EC P-256 key: signs schema 1 manifests, and is the registry's
/// `compatibility.schema1.signingkeyfile`.
#[derive(Clone)]
pub struct TrustKey {
    key: SigningKey,
}

impl std::fmt::Debug for TrustKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustKey")
            .field("kid", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl TrustKey {
    /// A new random key.
    pub fn generate() -> TrustKey {
        use rand::Rng;
        loop {
            let bytes: [u8; 32] = rand::rng().random();
            // Fails only for 0 or a scalar ≥ the group order (probability about 2^-32): draw again.
            if let Ok(key) = SigningKey::from_bytes(&bytes.into()) {
                return TrustKey { key };
            }
        }
    }

    /// The uncompressed public point `04 ‖ X ‖ Y` (65 bytes).
    fn point(&self) -> Vec<u8> {
        self.key
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    /// libtrust's key ID (`ABCD:EFGH:…`, twelve groups); see the module docs.
    pub fn key_id(&self) -> String {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.point());
        let hash = Sha256::digest(&der);
        let encoded = base32_no_pad(&hash[..30]);
        let groups: Vec<&str> = (0..encoded.len())
            .step_by(4)
            .map(|i| &encoded[i..(i + 4).min(encoded.len())])
            .collect();
        groups.join(":")
    }

    /// The public key as libtrust marshals it (`crv`, `kid`, `kty`, `x`, `y`).
    pub fn public_jwk(&self) -> serde_json::Value {
        let point = self.point();
        json!({
            "crv": "P-256",
            "kid": self.key_id(),
            "kty": "EC",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        })
    }

    /// The private key as an `EC PRIVATE KEY` PEM (SEC 1), the form libtrust's `LoadKeyFile`
    /// reads for the registry's `signingkeyfile`.
    pub fn to_sec1_pem(&self) -> String {
        // ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING (32),
        //   [0] prime256v1, [1] BIT STRING (the uncompressed point) }: fixed lengths for P-256.
        let mut der = vec![0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20];
        der.extend_from_slice(&self.key.to_bytes());
        der.extend_from_slice(&[
            0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
        ]);
        der.extend_from_slice(&[0xa1, 0x44, 0x03, 0x42, 0x00]);
        der.extend_from_slice(&self.point());
        let b64 = STANDARD.encode(&der);
        let mut pem = String::from("-----BEGIN EC PRIVATE KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END EC PRIVATE KEY-----\n");
        pem
    }

    /// Signs `payload` (JSON ending in `}`) and returns libtrust's pretty JWS body: see the
    /// module docs.
    pub fn sign_pretty(&self, payload: &[u8]) -> Result<Vec<u8>> {
        let close = payload
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .filter(|&i| payload[i] == b'}')
            .ok_or_else(|| Error::Protocol("schema 1 payload does not end in '}'".into()))?;
        let format_length = payload[..close]
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map(|i| i + 1)
            .ok_or_else(|| Error::Protocol("schema 1 payload is empty".into()))?;
        let tail = &payload[format_length..];
        let protected = json!({
            "formatLength": format_length,
            "formatTail": URL_SAFE_NO_PAD.encode(tail),
            "time": SIGNING_TIME,
        });
        let protected = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&protected).map_err(json_err)?);
        let signed = format!("{protected}.{}", URL_SAFE_NO_PAD.encode(payload));
        let signature: Signature = self.key.sign(signed.as_bytes());
        let signatures = [JsSignature {
            header: JsHeader {
                jwk: self.public_jwk(),
                alg: "ES256",
            },
            signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
            protected,
        }];
        let indent = detect_indent(payload);
        let marshalled = pretty(&signatures, indent.as_bytes())?;
        // json.MarshalIndent(sigs, indent, indent): every line after the first gets the prefix.
        let prefixed = String::from_utf8_lossy(&marshalled).replace('\n', &format!("\n{indent}"));
        let mut body = payload[..format_length].to_vec();
        body.extend_from_slice(format!(",\n{indent}\"signatures\": {prefixed}\n}}").as_bytes());
        Ok(body)
    }
}

#[derive(Serialize)]
struct JsHeader {
    jwk: serde_json::Value,
    alg: &'static str,
}

#[derive(Serialize)]
struct JsSignature {
    header: JsHeader,
    signature: String,
    protected: String,
}

/// docker/distribution's `schema1.Manifest`, fields in its order.
#[derive(Serialize)]
struct ManifestPayload<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    name: &'a str,
    tag: &'a str,
    architecture: &'a str,
    #[serde(rename = "fsLayers")]
    fs_layers: Vec<FsLayer>,
    history: Vec<History>,
}

#[derive(Serialize)]
struct FsLayer {
    #[serde(rename = "blobSum")]
    blob_sum: String,
}

#[derive(Serialize)]
struct History {
    #[serde(rename = "v1Compatibility")]
    v1_compatibility: String,
}

/// One entry of a schema 1 image, bottom-most first in the builder.
#[derive(Debug, Clone)]
struct Entry {
    layer: Layer,
    throwaway: bool,
    created_by: String,
}

/// Builds a signed [`Schema1Image`] the way docker ≥ 1.10 pushed schema 1: one fsLayer and one
/// history entry per build step, empty steps (`ENV`, `CMD`…) marked `"throwaway": true` and
/// pointing at an empty gzipped tar.
#[derive(Debug, Clone)]
pub struct Schema1Builder {
    name: String,
    tag: String,
    os: String,
    architecture: String,
    entries: Vec<Entry>,
    config: serde_json::Value,
}

impl Schema1Builder {
    /// An image `name:tag` for `linux/amd64` with no layers. `name` and `tag` must be those it
    /// is pushed as (the registry checks the name).
    pub fn new(name: &str, tag: &str) -> Schema1Builder {
        Schema1Builder {
            name: name.to_string(),
            tag: tag.to_string(),
            os: "linux".into(),
            architecture: "amd64".into(),
            entries: Vec::new(),
            config: json!({
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["/bin/sh"],
            }),
        }
    }

    /// The platform (default `linux/amd64`).
    pub fn platform(mut self, os: &str, architecture: &str) -> Self {
        self.os = os.to_string();
        self.architecture = architecture.to_string();
        self
    }

    /// Appends a layer (a build step that changed files, e.g. `ADD`).
    pub fn layer(mut self, layer: Layer) -> Self {
        let step = self.entries.len();
        self.entries.push(Entry {
            layer,
            throwaway: false,
            created_by: format!("/bin/sh -c #(nop) ADD file:step{step} in / "),
        });
        self
    }

    /// Appends an empty build step (`"throwaway": true`, an empty layer).
    pub fn empty_layer(mut self, created_by: &str) -> Result<Self> {
        let layer = Layer::builder().build()?;
        self.entries.push(Entry {
            layer,
            throwaway: true,
            created_by: created_by.to_string(),
        });
        Ok(self)
    }

    /// Writes the v1Compatibility entries and the manifest, and signs it with `key`.
    pub fn build(self, key: &TrustKey) -> Result<Schema1Image> {
        if self.entries.is_empty() {
            return Err(Error::Protocol("a schema 1 image needs a layer".into()));
        }
        let ids: Vec<String> = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| hex::encode(Sha256::digest(format!("{i}:{}", e.layer.diff_id))))
            .collect();
        let top = self.entries.len() - 1;
        let mut history = Vec::new();
        for (i, entry) in self.entries.iter().enumerate() {
            let mut v1 = json!({
                "id": ids[i],
                "created": format!("2020-01-01T00:00:{i:02}Z"),
                "container_config": {"Cmd": [entry.created_by]},
            });
            if i > 0 {
                v1["parent"] = json!(ids[i - 1]);
            }
            if entry.throwaway {
                v1["throwaway"] = json!(true);
            }
            if i == top {
                v1["architecture"] = json!(self.architecture);
                v1["os"] = json!(self.os);
                v1["config"] = self.config.clone();
                v1["docker_version"] = json!("18.09.7");
                v1["container"] = json!(hex::encode(Sha256::digest(b"container")));
            }
            history.push(History {
                v1_compatibility: serde_json::to_string(&v1).map_err(json_err)?,
            });
        }
        let layers: Vec<Blob> = self
            .entries
            .iter()
            .map(|e| {
                Blob::new(
                    crate::ManifestFormat::DockerSchema2.layer_type(),
                    e.layer.gzip.clone(),
                )
            })
            .collect();
        let payload = ManifestPayload {
            schema_version: 1,
            name: &self.name,
            tag: &self.tag,
            architecture: &self.architecture,
            // Top-most first, as docker writes them.
            fs_layers: layers
                .iter()
                .rev()
                .map(|b| FsLayer {
                    blob_sum: b.digest.clone(),
                })
                .collect(),
            history: history.into_iter().rev().collect(),
        };
        let payload = pretty(&payload, b"   ")?;
        let body = key.sign_pretty(&payload)?;
        let manifest = Blob {
            media_type: SCHEMA1_SIGNED_MEDIA_TYPE.to_string(),
            digest: sha256_digest(&payload),
            size: body.len() as u64,
            bytes: body,
        };
        let kept: Vec<&Entry> = self.entries.iter().filter(|e| !e.throwaway).collect();
        Ok(Schema1Image {
            name: self.name,
            tag: self.tag,
            os: self.os,
            architecture: self.architecture,
            manifest,
            payload,
            layers,
            throwaway: self.entries.iter().map(|e| e.throwaway).collect(),
            diff_ids: kept.iter().map(|e| e.layer.diff_id.clone()).collect(),
            tars: kept.iter().map(|e| e.layer.tar.clone()).collect(),
            v1_ids: ids,
        })
    }
}

/// A built, signed schema 1 image.
#[derive(Debug, Clone)]
pub struct Schema1Image {
    /// The repository name in the manifest.
    pub name: String,
    /// The tag in the manifest.
    pub tag: String,
    /// Its OS (in the top v1Compatibility).
    pub os: String,
    /// Its architecture (manifest and top v1Compatibility).
    pub architecture: String,
    /// The signed manifest: `bytes` is the pretty JWS, `digest` the sha256 of
    /// [`payload`](Self::payload) (docker's canonical digest, what the registry reports).
    pub manifest: Blob,
    /// The signed payload (the manifest without its `signatures`).
    pub payload: Vec<u8>,
    /// Every fsLayer's gzip blob, bottom-most first, throwaway ones included.
    pub layers: Vec<Blob>,
    /// Per entry of `layers`: whether it is a throwaway (empty) step.
    pub throwaway: Vec<bool>,
    /// The diff IDs of the non-throwaway layers, bottom-most first (what a pull must record).
    pub diff_ids: Vec<String>,
    /// The uncompressed tars of the non-throwaway layers, bottom-most first.
    pub tars: Vec<Vec<u8>>,
    /// The v1 IDs of the entries, bottom-most first.
    pub v1_ids: Vec<String>,
}

impl Schema1Image {
    /// The manifest digest (canonical: over the payload).
    pub fn digest(&self) -> &str {
        &self.manifest.digest
    }
}

/// libtrust's `detectJSONIndent`: the whitespace before the first key of a `{\n`-opened object.
fn detect_indent(json: &[u8]) -> String {
    if json.len() > 2 && json[0] == b'{' && json[1] == b'\n' {
        if let Some(quote) = json[1..].iter().position(|&b| b == b'"') {
            if quote > 0 {
                return String::from_utf8_lossy(&json[2..quote + 1]).into_owned();
            }
        }
    }
    String::new()
}

/// `json.MarshalIndent(v, "", indent)`.
fn pretty<T: Serialize>(value: &T, indent: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(indent);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    value.serialize(&mut ser).map_err(json_err)?;
    Ok(out)
}

fn json_err(e: serde_json::Error) -> Error {
    Error::Protocol(format!("serialising schema 1 JSON: {e}"))
}

/// RFC 4648 base32 (standard alphabet) without padding.
fn base32_no_pad(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        assert_eq!(base32_no_pad(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_no_pad(b"fooba"), "MZXW6YTB");
    }

    #[test]
    fn key_id_has_twelve_groups_of_four() {
        let kid = TrustKey::generate().key_id();
        let groups: Vec<&str> = kid.split(':').collect();
        assert_eq!(groups.len(), 12, "{kid}");
        assert!(groups.iter().all(|g| g.len() == 4), "{kid}");
    }

    #[test]
    fn pretty_signature_yields_the_payload_and_a_valid_es256_signature() {
        let key = TrustKey::generate();
        let image = Schema1Builder::new("team/app", "v1")
            .layer(Layer::from_files(&[("a.txt", b"a")]).unwrap())
            .build(&key)
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&image.manifest.bytes).unwrap();
        let sig = &body["signatures"][0];
        let protected = URL_SAFE_NO_PAD
            .decode(sig["protected"].as_str().unwrap())
            .unwrap();
        let protected: serde_json::Value = serde_json::from_slice(&protected).unwrap();
        let length = protected["formatLength"].as_u64().unwrap() as usize;
        let tail = URL_SAFE_NO_PAD
            .decode(protected["formatTail"].as_str().unwrap())
            .unwrap();
        let mut payload = image.manifest.bytes[..length].to_vec();
        payload.extend_from_slice(&tail);
        assert_eq!(payload, image.payload);
        assert_eq!(image.digest(), sha256_digest(&payload));
        let signed = format!(
            "{}.{}",
            sig["protected"].as_str().unwrap(),
            URL_SAFE_NO_PAD.encode(&payload)
        );
        let raw = URL_SAFE_NO_PAD
            .decode(sig["signature"].as_str().unwrap())
            .unwrap();
        let signature = Signature::from_slice(&raw).unwrap();
        key.key
            .verifying_key()
            .verify(signed.as_bytes(), &signature)
            .unwrap();
        assert_eq!(sig["header"]["alg"], "ES256");
        assert_eq!(sig["header"]["jwk"]["kid"], key.key_id());
    }
}

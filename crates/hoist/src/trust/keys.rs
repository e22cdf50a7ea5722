//! Keys as cosign and skopeo keep them: public keys as PEM `PUBLIC KEY` (SPKI), private keys
//! as PEM `ENCRYPTED SIGSTORE PRIVATE KEY` (cosign 2+; older cosign, and skopeo 1.22's
//! `generate-sigstore-key`: `ENCRYPTED COSIGN PRIVATE KEY`). cosign 3.1 uses scrypt
//! N = 65536; both are read (`tests/trust_peer_formats.rs` holds real ones).
//!
//! The encrypted form is go-securesystemslib's `encrypted` package as sigstore uses it: a
//! JSON document
//! `{"kdf":{"name":"scrypt","params":{"N":…,"r":…,"p":…},"salt":B64},`
//! `"cipher":{"name":"nacl/secretbox","nonce":B64},"ciphertext":B64}` whose ciphertext is the
//! PKCS#8 DER of an ECDSA P-256 key sealed with NaCl's secretbox (XSalsa20-Poly1305, tag
//! first) under the 32-byte scrypt key of the passphrase. [`encrypt_private_key`] writes it
//! with N = 32768, r = 8, p = 1 (the package's defaults) and a random 32-byte salt and
//! 24-byte nonce, so `cosign` and `skopeo` read the keys hoist generates.
//!
//! Only ECDSA P-256 keys (cosign's default) are used; other kinds are refused by name. scrypt
//! parameters are bounded (at most 256 MiB of memory, p ≤ 16) so a hostile key file cannot
//! make hoist allocate without limit. Key material and passphrases are never logged or put in
//! errors.

use base64::Engine;
use crypto_secretbox::aead::generic_array::GenericArray;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

use super::{pem, KeyError};

/// The PEM label of the private keys hoist writes (cosign 2+, skopeo).
pub const PRIVATE_KEY_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// The label older cosign versions wrote; read as well.
const LEGACY_PRIVATE_KEY_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";

/// scrypt's N, r, p for new keys (go-securesystemslib's defaults).
const NEW_KEY_SCRYPT: (u64, u32, u32) = (32768, 8, 1);
/// The most memory (128 · N · r bytes) scrypt may take for a key file.
const MAX_SCRYPT_MEMORY: u64 = 256 << 20;

/// Reads the public key in `pem` (named `name` in errors): an ECDSA P-256 `PUBLIC KEY`.
pub fn public_key(pem: &[u8], name: &str) -> Result<VerifyingKey, KeyError> {
    let invalid = |reason: String| KeyError::Invalid {
        path: name.to_owned(),
        reason,
    };
    let (block, _) = pem::decode(pem).ok_or_else(|| invalid("not a PEM file".into()))?;
    let (label, der) = (block.label, block.der);
    if label != "PUBLIC KEY" {
        return Err(invalid(format!(
            "a {label:?} PEM block, not \"PUBLIC KEY\""
        )));
    }
    VerifyingKey::from_public_key_der(&der).map_err(|_| {
        invalid("not an ECDSA P-256 public key (the only kind hoist verifies with)".into())
    })
}

/// The public key of `key` as PEM (`PUBLIC KEY`).
pub fn public_key_pem(key: &VerifyingKey) -> Result<String, KeyError> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Invalid {
            path: "public key".into(),
            reason: e.to_string(),
        })
}

/// A new random P-256 signing key.
pub fn generate() -> SigningKey {
    SigningKey::random(&mut OsRng)
}

/// Opens the encrypted private key `pem` (the file `name`) with `passphrase`.
pub fn decrypt_private_key(
    pem: &[u8],
    passphrase: &[u8],
    name: &str,
) -> Result<SigningKey, KeyError> {
    let invalid = |reason: &str| KeyError::Invalid {
        path: name.to_owned(),
        reason: reason.to_owned(),
    };
    let (block, _) = pem::decode(pem).ok_or_else(|| invalid("not a PEM file"))?;
    let (label, body) = (block.label, block.der);
    if label != PRIVATE_KEY_LABEL && label != LEGACY_PRIVATE_KEY_LABEL {
        return Err(invalid(&format!(
            "a {label:?} PEM block, not {PRIVATE_KEY_LABEL:?} (a key made by cosign generate-key-pair or hoist generate-sigstore-key)"
        )));
    }
    let sealed: Sealed = serde_json::from_slice(&body)
        .map_err(|_| invalid("the encrypted key is not the JSON document cosign writes"))?;
    if sealed.kdf.name != "scrypt" || sealed.cipher.name != "nacl/secretbox" {
        return Err(invalid(
            "only scrypt with nacl/secretbox encrypted keys are supported",
        ));
    }
    let key = derive(passphrase, &sealed.kdf).map_err(|reason| invalid(&reason))?;
    let nonce = decode(&sealed.cipher.nonce).ok_or_else(|| invalid("bad nonce"))?;
    if nonce.len() != 24 {
        return Err(invalid("the nonce is not 24 bytes"));
    }
    let ciphertext = decode(&sealed.ciphertext).ok_or_else(|| invalid("bad ciphertext"))?;
    let cipher = XSalsa20Poly1305::new(GenericArray::from_slice(&key));
    let plain = cipher
        .decrypt(GenericArray::from_slice(&nonce), ciphertext.as_slice())
        .map_err(|_| KeyError::Passphrase {
            path: name.to_owned(),
        })?;
    SigningKey::from_pkcs8_der(&plain)
        .map_err(|_| invalid("the decrypted key is not an ECDSA P-256 PKCS#8 key"))
}

/// `key` encrypted with `passphrase` as PEM `ENCRYPTED SIGSTORE PRIVATE KEY`.
pub fn encrypt_private_key(key: &SigningKey, passphrase: &[u8]) -> Result<String, KeyError> {
    let failed = |reason: String| KeyError::Invalid {
        path: "new key".into(),
        reason,
    };
    let der = key.to_pkcs8_der().map_err(|e| failed(e.to_string()))?;
    let mut salt = [0u8; 32];
    let mut nonce = [0u8; 24];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut nonce);
    let (n, r, p) = NEW_KEY_SCRYPT;
    let kdf = Kdf {
        name: "scrypt".into(),
        params: ScryptParams { n, r, p },
        salt: encode(&salt),
    };
    let secret = derive(passphrase, &kdf).map_err(failed)?;
    let ciphertext = XSalsa20Poly1305::new(GenericArray::from_slice(&secret))
        .encrypt(GenericArray::from_slice(&nonce), der.as_bytes())
        .map_err(|_| failed("encryption failed".into()))?;
    let sealed = Sealed {
        kdf,
        cipher: Cipher {
            name: "nacl/secretbox".into(),
            nonce: encode(&nonce),
        },
        ciphertext: encode(&ciphertext),
    };
    let json = serde_json::to_vec(&sealed).map_err(|e| failed(e.to_string()))?;
    Ok(pem::encode(PRIVATE_KEY_LABEL, &json))
}

/// The JSON inside the PEM block.
#[derive(Serialize, Deserialize)]
struct Sealed {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// The 32-byte secretbox key scrypt derives from `passphrase` with `kdf`'s parameters.
fn derive(passphrase: &[u8], kdf: &Kdf) -> Result<[u8; 32], String> {
    let ScryptParams { n, r, p } = kdf.params;
    if !n.is_power_of_two() || n < 2 {
        return Err("scrypt N is not a power of two".into());
    }
    if r == 0
        || p == 0
        || p > 16
        || 128u64.saturating_mul(n).saturating_mul(u64::from(r)) > MAX_SCRYPT_MEMORY
    {
        return Err(
            "scrypt parameters beyond what hoist accepts (memory over 256 MiB or p > 16)".into(),
        );
    }
    let salt = decode(&kdf.salt).ok_or("bad salt")?;
    let log_n = n.trailing_zeros() as u8;
    let params = scrypt::Params::new(log_n, r, p, 32).map_err(|e| e.to_string())?;
    let mut key = [0u8; 32];
    scrypt::scrypt(passphrase, &salt, &params, &mut key).map_err(|e| e.to_string())?;
    Ok(key)
}

fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn decode(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encrypted_key_opens_with_its_passphrase_only() {
        let key = generate();
        let pem = encrypt_private_key(&key, b"correct horse").unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        let opened = decrypt_private_key(pem.as_bytes(), b"correct horse", "k").unwrap();
        assert_eq!(opened.verifying_key(), key.verifying_key());
        let wrong = decrypt_private_key(pem.as_bytes(), b"battery staple", "k").unwrap_err();
        assert!(matches!(wrong, KeyError::Passphrase { .. }), "{wrong}");
        assert_eq!(
            wrong.to_string(),
            "key k: wrong passphrase (or the file is corrupt)"
        );
    }

    #[test]
    fn public_keys_round_trip_through_pem() {
        let key = generate();
        let pem = public_key_pem(key.verifying_key()).unwrap();
        assert_eq!(
            &public_key(pem.as_bytes(), "p").unwrap(),
            key.verifying_key()
        );
    }

    #[test]
    fn a_private_key_is_not_a_public_key() {
        let pem = encrypt_private_key(&generate(), b"x").unwrap();
        let err = public_key(pem.as_bytes(), "k.pub").unwrap_err().to_string();
        assert!(err.contains("not \"PUBLIC KEY\""), "{err}");
    }

    #[test]
    fn hostile_scrypt_parameters_are_refused_before_any_work() {
        let body = r#"{"kdf":{"name":"scrypt","params":{"N":1073741824,"r":8,"p":1},"salt":"AAAA"},"cipher":{"name":"nacl/secretbox","nonce":"AAAA"},"ciphertext":"AAAA"}"#;
        let pem = pem::encode(PRIVATE_KEY_LABEL, body.as_bytes());
        let err = decrypt_private_key(pem.as_bytes(), b"x", "k")
            .unwrap_err()
            .to_string();
        assert!(err.contains("256 MiB"), "{err}");
    }
}

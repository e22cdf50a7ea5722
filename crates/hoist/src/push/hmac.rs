//! The HMAC that ties a blob source to the credentials it was seen with.
//!
//! Corresponds to docker's `distribution/metadata` `ComputeV2MetadataHMACKey`,
//! `ComputeV2MetadataHMAC` and `CheckV2MetadataHMAC` (docker 20.10):
//! - the key is the digest string (`sha256:<hex>`, as bytes) of the JSON of the credentials'
//!   `username`, `password`, `auth`, `identitytoken`, `registrytoken` fields (empty ones
//!   omitted, in that order); no credentials, no key;
//! - the HMAC of a source is hex(HMAC-SHA256(key, digest ‖ repository)), the repository being
//!   its full name (`docker.io/library/ubuntu`, docker's `Named.Name()`);
//! - a source matches a key when both are absent, or the HMAC verifies (constant time).
//!
//! A push ranks mount candidates recorded with its own credentials first, and does not forget
//! a candidate recorded with other credentials when a mount fails. The credentials never leave
//! this module: only the key (a hash of them) is kept, and only MACs are stored.
//!
//! Uses the `hmac` crate (RustCrypto, the family of `sha2`, already in the dependency tree)
//! rather than a hand-written RFC 2104: one audited implementation with constant-time
//! verification. Tested here against RFC 4231's vectors.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::credentials::Credentials;
use crate::digest::Digest;
use crate::reference::Repository;
use crate::store::metadata::BlobSource;

type HmacSha256 = Hmac<Sha256>;

/// The key derived from one set of credentials (docker's `hmacKey`). `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct HmacKey(Vec<u8>);

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(<redacted>)")
    }
}

/// docker's `authConfigKeyInput`: the fields, names and order its JSON has.
#[derive(Serialize)]
struct KeyInput<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    username: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    password: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    auth: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    identitytoken: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    registrytoken: &'a str,
}

impl HmacKey {
    /// The key for `credentials` (docker's `ComputeV2MetadataHMACKey`); `None` for anonymous.
    pub fn for_credentials(credentials: Option<&Credentials>) -> Option<HmacKey> {
        let input = match credentials? {
            Credentials::Basic { username, password } => KeyInput {
                username,
                password,
                auth: "",
                identitytoken: "",
                registrytoken: "",
            },
            Credentials::IdentityToken { username, token } => KeyInput {
                username,
                password: "",
                auth: "",
                identitytoken: token,
                registrytoken: "",
            },
        };
        // Serialising string fields cannot fail; an empty key would only mean "no key".
        let json = serde_json::to_vec(&input).ok()?;
        Some(HmacKey(
            Digest::sha256_of(&json).as_str().as_bytes().to_vec(),
        ))
    }

    /// The hex HMAC of a source `digest` in `repository` (docker's `ComputeV2MetadataHMAC`).
    /// `None` only if the MAC refused the key, which HMAC never does (RFC 2104 hashes long
    /// keys); the source is then recorded without an HMAC.
    pub fn sign(&self, digest: &Digest, repository: &Repository) -> Option<String> {
        let mac = self.mac(digest, repository)?;
        Some(hex::encode(mac.finalize().into_bytes()))
    }

    fn mac(&self, digest: &Digest, repository: &Repository) -> Option<HmacSha256> {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.0).ok()?;
        mac.update(digest.as_str().as_bytes());
        mac.update(repository.as_str().as_bytes());
        Some(mac)
    }
}

/// Whether `source` was recorded with the credentials `key` comes from (docker's
/// `CheckV2MetadataHMAC`): both without, or the MAC verifies.
pub fn matches(source: &BlobSource, key: Option<&HmacKey>) -> bool {
    match (source.hmac.as_deref(), key) {
        (None, None) => true,
        (Some(_), None) | (None, Some(_)) => false,
        (Some(stored), Some(key)) => {
            let (Ok(stored), Some(mac)) = (
                hex::decode(stored),
                key.mac(&source.digest, &source.repository),
            ) else {
                return false;
            };
            mac.verify_slice(&stored).is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hmac_hex(key: &[u8], data: &[u8]) -> String {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap();
        mac.update(data);
        hex::encode(mac.finalize().into_bytes())
    }

    // RFC 4231 section 4: test cases 1, 2, 6 (key longer than the block) and 7.
    #[test]
    fn hmac_sha256_matches_rfc_4231_vectors() {
        assert_eq!(
            hmac_hex(&[0x0b; 20], b"Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hmac_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hmac_hex(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert_eq!(
            hmac_hex(
                &[0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."
            ),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
        );
    }

    fn basic(user: &str, password: &str) -> Credentials {
        Credentials::Basic {
            username: user.into(),
            password: password.into(),
        }
    }

    #[test]
    fn key_is_the_digest_string_of_dockers_key_input_json() {
        let key = HmacKey::for_credentials(Some(&basic("u", "p"))).unwrap();
        let expected = Digest::sha256_of(br#"{"username":"u","password":"p"}"#);
        assert_eq!(key.0, expected.as_str().as_bytes());
        assert!(HmacKey::for_credentials(None).is_none());
    }

    fn source(hmac: Option<String>) -> BlobSource {
        BlobSource {
            digest: Digest::sha256_of(b"blob"),
            repository: Repository::parse("localhost:5000/team/app").unwrap(),
            hmac,
        }
    }

    #[test]
    fn source_matches_only_the_credentials_it_was_signed_with() {
        let mine = HmacKey::for_credentials(Some(&basic("u", "p"))).unwrap();
        let other = HmacKey::for_credentials(Some(&basic("u", "q"))).unwrap();
        let s = source(None);
        let signed = source(mine.sign(&s.digest, &s.repository));
        assert!(matches(&signed, Some(&mine)));
        assert!(!matches(&signed, Some(&other)));
        assert!(!matches(&signed, None));
        assert!(matches(&s, None));
        assert!(!matches(&s, Some(&mine)));
        assert!(!matches(&source(Some("zz".into())), Some(&mine)));
    }
}

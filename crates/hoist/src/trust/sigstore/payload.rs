//! The simple-signing payload a sigstore signature signs (cosign's
//! `application/vnd.dev.cosign.simplesigning.v1+json`):
//!
//! ```json
//! {"critical":{"identity":{"docker-reference":"reg/app:v1"},
//!              "image":{"docker-manifest-digest":"sha256:…"},
//!              "type":"cosign container image signature"},
//!  "optional":{"creator":"hoist 0.1.0","timestamp":1700000000}}
//! ```
//!
//! Read strictly, as containers/image reads it: `critical` and each of its objects have
//! exactly these fields (no unknown or duplicated ones), the type is cosign's, and
//! `optional` is `null` (cosign without annotations) or an object whose contents are ignored.

use serde::Deserialize;

/// `critical.type` of every container image signature.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

/// What a payload claims (untrusted until its signature verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// `critical.image.docker-manifest-digest`.
    pub manifest_digest: String,
    /// `critical.identity.docker-reference`.
    pub docker_reference: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    critical: Critical,
    optional: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    #[serde(rename = "type")]
    kind: String,
    image: Image,
    identity: Identity,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    #[serde(rename = "docker-reference")]
    reference: String,
}

impl Payload {
    /// Parses payload bytes; the error says what is wrong in a few words.
    pub fn parse(bytes: &[u8]) -> Result<Payload, String> {
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if raw.critical.kind != SIGNATURE_TYPE {
            return Err(format!("unknown signature type {:?}", raw.critical.kind));
        }
        if !(raw.optional.is_null() || raw.optional.is_object()) {
            return Err("\"optional\" is neither null nor an object".into());
        }
        Ok(Payload {
            manifest_digest: raw.critical.image.digest,
            docker_reference: raw.critical.identity.reference,
        })
    }

    /// The payload hoist signs: `critical` as above, `optional` naming hoist and the time
    /// (keys sorted, as Go's encoder writes maps).
    pub fn to_bytes(&self, timestamp: u64) -> Vec<u8> {
        let value = serde_json::json!({
            "critical": {
                "identity": {"docker-reference": self.docker_reference},
                "image": {"docker-manifest-digest": self.manifest_digest},
                "type": SIGNATURE_TYPE,
            },
            "optional": {
                "creator": concat!("hoist ", env!("CARGO_PKG_VERSION")),
                "timestamp": timestamp,
            },
        });
        value.to_string().into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hoist_payloads_parse_back() {
        let payload = Payload {
            manifest_digest: "sha256:ab".into(),
            docker_reference: "reg/app:v1".into(),
        };
        assert_eq!(Payload::parse(&payload.to_bytes(7)).unwrap(), payload);
    }

    #[test]
    fn cosign_payloads_with_null_optional_parse() {
        let bytes = br#"{"critical":{"identity":{"docker-reference":"reg/app"},"image":{"docker-manifest-digest":"sha256:ab"},"type":"cosign container image signature"},"optional":null}"#;
        assert_eq!(Payload::parse(bytes).unwrap().docker_reference, "reg/app");
    }

    #[test]
    fn unknown_duplicate_and_foreign_fields_are_refused() {
        let extra = br#"{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"d","x":1},"type":"cosign container image signature"},"optional":null}"#;
        assert!(Payload::parse(extra).is_err());
        let twice = br#"{"critical":{"identity":{"docker-reference":"r"},"identity":{"docker-reference":"s"},"image":{"docker-manifest-digest":"d"},"type":"cosign container image signature"},"optional":null}"#;
        assert!(Payload::parse(twice).is_err());
        let other = br#"{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"d"},"type":"atomic container signature"},"optional":null}"#;
        assert!(Payload::parse(other)
            .unwrap_err()
            .contains("unknown signature type"));
    }
}

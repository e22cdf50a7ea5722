//! The JWS envelope of a signed schema 1 manifest (libtrust's `JSONSignature`): which bytes
//! the signatures cover. docker verifies a signed manifest's digest over that payload — the
//! body up to `formatLength`, then the base64url-decoded `formatTail` — not over the bytes as
//! sent; every signature must agree on both.

use base64::Engine as _;
use serde::Deserialize;

use super::schema1::Schema1Error;

#[derive(Deserialize)]
pub(super) struct Envelope {
    #[serde(default)]
    pub(super) signatures: Option<Vec<JwsSignature>>,
}

#[derive(Deserialize)]
pub(super) struct JwsSignature {
    protected: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProtectedHeader {
    format_length: usize,
    format_tail: String,
}

/// libtrust `JSONSignature.Payload`: `body[..formatLength] + base64url(formatTail)`.
pub(super) fn signed_payload(
    body: &[u8],
    signatures: &[JwsSignature],
) -> Result<Vec<u8>, Schema1Error> {
    let bad = |reason: String| Schema1Error::Signature(reason);
    let mut format: Option<(usize, Vec<u8>)> = None;
    for (i, signature) in signatures.iter().enumerate() {
        let header = base64url(&signature.protected).ok_or_else(|| {
            bad(format!(
                "protected header of signature {i} is not base64url"
            ))
        })?;
        let header: ProtectedHeader =
            serde_json::from_slice(&header).map_err(|source| Schema1Error::Malformed {
                what: format!("protected header of signature {i}"),
                source,
            })?;
        let tail = base64url(&header.format_tail)
            .ok_or_else(|| bad(format!("formatTail of signature {i} is not base64url")))?;
        match &format {
            None => format = Some((header.format_length, tail)),
            Some((length, first_tail)) => {
                if *length != header.format_length || *first_tail != tail {
                    return Err(bad(format!(
                        "signature {i} disagrees with signature 0 on formatLength/formatTail"
                    )));
                }
            }
        }
    }
    let (length, tail) = format.ok_or_else(|| bad("the signatures list is empty".to_owned()))?;
    let head = body.get(..length).ok_or_else(|| {
        bad(format!(
            "formatLength {length} is larger than the manifest ({} bytes)",
            body.len()
        ))
    })?;
    let mut payload = head.to_vec();
    payload.extend_from_slice(&tail);
    Ok(payload)
}

/// libtrust's `joseBase64UrlDecode`: URL-safe alphabet, padding optional.
fn base64url(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
}

//! `policy.json` as written, checked field by field while it is parsed, so that serde_json
//! gives every problem its line and column.
//!
//! Strict as containers/image is: unknown, duplicated or misplaced fields refuse the whole
//! file; a requirement list may not be empty; `sigstoreSigned` takes exactly one of
//! `keyPath`, `keyPaths`, `keyData`, `keyDatas`, `fulcio`, `pki`, and `fulcio` needs a Rekor
//! key. `keyData`-like fields are base64, as Go encodes `[]byte` in JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;

use base64::Engine;
use serde::de::{Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{Fulcio, KeySource, Requirement, SigstoreSigned};
use crate::reference::{Reference, Repository};
use crate::trust::identity::SignedIdentity;

/// The whole file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyFile {
    pub(super) default: Requirements,
    #[serde(default, deserialize_with = "unique_map")]
    pub(super) transports: BTreeMap<String, Scopes>,
}

/// One transport's scopes.
pub(super) struct Scopes(pub(super) BTreeMap<String, Requirements>);

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Scopes, D::Error> {
        let scopes: BTreeMap<String, Requirements> = unique_map(d)?;
        for scope in scopes.keys() {
            if let Some(rest) = scope.strip_prefix("*.") {
                if rest.is_empty() || rest.contains('*') || rest.contains('/') {
                    return Err(D::Error::custom(format!(
                        "invalid scope {scope:?}: a wildcard is `*.DOMAIN` only"
                    )));
                }
            } else if scope.contains('*') {
                return Err(D::Error::custom(format!(
                    "invalid scope {scope:?}: `*` only as the leading `*.` of a domain"
                )));
            }
        }
        Ok(Scopes(scopes))
    }
}

/// A non-empty list of requirements.
pub(super) struct Requirements(pub(super) Vec<Requirement>);

impl<'de> Deserialize<'de> for Requirements {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Requirements, D::Error> {
        let list = Vec::<Requirement>::deserialize(d)?;
        if list.is_empty() {
            return Err(D::Error::custom(
                "a list of requirements may not be empty (write [{\"type\": \"reject\"}] to refuse)",
            ));
        }
        Ok(Requirements(list))
    }
}

/// A JSON object read into a map, refusing a key seen twice (serde's maps keep the last).
fn unique_map<'de, D, V>(d: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Unique<V>(PhantomData<V>);
    impl<'de, V: Deserialize<'de>> Visitor<'de> for Unique<V> {
        type Value = BTreeMap<String, V>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(key) = map.next_key::<String>()? {
                if out.contains_key(&key) {
                    return Err(A::Error::custom(format!("duplicate key {key:?}")));
                }
                let value = map.next_value()?;
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Unique(PhantomData))
}

/// Every field any requirement type has; [`Requirement`] checks which belong to its type.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRequirement {
    #[serde(rename = "type")]
    kind: String,
    key_type: Option<String>,
    key_path: Option<String>,
    key_paths: Option<Vec<String>>,
    key_data: Option<String>,
    key_datas: Option<Vec<String>>,
    fulcio: Option<RawFulcio>,
    rekor_public_key_path: Option<String>,
    rekor_public_key_paths: Option<Vec<String>>,
    rekor_public_key_data: Option<String>,
    rekor_public_key_datas: Option<Vec<String>>,
    pki: Option<serde_json::Value>,
    signed_identity: Option<SignedIdentity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawFulcio {
    ca_path: Option<String>,
    ca_data: Option<String>,
    oidc_issuer: Option<String>,
    subject_email: Option<String>,
}

impl<'de> Deserialize<'de> for Requirement {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Requirement, D::Error> {
        let raw = RawRequirement::deserialize(d)?;
        raw.check().map_err(D::Error::custom)
    }
}

impl RawRequirement {
    /// The names of the fields present, in file order of the struct.
    fn present(&self) -> Vec<&'static str> {
        let fields: [(&'static str, bool); 12] = [
            ("keyType", self.key_type.is_some()),
            ("keyPath", self.key_path.is_some()),
            ("keyPaths", self.key_paths.is_some()),
            ("keyData", self.key_data.is_some()),
            ("keyDatas", self.key_datas.is_some()),
            ("fulcio", self.fulcio.is_some()),
            ("rekorPublicKeyPath", self.rekor_public_key_path.is_some()),
            ("rekorPublicKeyPaths", self.rekor_public_key_paths.is_some()),
            ("rekorPublicKeyData", self.rekor_public_key_data.is_some()),
            ("rekorPublicKeyDatas", self.rekor_public_key_datas.is_some()),
            ("pki", self.pki.is_some()),
            ("signedIdentity", self.signed_identity.is_some()),
        ];
        fields
            .into_iter()
            .filter_map(|(name, set)| set.then_some(name))
            .collect()
    }

    fn only(&self, allowed: &[&str]) -> Result<(), String> {
        match self.present().into_iter().find(|f| !allowed.contains(f)) {
            Some(field) => Err(format!("field {field:?} is not valid in {:?}", self.kind)),
            None => Ok(()),
        }
    }

    fn check(self) -> Result<Requirement, String> {
        let kind = self.kind.clone();
        match kind.as_str() {
            "insecureAcceptAnything" => self.only(&[]).map(|()| Requirement::InsecureAcceptAnything),
            "reject" => self.only(&[]).map(|()| Requirement::Reject),
            "signedBy" => {
                self.only(&["keyType", "keyPath", "keyPaths", "keyData", "signedIdentity"])?;
                Ok(Requirement::SignedBy)
            }
            "sigstoreSigned" => self.sigstore().map(|s| Requirement::SigstoreSigned(Box::new(s))),
            other => Err(format!(
                "unknown requirement type {other:?} (insecureAcceptAnything, reject, signedBy, sigstoreSigned)"
            )),
        }
    }

    fn sigstore(self) -> Result<SigstoreSigned, String> {
        if self.key_type.is_some() {
            return Err("field \"keyType\" is not valid in \"sigstoreSigned\"".into());
        }
        let roots = [
            self.key_path.is_some(),
            self.key_paths.is_some(),
            self.key_data.is_some(),
            self.key_datas.is_some(),
            self.fulcio.is_some(),
            self.pki.is_some(),
        ];
        if roots.iter().filter(|set| **set).count() != 1 {
            return Err("sigstoreSigned needs exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, pki".into());
        }
        let keys = sources(
            self.key_path,
            self.key_paths,
            self.key_data,
            self.key_datas,
            "key",
        )?;
        let rekor = sources(
            self.rekor_public_key_path,
            self.rekor_public_key_paths,
            self.rekor_public_key_data,
            self.rekor_public_key_datas,
            "rekorPublicKey",
        )?;
        let fulcio = self.fulcio.map(RawFulcio::check).transpose()?;
        if fulcio.is_some() && rekor.is_empty() {
            return Err(
                "fulcio needs a Rekor public key (rekorPublicKeyPath or rekorPublicKeyData)".into(),
            );
        }
        if self.pki.is_some() && !rekor.is_empty() {
            return Err("rekorPublicKey* cannot be used with pki".into());
        }
        Ok(SigstoreSigned {
            keys,
            fulcio,
            rekor,
            pki: self.pki.is_some(),
            signed_identity: self
                .signed_identity
                .unwrap_or(SignedIdentity::MatchRepoDigestOrExact),
        })
    }
}

/// The keys of one `…Path`/`…Paths`/`…Data`/`…Datas` family (at most one of them set).
fn sources(
    path: Option<String>,
    paths: Option<Vec<String>>,
    data: Option<String>,
    datas: Option<Vec<String>>,
    field: &str,
) -> Result<Vec<KeySource>, String> {
    let set = [
        path.is_some(),
        paths.is_some(),
        data.is_some(),
        datas.is_some(),
    ];
    if set.iter().filter(|s| **s).count() > 1 {
        return Err(format!(
            "only one of {field}Path, {field}Paths, {field}Data, {field}Datas may be given"
        ));
    }
    let mut out = Vec::new();
    for path in path.into_iter().chain(paths.into_iter().flatten()) {
        if path.is_empty() {
            return Err(format!("{field}Path may not be empty"));
        }
        out.push(KeySource::Path(PathBuf::from(path)));
    }
    for data in data.into_iter().chain(datas.into_iter().flatten()) {
        out.push(KeySource::Data(decode_data(&data, field)?));
    }
    if out.is_empty() && (set[1] || set[3]) {
        return Err(format!("{field}Paths/{field}Datas may not be empty"));
    }
    Ok(out)
}

fn decode_data(data: &str, field: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| format!("{field}Data is not base64: {e}"))
}

impl RawFulcio {
    fn check(self) -> Result<Fulcio, String> {
        let ca = match (self.ca_path.filter(|p| !p.is_empty()), self.ca_data) {
            (Some(path), None) => KeySource::Path(PathBuf::from(path)),
            (None, Some(data)) => KeySource::Data(decode_data(&data, "ca")?),
            _ => return Err("fulcio needs exactly one of caPath, caData".into()),
        };
        let (Some(oidc_issuer), Some(subject_email)) = (
            self.oidc_issuer.filter(|s| !s.is_empty()),
            self.subject_email.filter(|s| !s.is_empty()),
        ) else {
            return Err("fulcio needs a non-empty oidcIssuer and subjectEmail".into());
        };
        Ok(Fulcio {
            ca,
            oidc_issuer,
            subject_email,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawIdentity {
    #[serde(rename = "type")]
    kind: String,
    docker_reference: Option<String>,
    docker_repository: Option<String>,
    prefix: Option<String>,
    signed_prefix: Option<String>,
}

impl<'de> Deserialize<'de> for SignedIdentity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SignedIdentity, D::Error> {
        let raw = RawIdentity::deserialize(d)?;
        raw.check().map_err(D::Error::custom)
    }
}

impl RawIdentity {
    fn check(self) -> Result<SignedIdentity, String> {
        let fields = [
            ("dockerReference", self.docker_reference.is_some()),
            ("dockerRepository", self.docker_repository.is_some()),
            ("prefix", self.prefix.is_some()),
            ("signedPrefix", self.signed_prefix.is_some()),
        ];
        let allowed: &[&str] = match self.kind.as_str() {
            "exactReference" => &["dockerReference"],
            "exactRepository" => &["dockerRepository"],
            "remapIdentity" => &["prefix", "signedPrefix"],
            _ => &[],
        };
        if let Some((field, _)) = fields.iter().find(|(f, set)| *set && !allowed.contains(f)) {
            return Err(format!(
                "field {field:?} is not valid in signedIdentity {:?}",
                self.kind
            ));
        }
        Ok(match self.kind.as_str() {
            "matchExact" => SignedIdentity::MatchExact,
            "matchRepoDigestOrExact" => SignedIdentity::MatchRepoDigestOrExact,
            "matchRepository" => SignedIdentity::MatchRepository,
            "exactReference" => {
                let text = self.docker_reference.ok_or("exactReference needs dockerReference")?;
                let reference = Reference::parse(&text).map_err(|e| e.to_string())?;
                if reference.is_name_only() {
                    return Err(format!("dockerReference {text:?} needs a tag or digest"));
                }
                SignedIdentity::ExactReference(reference)
            }
            "exactRepository" => {
                let text = self.docker_repository.ok_or("exactRepository needs dockerRepository")?;
                SignedIdentity::ExactRepository(Repository::parse(&text).map_err(|e| e.to_string())?)
            }
            "remapIdentity" => {
                let (Some(prefix), Some(signed_prefix)) = (self.prefix, self.signed_prefix) else {
                    return Err("remapIdentity needs prefix and signedPrefix".into());
                };
                check_prefix(&prefix)?;
                check_prefix(&signed_prefix)?;
                SignedIdentity::RemapIdentity {
                    prefix,
                    signed_prefix,
                }
            }
            other => {
                return Err(format!(
                    "unknown signedIdentity type {other:?} (matchExact, matchRepoDigestOrExact, matchRepository, exactReference, exactRepository, remapIdentity)"
                ))
            }
        })
    }
}

/// A `remapIdentity` prefix: a host[:port], a namespace or a repository, written in full.
fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.starts_with("*.") {
        return Err(format!(
            "remapIdentity prefix {prefix:?}: wildcard prefixes are not supported yet"
        ));
    }
    // Checked as the start of a longer name: a namespace or a host alone is not a repository
    // (and one component under docker.io would gain `library/`).
    let full = format!("{prefix}/x/y");
    match Repository::parse(&full) {
        Ok(repository) if repository.as_str() == full => Ok(()),
        _ => Err(format!(
            "remapIdentity prefix {prefix:?} is not a host, namespace or repository written in full"
        )),
    }
}

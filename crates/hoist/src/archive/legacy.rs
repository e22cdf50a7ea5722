//! docker's v1-compatibility parts of a `docker save` archive: v1 layer IDs (the `<v1 id>/`
//! directory names) and the `<v1 id>/json` files.
//!
//! Nothing modern reads these (`docker load` since 1.10 reads `manifest.json`), but docker
//! 20.10 still writes them, and so does hoist, computed by docker's recipes:
//! - **chain ID** (`layer.CreateChainID`): the layer store's [`ChainId`];
//! - **v1 ID** (`v1.CreateID`): the sha256 of the layer's v1 JSON without `id`, as a JSON
//!   object with sorted keys, plus `"layer_id": <chain ID>` and, above the bottom layer,
//!   `"parent": <parent's v1 ID>`;
//! - **v1 JSON** (`image.V1Image`): for every layer but the top one only `id`, `parent`,
//!   `created` = the Unix epoch and an empty `container_config` (docker: "for backward
//!   compatibility used for pre v1.9 docker"); for the top layer the image config's own
//!   fields, in `V1Image`'s field order.
//!
//! The v1 IDs depend on the exact JSON bytes; hoist's serializer differs from Go's in small
//! ways (Go escapes `<`, `>`, `&`), so a v1 ID can differ from docker's for the same image.
//! Nothing checks them: they are directory names.

use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::media::schema1::V1_IMAGE_KEYS;
use crate::store::ChainId;

/// docker's `image.V1Image` fields read from the config for the top layer, in Go's order:
/// all but `id` and `parent` (the layer's own) and `Size` (not written).
fn v1_fields() -> &'static [&'static str] {
    &V1_IMAGE_KEYS[2..12]
}

/// One layer's v1 directory: its ID and the `json` file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Layer {
    /// The v1 ID (a sha256 digest; its hex is the directory name).
    pub id: Digest,
    /// The content of `<v1 id>/json`.
    pub json: Vec<u8>,
}

/// The v1 layers of an image whose config is `config` (parsed from the raw bytes, so every
/// field is kept as written) and diffIDs are `diff_ids`, bottom first.
pub fn v1_layers(config: &Value, diff_ids: &[Digest]) -> Vec<V1Layer> {
    let chains = ChainId::chain(diff_ids);
    let mut layers: Vec<V1Layer> = Vec::with_capacity(chains.len());
    for (i, chain_id) in chains.iter().map(ChainId::digest).enumerate() {
        let fields = if i + 1 == chains.len() {
            top_fields(config)
        } else {
            lower_fields()
        };
        let parent = layers.last().map(|l| l.id.clone());
        let id = create_id(&fields, chain_id, parent.as_ref());
        let mut json = Map::new();
        json.insert("id".into(), Value::String(id.hex().to_owned()));
        if let Some(parent) = &parent {
            json.insert("parent".into(), Value::String(parent.hex().to_owned()));
        }
        json.extend(fields);
        // Serialising a `Value` cannot fail.
        let json = serde_json::to_vec(&Value::Object(json)).unwrap_or_default();
        layers.push(V1Layer { id, json });
    }
    layers
}

/// docker's `v1.CreateID`: see the module docs. The keys are sorted whatever serde_json's
/// map ordering is, as Go's `map[string]*json.RawMessage` marshals them.
fn create_id(fields: &[(String, Value)], chain_id: &Digest, parent: Option<&Digest>) -> Digest {
    let mut object: std::collections::BTreeMap<&str, Value> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    object.insert("layer_id", Value::String(chain_id.to_string()));
    if let Some(parent) = parent {
        object.insert("parent", Value::String(parent.to_string()));
    }
    Digest::sha256_of(&serde_json::to_vec(&object).unwrap_or_default())
}

/// `V1Image{Created: time.Unix(0, 0)}` minus the ID fields.
fn lower_fields() -> Vec<(String, Value)> {
    vec![
        (
            "created".to_owned(),
            Value::String("1970-01-01T00:00:00Z".to_owned()),
        ),
        ("container_config".to_owned(), empty_container_config()),
    ]
}

/// The config's `V1Image` fields (`omitempty` ones only when present and non-empty).
fn top_fields(config: &Value) -> Vec<(String, Value)> {
    let mut fields = Vec::new();
    for &name in v1_fields() {
        let value = config.get(name).filter(|v| !is_empty(v)).cloned();
        let value = match (name, value) {
            (_, Some(v)) => v,
            // Not `omitempty` in Go: always written, as the zero value.
            ("created", None) => Value::String("0001-01-01T00:00:00Z".to_owned()),
            ("container_config", None) => empty_container_config(),
            (_, None) => continue,
        };
        fields.push((name.to_owned(), value));
    }
    fields
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// Go's zero `container.Config` as `encoding/json` writes it.
fn empty_container_config() -> Value {
    let mut config = Map::new();
    for (name, value) in [
        ("Hostname", Value::String(String::new())),
        ("Domainname", Value::String(String::new())),
        ("User", Value::String(String::new())),
        ("AttachStdin", Value::Bool(false)),
        ("AttachStdout", Value::Bool(false)),
        ("AttachStderr", Value::Bool(false)),
        ("Tty", Value::Bool(false)),
        ("OpenStdin", Value::Bool(false)),
        ("StdinOnce", Value::Bool(false)),
        ("Env", Value::Null),
        ("Cmd", Value::Null),
        ("Image", Value::String(String::new())),
        ("Volumes", Value::Null),
        ("WorkingDir", Value::String(String::new())),
        ("Entrypoint", Value::Null),
        ("OnBuild", Value::Null),
        ("Labels", Value::Null),
    ] {
        config.insert(name.to_owned(), value);
    }
    Value::Object(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Digest {
        Digest::sha256_of(s.as_bytes())
    }

    /// The v1 layer IDs are built on the layer store's chain IDs.
    fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
        ChainId::chain(diff_ids)
            .iter()
            .map(|c| c.digest().clone())
            .collect()
    }

    #[test]
    fn chain_id_of_one_layer_is_its_diff_id() {
        assert_eq!(chain_ids(&[d("a")]), vec![d("a")]);
    }

    #[test]
    fn chain_id_hashes_parent_space_diff_id() {
        let chains = chain_ids(&[d("a"), d("b")]);
        let expected = Digest::sha256_of(format!("{} {}", d("a"), d("b")).as_bytes());
        assert_eq!(chains[1], expected);
    }

    #[test]
    fn lower_layers_name_their_parent_and_top_carries_the_config() {
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux", "created": "2020-01-01T00:00:00Z",
            "config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": []}
        });
        let layers = v1_layers(&config, &[d("a"), d("b")]);
        let lower: Value = serde_json::from_slice(&layers[0].json).unwrap();
        let top: Value = serde_json::from_slice(&layers[1].json).unwrap();
        assert_eq!(lower["created"], "1970-01-01T00:00:00Z");
        assert!(lower.get("parent").is_none());
        assert_eq!(top["parent"], layers[0].id.hex());
        assert_eq!(top["id"], layers[1].id.hex());
        assert_eq!(top["config"]["Cmd"][0], "sh");
        assert!(top.get("rootfs").is_none());
    }

    #[test]
    fn v1_ids_differ_with_the_chain() {
        let config = serde_json::json!({});
        let one = v1_layers(&config, &[d("a"), d("b")]);
        let other = v1_layers(&config, &[d("a"), d("c")]);
        assert_eq!(one[0].id, other[0].id);
        assert_ne!(one[1].id, other[1].id);
    }
}

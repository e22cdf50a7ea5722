//! `hoist history REF`: docker's `image history` rows, from an image config's `history`.
//!
//! docker's `ImageService.ImageHistory` walks the config's `history` entries bottom first,
//! giving each entry that made a layer (`empty_layer` false) the next layer's size and the
//! others 0 bytes, then returns them newest first; the newest row carries the image ID, the
//! others `<missing>` (a pulled image has no local parent images). The CLI prints `IMAGE`,
//! `CREATED`, `CREATED BY`, `SIZE`, `COMMENT`.
//!
//! Sizes are the caller's: a stored image's unpacked layer sizes (docker's), or a remote
//! image's compressed layer sizes (all a registry tells without downloading the layers).
//! A config without `history` gives no rows, as in docker.

use std::time::SystemTime;

use serde_json::Value;

use crate::digest::Digest;
use crate::images::created::parse_rfc3339;

/// One row of `hoist history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// The image ID on the newest row, `None` (docker's `<missing>`) on the others.
    pub id: Option<Digest>,
    /// The entry's `created`, if readable.
    pub created: Option<SystemTime>,
    /// The entry's `created_by` (the build step).
    pub created_by: String,
    /// The size of the layer the step made, 0 for a step that made none.
    pub size: u64,
    /// The entry's `comment`.
    pub comment: String,
    /// Whether the step made no layer (`empty_layer`).
    pub empty_layer: bool,
}

/// The rows for the image `image_id` whose config is `config`, newest first; `layer_sizes`
/// are the sizes of its layers, bottom first (see the module docs).
pub fn history_rows(image_id: &Digest, config: &Value, layer_sizes: &[u64]) -> Vec<HistoryRow> {
    let entries = config
        .get("history")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut sizes = layer_sizes.iter();
    let mut rows: Vec<HistoryRow> = entries
        .iter()
        .map(|entry| {
            let text = |key: &str| {
                entry
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let empty_layer = entry
                .get("empty_layer")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let size = if empty_layer {
                0
            } else {
                sizes.next().copied().unwrap_or(0)
            };
            HistoryRow {
                id: None,
                created: entry
                    .get("created")
                    .and_then(Value::as_str)
                    .and_then(parse_rfc3339),
                created_by: text("created_by"),
                size,
                comment: text("comment"),
                empty_layer,
            }
        })
        .collect();
    rows.reverse();
    if let Some(newest) = rows.first_mut() {
        newest.id = Some(image_id.clone());
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_are_newest_first_with_sizes_for_layer_steps_only() {
        let config = json!({"history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": "ADD file:1 in /"},
            {"created": "2024-01-02T00:00:00Z", "created_by": "ENV A=1", "empty_layer": true},
            {"created": "2024-01-03T00:00:00Z", "created_by": "RUN make", "comment": "c"},
        ]});
        let id = Digest::sha256_of(b"config");
        let rows = history_rows(&id, &config, &[100, 200]);
        let summary: Vec<(&str, u64, bool)> = rows
            .iter()
            .map(|r| (r.created_by.as_str(), r.size, r.id.is_some()))
            .collect();
        assert_eq!(
            summary,
            [
                ("RUN make", 200, true),
                ("ENV A=1", 0, false),
                ("ADD file:1 in /", 100, false)
            ]
        );
        assert_eq!(rows[0].comment, "c");
    }

    #[test]
    fn a_config_without_history_has_no_rows() {
        let id = Digest::sha256_of(b"config");
        assert!(history_rows(&id, &json!({}), &[1]).is_empty());
    }
}

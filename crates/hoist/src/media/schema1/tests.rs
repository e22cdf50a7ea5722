//! Tests of schema 1: JWS payload and digest, docker's `fixManifestLayers`, layers, history
//! and the config built from v1Compatibility.

use super::*;
use base64::Engine as _;

const SIGNED: &[u8] = include_bytes!("../testdata/schema1_signed_hello_world.json");
const SIGNED_DIGEST: &str =
    "sha256:02fee8c3220ba806531f606525eceb83f4feb654f62b207191b1c9209188dedd";
const TOP_BLOB: &str = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4";
const BASE_BLOB: &str = "sha256:03f4658f8b782e12230c1783426bd3bacce651ce582a4ffb6fbbfa2079428ecb";

fn id(n: u8) -> String {
    format!("{n:064x}")
}

fn blob(n: u8) -> String {
    format!("sha256:{n:064x}")
}

/// An unsigned schema 1 manifest from (blobSum, v1Compatibility) pairs, top-most first.
fn unsigned(entries: &[(String, serde_json::Value)]) -> Vec<u8> {
    let fs_layers: Vec<_> = entries
        .iter()
        .map(|(b, _)| serde_json::json!({ "blobSum": b }))
        .collect();
    let history: Vec<_> = entries
        .iter()
        .map(|(_, v1)| serde_json::json!({ "v1Compatibility": v1.to_string() }))
        .collect();
    serde_json::to_vec_pretty(&serde_json::json!({
        "schemaVersion": 1, "name": "library/test", "tag": "latest", "architecture": "arm64",
        "fsLayers": fs_layers, "history": history,
    }))
    .unwrap()
}

/// Three entries, top-most first: a CMD step (throwaway), a RUN layer, the base layer.
fn three_entries() -> Vec<(String, serde_json::Value)> {
    vec![
        (
            blob(9),
            serde_json::json!({"id": id(3), "parent": id(2), "throwaway": true,
                "created": "2020-01-03T00:00:00Z", "docker_version": "19.03.12",
                "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) CMD [\"sh\"]"]},
                "config": {"Cmd": ["sh"], "Labels": {"a&b": "<x>"}},
                "os": "linux", "architecture": "arm64", "variant": "v8", "Size": 0}),
        ),
        (
            blob(2),
            serde_json::json!({"id": id(2), "parent": id(1), "created": "2020-01-02T00:00:00Z",
                "author": "me", "comment": "built",
                "container_config": {"Cmd": "apk add curl"}}),
        ),
        (
            blob(1),
            serde_json::json!({"id": id(1), "created": "2020-01-01T00:00:00Z"}),
        ),
    ]
}

fn image_of(body: &[u8]) -> Schema1Image {
    Schema1Manifest::parse(body).unwrap().to_image().unwrap()
}

fn layer_strings(image: &Schema1Image) -> Vec<String> {
    image.layers.iter().map(Digest::to_string).collect()
}

#[test]
fn signed_manifest_digest_is_over_the_payload_without_signatures() {
    let m = Schema1Manifest::parse(SIGNED).unwrap();
    assert!(m.is_signed());
    assert_eq!(
        m.media_type(),
        crate::media::types::DOCKER_MANIFEST_V1_SIGNED
    );
    assert_eq!(m.digest().to_string(), SIGNED_DIGEST);
    assert_ne!(Digest::sha256_of(SIGNED).to_string(), SIGNED_DIGEST);
    // formatLength 3197 bytes of the body, then the decoded formatTail "\n}".
    assert!(m.canonical().ends_with(b"   ]\n}"));
    assert_eq!(m.canonical().len(), 3199);
    assert!(!String::from_utf8_lossy(m.canonical()).contains("signatures"));
}

#[test]
fn signed_manifest_fields_are_read_from_the_payload() {
    let m = Schema1Manifest::parse(SIGNED).unwrap();
    assert_eq!(m.name, "library/hello-world");
    assert_eq!(m.tag, "latest");
    assert_eq!(m.fs_layers[0].to_string(), TOP_BLOB);
    assert_eq!(m.history.len(), 2);
}

#[test]
fn signed_image_layers_are_bottom_first() {
    let image = image_of(SIGNED);
    assert_eq!(layer_strings(&image), [BASE_BLOB, TOP_BLOB]);
    assert_eq!(image.platform, Platform::new("linux", "amd64", None));
}

#[test]
fn signed_image_history_is_made_like_history_from_config() {
    let image = image_of(SIGNED);
    assert_eq!(image.history.len(), 2);
    assert_eq!(
        image.history[0].created_by().as_deref(),
        Some(
            "/bin/sh -c #(nop) COPY file:4abd3bff60458ca3b079d7b131ce26b2719055a030dfa96ff827da2b7c7038a7 in /"
        )
    );
    assert_eq!(
        image.history[1].created_by().as_deref(),
        Some("/bin/sh -c #(nop) CMD [\"/hello\"]")
    );
    assert_eq!(
        image.history[1].created().as_deref(),
        Some("2015-08-06T23:53:22.608577814Z")
    );
    assert_eq!(image.history[1].empty_layer(), None);
}

#[test]
fn config_from_old_docker_keeps_v1_image_keys_sorted_with_rootfs_and_history() {
    let image = image_of(SIGNED);
    let diff_ids = [blob(1), blob(2)].map(|d| Digest::parse(&d).unwrap());
    let json = String::from_utf8(image.config_json(&diff_ids).unwrap()).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "architecture",
            "config",
            "container",
            "container_config",
            "created",
            "docker_version",
            "history",
            "os",
            "rootfs"
        ]
    );
    assert_eq!(value["history"].as_array().unwrap().len(), 2);
    // Values are kept as written: the Go struct order of container_config, not sorted.
    assert!(json.contains(r#""container_config":{"Hostname":"9aeb0006ffa7","Domainname":"""#));
    // rootfs in the field order of docker's image.RootFS.
    assert!(json.ends_with(&format!(
        r#""rootfs":{{"type":"layers","diff_ids":["{}","{}"]}}}}"#,
        blob(1),
        blob(2)
    )));
    // And the result is what ImageConfig reads.
    let config = crate::media::ImageConfig::parse(json.as_bytes()).unwrap();
    assert_eq!(config.diff_ids(), &diff_ids);
}

#[test]
fn config_of_an_image_without_layers_omits_diff_ids_like_go() {
    let mut entries = three_entries();
    entries.truncate(1);
    entries[0].1["parent"] = serde_json::json!("");
    let image = image_of(&unsigned(&entries));
    assert!(image.layers.is_empty());
    let json = String::from_utf8(image.config_json(&[]).unwrap()).unwrap();
    assert!(json.contains(r#""rootfs":{"type":"layers"}"#), "{json}");
}

#[test]
fn throwaway_entries_give_history_but_no_layer() {
    let image = image_of(&unsigned(&three_entries()));
    assert_eq!(layer_strings(&image), [blob(1), blob(2)]);
    assert_eq!(image.history.len(), 3);
    assert_eq!(image.history[2].empty_layer(), Some(true));
    assert_eq!(image.history[0].empty_layer(), None);
}

#[test]
fn unsigned_manifest_digest_is_over_the_whole_body() {
    let body = unsigned(&three_entries());
    let m = Schema1Manifest::parse(&body).unwrap();
    assert!(!m.is_signed());
    assert_eq!(m.media_type(), crate::media::types::DOCKER_MANIFEST_V1);
    assert_eq!(m.digest(), Digest::sha256_of(&body));
}

#[test]
fn history_reads_author_comment_and_a_string_cmd() {
    let image = image_of(&unsigned(&three_entries()));
    let h = &image.history[1];
    assert_eq!(h.author().as_deref(), Some("me"));
    assert_eq!(h.comment().as_deref(), Some("built"));
    assert_eq!(h.created_by().as_deref(), Some("apk add curl"));
    assert_eq!(image.history[0].created_by(), &None);
}

#[test]
fn platform_comes_from_the_top_v1_compatibility() {
    let image = image_of(&unsigned(&three_entries()));
    assert_eq!(image.platform, Platform::new("linux", "arm64", Some("v8")));
}

#[test]
fn config_from_recent_docker_drops_ids_and_escapes_html_like_go() {
    let image = image_of(&unsigned(&three_entries()));
    let ids = [blob(1), blob(2)].map(|d| Digest::parse(&d).unwrap());
    let json = String::from_utf8(image.config_json(&ids).unwrap()).unwrap();
    for dropped in ["\"id\"", "\"parent\"", "\"Size\"", "\"throwaway\""] {
        assert!(!json.contains(dropped), "{dropped} in {json}");
    }
    assert!(
        json.contains(r#""Labels":{"a\u0026b":"\u003cx\u003e"}"#),
        "{json}"
    );
    assert!(json.contains(r#""variant":"v8""#), "{json}");
}

#[test]
fn config_needs_one_diff_id_per_layer() {
    let image = image_of(SIGNED);
    let err = image.config_json(&[]).unwrap_err();
    assert_eq!(err.to_string(), "0 diffIDs given for 2 schema 1 layers");
}

#[test]
fn consecutive_repeated_ids_are_collapsed() {
    let mut entries = three_entries();
    let repeat = (blob(7), entries[1].1.clone());
    entries.insert(1, repeat);
    let image = image_of(&unsigned(&entries));
    assert_eq!(image.history.len(), 3);
    // docker keeps the later (lower) of the repeated entries.
    assert_eq!(layer_strings(&image), [blob(1), blob(2)]);
}

#[test]
fn non_consecutive_repeated_id_is_refused() {
    let mut entries = three_entries();
    entries[0].1["id"] = serde_json::json!(id(1));
    let err = Schema1Manifest::parse(&unsigned(&entries))
        .unwrap()
        .to_image()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("ID {} appears multiple times in manifest", id(1))
    );
}

#[test]
fn broken_parent_chain_is_refused() {
    let mut entries = three_entries();
    entries[1].1["parent"] = serde_json::json!(id(8));
    let err = Schema1Manifest::parse(&unsigned(&entries))
        .unwrap()
        .to_image()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("invalid parent ID. Expected {}, got {}", id(1), id(8))
    );
}

#[test]
fn base_layer_with_parent_is_refused() {
    let mut entries = three_entries();
    entries[2].1["parent"] = serde_json::json!(id(8));
    let err = Schema1Manifest::parse(&unsigned(&entries))
        .unwrap()
        .to_image()
        .unwrap_err();
    assert!(matches!(err, Schema1Error::BaseLayerHasParent));
}

#[test]
fn invalid_v1_id_is_refused() {
    let mut entries = three_entries();
    entries[2].1["id"] = serde_json::json!("../../etc");
    let err = Schema1Manifest::parse(&unsigned(&entries))
        .unwrap()
        .to_image()
        .unwrap_err();
    assert_eq!(err.to_string(), "image ID \"../../etc\" is invalid");
}

#[test]
fn malformed_v1_compatibility_names_the_entry() {
    let body = format!(
        r#"{{"schemaVersion":1,"fsLayers":[{{"blobSum":"{}"}}],"history":[{{"v1Compatibility":"{{nope"}}]}}"#,
        blob(1)
    );
    let err = Schema1Manifest::parse(body.as_bytes())
        .unwrap()
        .to_image()
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("malformed v1Compatibility of history entry 0:"),
        "{err}"
    );
}

#[test]
fn history_and_fs_layers_of_different_lengths_are_refused() {
    let body = format!(
        r#"{{"schemaVersion":1,"fsLayers":[{{"blobSum":"{}"}}],"history":[]}}"#,
        blob(1)
    );
    let err = Schema1Manifest::parse(body.as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "length of history (0) not equal to number of layers (1)"
    );
}

#[test]
fn manifest_without_layers_is_refused() {
    let err =
        Schema1Manifest::parse(br#"{"schemaVersion":1,"fsLayers":[],"history":[]}"#).unwrap_err();
    assert_eq!(err.to_string(), "no FSLayers in manifest");
}

#[test]
fn schema_version_other_than_1_is_refused() {
    let err =
        Schema1Manifest::parse(br#"{"schemaVersion":2,"fsLayers":[],"history":[]}"#).unwrap_err();
    assert!(matches!(err, Schema1Error::SchemaVersion(2)), "{err}");
}

#[test]
fn invalid_blob_sum_is_refused_quoting_it() {
    let err = Schema1Manifest::parse(
        br#"{"schemaVersion":1,"fsLayers":[{"blobSum":"tarsum+v1:abc"}],"history":[{"v1Compatibility":"{}"}]}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("tarsum+v1:abc"), "{err}");
}

#[test]
fn format_length_beyond_the_body_is_refused() {
    let protected = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(br#"{"formatLength":999999,"formatTail":"Cn0"}"#);
    let body = format!(
        r#"{{"schemaVersion":1,"signatures":[{{"protected":"{protected}","signature":"x"}}]}}"#
    );
    let err = Schema1Manifest::parse(body.as_bytes()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid schema 1 signature: formatLength 999999 is larger"),
        "{err}"
    );
}

#[test]
fn protected_header_that_is_not_base64url_is_refused() {
    let body = br#"{"schemaVersion":1,"signatures":[{"protected":"***","signature":"x"}]}"#;
    let err = Schema1Manifest::parse(body).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid schema 1 signature: protected header of signature 0 is not base64url"
    );
}

#[test]
fn disagreeing_signatures_are_refused() {
    let text = String::from_utf8(SIGNED.to_vec()).unwrap();
    let other = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(br#"{"formatLength":3196,"formatTail":"Cn0"}"#);
    let doubled = text.replacen(
        "\"signatures\": [",
        &format!("\"signatures\": [{{\"protected\":\"{other}\",\"signature\":\"x\"}},"),
        1,
    );
    let err = Schema1Manifest::parse(doubled.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("disagrees"), "{err}");
}

#[test]
fn empty_signature_list_is_refused() {
    let err = Schema1Manifest::parse(br#"{"schemaVersion":1,"signatures":[]}"#).unwrap_err();
    assert!(
        err.to_string().contains("signatures list is empty"),
        "{err}"
    );
}

#[test]
fn tampered_payload_changes_the_digest() {
    let text = String::from_utf8(SIGNED.to_vec()).unwrap();
    // Same length, so formatLength still fits: the digest must change.
    let tampered = text.replacen("\"tag\": \"latest\"", "\"tag\": \"lAtest\"", 1);
    let m = Schema1Manifest::parse(tampered.as_bytes()).unwrap();
    assert_eq!(m.tag, "lAtest");
    assert_ne!(m.digest().to_string(), SIGNED_DIGEST);
}

#[test]
fn deprecation_warning_is_dockers() {
    assert_eq!(
        deprecation_warning("hello-world:latest"),
        "Image hello-world:latest uses outdated schema1 manifest format. Please upgrade to a \
         schema2 image for better future compatibility. More information at \
         https://docs.docker.com/registry/spec/deprecated-schema-v1/"
    );
    assert!(manifest_list_deprecation_notice("x").starts_with("[DEPRECATION NOTICE]"));
}

#[test]
fn go_version_comparison_is_numeric_per_component() {
    assert!(go_version_less_than("1.7.1", "1.8.3"));
    assert!(go_version_less_than("", "1.8.3"));
    assert!(!go_version_less_than("1.10.0", "1.8.3"));
    assert!(!go_version_less_than("1.8.3", "1.8.3"));
    assert!(go_version_less_than("1.8.3-rc1", "1.8.3"));
}

#[test]
fn compaction_keeps_whitespace_inside_strings() {
    let mut out = String::new();
    compact_into("{ \"a b\" : [ 1 , \"x \\\" y\" ] }", &mut out);
    assert_eq!(out, r#"{"a b":[1,"x \" y"]}"#);
}

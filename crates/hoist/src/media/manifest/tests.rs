//! Tests of manifest format detection, validation and verification.

use super::*;
use crate::media::types::{
    DOCKER_CONFIG, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V1_SIGNED, DOCKER_MANIFEST_V2,
    DOCKER_PLUGIN_CONFIG, OCI_INDEX, OCI_MANIFEST,
};
use crate::media::LayerCompression;

const NGINX_ALPINE_INDEX: &[u8] = include_bytes!("../testdata/oci_index_nginx_alpine.json");
const DOCKER_LIST: &[u8] = include_bytes!("../testdata/docker_manifest_list.json");
const DOCKER_SCHEMA2: &[u8] = include_bytes!("../testdata/docker_schema2_manifest.json");
const OCI_ZSTD: &[u8] = include_bytes!("../testdata/oci_manifest_zstd.json");
const SCHEMA1_SIGNED: &[u8] = include_bytes!("../testdata/schema1_signed_hello_world.json");

const LAYER: &str = "sha256:43c4264eed91be63b206e17d93e75256a6097070ce643c5e8f0379998b44f170";
const CONFIG: &str = "sha256:5aad81aca13912be58110c762d4379ba7a6d4d5da095c4383130f413a6df975b";

/// An OCI image manifest with the given config media type (as a JSON value) and layer type.
fn image_manifest(config_media_type: &str, layer_media_type: &str) -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"config":{{"mediaType":{config_media_type},"digest":"{CONFIG}","size":2670}},
            "layers":[{{"mediaType":"{layer_media_type}","digest":"{LAYER}","size":3623807}}]}}"#
    )
    .into_bytes()
}

fn image(m: Manifest) -> ImageManifest {
    match m {
        Manifest::Image(m) => m,
        other => panic!("not an image manifest: {other:?}"),
    }
}

#[test]
fn oci_index_is_parsed_by_content_type() {
    let m = Manifest::parse(OCI_INDEX, NGINX_ALPINE_INDEX).unwrap();
    assert_eq!(m.kind(), ManifestKind::OciIndex);
    let Manifest::Index(i) = m else { panic!() };
    assert_eq!(i.manifests.len(), 16);
}

#[test]
fn docker_manifest_list_is_parsed_by_content_type() {
    let m = Manifest::parse(DOCKER_MANIFEST_LIST, DOCKER_LIST).unwrap();
    assert_eq!(m.kind(), ManifestKind::DockerManifestList);
    assert_eq!(m.media_type(), DOCKER_MANIFEST_LIST);
}

#[test]
fn docker_schema2_manifest_gives_config_and_gzip_layers() {
    let m = Manifest::parse(DOCKER_MANIFEST_V2, DOCKER_SCHEMA2).unwrap();
    assert_eq!(m.kind(), ManifestKind::DockerManifest);
    let m = image(m);
    assert_eq!(m.config.media_type, DOCKER_CONFIG);
    assert_eq!(m.config.digest.to_string(), CONFIG);
    let layers: Vec<_> = m.classified_layers().collect();
    assert_eq!(layers.len(), 3);
    assert!(layers
        .iter()
        .all(|(_, t)| t.compression == LayerCompression::Gzip && t.distributable));
}

#[test]
fn oci_manifest_with_zstd_layers_is_classified_zstd() {
    let m = image(Manifest::parse(OCI_MANIFEST, OCI_ZSTD).unwrap());
    assert_eq!(m.kind(), ManifestKind::OciManifest);
    assert!(m
        .classified_layers()
        .all(|(_, t)| t.compression == LayerCompression::Zstd));
    assert_eq!(m.classified_layers().count(), 2);
}

#[test]
fn generic_content_type_falls_back_to_body_media_type() {
    for ct in [
        "application/json",
        "",
        "text/plain; charset=utf-8",
        "application/octet-stream",
    ] {
        assert_eq!(
            Manifest::parse(ct, DOCKER_SCHEMA2).unwrap().kind(),
            ManifestKind::DockerManifest,
            "{ct:?}"
        );
        assert_eq!(
            Manifest::parse(ct, DOCKER_LIST).unwrap().kind(),
            ManifestKind::DockerManifestList
        );
    }
}

#[test]
fn body_without_media_type_falls_back_to_schema_version_and_shape() {
    let manifest = image_manifest(
        r#""application/vnd.oci.image.config.v1+json""#,
        OCI_LAYER_GZ,
    );
    let m = Manifest::parse("application/json", &manifest).unwrap();
    assert_eq!(m.kind(), ManifestKind::OciManifest);
    // The media type the body left out is filled in.
    assert_eq!(image(m).media_type.as_deref(), Some(OCI_MANIFEST));

    let index = br#"{"schemaVersion":2,"manifests":[]}"#;
    assert_eq!(
        Manifest::parse("", index).unwrap().kind(),
        ManifestKind::OciIndex
    );
    assert_eq!(
        Manifest::parse("application/json", SCHEMA1_SIGNED)
            .unwrap()
            .kind(),
        ManifestKind::DockerSchema1
    );
}

const OCI_LAYER_GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

#[test]
fn content_type_contradicting_body_media_type_is_refused() {
    let err = Manifest::parse(OCI_MANIFEST, DOCKER_LIST).unwrap_err();
    assert!(
        matches!(&err, ManifestError::MediaTypeMismatch { body, .. } if body == DOCKER_MANIFEST_LIST),
        "{err}"
    );
}

#[test]
fn unknown_body_media_type_is_refused_as_unsupported() {
    let body =
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.artifact.manifest.v1+json"}"#;
    let err = Manifest::parse("application/json", body).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported manifest media type \"application/vnd.oci.artifact.manifest.v1+json\""
    );
}

#[test]
fn body_that_says_nothing_is_an_unknown_format() {
    let err = Manifest::parse("application/json", br#"{"hello":"world"}"#).unwrap_err();
    assert!(matches!(err, ManifestError::UnknownFormat { .. }), "{err}");
}

#[test]
fn manifest_over_4_mib_is_refused_before_parsing() {
    let mut body = DOCKER_SCHEMA2.to_vec();
    body.resize(MAX_MANIFEST_SIZE + 1, b' ');
    let err = Manifest::parse(DOCKER_MANIFEST_V2, &body).unwrap_err();
    assert_eq!(
        err.to_string(),
        "manifest is 4194305 bytes, larger than the 4194304-byte (4 MiB) limit"
    );
}

#[test]
fn manifest_of_exactly_4_mib_is_read() {
    let mut body = DOCKER_SCHEMA2.to_vec();
    body.resize(MAX_MANIFEST_SIZE, b' ');
    assert!(Manifest::parse(DOCKER_MANIFEST_V2, &body).is_ok());
}

#[test]
fn every_image_config_type_is_accepted() {
    for t in [
        r#""application/vnd.docker.container.image.v1+json""#,
        r#""application/vnd.oci.image.config.v1+json""#,
        r#""application/octet-stream""#,
        r#""application/json""#,
        r#""text/html""#,
        r#""""#,
        "null",
    ] {
        let body = image_manifest(t, OCI_LAYER_GZ);
        assert!(Manifest::parse(OCI_MANIFEST, &body).is_ok(), "{t}");
    }
}

#[test]
fn plugin_config_is_refused_saying_a_plugin_was_found() {
    let body = image_manifest(&format!("\"{DOCKER_PLUGIN_CONFIG}\""), OCI_LAYER_GZ);
    let err = Manifest::parse(DOCKER_MANIFEST_V2, &body).unwrap_err();
    assert!(matches!(err, ManifestError::PluginConfig { .. }));
    assert_eq!(
        err.to_string(),
        "encountered remote \"plugin\"(application/vnd.docker.plugin.v1+json) when fetching: \
         this is a docker plugin, not an image"
    );
}

#[test]
fn unknown_config_type_is_refused_as_unknown() {
    let body = image_manifest(
        r#""application/vnd.cncf.helm.config.v1+json""#,
        OCI_LAYER_GZ,
    );
    let err = Manifest::parse(OCI_MANIFEST, &body).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "encountered remote \"unknown\"(application/vnd.cncf.helm.config.v1+json) when fetching"
        ),
        "{err}"
    );
}

#[test]
fn caller_may_narrow_the_accepted_config_types() {
    let body = image_manifest(r#""text/html""#, OCI_LAYER_GZ);
    let options = ManifestOptions {
        accepted_config_types: vec![DOCKER_CONFIG.to_owned()],
        require_schema2: false,
    };
    let err = Manifest::parse_with(OCI_MANIFEST, &body, &options).unwrap_err();
    assert!(
        matches!(
            err,
            ManifestError::UnacceptedConfig {
                class: ConfigMediaType::Image,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn config_announced_over_4_mib_is_refused() {
    let body = String::from_utf8(image_manifest(r#""""#, OCI_LAYER_GZ))
        .unwrap()
        .replace("\"size\":2670", "\"size\":4194305");
    let err = Manifest::parse(OCI_MANIFEST, body.as_bytes()).unwrap_err();
    assert!(
        matches!(err, ManifestError::ConfigTooLarge { size: 4194305, .. }),
        "{err}"
    );
}

#[test]
fn unknown_layer_media_type_is_refused_naming_the_layer() {
    let body = image_manifest(
        r#""""#,
        "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
    );
    let err = Manifest::parse(OCI_MANIFEST, &body).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "layer 0 ({LAYER}) has unsupported media type \
             \"application/vnd.oci.image.layer.v1.tar+gzip+encrypted\""
        )
    );
}

#[test]
fn layer_with_file_url_is_refused() {
    let body = String::from_utf8(image_manifest(
        r#""""#,
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    ))
    .unwrap()
    .replace(
        "\"size\":3623807",
        "\"size\":3623807,\"urls\":[\"file:///etc/passwd\"]",
    );
    let err = Manifest::parse(OCI_MANIFEST, body.as_bytes()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid layer 0 in OCI image manifest: url \"file:///etc/passwd\""),
        "{err}"
    );
}

#[test]
fn schema_version_other_than_2_is_refused() {
    let body = String::from_utf8(DOCKER_SCHEMA2.to_vec())
        .unwrap()
        .replace("\"schemaVersion\": 2", "\"schemaVersion\": 3");
    let err = Manifest::parse(DOCKER_MANIFEST_V2, body.as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported schemaVersion 3 in Docker schema 2 manifest (expected 2)"
    );
}

#[test]
fn malformed_json_names_the_format_and_position() {
    let err = Manifest::parse(OCI_MANIFEST, b"{\"schemaVersion\":2,").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("malformed OCI image manifest: EOF while parsing"),
        "{err}"
    );
}

#[test]
fn malformed_json_with_generic_content_type_is_malformed_not_unknown() {
    let err = Manifest::parse("application/json", b"<html>502 Bad Gateway</html>").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("malformed manifest: expected value"),
        "{err}"
    );
}

#[test]
fn missing_config_is_named() {
    let err = Manifest::parse(OCI_MANIFEST, br#"{"schemaVersion":2,"layers":[]}"#).unwrap_err();
    assert!(err.to_string().contains("missing field `config`"), "{err}");
}

#[test]
fn bad_layer_digest_is_quoted() {
    let body = String::from_utf8(DOCKER_SCHEMA2.to_vec())
        .unwrap()
        .replace(LAYER, "sha256:43c4");
    let err = Manifest::parse(DOCKER_MANIFEST_V2, body.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("sha256:43c4"), "{err}");
}

#[test]
fn schema1_is_refused_when_schema2_is_required() {
    let options = ManifestOptions {
        require_schema2: true,
        ..ManifestOptions::default()
    };
    let err =
        Manifest::parse_with(DOCKER_MANIFEST_V1_SIGNED, SCHEMA1_SIGNED, &options).unwrap_err();
    assert!(matches!(err, ManifestError::NotSchema2));
    assert!(
        err.to_string().starts_with("invalid manifest: not schema2"),
        "{err}"
    );
}

#[test]
fn digest_is_over_the_body_for_schema2() {
    let m = Manifest::parse(DOCKER_MANIFEST_V2, DOCKER_SCHEMA2).unwrap();
    assert_eq!(m.digest(DOCKER_SCHEMA2), Digest::sha256_of(DOCKER_SCHEMA2));
}

#[test]
fn digest_is_over_the_payload_for_signed_schema1() {
    let m = Manifest::parse(DOCKER_MANIFEST_V1_SIGNED, SCHEMA1_SIGNED).unwrap();
    let expected =
        Digest::parse("sha256:02fee8c3220ba806531f606525eceb83f4feb654f62b207191b1c9209188dedd")
            .unwrap();
    assert_eq!(m.digest(SCHEMA1_SIGNED), expected);
    m.verify(SCHEMA1_SIGNED, &expected).unwrap();
}

#[test]
fn verify_refuses_a_different_digest_with_dockers_words() {
    let m = Manifest::parse(DOCKER_MANIFEST_V2, DOCKER_SCHEMA2).unwrap();
    let other = Digest::parse(LAYER).unwrap();
    let err = m.verify(DOCKER_SCHEMA2, &other).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("manifest verification failed for digest {LAYER}")),
        "{err}"
    );
}

#[test]
fn verify_uses_the_expected_digests_algorithm() {
    let m = Manifest::parse(DOCKER_MANIFEST_V2, DOCKER_SCHEMA2).unwrap();
    let sha512 = Digest::sha512_of(DOCKER_SCHEMA2);
    m.verify(DOCKER_SCHEMA2, &sha512).unwrap();
}

#[test]
fn null_layers_read_as_no_layers() {
    let body = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"","digest":"{CONFIG}","size":2}},"layers":null}}"#
    );
    let m = image(Manifest::parse(OCI_MANIFEST, body.as_bytes()).unwrap());
    assert!(m.layers.is_empty());
}

#[test]
fn index_with_file_url_entry_is_refused() {
    let body = String::from_utf8(DOCKER_LIST.to_vec()).unwrap().replacen(
        "\"size\": 952,",
        "\"size\": 952, \"urls\": [\"ftp://example.com/x\"],",
        1,
    );
    let err = Manifest::parse(DOCKER_MANIFEST_LIST, body.as_bytes()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid manifest 0 in Docker manifest list"),
        "{err}"
    );
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048),
                                       ct in prop_oneof![
                                           Just(""), Just(OCI_MANIFEST), Just(OCI_INDEX),
                                           Just(DOCKER_MANIFEST_V2), Just(DOCKER_MANIFEST_LIST),
                                           Just(DOCKER_MANIFEST_V1_SIGNED), Just("application/json"),
                                       ]) {
            if let Ok(m) = Manifest::parse(ct, &body) {
                let _ = m.digest(&body);
                if let Manifest::Schema1(s) = m {
                    let _ = s.to_image();
                }
            }
        }

        #[test]
        fn mutated_real_manifests_never_panic(
            which in 0usize..5,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let (ct, original) = [
                (OCI_INDEX, NGINX_ALPINE_INDEX),
                (DOCKER_MANIFEST_LIST, DOCKER_LIST),
                (DOCKER_MANIFEST_V2, DOCKER_SCHEMA2),
                (OCI_MANIFEST, OCI_ZSTD),
                (DOCKER_MANIFEST_V1_SIGNED, SCHEMA1_SIGNED),
            ][which];
            let mut body = original.to_vec();
            for (at, byte) in edits {
                let i = at.index(body.len());
                body[i] = byte;
            }
            for ct in [ct, ""] {
                if let Ok(Manifest::Schema1(s)) = Manifest::parse(ct, &body) {
                    if let Ok(image) = s.to_image() {
                        let ids = vec![Digest::sha256_of(b""); image.layers.len()];
                        let _ = image.config_json(&ids);
                    }
                }
            }
        }
    }
}

#[test]
fn subject_and_artifact_type_are_read_from_manifests_and_indexes() {
    let subject = format!(r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{LAYER}","size":7}}"#);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"application/vnd.example.sbom",
            "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{CONFIG}","size":2}},
            "layers":[],"subject":{subject}}}"#
    );
    let parsed = Manifest::parse(OCI_MANIFEST, manifest.as_bytes()).unwrap();
    // The digest is over the bytes as given: nothing is re-serialised.
    assert_eq!(
        parsed.digest(manifest.as_bytes()),
        Digest::sha256_of(manifest.as_bytes())
    );
    let m = image(parsed);
    assert_eq!(
        m.artifact_type.as_deref(),
        Some("application/vnd.example.sbom")
    );
    assert_eq!(
        m.subject.map(|s| s.digest.to_string()).as_deref(),
        Some(LAYER)
    );

    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","artifactType":"application/vnd.example.bundle","manifests":[],"subject":{subject}}}"#
    );
    let Manifest::Index(i) = Manifest::parse(OCI_INDEX, index.as_bytes()).unwrap() else {
        panic!("not an index");
    };
    assert_eq!(
        i.artifact_type.as_deref(),
        Some("application/vnd.example.bundle")
    );
    assert!(i.subject.is_some());
}

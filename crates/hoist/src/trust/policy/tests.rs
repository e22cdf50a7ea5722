use std::path::Path;

use super::*;
use crate::reference::Reference;
use crate::trust::subject::docker_scopes;

fn parse(text: &str) -> Result<Policy, PolicyError> {
    Policy::parse(Path::new("/etc/p.json"), text)
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

fn scopes(reference: &str) -> Vec<String> {
    docker_scopes(&Reference::parse(reference).unwrap())
}

const LAYERED: &str = r#"{
    "default": [{"type": "reject"}],
    "transports": {
        "docker": {
            "reg:5000/ns/app:v1": [{"type": "insecureAcceptAnything"}],
            "reg:5000/ns": [{"type": "sigstoreSigned", "keyPath": "/k.pub"}],
            "*.example.com": [{"type": "sigstoreSigned", "keyPaths": ["/a.pub", "/b.pub"],
                               "signedIdentity": {"type": "matchRepository"}}],
            "": [{"type": "insecureAcceptAnything"}, {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/g"}]
        },
        "oci": {"/layouts": [{"type": "reject"}]}
    }
}"#;

#[test]
fn the_most_specific_scope_wins() {
    let policy = parse(LAYERED).unwrap();
    let exact = policy.requirements("docker", &scopes("reg:5000/ns/app:v1"));
    assert_eq!(exact, [Requirement::InsecureAcceptAnything]);
    let namespace = policy.requirements("docker", &scopes("reg:5000/ns/app:v2"));
    let Requirement::SigstoreSigned(rule) = &namespace[0] else {
        panic!("{namespace:?}")
    };
    assert_eq!(rule.keys, [KeySource::Path("/k.pub".into())]);
    assert_eq!(rule.signed_identity, SignedIdentity::MatchRepoDigestOrExact);
}

#[test]
fn wildcards_then_the_transport_default_then_the_default() {
    let policy = parse(LAYERED).unwrap();
    let wildcard = policy.requirements("docker", &scopes("a.b.example.com/app:v1"));
    let Requirement::SigstoreSigned(rule) = &wildcard[0] else {
        panic!("{wildcard:?}")
    };
    assert_eq!(rule.keys.len(), 2);
    assert_eq!(rule.signed_identity, SignedIdentity::MatchRepository);
    let transport = policy.requirements("docker", &scopes("other.org/app:v1"));
    assert_eq!(
        transport,
        [Requirement::InsecureAcceptAnything, Requirement::SignedBy]
    );
    assert_eq!(
        policy.requirements("dir", &["/x".into()]),
        [Requirement::Reject]
    );
    assert_eq!(
        policy.requirements("oci", &["/layouts/a:v1".into(), "/layouts".into()]),
        [Requirement::Reject]
    );
}

#[test]
fn key_data_is_base64_and_fulcio_and_rekor_are_kept_and_supported() {
    let policy = parse(
        r#"{"default": [{"type": "sigstoreSigned", "keyData": "UEVN",
              "rekorPublicKeyPath": "/rekor.pub"}],
            "transports": {"docker": {"reg": [{"type": "sigstoreSigned",
              "fulcio": {"caPath": "/ca.pem", "oidcIssuer": "https://issuer", "subjectEmail": "a@b"},
              "rekorPublicKeyData": "UkVL"}]}}}"#,
    )
    .unwrap();
    let Requirement::SigstoreSigned(keyed) = &policy.requirements("docker", &[])[0] else {
        panic!()
    };
    assert_eq!(keyed.keys, [KeySource::Data(b"PEM".to_vec())]);
    assert_eq!(keyed.rekor, [KeySource::Path("/rekor.pub".into())]);
    assert_eq!(keyed.unsupported(), None);
    let Requirement::SigstoreSigned(fulcio) = &policy.requirements("docker", &["reg".into()])[0]
    else {
        panic!()
    };
    let section = fulcio.fulcio.as_ref().unwrap();
    assert_eq!(section.ca, KeySource::Path("/ca.pem".into()));
    assert_eq!(section.oidc_issuer, "https://issuer");
    assert_eq!(section.subject_email, "a@b");
    assert_eq!(fulcio.rekor, [KeySource::Data(b"REK".to_vec())]);
    assert_eq!(fulcio.unsupported(), None);
}

#[test]
fn every_signed_identity_type_parses() {
    let policy = parse(
        r#"{"default": [{"type": "reject"}], "transports": {"docker": {
            "a": [{"type": "sigstoreSigned", "keyPath": "/k", "signedIdentity": {"type": "matchExact"}}],
            "b": [{"type": "sigstoreSigned", "keyPath": "/k", "signedIdentity": {"type": "exactReference", "dockerReference": "reg/app:v1"}}],
            "c": [{"type": "sigstoreSigned", "keyPath": "/k", "signedIdentity": {"type": "exactRepository", "dockerRepository": "reg/app"}}],
            "d": [{"type": "sigstoreSigned", "keyPath": "/k", "signedIdentity": {"type": "remapIdentity", "prefix": "mirror:5000", "signedPrefix": "docker.io/library"}}]
        }}}"#,
    )
    .unwrap();
    let identity = |scope: &str| match &policy.requirements("docker", &[scope.to_owned()])[0] {
        Requirement::SigstoreSigned(rule) => rule.signed_identity.name(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        ["a", "b", "c", "d"].map(identity),
        [
            "matchExact",
            "exactReference",
            "exactRepository",
            "remapIdentity"
        ]
    );
}

#[test]
fn malformed_files_say_file_line_and_problem() {
    let err = error("{\n  \"default\": [\n    {\"type\": \"insecureAcceptAnything\"}\n  ],\n  \"defualt\": []\n}");
    assert!(err.starts_with("invalid /etc/p.json:5:"), "{err}");
    assert!(err.contains("unknown field `defualt`"), "{err}");
    assert!(!err.contains('\n'), "{err}");

    let err = error("{\"default\": [{\"type\": \"acceptEverything\"}]}");
    assert!(
        err.contains(":1:") && err.contains("unknown requirement type \"acceptEverything\""),
        "{err}"
    );

    let err = error("{\"default\": []}");
    assert!(err.contains("may not be empty"), "{err}");

    let err =
        error("{\"default\": [{\"type\": \"reject\"}], \"default\": [{\"type\": \"reject\"}]}");
    assert!(err.contains("duplicate field `default`"), "{err}");

    let err = error(
        "{\"default\": [{\"type\": \"reject\"}],\n \"transports\": {\"docker\": {\"a\": [{\"type\": \"reject\"}],\n \"a\": [{\"type\": \"reject\"}]}}}",
    );
    assert!(
        err.contains(":3:") && err.contains("duplicate key \"a\""),
        "{err}"
    );

    let err = error("{\"default\": [{\"type\": \"reject\", \"keyPath\": \"/k\"}]}");
    assert!(
        err.contains("field \"keyPath\" is not valid in \"reject\""),
        "{err}"
    );

    let err = error("{\"default\": [{\"type\": \"sigstoreSigned\", \"keyPath\": \"/k\", \"keyData\": \"AA==\"}]}");
    assert!(err.contains("exactly one of"), "{err}");

    let err = error("{\"default\": [{\"type\": \"sigstoreSigned\"}]}");
    assert!(err.contains("exactly one of"), "{err}");

    let err = error("{\"default\": [{\"type\": \"sigstoreSigned\", \"fulcio\": {\"caPath\": \"/c\", \"oidcIssuer\": \"i\", \"subjectEmail\": \"e\"}}]}");
    assert!(err.contains("needs a Rekor public key"), "{err}");

    let err = error("{\"default\": [{\"type\": \"sigstoreSigned\", \"keyData\": \"%%%\"}]}");
    assert!(err.contains("not base64"), "{err}");

    let err = error("{\"default\": [{\"type\": \"sigstoreSigned\", \"keyPath\": \"/k\", \"signedIdentity\": {\"type\": \"exactReference\", \"dockerReference\": \"reg/app\"}}]}");
    assert!(err.contains("needs a tag or digest"), "{err}");

    let err = error("{\"default\": [{\"type\": \"sigstoreSigned\", \"keyPath\": \"/k\", \"signedIdentity\": {\"type\": \"remapIdentity\", \"prefix\": \"busybox\", \"signedPrefix\": \"docker.io/library\"}}]}");
    assert!(err.contains("written in full"), "{err}");

    let err = error("{\"default\": [{\"type\": \"sigstoreSigned\", \"keyPath\": \"/k\", \"signedIdentity\": {\"type\": \"matchExact\", \"prefix\": \"a\"}}]}");
    assert!(err.contains("field \"prefix\" is not valid"), "{err}");

    let err = error("{\"default\": [{\"type\": \"reject\"}], \"transports\": {\"docker\": {\"a*.com\": [{\"type\": \"reject\"}]}}}");
    assert!(err.contains("invalid scope"), "{err}");

    let err = error("not json");
    assert!(err.starts_with("invalid /etc/p.json:1:"), "{err}");
}

/// A policy whose default is one `sigstoreSigned` with `fulcio` = `section` and `rekor`
/// (extra fields, written after `"fulcio"`), laid over several lines.
fn fulcio_policy(section: &str, rekor: &str) -> String {
    format!(
        "{{\n  \"default\": [\n    {{\"type\": \"sigstoreSigned\",\n     \"fulcio\": {section}{rekor}}}\n  ]\n}}"
    )
}

#[test]
fn fulcio_with_ca_data_and_rekor_paths_parses() {
    let text = fulcio_policy(
        r#"{"caData": "Q0E=", "oidcIssuer": "https://accounts.example", "subjectEmail": "dev@example.com"}"#,
        r#", "rekorPublicKeyPaths": ["/r1.pub", "/r2.pub"]"#,
    );
    let policy = parse(&text).unwrap();
    let Requirement::SigstoreSigned(rule) = &policy.requirements("docker", &[])[0] else {
        panic!()
    };
    assert_eq!(
        rule.fulcio.as_ref().unwrap().ca,
        KeySource::Data(b"CA".to_vec())
    );
    assert_eq!(rule.rekor.len(), 2);
    assert!(rule.keys.is_empty());
}

#[test]
fn malformed_fulcio_sections_say_file_line_and_problem() {
    let rekor = r#", "rekorPublicKeyPath": "/r.pub""#;
    let cases = [
        (
            r#"{"caPath": "/ca", "caData": "Q0E=", "oidcIssuer": "i", "subjectEmail": "e"}"#,
            rekor,
            "fulcio needs exactly one of caPath, caData",
        ),
        (
            r#"{"oidcIssuer": "i", "subjectEmail": "e"}"#,
            rekor,
            "fulcio needs exactly one of caPath, caData",
        ),
        (
            r#"{"caPath": "", "oidcIssuer": "i", "subjectEmail": "e"}"#,
            rekor,
            "fulcio needs exactly one of caPath, caData",
        ),
        (
            r#"{"caPath": "/ca", "subjectEmail": "e"}"#,
            rekor,
            "fulcio needs a non-empty oidcIssuer and subjectEmail",
        ),
        (
            r#"{"caPath": "/ca", "oidcIssuer": "i", "subjectEmail": ""}"#,
            rekor,
            "fulcio needs a non-empty oidcIssuer and subjectEmail",
        ),
        (
            r#"{"caPath": "/ca", "oidcIssuer": "i", "subjectEmail": "e", "subjectHostname": "h"}"#,
            rekor,
            "unknown field `subjectHostname`",
        ),
        (
            r#"{"caPath": "/ca", "caPath": "/ca2", "oidcIssuer": "i", "subjectEmail": "e"}"#,
            rekor,
            "duplicate field `caPath`",
        ),
        (
            r#"{"caData": "%%", "oidcIssuer": "i", "subjectEmail": "e"}"#,
            rekor,
            "caData is not base64",
        ),
        (
            r#"{"caPath": "/ca", "oidcIssuer": "i", "subjectEmail": "e"}"#,
            "",
            "fulcio needs a Rekor public key",
        ),
        (
            r#"{"caPath": "/ca", "oidcIssuer": "i", "subjectEmail": "e"}"#,
            r#", "rekorPublicKeyPath": "/r.pub", "rekorPublicKeyData": "UkVL""#,
            "only one of rekorPublicKeyPath, rekorPublicKeyPaths",
        ),
        (
            r#"{"caPath": "/ca", "oidcIssuer": "i", "subjectEmail": "e"}"#,
            r#", "keyPath": "/k.pub", "rekorPublicKeyPath": "/r.pub""#,
            "exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, pki",
        ),
        (r#""/ca.pem""#, rekor, "invalid type: string"),
    ];
    for (section, extra, problem) in cases {
        let err = error(&fulcio_policy(section, extra));
        // serde_json names where it stood when the problem showed: inside the fulcio section
        // (line 4) for its own fields, or just past the requirement holding it (line 5, the
        // `]`) for what is checked once the requirement is read whole.
        assert!(
            err.starts_with("invalid /etc/p.json:4:") || err.starts_with("invalid /etc/p.json:5:"),
            "{section}: {err}"
        );
        assert!(err.contains(problem), "{section}: {err}");
        assert!(!err.contains('\n'), "{err}");
    }
}

#[test]
fn no_file_found_means_no_policy_unless_one_is_named() {
    let home = tempfile::tempdir().unwrap();
    let named = Path::new("/named/policy.json");
    assert_eq!(
        Policy::locate(Some(named), Some(home.path())).as_deref(),
        Some(named)
    );
    let user = home.path().join(".config/containers/policy.json");
    std::fs::create_dir_all(user.parent().unwrap()).unwrap();
    std::fs::write(&user, "{}").unwrap();
    assert_eq!(Policy::locate(None, Some(home.path())), Some(user));
}

use super::*;

/// The YAML example of skopeo 1.22's `skopeo-sync(1)`, byte for byte.
const SKOPEO_MAN_PAGE_YAML: &str = include_str!("../testdata/skopeo-sync-man-page.yml");

/// The same document in hoist's TOML form.
const SAME_IN_TOML: &str = r#"
["registry.example.com"]
credentials = { username = "john", password = "this is a secret" }
tls-verify = true
cert-dir = "/home/john/certs"

["registry.example.com".images]
busybox = []
redis = ["1.0", "2.0", "sha256:0000000000000000000000000000000011111111111111111111111111111111"]

["registry.example.com".images-by-tag-regex]
nginx = '^1\.13\.[12]-alpine-perl$'

["registry.example.com".images-by-semver]
alpine = ">= 3.12.0"

["quay.io"]
tls-verify = false
images = { "coreos/etcd" = ["latest"] }
"#;

/// What a file says, in a comparable form: registry, repository, filter.
fn summary(file: &SourceFile) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (registry, images) in &file.registries {
        for (repository, filter) in &images.repositories {
            let filter = match filter {
                TagFilter::All => "all".to_owned(),
                TagFilter::Listed(tags) => format!("tags {}", tags.join(",")),
                TagFilter::Regex(r) => format!("regex {}", r.as_str()),
                TagFilter::Semver(_) => "semver".to_owned(),
            };
            out.push((registry.clone(), repository.clone(), filter));
        }
    }
    out
}

#[test]
fn skopeo_man_page_yaml_gives_its_five_repositories() {
    let file = SourceFile::parse_yaml(SKOPEO_MAN_PAGE_YAML).unwrap();

    let digest = "sha256:0000000000000000000000000000000011111111111111111111111111111111";
    let expected = [
        ("quay.io", "coreos/etcd", "tags latest".to_owned()),
        ("registry.example.com", "busybox", "all".to_owned()),
        (
            "registry.example.com",
            "redis",
            format!("tags 1.0,2.0,{digest}"),
        ),
        (
            "registry.example.com",
            "nginx",
            r"regex ^1\.13\.[12]-alpine-perl$".to_owned(),
        ),
        ("registry.example.com", "alpine", "semver".to_owned()),
    ];
    let expected: Vec<_> = expected
        .into_iter()
        .map(|(r, p, f)| (r.to_owned(), p.to_owned(), f))
        .collect();
    assert_eq!(summary(&file), expected);
}

#[test]
fn skopeo_man_page_registry_settings_are_kept() {
    let file = SourceFile::parse_yaml(SKOPEO_MAN_PAGE_YAML).unwrap();

    let example = &file.registries["registry.example.com"];
    assert_eq!(
        example.credentials,
        Some(Credentials::Basic {
            username: "john".into(),
            password: "this is a secret".into()
        })
    );
    assert_eq!(example.tls_verify, Some(true));
    assert_eq!(example.cert_dir, Some(PathBuf::from("/home/john/certs")));
    let quay = &file.registries["quay.io"];
    assert_eq!(
        (quay.tls_verify, quay.credentials.is_none()),
        (Some(false), true)
    );

    let mut config = RegistryConfig::default();
    config
        .registries
        .entry("quay.io".into())
        .or_default()
        .insecure = false;
    file.apply_to(&mut config);
    assert!(config.host("quay.io").insecure);
    let example = config.host("registry.example.com");
    assert!(!example.insecure);
    assert_eq!(example.cert_dir, Some(PathBuf::from("/home/john/certs")));
}

#[test]
fn the_toml_form_says_the_same() {
    let yaml = SourceFile::parse_yaml(SKOPEO_MAN_PAGE_YAML).unwrap();
    let toml = SourceFile::parse_toml(SAME_IN_TOML).unwrap();

    assert_eq!(summary(&toml), summary(&yaml));
    let (a, b) = (&yaml.registries["quay.io"], &toml.registries["quay.io"]);
    assert_eq!(a.tls_verify, b.tls_verify);
    let (a, b) = (
        &yaml.registries["registry.example.com"],
        &toml.registries["registry.example.com"],
    );
    assert_eq!((&a.credentials, &a.cert_dir), (&b.credentials, &b.cert_dir));
}

#[test]
fn unquoted_numbers_are_tags_as_written() {
    let file =
        SourceFile::parse_yaml("r.example:\n  images:\n    redis: [1.0, 7, 2.10]\n").unwrap();

    assert_eq!(
        summary(&file)[0].2,
        "tags 1.0,7,2.10",
        "yaml.v3 decodes a plain scalar into a string as written"
    );
}

#[test]
fn a_repository_without_a_list_takes_every_tag() {
    let file = SourceFile::parse_yaml("r.example:\n  images:\n    busybox:\n").unwrap();

    assert_eq!(summary(&file)[0].2, "all");
}

#[test]
fn empty_documents_and_registries_sync_nothing() {
    assert!(SourceFile::parse_yaml("").unwrap().registries.is_empty());
    let file = SourceFile::parse_yaml("r.example:\n").unwrap();
    assert!(file.registries["r.example"].repositories.is_empty());
}

#[test]
fn misspelt_keys_and_bad_filters_are_refused() {
    let err = SourceFile::parse_yaml("r.example:\n  image:\n    busybox: []\n").unwrap_err();
    assert!(err.to_string().contains("image"), "{err}");

    let err =
        SourceFile::parse_yaml("r.example:\n  images-by-tag-regex:\n    x: \"(\"\n").unwrap_err();
    assert!(matches!(err, SyncError::Filter { .. }), "{err}");

    let err =
        SourceFile::parse_yaml("r.example:\n  images-by-semver:\n    x: \">= one\"\n").unwrap_err();
    assert!(err.to_string().contains("x"), "{err}");
}

#[test]
fn file_credentials_come_before_stored_ones() {
    let file = SourceFile::parse_yaml(SKOPEO_MAN_PAGE_YAML).unwrap();
    let stored = crate::registry::StaticCredentials::none().with(
        "quay.io",
        Credentials::Basic {
            username: "stored".into(),
            password: "p".into(),
        },
    );

    let lookup = file.credentials(Arc::new(stored));

    let user = |host: &str| match lookup.lookup(host).unwrap() {
        Some(Credentials::Basic { username, .. }) => username,
        other => format!("{other:?}"),
    };
    assert_eq!(user("registry.example.com"), "john");
    assert_eq!(user("quay.io"), "stored");
    assert_eq!(user("other.example"), "None");
}

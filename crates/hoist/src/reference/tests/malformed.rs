//! Malformed references: each must be refused with an error that quotes the input and names
//! the specific problem. Inputs marked "docker" come from distribution's own invalid-name
//! tables (normalize_test.go, reference_test.go).

use crate::reference::*;

/// The variant's name, so the table can say which reason it expects.
fn kind(err: &ReferenceError) -> &'static str {
    match err {
        ReferenceError::Empty => "Empty",
        ReferenceError::HexRepositoryName { .. } => "HexRepositoryName",
        ReferenceError::Uppercase { .. } => "Uppercase",
        ReferenceError::MissingPath { .. } => "MissingPath",
        ReferenceError::MissingName { .. } => "MissingName",
        ReferenceError::InvalidDomainCharacter { .. } => "InvalidDomainCharacter",
        ReferenceError::EmptyDomainComponent { .. } => "EmptyDomainComponent",
        ReferenceError::DomainComponentHyphen { .. } => "DomainComponentHyphen",
        ReferenceError::InvalidIpv6 { .. } => "InvalidIpv6",
        ReferenceError::InvalidPort { .. } => "InvalidPort",
        ReferenceError::EmptyPathComponent { .. } => "EmptyPathComponent",
        ReferenceError::InvalidPathCharacter { .. } => "InvalidPathCharacter",
        ReferenceError::PathComponentEdge { .. } => "PathComponentEdge",
        ReferenceError::InvalidPathSeparator { .. } => "InvalidPathSeparator",
        ReferenceError::NameTooLong { .. } => "NameTooLong",
        ReferenceError::EmptyTag { .. } => "EmptyTag",
        ReferenceError::TagTooLong { .. } => "TagTooLong",
        ReferenceError::InvalidTagStart { .. } => "InvalidTagStart",
        ReferenceError::InvalidTagCharacter { .. } => "InvalidTagCharacter",
        ReferenceError::EmptyDigest { .. } => "EmptyDigest",
        ReferenceError::InvalidDigest { .. } => "InvalidDigest",
        ReferenceError::UnexpectedTag { .. } => "UnexpectedTag",
        ReferenceError::UnexpectedDigest { .. } => "UnexpectedDigest",
        ReferenceError::ReservedName { .. } => "ReservedName",
    }
}

/// What a pull does with a name first: parse it, then refuse reserved names.
fn parse_for_pull(input: &str) -> Result<Reference, ReferenceError> {
    let reference = Reference::parse(input)?;
    validate_repo_name(reference.repository())?;
    Ok(reference)
}

const FF64: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

/// (input, expected variant, fragment the message must contain)
#[rustfmt::skip]
const MALFORMED: &[(&str, &str, &str)] = &[
    // empty and image IDs
    ("", "Empty", "needs at least a repository name"),
    ("1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", "HexRepositoryName", "cannot specify 64-byte hexadecimal strings"), // docker
    // uppercase
    ("docker/Docker", "Uppercase", "repository name \"docker/Docker\" must be lowercase"), // docker
    ("docker.io/docker/Docker", "Uppercase", "\"docker/Docker\" must be lowercase"), // docker
    ("Uppercase:tag", "Uppercase", "\"Uppercase\" must be lowercase"), // docker
    ("test:5000/Uppercase/lowercase:tag", "Uppercase", "must be lowercase"), // docker
    ("Ubuntu", "Uppercase", "must be lowercase"),
    // missing parts
    ("localhost/", "MissingPath", "no repository path after the domain \"localhost\""),
    ("docker.io/", "MissingPath", "no repository path after the domain \"docker.io\""),
    (":justtag", "MissingName", "no repository name before the tag or digest"), // docker
    ("@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "MissingName", "no repository name"), // docker
    ("localhost:5000/:tag", "MissingName", "no repository name"),
    // domains
    ("a_b.c/x", "InvalidDomainCharacter", "domain \"a_b.c\" contains '_'"),
    ("Foo_Bar/x", "InvalidDomainCharacter", "contains '_'"),
    ("user@example.com/app", "InvalidDomainCharacter", "contains '@'"),
    ("foo..com/bar", "EmptyDomainComponent", "has an empty part"),
    (".foo.com/bar", "EmptyDomainComponent", "has an empty part"),
    ("foo.com./bar", "EmptyDomainComponent", "has an empty part"),
    ("-docker.io/docker/docker", "DomainComponentHyphen", "\"-docker\" of \"-docker.io\" must not start or end with '-'"), // docker
    ("foo-.com/bar", "DomainComponentHyphen", "must not start or end with '-'"),
    ("[fe80::1%eth0]:5000/debian", "InvalidIpv6", "not a bracketed IPv6 address"), // docker
    ("[fe80::1%@invalidzone]:5000/repo", "InvalidIpv6", "not a bracketed IPv6 address"), // docker
    ("[2001:db8:3:4::192.0.2.33]:5000/debian", "InvalidIpv6", "no embedded IPv4"), // docker
    ("[]:5000/foo", "InvalidIpv6", "not a bracketed IPv6 address"),
    ("[::1/foo", "InvalidIpv6", "not a bracketed IPv6 address"),
    ("[::1]5000/foo", "InvalidIpv6", "optional ':PORT'"),
    // ports
    ("https://github.com/docker/docker", "InvalidPort", "port \"\" of domain \"https:\" must be decimal digits"), // docker
    ("fc00::1:5000/debian", "InvalidPort", "port \":1:5000\""), // docker
    ("localhost:abc/foo", "InvalidPort", "port \"abc\""),
    ("localhost:/foo", "InvalidPort", "port \"\""),
    ("[::1]:/foo", "InvalidPort", "port \"\""),
    ("registry:50x0/foo", "InvalidPort", "must be decimal digits"),
    // path components
    ("docker///docker", "EmptyPathComponent", "doubled '/'"), // docker
    ("docker.io/docker///docker", "EmptyPathComponent", "doubled '/'"), // docker
    ("docker/", "EmptyPathComponent", "trailing"), // docker
    ("/docker", "EmptyPathComponent", "leading"),
    ("-docker", "PathComponentEdge", "\"-docker\" must start and end with a lowercase letter or digit"), // docker
    ("-docker/docker", "PathComponentEdge", "must start and end"), // docker
    ("docker-/docker", "PathComponentEdge", "\"docker-\""), // docker
    ("-docker-/docker", "PathComponentEdge", "must start and end"), // docker
    ("____/____", "PathComponentEdge", "\"____\""), // docker
    ("_docker/_docker", "PathComponentEdge", "\"_docker\""), // docker
    ("foo/bar.", "PathComponentEdge", "\"bar.\""),
    // docker's own cases: a first component with '.' is read as a domain
    ("dock..er/docker", "EmptyDomainComponent", "domain \"dock..er\" has an empty part"), // docker
    ("dock_.er/docker", "InvalidDomainCharacter", "domain \"dock_.er\" contains '_'"), // docker
    ("dock-.er/docker", "DomainComponentHyphen", "\"dock-\" of \"dock-.er\""), // docker
    ("library/dock..er", "InvalidPathSeparator", "separator \"..\" in path component \"dock..er\""),
    ("foo/dock_.er", "InvalidPathSeparator", "separator \"_.\""),
    ("foo/dock-.er", "InvalidPathSeparator", "separator \"-.\""),
    ("dock___er/docker", "InvalidPathSeparator", "separator \"___\""),
    ("a-_b", "InvalidPathSeparator", "separator \"-_\""),
    ("aa/asdf$$^/aa", "InvalidPathCharacter", "path component \"asdf$$^\" contains '$'"), // docker
    ("foo bar", "InvalidPathCharacter", "contains ' '"),
    ("ubuntu\n", "InvalidPathCharacter", "contains '\\n'"),
    ("ünïcode/app", "InvalidPathCharacter", "contains 'ü'"),
    ("[fc00::1]", "InvalidPathCharacter", "contains '['"), // docker
    ("[fc00::1]:5000", "InvalidPathCharacter", "contains '['"), // docker
    // length (docker: "this_is_not_a_valid_namespace..." is 255 + "/docker")
    ("this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker", "NameTooLong", "at most 255 are allowed"), // docker
    // tags
    ("foo:", "EmptyTag", "':' must be followed by a tag"),
    ("localhost:5000/foo:", "EmptyTag", "':' must be followed by a tag"),
    ("foo:@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "EmptyTag", "':' must be followed by a tag"),
    ("foo:-bar", "InvalidTagStart", "tag \"-bar\" in reference \"foo:-bar\": it must not start with '-'"),
    ("foo:.bar", "InvalidTagStart", "must not start with '.'"),
    ("foo:bar!", "InvalidTagCharacter", "tag \"bar!\" in reference \"foo:bar!\": it contains '!'"),
    ("foo:tag:other", "InvalidTagCharacter", "contains ':'"),
    ("foo:täg", "InvalidTagCharacter", "contains 'ä'"),
    ("foo:a+b", "InvalidTagCharacter", "contains '+'"),
    // digests
    ("foo@", "EmptyDigest", "'@' must be followed by a digest"),
    ("foo:tag@", "EmptyDigest", "'@' must be followed by a digest"),
    ("repo@sha256:ffffffffffffffffffffffffffffffffff", "InvalidDigest", "sha256 needs 64 hex characters, found 34"), // docker
    ("validname@invaliddigest:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "InvalidDigest", "unsupported digest algorithm \"invaliddigest\""), // docker
    ("foo@md5:d41d8cd98f00b204e9800998ecf8427e", "InvalidDigest", "unsupported digest algorithm \"md5\""),
    ("foo@sha256:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", "InvalidDigest", "'F' is not lowercase hex"),
    ("foo@sha256", "InvalidDigest", "missing ':' between algorithm and hex"),
    ("foo@:ffff", "InvalidDigest", "empty algorithm"),
    ("foo@sha256:", "InvalidDigest", "empty hex"),
    ("foo@SHA256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "InvalidDigest", "algorithm must be lowercase"),
    ("foo@sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "InvalidDigest", "sha512 needs 128 hex characters, found 64"),
    ("foo@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff@bar", "InvalidDigest", "found 68"),
    // reserved
    ("scratch", "ReservedName", "\"scratch\" is a reserved name"),
];

fn assert_refused(input: &str, expected_kind: &str, fragment: &str) {
    let err = match parse_for_pull(input) {
        Ok(reference) => panic!("{input:?} should be refused, parsed as {reference}"),
        Err(err) => err,
    };
    let message = err.to_string();
    assert_eq!(kind(&err), expected_kind, "{input:?}: {message}");
    assert!(
        message.contains(&format!("{input:?}")),
        "message for {input:?} does not quote it: {message}"
    );
    assert!(
        message.contains(fragment),
        "message for {input:?} does not say {fragment:?}: {message}"
    );
}

#[test]
fn malformed_table_has_at_least_forty_cases() {
    assert!(MALFORMED.len() >= 40, "{}", MALFORMED.len());
}

#[test]
fn every_malformed_reference_is_refused_with_a_message_quoting_it_and_naming_the_problem() {
    for (input, expected_kind, fragment) in MALFORMED {
        assert_refused(input, expected_kind, fragment);
    }
}

#[test]
fn name_of_256_characters_is_too_long() {
    let input = format!("example.com/{}", "a".repeat(256 - "example.com/".len()));
    assert_refused(&input, "NameTooLong", "is 256 characters long");
}

#[test]
fn docker_name_too_long_vector_is_refused() {
    // reference_test.go: strings.Repeat("a/", 128) + "a:tag"
    let input = format!("{}a:tag", "a/".repeat(128));
    assert_refused(&input, "NameTooLong", "at most 255 are allowed");
}

#[test]
fn tag_of_129_characters_is_too_long() {
    let input = format!("ubuntu:{}", "t".repeat(129));
    assert_refused(
        &input,
        "TagTooLong",
        "is 129 characters long; at most 128 are allowed",
    );
}

#[test]
fn digest_error_is_kept_as_the_source() {
    let input = format!("foo@sha256:{}", &FF64[..10]);
    let err = Reference::parse(&input).unwrap_err();
    let source = std::error::Error::source(&err).unwrap();
    assert!(source
        .downcast_ref::<crate::digest::DigestError>()
        .is_some());
}

#[test]
fn error_message_for_an_invalid_port_is_specific() {
    let err = Reference::parse("localhost:abc/foo").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid reference \"localhost:abc/foo\": port \"abc\" of domain \"localhost:abc\" must be decimal digits"
    );
}

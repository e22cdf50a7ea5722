//! docker's reference test vectors (distribution's `normalize_test.go` and `reference_test.go`,
//! run through `ParseNormalizedNamed`), written down as a table with the expected parts, the
//! familiar form and the canonical string; plus the behaviour of the reference operations.

use crate::reference::*;

macro_rules! ff256 {
    () => {
        "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    };
}
macro_rules! busybox256 {
    () => {
        "sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
    };
}
macro_rules! redis256 {
    () => {
        "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"
    };
}
macro_rules! ff512 {
    () => {
        "sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    };
}

/// One valid input and what it must parse to.
struct Vector {
    input: &'static str,
    domain: &'static str,
    path: &'static str,
    tag: Option<&'static str>,
    digest: Option<&'static str>,
    familiar: &'static str,
    canonical: &'static str,
}

const fn v(
    input: &'static str,
    domain: &'static str,
    path: &'static str,
    tag: Option<&'static str>,
    digest: Option<&'static str>,
    familiar: &'static str,
    canonical: &'static str,
) -> Vector {
    Vector {
        input,
        domain,
        path,
        tag,
        digest,
        familiar,
        canonical,
    }
}

const N: Option<&str> = None;
const HUB: &str = "docker.io";

#[rustfmt::skip]
const VECTORS: &[Vector] = &[
    // normalize_test.go TestValidateReferenceName (valid)
    v("docker/docker", HUB, "docker/docker", N, N, "docker/docker", "docker.io/docker/docker"),
    v("library/debian", HUB, "library/debian", N, N, "debian", "docker.io/library/debian"),
    v("debian", HUB, "library/debian", N, N, "debian", "docker.io/library/debian"),
    v("docker.io/docker/docker", HUB, "docker/docker", N, N, "docker/docker", "docker.io/docker/docker"),
    v("docker.io/library/debian", HUB, "library/debian", N, N, "debian", "docker.io/library/debian"),
    v("docker.io/debian", HUB, "library/debian", N, N, "debian", "docker.io/library/debian"),
    v("index.docker.io/docker/docker", HUB, "docker/docker", N, N, "docker/docker", "docker.io/docker/docker"),
    v("index.docker.io/library/debian", HUB, "library/debian", N, N, "debian", "docker.io/library/debian"),
    v("index.docker.io/debian", HUB, "library/debian", N, N, "debian", "docker.io/library/debian"),
    v("127.0.0.1:5000/docker/docker", "127.0.0.1:5000", "docker/docker", N, N, "127.0.0.1:5000/docker/docker", "127.0.0.1:5000/docker/docker"),
    v("127.0.0.1:5000/library/debian", "127.0.0.1:5000", "library/debian", N, N, "127.0.0.1:5000/library/debian", "127.0.0.1:5000/library/debian"),
    v("127.0.0.1:5000/debian", "127.0.0.1:5000", "debian", N, N, "127.0.0.1:5000/debian", "127.0.0.1:5000/debian"),
    v("192.168.0.1", HUB, "library/192.168.0.1", N, N, "192.168.0.1", "docker.io/library/192.168.0.1"),
    v("192.168.0.1:80", HUB, "library/192.168.0.1", Some("80"), N, "192.168.0.1:80", "docker.io/library/192.168.0.1:80"),
    v("192.168.0.1:8/debian", "192.168.0.1:8", "debian", N, N, "192.168.0.1:8/debian", "192.168.0.1:8/debian"),
    v("192.168.0.2:25000/debian", "192.168.0.2:25000", "debian", N, N, "192.168.0.2:25000/debian", "192.168.0.2:25000/debian"),
    v("thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", HUB, "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", N, N, "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev"),
    v("[fc00::1]:5000/docker", "[fc00::1]:5000", "docker", N, N, "[fc00::1]:5000/docker", "[fc00::1]:5000/docker"),
    v("[fc00::1]:5000/docker/docker", "[fc00::1]:5000", "docker/docker", N, N, "[fc00::1]:5000/docker/docker", "[fc00::1]:5000/docker/docker"),
    v("[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000", "library/debian", N, N, "[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000/library/debian"),
    v("docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", HUB, "library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", N, N, "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", "docker.io/library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"),
    v("Docker/docker", "Docker", "docker", N, N, "Docker/docker", "Docker/docker"),
    v("DOCKER/docker", "DOCKER", "docker", N, N, "DOCKER/docker", "DOCKER/docker"),
    // normalize_test.go TestValidateRemoteName (valid)
    v("docker-rules/docker", HUB, "docker-rules/docker", N, N, "docker-rules/docker", "docker.io/docker-rules/docker"),
    v("docker---rules/docker", HUB, "docker---rules/docker", N, N, "docker---rules/docker", "docker.io/docker---rules/docker"),
    v("doc/docker", HUB, "doc/docker", N, N, "doc/docker", "docker.io/doc/docker"),
    v("d/docker", HUB, "d/docker", N, N, "d/docker", "docker.io/d/docker"),
    v("jess/t", HUB, "jess/t", N, N, "jess/t", "docker.io/jess/t"),
    v("dock__er/docker", HUB, "dock__er/docker", N, N, "dock__er/docker", "docker.io/dock__er/docker"),
    // normalize_test.go TestParseRepositoryInfo
    v("fooo/bar", HUB, "fooo/bar", N, N, "fooo/bar", "docker.io/fooo/bar"),
    v("index.docker.io/fooo/bar", HUB, "fooo/bar", N, N, "fooo/bar", "docker.io/fooo/bar"),
    v("nonlibrary/ubuntu", HUB, "nonlibrary/ubuntu", N, N, "nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu"),
    v("other/library", HUB, "other/library", N, N, "other/library", "docker.io/other/library"),
    v("127.0.0.1:8000/private/moonbase", "127.0.0.1:8000", "private/moonbase", N, N, "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase"),
    v("127.0.0.1:8000/privatebase", "127.0.0.1:8000", "privatebase", N, N, "127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase"),
    v("example.com/private/moonbase", "example.com", "private/moonbase", N, N, "example.com/private/moonbase", "example.com/private/moonbase"),
    v("example.com/privatebase", "example.com", "privatebase", N, N, "example.com/privatebase", "example.com/privatebase"),
    v("example.com:8000/private/moonbase", "example.com:8000", "private/moonbase", N, N, "example.com:8000/private/moonbase", "example.com:8000/private/moonbase"),
    v("ubuntu-12.04-base", HUB, "library/ubuntu-12.04-base", N, N, "ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base"),
    v("index.docker.io/library/ubuntu-12.04-base", HUB, "library/ubuntu-12.04-base", N, N, "ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base"),
    v("library/foo/bar", HUB, "library/foo/bar", N, N, "library/foo/bar", "docker.io/library/foo/bar"),
    v("store/foo/bar", HUB, "store/foo/bar", N, N, "store/foo/bar", "docker.io/store/foo/bar"),
    v("Foo/bar", "Foo", "bar", N, N, "Foo/bar", "Foo/bar"),
    v("FOO/bar", "FOO", "bar", N, N, "FOO/bar", "FOO/bar"),
    // normalize_test.go TestParseReferenceWithTagAndDigest / TestParseAnyReference
    v(concat!("busybox:latest@", busybox256!()), HUB, "library/busybox", Some("latest"), Some(busybox256!()), concat!("busybox:latest@", busybox256!()), concat!("docker.io/library/busybox:latest@", busybox256!())),
    v("redis:latest", HUB, "library/redis", Some("latest"), N, "redis:latest", "docker.io/library/redis:latest"),
    v(concat!("redis@", redis256!()), HUB, "library/redis", N, Some(redis256!()), concat!("redis@", redis256!()), concat!("docker.io/library/redis@", redis256!())),
    v(concat!("dmcgowan/myapp@", redis256!()), HUB, "dmcgowan/myapp", N, Some(redis256!()), concat!("dmcgowan/myapp@", redis256!()), concat!("docker.io/dmcgowan/myapp@", redis256!())),
    v("docker.io/mcgowan/myapp:latest", HUB, "mcgowan/myapp", Some("latest"), N, "mcgowan/myapp:latest", "docker.io/mcgowan/myapp:latest"),
    v("dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", HUB, "library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", N, N, "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", "docker.io/library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9"),
    v("dbcc1", HUB, "library/dbcc1", N, N, "dbcc1", "docker.io/library/dbcc1"),
    // normalize_test.go TestNormalizedSplitHostname
    v("test.com/foo", "test.com", "foo", N, N, "test.com/foo", "test.com/foo"),
    v("test_com/foo", HUB, "test_com/foo", N, N, "test_com/foo", "docker.io/test_com/foo"),
    v("docker/migrator", HUB, "docker/migrator", N, N, "docker/migrator", "docker.io/docker/migrator"),
    v("test.com:8080/foo", "test.com:8080", "foo", N, N, "test.com:8080/foo", "test.com:8080/foo"),
    v("test-com:8080/foo", "test-com:8080", "foo", N, N, "test-com:8080/foo", "test-com:8080/foo"),
    v("xn--n3h.com/foo", "xn--n3h.com", "foo", N, N, "xn--n3h.com/foo", "xn--n3h.com/foo"),
    v("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo", N, N, "xn--n3h.com:18080/foo", "xn--n3h.com:18080/foo"),
    v("docker.io/library/foo/bar", HUB, "library/foo/bar", N, N, "library/foo/bar", "docker.io/library/foo/bar"),
    // reference_test.go TestReferenceParse (valid), normalised
    v("test_com", HUB, "library/test_com", N, N, "test_com", "docker.io/library/test_com"),
    v("test.com:tag", HUB, "library/test.com", Some("tag"), N, "test.com:tag", "docker.io/library/test.com:tag"),
    v("test.com:5000", HUB, "library/test.com", Some("5000"), N, "test.com:5000", "docker.io/library/test.com:5000"),
    v("test.com/repo:tag", "test.com", "repo", Some("tag"), N, "test.com/repo:tag", "test.com/repo:tag"),
    v("test:5000/repo", "test:5000", "repo", N, N, "test:5000/repo", "test:5000/repo"),
    v("test:5000/repo:tag", "test:5000", "repo", Some("tag"), N, "test:5000/repo:tag", "test:5000/repo:tag"),
    v(concat!("test:5000/repo@", ff256!()), "test:5000", "repo", N, Some(ff256!()), concat!("test:5000/repo@", ff256!()), concat!("test:5000/repo@", ff256!())),
    v(concat!("test:5000/repo:tag@", ff256!()), "test:5000", "repo", Some("tag"), Some(ff256!()), concat!("test:5000/repo:tag@", ff256!()), concat!("test:5000/repo:tag@", ff256!())),
    v("lowercase:Uppercase", HUB, "library/lowercase", Some("Uppercase"), N, "lowercase:Uppercase", "docker.io/library/lowercase:Uppercase"),
    v("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "bar/baz/quux", N, N, "sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com/bar/baz/quux"),
    v("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", Some("some-long-tag"), N, "sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux:some-long-tag"),
    v("b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app", Some("test.example.com"), N, "b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io/test.example.com/my-app:test.example.com"),
    v("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", Some("xn--n3h.com"), N, "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com"),
    v(concat!("xn--7o8h.com/myimage:xn--7o8h.com@", ff512!()), "xn--7o8h.com", "myimage", Some("xn--7o8h.com"), Some(ff512!()), concat!("xn--7o8h.com/myimage:xn--7o8h.com@", ff512!()), concat!("xn--7o8h.com/myimage:xn--7o8h.com@", ff512!())),
    v("foo_bar.com:8080", HUB, "library/foo_bar.com", Some("8080"), N, "foo_bar.com:8080", "docker.io/library/foo_bar.com:8080"),
    v("foo/foo_bar.com:8080", HUB, "foo/foo_bar.com", Some("8080"), N, "foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080"),
    v("192.168.1.1/repo", "192.168.1.1", "repo", N, N, "192.168.1.1/repo", "192.168.1.1/repo"),
    v("192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", Some("5050"), N, "192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo:5050"),
    v("[2001:db8::1]/repo", "[2001:db8::1]", "repo", N, N, "[2001:db8::1]/repo", "[2001:db8::1]/repo"),
    v("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", Some("tag"), N, "[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]/repo:tag"),
    v(concat!("[2001:db8::1]:5000/repo:tag@", ff256!()), "[2001:db8::1]:5000", "repo", Some("tag"), Some(ff256!()), concat!("[2001:db8::1]:5000/repo:tag@", ff256!()), concat!("[2001:db8::1]:5000/repo:tag@", ff256!())),
    v("[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo", N, N, "[2001:db8::]:5000/repo", "[2001:db8::]:5000/repo"),
    v("[::1]:5000/repo", "[::1]:5000", "repo", N, N, "[::1]:5000/repo", "[::1]:5000/repo"),
    // localhost is a domain only when followed by a path
    v("localhost/foo", "localhost", "foo", N, N, "localhost/foo", "localhost/foo"),
    v("localhost:5000/foo/bar:1.0", "localhost:5000", "foo/bar", Some("1.0"), N, "localhost:5000/foo/bar:1.0", "localhost:5000/foo/bar:1.0"),
    v("localhost", HUB, "library/localhost", N, N, "localhost", "docker.io/library/localhost"),
    v("localhost:5000", HUB, "library/localhost", Some("5000"), N, "localhost:5000", "docker.io/library/localhost:5000"),
    // tag edge cases: leading '_', digits and dots
    v("ubuntu:_x", HUB, "library/ubuntu", Some("_x"), N, "ubuntu:_x", "docker.io/library/ubuntu:_x"),
    v("ubuntu:22.04", HUB, "library/ubuntu", Some("22.04"), N, "ubuntu:22.04", "docker.io/library/ubuntu:22.04"),
    // path separators: '.', '_', '__', runs of '-'
    v("a/b.c_d__e-f---g", HUB, "a/b.c_d__e-f---g", N, N, "a/b.c_d__e-f---g", "docker.io/a/b.c_d__e-f---g"),
    // uppercase is fine in a domain with a dot
    v("Registry.Example.COM/app", "Registry.Example.COM", "app", N, N, "Registry.Example.COM/app", "Registry.Example.COM/app"),
];

#[test]
fn docker_vectors_parse_to_the_expected_parts() {
    for vector in VECTORS {
        let reference = Reference::parse(vector.input)
            .unwrap_or_else(|e| panic!("{:?} should parse: {e}", vector.input));
        let repo = reference.repository();
        assert_eq!(repo.domain(), vector.domain, "domain of {:?}", vector.input);
        assert_eq!(repo.path(), vector.path, "path of {:?}", vector.input);
        assert_eq!(
            reference.tag().map(Tag::as_str),
            vector.tag,
            "tag of {:?}",
            vector.input
        );
        assert_eq!(
            reference.digest().map(Digest::as_str),
            vector.digest,
            "digest of {:?}",
            vector.input
        );
    }
}

#[test]
fn docker_vectors_display_canonically() {
    for vector in VECTORS {
        let reference = Reference::parse(vector.input).unwrap();
        assert_eq!(
            reference.to_string(),
            vector.canonical,
            "{:?}",
            vector.input
        );
    }
}

#[test]
fn docker_vectors_have_the_expected_familiar_form() {
    for vector in VECTORS {
        let reference = Reference::parse(vector.input).unwrap();
        assert_eq!(reference.familiar(), vector.familiar, "{:?}", vector.input);
    }
}

#[test]
fn docker_vectors_round_trip_through_canonical_and_familiar_forms() {
    for vector in VECTORS {
        let reference = Reference::parse(vector.input).unwrap();
        assert_eq!(
            Reference::parse(vector.canonical).unwrap(),
            reference,
            "{:?}",
            vector.canonical
        );
        // docker's familiar form of docker.io/library/<64 hex> is the bare hex, which reads
        // back as an image ID; the only vector whose familiar form does not round-trip.
        if vector.familiar.len() != 64 {
            assert_eq!(
                Reference::parse(vector.familiar).unwrap(),
                reference,
                "{:?}",
                vector.familiar
            );
        }
    }
}

#[test]
fn name_of_exactly_255_characters_is_accepted() {
    let input = format!("example.com/{}", "a".repeat(255 - "example.com/".len()));
    let reference = Reference::parse(&input).unwrap();
    assert_eq!(reference.repository().as_str().len(), 255);
}

#[test]
fn length_limit_counts_the_normalised_name_including_domain() {
    // 250 characters typed, but "docker.io/library/" makes the name 268.
    let input = "a".repeat(250);
    let err = Reference::parse(&input).unwrap_err();
    assert!(
        matches!(err, ReferenceError::NameTooLong { length: 268, .. }),
        "{err:?}"
    );
}

#[test]
fn tag_of_exactly_128_characters_is_accepted() {
    let tag = "t".repeat(128);
    let reference = Reference::parse(&format!("ubuntu:{tag}")).unwrap();
    assert_eq!(reference.tag().unwrap().as_str(), tag);
}

#[test]
fn parse_adds_no_default_tag() {
    let reference = Reference::parse("ubuntu").unwrap();
    assert!(reference.is_name_only());
    assert_eq!(reference.to_string(), "docker.io/library/ubuntu");
}

#[test]
fn with_default_tag_adds_latest_to_a_bare_name() {
    let reference = Reference::parse("ubuntu").unwrap().with_default_tag();
    assert_eq!(reference.to_string(), "docker.io/library/ubuntu:latest");
    assert_eq!(reference.familiar(), "ubuntu:latest");
}

#[test]
fn with_default_tag_keeps_an_existing_tag() {
    let reference = Reference::parse("ubuntu:22.04").unwrap().with_default_tag();
    assert_eq!(reference.tag().unwrap().as_str(), "22.04");
}

#[test]
fn with_default_tag_adds_nothing_to_a_digest_reference() {
    let input = concat!("ubuntu@", ff256!());
    let reference = Reference::parse(input).unwrap().with_default_tag();
    assert_eq!(reference.tag(), None);
}

#[test]
fn with_tag_replaces_the_tag_and_keeps_the_digest() {
    let reference = Reference::parse(concat!("test.com:8000/foo:old@", ff256!())).unwrap();
    let retagged = reference.with_tag(Tag::parse("TAG5").unwrap());
    assert_eq!(
        retagged.to_string(),
        concat!("test.com:8000/foo:TAG5@", ff256!())
    );
}

#[test]
fn with_digest_sets_the_digest_and_keeps_the_tag() {
    let reference = Reference::parse("test.com/foo:tag").unwrap();
    let pinned = reference.with_digest(Digest::parse(ff256!()).unwrap());
    assert_eq!(pinned.to_string(), concat!("test.com/foo:tag@", ff256!()));
}

#[test]
fn parse_docker_ref_drops_the_tag_when_a_digest_is_present() {
    let reference = Reference::parse_docker_ref(concat!("busybox:latest@", busybox256!())).unwrap();
    assert_eq!(
        reference.to_string(),
        concat!("docker.io/library/busybox@", busybox256!())
    );
}

#[test]
fn parse_docker_ref_tags_a_bare_name_latest() {
    let reference = Reference::parse_docker_ref("busybox").unwrap();
    assert_eq!(reference.to_string(), "docker.io/library/busybox:latest");
}

#[test]
fn repository_parse_accepts_a_name_and_normalises_it() {
    let repo = Repository::parse("ubuntu").unwrap();
    assert_eq!(repo.to_string(), "docker.io/library/ubuntu");
    assert_eq!(repo.familiar(), "ubuntu");
}

#[test]
fn repository_parse_refuses_a_tag() {
    let err = Repository::parse("ubuntu:22.04").unwrap_err();
    assert_eq!(
        err,
        ReferenceError::UnexpectedTag {
            input: "ubuntu:22.04".to_owned(),
            tag: "22.04".to_owned()
        }
    );
    assert!(err.to_string().contains("\"ubuntu:22.04\""), "{err}");
}

#[test]
fn repository_parse_refuses_a_digest() {
    let input = concat!("ubuntu@", ff256!());
    let err = Repository::parse(input).unwrap_err();
    assert!(
        matches!(err, ReferenceError::UnexpectedDigest { .. }),
        "{err:?}"
    );
}

#[test]
fn repository_familiar_forms() {
    for (input, familiar) in [
        ("ubuntu", "ubuntu"),
        ("user/app", "user/app"),
        ("localhost:5000/x", "localhost:5000/x"),
        ("docker.io/library/foo/bar", "library/foo/bar"),
    ] {
        assert_eq!(
            Repository::parse(input).unwrap().familiar(),
            familiar,
            "{input}"
        );
    }
}

#[test]
fn validate_repo_name_refuses_scratch_in_every_spelling() {
    for input in [
        "scratch",
        "library/scratch",
        "docker.io/scratch",
        "index.docker.io/library/scratch",
    ] {
        let err = validate_repo_name(&Repository::parse(input).unwrap()).unwrap_err();
        assert_eq!(
            err,
            ReferenceError::ReservedName {
                name: "scratch".to_owned()
            },
            "{input}"
        );
    }
}

#[test]
fn validate_repo_name_accepts_scratch_outside_docker_hub_library() {
    for input in ["user/scratch", "localhost:5000/scratch", "ubuntu"] {
        assert!(
            validate_repo_name(&Repository::parse(input).unwrap()).is_ok(),
            "{input}"
        );
    }
}

#[test]
fn tag_parse_accepts_a_valid_tag() {
    let tag: Tag = "v1.0_rc-2".parse().unwrap();
    assert_eq!(tag.as_str(), "v1.0_rc-2");
    assert_eq!(tag.to_string(), "v1.0_rc-2");
}

#[test]
fn tag_parse_error_names_the_tag_alone() {
    let err = Tag::parse("-foo").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid tag \"-foo\": it must not start with '-'; a tag starts with a letter, digit or '_'"
    );
}

#[test]
fn reference_serde_round_trips_as_the_canonical_string() {
    let reference = Reference::parse("ubuntu:22.04").unwrap();
    let json = serde_json::to_string(&reference).unwrap();
    assert_eq!(json, "\"docker.io/library/ubuntu:22.04\"");
    assert_eq!(serde_json::from_str::<Reference>(&json).unwrap(), reference);
}

#[test]
fn reference_serde_refuses_an_invalid_reference() {
    let err = serde_json::from_str::<Reference>("\"Ubuntu\"").unwrap_err();
    assert!(err.to_string().contains("must be lowercase"), "{err}");
}

#[test]
fn references_with_equal_canonical_forms_are_equal() {
    let a = Reference::parse("index.docker.io/ubuntu:22.04").unwrap();
    let b = Reference::parse("ubuntu:22.04").unwrap();
    assert_eq!(a, b);
}

//! Tests of platform parsing, normalisation and selection (containerd `platforms` rules as
//! docker 20.10 applies them).

use super::*;
use crate::media::manifest::{ImageIndex, Manifest};

const NGINX_ALPINE_INDEX: &[u8] = include_bytes!("../testdata/oci_index_nginx_alpine.json");
const DOCKER_LIST: &[u8] = include_bytes!("../testdata/docker_manifest_list.json");

fn index(bytes: &[u8]) -> ImageIndex {
    match Manifest::parse("", bytes).unwrap() {
        Manifest::Index(i) => i,
        other => panic!("not an index: {other:?}"),
    }
}

fn p(s: &str) -> Platform {
    Platform::parse(s).unwrap()
}

fn selected(index: &ImageIndex, platform: &str) -> Vec<String> {
    PlatformMatcher::new(&p(platform))
        .select(&index.manifests)
        .unwrap()
        .iter()
        .map(|d| d.digest.to_string())
        .collect()
}

#[test]
fn parse_reads_os_arch_variant() {
    assert_eq!(p("linux/arm/v7"), Platform::new("linux", "arm", Some("v7")));
    assert_eq!(p("linux/amd64"), Platform::new("linux", "amd64", None));
}

#[test]
fn parse_of_a_lone_os_takes_the_host_architecture() {
    let host = Platform::host();
    assert_eq!(p("linux").architecture, host.architecture);
    assert_eq!(p("linux").os, "linux");
}

#[test]
fn parse_of_a_lone_architecture_takes_the_host_os() {
    assert_eq!(p("arm64").os, Platform::host().os);
    assert_eq!(p("arm64").architecture, "arm64");
}

#[test]
fn parse_refuses_empty_components_with_a_clear_error() {
    let err = Platform::parse("linux//v7").unwrap_err();
    assert_eq!(err.input, "linux//v7");
    assert!(
        err.to_string().contains("expected os/arch[/variant]"),
        "{err}"
    );
}

#[test]
fn parse_refuses_too_many_components() {
    let err = Platform::parse("linux/arm/v7/extra").unwrap_err();
    assert!(err.to_string().contains("too many components"), "{err}");
}

#[test]
fn parse_refuses_odd_characters() {
    assert!(Platform::parse("linux/amd 64").is_err());
    assert!(Platform::parse("").is_err());
}

#[test]
fn x86_64_normalises_to_amd64() {
    assert_eq!(p("linux/x86_64").normalized(), p("linux/amd64"));
    assert_eq!(p("linux/x86-64").normalized(), p("linux/amd64"));
    assert_eq!(p("linux/amd64/v1").normalized(), p("linux/amd64"));
}

#[test]
fn aarch64_normalises_to_arm64_v8() {
    assert_eq!(p("linux/aarch64").normalized(), p("linux/arm64/v8"));
}

#[test]
fn arm64_without_variant_normalises_to_v8() {
    assert_eq!(p("linux/arm64").normalized(), p("linux/arm64/v8"));
    assert_eq!(p("linux/arm64/8").normalized(), p("linux/arm64/v8"));
}

#[test]
fn armhf_is_arm_v7_and_armel_is_arm_v6() {
    assert_eq!(p("linux/armhf").normalized(), p("linux/arm/v7"));
    assert_eq!(p("linux/armel").normalized(), p("linux/arm/v6"));
}

#[test]
fn arm_without_variant_normalises_to_v7() {
    assert_eq!(p("linux/arm").normalized(), p("linux/arm/v7"));
    assert_eq!(p("linux/arm/6").normalized(), p("linux/arm/v6"));
}

#[test]
fn i386_normalises_to_386_and_names_are_lower_cased() {
    assert_eq!(p("Linux/i386").normalized(), p("linux/386"));
    assert_eq!(p("macos/ARM64").normalized(), p("darwin/arm64/v8"));
}

#[test]
fn display_omits_missing_variant_and_shows_os_version() {
    assert_eq!(p("linux/arm64").to_string(), "linux/arm64");
    let mut windows = p("windows/arm64/v8");
    windows.os_version = Some("10.0.17763".into());
    assert_eq!(windows.to_string(), "windows(10.0.17763)/arm64/v8");
}

#[test]
fn host_platform_uses_go_names() {
    let host = Platform::host();
    assert!(!host.os.is_empty());
    assert_ne!(host.architecture, "x86_64");
    assert_ne!(host.architecture, "aarch64");
    if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        assert_eq!(host, p("linux/amd64"));
    }
}

#[test]
fn exact_match_is_chosen_from_the_oci_index() {
    let i = index(NGINX_ALPINE_INDEX);
    assert_eq!(
        selected(&i, "linux/amd64"),
        ["sha256:35cd77497979abe70dc8d26f5ae60811eea233a2eb5dc03c2ee30972caeb303e"]
    );
    assert_eq!(
        selected(&i, "linux/s390x"),
        ["sha256:116aab8b90d3bd0df2c75de54f9c20198a81ae2c866ac3a132b33380a8a47174"]
    );
}

#[test]
fn arm64_request_matches_an_arm64_v8_entry() {
    let i = index(NGINX_ALPINE_INDEX);
    assert_eq!(
        selected(&i, "linux/arm64"),
        ["sha256:1ff5c7ff41c619b521f7a3bcfb52ff93354bb65a0141d7cdc0bf9702b12f8f82"]
    );
}

#[test]
fn arm64_v8_request_matches_an_entry_without_variant() {
    let i = index(DOCKER_LIST);
    assert_eq!(
        selected(&i, "linux/arm64/v8"),
        ["sha256:a5b42629beaf999ba79afdc95eca9cc008b0a3db73656453d6d1e20071b83886"]
    );
}

#[test]
fn arm_v7_prefers_v7_then_falls_back_to_v6() {
    let i = index(NGINX_ALPINE_INDEX);
    assert_eq!(
        selected(&i, "linux/arm/v7"),
        [
            "sha256:d4055a6df86f699d7265bebbb8ff50c41abc6df6deda0b77a1c5e27940723387",
            "sha256:92c2048513fefba3277a597e0a27bea5641da51cc76e48aae92a8e65a5a1449b",
        ]
    );
}

#[test]
fn arm_v7_falls_back_to_v6_when_v7_is_absent() {
    let mut i = index(NGINX_ALPINE_INDEX);
    i.manifests
        .retain(|d| d.platform.as_ref().and_then(|p| p.variant.as_deref()) != Some("v7"));
    assert_eq!(
        selected(&i, "linux/arm/v7"),
        ["sha256:92c2048513fefba3277a597e0a27bea5641da51cc76e48aae92a8e65a5a1449b"]
    );
}

#[test]
fn arm_v6_does_not_accept_v7() {
    let i = index(NGINX_ALPINE_INDEX);
    assert_eq!(
        selected(&i, "linux/arm/v6"),
        ["sha256:92c2048513fefba3277a597e0a27bea5641da51cc76e48aae92a8e65a5a1449b"]
    );
}

#[test]
fn arm_fallback_order_is_v8_v7_v6_v5() {
    let m = PlatformMatcher::new(&p("linux/arm/v8"));
    let ranks: Vec<Option<usize>> = ["v8", "v7", "v6", "v5"]
        .iter()
        .map(|v| m.rank(&Platform::new("linux", "arm", Some(v))))
        .collect();
    assert_eq!(ranks, [Some(0), Some(1), Some(2), Some(3)]);
    assert_eq!(m.rank(&p("linux/arm64")), None);
}

#[test]
fn os_must_match() {
    let m = PlatformMatcher::new(&p("windows/amd64"));
    assert!(!m.matches(&p("linux/amd64")));
}

#[test]
fn no_match_error_says_dockers_sentence() {
    let i = index(DOCKER_LIST);
    let err = PlatformMatcher::new(&p("linux/s390x"))
        .select(&i.manifests)
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("no matching manifest for linux/s390x in the manifest list entries"),
        "{err}"
    );
}

#[test]
fn no_match_error_for_arm64_lists_available_platforms() {
    let mut i = index(NGINX_ALPINE_INDEX);
    i.manifests.retain(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.architecture != "arm64")
    });
    let err = PlatformMatcher::new(&p("linux/arm64"))
        .select(&i.manifests)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no matching manifest for linux/arm64 in the manifest list entries; available \
         platforms: linux/amd64, linux/arm/v6, linux/arm/v7, linux/386, linux/ppc64le, \
         linux/riscv64, linux/s390x"
    );
    assert_eq!(err.requested, p("linux/arm64"));
}

#[test]
fn entry_without_media_type_is_still_selectable() {
    let mut i = index(DOCKER_LIST);
    i.manifests[0].media_type.clear();
    assert_eq!(
        selected(&i, "linux/amd64"),
        ["sha256:708c68409758740d8bba16e0745d25de3df205646f2007055531ee97bd57e885"]
    );
}

#[test]
fn entries_without_platform_or_with_non_manifest_types_are_skipped() {
    let mut i = index(DOCKER_LIST);
    i.manifests[0].platform = None;
    i.manifests[3].media_type = "application/vnd.example.sbom".into();
    let m = PlatformMatcher::new(&p("linux/amd64"));
    assert!(m.select(&i.manifests).is_err());
    let m = PlatformMatcher::new(&p("linux/arm64"));
    assert!(m.select(&i.manifests).is_err());
}

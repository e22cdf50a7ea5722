//! The names of the images of an OCI image layout tarball (`oci-layout`, `index.json`,
//! `blobs/<alg>/<hex>`), what `skopeo copy … oci-archive:` and docker ≥ 25's `docker save`
//! (beside `manifest.json`, which wins when both are present) write: [`tags_of`].
//!
//! Tags come from the entry's `io.containerd.image.name` annotation (docker ≥ 25,
//! containerd), else from `org.opencontainers.image.ref.name` when that is a full tagged
//! reference (`docker.io/library/alpine:3.19`, as hoist's own store writes it). A bare
//! `ref.name` such as `latest` (what `skopeo copy … oci:DIR:latest` writes) names no
//! repository, so the image loads untagged, as docker does. The manifests are read as they
//! are by the copy engine (their original bytes and digest), so an image loaded from an OCI
//! layout pushes with its original compressed blobs.

use std::collections::BTreeMap;

use crate::reference::Reference;

/// containerd's (and docker ≥ 25's) image name annotation.
const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The OCI reference name annotation.
const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The tag an `index.json` entry's annotations give, if any (see the module docs).
pub(crate) fn tags_of(annotations: &BTreeMap<String, String>) -> Vec<Reference> {
    [CONTAINERD_NAME, OCI_REF_NAME]
        .iter()
        .filter_map(|key| annotations.get(*key))
        .filter_map(|name| Reference::parse(name).ok())
        .find(|r| r.tag().is_some() && r.digest().is_none())
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bare_ref_name_gives_no_tag() {
        assert!(tags_of(&annotations(&[(OCI_REF_NAME, "latest")])).is_empty());
    }

    #[test]
    fn full_ref_name_is_a_tag() {
        let tags = tags_of(&annotations(&[(OCI_REF_NAME, "docker.io/library/app:1")]));
        assert_eq!(tags[0].to_string(), "docker.io/library/app:1");
    }

    #[test]
    fn containerd_name_wins_over_ref_name() {
        let tags = tags_of(&annotations(&[
            (CONTAINERD_NAME, "example.com/a:2"),
            (OCI_REF_NAME, "docker.io/library/b:1"),
        ]));
        assert_eq!(tags[0].to_string(), "example.com/a:2");
    }
}

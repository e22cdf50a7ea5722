//! Media-type constants and their classification.
//!
//! Every media type hoist reads or writes is named here once, with the docker/OCI constant it
//! corresponds to (docker/distribution `schema2.MediaTypeManifest`, `manifestlist.MediaTypeManifestList`,
//! `schema1.MediaTypeSignedManifest`, OCI image-spec `MediaTypeImageManifest`, containerd's
//! `images.MediaTypeDockerSchema2LayerZstd`, …). The rest of the module works with the
//! classifications below, never with string comparisons of its own:
//!
//! - [`ManifestKind`]: which of the five manifest formats a `Content-Type` (or body
//!   `mediaType`) names.
//! - [`ConfigMediaType`]: docker's `ImageTypes` / `PluginTypes` check for a manifest's config
//!   descriptor (`validateMediaType` in moby `distribution/pull_v2.go`).
//! - [`LayerMediaType`]: the compression a layer blob declares, and whether it is
//!   non-distributable ("foreign" in docker's words: it may come from the descriptor's `urls`).
//!
//! Media types are compared after [`essence`]: parameters (`; charset=utf-8`) and surrounding
//! whitespace are dropped and the type is lower-cased, as `mime.ParseMediaType` does in
//! docker/distribution's `UnmarshalManifest`.

use std::fmt;

/// OCI image manifest (`application/vnd.oci.image.manifest.v1+json`).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index (`application/vnd.oci.image.index.v1+json`).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config (`application/vnd.oci.image.config.v1+json`).
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer.
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// OCI non-distributable uncompressed layer (deprecated in image-spec 1.1, still pulled).
pub const OCI_LAYER_NONDISTRIBUTABLE: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
/// OCI non-distributable gzip layer.
pub const OCI_LAYER_NONDISTRIBUTABLE_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
/// OCI non-distributable zstd layer.
pub const OCI_LAYER_NONDISTRIBUTABLE_ZSTD: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

/// Docker image manifest v2, schema 2 (`schema2.MediaTypeManifest`).
pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (`manifestlist.MediaTypeManifestList`).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest v2, schema 1, unsigned (`schema1.MediaTypeManifest`).
pub const DOCKER_MANIFEST_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Docker image manifest v2, schema 1, signed (`schema1.MediaTypeSignedManifest`).
pub const DOCKER_MANIFEST_V1_SIGNED: &str =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// Docker image config (`schema2.MediaTypeImageConfig`).
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker plugin config (`schema2.MediaTypePluginConfig`): recognised and refused on pull.
pub const DOCKER_PLUGIN_CONFIG: &str = "application/vnd.docker.plugin.v1+json";
/// Docker gzip layer (`schema2.MediaTypeLayer`).
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker uncompressed layer (`schema2.MediaTypeUncompressedLayer`).
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker zstd layer (containerd `images.MediaTypeDockerSchema2LayerZstd`).
pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
/// Docker foreign gzip layer (`schema2.MediaTypeForeignLayer`), e.g. Windows base layers.
pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/// Docker foreign uncompressed layer (containerd `MediaTypeDockerSchema2LayerForeign`).
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar";
/// Layer type docker/distribution gives schema1 `fsLayers` (`schema1.MediaTypeManifestLayer`).
pub const DOCKER_SCHEMA1_LAYER: &str = "application/vnd.docker.container.image.rootfs.diff+x-gtar";

/// The media types to send in `Accept` on manifest requests: every format hoist can pull
/// (docker 20.10's `distribution.ManifestMediaTypes()`). Schema 1 is listed so that registries
/// holding only schema 1 answer; the caller drops it when schema 2 is required.
pub const MANIFEST_ACCEPT: [&str; 6] = [
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V2,
    DOCKER_MANIFEST_V1_SIGNED,
    DOCKER_MANIFEST_V1,
];

/// The comparable core of a media type: parameters after `;` removed, whitespace trimmed,
/// ASCII lower-cased (`mime.ParseMediaType` without the parameter map).
pub fn essence(media_type: &str) -> String {
    let base = media_type.split(';').next().unwrap_or_default();
    base.trim().to_ascii_lowercase()
}

/// Which manifest format a media type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManifestKind {
    /// OCI image manifest.
    OciManifest,
    /// OCI image index.
    OciIndex,
    /// Docker schema 2 manifest.
    DockerManifest,
    /// Docker manifest list.
    DockerManifestList,
    /// Docker schema 1, signed (`+prettyjws`) or not: both are parsed the same way, the
    /// signature block being optional.
    DockerSchema1,
}

impl ManifestKind {
    /// Classifies a media type (compared by [`essence`]); `None` for anything that is not one
    /// of the five manifest formats, including generic types like `application/json`.
    pub fn from_media_type(media_type: &str) -> Option<ManifestKind> {
        match essence(media_type).as_str() {
            OCI_MANIFEST => Some(ManifestKind::OciManifest),
            OCI_INDEX => Some(ManifestKind::OciIndex),
            DOCKER_MANIFEST_V2 => Some(ManifestKind::DockerManifest),
            DOCKER_MANIFEST_LIST => Some(ManifestKind::DockerManifestList),
            DOCKER_MANIFEST_V1 | DOCKER_MANIFEST_V1_SIGNED => Some(ManifestKind::DockerSchema1),
            _ => None,
        }
    }

    /// The canonical media type of this format (schema 1 gives the signed type, as
    /// docker/distribution's schema1 descriptor does).
    pub fn media_type(self) -> &'static str {
        match self {
            ManifestKind::OciManifest => OCI_MANIFEST,
            ManifestKind::OciIndex => OCI_INDEX,
            ManifestKind::DockerManifest => DOCKER_MANIFEST_V2,
            ManifestKind::DockerManifestList => DOCKER_MANIFEST_LIST,
            ManifestKind::DockerSchema1 => DOCKER_MANIFEST_V1_SIGNED,
        }
    }

    /// True for the two multi-platform formats (OCI index, Docker manifest list).
    pub fn is_index(self) -> bool {
        matches!(
            self,
            ManifestKind::OciIndex | ManifestKind::DockerManifestList
        )
    }
}

/// Whether a `Content-Type` says nothing about which manifest format the body is, so the body's
/// own `mediaType` / `schemaVersion` must decide. Registries and proxies send these for
/// manifests (GitLab and some S3-backed mirrors send `application/octet-stream`, old
/// registries `application/json`).
pub fn is_generic_content_type(content_type: &str) -> bool {
    matches!(
        essence(content_type).as_str(),
        "" | "application/json"
            | "text/plain"
            | "application/octet-stream"
            | "binary/octet-stream"
            | "application/x-www-form-urlencoded"
    )
}

/// docker's `ImageTypes`: the config media types an image manifest may declare.
pub const IMAGE_CONFIG_TYPES: [&str; 6] = [
    DOCKER_CONFIG,
    OCI_CONFIG,
    "application/octet-stream",
    "application/json",
    "text/html",
    "",
];

/// docker's `PluginTypes`: config media types of docker plugins.
pub const PLUGIN_CONFIG_TYPES: [&str; 1] = [DOCKER_PLUGIN_CONFIG];

/// The class of a manifest's config media type, as docker's `validateMediaType` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigMediaType {
    /// One of docker's `ImageTypes`: an image config hoist pulls.
    Image,
    /// One of docker's `PluginTypes`: a docker plugin, refused by image pulls.
    Plugin,
    /// Anything else (Helm charts, signatures, SBOMs, …): refused.
    Unknown,
}

impl ConfigMediaType {
    /// Classifies a config descriptor's media type. Compared exactly (after trimming
    /// parameters), like docker's string comparison against `ImageTypes`.
    pub fn classify(media_type: &str) -> ConfigMediaType {
        let e = essence(media_type);
        if IMAGE_CONFIG_TYPES.contains(&e.as_str()) {
            ConfigMediaType::Image
        } else if PLUGIN_CONFIG_TYPES.contains(&e.as_str()) {
            ConfigMediaType::Plugin
        } else {
            ConfigMediaType::Unknown
        }
    }
}

impl fmt::Display for ConfigMediaType {
    /// The class name docker puts in `invalidManifestClassError` ("image", "plugin",
    /// "unknown").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigMediaType::Image => "image",
            ConfigMediaType::Plugin => "plugin",
            ConfigMediaType::Unknown => "unknown",
        })
    }
}

/// How a layer blob is compressed, as its media type declares.
///
/// docker itself decompresses with `archive.DecompressStream`, which sniffs the magic bytes;
/// the declared value is what the pull pipeline should expect, and a sniffing decoder may
/// still be used to tolerate images whose media type lies (common with schema 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayerCompression {
    /// gzip (`tar+gzip`, docker `tar.gzip`, schema 1 `x-gtar`).
    Gzip,
    /// zstd (`tar+zstd`, docker `tar.zstd`).
    Zstd,
    /// A plain tar stream; its digest is also its diffID.
    None,
}

/// A recognised layer media type: its compression and whether it is distributable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LayerMediaType {
    /// The compression of the blob.
    pub compression: LayerCompression,
    /// False for OCI "nondistributable" and docker "foreign" layers: registries may not hold
    /// them and the descriptor's `urls` say where to fetch them from. docker 20.10 pulls them
    /// from the URLs first, then the registry.
    pub distributable: bool,
}

impl LayerMediaType {
    /// Classifies a layer media type; `None` when it is not a layer type hoist can unpack
    /// (including OCI `+encrypted` layers and artifact blobs).
    pub fn classify(media_type: &str) -> Option<LayerMediaType> {
        use LayerCompression::{Gzip, None as Uncompressed, Zstd};
        let (compression, distributable) = match essence(media_type).as_str() {
            OCI_LAYER_GZIP | DOCKER_LAYER_GZIP | DOCKER_SCHEMA1_LAYER => (Gzip, true),
            OCI_LAYER_ZSTD | DOCKER_LAYER_ZSTD => (Zstd, true),
            OCI_LAYER | DOCKER_LAYER => (Uncompressed, true),
            OCI_LAYER_NONDISTRIBUTABLE_GZIP | DOCKER_FOREIGN_LAYER_GZIP => (Gzip, false),
            OCI_LAYER_NONDISTRIBUTABLE_ZSTD => (Zstd, false),
            OCI_LAYER_NONDISTRIBUTABLE | DOCKER_FOREIGN_LAYER => (Uncompressed, false),
            _ => return None,
        };
        Some(LayerMediaType {
            compression,
            distributable,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn essence_drops_parameters_and_case() {
        assert_eq!(
            essence(" Application/Vnd.Docker.Distribution.Manifest.V2+json; charset=utf-8"),
            DOCKER_MANIFEST_V2
        );
    }

    #[test]
    fn manifest_kinds_are_recognised_by_both_names_of_schema1() {
        assert_eq!(
            ManifestKind::from_media_type(DOCKER_MANIFEST_V1),
            Some(ManifestKind::DockerSchema1)
        );
        assert_eq!(
            ManifestKind::from_media_type(DOCKER_MANIFEST_V1_SIGNED),
            Some(ManifestKind::DockerSchema1)
        );
        assert_eq!(
            ManifestKind::from_media_type(OCI_INDEX),
            Some(ManifestKind::OciIndex)
        );
        assert_eq!(ManifestKind::from_media_type("application/json"), None);
    }

    #[test]
    fn generic_content_types_defer_to_the_body() {
        assert!(is_generic_content_type(""));
        assert!(is_generic_content_type("application/json; charset=utf-8"));
        assert!(is_generic_content_type("text/plain"));
        assert!(!is_generic_content_type(OCI_MANIFEST));
    }

    #[test]
    fn every_docker_image_type_is_accepted_as_a_config() {
        for t in IMAGE_CONFIG_TYPES {
            assert_eq!(
                ConfigMediaType::classify(t),
                ConfigMediaType::Image,
                "{t:?}"
            );
        }
    }

    #[test]
    fn plugin_config_is_classified_as_plugin() {
        assert_eq!(
            ConfigMediaType::classify(DOCKER_PLUGIN_CONFIG),
            ConfigMediaType::Plugin
        );
    }

    #[test]
    fn helm_config_is_unknown() {
        assert_eq!(
            ConfigMediaType::classify("application/vnd.cncf.helm.config.v1+json"),
            ConfigMediaType::Unknown
        );
    }

    #[test]
    fn layer_types_map_to_their_compression() {
        let cases = [
            (OCI_LAYER_GZIP, LayerCompression::Gzip, true),
            (OCI_LAYER_ZSTD, LayerCompression::Zstd, true),
            (OCI_LAYER, LayerCompression::None, true),
            (DOCKER_LAYER_GZIP, LayerCompression::Gzip, true),
            (DOCKER_LAYER_ZSTD, LayerCompression::Zstd, true),
            (DOCKER_LAYER, LayerCompression::None, true),
            (DOCKER_SCHEMA1_LAYER, LayerCompression::Gzip, true),
            (OCI_LAYER_NONDISTRIBUTABLE, LayerCompression::None, false),
            (
                OCI_LAYER_NONDISTRIBUTABLE_GZIP,
                LayerCompression::Gzip,
                false,
            ),
            (
                OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
                LayerCompression::Zstd,
                false,
            ),
            (DOCKER_FOREIGN_LAYER_GZIP, LayerCompression::Gzip, false),
            (DOCKER_FOREIGN_LAYER, LayerCompression::None, false),
        ];
        for (t, compression, distributable) in cases {
            assert_eq!(
                LayerMediaType::classify(t),
                Some(LayerMediaType {
                    compression,
                    distributable
                }),
                "{t}"
            );
        }
    }

    #[test]
    fn encrypted_and_artifact_layers_are_not_layers() {
        assert_eq!(
            LayerMediaType::classify("application/vnd.oci.image.layer.v1.tar+gzip+encrypted"),
            None
        );
        assert_eq!(
            LayerMediaType::classify("application/vnd.cncf.helm.chart.content.v1.tar+gzip"),
            None
        );
    }
}

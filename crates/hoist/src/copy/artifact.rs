//! An artifact made from local files that refers to a subject (OCI 1.1), as an
//! [`ImageSource`]: [`ArtifactSource`], what `hoist attach` copies to the subject's
//! repository (oras's `attach`).
//!
//! The manifest is the one oras writes (image-spec 1.1 "Guidelines for Artifact Usage"): an
//! OCI image manifest with
//! - `artifactType`: the type given;
//! - `config`: the empty descriptor ([`EMPTY_CONFIG`], content `{}`), since the artifact
//!   has no config of its own;
//! - `layers`: one per file, in the order given, media type [`FILE_MEDIA_TYPE`] (oras's
//!   default), annotated with the file's base name ([`TITLE_ANNOTATION`]) so that `oras
//!   pull` writes it back under that name;
//! - `subject`: the subject's descriptor (media type, digest, size);
//! - `annotations`: those given, and [`CREATED_ANNOTATION`] = now (RFC 3339) unless given, as
//!   oras sets it.
//!
//! Files are hashed once when the source is built ([`ArtifactSource::build`], blocking) and
//! streamed from disk by the copy (symlinks given on the command line are resolved first; the
//! files they name are then opened as regular files only, as every blob file is: `blob_file`).
//! Pushing the manifest keeps the subject's referrers list (the registry's own, or the
//! fallback tag, `registry::referrers`).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use super::blob_file::stream_blob_file;
use super::source::{BlobStream, CopyFuture, ImageSource};
use super::CopyError;
use crate::digest::hashing::HashingReader;
use crate::digest::Digest;
use crate::media::referrer::{EMPTY_CONFIG, EMPTY_JSON, TITLE_ANNOTATION};
use crate::media::types::OCI_MANIFEST;
use crate::media::Descriptor;

/// The annotation saying when the artifact was made.
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";

/// The media type of a file's layer, oras's default for files it pushes or attaches.
pub const FILE_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

/// An artifact of local files referring to a subject. See the module docs.
#[derive(Debug, Clone)]
pub struct ArtifactSource {
    descriptor: Descriptor,
    manifest: Bytes,
    files: HashMap<Digest, PathBuf>,
}

impl ArtifactSource {
    /// Blocking (reads every file): the artifact of `artifact_type` made of `files`,
    /// referring to `subject`, with `annotations` on its manifest.
    pub fn build(
        artifact_type: &str,
        subject: &Descriptor,
        files: &[PathBuf],
        mut annotations: BTreeMap<String, String>,
    ) -> Result<ArtifactSource, CopyError> {
        if !annotations.contains_key(CREATED_ANNOTATION) {
            let now = time::OffsetDateTime::now_utc().format(&Rfc3339);
            if let Ok(now) = now {
                annotations.insert(CREATED_ANNOTATION.to_owned(), now);
            }
        }
        let mut layers = Vec::new();
        let mut paths = HashMap::new();
        for file in files {
            let (descriptor, path) = file_layer(file)?;
            paths.insert(descriptor.digest.clone(), path);
            layers.push(descriptor);
        }
        let config = json!({
            "mediaType": EMPTY_CONFIG,
            "digest": Digest::sha256_of(EMPTY_JSON).as_str(),
            "size": EMPTY_JSON.len(),
            "data": "e30=",
        });
        let subject = Descriptor::new(&subject.media_type, subject.digest.clone(), subject.size);
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": config,
            "layers": layers,
            "subject": subject,
        });
        manifest["annotations"] = json!(annotations);
        // Plain JSON values serialise without failure; an empty manifest would be refused.
        let bytes = Bytes::from(serde_json::to_vec(&manifest).unwrap_or_default());
        let descriptor =
            Descriptor::new(OCI_MANIFEST, Digest::sha256_of(&bytes), bytes.len() as u64);
        Ok(ArtifactSource {
            descriptor,
            manifest: bytes,
            files: paths,
        })
    }

    /// The artifact's manifest descriptor.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// The artifact's manifest bytes.
    pub fn manifest_bytes(&self) -> &Bytes {
        &self.manifest
    }
}

/// The layer descriptor of `file` (hashed), and the resolved path it is read from.
fn file_layer(file: &Path) -> Result<(Descriptor, PathBuf), CopyError> {
    let io_error = |action: &'static str, source: io::Error| CopyError::Io {
        location: "attach".to_owned(),
        action,
        path: file.display().to_string(),
        source,
    };
    let path = std::fs::canonicalize(file).map_err(|e| io_error("open", e))?;
    let title = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let mut reader = HashingReader::new(File::open(&path).map_err(|e| io_error("open", e))?);
    let size = io::copy(&mut reader, &mut io::sink()).map_err(|e| io_error("read", e))?;
    let mut descriptor = Descriptor::new(FILE_MEDIA_TYPE, reader.finish(), size);
    descriptor
        .annotations
        .insert(TITLE_ANNOTATION.to_owned(), title);
    Ok((descriptor, path))
}

impl ImageSource for ArtifactSource {
    fn location(&self) -> String {
        format!("artifact {}", self.descriptor.digest)
    }

    fn resolve(&self) -> CopyFuture<'_, Descriptor> {
        Box::pin(async move { Ok(self.descriptor.clone()) })
    }

    fn manifest<'a>(&'a self, descriptor: &'a Descriptor) -> CopyFuture<'a, Bytes> {
        Box::pin(async move {
            if descriptor.digest == self.descriptor.digest {
                return Ok(self.manifest.clone());
            }
            Err(CopyError::NotFound {
                location: self.location(),
                reference: descriptor.digest.to_string(),
                source: None,
            })
        })
    }

    fn open_blob<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        offset: u64,
    ) -> CopyFuture<'a, BlobStream> {
        Box::pin(async move {
            if descriptor.digest == Digest::sha256_of(EMPTY_JSON) {
                let rest = EMPTY_JSON.get(offset.min(2) as usize..).unwrap_or_default();
                let chunk = Ok(Bytes::from_static(rest));
                return Ok(Box::pin(futures_util::stream::iter([chunk])) as BlobStream);
            }
            match self.files.get(&descriptor.digest) {
                Some(path) => stream_blob_file(self.location(), path, offset).await,
                None => Err(CopyError::NotFound {
                    location: self.location(),
                    reference: descriptor.digest.to_string(),
                    source: None,
                }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Referrer;

    #[test]
    fn the_manifest_is_oras_shaped_and_refers_to_its_subject() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sbom.json");
        std::fs::write(&file, b"{\"sbom\":1}").unwrap();
        let subject = Descriptor::new(OCI_MANIFEST, Digest::sha256_of(b"image"), 5);

        let artifact = ArtifactSource::build(
            "application/vnd.example.sbom",
            &subject,
            &[file],
            BTreeMap::new(),
        )
        .unwrap();

        let m: serde_json::Value = serde_json::from_slice(artifact.manifest_bytes()).unwrap();
        assert_eq!(m["artifactType"], "application/vnd.example.sbom");
        assert_eq!(m["config"]["mediaType"], EMPTY_CONFIG);
        assert_eq!(m["config"]["size"], 2);
        assert_eq!(m["layers"][0]["annotations"][TITLE_ANNOTATION], "sbom.json");
        assert_eq!(
            m["layers"][0]["digest"],
            Digest::sha256_of(b"{\"sbom\":1}").as_str()
        );
        let referrer = Referrer::of(artifact.descriptor(), artifact.manifest_bytes()).unwrap();
        assert_eq!(referrer.subject.digest, subject.digest);
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let subject = Descriptor::new(OCI_MANIFEST, Digest::sha256_of(b"image"), 5);
        let err = ArtifactSource::build(
            "t",
            &subject,
            &[PathBuf::from("/nonexistent/f")],
            BTreeMap::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/f"), "{err}");
    }
}

//! Building test images in memory: [`Layer`], [`ImageBuilder`], [`Image`], [`Index`].
//!
//! Independent of hoist on purpose: layers are tar archives written with the `tar` crate and
//! gzipped with `flate2`; the config's `rootfs.diff_ids` are the sha256 of each *uncompressed*
//! tar and the manifest's layer digests the sha256 of the *compressed* bytes, as the OCI image
//! spec and docker's schema2 require. Everything is deterministic (mtime 0, uid/gid 0, entries
//! in the order given) except [`Layer::random`], so the same builder calls give the same
//! digests.
//!
//! Two formats, as docker's `distribution` pulls both: OCI (`application/vnd.oci.image.*`) and
//! Docker schema2 (`application/vnd.docker.distribution.manifest.v2+json`, config
//! `application/vnd.docker.container.image.v1+json`, manifest list for several platforms).
//!
//! Every piece is kept as a [`Blob`] (media type, digest, size, bytes), so tests can compare
//! exactly what hoist pulled with what was pushed ([`crate::ImagePusher`] pushes them).

use std::io::Write;
use std::path::Path;

use flate2::write::GzEncoder;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The two manifest formats a test image can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestFormat {
    /// OCI image manifest / index.
    Oci,
    /// Docker image manifest v2 schema 2 / manifest list.
    DockerSchema2,
}

impl ManifestFormat {
    /// The manifest media type.
    pub fn manifest_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => "application/vnd.oci.image.manifest.v1+json",
            ManifestFormat::DockerSchema2 => "application/vnd.docker.distribution.manifest.v2+json",
        }
    }

    /// The index / manifest list media type.
    pub fn index_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => "application/vnd.oci.image.index.v1+json",
            ManifestFormat::DockerSchema2 => {
                "application/vnd.docker.distribution.manifest.list.v2+json"
            }
        }
    }

    /// The config media type.
    pub fn config_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => "application/vnd.oci.image.config.v1+json",
            ManifestFormat::DockerSchema2 => "application/vnd.docker.container.image.v1+json",
        }
    }

    /// The gzip layer media type.
    pub fn layer_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => "application/vnd.oci.image.layer.v1.tar+gzip",
            ManifestFormat::DockerSchema2 => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        }
    }
}

/// How a layer is stored in an image: the bytes pushed and the media type that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LayerEncoding {
    /// gzip (`tar+gzip`, docker's `tar.gzip`), what most registries hold.
    #[default]
    Gzip,
    /// zstd (`tar+zstd`); OCI only: Docker schema 2 has no zstd layer type.
    Zstd,
    /// The tar itself (`tar`, docker's `diff.tar`), as `docker save` and builders write it.
    Uncompressed,
}

impl LayerEncoding {
    /// The layer media type of this encoding in `format`, or `None` where the format has none
    /// (zstd in Docker schema 2).
    pub fn media_type(self, format: ManifestFormat) -> Option<&'static str> {
        match (self, format) {
            (LayerEncoding::Gzip, _) => Some(format.layer_type()),
            (LayerEncoding::Zstd, ManifestFormat::Oci) => {
                Some("application/vnd.oci.image.layer.v1.tar+zstd")
            }
            (LayerEncoding::Zstd, ManifestFormat::DockerSchema2) => None,
            (LayerEncoding::Uncompressed, ManifestFormat::Oci) => {
                Some("application/vnd.oci.image.layer.v1.tar")
            }
            (LayerEncoding::Uncompressed, ManifestFormat::DockerSchema2) => {
                Some("application/vnd.docker.image.rootfs.diff.tar")
            }
        }
    }

    /// `layer` encoded this way.
    fn encode(self, layer: &Layer) -> Result<Vec<u8>> {
        match self {
            LayerEncoding::Gzip => Ok(layer.gzip.clone()),
            LayerEncoding::Zstd => zstd::encode_all(layer.tar.as_slice(), 3)
                .map_err(|e| Error::io("compressing a layer with zstd", e)),
            LayerEncoding::Uncompressed => Ok(layer.tar.clone()),
        }
    }
}

/// Content-addressed bytes with their media type.
#[derive(Clone, PartialEq, Eq)]
pub struct Blob {
    /// The media type it is referenced with.
    pub media_type: String,
    /// `sha256:<hex>` of `bytes`.
    pub digest: String,
    /// `bytes.len()`.
    pub size: u64,
    /// The content.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blob")
            .field("media_type", &self.media_type)
            .field("digest", &self.digest)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Blob {
    /// Wraps `bytes`, computing digest and size.
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Blob {
        Blob {
            media_type: media_type.to_string(),
            digest: sha256_digest(&bytes),
            size: bytes.len() as u64,
            bytes,
        }
    }

    /// The OCI descriptor JSON (`mediaType`, `digest`, `size`).
    pub fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Ownership, xattrs and time of one entry (what [`LayerBuilder::file_with`] and
/// [`LayerBuilder::dir_with`] take). Default: root-owned, no xattrs, mtime 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attrs {
    /// Owner uid.
    pub uid: u64,
    /// Owner gid.
    pub gid: u64,
    /// Extended attributes, written as PAX `SCHILY.xattr.NAME` records (as docker and GNU tar
    /// write them).
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// Modification time (Unix seconds).
    pub mtime: u64,
}

impl Attrs {
    /// Owned by `uid:gid`.
    pub fn owner(uid: u64, gid: u64) -> Attrs {
        Attrs {
            uid,
            gid,
            ..Attrs::default()
        }
    }

    /// With the xattr `name` = `value`.
    pub fn xattr(mut self, name: &str, value: &[u8]) -> Attrs {
        self.xattrs.push((name.to_string(), value.to_vec()));
        self
    }

    /// With modification time `mtime`.
    pub fn mtime(mut self, mtime: u64) -> Attrs {
        self.mtime = mtime;
        self
    }
}

/// One entry of a layer tar.
#[derive(Debug, Clone)]
enum Entry {
    File {
        path: String,
        data: Vec<u8>,
        mode: u32,
        attrs: Attrs,
    },
    Dir {
        path: String,
        mode: u32,
        attrs: Attrs,
    },
    Symlink {
        path: String,
        target: String,
    },
    Hardlink {
        path: String,
        target: String,
    },
    Fifo {
        path: String,
    },
}

/// A layer: its tar (uncompressed) and gzip bytes. Build with [`Layer::builder`],
/// [`Layer::from_files`], [`Layer::from_dir`] or [`Layer::random`].
#[derive(Debug, Clone)]
pub struct Layer {
    /// The uncompressed tar.
    pub tar: Vec<u8>,
    /// The gzip of `tar` (what is pushed).
    pub gzip: Vec<u8>,
    /// `sha256:` of `tar`: the config's diff ID.
    pub diff_id: String,
}

/// Adds entries to a [`Layer`] in order; parents are not implied (add `dir` entries when a
/// test needs them).
#[derive(Debug, Clone, Default)]
pub struct LayerBuilder {
    entries: Vec<Entry>,
}

impl LayerBuilder {
    /// A regular file, mode 0644.
    pub fn file(self, path: &str, data: &[u8]) -> Self {
        self.file_mode(path, data, 0o644)
    }

    /// A regular file with `mode` (setuid/setgid/sticky bits included: `0o4755`).
    pub fn file_mode(self, path: &str, data: &[u8], mode: u32) -> Self {
        self.file_with(path, data, mode, Attrs::default())
    }

    /// A regular file with `mode` and `attrs` (owner, xattrs, mtime).
    pub fn file_with(mut self, path: &str, data: &[u8], mode: u32, attrs: Attrs) -> Self {
        self.entries.push(Entry::File {
            path: path.to_string(),
            data: data.to_vec(),
            mode,
            attrs,
        });
        self
    }

    /// A directory, mode 0755.
    pub fn dir(self, path: &str) -> Self {
        self.dir_with(path, 0o755, Attrs::default())
    }

    /// A directory with `mode` and `attrs`.
    pub fn dir_with(mut self, path: &str, mode: u32, attrs: Attrs) -> Self {
        self.entries.push(Entry::Dir {
            path: path.to_string(),
            mode,
            attrs,
        });
        self
    }

    /// A named pipe, mode 0644.
    pub fn fifo(mut self, path: &str) -> Self {
        self.entries.push(Entry::Fifo {
            path: path.to_string(),
        });
        self
    }

    /// Makes `dir` opaque: lower layers' contents of it are hidden (`dir/.wh..wh..opq`).
    pub fn opaque(self, dir: &str) -> Self {
        let dir = dir.trim_end_matches('/');
        self.file(&format!("{dir}/.wh..wh..opq"), b"")
    }

    /// A symbolic link `path` → `target`.
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.entries.push(Entry::Symlink {
            path: path.to_string(),
            target: target.to_string(),
        });
        self
    }

    /// A hard link `path` → `target` (an earlier entry of this layer).
    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        self.entries.push(Entry::Hardlink {
            path: path.to_string(),
            target: target.to_string(),
        });
        self
    }

    /// An AUFS whiteout deleting `path` from lower layers (`dir/.wh.name`).
    pub fn whiteout(self, path: &str) -> Self {
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (format!("{d}/"), n),
            None => (String::new(), path),
        };
        self.file(&format!("{dir}.wh.{name}"), b"")
    }

    /// Writes the tar and gzips it.
    pub fn build(self) -> Result<Layer> {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in &self.entries {
            append(&mut builder, entry).map_err(|e| Error::io("writing a layer tar", e))?;
        }
        let tar = builder
            .into_inner()
            .map_err(|e| Error::io("finishing a layer tar", e))?;
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar)
            .map_err(|e| Error::io("compressing a layer", e))?;
        let gzip = gz
            .finish()
            .map_err(|e| Error::io("compressing a layer", e))?;
        Ok(Layer {
            diff_id: sha256_digest(&tar),
            tar,
            gzip,
        })
    }
}

fn append(builder: &mut tar::Builder<Vec<u8>>, entry: &Entry) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    let with_attrs = |builder: &mut tar::Builder<Vec<u8>>,
                      header: &mut tar::Header,
                      attrs: &Attrs|
     -> std::io::Result<()> {
        header.set_uid(attrs.uid);
        header.set_gid(attrs.gid);
        header.set_mtime(attrs.mtime);
        if !attrs.xattrs.is_empty() {
            let records: Vec<(String, &[u8])> = attrs
                .xattrs
                .iter()
                .map(|(name, value)| (format!("SCHILY.xattr.{name}"), value.as_slice()))
                .collect();
            builder.append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))?;
        }
        Ok(())
    };
    match entry {
        Entry::File {
            path,
            data,
            mode,
            attrs,
        } => {
            with_attrs(builder, &mut header, attrs)?;
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(*mode);
            header.set_size(data.len() as u64);
            builder.append_data(&mut header, path, data.as_slice())
        }
        Entry::Dir { path, mode, attrs } => {
            with_attrs(builder, &mut header, attrs)?;
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(*mode);
            header.set_size(0);
            builder.append_data(&mut header, path, std::io::empty())
        }
        Entry::Symlink { path, target } => {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            builder.append_link(&mut header, path, target)
        }
        Entry::Hardlink { path, target } => {
            header.set_entry_type(tar::EntryType::Link);
            header.set_mode(0o644);
            header.set_size(0);
            builder.append_link(&mut header, path, target)
        }
        Entry::Fifo { path } => {
            header.set_entry_type(tar::EntryType::Fifo);
            header.set_mode(0o644);
            header.set_size(0);
            builder.append_data(&mut header, path, std::io::empty())
        }
    }
}

impl Layer {
    /// An empty [`LayerBuilder`].
    pub fn builder() -> LayerBuilder {
        LayerBuilder::default()
    }

    /// A layer of regular files `(path, contents)`.
    pub fn from_files(files: &[(&str, &[u8])]) -> Result<Layer> {
        files
            .iter()
            .fold(Layer::builder(), |b, (path, data)| b.file(path, data))
            .build()
    }

    /// A layer of one file `random.bin` with `size` random bytes (a unique digest each time).
    pub fn random(size: usize) -> Result<Layer> {
        use rand::RngCore;
        let mut data = vec![0u8; size];
        rand::rng().fill_bytes(&mut data);
        Layer::from_files(&[("random.bin", &data)])
    }

    /// A layer of the directories, regular files and symlinks under `dir` (paths relative to
    /// it, sorted; file modes kept). Other file types are skipped.
    pub fn from_dir(dir: &Path) -> Result<Layer> {
        let mut builder = Layer::builder();
        let mut stack = vec![dir.to_path_buf()];
        let mut found = Vec::new();
        while let Some(d) = stack.pop() {
            let read = std::fs::read_dir(&d)
                .map_err(|e| Error::io(format!("reading {}", d.display()), e))?;
            for entry in read {
                let path = entry
                    .map_err(|e| Error::io(format!("reading {}", d.display()), e))?
                    .path();
                let meta = std::fs::symlink_metadata(&path)
                    .map_err(|e| Error::io(format!("stat {}", path.display()), e))?;
                if meta.is_dir() {
                    stack.push(path.clone());
                }
                found.push((path, meta));
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, meta) in found {
            let rel = path
                .strip_prefix(dir)
                .map_err(|_| Error::Protocol(format!("{} escapes its root", path.display())))?
                .to_string_lossy()
                .into_owned();
            let ft = meta.file_type();
            builder = if ft.is_dir() {
                builder.dir(&rel)
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&path)
                    .map_err(|e| Error::io(format!("readlink {}", path.display()), e))?;
                builder.symlink(&rel, &target.to_string_lossy())
            } else if ft.is_file() {
                use std::os::unix::fs::PermissionsExt;
                let data = std::fs::read(&path)
                    .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
                builder.file_mode(&rel, &data, meta.permissions().mode() & 0o7777)
            } else {
                builder
            };
        }
        builder.build()
    }
}

/// The platform of an image (`os/architecture[/variant]`), as the testkit writes it into
/// configs and index entries. The testkit's own on purpose (it does not depend on hoist, see
/// the crate docs); hoist's is `hoist::media::Platform`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// e.g. `linux`.
    pub os: String,
    /// e.g. `amd64`, `arm64`, `arm`.
    pub architecture: String,
    /// e.g. `v8`, `v7`.
    pub variant: Option<String>,
}

impl Platform {
    /// `os`/`architecture`/optional `variant`.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    fn json(&self) -> serde_json::Value {
        let mut v = json!({"architecture": self.architecture, "os": self.os});
        if let Some(variant) = &self.variant {
            v["variant"] = json!(variant);
        }
        v
    }
}

/// Builds an [`Image`]: layers, config and manifest.
#[derive(Debug, Clone)]
pub struct ImageBuilder {
    format: ManifestFormat,
    platform: Platform,
    layers: Vec<(Layer, LayerEncoding)>,
    config: serde_json::Value,
}

impl Default for ImageBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ImageBuilder {
    /// An OCI image for `linux/amd64` with no layers.
    pub fn new() -> ImageBuilder {
        ImageBuilder {
            format: ManifestFormat::Oci,
            platform: Platform::new("linux", "amd64", None),
            layers: Vec::new(),
            config: json!({"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"]}),
        }
    }

    /// The manifest format (default OCI).
    pub fn format(mut self, format: ManifestFormat) -> Self {
        self.format = format;
        self
    }

    /// The platform (default `linux/amd64`).
    pub fn platform(mut self, os: &str, architecture: &str, variant: Option<&str>) -> Self {
        self.platform = Platform::new(os, architecture, variant);
        self
    }

    /// Appends a layer, gzip-compressed.
    pub fn layer(self, layer: Layer) -> Self {
        self.layer_encoded(layer, LayerEncoding::Gzip)
    }

    /// Appends a layer stored as `encoding` says (zstd needs the OCI format: `build` fails
    /// otherwise).
    pub fn layer_encoded(mut self, layer: Layer, encoding: LayerEncoding) -> Self {
        self.layers.push((layer, encoding));
        self
    }

    /// Sets a field of the config's `config` object (e.g. `"Cmd"`, `"Labels"`).
    pub fn config_field(mut self, key: &str, value: serde_json::Value) -> Self {
        self.config[key] = value;
        self
    }

    /// Writes the config and the manifest.
    pub fn build(self) -> Result<Image> {
        let f = self.format;
        let diff_ids: Vec<String> = self.layers.iter().map(|(l, _)| l.diff_id.clone()).collect();
        let history: Vec<serde_json::Value> = (0..self.layers.len())
            .map(|i| json!({"created": "1970-01-01T00:00:00Z", "created_by": format!("hoist-testkit layer {i}")}))
            .collect();
        let mut config = self.platform.json();
        config["created"] = json!("1970-01-01T00:00:00Z");
        config["config"] = self.config;
        config["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
        config["history"] = json!(history);
        let config = Blob::new(f.config_type(), to_vec(&config)?);
        let layers = self
            .layers
            .iter()
            .map(|(layer, encoding)| {
                let media_type = encoding.media_type(f).ok_or_else(|| {
                    Error::Protocol(format!("{encoding:?} layers have no {f:?} media type"))
                })?;
                Ok(Blob::new(media_type, encoding.encode(layer)?))
            })
            .collect::<Result<Vec<Blob>>>()?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": f.manifest_type(),
            "config": config.descriptor(),
            "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
        });
        Ok(Image {
            format: f,
            platform: self.platform,
            manifest: Blob::new(f.manifest_type(), to_vec(&manifest)?),
            config,
            layers,
            diff_ids,
            tars: self.layers.into_iter().map(|(l, _)| l.tar).collect(),
        })
    }
}

/// A built image: every blob with its bytes.
#[derive(Debug, Clone)]
pub struct Image {
    /// Its format.
    pub format: ManifestFormat,
    /// Its platform (also in the config).
    pub platform: Platform,
    /// The manifest.
    pub manifest: Blob,
    /// The config.
    pub config: Blob,
    /// The layers as pushed (gzip unless built with [`ImageBuilder::layer_encoded`]), in order.
    pub layers: Vec<Blob>,
    /// The config's `rootfs.diff_ids`, in order.
    pub diff_ids: Vec<String>,
    /// The uncompressed layer tars, in order.
    pub tars: Vec<Vec<u8>>,
}

impl Image {
    /// A one-layer OCI `linux/amd64` image with `files`.
    pub fn from_files(files: &[(&str, &[u8])]) -> Result<Image> {
        ImageBuilder::new().layer(Layer::from_files(files)?).build()
    }

    /// The manifest digest (`sha256:…`).
    pub fn digest(&self) -> &str {
        &self.manifest.digest
    }
}

/// An OCI index or Docker manifest list over several images.
#[derive(Debug, Clone)]
pub struct Index {
    /// The index / manifest list.
    pub index: Blob,
    /// The images, in the order of the index's `manifests`.
    pub images: Vec<Image>,
}

impl Index {
    /// An index of `format` listing `images` with their platforms. The images should share
    /// the index's format (docker's manifest lists reference schema2 manifests).
    pub fn new(format: ManifestFormat, images: Vec<Image>) -> Result<Index> {
        let manifests: Vec<serde_json::Value> = images
            .iter()
            .map(|img| {
                let mut d = img.manifest.descriptor();
                d["platform"] = img.platform.json();
                d
            })
            .collect();
        let index = json!({
            "schemaVersion": 2,
            "mediaType": format.index_type(),
            "manifests": manifests,
        });
        Ok(Index {
            index: Blob::new(format.index_type(), to_vec(&index)?),
            images,
        })
    }

    /// The index digest (`sha256:…`).
    pub fn digest(&self) -> &str {
        &self.index.digest
    }
}

fn to_vec(v: &serde_json::Value) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Protocol(format!("serialising JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_diff_ids_are_the_uncompressed_tar_digests() {
        let layer = Layer::from_files(&[("a.txt", b"a")]).unwrap();
        let img = ImageBuilder::new().layer(layer.clone()).build().unwrap();
        let config: serde_json::Value = serde_json::from_slice(&img.config.bytes).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][0], sha256_digest(&layer.tar));
        assert_ne!(img.layers[0].digest, layer.diff_id);
        assert_eq!(img.layers[0].digest, sha256_digest(&layer.gzip));
    }

    #[test]
    fn same_files_give_the_same_digests() {
        let a = Image::from_files(&[("x", b"1")]).unwrap();
        let b = Image::from_files(&[("x", b"1")]).unwrap();
        assert_eq!(a.digest(), b.digest());
    }

    #[test]
    fn whiteout_is_named_like_aufs() {
        let layer = Layer::builder().whiteout("etc/passwd").build().unwrap();
        let mut ar = tar::Archive::new(layer.tar.as_slice());
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["etc/.wh.passwd"]);
    }
}

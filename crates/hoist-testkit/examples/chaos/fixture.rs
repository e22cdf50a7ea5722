//! The registries and images every part of the run uses: a source registry holding
//! `chaos/app:v1` (two layers of random bytes, a tree of small files with links, a whiteout
//! layer) and `chaos/small:v1` (the tree layer again and a small layer of its own, so removing
//! one image leaves a layer the other still needs).

use hoist_testkit::{FaultProxy, Image, ImageBuilder, ImagePusher, Layer, TestRegistry};

/// The source registry and what it holds.
pub struct Fixture {
    pub source: TestRegistry,
    pub app: Image,
}

/// `chaos/app:v1`'s repository and tag.
pub const APP: &str = "chaos/app:v1";
/// `chaos/small:v1`'s repository and tag.
pub const SMALL: &str = "chaos/small:v1";

impl Fixture {
    /// Starts the source registry and pushes both images; the random layers are `layer_mib`
    /// MiB each.
    pub async fn start(layer_mib: usize) -> Result<Fixture, String> {
        let source = TestRegistry::anonymous().await.map_err(|e| e.to_string())?;
        let tree = tree_layer()?;
        let app = ImageBuilder::new()
            .layer(Layer::random(layer_mib << 20).map_err(|e| e.to_string())?)
            .layer(tree.clone())
            .layer(Layer::random(layer_mib << 19).map_err(|e| e.to_string())?)
            .layer(
                Layer::builder()
                    .whiteout("srv/d0/f0.txt")
                    .file("etc/chaos-release", b"app\n")
                    .build()
                    .map_err(|e| e.to_string())?,
            )
            .build()
            .map_err(|e| e.to_string())?;
        let small = ImageBuilder::new()
            .layer(tree)
            .layer(Layer::from_files(&[("small.txt", b"small\n")]).map_err(|e| e.to_string())?)
            .build()
            .map_err(|e| e.to_string())?;
        let pusher = ImagePusher::new(&source);
        for (name, image) in [(APP, &app), (SMALL, &small)] {
            let (repo, tag) = name.split_once(':').unwrap_or((name, "latest"));
            pusher
                .push_image(repo, tag, image)
                .await
                .map_err(|e| format!("seeding {name}: {e}"))?;
        }
        Ok(Fixture { source, app })
    }

    /// `HOST/chaos/app:v1`.
    pub fn app_at(&self, host: &str) -> String {
        format!("{host}/{APP}")
    }

    /// `HOST/chaos/small:v1`.
    pub fn small_at(&self, host: &str) -> String {
        format!("{host}/{SMALL}")
    }
}

/// Bytes of the blobs a pull of `image` fetches: its config and layers.
pub fn blob_bytes(image: &Image) -> u64 {
    image.config.size + image.layers.iter().map(|l| l.size).sum::<u64>()
}

/// A fresh, empty registry with a counting proxy in front of it (no rules: it only records).
pub async fn counted_registry() -> Result<(TestRegistry, FaultProxy), String> {
    let registry = TestRegistry::anonymous().await.map_err(|e| e.to_string())?;
    let proxy = FaultProxy::start(&registry)
        .await
        .map_err(|e| e.to_string())?;
    Ok((registry, proxy))
}

/// 16 directories of 40 small files, a symlink and a hardlink in each: work for unpack and
/// export.
fn tree_layer() -> Result<Layer, String> {
    let mut builder = Layer::builder().dir("srv");
    for d in 0..16 {
        builder = builder.dir(&format!("srv/d{d}"));
        for f in 0..40 {
            let body = format!("file {f} of directory {d}\n").repeat(f + 1);
            builder = builder.file(&format!("srv/d{d}/f{f}.txt"), body.as_bytes());
        }
        builder = builder
            .symlink(&format!("srv/d{d}/link"), "f1.txt")
            .hardlink(&format!("srv/d{d}/hard"), &format!("srv/d{d}/f2.txt"));
    }
    builder.build().map_err(|e| e.to_string())
}

//! `testkit`: the testkit from the command line, for the demo script and manual poking.
//!
//! - `testkit seed --registry HOST:PORT --repo NAME:TAG [--user U --password P] [--from-dir DIR]
//!   [--format oci|docker] [--platform OS/ARCH[/VARIANT]]…` pushes a small image over plain
//!   HTTP (Basic or token auth answered from the registry's challenge). With `--from-dir`, its
//!   one layer holds that directory's files; with several `--platform`, an index is pushed.
//!   Prints the digests and sizes of what it pushed.
//! - `testkit serve anonymous|htpasswd|token|tls [--user U --password P]` starts a registry
//!   (and for `token` a token server granting U everything and anonymous clients pull) and
//!   prints where it is until SIGINT/SIGTERM, then stops it cleanly.
//! - `testkit proxy --upstream http://HOST:PORT [--throttle BYTES_PER_SEC]` starts the fault
//!   proxy in front of a plain-HTTP registry, every blob answer paced to at most that rate
//!   (each answer on its own: a connection carries one at a time, so this caps each
//!   connection), and prints where it is until SIGINT/SIGTERM (`bench/range.sh`).
//!
//! Credentials are never printed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use hoist_testkit::{
    http_client, FaultProxy, Image, ImageBuilder, ImagePusher, Index, Layer, ManifestFormat, Rule,
    TestCa, TestRegistry, TokenServer,
};

#[derive(Parser)]
#[command(
    name = "testkit",
    about = "hoist test support: seed and serve registries"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Push a small image to a registry (plain HTTP).
    Seed {
        /// The registry, `HOST:PORT`.
        #[arg(long)]
        registry: String,
        /// Where to push, `NAME:TAG`.
        #[arg(long)]
        repo: String,
        /// User for Basic auth or the token server.
        #[arg(long, requires = "password")]
        user: Option<String>,
        /// Password for `--user`.
        #[arg(long, requires = "user")]
        password: Option<String>,
        /// Make the one layer from this directory's files.
        #[arg(long)]
        from_dir: Option<PathBuf>,
        /// Manifest format.
        #[arg(long, value_enum, default_value_t = Format::Oci)]
        format: Format,
        /// Platform(s) `OS/ARCH[/VARIANT]`; several make an index (manifest list).
        #[arg(long, default_value = "linux/amd64")]
        platform: Vec<String>,
    },
    /// Start a registry and print its address until killed.
    Serve {
        /// Which kind of registry.
        #[arg(value_enum)]
        mode: Mode,
        /// The user (htpasswd and token modes).
        #[arg(long, default_value = "testuser")]
        user: String,
        /// The user's password (htpasswd and token modes).
        #[arg(long, default_value = "testpassword")]
        password: String,
    },
    /// Start the fault proxy in front of a plain-HTTP registry and print where it is until
    /// killed.
    Proxy {
        /// The registry, `http://HOST:PORT`.
        #[arg(long)]
        upstream: String,
        /// Pace every blob answer to at most this many bytes per second.
        #[arg(long)]
        throttle: Option<u64>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Oci,
    Docker,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Anonymous,
    Htpasswd,
    Token,
    Tls,
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Seed {
            registry,
            repo,
            user,
            password,
            from_dir,
            format,
            platform,
        } => {
            let format = match format {
                Format::Oci => ManifestFormat::Oci,
                Format::Docker => ManifestFormat::DockerSchema2,
            };
            let creds = user.zip(password);
            seed(&registry, &repo, creds, from_dir, format, &platform).await
        }
        Command::Serve {
            mode,
            user,
            password,
        } => serve(mode, &user, &password).await,
        Command::Proxy { upstream, throttle } => proxy(&upstream, throttle).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("testkit: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn seed(
    registry: &str,
    repo: &str,
    creds: Option<(String, String)>,
    from_dir: Option<PathBuf>,
    format: ManifestFormat,
    platforms: &[String],
) -> Result<(), String> {
    let (name, tag) = repo
        .rsplit_once(':')
        .filter(|(n, t)| !n.is_empty() && !t.is_empty() && !t.contains('/'))
        .ok_or_else(|| format!("--repo {repo:?}: expected NAME:TAG"))?;
    let mut images = Vec::new();
    for p in platforms {
        let mut parts = p.split('/');
        let (Some(os), Some(arch)) = (parts.next(), parts.next()) else {
            return Err(format!("--platform {p:?}: expected OS/ARCH[/VARIANT]"));
        };
        let variant = parts.next();
        let layer = match &from_dir {
            Some(dir) => Layer::from_dir(dir).map_err(|e| e.to_string())?,
            None => Layer::builder()
                .dir("etc")
                .file("etc/hoist-demo", format!("built for {p}\n").as_bytes())
                .file("hello.txt", b"hello from hoist-testkit\n")
                .build()
                .map_err(|e| e.to_string())?,
        };
        let image = ImageBuilder::new()
            .format(format)
            .platform(os, arch, variant)
            .layer(layer)
            .build()
            .map_err(|e| e.to_string())?;
        images.push(image);
    }
    let client = http_client().map_err(|e| e.to_string())?;
    let mut pusher = ImagePusher::for_url(client, &format!("http://{registry}"));
    if let Some((u, p)) = &creds {
        pusher = pusher.credentials(u, p);
    }
    if images.len() == 1 {
        let image = &images[0];
        pusher
            .push_image(name, tag, image)
            .await
            .map_err(|e| e.to_string())?;
        print_image(image);
        println!("pushed {registry}/{name}:{tag}@{}", image.digest());
    } else {
        let index = Index::new(format, images).map_err(|e| e.to_string())?;
        pusher
            .push_index(name, tag, &index)
            .await
            .map_err(|e| e.to_string())?;
        index.images.iter().for_each(print_image);
        println!("index    {} {}", index.index.digest, index.index.size);
        println!("pushed {registry}/{name}:{tag}@{}", index.digest());
    }
    Ok(())
}

fn print_image(image: &Image) {
    for layer in &image.layers {
        println!("layer    {} {}", layer.digest, layer.size);
    }
    println!("config   {} {}", image.config.digest, image.config.size);
    println!("manifest {} {}", image.manifest.digest, image.manifest.size);
}

async fn serve(mode: Mode, user: &str, password: &str) -> Result<(), String> {
    let s = |e: hoist_testkit::Error| e.to_string();
    let ca;
    let tokens;
    let registry = match mode {
        Mode::Anonymous => TestRegistry::anonymous().await.map_err(s)?,
        Mode::Htpasswd => {
            println!("htpasswd user: {user}");
            TestRegistry::htpasswd(user, password).await.map_err(s)?
        }
        Mode::Token => {
            tokens = TokenServer::builder()
                .admin(user, password)
                .grant_anonymous("*", &["pull"])
                .start()
                .map_err(s)?;
            println!(
                "token realm: {} (user {user}; anonymous may pull)",
                tokens.realm()
            );
            TestRegistry::builder()
                .token_auth(tokens.auth_config())
                .start()
                .await
                .map_err(s)?
        }
        Mode::Tls => {
            ca = TestCa::new().map_err(s)?;
            println!("CA certificate: {}", ca.cert_path().display());
            TestRegistry::builder().tls(&ca).start().await.map_err(s)?
        }
    };
    println!("registry: {} ({})", registry.host(), registry.url());
    println!("storage: {}", registry.storage_dir().display());
    println!("log: {}", registry.log_path().display());
    wait_for_signal().await?;
    drop(registry);
    Ok(())
}

async fn proxy(upstream: &str, throttle: Option<u64>) -> Result<(), String> {
    let proxy = FaultProxy::start_for_plain_url(upstream)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(rate) = throttle {
        proxy.rule(Rule::get_blob().throttle(rate));
    }
    println!("proxy: {} (to {upstream})", proxy.host());
    wait_for_signal().await?;
    drop(proxy);
    Ok(())
}

async fn wait_for_signal() -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

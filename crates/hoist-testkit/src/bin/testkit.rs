//! `testkit`: the testkit from the command line, for the demo script and manual poking.
//!
//! - `testkit seed --registry HOST:PORT --repo NAME:TAG [--user U --password P] [--from-dir DIR]
//!   [--format oci|docker] [--platform OS/ARCH[/VARIANT]]…` pushes a small image over plain
//!   HTTP (Basic or token auth answered from the registry's challenge). With `--from-dir`, its
//!   one layer holds that directory's files; with several `--platform`, an index is pushed.
//!   Prints the digests and sizes of what it pushed.
//! - `testkit sign-keyless --registry HOST:PORT --repo NAME --digest D --identity REF
//!   --email E --issuer I --out DIR` signs an image as `cosign sign` does without a key: a
//!   new Fulcio-style CA (root + intermediate) issues a short-lived certificate for E from I,
//!   a new Rekor-style key logs the signature, and the `sha256-….sig` manifest is pushed over
//!   plain HTTP. Writes the CA root to `DIR/fulcio-ca.pem` and the Rekor public key to
//!   `DIR/rekor.pub`, what a policy's `caPath` and `rekorPublicKeyPath` name. Made wrong on
//!   purpose: `--logged-at-offset S` logs it S seconds from now, `--unlogged` attaches no
//!   bundle.
//! - `testkit sign-key-logged --registry HOST:PORT --repo NAME --digest D --identity REF
//!   --out DIR` signs with a new cosign key and logs the signature with a new Rekor-style key
//!   (what `keyPath` + `rekorPublicKeyPath` require); writes `DIR/key.pub` and `DIR/rekor.pub`.
//! - `testkit serve anonymous|htpasswd|token|tls [--user U --password P]` starts a registry
//!   (and for `token` a token server granting U everything and anonymous clients pull) and
//!   prints where it is until SIGINT/SIGTERM, then stops it cleanly.
//! - `testkit proxy --upstream http://HOST:PORT [--throttle BYTES_PER_SEC] [--delay MS]`
//!   starts the fault proxy in front of a plain-HTTP registry, every blob answer paced to at
//!   most that rate (each answer on its own: a connection carries one at a time, so this caps
//!   each connection) and every answer's headers held back MS milliseconds (a registry far
//!   away: one round trip more per request), and prints where it is until SIGINT/SIGTERM
//!   (`bench/range.sh`, `bench/latency.sh`).
//!
//! Credentials are never printed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use hoist_testkit::{
    fulcio, http_client, sigstore, CosignKey, FaultProxy, Image, ImageBuilder, ImagePusher, Index,
    KeylessSigner, Layer, Leaf, ManifestFormat, RekorKey, Rule, SignatureLayer, TestCa,
    TestRegistry, TokenServer,
};

#[derive(Parser)]
#[command(
    name = "testkit",
    about = "hoist test support: seed, sign and serve registries"
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
    /// Sign an image keyless-style (Fulcio certificate + Rekor bundle) and attach it.
    SignKeyless {
        /// The registry, `HOST:PORT` (plain HTTP, anonymous).
        #[arg(long)]
        registry: String,
        /// The repository holding the image, `NAME`.
        #[arg(long)]
        repo: String,
        /// The manifest digest to sign.
        #[arg(long)]
        digest: String,
        /// The docker reference the signature claims.
        #[arg(long)]
        identity: String,
        /// The certificate's e-mail.
        #[arg(long)]
        email: String,
        /// The certificate's OIDC issuer.
        #[arg(long)]
        issuer: String,
        /// Where to write `fulcio-ca.pem` and `rekor.pub`.
        #[arg(long)]
        out: PathBuf,
        /// Log the signature this many seconds from now (the certificate is valid from a
        /// minute ago for ten minutes: 3600 makes the log time fall outside it).
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        logged_at_offset: i64,
        /// Attach no Rekor bundle.
        #[arg(long)]
        unlogged: bool,
    },
    /// Sign an image with a new cosign key, logged in a new Rekor-style log, and attach it.
    SignKeyLogged {
        /// The registry, `HOST:PORT` (plain HTTP, anonymous).
        #[arg(long)]
        registry: String,
        /// The repository holding the image, `NAME`.
        #[arg(long)]
        repo: String,
        /// The manifest digest to sign.
        #[arg(long)]
        digest: String,
        /// The docker reference the signature claims.
        #[arg(long)]
        identity: String,
        /// Where to write `key.pub` and `rekor.pub`.
        #[arg(long)]
        out: PathBuf,
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
        /// Hold every answer's headers back this many milliseconds.
        #[arg(long)]
        delay: Option<u64>,
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
        Command::SignKeyless {
            registry,
            repo,
            digest,
            identity,
            email,
            issuer,
            out,
            logged_at_offset,
            unlogged,
        } => {
            let leaf = Leaf::new(&email, &issuer);
            let logged = (!unlogged).then_some(logged_at_offset);
            let target = (registry.as_str(), repo.as_str(), digest.as_str());
            sign_keyless(target, &identity, &leaf, logged, &out).await
        }
        Command::SignKeyLogged {
            registry,
            repo,
            digest,
            identity,
            out,
        } => sign_key_logged((&registry, &repo, &digest), &identity, &out).await,
        Command::Serve {
            mode,
            user,
            password,
        } => serve(mode, &user, &password).await,
        Command::Proxy {
            upstream,
            throttle,
            delay,
        } => proxy(&upstream, throttle, delay.map(Duration::from_millis)).await,
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

/// Signs `digest` of `registry`/`repo` for `identity` with a certificate for `leaf`, logged
/// `logged` seconds from now (`None`: no bundle).
async fn sign_keyless(
    (registry, repo, digest): (&str, &str, &str),
    identity: &str,
    leaf: &Leaf,
    logged: Option<i64>,
    out: &std::path::Path,
) -> Result<(), String> {
    let signer = KeylessSigner::new().map_err(|e| e.to_string())?;
    let mut layer = signer
        .ca
        .issue(leaf)
        .map_err(|e| e.to_string())?
        .signature(digest, identity);
    if let Some(offset) = logged {
        signer.rekor.record(&mut layer, fulcio::now() + offset);
    }
    let files = [
        ("fulcio-ca.pem", signer.ca.root_pem().to_owned()),
        ("rekor.pub", signer.rekor.public_pem()),
    ];
    let signer = format!("{} from {}", leaf.email, leaf.issuer);
    attach(
        (registry, repo, digest),
        identity,
        layer,
        &signer,
        &files,
        out,
    )
    .await
}

/// Signs `digest` of `registry`/`repo` for `identity` with a new cosign key, logged now by a
/// new Rekor-style key.
async fn sign_key_logged(
    target: (&str, &str, &str),
    identity: &str,
    out: &std::path::Path,
) -> Result<(), String> {
    let key = CosignKey::generate();
    let rekor = RekorKey::generate();
    let mut layer = key.signature(target.2, identity);
    let entry = fulcio::hashedrekord_entry(&layer.payload, &layer.signature, &key.public_pem());
    layer.annotations.insert(
        fulcio::BUNDLE_ANNOTATION.to_owned(),
        rekor.bundle(&entry, fulcio::now()),
    );
    let files = [
        ("key.pub", key.public_pem()),
        ("rekor.pub", rekor.public_pem()),
    ];
    attach(target, identity, layer, "a new key", &files, out).await
}

/// Writes `files` under `out` and pushes `layer` as the `.sig` manifest of `digest`.
async fn attach(
    (registry, repo, digest): (&str, &str, &str),
    identity: &str,
    layer: SignatureLayer,
    signer: &str,
    files: &[(&str, String)],
    out: &std::path::Path,
) -> Result<(), String> {
    for (name, text) in files {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    let client = http_client().map_err(|e| e.to_string())?;
    let pusher = ImagePusher::for_url(client, &format!("http://{registry}"));
    let pushed = sigstore::push_signatures(&pusher, repo, digest, &[layer])
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "signed {registry}/{repo}@{digest} as {identity} by {signer}: {}@{pushed}",
        sigstore::signature_tag(digest)
    );
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

async fn proxy(
    upstream: &str,
    throttle: Option<u64>,
    delay: Option<Duration>,
) -> Result<(), String> {
    let proxy = FaultProxy::start_for_plain_url(upstream)
        .await
        .map_err(|e| e.to_string())?;
    // The first rule a request matches applies: blob answers get both faults, others the delay.
    let with_delay = |rule: Rule| match delay {
        Some(d) => rule.delay(d),
        None => rule,
    };
    if let Some(rate) = throttle {
        proxy.rule(with_delay(Rule::get_blob().throttle(rate)));
    }
    if delay.is_some() {
        proxy.rule(with_delay(Rule::any()));
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

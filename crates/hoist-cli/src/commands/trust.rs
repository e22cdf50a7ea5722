//! Trust for the commands: the verifier `pull` and `copy` hand to the library, the signer
//! `push` and `copy` use, and `hoist generate-sigstore-key` (skopeo's).
//!
//! The policy file is `--policy`, else the config's `policy`, else
//! `~/.config/containers/policy.json`, else `/etc/containers/policy.json`; with none, every
//! image is accepted (hoist's behaviour before policies, said under `--debug`). Signatures
//! are read where `registries.d` (`--registries.d`, the config's `registries_d`, the user's,
//! the system's) or the config's `sigstore_attachments` enable them.
//!
//! A passphrase comes from `--sign-passphrase-file`/`--passphrase-file` (first line), else
//! from the terminal without echo; never from anywhere it could be logged.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hoist::copy::ImageLocation;
use hoist::reference::Reference;
use hoist::registry::RegistryClient;
use hoist::trust::{
    keys, read_passphrase_file, ImageVerifier, Policy, PolicyVerifier, SigstoreAttachments,
    SigstoreSigner, TrustError,
};

use crate::cli::{GenerateKeyArgs, PolicyArgs, SignArgs};
use crate::config::Config;
use crate::failure::CliError;

/// The verifier for `args` and `config`; `None` when there is no policy file.
pub fn verifier(
    args: &PolicyArgs,
    config: &Config,
) -> Result<Option<Arc<dyn ImageVerifier>>, CliError> {
    let home = std::env::home_dir();
    let explicit = args.policy.as_deref().or(config.policy.as_deref());
    let Some(path) = Policy::locate(explicit, home.as_deref()) else {
        tracing::debug!("no policy file (--policy, the config's policy, ~/.config/containers/policy.json, /etc/containers/policy.json): every image is accepted");
        return Ok(None);
    };
    let policy = Policy::load(&path)?;
    let (attachments, dir) = attachments_at(args, config, home.as_deref())?;
    tracing::debug!(policy = %path.display(), registries_d = %dir.display(), "trust policy in force");
    Ok(Some(Arc::new(PolicyVerifier::new(policy, attachments))))
}

/// Where sigstore attachments are enabled (`registries.d`, the config's
/// `sigstore_attachments`): what verification reads signatures by, and where `hoist pull`
/// stores them.
pub fn attachments(args: &PolicyArgs, config: &Config) -> Result<SigstoreAttachments, CliError> {
    let home = std::env::home_dir();
    Ok(attachments_at(args, config, home.as_deref())?.0)
}

fn attachments_at(
    args: &PolicyArgs,
    config: &Config,
    home: Option<&Path>,
) -> Result<(SigstoreAttachments, PathBuf), CliError> {
    let explicit_dir = args
        .registries_d
        .as_deref()
        .or(config.registries_d.as_deref());
    let dir = SigstoreAttachments::locate(explicit_dir, home);
    let mut attachments = SigstoreAttachments::load_dir(&dir)?;
    for scope in &config.sigstore_attachments {
        attachments.enable(scope);
    }
    Ok((attachments, dir))
}

/// The signer `args` ask for, if any.
pub fn signer(args: &SignArgs) -> Result<Option<SigstoreSigner>, CliError> {
    let Some(key) = &args.sign_by_sigstore_private_key else {
        return Ok(None);
    };
    let passphrase = passphrase(args.sign_passphrase_file.as_deref(), false)?;
    let signer = SigstoreSigner::open(key, &passphrase)?;
    Ok(Some(match &args.sign_identity {
        Some(identity) => signer.with_identity(Reference::parse(identity)?),
        None => signer,
    }))
}

/// The registry reference a signer signs at `destination`; refuses other destinations before
/// anything is copied.
pub fn signing_destination(destination: &ImageLocation) -> Result<&Reference, CliError> {
    match destination {
        ImageLocation::Registry(reference) => Ok(reference),
        other => Err(Box::new(TrustError::CannotSign {
            destination: other.to_string(),
            reason: "sigstore signatures are attached in registries only (docker://)".into(),
        })
        .into()),
    }
}

/// Signs each of `digests` (the manifests just written as `reference`: an index and its
/// platforms' manifests, as containers/image signs each image it copies and the list) with
/// `signer`, all as `reference`'s identity.
pub async fn sign(
    signer: &SigstoreSigner,
    client: &RegistryClient,
    reference: &Reference,
    digests: &[hoist::digest::Digest],
) -> Result<(), CliError> {
    let repo = reference.repository();
    let repository = client.repository(repo.domain(), repo.path());
    for digest in digests {
        signer
            .sign(&repository, reference, digest)
            .await
            .map_err(|e| CliError::Trust(Box::new(e)))?;
    }
    Ok(())
}

/// Runs `hoist generate-sigstore-key`: refuses to overwrite either file, as skopeo does.
pub fn generate_key(args: &GenerateKeyArgs) -> Result<(), CliError> {
    let private = with_suffix(&args.output_prefix, ".private");
    let public = with_suffix(&args.output_prefix, ".pub");
    for path in [&private, &public] {
        if path.exists() {
            return Err(CliError::Usage(format!(
                "refusing to overwrite existing {}",
                path.display()
            )));
        }
    }
    let passphrase = passphrase(args.passphrase_file.as_deref(), true)?;
    let key = keys::generate();
    let sealed = keys::encrypt_private_key(&key, &passphrase)?;
    let public_pem = keys::public_key_pem(key.verifying_key())?;
    write_new(&private, sealed.as_bytes(), 0o600)?;
    write_new(&public, public_pem.as_bytes(), 0o644)?;
    crate::outln!(
        "Key written to {} and {}",
        private.display(),
        public.display()
    );
    Ok(())
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CliError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut file| file.write_all(bytes));
    written.map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))
}

/// The passphrase from `file`, else asked on the terminal (twice for a new key).
fn passphrase(file: Option<&Path>, new: bool) -> Result<Vec<u8>, CliError> {
    if let Some(file) = file {
        return Ok(read_passphrase_file(file)?);
    }
    if !crate::prompt::can_prompt() {
        return Err(CliError::Usage(
            "cannot ask for the key's passphrase: stdin is not a terminal; use --sign-passphrase-file (or --passphrase-file) FILE".into(),
        ));
    }
    let read = |prompt: &str| {
        rpassword::prompt_password(prompt).map_err(|source| CliError::ReadInput {
            what: "the passphrase from the terminal",
            source,
        })
    };
    let first = read("Passphrase: ")?;
    if new && read("Passphrase again: ")? != first {
        return Err(CliError::Usage("the passphrases differ".into()));
    }
    Ok(first.into_bytes())
}

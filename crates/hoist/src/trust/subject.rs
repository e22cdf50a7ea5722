//! [`Subject`]: the image a verifier judges — its policy transport and scopes, the docker
//! identity signatures are matched against, and the registry repository its signatures are
//! read from.
//!
//! Scopes follow containers/image's `PolicyConfigurationIdentity` and
//! `PolicyConfigurationNamespaces` (see [`super::policy`]): for docker references
//! `reg:5000/ns/app:v1`, `reg:5000/ns/app`, `reg:5000/ns`, `reg:5000`, `*.example.com`-style
//! wildcards of the host without its port; for `oci:` and `dir:` the absolute path (made
//! absolute against the working directory, symlinks not resolved; with `:TAG` for `oci:`) and
//! its parent directories; none for archives (only the transport's `""` scope and the default
//! apply).

use std::path::Path;
use std::sync::Arc;

use crate::copy::ImageLocation;
use crate::reference::Reference;
use crate::registry::{RegistryClient, RemoteRepository};
use crate::trust::sigstore::SignatureHome;

/// The image being admitted. See the module docs.
#[derive(Clone)]
pub struct Subject {
    transport: &'static str,
    reference: Option<Reference>,
    scopes: Vec<String>,
    name: String,
    repository: Option<Arc<RemoteRepository>>,
    signature_home: Option<Arc<dyn SignatureHome>>,
}

impl Subject {
    /// An image of a registry (`docker` transport), known as `reference` (a tag or digest
    /// reference), its signatures in `repository`.
    pub fn registry(reference: Reference, repository: Arc<RemoteRepository>) -> Subject {
        Subject {
            transport: "docker",
            scopes: docker_scopes(&reference),
            name: format!("docker://{}", reference.familiar()),
            reference: Some(reference),
            repository: Some(repository),
            signature_home: None,
        }
    }

    /// The subject for a copy's source `location` (registry repositories opened through
    /// `client`).
    pub fn from_location(location: &ImageLocation, client: &RegistryClient) -> Subject {
        match location {
            ImageLocation::Registry(reference) => {
                let repo = reference.repository();
                let repository = Arc::new(client.repository(repo.domain(), repo.path()));
                Subject::registry(reference.clone().with_default_tag(), repository)
            }
            ImageLocation::Store(reference) => {
                let reference = reference.clone().with_default_tag();
                Subject {
                    transport: "hoist",
                    scopes: docker_scopes(&reference),
                    name: format!("hoist:{}", reference.familiar()),
                    reference: Some(reference),
                    repository: None,
                    signature_home: None,
                }
            }
            ImageLocation::Layout { path, tag } => {
                let mut scopes = path_scopes(path);
                if let (Some(tag), Some(first)) = (tag, scopes.first()) {
                    scopes.insert(0, format!("{first}:{tag}"));
                }
                Subject::unidentified("oci", location, scopes)
            }
            ImageLocation::Dir(path) => Subject::unidentified("dir", location, path_scopes(path)),
            ImageLocation::DockerArchive { .. } => {
                Subject::unidentified("docker-archive", location, Vec::new())
            }
            ImageLocation::OciArchive { .. } => {
                Subject::unidentified("oci-archive", location, Vec::new())
            }
        }
    }

    fn unidentified(
        transport: &'static str,
        location: &ImageLocation,
        scopes: Vec<String>,
    ) -> Subject {
        Subject {
            transport,
            reference: None,
            scopes,
            name: location.to_string(),
            repository: None,
            signature_home: None,
        }
    }

    /// The policy transport (`docker`, `hoist`, `oci`, `dir`, `docker-archive`,
    /// `oci-archive`).
    pub fn transport(&self) -> &str {
        self.transport
    }

    /// The policy scopes, most specific first.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The docker reference the image is known by, when it has one.
    pub fn reference(&self) -> Option<&Reference> {
        self.reference.as_ref()
    }

    /// The registry repository signatures are read from, when there is one.
    pub fn repository(&self) -> Option<&Arc<RemoteRepository>> {
        self.repository.as_ref()
    }

    /// The same image, its signatures read through `home` — a
    /// [`RememberedSignatures`](crate::trust::sigstore::RememberedSignatures) of its repository
    /// shared with the copy that follows the judgement, so that each `.sig` is read once and
    /// the copy carries the signatures that were judged. For a registry image only: an image
    /// of another transport has no signatures to judge, and keeps having none.
    pub fn with_signatures(mut self, home: Arc<dyn SignatureHome>) -> Subject {
        if self.repository.is_some() {
            self.signature_home = Some(home);
        }
        self
    }

    /// Where the image's signatures are read: the home [`Subject::with_signatures`] gave,
    /// else the registry repository; none for an image of another transport.
    pub fn signature_home(&self) -> Option<&dyn SignatureHome> {
        match (&self.signature_home, &self.repository) {
            (Some(home), _) => Some(&**home),
            (None, Some(repository)) => Some(&**repository),
            (None, None) => None,
        }
    }

    /// How messages name the image (`docker://reg/app:v1`, `oci:/dir:v1`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject")
            .field("transport", &self.transport)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// A docker reference's scopes, most specific first (see the module docs).
pub(crate) fn docker_scopes(reference: &Reference) -> Vec<String> {
    let name = reference.repository().as_str();
    let mut scopes = Vec::new();
    match (reference.digest(), reference.tag()) {
        (Some(digest), _) => scopes.push(format!("{name}@{digest}")),
        (None, Some(tag)) => scopes.push(format!("{name}:{tag}")),
        (None, None) => {}
    }
    let mut current = name;
    loop {
        scopes.push(current.to_owned());
        match current.rfind('/') {
            Some(slash) => current = &current[..slash],
            None => break,
        }
    }
    // The host without its port, then every parent domain as a wildcard.
    let host = reference.repository().domain();
    let mut host = match host.rfind(':') {
        Some(colon) if !host.ends_with(']') => &host[..colon],
        _ => host,
    };
    while let Some(dot) = host.find('.') {
        host = &host[dot + 1..];
        scopes.push(format!("*.{host}"));
    }
    scopes
}

/// A directory's scopes: its absolute path, then its parents (not `/`).
fn path_scopes(path: &Path) -> Vec<String> {
    let Ok(absolute) = std::path::absolute(path) else {
        return Vec::new();
    };
    let mut scopes = Vec::new();
    let mut current = Some(absolute.as_path());
    while let Some(dir) = current {
        if dir.parent().is_none() {
            break;
        }
        scopes.push(dir.display().to_string());
        current = dir.parent();
    }
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_scopes_go_from_the_tag_to_wildcard_domains() {
        let reference = Reference::parse("reg.example.com:5000/ns/app:v1").unwrap();
        assert_eq!(
            docker_scopes(&reference),
            [
                "reg.example.com:5000/ns/app:v1",
                "reg.example.com:5000/ns/app",
                "reg.example.com:5000/ns",
                "reg.example.com:5000",
                "*.example.com",
                "*.com",
            ]
        );
    }

    #[test]
    fn docker_scopes_of_a_digest_reference_and_docker_hub() {
        let digest = "sha256:0123456789012345678901234567890123456789012345678901234567890123";
        let reference = Reference::parse(&format!("busybox@{digest}")).unwrap();
        assert_eq!(
            docker_scopes(&reference),
            [
                format!("docker.io/library/busybox@{digest}"),
                "docker.io/library/busybox".into(),
                "docker.io/library".into(),
                "docker.io".into(),
                "*.io".into(),
            ]
        );
    }

    #[test]
    fn path_scopes_are_the_directory_and_its_parents() {
        assert_eq!(path_scopes(Path::new("/a/b/c")), ["/a/b/c", "/a/b", "/a"]);
    }
}

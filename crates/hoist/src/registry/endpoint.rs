//! Endpoints: which base URLs serve a registry's API, in which order, and the `/v2/` ping that
//! admits one.
//!
//! Corresponds to docker's `registry.Service.LookupPullEndpoints` / `LookupPushEndpoints`
//! (`registry/service_v2.go`) and `PingV2Registry` (`registry/auth.go`):
//! - pull-side reads try the host's configured mirrors first, in order, then the registry
//!   itself; push (and delete) never use mirrors — for any registry, not only Docker Hub;
//! - `docker.io` (and `index.docker.io`) is served by `registry-1.docker.io`;
//! - HTTPS is tried first; plain HTTP is tried next only for loopback hosts (127.0.0.0/8, ::1,
//!   `localhost`) and hosts configured `insecure` (docker's `InsecureRegistries`, whose default
//!   is 127.0.0.0/8). Unlike docker, loopback hosts keep TLS verification: only `insecure`
//!   disables it (see `tls`);
//! - the ping `GET /v2/` admits an endpoint that answers `Docker-Distribution-Api-Version:
//!   registry/2.0` or status 200/401; anything else (a v1-only registry answers 404) is refused
//!   with [`RegistryError::NotV2`]. A 401 carries the `WWW-Authenticate` challenges `auth` uses.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::Method;
use url::Url;

use super::auth::challenge::{parse_challenges, Challenge};
use super::error::{is_certificate_error, is_connection_refused, transport_cause, RegistryError};
use super::hosts::RegistryConfig;
use super::transport::{Outgoing, Transport};

/// Docker Hub's API host.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";

/// What an operation does, which decides whether mirrors may serve it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Reads (manifests, blobs, tags): mirrors first.
    Pull,
    /// Writes (uploads, manifest PUT/DELETE): the registry only.
    Push,
}

/// An endpoint before its ping: the URLs to try, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointCandidate {
    /// `HOST[:PORT]` of the endpoint (credentials and TLS are looked up by it).
    pub host: String,
    /// Base URLs to ping in order (`https://h/`, then `http://h/` where allowed).
    pub urls: Vec<Url>,
    /// Whether this is a mirror (its errors fall through to the next endpoint).
    pub mirror: bool,
    /// The key credentials are looked up by: the reference domain for the registry itself
    /// (`docker.io`), the mirror's `HOST[:PORT]` for a mirror.
    pub credential_host: String,
}

/// An endpoint that answered the v2 ping.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `HOST[:PORT]`.
    pub host: String,
    /// The base URL, ending in `/` (API URLs are `base + "v2/..."`).
    pub base: Url,
    /// Whether this is a mirror.
    pub mirror: bool,
    /// The key credentials are looked up by (see [`EndpointCandidate::credential_host`]).
    pub credential_host: String,
    /// The challenges the ping answered with (empty when `/v2/` needs no auth).
    pub challenges: Vec<Challenge>,
    /// Set once the endpoint answered a referrers API request with 404 (see
    /// [`Endpoint::lacks_referrers_api`]); shared by the clones of one ping's endpoint.
    no_referrers_api: Arc<AtomicBool>,
}

impl Endpoint {
    /// `base + "v2/" + path` (path without a leading slash).
    pub fn api_url(&self, path: &str) -> Result<Url, RegistryError> {
        let joined = format!("v2/{path}");
        self.base.join(&joined).map_err(|e| RegistryError::Url {
            url: joined,
            reason: e.to_string(),
        })
    }

    /// Whether the endpoint is known to have no referrers API: it answered a request to it
    /// with 404, which distribution-spec 1.1 forbids a registry that has the API to do. Later
    /// lookups go to the fallback tag at once, one round trip each instead of two (oras-go
    /// remembers this per repository too).
    pub fn lacks_referrers_api(&self) -> bool {
        self.no_referrers_api.load(Ordering::Relaxed)
    }

    /// Records that the endpoint has no referrers API (see [`Endpoint::lacks_referrers_api`]).
    pub fn mark_no_referrers_api(&self) {
        self.no_referrers_api.store(true, Ordering::Relaxed);
    }
}

/// The API host for a reference domain (`docker.io` ⇒ `registry-1.docker.io`).
pub fn api_host(domain: &str) -> &str {
    match domain {
        "docker.io" | "index.docker.io" => DOCKER_HUB_API_HOST,
        other => other,
    }
}

/// Whether `host` (`HOST[:PORT]`) may be reached over plain HTTP.
pub fn allows_plain_http(config: &RegistryConfig, host: &str) -> bool {
    if config.host(host).insecure {
        return true;
    }
    let name = host_name(host);
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host name of `HOST[:PORT]`, brackets of an IPv6 literal removed.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) && !name.contains(':') => {
            name
        }
        _ => host,
    }
}

/// The endpoints for `domain`, in the order they are tried.
pub fn candidates(
    config: &RegistryConfig,
    domain: &str,
    purpose: Purpose,
) -> Result<Vec<EndpointCandidate>, RegistryError> {
    let mut out = Vec::new();
    if purpose == Purpose::Pull {
        for mirror in &config.host(domain).mirrors {
            out.push(mirror_candidate(mirror)?);
        }
    }
    out.push(registry_candidate(config, domain)?);
    Ok(out)
}

fn mirror_candidate(mirror: &str) -> Result<EndpointCandidate, RegistryError> {
    let with_scheme = if mirror.contains("://") {
        mirror.to_string()
    } else {
        format!("https://{mirror}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|e| RegistryError::Url {
        url: mirror.to_string(),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(RegistryError::Url {
            url: mirror.to_string(),
            reason: "a mirror must be an http(s) URL with a host".into(),
        });
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url.set_query(None);
    url.set_fragment(None);
    let host = super::transport::authority(&url);
    Ok(EndpointCandidate {
        credential_host: host.clone(),
        host,
        urls: vec![url],
        mirror: true,
    })
}

fn registry_candidate(
    config: &RegistryConfig,
    domain: &str,
) -> Result<EndpointCandidate, RegistryError> {
    let host = api_host(domain);
    let parse = |scheme: &str| {
        Url::parse(&format!("{scheme}://{host}/")).map_err(|e| RegistryError::Url {
            url: host.to_string(),
            reason: e.to_string(),
        })
    };
    let mut urls = vec![parse("https")?];
    if allows_plain_http(config, domain) {
        urls.push(parse("http")?);
    }
    Ok(EndpointCandidate {
        host: host.to_string(),
        urls,
        mirror: false,
        credential_host: domain.to_string(),
    })
}

/// Pings each URL of `candidate` in turn; the first v2 answer wins. A network error (refused,
/// TLS failure) moves to the next URL; an answer that is not v2 stops with
/// [`RegistryError::NotV2`]; a local error (TLS material that cannot be read) stops at once.
/// When every URL failed, [`RegistryError::Unreachable`] lists why, and says whether each
/// refused the connection (nothing listens: not retried) or rejected a certificate.
pub async fn ping(
    transport: &Transport,
    candidate: &EndpointCandidate,
) -> Result<Endpoint, RegistryError> {
    let mut attempts = Vec::new();
    let mut certificate_rejected = false;
    let mut connection_refused = true;
    for base in &candidate.urls {
        let url = base.join("v2/").map_err(|e| RegistryError::Url {
            url: base.to_string(),
            reason: e.to_string(),
        })?;
        let response = match transport
            .execute(
                Outgoing::new(Method::GET, url.clone())
                    .with_deadline(transport.config().document_timeout),
            )
            .await
        {
            Ok(r) => r,
            Err(RegistryError::Http { source, .. }) => {
                tracing::debug!(%url, error = %source, "ping failed");
                attempts.push(format!("{url}: {}", transport_cause(&source)));
                certificate_rejected |= is_certificate_error(&source);
                connection_refused &= is_connection_refused(&source);
                continue;
            }
            // Not a network failure but a local one (the host's TLS material cannot be read):
            // every URL of the host shares it, and no retry changes it.
            Err(local) => return Err(local),
        };
        connection_refused = false;
        let status = response.status().as_u16();
        let versioned = response
            .headers()
            .get_all("docker-distribution-api-version")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|x| x.trim() == "registry/2.0"));
        if !(versioned || status == 200 || status == 401) {
            if attempts.is_empty() || status != 400 {
                return Err(RegistryError::NotV2 {
                    url: url.to_string(),
                    status,
                });
            }
            // HTTPS failed and plain HTTP got a 400: a TLS port refusing plain HTTP ("client
            // sent an HTTP request to an HTTPS server"). The HTTPS failure (unknown CA, missing
            // client certificate) is the one to report.
            attempts.push(format!("{url}: HTTP {status}, not a v2 registry"));
            continue;
        }
        let challenges = parse_challenges(
            response
                .headers()
                .get_all(http::header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        return Ok(Endpoint {
            host: candidate.host.clone(),
            base: base.clone(),
            mirror: candidate.mirror,
            credential_host: candidate.credential_host.clone(),
            challenges,
            no_referrers_api: Arc::default(),
        });
    }
    Err(RegistryError::Unreachable {
        host: candidate.host.clone(),
        attempts: attempts.join("; "),
        certificate_rejected,
        connection_refused: connection_refused && !attempts.is_empty(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::hosts::HostConfig;

    fn config_with(host: &str, hc: HostConfig) -> RegistryConfig {
        let mut c = RegistryConfig::default();
        c.registries.insert(host.to_string(), hc);
        c
    }

    #[test]
    fn docker_io_is_served_by_registry_1() {
        let c = candidates(&RegistryConfig::default(), "docker.io", Purpose::Pull).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].urls[0].as_str(), "https://registry-1.docker.io/");
        assert_eq!(c[0].urls.len(), 1, "no plain HTTP for Docker Hub");
    }

    #[test]
    fn mirrors_come_first_for_pull() {
        let cfg = config_with(
            "r.example:5000",
            HostConfig {
                mirrors: vec!["m1:6000".into(), "http://m2/pre".into()],
                ..Default::default()
            },
        );
        let c = candidates(&cfg, "r.example:5000", Purpose::Pull).unwrap();
        let urls: Vec<_> = c.iter().map(|c| c.urls[0].as_str().to_string()).collect();
        assert_eq!(
            urls,
            [
                "https://m1:6000/",
                "http://m2/pre/",
                "https://r.example:5000/"
            ]
        );
        assert!(c[0].mirror && c[1].mirror && !c[2].mirror);
    }

    #[test]
    fn push_never_uses_mirrors() {
        let cfg = config_with(
            "docker.io",
            HostConfig {
                mirrors: vec!["https://m".into()],
                ..Default::default()
            },
        );
        let c = candidates(&cfg, "docker.io", Purpose::Push).unwrap();
        assert_eq!(c.len(), 1);
        assert!(!c[0].mirror);
    }

    #[test]
    fn loopback_and_localhost_may_use_plain_http() {
        let c = RegistryConfig::default();
        assert!(allows_plain_http(&c, "127.0.0.1:5000"));
        assert!(allows_plain_http(&c, "127.1.2.3"));
        assert!(allows_plain_http(&c, "localhost:5000"));
        assert!(allows_plain_http(&c, "[::1]:5000"));
        assert!(!allows_plain_http(&c, "r.example:5000"));
        assert!(!allows_plain_http(&c, "10.0.0.1:5000"));
    }

    #[test]
    fn insecure_host_may_use_plain_http_after_https() {
        let cfg = config_with(
            "r.example",
            HostConfig {
                insecure: true,
                ..Default::default()
            },
        );
        let c = candidates(&cfg, "r.example", Purpose::Push).unwrap();
        let urls: Vec<_> = c[0].urls.iter().map(Url::as_str).collect();
        assert_eq!(urls, ["https://r.example/", "http://r.example/"]);
    }

    #[test]
    fn bad_mirror_url_is_refused() {
        let cfg = config_with(
            "x",
            HostConfig {
                mirrors: vec!["ftp://m".into()],
                ..Default::default()
            },
        );
        assert!(candidates(&cfg, "x", Purpose::Pull).is_err());
    }
}

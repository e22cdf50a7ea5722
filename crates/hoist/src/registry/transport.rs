//! The one place requests leave hoist: User-Agent, meta headers, timeouts, proxies, TLS per
//! host, and redirects.
//!
//! - `User-Agent: hoist/<version>` and the library config's extra meta headers (docker's
//!   `Config.MetaHeaders`) go on every request.
//! - Connect and read timeouts from [`RegistryConfig`], and the deadline of a small document
//!   ([`Outgoing::with_deadline`]); `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`
//!   are honoured by reqwest's system-proxy support.
//! - One reqwest client per `HOST[:PORT]`, each with that host's rustls configuration
//!   (`tls`), built once on a blocking thread.
//! - Redirects are followed here, by hand (reqwest's own policy is off): `Authorization` goes
//!   only to the scheme, host and port the request was authorised for. Registries redirect blob
//!   GETs to object storage (S3, GCS, a CDN), which must never see the registry's credentials
//!   (cf. docker's `checkHTTPRedirect`, which drops auth on a host change).
//!   Only GET and HEAD are redirected; other methods return the 3xx to the caller.
//!
//! Authentication itself (choosing the header, retrying on 401) is `auth`'s job; a request
//! arrives here with its `Authorization` already decided.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use tokio::sync::Mutex;
use url::Url;

use super::body::{read_document, Document};
use super::errcode::decode_errors;
use super::error::{ErrorEntries, RegistryError};
use super::hosts::RegistryConfig;
use super::tls::client_tls_config;

/// At most this many redirects per request (Go's default).
const MAX_REDIRECTS: usize = 10;

/// A request body.
pub enum OutBody {
    /// No body.
    Empty,
    /// A body in memory, which can be re-sent (after a 401, a redirect).
    Bytes(Bytes),
    /// A streamed body, sent once.
    Stream(reqwest::Body),
}

/// A request ready to leave, with its `Authorization` decided.
pub struct Outgoing {
    /// The method.
    pub method: Method,
    /// The URL.
    pub url: Url,
    /// Extra headers (Accept, Content-Type, Range, …).
    pub headers: HeaderMap,
    /// The body.
    pub body: OutBody,
    /// Sent only to `url`'s scheme, host and port.
    pub authorization: Option<HeaderValue>,
    /// A deadline for the whole exchange, body read included (small documents only; see
    /// `RegistryConfig::document_timeout`).
    pub deadline: Option<Duration>,
}

impl Outgoing {
    /// A body-less request without authorisation.
    pub fn new(method: Method, url: Url) -> Outgoing {
        Outgoing {
            method,
            url,
            headers: HeaderMap::new(),
            body: OutBody::Empty,
            authorization: None,
            deadline: None,
        }
    }

    /// Sets a deadline for the whole exchange, the body read included.
    pub fn with_deadline(mut self, deadline: Duration) -> Outgoing {
        self.deadline = Some(deadline);
        self
    }

    /// Sets the `Authorization` value.
    pub fn with_authorization(mut self, authorization: Option<HeaderValue>) -> Outgoing {
        self.authorization = authorization;
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Outgoing {
        self.headers.append(name, value);
        self
    }

    /// A copy for a second attempt; `None` when the body is a stream already given away.
    pub fn try_clone(&self) -> Option<Outgoing> {
        let body = match &self.body {
            OutBody::Empty => OutBody::Empty,
            OutBody::Bytes(b) => OutBody::Bytes(b.clone()),
            OutBody::Stream(_) => return None,
        };
        Some(Outgoing {
            method: self.method.clone(),
            url: self.url.clone(),
            headers: self.headers.clone(),
            body,
            authorization: self.authorization.clone(),
            deadline: self.deadline,
        })
    }
}

/// Sends requests; shared by every endpoint of a [`super::RegistryClient`].
pub struct Transport {
    config: Arc<RegistryConfig>,
    default_headers: HeaderMap,
    clients: Mutex<HashMap<String, reqwest::Client>>,
}

impl Transport {
    /// A transport for `config`. Meta headers that are not valid HTTP headers are refused.
    pub fn new(config: Arc<RegistryConfig>) -> Result<Transport, RegistryError> {
        let mut default_headers = HeaderMap::new();
        default_headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static(concat!("hoist/", env!("CARGO_PKG_VERSION"))),
        );
        for (name, value) in &config.meta_headers {
            let bad = |reason: String| RegistryError::Protocol {
                url: String::new(),
                reason: format!("meta header {name:?}: {reason}"),
            };
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(e.to_string()))?;
            let value = HeaderValue::from_str(value).map_err(|e| bad(e.to_string()))?;
            default_headers.append(name, value);
        }
        Ok(Transport {
            config,
            default_headers,
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Sends `out`, following GET/HEAD redirects; `Authorization` only to the original origin.
    pub async fn execute(&self, out: Outgoing) -> Result<reqwest::Response, RegistryError> {
        let origin = out.url.origin();
        let first_url = out.url.clone();
        let redirectable = out.method == Method::GET || out.method == Method::HEAD;
        let mut url = out.url;
        let mut body = Some(out.body);
        for _ in 0..=MAX_REDIRECTS {
            let client = self.client_for(&url).await?;
            let mut req = client
                .request(out.method.clone(), url.clone())
                .headers(self.default_headers.clone());
            for (name, value) in &out.headers {
                req = req.header(name, value);
            }
            if let Some(deadline) = out.deadline {
                req = req.timeout(deadline);
            }
            if url.origin() == origin {
                if let Some(auth) = &out.authorization {
                    req = req.header(http::header::AUTHORIZATION, auth.clone());
                }
            }
            match body.take() {
                Some(OutBody::Bytes(b)) => {
                    body = Some(OutBody::Bytes(b.clone()));
                    req = req.body(b);
                }
                Some(OutBody::Stream(s)) => req = req.body(s),
                Some(OutBody::Empty) | None => {}
            }
            let response = req.send().await.map_err(|e| RegistryError::Http {
                method: out.method.to_string(),
                url: url.to_string(),
                source: e,
            })?;
            if !(redirectable && response.status().is_redirection()) {
                return Ok(response);
            }
            let Some(next) = redirect_target(&url, &response) else {
                return Ok(response);
            };
            tracing::debug!(from = %url, to = %next, "following redirect");
            url = next;
        }
        Err(RegistryError::TooManyRedirects {
            url: first_url.to_string(),
        })
    }

    /// The client for `url`'s host, built on first use.
    async fn client_for(&self, url: &Url) -> Result<reqwest::Client, RegistryError> {
        let authority = authority(url);
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(&authority) {
            return Ok(c.clone());
        }
        let config = self.config.clone();
        let host = authority.clone();
        let tls = tokio::task::spawn_blocking(move || client_tls_config(&config, &host))
            .await
            .map_err(|e| RegistryError::Tls {
                host: authority.clone(),
                reason: e.to_string(),
            })??;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.config.connect_timeout)
            .read_timeout(self.config.read_timeout)
            .build()
            .map_err(|e| RegistryError::Tls {
                host: authority.clone(),
                reason: e.to_string(),
            })?;
        clients.insert(authority, client.clone());
        Ok(client)
    }
}

/// `HOST[:PORT]` of a URL, the port only when explicit (the certs.d directory name).
pub fn authority(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

fn redirect_target(current: &Url, response: &reqwest::Response) -> Option<Url> {
    let location = response
        .headers()
        .get(http::header::LOCATION)?
        .to_str()
        .ok()?;
    current.join(location).ok()
}

/// Reads an error answer into [`RegistryError::Api`] (body decoded when it is a registry
/// error body, else the status decides the code). A body that cannot be read, or is larger
/// than [`Document::ErrorAnswer`]'s cap, is read as empty: the status still says what failed.
pub async fn read_error(method: &Method, url: &Url, response: reqwest::Response) -> RegistryError {
    let status = response.status().as_u16();
    let host = authority(response.url());
    let retry_after = crate::transfer::retry_after(response.headers());
    let body = read_document(method, url, response, Document::ErrorAnswer)
        .await
        .unwrap_or_default();
    RegistryError::Api {
        host,
        method: method.to_string(),
        url: url.to_string(),
        status,
        errors: ErrorEntries(decode_errors(status, &body)),
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_keeps_explicit_port_only() {
        assert_eq!(
            authority(&Url::parse("https://r.example:5000/v2/").unwrap()),
            "r.example:5000"
        );
        assert_eq!(
            authority(&Url::parse("https://r.example/v2/").unwrap()),
            "r.example"
        );
        assert_eq!(
            authority(&Url::parse("http://[::1]:5000/").unwrap()),
            "[::1]:5000"
        );
    }
}

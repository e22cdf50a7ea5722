//! Pushing test images to a registry with plain reqwest: [`ImagePusher`].
//!
//! Independent of hoist: it speaks just enough of the distribution API to seed a registry —
//! blob `HEAD` (skip what exists), monolithic upload (`POST /v2/<name>/blobs/uploads/`, then
//! `PUT <Location>&digest=`), and `PUT /v2/<name>/manifests/<ref>` with the manifest's media
//! type. Auth follows the registry's `WWW-Authenticate` challenge: Basic sends the
//! credentials; Bearer fetches a token from the realm (`GET realm?service=&scope=
//! repository:<name>:pull,push`, with Basic credentials when given) and caches it per
//! repository. A 401 with a cached authorization retries once with a fresh one.
//!
//! For a token-auth registry, give the pusher credentials the [`crate::TokenServer`] grants
//! push on (e.g. an `admin` user).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use base64::Engine;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use crate::error::{Error, Result};
use crate::image::{Blob, Image, Index};
use crate::registry::TestRegistry;
use crate::schema1::Schema1Image;

/// Pushes blobs, images and indexes to one registry; see the module docs.
#[derive(Debug)]
pub struct ImagePusher {
    client: reqwest::Client,
    base: String,
    credentials: Option<(String, String)>,
    /// repository → `Authorization` value.
    auth: Mutex<HashMap<String, String>>,
}

impl ImagePusher {
    /// A pusher for `registry` (anonymous until [`credentials`](Self::credentials)).
    pub fn new(registry: &TestRegistry) -> ImagePusher {
        Self::for_url(registry.client(), &registry.url())
    }

    /// A pusher for the registry at `base_url` (`http://host:port`), using `client`.
    pub fn for_url(client: reqwest::Client, base_url: &str) -> ImagePusher {
        ImagePusher {
            client,
            base: base_url.trim_end_matches('/').to_string(),
            credentials: None,
            auth: Mutex::new(HashMap::new()),
        }
    }

    /// Uses `user`/`password` for Basic auth or to get tokens.
    pub fn credentials(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((user.to_string(), password.to_string()));
        self
    }

    /// Pushes the layers, config and manifest of `image` and tags it `reference` (a tag or the
    /// digest). Returns the manifest digest.
    pub async fn push_image(&self, repo: &str, reference: &str, image: &Image) -> Result<String> {
        for blob in image.layers.iter().chain(std::iter::once(&image.config)) {
            self.push_blob(repo, blob).await?;
        }
        self.push_manifest(repo, reference, &image.manifest).await
    }

    /// Pushes the fsLayer blobs of a signed schema 1 `image`, then its manifest (media type
    /// `…manifest.v1+prettyjws`) as `reference`. Returns the digest the registry reports, which
    /// must be the canonical one (over the payload). The registry must accept schema 1
    /// ([`crate::RegistryBuilder::accept_schema1`]).
    pub async fn push_schema1(
        &self,
        repo: &str,
        reference: &str,
        image: &Schema1Image,
    ) -> Result<String> {
        for blob in &image.layers {
            self.push_blob(repo, blob).await?;
        }
        self.push_manifest(repo, reference, &image.manifest).await
    }

    /// Pushes every image of `index` by digest, then the index as `reference`. Returns the
    /// index digest.
    pub async fn push_index(&self, repo: &str, reference: &str, index: &Index) -> Result<String> {
        for image in &index.images {
            self.push_image(repo, &image.manifest.digest, image).await?;
        }
        self.push_manifest(repo, reference, &index.index).await
    }

    /// Uploads `blob` unless the registry already has it in `repo`.
    pub async fn push_blob(&self, repo: &str, blob: &Blob) -> Result<()> {
        let url = format!("{}/v2/{repo}/blobs/{}", self.base, blob.digest);
        let head = self.send(repo, Method::HEAD, &url, None, None).await?;
        if head.status().is_success() {
            return Ok(());
        }
        let start = format!("{}/v2/{repo}/blobs/uploads/", self.base);
        let resp = self.send(repo, Method::POST, &start, None, None).await?;
        let resp = expect(resp, StatusCode::ACCEPTED, "POST", &start).await?;
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Protocol(format!("POST {start}: 202 without Location")))?;
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location.to_string()
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={}", blob.digest);
        let resp = self
            .send(
                repo,
                Method::PUT,
                &put,
                Some("application/octet-stream"),
                Some(&blob.bytes),
            )
            .await?;
        expect(resp, StatusCode::CREATED, "PUT", &put).await?;
        Ok(())
    }

    /// Uploads the file at `path` as the blob `digest` (`sha256:…`) in one streamed PUT, never
    /// holding it in memory: for test blobs of hundreds of megabytes.
    pub async fn push_blob_file(&self, repo: &str, digest: &str, path: &Path) -> Result<()> {
        use tokio::io::AsyncReadExt as _;
        let location = self.start_upload(repo).await?;
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={digest}");
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        let len = file
            .metadata()
            .await
            .map_err(|e| Error::io(format!("stat {}", path.display()), e))?
            .len();
        let chunks = futures_util::stream::unfold(Some(file), |file| async move {
            let mut file = file?;
            let mut buf = vec![0u8; 1 << 20];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(bytes::Bytes::from(buf)), Some(file)))
                }
                Err(e) => Some((Err::<bytes::Bytes, _>(e), None)),
            }
        });
        let mut req = self
            .client
            .put(&put)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(chunks));
        if let Some(authorization) = self.cached(repo) {
            req = req.header(AUTHORIZATION, authorization);
        }
        let resp = req.send().await.map_err(|source| Error::Http {
            method: "PUT".into(),
            url: put.clone(),
            source,
        })?;
        expect(resp, StatusCode::CREATED, "PUT", &put).await?;
        Ok(())
    }

    /// Starts an upload session (`POST /v2/REPO/blobs/uploads/`); returns its absolute URL.
    async fn start_upload(&self, repo: &str) -> Result<String> {
        let start = format!("{}/v2/{repo}/blobs/uploads/", self.base);
        let resp = self.send(repo, Method::POST, &start, None, None).await?;
        let resp = expect(resp, StatusCode::ACCEPTED, "POST", &start).await?;
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Protocol(format!("POST {start}: 202 without Location")))?;
        Ok(if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location.to_string()
        })
    }

    /// PUTs `manifest` (its media type as Content-Type) as `reference`. Returns the digest the
    /// registry reports (`Docker-Content-Digest`), which must equal the manifest's.
    pub async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        manifest: &Blob,
    ) -> Result<String> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let resp = self
            .send(
                repo,
                Method::PUT,
                &url,
                Some(&manifest.media_type),
                Some(&manifest.bytes),
            )
            .await?;
        let resp = expect(resp, StatusCode::CREATED, "PUT", &url).await?;
        let digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if digest != manifest.digest {
            return Err(Error::Protocol(format!(
                "PUT {url}: registry reports digest {digest:?}, expected {}",
                manifest.digest
            )));
        }
        Ok(digest)
    }

    /// Sends a request with the cached authorization; on 401, answers the challenge and retries
    /// once.
    async fn send(
        &self,
        repo: &str,
        method: Method,
        url: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<reqwest::Response> {
        self.send_accepting(repo, method, url, content_type, body, None)
            .await
    }

    /// The registry's base URL (`http://host:port`).
    pub(crate) fn base_url(&self) -> &str {
        &self.base
    }

    /// [`Self::send`] with an `Accept` header.
    pub(crate) async fn send_accepting(
        &self,
        repo: &str,
        method: Method,
        url: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
        accept: Option<&str>,
    ) -> Result<reqwest::Response> {
        let (method, url) = (&method, url);
        let cached = self.cached(repo);
        let resp = self
            .request(
                method.clone(),
                url,
                content_type,
                body,
                cached.as_deref(),
                accept,
            )
            .await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let authorization = self.answer(repo, &challenge).await?;
        if let Ok(mut auth) = self.auth.lock() {
            auth.insert(repo.to_string(), authorization.clone());
        }
        self.request(
            method.clone(),
            url,
            content_type,
            body,
            Some(&authorization),
            accept,
        )
        .await
    }

    fn cached(&self, repo: &str) -> Option<String> {
        self.auth.lock().ok().and_then(|a| a.get(repo).cloned())
    }

    async fn request(
        &self,
        method: Method,
        url: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
        authorization: Option<&str>,
        accept: Option<&str>,
    ) -> Result<reqwest::Response> {
        let mut req = self.client.request(method.clone(), url);
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        if let Some(accept) = accept {
            req = req.header(reqwest::header::ACCEPT, accept);
        }
        if let Some(a) = authorization {
            req = req.header(AUTHORIZATION, a);
        }
        if let Some(b) = body {
            req = req.body(b.to_vec());
        }
        req.send().await.map_err(|source| Error::Http {
            method: method.to_string(),
            url: url.to_string(),
            source,
        })
    }

    /// The `Authorization` value answering `challenge`.
    async fn answer(&self, repo: &str, challenge: &str) -> Result<String> {
        let (scheme, params) = parse_challenge(challenge);
        if scheme.eq_ignore_ascii_case("basic") {
            let (user, pass) = self.credentials.as_ref().ok_or_else(|| {
                Error::Protocol(format!(
                    "{}: Basic auth required, no credentials",
                    self.base
                ))
            })?;
            return Ok(basic(user, pass));
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Error::Protocol(format!(
                "{}: unsupported challenge {challenge:?}",
                self.base
            )));
        }
        let realm = params
            .get("realm")
            .ok_or_else(|| Error::Protocol(format!("challenge without realm: {challenge:?}")))?;
        let mut url = reqwest::Url::parse(realm)
            .map_err(|e| Error::Protocol(format!("realm {realm:?}: {e}")))?;
        if let Some(service) = params.get("service") {
            url.query_pairs_mut().append_pair("service", service);
        }
        url.query_pairs_mut()
            .append_pair("scope", &format!("repository:{repo}:pull,push"));
        let mut req = self.client.get(url.clone());
        if let Some((user, pass)) = &self.credentials {
            req = req.header(AUTHORIZATION, basic(user, pass));
        }
        let resp = req.send().await.map_err(|source| Error::Http {
            method: "GET".into(),
            url: realm.clone(),
            source,
        })?;
        let resp = expect(resp, StatusCode::OK, "GET", realm).await?;
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| Error::Protocol(format!("token response from {realm}: {e}")))?;
        let token = body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .ok_or_else(|| Error::Protocol(format!("token response from {realm} has no token")))?;
        Ok(format!("Bearer {token}"))
    }
}

fn basic(user: &str, pass: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    format!("Basic {encoded}")
}

/// `Scheme k="v",k2="v2"` → (scheme, params). Values may contain commas inside quotes.
fn parse_challenge(header: &str) -> (String, HashMap<String, String>) {
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, remaining) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((v, r)) => (v.to_string(), r),
                None => (quoted.to_string(), ""),
            },
            None => match after.split_once(',') {
                Some((v, r)) => (v.trim().to_string(), r),
                None => (after.trim().to_string(), ""),
            },
        };
        params.insert(key, value);
        rest = remaining.trim_start_matches(',').trim();
    }
    (scheme.to_string(), params)
}

pub(crate) async fn expect(
    resp: reqwest::Response,
    want: StatusCode,
    method: &str,
    url: &str,
) -> Result<reqwest::Response> {
    if resp.status() == want {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    Err(Error::Status {
        method: method.to_string(),
        url: url.to_string(),
        status,
        body: body.chars().take(500).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_challenge;

    #[test]
    fn bearer_challenge_with_comma_in_scope_is_parsed() {
        let (scheme, p) = parse_challenge(
            r#"Bearer realm="http://127.0.0.1:1/token",service="reg",scope="repository:a/b:pull,push",error="insufficient_scope""#,
        );
        assert_eq!(scheme, "Bearer");
        assert_eq!(p["realm"], "http://127.0.0.1:1/token");
        assert_eq!(p["service"], "reg");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
        assert_eq!(p["error"], "insufficient_scope");
    }
}

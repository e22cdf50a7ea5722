//! Servers that answer the way some registries do on purpose: [`RedirectServer`] and
//! [`V1OnlyServer`].
//!
//! [`RedirectServer`] stands in front of a [`TestRegistry`] like a registry whose blobs live in
//! object storage (Docker Hub → Cloudflare/S3): every request is forwarded unchanged — method,
//! path, query, body and headers including `Authorization` and the original `Host`, so the
//! registry's `Location` URLs point back at the front — and the registry's answer comes back
//! unchanged (status, `WWW-Authenticate`, `Location`, `Docker-Content-Digest`, body). The one
//! exception is a successful blob `GET /v2/<name>/blobs/<digest>`: after the registry has
//! authorised and served it, the front answers `307 Temporary Redirect` with `Location:
//! http://127.0.0.2:<port>/blob/<id>`, a different host (like a signed object-storage URL).
//! That second server serves the bytes (with `Range: bytes=N-` support) and records the headers
//! of every request it receives, so a test can assert that no `Authorization` reached it —
//! docker never sends registry credentials to the storage host of a redirect.
//!
//! [`V1OnlyServer`] answers `/v2/` with 404 and `/v1/_ping` with 200, like a registry that only
//! speaks the retired v1 protocol, which docker (and hoist) must refuse with a clear error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;

use crate::error::Result;
use crate::registry::TestRegistry;
use crate::server::BackgroundServer;

/// The largest body the front forwards (test images are small).
const MAX_BODY: usize = 512 * 1024 * 1024;

/// A request received by the blob (storage) server of a [`RedirectServer`].
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The method.
    pub method: String,
    /// The path with query.
    pub path: String,
    /// Every header, names lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The value of header `name` (case-insensitive), if it was sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A redirecting front for a [`TestRegistry`]; see the module docs. Stops when dropped.
#[derive(Debug)]
pub struct RedirectServer {
    front: BackgroundServer,
    storage: BackgroundServer,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    client: reqwest::Client,
    /// The storage server's `host:port`, known once it is bound.
    storage_host: Mutex<String>,
    /// Redirect id → blob bytes.
    blobs: Mutex<HashMap<String, Bytes>>,
    recorded: Mutex<Vec<RecordedRequest>>,
    redirects: Mutex<usize>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RedirectServer {
    /// Starts the front on `127.0.0.1` and the storage server on `127.0.0.2`, for `registry`
    /// (which must outlive it).
    pub fn start(registry: &TestRegistry) -> Result<RedirectServer> {
        let shared = Arc::new(Shared {
            upstream: registry.url(),
            client: registry.client(),
            storage_host: Mutex::new(String::new()),
            blobs: Mutex::new(HashMap::new()),
            recorded: Mutex::new(Vec::new()),
            redirects: Mutex::new(0),
        });
        let storage = BackgroundServer::start(
            "127.0.0.2",
            Router::new()
                .route("/blob/{id}", get(serve_blob).head(serve_blob))
                .fallback(record_unknown)
                .with_state(shared.clone()),
        )?;
        *lock(&shared.storage_host) = storage.addr().to_string();
        let front = BackgroundServer::start(
            "127.0.0.1",
            Router::new()
                .fallback(any(forward))
                .with_state(shared.clone()),
        )?;
        Ok(RedirectServer {
            front,
            storage,
            shared,
        })
    }

    /// The front's `"127.0.0.1:PORT"`: use it as the registry host.
    pub fn host(&self) -> String {
        self.front.addr().to_string()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// The storage server's `"127.0.0.2:PORT"`, where blob GETs are redirected.
    pub fn storage_host(&self) -> String {
        self.storage.addr().to_string()
    }

    /// Every request the storage server received, oldest first.
    pub fn storage_requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.recorded).clone()
    }

    /// How many storage requests carried an `Authorization` header.
    pub fn storage_requests_with_authorization(&self) -> usize {
        self.storage_requests()
            .iter()
            .filter(|r| r.header("authorization").is_some())
            .count()
    }

    /// How many blob GETs the front redirected.
    pub fn redirects(&self) -> usize {
        *lock(&self.shared.redirects)
    }
}

/// Whether `path` is `/v2/<name>/blobs/<digest>` (not an upload URL).
fn is_blob_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/v2/") else {
        return false;
    };
    match rest.rsplit_once("/blobs/") {
        Some((name, digest)) => !name.is_empty() && digest.contains(':') && !digest.contains('/'),
        None => false,
    }
}

async fn forward(State(shared): State<Arc<Shared>>, req: Request<Body>) -> Response {
    let (parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let mut upstream = shared.client.request(
        parts.method.clone(),
        format!("{}{path_and_query}", shared.upstream),
    );
    // A blob GET is answered by a redirect, and the storage host applies the client's `Range`
    // itself: the front must fetch the whole blob, or the range would be applied twice.
    let redirected = parts.method == Method::GET && is_blob_path(parts.uri.path());
    for (name, value) in parts.headers.iter() {
        let skip = name == header::CONTENT_LENGTH || (redirected && name == header::RANGE);
        if !is_hop_by_hop(name) && !skip {
            upstream = upstream.header(name, value);
        }
    }
    let resp = match upstream.body(body).send().await {
        Ok(r) => r,
        Err(e) => {
            return (StatusCode::BAD_GATEWAY, format!("forwarding: {e}")).into_response();
        }
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("reading: {e}")).into_response(),
    };
    if redirected && status.is_success() {
        return redirect_to_storage(&shared, bytes);
    }
    let mut out = Response::builder().status(status);
    for (name, value) in headers.iter() {
        if !is_hop_by_hop(name) {
            out = out.header(name, value);
        }
    }
    out.body(Body::from(bytes))
        .unwrap_or_else(|e| (StatusCode::BAD_GATEWAY, e.to_string()).into_response())
}

fn redirect_to_storage(shared: &Shared, bytes: Bytes) -> Response {
    let id = {
        use rand::Rng;
        let raw: [u8; 12] = rand::rng().random();
        hex::encode(raw)
    };
    lock(&shared.blobs).insert(id.clone(), bytes);
    *lock(&shared.redirects) += 1;
    let location = format!("http://{}/blob/{id}", lock(&shared.storage_host));
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, location)],
    )
        .into_response()
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION || name == header::TRANSFER_ENCODING || name == "keep-alive"
}

fn record(shared: &Shared, method: &Method, path: &str, headers: &HeaderMap) {
    let headers = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    lock(&shared.recorded).push(RecordedRequest {
        method: method.to_string(),
        path: path.to_string(),
        headers,
    });
}

async fn serve_blob(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    record(&shared, &method, &format!("/blob/{id}"), &headers);
    let Some(bytes) = lock(&shared.blobs).get(&id).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let start = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.strip_suffix('-'))
        .and_then(|v| v.parse::<usize>().ok());
    let (status, body) = match start {
        Some(s) if s < bytes.len() => (StatusCode::PARTIAL_CONTENT, bytes.slice(s..)),
        Some(_) => return StatusCode::RANGE_NOT_SATISFIABLE.into_response(),
        None => (StatusCode::OK, bytes.clone()),
    };
    let mut resp = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, body.len());
    if let Some(s) = start {
        resp = resp.header(
            header::CONTENT_RANGE,
            format!(
                "bytes {s}-{}/{}",
                bytes.len().saturating_sub(1),
                bytes.len()
            ),
        );
    }
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(body)
    };
    resp.body(body)
        .unwrap_or_else(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())
}

async fn record_unknown(State(shared): State<Arc<Shared>>, req: Request<Body>) -> StatusCode {
    record(&shared, req.method(), &req.uri().to_string(), req.headers());
    StatusCode::NOT_FOUND
}

/// A server that speaks only registry v1: `/v2/…` is 404, `/v1/_ping` is 200. Stops when
/// dropped.
#[derive(Debug)]
pub struct V1OnlyServer {
    server: BackgroundServer,
}

impl V1OnlyServer {
    /// Starts it on `127.0.0.1`.
    pub fn start() -> Result<V1OnlyServer> {
        let router = Router::new()
            .route("/v1/_ping", get(v1_ping))
            .fallback(|| async { (StatusCode::NOT_FOUND, "404 page not found\n") });
        Ok(V1OnlyServer {
            server: BackgroundServer::start("127.0.0.1", router)?,
        })
    }

    /// `"127.0.0.1:PORT"`.
    pub fn host(&self) -> String {
        self.server.addr().to_string()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }
}

async fn v1_ping() -> impl IntoResponse {
    (
        StatusCode::OK,
        [
            (
                HeaderName::from_static("x-docker-registry-version"),
                HeaderValue::from_static("0.6.3"),
            ),
            (
                HeaderName::from_static("x-docker-registry-standalone"),
                HeaderValue::from_static("true"),
            ),
        ],
        "true",
    )
}

#[cfg(test)]
mod tests {
    use super::is_blob_path;

    #[test]
    fn blob_paths_are_told_from_uploads_and_manifests() {
        assert!(is_blob_path("/v2/a/b/blobs/sha256:abc"));
        assert!(!is_blob_path("/v2/a/blobs/uploads/"));
        assert!(!is_blob_path("/v2/a/blobs/uploads/123"));
        assert!(!is_blob_path("/v2/a/manifests/sha256:abc"));
        assert!(!is_blob_path("/v2/"));
    }
}

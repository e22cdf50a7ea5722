//! A loopback HTTP blob server that misbehaves on request, and a reqwest [`BlobFetcher`] for
//! it: the honest test double for the download manager (real sockets, real `Range`, real
//! connection cuts), until the registry client's fetcher is tested against `docker-registry`.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;

use crate::digest::Digest;
use crate::transfer::{BlobFetcher, BlobResponse, FetchError};

/// Size of the chunks the server writes.
const CHUNK: usize = 8 * 1024;

/// What the server does to one request for a blob (queued per digest, used once each).
#[derive(Debug, Clone)]
pub enum Fault {
    /// Send this many bytes of the requested range, then drop the connection.
    CutAfter(usize),
    /// Answer with this status and no body.
    Status(u16),
    /// Answer 429 with `Retry-After: SECS`.
    TooMany { retry_after_secs: u64 },
    /// Answer 200 with the whole blob even to a ranged request.
    IgnoreRange,
    /// Flip the bits of the blob's byte at this index (when it is in the range sent).
    CorruptByte(usize),
    /// Send this many bytes without a `Content-Length` and end the body cleanly.
    ShortBody(usize),
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub digest: String,
    /// The start of `Range: bytes=START-`, if the request had one.
    pub range_start: Option<u64>,
}

#[derive(Default)]
struct ServerState {
    blobs: Mutex<HashMap<String, Bytes>>,
    faults: Mutex<HashMap<String, VecDeque<Fault>>>,
    seen: Mutex<Vec<Seen>>,
    delay: Mutex<Duration>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// The running server; stops with the test's runtime.
pub struct BlobServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
}

impl BlobServer {
    pub async fn start() -> BlobServer {
        let state = Arc::new(ServerState::default());
        let app = Router::new()
            .route("/blobs/{digest}", get(serve_blob))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        BlobServer { addr, state }
    }

    /// Serves `bytes`; returns their digest.
    pub fn add(&self, bytes: Vec<u8>) -> Digest {
        let digest = Digest::sha256_of(&bytes);
        self.state
            .blobs
            .lock()
            .unwrap()
            .insert(digest.to_string(), Bytes::from(bytes));
        digest
    }

    /// Queues `faults` for the next requests of `digest`, in order.
    pub fn fault(&self, digest: &Digest, faults: impl IntoIterator<Item = Fault>) {
        self.state
            .faults
            .lock()
            .unwrap()
            .entry(digest.to_string())
            .or_default()
            .extend(faults);
    }

    /// Holds every response this long before answering (to overlap transfers).
    pub fn delay_responses(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// The most requests that were being answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn fetcher(&self) -> Arc<HttpFetcher> {
        Arc::new(HttpFetcher {
            client: client(),
            base: format!("http://{}", self.addr),
        })
    }
}

/// Counts a request as in flight until its response body is dropped.
struct InFlight(Arc<ServerState>);

impl InFlight {
    fn enter(state: &Arc<ServerState>) -> InFlight {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(Arc::clone(state))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn serve_blob(
    State(state): State<Arc<ServerState>>,
    Path(digest): Path<String>,
    headers: HeaderMap,
) -> Response {
    let in_flight = InFlight::enter(&state);
    let range_start = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.strip_suffix('-'))
        .and_then(|v| v.parse::<u64>().ok());
    state.seen.lock().unwrap().push(Seen {
        digest: digest.clone(),
        range_start,
    });
    let delay = *state.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let fault = state
        .faults
        .lock()
        .unwrap()
        .get_mut(&digest)
        .and_then(VecDeque::pop_front);
    let Some(blob) = state.blobs.lock().unwrap().get(&digest).cloned() else {
        return status(StatusCode::NOT_FOUND);
    };
    match fault {
        Some(Fault::Status(code)) => return status(StatusCode::from_u16(code).unwrap()),
        Some(Fault::TooMany { retry_after_secs }) => {
            let mut response = status(StatusCode::TOO_MANY_REQUESTS);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after_secs.into());
            return response;
        }
        _ => {}
    }
    let mut bytes = blob.to_vec();
    if let Some(Fault::CorruptByte(i)) = fault {
        bytes[i] ^= 0xff;
    }
    let total = bytes.len();
    let start = match (&fault, range_start) {
        (Some(Fault::IgnoreRange), _) | (_, None) => 0,
        (_, Some(start)) => usize::try_from(start).unwrap().min(total),
    };
    let partial = start > 0;
    let mut body = bytes.split_off(start);
    let mut cut = false;
    let mut chunked = false;
    match fault {
        Some(Fault::CutAfter(n)) => {
            body.truncate(n);
            cut = true;
        }
        Some(Fault::ShortBody(n)) => {
            body.truncate(n);
            chunked = true;
        }
        _ => {}
    }
    let declared_len = total - start;
    let items: Vec<io::Result<Bytes>> = body
        .chunks(CHUNK)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let last = items.len().saturating_sub(1);
    // The request stops counting as in flight when its last byte is handed over: the client
    // may finish (and start its next request) before this stream is dropped.
    let mut in_flight = Some(in_flight);
    let data = futures_util::stream::iter(items.into_iter().enumerate()).map(move |(i, item)| {
        if i == last {
            in_flight.take();
        }
        item
    });
    let ending = futures_util::stream::iter(cut.then_some(())).then(|()| async {
        // Give the server time to flush what it sent, so the client holds exactly the bytes
        // before the cut, then fail the body: hyper drops the connection.
        tokio::time::sleep(Duration::from_millis(50)).await;
        Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "cut on purpose",
        ))
    });
    let stream = data.chain(ending);
    let mut response = Response::new(Body::from_stream(stream));
    if partial {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let range = format!("bytes {start}-{}/{total}", total - 1);
        response
            .headers_mut()
            .insert(header::CONTENT_RANGE, range.parse().unwrap());
    }
    if !chunked {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, declared_len.into());
    }
    response
}

fn status(code: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = code;
    response
}

/// A plain-HTTP client (rustls with no trusted roots: it never reaches a real HTTPS host).
fn client() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .no_proxy()
        .build()
        .unwrap()
}

/// What the registry client will do, reduced to the statuses these tests use.
pub struct HttpFetcher {
    client: reqwest::Client,
    base: String,
}

impl BlobFetcher for HttpFetcher {
    fn fetch(
        &self,
        digest: &Digest,
        offset: u64,
    ) -> impl std::future::Future<Output = Result<BlobResponse, FetchError>> + Send {
        let mut request = self.client.get(format!("{}/blobs/{digest}", self.base));
        if offset > 0 {
            request = request.header(header::RANGE, format!("bytes={offset}-"));
        }
        async move {
            let response = request.send().await.map_err(FetchError::retryable)?;
            let code = response.status();
            if code == StatusCode::TOO_MANY_REQUESTS {
                let message = "HTTP 429 Too Many Requests";
                let after = response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(Duration::from_secs);
                return Err(match after {
                    Some(after) => FetchError::retry_after(message, after),
                    None => FetchError::retryable(message),
                });
            }
            if code.is_server_error() {
                return Err(FetchError::retryable(format!("HTTP {code}")));
            }
            if code != StatusCode::OK && code != StatusCode::PARTIAL_CONTENT {
                return Err(FetchError::permanent(format!("HTTP {code}")));
            }
            let partial = code == StatusCode::PARTIAL_CONTENT;
            let total_len = if partial {
                response
                    .headers()
                    .get(header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.rsplit_once('/'))
                    .and_then(|(_, total)| total.parse().ok())
            } else {
                response.content_length()
            };
            let body = response
                .bytes_stream()
                .map(|item| item.map_err(FetchError::retryable));
            Ok(BlobResponse {
                partial,
                total_len,
                body: Box::pin(body),
            })
        }
    }
}

//! What a [`FaultProxy`](super::FaultProxy) saw: [`ProxiedRequest`] and its [`Outcome`].
//!
//! A request is recorded when its head has been read, before anything is forwarded, and
//! updated as it proceeds. Status, response headers and byte counts are updated *before* the
//! corresponding bytes are written to the client, so by the time the client has seen them the
//! record shows them (a test may read [`FaultProxy::requests`](super::FaultProxy::requests)
//! right after its client returns). The [`Outcome`] of a fault (reset, truncation) is also set
//! before the cut; [`Outcome::Forwarded`] may lag the client's last byte by a moment.

use std::sync::{Arc, Mutex, MutexGuard};

/// How the proxy finished a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still being handled.
    InProgress,
    /// The registry's response was forwarded whole (possibly delayed, throttled or corrupted).
    Forwarded,
    /// A [`Rule::status`](super::Rule::status) reply was sent instead of asking the registry.
    Answered,
    /// The response was cut with a TCP RST after the recorded body bytes.
    Reset,
    /// The connection was closed cleanly after the recorded body bytes, short of the length.
    Truncated,
    /// The response stalled after the recorded body bytes until the client hung up.
    Stalled,
    /// The connection was cut with a TCP RST after the recorded request body bytes.
    RequestReset,
    /// The exchange broke for a reason no rule asked for (client gone, registry unreachable);
    /// the text says which.
    Aborted(String),
}

/// One request the proxy received; see the module docs.
#[derive(Debug, Clone)]
pub struct ProxiedRequest {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string (without `?`), if any.
    pub query: Option<String>,
    /// Every request header as the client sent it (names lowercase), in order.
    pub headers: Vec<(String, String)>,
    /// Request body bytes read from the client (after a [`Outcome::RequestReset`] the registry
    /// may have received slightly fewer).
    pub request_bytes: u64,
    /// The status sent to the client (`None` when none was sent).
    pub status: Option<u16>,
    /// The response headers sent to the client (names lowercase), after `Location` rewriting.
    pub response_headers: Vec<(String, String)>,
    /// Response body bytes sent to the client.
    pub response_bytes: u64,
    /// The name of the rule that fired ([`Rule::name`](super::Rule::name)), if one did.
    pub rule: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
}

impl ProxiedRequest {
    /// The request header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    /// The response header `name` (case-insensitive), if sent.
    pub fn response_header(&self, name: &str) -> Option<&str> {
        find(&self.response_headers, name)
    }

    /// The request's `Range` header, e.g. `bytes=1048576-`.
    pub fn range(&self) -> Option<&str> {
        self.header("range")
    }

    /// Whether it is `GET /v2/<name>/blobs/<digest>`.
    pub fn is_blob_get(&self) -> bool {
        self.method == "GET" && super::rule::is_blob_path(&self.path)
    }
}

fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Every recorded request; `generation` changes on clear so stale handles stop writing.
#[derive(Debug, Default)]
pub(crate) struct Records {
    generation: u64,
    list: Vec<ProxiedRequest>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Records {
    pub(crate) fn snapshot(&self) -> Vec<ProxiedRequest> {
        self.list.clone()
    }

    pub(crate) fn clear(&mut self) {
        self.generation += 1;
        self.list.clear();
    }
}

/// Where one request's record lives, to update it as the request proceeds.
#[derive(Debug, Clone)]
pub(crate) struct RecordHandle {
    records: Arc<Mutex<Records>>,
    generation: u64,
    index: usize,
}

impl RecordHandle {
    /// Appends `request` to `records`.
    pub(crate) fn start(records: &Arc<Mutex<Records>>, request: ProxiedRequest) -> RecordHandle {
        let mut r = lock(records);
        r.list.push(request);
        RecordHandle {
            records: records.clone(),
            generation: r.generation,
            index: r.list.len() - 1,
        }
    }

    /// Applies `f` to the record unless the records were cleared since.
    pub(crate) fn update(&self, f: impl FnOnce(&mut ProxiedRequest)) {
        let mut r = lock(&self.records);
        if r.generation != self.generation {
            return;
        }
        if let Some(req) = r.list.get_mut(self.index) {
            f(req);
        }
    }

    pub(crate) fn add_request_bytes(&self, n: u64) {
        self.update(|r| r.request_bytes += n);
    }

    pub(crate) fn add_response_bytes(&self, n: u64) {
        self.update(|r| r.response_bytes += n);
    }

    pub(crate) fn outcome(&self, outcome: Outcome) {
        self.update(|r| r.outcome = outcome);
    }
}

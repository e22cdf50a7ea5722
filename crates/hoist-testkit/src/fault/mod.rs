//! A fault-injecting HTTP proxy in front of a registry: [`FaultProxy`] and its [`Rule`]s.
//!
//! The client under test talks to the proxy as if it were the registry (`proxy.host()` instead
//! of `registry.host()`). Every request is forwarded faithfully — method, path, query, headers
//! (`Host`, `Authorization`, `Range`, …) and a streamed body — and the registry's answer comes
//! back the same way (status, headers including `WWW-Authenticate`, `Docker-Content-Digest`,
//! streamed body), except where a [`Rule`] says otherwise. Only hop-by-hop headers are
//! re-framed, and a `Location` pointing at the registry is rewritten to the proxy, so upload
//! sessions stay on the proxy. Token auth works unchanged: the challenge's realm still names
//! the token server, which the proxy does not stand in front of.
//!
//! Faults are what docker's `distribution` must survive on a real network (its
//! `xfer`/`transport` retry paths and containerd's `httpreadseeker` resume): a connection reset
//! mid-body ([`Rule::reset_after`]) or mid-upload ([`Rule::reset_request_after`]), a body cut
//! short of its `Content-Length` ([`Rule::truncate_after`]), a flipped byte
//! ([`Rule::corrupt_byte`]), 5xx and 429 with `Retry-After` ([`Rule::status`]), a server that
//! ignores `Range` ([`Rule::ignore_range`]), a slow link ([`Rule::delay`], [`Rule::throttle`])
//! and refused connections ([`Rule::refuse_connections`]). Rules are matched in order, counted
//! with [`Rule::times`], and can be changed while the proxy runs.
//!
//! Every request is recorded as a [`ProxiedRequest`] (headers as received, status and bytes
//! sent, the rule that fired), so tests assert what the client did: "the second GET carried
//! `Range: bytes=1048576-`", "no blob byte was uploaded twice".
//!
//! ```no_run
//! use hoist_testkit::{FaultProxy, Rule, TestRegistry};
//!
//! # async fn example() -> hoist_testkit::Result<()> {
//! let registry = TestRegistry::anonymous().await?;
//! let proxy = FaultProxy::start(&registry).await?;
//! proxy.rule(Rule::get_blob().reset_after(1 << 20).times(1));
//! proxy.rule(Rule::get_manifest().status(429).retry_after(1).times(1));
//! // ... pull from proxy.host() with hoist ...
//! let ranged = proxy.requests().into_iter().filter(|r| r.range().is_some()).count();
//! # let _ = ranged;
//! # Ok(())
//! # }
//! ```
//!
//! Invariants: the proxy never holds a whole body in memory (bodies move in pieces of at most
//! 64 KiB); a fault ends the connection it happened on, other connections are unaffected;
//! dropping the proxy stops it and closes every connection.

mod forward;
mod http1;
mod record;
mod rule;

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::registry::TestRegistry;

pub use record::{Outcome, ProxiedRequest};
pub use rule::Rule;

use record::{lock, RecordHandle, Records};
use rule::{Fired, Rules};

/// State shared by the proxy handle and its connection tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    /// `http://127.0.0.1:PORT` of the registry.
    upstream: String,
    /// `http://127.0.0.1:PORT` of the proxy.
    own_url: String,
    client: reqwest::Client,
    rules: Mutex<Rules>,
    records: Arc<Mutex<Records>>,
    refused: Mutex<usize>,
}

impl Shared {
    fn fire(&self, method: &str, path: &str, body_len: Option<u64>) -> Option<Fired> {
        lock(&self.rules).fire(method, path, body_len)
    }

    fn record(&self, request: ProxiedRequest) -> RecordHandle {
        RecordHandle::start(&self.records, request)
    }
}

/// A fault-injecting proxy in front of one registry; see the module docs. Stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1` in front of `registry` (which must outlive it). For a
    /// plain-HTTP registry the proxy uses its own client with no overall timeout (bodies may be
    /// large or throttled); for a TLS registry it uses [`TestRegistry::client`]. The proxy itself
    /// always speaks plain HTTP.
    pub async fn start(registry: &TestRegistry) -> Result<FaultProxy> {
        let client = if registry.is_tls() {
            registry.client()
        } else {
            crate::tls::streaming_http_client()?
        };
        Self::start_for_url(&registry.url(), client).await
    }

    /// Starts a proxy in front of the plain-HTTP server at `upstream_url` (`http://host:port`),
    /// with the same client [`FaultProxy::start`] uses for a plain-HTTP registry (no overall
    /// timeout, redirects not followed): a registry the testkit did not start.
    pub async fn start_for_plain_url(upstream_url: &str) -> Result<FaultProxy> {
        Self::start_for_url(upstream_url, crate::tls::streaming_http_client()?).await
    }

    /// Starts a proxy in front of the server at `upstream_url` (`http://host:port`), reaching
    /// it with `client` (which should not follow redirects).
    pub async fn start_for_url(upstream_url: &str, client: reqwest::Client) -> Result<FaultProxy> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| Error::io("binding the fault proxy on 127.0.0.1:0", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("making the fault proxy listener non-blocking", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the fault proxy address", e))?;
        let shared = Arc::new(Shared {
            upstream: upstream_url.trim_end_matches('/').to_string(),
            own_url: format!("http://{addr}"),
            client,
            rules: Mutex::new(Rules::default()),
            records: Arc::new(Mutex::new(Records::default())),
            refused: Mutex::new(0),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("building the fault proxy runtime", e))?;
        let (tx, rx) = oneshot::channel::<()>();
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("testkit-fault-proxy-{addr}"))
            .spawn(move || runtime.block_on(accept_loop(listener, serving, rx)))
            .map_err(|e| Error::io("spawning the fault proxy thread", e))?;
        Ok(FaultProxy {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// `"127.0.0.1:PORT"`: use it as the registry host.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.shared.own_url.clone()
    }

    /// The URL of the server it forwards to.
    pub fn upstream_url(&self) -> String {
        self.shared.upstream.clone()
    }

    /// Appends `rule` to the rule list (it applies to requests read from now on).
    pub fn rule(&self, rule: Rule) {
        lock(&self.shared.rules).push(rule);
    }

    /// Removes every rule: from now on requests pass untouched.
    pub fn clear_rules(&self) {
        lock(&self.shared.rules).clear();
    }

    /// Every request received since start (or the last [`clear_requests`](Self::clear_requests)),
    /// oldest first.
    pub fn requests(&self) -> Vec<ProxiedRequest> {
        lock(&self.shared.records).snapshot()
    }

    /// Forgets the recorded requests (requests in flight stop updating theirs).
    pub fn clear_requests(&self) {
        lock(&self.shared.records).clear();
    }

    /// How many connections a [`Rule::refuse_connections`] rule closed.
    pub fn refused_connections(&self) -> usize {
        *lock(&self.shared.refused)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections until `stop`, refusing those a rule says to, serving the rest.
async fn accept_loop(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                if lock(&shared.rules).fire_refusal().is_some() {
                    *lock(&shared.refused) += 1;
                    drop(stream);
                    continue;
                }
                tokio::spawn(forward::serve_connection(stream, shared.clone()));
            }
            _ = &mut stop => return,
        }
    }
}

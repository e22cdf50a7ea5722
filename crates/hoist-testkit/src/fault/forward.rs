//! One client connection of the fault proxy: read a request, apply the rule that fires, forward
//! to the registry, stream the answer back with the rule's faults, repeat while kept alive.
//!
//! Both bodies stream: the request body is pumped from the client socket into the upstream
//! `reqwest` request through a small channel while the response is awaited, and the response
//! body is written to the client piece by piece as it arrives, so memory stays bounded whatever
//! the blob size. Headers pass through untouched (including `Host`, `Authorization` and
//! `WWW-Authenticate`) except hop-by-hop ones, which each side frames itself, and a `Location`
//! pointing at the registry, which is rewritten to point at the proxy. Since the registry sees
//! the proxy's `Host`, distribution builds upload URLs on the proxy already; the rewrite covers
//! servers that do not.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::http1::{response_head, BodyState, Conn, Framing, RequestHead, MAX_PIECE};
use super::record::{Outcome, ProxiedRequest, RecordHandle};
use super::rule::{Cut, Faults};
use super::Shared;

/// What happens to the connection after a request.
enum Next {
    KeepAlive(Conn),
    Close(Conn),
    Reset(Conn),
    /// Already gone (the client vanished).
    Gone,
}

/// How pumping the request body ended.
#[derive(Debug, PartialEq, Eq)]
enum Pumped {
    Complete,
    /// `reset_request_after` fired.
    Cut,
    ClientFailed(String),
}

/// Serves requests on `stream` until it closes or a fault ends it.
pub(crate) async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let mut conn = Conn::new(stream);
    loop {
        let head = match conn.read_head().await {
            Ok(Some(h)) => h,
            Ok(None) | Err(_) => return,
        };
        match handle(conn, head, &shared).await {
            Next::KeepAlive(c) => conn = c,
            Next::Close(c) => return c.close().await,
            Next::Reset(c) => return c.reset().await,
            Next::Gone => return,
        }
    }
}

fn is_hop_by_hop(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "expect",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

async fn handle(mut conn: Conn, head: RequestHead, shared: &Shared) -> Next {
    let (path, query) = head.path_and_query();
    let body_len = head
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let fired = shared.fire(&head.method, &path, body_len);
    let faults = fired.as_ref().map(|f| f.faults.clone()).unwrap_or_default();
    let record = shared.record(ProxiedRequest {
        method: head.method.clone(),
        path,
        query,
        headers: head
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect(),
        request_bytes: 0,
        status: None,
        response_headers: Vec::new(),
        response_bytes: 0,
        rule: fired.map(|f| f.name),
        outcome: Outcome::InProgress,
    });
    let framing = match head.framing() {
        Ok(f) => f,
        Err(e) => {
            record.outcome(Outcome::Aborted(format!("bad request: {e}")));
            return Next::Close(conn);
        }
    };
    if framing != Framing::None
        && head
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        && conn.write(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err()
    {
        return Next::Gone;
    }
    let keep_alive = head.keep_alive();
    if let Some(reply) = faults.reply.clone() {
        return answer(conn, &head, framing, &faults, reply, keep_alive, &record).await;
    }
    forward(conn, &head, framing, &faults, keep_alive, shared, &record).await
}

/// Sends a made-up reply after reading (and discarding) the request body.
async fn answer(
    mut conn: Conn,
    head: &RequestHead,
    framing: Framing,
    faults: &Faults,
    reply: super::rule::Reply,
    keep_alive: bool,
    record: &RecordHandle,
) -> Next {
    let (tx, rx) = mpsc::channel(1);
    drop(rx);
    let (_answered, answered_rx) = watch::channel(true);
    match pump(
        &mut conn,
        framing,
        tx,
        faults.reset_request_after,
        record,
        answered_rx,
    )
    .await
    {
        Pumped::Complete => {}
        Pumped::Cut => {
            record.outcome(Outcome::RequestReset);
            return Next::Reset(conn);
        }
        Pumped::ClientFailed(e) => {
            record.outcome(Outcome::Aborted(e));
            return Next::Gone;
        }
    }
    let body = reply.body.unwrap_or_default();
    let mut headers = vec![(
        "Docker-Distribution-Api-Version".to_string(),
        "registry/2.0".to_string(),
    )];
    if !body.is_empty() {
        headers.push((
            "Content-Type".to_string(),
            "application/json; charset=utf-8".to_string(),
        ));
    }
    headers.extend(faults.headers.iter().cloned());
    let no_body = head.method.eq_ignore_ascii_case("HEAD");
    let endless = faults.endless && !no_body;
    if endless {
        headers.push(("Transfer-Encoding".to_string(), "chunked".to_string()));
    } else {
        headers.push(("Content-Length".to_string(), body.len().to_string()));
    }
    let source = if no_body {
        Source::Fixed(None)
    } else if endless {
        Source::Endless
    } else {
        Source::Fixed(Some(Bytes::from(body)))
    };
    respond(
        conn,
        reply.status,
        headers,
        source,
        endless,
        faults,
        keep_alive,
        record,
        Outcome::Answered,
    )
    .await
}

/// Forwards the request to the registry and its answer back.
async fn forward(
    mut conn: Conn,
    head: &RequestHead,
    framing: Framing,
    faults: &Faults,
    keep_alive: bool,
    shared: &Shared,
    record: &RecordHandle,
) -> Next {
    let method = match reqwest::Method::from_bytes(head.method.as_bytes()) {
        Ok(m) => m,
        Err(_) => {
            record.outcome(Outcome::Aborted(format!("bad method {:?}", head.method)));
            return Next::Close(conn);
        }
    };
    let mut request = shared
        .client
        .request(method, format!("{}{}", shared.upstream, head.target));
    for (name, value) in &head.headers {
        let ranged = name.eq_ignore_ascii_case("range") || name.eq_ignore_ascii_case("if-range");
        if is_hop_by_hop(name) || (faults.ignore_range && ranged) {
            continue;
        }
        request = request.header(name.as_str(), value.as_str());
    }
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    if framing != Framing::None {
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        request = request.body(reqwest::Body::wrap_stream(stream));
    }
    let (answered_tx, answered_rx) = watch::channel(false);
    let (response, pumped) = {
        let send = request.send();
        tokio::pin!(send);
        let pumping = pump(
            &mut conn,
            framing,
            tx,
            faults.reset_request_after,
            record,
            answered_rx,
        );
        tokio::pin!(pumping);
        let mut response = None;
        let mut pumped = None;
        while response.is_none() || pumped.is_none() {
            tokio::select! {
                r = &mut send, if response.is_none() => {
                    let _ = answered_tx.send(true);
                    response = Some(r.map_err(|e| e.to_string()));
                }
                p = &mut pumping, if pumped.is_none() => {
                    let failed = p != Pumped::Complete;
                    pumped = Some(p);
                    if failed && response.is_none() {
                        // The upstream request was aborted with an error item; let it finish.
                        let r = tokio::time::timeout(Duration::from_secs(5), &mut send).await;
                        response = Some(match r {
                            Ok(r) => r.map_err(|e| e.to_string()),
                            Err(_) => Err("the aborted upstream request did not end".into()),
                        });
                    }
                }
            }
        }
        (response, pumped)
    };
    match pumped {
        Some(Pumped::Cut) => {
            record.outcome(Outcome::RequestReset);
            return Next::Reset(conn);
        }
        Some(Pumped::ClientFailed(e)) => {
            record.outcome(Outcome::Aborted(e));
            return Next::Gone;
        }
        _ => {}
    }
    let response = match response {
        Some(Ok(r)) => r,
        Some(Err(e)) => return bad_gateway(conn, &e, record).await,
        None => return bad_gateway(conn, "no response", record).await,
    };
    let status = response.status().as_u16();
    let no_body =
        head.method.eq_ignore_ascii_case("HEAD") || status < 200 || status == 204 || status == 304;
    let mut headers = Vec::new();
    for (name, value) in response.headers() {
        if is_hop_by_hop(name.as_str()) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        let value = if name == reqwest::header::LOCATION {
            rewrite_location(&value, &shared.upstream, &shared.own_url)
        } else {
            value
        };
        headers.push((name.as_str().to_string(), value));
    }
    headers.extend(faults.headers.iter().cloned());
    let chunked = !no_body
        && response.content_length().is_none()
        && !response
            .headers()
            .contains_key(reqwest::header::CONTENT_LENGTH);
    if chunked {
        headers.push(("Transfer-Encoding".to_string(), "chunked".to_string()));
    }
    let source = if no_body {
        Source::Fixed(None)
    } else {
        Source::Upstream(response)
    };
    respond(
        conn,
        status,
        headers,
        source,
        chunked,
        faults,
        keep_alive,
        record,
        Outcome::Forwarded,
    )
    .await
}

/// Replaces the registry's origin in `location` by the proxy's.
fn rewrite_location(location: &str, upstream: &str, own: &str) -> String {
    match location.strip_prefix(upstream) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') => {
            format!("{own}{rest}")
        }
        _ => location.to_string(),
    }
}

async fn bad_gateway(conn: Conn, why: &str, record: &RecordHandle) -> Next {
    let body = format!("fault proxy: forwarding failed: {why}\n");
    record.update(|r| {
        r.status = Some(502);
        r.response_bytes = body.len() as u64;
        r.outcome = Outcome::Aborted(format!("upstream: {why}"));
    });
    let headers = vec![
        ("Content-Type".to_string(), "text/plain".to_string()),
        ("Content-Length".to_string(), body.len().to_string()),
        ("Connection".to_string(), "close".to_string()),
    ];
    let mut conn = conn;
    let mut out = response_head(502, &headers);
    out.extend_from_slice(body.as_bytes());
    if conn.write(&out).await.is_err() {
        return Next::Gone;
    }
    Next::Close(conn)
}

/// Reads the request body from the client and sends it into `tx` for the upstream request.
///
/// Once the upstream has answered (`answered` turns true) or dropped the body, the rest is read
/// and discarded so the connection stays usable. With `cut_after`, the first `cut_after` bytes
/// are forwarded, the upstream body ends with an error, and [`Pumped::Cut`] is returned.
async fn pump(
    conn: &mut Conn,
    framing: Framing,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    cut_after: Option<u64>,
    record: &RecordHandle,
    mut answered: watch::Receiver<bool>,
) -> Pumped {
    let mut state = BodyState::new(framing);
    let mut read: u64 = 0;
    let mut forwarding = true;
    loop {
        let piece = match conn.read_body(&mut state, MAX_PIECE).await {
            Ok(Some(p)) => p,
            Ok(None) => return Pumped::Complete,
            Err(e) => {
                let _ = tx.send(Err(std::io::Error::other("client failed"))).await;
                return Pumped::ClientFailed(format!("reading the request body: {e}"));
            }
        };
        let (piece, cut) = match cut_after {
            Some(limit) if read + piece.len() as u64 > limit => {
                (piece.slice(..(limit - read) as usize), true)
            }
            _ => (piece, false),
        };
        read += piece.len() as u64;
        record.add_request_bytes(piece.len() as u64);
        if forwarding && !*answered.borrow() {
            tokio::select! {
                sent = tx.send(Ok(piece)) => forwarding = sent.is_ok(),
                _ = answered.wait_for(|a| *a) => forwarding = false,
            }
        }
        if cut {
            let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "fault: reset");
            let _ = tx.send(Err(reset)).await;
            return Pumped::Cut;
        }
    }
}

/// A response body: the registry's, or a fixed one.
enum Source {
    Upstream(reqwest::Response),
    Fixed(Option<Bytes>),
    /// Whitespace forever ([`Rule::endless_body`](super::Rule::endless_body)).
    Endless,
}

impl Source {
    async fn next(&mut self) -> Result<Option<Bytes>, String> {
        match self {
            Source::Upstream(r) => r.chunk().await.map_err(|e| e.to_string()),
            Source::Fixed(b) => Ok(b.take()),
            Source::Endless => Ok(Some(Bytes::from_static(&[b' '; MAX_PIECE]))),
        }
    }
}

/// Sends the status line, `headers` and the body from `source`, applying `faults`' delay,
/// throttle, corruption and cut.
#[allow(clippy::too_many_arguments)]
async fn respond(
    mut conn: Conn,
    status: u16,
    mut headers: Vec<(String, String)>,
    mut source: Source,
    chunked: bool,
    faults: &Faults,
    keep_alive: bool,
    record: &RecordHandle,
    done: Outcome,
) -> Next {
    if !keep_alive {
        headers.push(("Connection".to_string(), "close".to_string()));
    }
    if let Some(d) = faults.delay {
        tokio::time::sleep(d).await;
    }
    record.update(|r| {
        r.status = Some(status);
        r.response_headers = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
    });
    if conn.write(&response_head(status, &headers)).await.is_err() {
        record.outcome(Outcome::Aborted("client gone before the headers".into()));
        return Next::Gone;
    }
    let mut pacer = faults.throttle.map(Pacer::new);
    let mut sent: u64 = 0;
    loop {
        let piece = match source.next().await {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                record.outcome(Outcome::Aborted(format!("upstream body: {e}")));
                return Next::Close(conn);
            }
        };
        let piece = corrupt(piece, sent, faults.corrupt);
        let (piece, cut) = match faults.cut {
            Some(c) if sent + piece.len() as u64 > c.after() => {
                (piece.slice(..(c.after() - sent) as usize), Some(c))
            }
            _ => (piece, None),
        };
        if let Err(e) = write_paced(&mut conn, &piece, chunked, &mut pacer, record).await {
            record.outcome(Outcome::Aborted(format!("writing to the client: {e}")));
            return Next::Gone;
        }
        sent += piece.len() as u64;
        match cut {
            Some(Cut::Reset(_)) => {
                record.outcome(Outcome::Reset);
                return Next::Reset(conn);
            }
            Some(Cut::Truncate(_)) => {
                record.outcome(Outcome::Truncated);
                return Next::Close(conn);
            }
            Some(Cut::Stall(_)) => {
                record.outcome(Outcome::Stalled);
                conn.wait_closed().await;
                return Next::Gone;
            }
            None => {}
        }
    }
    if chunked && conn.write(b"0\r\n\r\n").await.is_err() {
        record.outcome(Outcome::Aborted("writing to the client".into()));
        return Next::Gone;
    }
    record.outcome(done);
    if keep_alive {
        Next::KeepAlive(conn)
    } else {
        Next::Close(conn)
    }
}

/// `piece` (starting at body offset `at`) with the byte at `offset` inverted, if it is inside.
fn corrupt(piece: Bytes, at: u64, offset: Option<u64>) -> Bytes {
    match offset {
        Some(o) if o >= at && o < at + piece.len() as u64 => {
            let mut copy = BytesMut::from(piece.as_ref());
            let i = (o - at) as usize;
            copy[i] = !copy[i];
            copy.freeze()
        }
        _ => piece,
    }
}

/// Writes `piece` (chunk-framed if `chunked`), in throttled slices when a pacer is given. The
/// record counts each slice before it is written.
async fn write_paced(
    conn: &mut Conn,
    piece: &[u8],
    chunked: bool,
    pacer: &mut Option<Pacer>,
    record: &RecordHandle,
) -> std::io::Result<()> {
    if piece.is_empty() {
        return Ok(());
    }
    let slice = pacer.as_ref().map_or(piece.len(), Pacer::slice_len);
    for part in piece.chunks(slice) {
        record.add_response_bytes(part.len() as u64);
        if chunked {
            conn.write(format!("{:x}\r\n", part.len()).as_bytes())
                .await?;
            conn.write(part).await?;
            conn.write(b"\r\n").await?;
        } else {
            conn.write(part).await?;
        }
        if let Some(p) = pacer {
            p.sent(part.len()).await;
        }
    }
    Ok(())
}

/// Spaces writes so the body goes out at about `rate` bytes per second.
struct Pacer {
    rate: u64,
    start: tokio::time::Instant,
    sent: u64,
}

impl Pacer {
    fn new(rate: u64) -> Pacer {
        Pacer {
            rate,
            start: tokio::time::Instant::now(),
            sent: 0,
        }
    }

    /// Slices of about 1/20 s of data.
    fn slice_len(&self) -> usize {
        ((self.rate / 20).max(1) as usize).min(MAX_PIECE)
    }

    async fn sent(&mut self, n: usize) {
        self.sent += n as u64;
        let due = Duration::from_secs_f64(self.sent as f64 / self.rate as f64);
        tokio::time::sleep_until(self.start + due).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_at_the_registry_points_back_at_the_proxy() {
        let up = "http://127.0.0.1:5000";
        let own = "http://127.0.0.1:6000";
        assert_eq!(
            rewrite_location(
                "http://127.0.0.1:5000/v2/a/blobs/uploads/1?_state=x",
                up,
                own
            ),
            "http://127.0.0.1:6000/v2/a/blobs/uploads/1?_state=x"
        );
        assert_eq!(
            rewrite_location("/v2/a/blobs/uploads/1", up, own),
            "/v2/a/blobs/uploads/1"
        );
        assert_eq!(
            rewrite_location("http://127.0.0.1:50001/x", up, own),
            "http://127.0.0.1:50001/x"
        );
    }

    #[test]
    fn corruption_inverts_only_the_byte_at_the_offset() {
        let out = corrupt(Bytes::from_static(b"abcd"), 10, Some(12));
        assert_eq!(out.as_ref(), &[b'a', b'b', !b'c', b'd']);
        assert_eq!(
            corrupt(Bytes::from_static(b"abcd"), 10, Some(14)).as_ref(),
            b"abcd"
        );
    }
}

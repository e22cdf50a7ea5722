//! The client side of the fault proxy speaks HTTP/1.1 by hand on a raw [`TcpStream`].
//!
//! The proxy needs byte-exact control of the wire — "headers and exactly N body bytes, then an
//! RST" — which an HTTP server library hides behind its own buffering, so this file owns the
//! little HTTP/1.1 it needs: request heads (`METHOD target HTTP/1.x` + headers), request bodies
//! framed by `Content-Length` or `Transfer-Encoding: chunked`, response heads, and chunked or
//! length-framed response bodies. Connections are kept alive between requests unless the client
//! asks otherwise ([RFC 9112 §9.3](https://www.rfc-editor.org/rfc/rfc9112#section-9.3)).
//!
//! Ending a connection ([`Conn::close`], [`Conn::reset`], [`Conn::wait_closed`]) consumes it, so nothing can be
//! written after a fault.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// The largest piece of a body handed out at once.
pub(crate) const MAX_PIECE: usize = 64 * 1024;

/// A parsed request line and headers.
#[derive(Debug, Clone)]
pub(crate) struct RequestHead {
    pub(crate) method: String,
    /// The request target as sent (`/v2/…?query`).
    pub(crate) target: String,
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub(crate) minor: u8,
    /// Headers in order, names as sent.
    pub(crate) headers: Vec<(String, String)>,
}

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    None,
    Length(u64),
    Chunked,
}

impl RequestHead {
    /// The header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How the body is framed; an unusable `Content-Length` is an error.
    pub(crate) fn framing(&self) -> io::Result<Framing> {
        if let Some(te) = self.header("transfer-encoding") {
            if te.to_ascii_lowercase().contains("chunked") {
                return Ok(Framing::Chunked);
            }
        }
        match self.header("content-length") {
            Some(v) => match v.trim().parse::<u64>() {
                Ok(0) => Ok(Framing::None),
                Ok(n) => Ok(Framing::Length(n)),
                Err(_) => Err(invalid(format!("bad Content-Length {v:?}"))),
            },
            None => Ok(Framing::None),
        }
    }

    /// Whether the client allows another request on this connection.
    pub(crate) fn keep_alive(&self) -> bool {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        if self.minor == 0 {
            conn.contains("keep-alive")
        } else {
            !conn.contains("close")
        }
    }

    /// `(path, query)` of the target.
    pub(crate) fn path_and_query(&self) -> (String, Option<String>) {
        match self.target.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (self.target.clone(), None),
        }
    }
}

/// Where a request body reader is.
#[derive(Debug)]
pub(crate) enum BodyState {
    Length(u64),
    /// Bytes left in the current chunk; whether a CRLF follows it.
    Chunked {
        left: u64,
        crlf: bool,
    },
    Done,
}

impl BodyState {
    pub(crate) fn new(framing: Framing) -> BodyState {
        match framing {
            Framing::None => BodyState::Done,
            Framing::Length(n) => BodyState::Length(n),
            Framing::Chunked => BodyState::Chunked {
                left: 0,
                crlf: false,
            },
        }
    }
}

/// One client connection: the socket and what has been read ahead of the current message.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl Conn {
    pub(crate) fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Reads more bytes into the buffer; an error at EOF.
    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "client closed the connection",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// The next request head; `None` when the client closed the connection between requests.
    pub(crate) async fn read_head(&mut self) -> io::Result<Option<RequestHead>> {
        loop {
            // A TLS ClientHello (record type 0x16) to this plain-HTTP proxy: a client trying
            // HTTPS first, as registry clients do for loopback hosts. Close at once, as Go's
            // server does, so it falls back to HTTP instead of waiting for a timeout.
            if self.buf.first() == Some(&0x16) {
                return Err(invalid("TLS handshake sent to a plain-HTTP proxy".into()));
            }
            if let Some(end) = find_subslice(&self.buf, b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return parse_head(&head).map(Some);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(invalid("request head too large".into()));
            }
            match self.fill().await {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && self.buf.is_empty() => {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Up to `max` buffered-or-read bytes (at least one).
    async fn take(&mut self, max: usize) -> io::Result<Bytes> {
        if self.buf.is_empty() {
            self.fill().await?;
        }
        let n = max.min(self.buf.len());
        Ok(Bytes::from(self.buf.drain(..n).collect::<Vec<u8>>()))
    }

    async fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(end) = find_subslice(&self.buf, b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).collect();
                return Ok(String::from_utf8_lossy(&line[..end]).into_owned());
            }
            if self.buf.len() > MAX_HEAD {
                return Err(invalid("chunk line too long".into()));
            }
            self.fill().await?;
        }
    }

    /// The next piece (at most `max` bytes) of the request body, `None` at its end.
    pub(crate) async fn read_body(
        &mut self,
        state: &mut BodyState,
        max: usize,
    ) -> io::Result<Option<Bytes>> {
        loop {
            match state {
                BodyState::Done => return Ok(None),
                BodyState::Length(0) => {
                    *state = BodyState::Done;
                }
                BodyState::Length(left) => {
                    let want = (*left).min(max as u64) as usize;
                    let piece = self.take(want).await?;
                    *left -= piece.len() as u64;
                    return Ok(Some(piece));
                }
                BodyState::Chunked { left: 0, crlf } => {
                    if *crlf {
                        self.read_line().await?;
                    }
                    let line = self.read_line().await?;
                    let size = line.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(size, 16)
                        .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
                    if size == 0 {
                        // Trailers, up to the empty line.
                        while !self.read_line().await?.is_empty() {}
                        *state = BodyState::Done;
                    } else {
                        *state = BodyState::Chunked {
                            left: size,
                            crlf: true,
                        };
                    }
                }
                BodyState::Chunked { left, .. } => {
                    let want = (*left).min(max as u64) as usize;
                    let piece = self.take(want).await?;
                    *left -= piece.len() as u64;
                    return Ok(Some(piece));
                }
            }
        }
    }

    /// Writes all of `bytes`.
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Closes cleanly: everything written is delivered, then a FIN.
    pub(crate) async fn close(mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Sends nothing more and waits until the client closes the connection (whatever it
    /// sends meanwhile is discarded): a stalled transfer.
    pub(crate) async fn wait_closed(mut self) {
        let mut sink = [0u8; 4096];
        while matches!(self.stream.read(&mut sink).await, Ok(n) if n > 0) {}
    }

    /// Aborts the connection with an RST, after the client's kernel has acknowledged
    /// everything written (an RST discards unsent data, and the client must see exactly the
    /// bytes the rule allows).
    pub(crate) async fn reset(self) {
        wait_until_acknowledged(&self.stream).await;
        let _ = self.stream.set_zero_linger();
        drop(self.stream);
    }
}

/// Waits (up to 5 s) until the peer has acknowledged every byte written to `stream`.
async fn wait_until_acknowledged(stream: &TcpStream) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        match unacknowledged_bytes(stream) {
            Some(0) => return,
            Some(_) => tokio::time::sleep(Duration::from_millis(1)).await,
            None => {
                // No way to ask the kernel: give loopback a moment.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return;
            }
        }
    }
}

/// Bytes written to `stream` that the peer has not acknowledged (Linux `SIOCOUTQ`).
#[cfg(target_os = "linux")]
fn unacknowledged_bytes(stream: &TcpStream) -> Option<libc::c_int> {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: the descriptor is an open TCP socket owned by `stream` for the whole call, and
    // `SIOCOUTQ` (the same request number as `TIOCOUTQ`) writes one `c_int` through the pointer,
    // which points at a live, aligned `c_int`.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    (rc == 0).then_some(n)
}

#[cfg(not(target_os = "linux"))]
fn unacknowledged_bytes(_stream: &TcpStream) -> Option<i32> {
    None
}

fn find_subslice(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &[u8]) -> io::Result<RequestHead> {
    let text =
        std::str::from_utf8(head).map_err(|_| invalid("request head is not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(format!("bad request line {request_line:?}")));
    };
    let minor = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        _ => return Err(invalid(format!("unsupported version {version:?}"))),
    };
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(RequestHead {
        method: method.to_string(),
        target: target.to_string(),
        minor,
        headers,
    })
}

/// `HTTP/1.1 CODE REASON\r\n` + headers + `\r\n`.
pub(crate) fn response_head(status: u16, headers: &[(String, String)]) -> Vec<u8> {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for (k, v) in headers {
        out.push_str(k);
        out.push_str(": ");
        out.push_str(v);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_head_is_parsed_with_query_and_framing() {
        let head = parse_head(
            b"PATCH /v2/a/blobs/uploads/1?_state=x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .unwrap();
        assert_eq!(head.method, "PATCH");
        assert_eq!(
            head.path_and_query(),
            (
                "/v2/a/blobs/uploads/1".to_string(),
                Some("_state=x".to_string())
            )
        );
        assert_eq!(head.framing().unwrap(), Framing::Chunked);
        assert!(head.keep_alive());
    }

    #[test]
    fn malformed_request_line_is_refused() {
        assert!(parse_head(b"GET\r\n\r\n").is_err());
        assert!(parse_head(b"GET / HTTP/2\r\n\r\n").is_err());
    }

    #[test]
    fn response_head_has_reason_and_headers() {
        let h = response_head(429, &[("Retry-After".into(), "1".into())]);
        assert_eq!(
            String::from_utf8(h).unwrap(),
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\n\r\n"
        );
    }
}

//! What a [`FaultProxy`](super::FaultProxy) does to a request: [`Rule`].
//!
//! A rule is a matcher (method + path) and a set of faults, fired at most
//! [`times`](Rule::times) times (always by default). The proxy keeps an ordered list; for each
//! request the first rule that matches and has firings left fires, its count drops by one,
//! and the request is recorded with the rule's [`label`](Rule::label). A request no rule
//! matches is forwarded untouched. An exhausted rule stays in the list but never matches again,
//! so `Rule::get_blob().reset_after(n).times(2)` means "the first two blob GETs are cut, the
//! rest pass".
//!
//! Paths are matched without the query string. In glob patterns ([`Rule::matching`]) `*`
//! matches any run of characters except `/` and `**` any run including `/`, so
//! `GET /v2/**/blobs/*` matches blob GETs of every repository (`team/app` has a slash) but not
//! upload URLs (`…/blobs/uploads/<id>`). The named constructors ([`Rule::get_blob`],
//! [`Rule::patch_upload`], …) recognise the distribution API's routes exactly.
//!
//! [`Rule::refuse_connections`] is special: it acts when a connection is accepted, before any
//! request is read, so its matcher is not consulted; it still counts down with `times`.

use std::fmt::Write as _;
use std::time::Duration;

/// One scripted behaviour of a [`FaultProxy`](super::FaultProxy); see the module docs.
#[derive(Debug, Clone)]
pub struct Rule {
    method: Option<String>,
    route: Route,
    pub(crate) faults: Faults,
    remaining: Option<u64>,
    label: Option<String>,
    /// Only requests whose body is larger than this (by `Content-Length`; a body without one,
    /// chunked, counts as larger).
    body_larger_than: Option<u64>,
}

/// Which paths a rule matches.
#[derive(Debug, Clone)]
enum Route {
    Any,
    /// `/v2/<name>/blobs/<digest>`.
    Blob,
    /// `/v2/<name>/manifests/<reference>`.
    Manifest,
    /// `/v2/<name>/blobs/uploads/` and `/v2/<name>/blobs/uploads/<id>`.
    Upload,
    Glob(String),
}

/// How the proxy cuts a response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// After N body bytes, abort the connection (RST).
    Reset(u64),
    /// After N body bytes, close the connection cleanly (FIN), short of the Content-Length.
    Truncate(u64),
    /// After N body bytes, send nothing more and keep the connection open until the client
    /// gives up: a stalled transfer.
    Stall(u64),
}

impl Cut {
    pub(crate) fn after(self) -> u64 {
        match self {
            Cut::Reset(n) | Cut::Truncate(n) | Cut::Stall(n) => n,
        }
    }
}

/// A response the proxy makes up instead of asking the registry.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    /// A registry-style error body (`{"errors":[{"code":…,"message":…}]}`).
    pub(crate) body: Option<Vec<u8>>,
}

/// The faults of a rule; combinations apply together (e.g. a throttled body that is then cut).
#[derive(Debug, Clone, Default)]
pub(crate) struct Faults {
    pub(crate) refuse: bool,
    pub(crate) reply: Option<Reply>,
    /// Extra response headers (on a made-up reply or a forwarded response).
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) reset_request_after: Option<u64>,
    pub(crate) ignore_range: bool,
    pub(crate) delay: Option<Duration>,
    pub(crate) throttle: Option<u64>,
    pub(crate) cut: Option<Cut>,
    pub(crate) corrupt: Option<u64>,
    /// The made-up reply's body never ends (see [`Rule::endless_body`]).
    pub(crate) endless: bool,
}

impl Rule {
    fn new(method: Option<&str>, route: Route) -> Rule {
        Rule {
            method: method.map(str::to_ascii_uppercase),
            route,
            faults: Faults::default(),
            remaining: None,
            label: None,
            body_larger_than: None,
        }
    }

    /// Every request, any method and path.
    pub fn any() -> Rule {
        Rule::new(None, Route::Any)
    }

    /// `"METHOD /path/glob"` (method `*` for any; see the module docs for the glob syntax),
    /// e.g. `"GET /v2/**/blobs/*"` or `"* /v2/team/app/manifests/*"`. A pattern without a
    /// space is a path glob for any method.
    pub fn matching(pattern: &str) -> Rule {
        let (method, glob) = match pattern.trim().split_once(' ') {
            Some((m, g)) => (m.trim(), g.trim()),
            None => ("*", pattern.trim()),
        };
        let method = (method != "*").then_some(method);
        Rule::new(method, Route::Glob(glob.to_string()))
    }

    /// Any method on `/v2/<name>/blobs/<digest>` (not upload URLs).
    pub fn blobs() -> Rule {
        Rule::new(None, Route::Blob)
    }

    /// `GET /v2/<name>/blobs/<digest>`.
    pub fn get_blob() -> Rule {
        Rule::new(Some("GET"), Route::Blob)
    }

    /// `HEAD /v2/<name>/blobs/<digest>`.
    pub fn head_blob() -> Rule {
        Rule::new(Some("HEAD"), Route::Blob)
    }

    /// Any method on `/v2/<name>/manifests/<reference>`.
    pub fn manifests() -> Rule {
        Rule::new(None, Route::Manifest)
    }

    /// `GET /v2/<name>/manifests/<reference>`.
    pub fn get_manifest() -> Rule {
        Rule::new(Some("GET"), Route::Manifest)
    }

    /// `HEAD /v2/<name>/manifests/<reference>`.
    pub fn head_manifest() -> Rule {
        Rule::new(Some("HEAD"), Route::Manifest)
    }

    /// `PUT /v2/<name>/manifests/<reference>`.
    pub fn put_manifest() -> Rule {
        Rule::new(Some("PUT"), Route::Manifest)
    }

    /// Any method on `/v2/<name>/blobs/uploads/…` (POST, PATCH, PUT, GET status, DELETE).
    pub fn uploads() -> Rule {
        Rule::new(None, Route::Upload)
    }

    /// `POST /v2/<name>/blobs/uploads/` (starting an upload, or a cross-repository mount).
    pub fn post_upload() -> Rule {
        Rule::new(Some("POST"), Route::Upload)
    }

    /// `PATCH /v2/<name>/blobs/uploads/<id>` (a chunk or a streamed upload).
    pub fn patch_upload() -> Rule {
        Rule::new(Some("PATCH"), Route::Upload)
    }

    /// `PUT /v2/<name>/blobs/uploads/<id>?digest=…` (completing an upload).
    pub fn put_upload() -> Rule {
        Rule::new(Some("PUT"), Route::Upload)
    }

    /// Restricts the rule to `method` (e.g. `Rule::uploads().method("PATCH")`).
    pub fn method(mut self, method: &str) -> Rule {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Fires `n` times, then never again (default: always).
    pub fn times(mut self, n: u64) -> Rule {
        self.remaining = Some(n);
        self
    }

    /// Names the rule in [`ProxiedRequest::rule`](super::ProxiedRequest::rule) (default: a
    /// description such as `GET blob: reset_after(1048576)`).
    pub fn label(mut self, label: &str) -> Rule {
        self.label = Some(label.to_string());
        self
    }

    /// Forwards the response headers and the first `bytes` body bytes, then aborts the
    /// connection with a TCP RST (`SO_LINGER` 0) once the client's kernel has them. A body of
    /// at most `bytes` bytes is forwarded whole.
    pub fn reset_after(mut self, bytes: u64) -> Rule {
        self.faults.cut = Some(Cut::Reset(bytes));
        self
    }

    /// Forwards the response headers (with the full `Content-Length`) and the first `bytes`
    /// body bytes, then closes the connection cleanly (FIN): a truncated body.
    pub fn truncate_after(mut self, bytes: u64) -> Rule {
        self.faults.cut = Some(Cut::Truncate(bytes));
        self
    }

    /// Forwards the response headers and the first `bytes` body bytes, then sends nothing
    /// more while keeping the connection open until the client closes it: a stall only the
    /// client's read timeout ends.
    pub fn stall_after(mut self, bytes: u64) -> Rule {
        self.faults.cut = Some(Cut::Stall(bytes));
        self
    }

    /// Inverts every bit of the response body byte at `offset` (counted in the body the proxy
    /// sends, so a 206's first byte is offset 0). No effect on a shorter body.
    pub fn corrupt_byte(mut self, offset: u64) -> Rule {
        self.faults.corrupt = Some(offset);
        self
    }

    /// Waits `duration` before sending the response headers.
    pub fn delay(mut self, duration: Duration) -> Rule {
        self.faults.delay = Some(duration);
        self
    }

    /// Sends the response body at about `bytes_per_sec` (at least 1).
    pub fn throttle(mut self, bytes_per_sec: u64) -> Rule {
        self.faults.throttle = Some(bytes_per_sec.max(1));
        self
    }

    /// Answers `code` itself without contacting the registry (the request body is read and
    /// discarded), with `Docker-Distribution-Api-Version: registry/2.0`, the rule's
    /// [`header`](Self::header)s and, if [`error`](Self::error) is given, a JSON error body.
    pub fn status(mut self, code: u16) -> Rule {
        let body = self.faults.reply.take().and_then(|r| r.body);
        self.faults.reply = Some(Reply { status: code, body });
        self
    }

    /// The made-up reply's body: `{"errors":[{"code":CODE,"message":MESSAGE,"detail":null}]}`
    /// like distribution's `errcode` (e.g. `"TOOMANYREQUESTS"`, `"UNAVAILABLE"`). Implies
    /// [`status`](Self::status) 500 unless a status is set.
    pub fn error(mut self, code: &str, message: &str) -> Rule {
        let body = serde_json::json!({
            "errors": [{ "code": code, "message": message, "detail": null }]
        })
        .to_string()
        .into_bytes();
        let status = self.faults.reply.as_ref().map_or(500, |r| r.status);
        self.faults.reply = Some(Reply {
            status,
            body: Some(body),
        });
        self
    }

    /// Adds a response header (to the made-up reply, or to the forwarded response).
    pub fn header(mut self, name: &str, value: &str) -> Rule {
        self.faults
            .headers
            .push((name.to_string(), value.to_string()));
        self
    }

    /// Adds `Retry-After: SECS` (with [`status`](Self::status)`(429)` it is a rate limit).
    pub fn retry_after(self, secs: u64) -> Rule {
        self.header("Retry-After", &secs.to_string())
    }

    /// Removes `Range` and `If-Range` from the request, so the registry answers 200 with the
    /// whole body.
    pub fn ignore_range(mut self) -> Rule {
        self.faults.ignore_range = true;
        self
    }

    /// Reads and forwards the first `bytes` bytes of the request body, aborts the upstream
    /// request, then cuts the client's connection with an RST (a reset mid-upload). A body of at
    /// most `bytes` bytes passes whole. As with a real reset, the registry may have received a
    /// little less than `bytes` (what was in flight is lost); distribution 2.8 keeps what it got
    /// and the client's upload URL (its `_state` offset) is then invalid (404
    /// `BLOB_UPLOAD_INVALID`), so a pusher has to start a new upload.
    pub fn reset_request_after(mut self, bytes: u64) -> Rule {
        self.faults.reset_request_after = Some(bytes);
        self
    }

    /// Fires only for requests whose body is larger than `bytes` (by `Content-Length`; a body
    /// sent without one counts as larger), e.g. `Rule::patch_upload().body_larger_than(1 <<
    /// 20).status(413)`: a front that refuses big upload bodies.
    pub fn body_larger_than(mut self, bytes: u64) -> Rule {
        self.body_larger_than = Some(bytes);
        self
    }

    /// Answers itself (status 200 unless [`status`](Self::status) says otherwise) with a
    /// chunked body that never ends: JSON whitespace, 64 KiB a piece, until the client hangs up.
    /// What a hostile registry or token server does to a client that reads bodies without a
    /// limit.
    pub fn endless_body(mut self) -> Rule {
        if self.faults.reply.is_none() {
            self.faults.reply = Some(Reply {
                status: 200,
                body: None,
            });
        }
        self.faults.endless = true;
        self
    }

    /// Accepts connections and closes them at once, before reading a request (the matcher is
    /// not consulted; `times` counts connections).
    pub fn refuse_connections(mut self) -> Rule {
        self.faults.refuse = true;
        self
    }

    /// Whether the rule matches `method` on `path` (no query), regardless of its count.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if let Some(m) = &self.method {
            if !m.eq_ignore_ascii_case(method) {
                return false;
            }
        }
        match &self.route {
            Route::Any => true,
            Route::Blob => is_blob_path(path),
            Route::Manifest => is_manifest_path(path),
            Route::Upload => is_upload_path(path),
            Route::Glob(g) => glob_match(g.as_bytes(), path.as_bytes()),
        }
    }

    /// Its label: the one given, else a description of matcher and faults.
    pub fn name(&self) -> String {
        if let Some(l) = &self.label {
            return l.clone();
        }
        let mut s = format!("{} ", self.method.as_deref().unwrap_or("*"));
        match &self.route {
            Route::Any => s.push_str("any"),
            Route::Blob => s.push_str("blob"),
            Route::Manifest => s.push_str("manifest"),
            Route::Upload => s.push_str("upload"),
            Route::Glob(g) => s.push_str(g),
        }
        s.push(':');
        let f = &self.faults;
        if f.refuse {
            s.push_str(" refuse_connections");
        }
        if let Some(r) = &f.reply {
            let _ = write!(s, " status({})", r.status);
        }
        if f.endless {
            s.push_str(" endless_body");
        }
        if let Some(n) = f.reset_request_after {
            let _ = write!(s, " reset_request_after({n})");
        }
        if f.ignore_range {
            s.push_str(" ignore_range");
        }
        if let Some(d) = f.delay {
            let _ = write!(s, " delay({d:?})");
        }
        if let Some(b) = f.throttle {
            let _ = write!(s, " throttle({b})");
        }
        match f.cut {
            Some(Cut::Reset(n)) => {
                let _ = write!(s, " reset_after({n})");
            }
            Some(Cut::Truncate(n)) => {
                let _ = write!(s, " truncate_after({n})");
            }
            Some(Cut::Stall(n)) => {
                let _ = write!(s, " stall_after({n})");
            }
            None => {}
        }
        if let Some(o) = f.corrupt {
            let _ = write!(s, " corrupt_byte({o})");
        }
        s
    }

    /// Whether it has firings left.
    fn live(&self) -> bool {
        self.remaining != Some(0)
    }

    fn consume(&mut self) {
        if let Some(n) = &mut self.remaining {
            *n = n.saturating_sub(1);
        }
    }
}

/// A rule that fired for one request: its name and faults.
#[derive(Debug, Clone)]
pub(crate) struct Fired {
    pub(crate) name: String,
    pub(crate) faults: Faults,
}

/// The proxy's ordered rule list.
#[derive(Debug, Default)]
pub(crate) struct Rules {
    list: Vec<Rule>,
}

impl Rules {
    pub(crate) fn push(&mut self, rule: Rule) {
        self.list.push(rule);
    }

    pub(crate) fn clear(&mut self) {
        self.list.clear();
    }

    /// Fires the first live request rule matching `method` `path`.
    pub(crate) fn fire(
        &mut self,
        method: &str,
        path: &str,
        body_len: Option<u64>,
    ) -> Option<Fired> {
        let rule = self.list.iter_mut().find(|r| {
            !r.faults.refuse
                && r.live()
                && r.matches(method, path)
                && r.body_larger_than
                    .is_none_or(|limit| body_len.is_none_or(|len| len > limit))
        })?;
        rule.consume();
        Some(Fired {
            name: rule.name(),
            faults: rule.faults.clone(),
        })
    }

    /// Fires the first live [`Rule::refuse_connections`] rule.
    pub(crate) fn fire_refusal(&mut self) -> Option<String> {
        let rule = self.list.iter_mut().find(|r| r.faults.refuse && r.live())?;
        rule.consume();
        Some(rule.name())
    }
}

/// `/v2/<name>/blobs/<digest>` (the digest has a `:` and no `/`).
pub(crate) fn is_blob_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/v2/") else {
        return false;
    };
    match rest.rsplit_once("/blobs/") {
        Some((name, digest)) => !name.is_empty() && digest.contains(':') && !digest.contains('/'),
        None => false,
    }
}

fn is_manifest_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/v2/") else {
        return false;
    };
    match rest.rsplit_once("/manifests/") {
        Some((name, reference)) => {
            !name.is_empty() && !reference.is_empty() && !reference.contains('/')
        }
        None => false,
    }
}

fn is_upload_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/v2/") else {
        return false;
    };
    match rest.rsplit_once("/blobs/uploads") {
        Some((name, tail)) => {
            !name.is_empty()
                && (tail.is_empty()
                    || tail == "/"
                    || (tail.starts_with('/') && !tail[1..].contains('/')))
        }
        None => false,
    }
}

/// Glob match: `**` any bytes, `*` any bytes but `/`, everything else literal.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=text.len()).any(|i| glob_match(rest, &text[i..])),
        [b'*', rest @ ..] => {
            let seg = text.iter().position(|&c| c == b'/').unwrap_or(text.len());
            (0..=seg).any(|i| glob_match(rest, &text[i..]))
        }
        [c, rest @ ..] => text.first() == Some(c) && glob_match(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_star_stays_in_one_segment_double_star_crosses() {
        assert!(glob_match(
            b"/v2/**/blobs/*",
            b"/v2/team/app/blobs/sha256:ab"
        ));
        assert!(!glob_match(
            b"/v2/**/blobs/*",
            b"/v2/team/app/blobs/uploads/123"
        ));
        assert!(!glob_match(
            b"/v2/*/blobs/*",
            b"/v2/team/app/blobs/sha256:ab"
        ));
        assert!(glob_match(b"/v2/*/blobs/*", b"/v2/app/blobs/sha256:ab"));
        assert!(glob_match(b"/v2/", b"/v2/"));
        assert!(!glob_match(b"/v2/", b"/v2/x"));
    }

    #[test]
    fn named_routes_tell_blobs_manifests_and_uploads_apart() {
        assert!(is_blob_path("/v2/a/b/blobs/sha256:abc"));
        assert!(!is_blob_path("/v2/a/blobs/uploads/"));
        assert!(is_upload_path("/v2/a/b/blobs/uploads/"));
        assert!(is_upload_path("/v2/a/b/blobs/uploads/8f2c-11"));
        assert!(!is_upload_path("/v2/a/b/blobs/sha256:abc"));
        assert!(is_manifest_path("/v2/a/b/manifests/v1"));
        assert!(!is_manifest_path("/v2/a/b/blobs/sha256:abc"));
    }

    #[test]
    fn exhausted_rule_falls_through_to_the_next() {
        let mut rules = Rules::default();
        rules.push(Rule::get_blob().status(503).times(1).label("first"));
        rules.push(Rule::get_blob().status(500).label("always"));
        let path = "/v2/a/blobs/sha256:00";
        assert_eq!(
            rules.fire("GET", path, None).map(|f| f.name).as_deref(),
            Some("first")
        );
        assert_eq!(
            rules.fire("GET", path, None).map(|f| f.name).as_deref(),
            Some("always")
        );
        assert!(rules.fire("HEAD", path, None).is_none());
    }

    #[test]
    fn refusal_rules_do_not_fire_for_requests() {
        let mut rules = Rules::default();
        rules.push(Rule::any().refuse_connections().times(1));
        assert!(rules.fire("GET", "/v2/", None).is_none());
        assert!(rules.fire_refusal().is_some());
        assert!(rules.fire_refusal().is_none());
    }

    #[test]
    fn body_size_rule_fires_only_for_larger_bodies() {
        let mut rules = Rules::default();
        rules.push(Rule::patch_upload().body_larger_than(100).status(413));
        let path = "/v2/a/blobs/uploads/123";
        assert!(rules.fire("PATCH", path, Some(100)).is_none());
        assert!(rules.fire("PATCH", path, Some(101)).is_some());
        assert!(rules.fire("PATCH", path, None).is_some());
    }
}

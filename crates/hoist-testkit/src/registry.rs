//! Real `docker-registry` processes for tests: [`TestRegistry`] and its [`RegistryBuilder`].
//!
//! Each registry is CNCF distribution 2.8 (`/usr/bin/docker-registry serve CONFIG.yml`, the
//! registry docker's `distribution` package talks to), started on a free `127.0.0.1` port with
//! its own temporary storage and a generated configuration. Modes combine:
//!
//! - authentication: anonymous (default), `htpasswd` (bcrypt, several users) or `token`
//!   (`auth.token` realm/service/issuer/rootcertbundle of a [`crate::TokenServer`]);
//! - TLS with a certificate from a [`crate::TestCa`], optionally requiring client certificates
//!   (`http.tls.clientcas`);
//! - proxy mode (`proxy.remoteurl`, optional username/password): a pull-through cache of
//!   another registry, which is what docker calls a registry mirror;
//! - schema 1 compatibility (`compatibility.schema1.enabled` with a `signingkeyfile`):
//!   registry 2.8.2 cannot store a schema 1 manifest PUT without it (it answers `500` with
//!   `{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}`). With it, the registry verifies the pushed signatures, stores only the
//!   signed payload and re-signs the manifest with its own key on every GET, so the bytes
//!   served differ from the bytes pushed while the digest (of the payload) stays the same.
//!
//! Invariants:
//! - [`RegistryBuilder::start`] returns only once `GET /v2/` answers (any status), so tests never
//!   race the registry's start-up.
//! - The process is killed (and reaped) when the `TestRegistry` is dropped, which also happens
//!   when a test panics (unwinding drops it). A small `sh` watchdog also kills it within about a
//!   second once the test process is gone, so registries kept in a `static` (never dropped) or
//!   left by a killed test binary do not linger.
//! - Nothing else is bound: no `http.debug` server (so no Prometheus port), no notifications.
//!   `REGISTRY_*` environment variables of the test process are not passed on, so they cannot
//!   override the generated configuration.
//! - Everything the registry prints (its logrus log on stderr and the combined-format access log
//!   on stdout) goes to one file; [`TestRegistry::log`] and [`TestRegistry::access_log`] read it
//!   so tests can count requests. The start-up probe sends `User-Agent: hoist-testkit-probe`
//!   and is left out of [`TestRegistry::access_log`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::error::{Error, Result};
use crate::schema1::TrustKey;
use crate::tls::{IssuedCert, TestCa};

/// Environment variable naming the registry binary (default `/usr/bin/docker-registry`).
pub const REGISTRY_BIN_ENV: &str = "HOIST_TESTKIT_REGISTRY_BIN";
/// User-Agent of the start-up probe, filtered out of [`TestRegistry::access_log`].
pub const PROBE_USER_AGENT: &str = "hoist-testkit-probe";

const DEFAULT_BIN: &str = "/usr/bin/docker-registry";
const START_TIMEOUT: Duration = Duration::from_secs(15);
const START_ATTEMPTS: usize = 3;

/// The `auth.token` settings of a registry that trusts a token server.
#[derive(Debug, Clone)]
pub struct TokenAuthConfig {
    /// Where clients get tokens (`realm` of the challenge), e.g. `http://127.0.0.1:P/token`.
    pub realm: String,
    /// The `service` of the challenge; tokens must carry it as `aud`.
    pub service: String,
    /// The `iss` the registry accepts.
    pub issuer: String,
    /// PEM bundle of the certificates whose keys may sign tokens.
    pub rootcertbundle: PathBuf,
}

#[derive(Debug, Clone)]
enum Auth {
    Anonymous,
    Htpasswd(Vec<(String, String)>),
    Token(TokenAuthConfig),
}

/// Configures and starts a [`TestRegistry`]; see the module docs. Obtain with
/// [`TestRegistry::builder`].
#[derive(Debug)]
pub struct RegistryBuilder<'a> {
    auth: Auth,
    tls: Option<&'a TestCa>,
    require_client_cert: bool,
    proxy: Option<(String, Option<(String, String)>)>,
    trust: Vec<PathBuf>,
    schema1: Option<TrustKey>,
    deletes_disabled: bool,
}

/// A running `docker-registry` process; killed on drop. See the module docs.
#[derive(Debug)]
pub struct TestRegistry {
    child: Child,
    /// Kills the registry if the test process dies without dropping it (see `watchdog`).
    watchdog: Option<Child>,
    dir: TempDir,
    port: u16,
    tls: bool,
    client: reqwest::Client,
    client_identity: Option<IssuedCert>,
    schema1: Option<TrustKey>,
}

impl TestRegistry {
    /// A builder for an anonymous, plain-HTTP registry; add modes before `start`.
    pub fn builder<'a>() -> RegistryBuilder<'a> {
        RegistryBuilder {
            auth: Auth::Anonymous,
            tls: None,
            require_client_cert: false,
            proxy: None,
            trust: Vec::new(),
            schema1: None,
            deletes_disabled: false,
        }
    }

    /// Starts an anonymous, plain-HTTP registry.
    pub async fn anonymous() -> Result<TestRegistry> {
        Self::builder().start().await
    }

    /// Starts a plain-HTTP registry requiring Basic auth for one user.
    pub async fn htpasswd(user: &str, password: &str) -> Result<TestRegistry> {
        Self::builder().htpasswd(user, password).start().await
    }

    /// `"127.0.0.1:PORT"`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The registry's storage root (`storage.filesystem.rootdirectory`).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The generated `config.yml`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yml")
    }

    /// The file the registry's stdout and stderr go to.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// Everything the registry has printed so far (empty if the log cannot be read).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Empties the log (e.g. after seeding, before the requests a test counts).
    pub fn clear_log(&self) -> Result<()> {
        // The registry writes with O_APPEND, so after truncation it appends at the new end.
        File::options()
            .write(true)
            .open(self.log_path())
            .and_then(|f| f.set_len(0))
            .map_err(|e| Error::io("truncating the registry log", e))
    }

    /// The requests in the access log, oldest first, without the start-up probes.
    pub fn access_log(&self) -> Vec<AccessLogEntry> {
        self.log()
            .lines()
            .filter_map(AccessLogEntry::parse)
            .filter(|e| e.user_agent != PROBE_USER_AGENT)
            .collect()
    }

    /// How many logged requests had `method` and a path starting with `path_prefix`.
    pub fn count_requests(&self, method: &str, path_prefix: &str) -> usize {
        self.access_log()
            .iter()
            .filter(|e| e.method == method && e.path.starts_with(path_prefix))
            .count()
    }

    /// An HTTP client that can reach this registry: trusts its CA when TLS is on and presents a
    /// client certificate when one is required. Redirects are not followed, proxies are off.
    pub fn client(&self) -> reqwest::Client {
        self.client.clone()
    }

    /// The client certificate the testkit issued for its own probes when the registry requires
    /// one (`None` otherwise).
    pub fn client_identity(&self) -> Option<&IssuedCert> {
        self.client_identity.as_ref()
    }

    /// The key the registry signs schema 1 manifests with, when it accepts them
    /// ([`RegistryBuilder::accept_schema1`]).
    pub fn schema1_key(&self) -> Option<&TrustKey> {
        self.schema1.as_ref()
    }

    /// The OS process id of the registry.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

/// One line of the registry's combined-format access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogEntry {
    /// The request method.
    pub method: String,
    /// The request path with query.
    pub path: String,
    /// The response status.
    pub status: u16,
    /// The client's User-Agent.
    pub user_agent: String,
}

impl AccessLogEntry {
    /// Parses `IP - USER [DATE] "METHOD PATH HTTP/x" STATUS SIZE "REFERER" "UA"`.
    fn parse(line: &str) -> Option<AccessLogEntry> {
        let mut quoted = line.split('"');
        let _prefix = quoted.next()?;
        let request = quoted.next()?;
        let status_part = quoted.next()?;
        let _referer = quoted.next()?;
        let _between = quoted.next()?;
        let user_agent = quoted.next()?.to_string();
        let mut req = request.split(' ');
        let method = req.next()?.to_string();
        let path = req.next()?.to_string();
        if !req.next()?.starts_with("HTTP/") {
            return None;
        }
        let status = status_part.split_whitespace().next()?.parse().ok()?;
        Some(AccessLogEntry {
            method,
            path,
            status,
            user_agent,
        })
    }
}

impl<'a> RegistryBuilder<'a> {
    /// Requires Basic auth (`auth.htpasswd`); call once per user.
    pub fn htpasswd(mut self, user: &str, password: &str) -> Self {
        let mut users = match self.auth {
            Auth::Htpasswd(users) => users,
            _ => Vec::new(),
        };
        users.push((user.to_string(), password.to_string()));
        self.auth = Auth::Htpasswd(users);
        self
    }

    /// Requires bearer tokens from a token server (`auth.token`). Replaces htpasswd auth.
    /// With a [`crate::TokenServer`], pass `server.auth_config()`.
    pub fn token_auth(mut self, config: TokenAuthConfig) -> Self {
        self.auth = Auth::Token(config);
        self
    }

    /// Serves HTTPS with a server certificate issued by `ca` (SANs 127.0.0.1, localhost).
    pub fn tls(mut self, ca: &'a TestCa) -> Self {
        self.tls = Some(ca);
        self
    }

    /// With [`tls`](Self::tls): require client certificates issued by the same CA
    /// (`http.tls.clientcas`).
    pub fn require_client_cert(mut self) -> Self {
        self.require_client_cert = true;
        self
    }

    /// Proxy mode: a pull-through cache of `remote_url` (e.g. another registry's
    /// [`TestRegistry::url`]), optionally logging in to it.
    ///
    /// Registry 2.8 uses the credentials only with a *token-auth* upstream (it registers them
    /// for the bearer realms the upstream's `/v2/` challenge names); a Basic-auth (htpasswd)
    /// upstream cannot be proxied by it.
    pub fn proxy(mut self, remote_url: &str, credentials: Option<(&str, &str)>) -> Self {
        let creds = credentials.map(|(u, p)| (u.to_string(), p.to_string()));
        self.proxy = Some((remote_url.to_string(), creds));
        self
    }

    /// Makes the registry process trust `ca` for its own outgoing HTTPS (upstream in proxy
    /// mode), through Go's `SSL_CERT_FILE`.
    pub fn trust_ca(mut self, ca: &TestCa) -> Self {
        self.trust.push(ca.cert_path());
        self
    }

    /// Accepts Docker schema 1 manifests (`compatibility.schema1.enabled: true`), signing the
    /// ones it serves with a fresh P-256 key written as its `signingkeyfile`
    /// ([`TestRegistry::schema1_key`]).
    pub fn accept_schema1(mut self) -> Self {
        self.schema1 = Some(TrustKey::generate());
        self
    }

    /// Refuses deletes (`storage.delete.enabled: false`, CNCF distribution's default; the
    /// testkit enables them otherwise).
    pub fn deletes_disabled(mut self) -> Self {
        self.deletes_disabled = true;
        self
    }

    /// Writes the configuration, starts the process and waits until `GET /v2/` answers.
    pub async fn start(self) -> Result<TestRegistry> {
        let bin = registry_binary()?;
        let (client, identity, server_cert) = self.tls_material()?;
        let mut last_err = None;
        for _ in 0..START_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("hoist-registry-")
                .tempdir()
                .map_err(|e| Error::io("creating the registry directory", e))?;
            let port = unused_port()?;
            let config = self.config_yaml(dir.path(), port, server_cert.as_ref())?;
            write(&dir.path().join("config.yml"), &config)?;
            let child = self.spawn(&bin, dir.path())?;
            let watchdog = watchdog(child.id());
            let mut registry = TestRegistry {
                child,
                watchdog,
                dir,
                port,
                tls: self.tls.is_some(),
                client: client.clone(),
                client_identity: identity.clone(),
                schema1: self.schema1.clone(),
            };
            match wait_ready(&mut registry).await {
                Ok(()) => return Ok(registry),
                Err(e) => {
                    // Another process may have taken the port between our probe bind and the
                    // registry's bind: try a new port; anything else is final. Dropping the
                    // failed registry kills it and removes its directory.
                    let retry = registry.log().contains("address already in use");
                    last_err = Some(e);
                    drop(registry);
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(last_err.unwrap_or_else(|| Error::Protocol("registry start: no attempt made".into())))
    }

    fn tls_material(&self) -> Result<(reqwest::Client, Option<IssuedCert>, Option<IssuedCert>)> {
        match self.tls {
            None => Ok((crate::tls::http_client()?, None, None)),
            Some(ca) => {
                let server = ca.server_cert(&[])?;
                let identity = if self.require_client_cert {
                    Some(ca.client_cert("hoist-testkit-probe")?)
                } else {
                    None
                };
                Ok((ca.http_client(identity.as_ref())?, identity, Some(server)))
            }
        }
    }

    fn spawn(&self, bin: &Path, dir: &Path) -> Result<Child> {
        let log_path = dir.join("registry.log");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io(format!("opening {}", log_path.display()), e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| Error::io("duplicating the log file handle", e))?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg(dir.join("config.yml"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("REGISTRY_") {
                cmd.env_remove(key);
            }
        }
        // Proxies of the test environment must not capture loopback traffic (proxy mode).
        for key in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
            cmd.env_remove(key);
        }
        if !self.trust.is_empty() {
            let bundle = dir.join("trusted-cas.pem");
            let mut pem = String::new();
            for path in &self.trust {
                pem.push_str(
                    &std::fs::read_to_string(path)
                        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?,
                );
            }
            write(&bundle, &pem)?;
            cmd.env("SSL_CERT_FILE", &bundle);
        }
        cmd.spawn()
            .map_err(|e| Error::io(format!("spawning {}", bin.display()), e))
    }

    fn config_yaml(&self, dir: &Path, port: u16, server: Option<&IssuedCert>) -> Result<String> {
        let secret: String = {
            use rand::Rng;
            let bytes: [u8; 16] = rand::rng().random();
            hex::encode(bytes)
        };
        let mut y = String::new();
        y.push_str("version: 0.1\nlog:\n  level: info\n  formatter: text\n");
        y.push_str("storage:\n  filesystem:\n");
        y.push_str(&format!("    rootdirectory: {}\n", q(&dir.join("storage"))));
        let deletes = !self.deletes_disabled;
        y.push_str(&format!("  delete:\n    enabled: {deletes}\n"));
        y.push_str("  maintenance:\n    uploadpurging:\n      enabled: false\n");
        y.push_str("http:\n");
        y.push_str(&format!("  addr: \"127.0.0.1:{port}\"\n"));
        y.push_str(&format!("  secret: \"{secret}\"\n"));
        if let (Some(ca), Some(server)) = (self.tls, server) {
            y.push_str("  tls:\n");
            y.push_str(&format!("    certificate: {}\n", q(&server.cert_path)));
            y.push_str(&format!("    key: {}\n", q(&server.key_path)));
            if self.require_client_cert {
                y.push_str(&format!("    clientcas:\n      - {}\n", q(&ca.cert_path())));
            }
        }
        match &self.auth {
            Auth::Anonymous => {}
            Auth::Htpasswd(users) => {
                let path = dir.join("htpasswd");
                write(&path, &htpasswd_file(users)?)?;
                y.push_str("auth:\n  htpasswd:\n    realm: \"hoist-testkit\"\n");
                y.push_str(&format!("    path: {}\n", q(&path)));
            }
            Auth::Token(t) => {
                y.push_str("auth:\n  token:\n");
                y.push_str(&format!("    realm: {}\n", qs(&t.realm)));
                y.push_str(&format!("    service: {}\n", qs(&t.service)));
                y.push_str(&format!("    issuer: {}\n", qs(&t.issuer)));
                y.push_str(&format!("    rootcertbundle: {}\n", q(&t.rootcertbundle)));
            }
        }
        if let Some((url, creds)) = &self.proxy {
            y.push_str(&format!("proxy:\n  remoteurl: {}\n", qs(url)));
            if let Some((user, pass)) = creds {
                y.push_str(&format!(
                    "  username: {}\n  password: {}\n",
                    qs(user),
                    qs(pass)
                ));
            }
        }
        if let Some(key) = &self.schema1 {
            let path = dir.join("schema1-signing-key.pem");
            write(&path, &key.to_sec1_pem())?;
            y.push_str("compatibility:\n  schema1:\n");
            y.push_str(&format!("    signingkeyfile: {}\n", q(&path)));
            y.push_str("    enabled: true\n");
        }
        Ok(y)
    }
}

/// `user:bcrypt` lines. Cost 4 (bcrypt's minimum) keeps both hashing here and the registry's
/// per-request verification fast.
fn htpasswd_file(users: &[(String, String)]) -> Result<String> {
    let mut out = String::new();
    for (user, pass) in users {
        let hash = bcrypt::hash_with_result(pass, 4)?.format_for_version(bcrypt::Version::TwoY);
        out.push_str(&format!("{user}:{hash}\n"));
    }
    Ok(out)
}

/// A `sh` loop that kills the registry `pid` once the test process is gone, so a registry is not
/// left running when the test binary is killed (SIGKILL, timeout) or exits with the registry in
/// a `static` (statics are never dropped). It exits by itself when the registry is gone.
/// Best effort: without `/bin/sh` there is no watchdog.
fn watchdog(pid: u32) -> Option<Child> {
    let me = std::process::id();
    let script = format!(
        "while kill -0 {me} 2>/dev/null && kill -0 {pid} 2>/dev/null; do sleep 1; done; kill -9 {pid} 2>/dev/null"
    );
    Command::new("/bin/sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

/// The registry binary: `$HOIST_TESTKIT_REGISTRY_BIN`, else `/usr/bin/docker-registry`.
fn registry_binary() -> Result<PathBuf> {
    let path = std::env::var_os(REGISTRY_BIN_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BIN));
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::RegistryMissing { path })
    }
}

/// A port on 127.0.0.1 that was free a moment ago (nothing listens there): e.g. a mirror
/// that is down.
pub fn unused_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::io("finding a free port", e))
}

async fn wait_ready(registry: &mut TestRegistry) -> Result<()> {
    let url = format!("{}/v2/", registry.url());
    let deadline = Instant::now() + START_TIMEOUT;
    let fail = |registry: &TestRegistry, reason: String| Error::RegistryStart {
        addr: registry.host(),
        reason,
        log_tail: tail(&registry.log(), 30),
    };
    loop {
        if let Ok(Some(status)) = registry.child.try_wait() {
            return Err(fail(registry, format!("process exited with {status}")));
        }
        let probe = registry
            .client
            .get(&url)
            .header(reqwest::header::USER_AGENT, PROBE_USER_AGENT)
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        match probe {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(fail(registry, format!("GET {url} never answered: {e}")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A YAML double-quoted scalar for a path (JSON strings are valid YAML).
fn q(path: &Path) -> String {
    qs(&path.to_string_lossy())
}

/// A YAML double-quoted scalar.
fn qs(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_log_line_is_parsed() {
        let line = r#"127.0.0.1 - - [27/Nov/2026:02:50:00 +0000] "GET /v2/foo/manifests/latest HTTP/1.1" 200 527 "" "hoist/0.1""#;
        let e = AccessLogEntry::parse(line).unwrap();
        assert_eq!(e.method, "GET");
        assert_eq!(e.path, "/v2/foo/manifests/latest");
        assert_eq!(e.status, 200);
        assert_eq!(e.user_agent, "hoist/0.1");
    }

    #[test]
    fn logrus_line_is_not_an_access_entry() {
        let line = r#"time="2026-11-27T02:50:00Z" level=info msg="response completed" http.request.method=GET"#;
        assert!(AccessLogEntry::parse(line).is_none());
    }
}

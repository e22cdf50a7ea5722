//! Running an axum router in the background for a test, over HTTP or HTTPS:
//! [`BackgroundServer`].
//!
//! Each server gets its own OS thread with a current-thread tokio runtime, so it keeps serving
//! whatever the test does with its own runtime (`#[tokio::test]` current-thread, a blocking
//! `#[test]`, or several tests sharing one server). The listener is bound before `start`
//! returns, so there is no start-up race. Dropping the server stops it: the serving future and
//! every connection task are dropped with the runtime, then the thread is joined.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// An axum router served on a loopback address until dropped.
#[derive(Debug)]
pub(crate) struct BackgroundServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundServer {
    /// Binds `ip:0` and serves `router` there.
    pub(crate) fn start(ip: &str, router: axum::Router) -> Result<Self> {
        Self::start_with(ip, router, None)
    }

    /// Binds `ip:0` and serves `router` there over HTTPS with `tls`.
    pub(crate) fn start_tls(
        ip: &str,
        router: axum::Router,
        tls: Arc<rustls::ServerConfig>,
    ) -> Result<Self> {
        Self::start_with(ip, router, Some(tls))
    }

    fn start_with(
        ip: &str,
        router: axum::Router,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<Self> {
        let listener = std::net::TcpListener::bind((ip, 0))
            .map_err(|e| Error::io(format!("binding {ip}:0"), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("making the listener non-blocking", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the listener address", e))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("building the server runtime", e))?;
        let (tx, rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("testkit-server-{addr}"))
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let serving = async move {
                        match tls {
                            None => drop(axum::serve(listener, router).await),
                            Some(tls) => {
                                let acceptor = tokio_rustls::TlsAcceptor::from(tls);
                                let listener = TlsListener { listener, acceptor };
                                drop(axum::serve(listener, router).await)
                            }
                        }
                    };
                    tokio::select! {
                        _ = serving => {}
                        _ = rx => {}
                    }
                });
            })
            .map_err(|e| Error::io("spawning the server thread", e))?;
        Ok(BackgroundServer {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// TCP connections that completed a TLS handshake; one that fails it is dropped.
struct TlsListener {
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (tcp, addr) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(_) => {
                    // Out of descriptors and the like: wait a little rather than spin.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            if let Ok(stream) = self.acceptor.accept(tcp).await {
                return (stream, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

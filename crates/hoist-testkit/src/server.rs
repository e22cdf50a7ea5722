//! Running an axum router in the background for a test: [`BackgroundServer`].
//!
//! Each server gets its own OS thread with a current-thread tokio runtime, so it keeps serving
//! whatever the test does with its own runtime (`#[tokio::test]` current-thread, a blocking
//! `#[test]`, or several tests sharing one server). The listener is bound before `start`
//! returns, so there is no start-up race. Dropping the server stops it: the serving future and
//! every connection task are dropped with the runtime, then the thread is joined.

use std::net::SocketAddr;
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
                    tokio::select! {
                        _ = axum::serve(listener, router) => {}
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

//! Listening: connections are accepted by easel, not by `axum::serve`, so
//! that a client cannot hold the server with connections that never send a
//! request.
//!
//! Threat: a slow or idle client (slowloris) keeping connections open
//! until the server can take no more. A request's head must arrive within
//! [`ConnectionLimits::header_timeout`] (an idle kept-alive connection is
//! closed after it too), one address holds at most
//! [`ConnectionLimits::per_address`] connections (more are closed at once),
//! and past [`ConnectionLimits::max`] the server accepts no more until one
//! ends (the kernel's backlog waits).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;

use crate::{Peer, Server, router};

/// What one server accepts.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections open at once.
    pub max: usize,
    /// Connections open at once from one address.
    pub per_address: usize,
    /// Time a client has to send a request's head (and an idle connection
    /// stays open).
    pub header_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max: 1024,
            per_address: 128,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// Serve on `listener`, and run the queue, until `stop` resolves (then
/// see [`Server::stop_runs`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    server: Arc<Server>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_limited(listener, server, ConnectionLimits::default(), stop).await
}

/// [`serve`] with `limits`.
pub async fn serve_limited(
    listener: tokio::net::TcpListener,
    server: Arc<Server>,
    limits: ConnectionLimits,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (app, stop) = with_queue(server, stop);
    run(listener, app, limits, stop).await
}

/// The router, with the queue's workers running until `stop` resolves; the
/// returned stop resolves once the runs in flight ended or were marked
/// interrupted.
fn with_queue(
    server: Arc<Server>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> (
    Router,
    impl std::future::Future<Output = ()> + Send + 'static,
) {
    let workers = easel_app::queue::spawn_workers(server.clone());
    let reporter = server.spawn_reporter();
    let sampler = crate::samples::spawn(server.clone());
    let app = router(server.clone());
    let stop = async move {
        stop.await;
        server.stop_runs().await;
        workers.abort();
        sampler.abort();
        if let Some(r) = reporter {
            r.abort();
        }
    };
    (app, stop)
}

/// One address's open connections, counted down when dropped.
struct Counted {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

async fn run<L>(
    mut listener: L,
    app: Router,
    limits: ConnectionLimits,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max));
    let open = Arc::new(Mutex::new(HashMap::<IpAddr, usize>::new()));
    let (closing, closed) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        while tasks.try_join_next().is_some() {}
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            () = &mut stop => break,
        };
        let (io, addr) = tokio::select! {
            x = listener.accept() => x,
            () = &mut stop => break,
        };
        let counted = {
            let mut map = open.lock().unwrap_or_else(|p| p.into_inner());
            let n = map.entry(addr.ip()).or_default();
            if *n >= limits.per_address {
                tracing::info!(peer = %addr, "refused a connection: {} already open from there", *n);
                continue;
            }
            *n += 1;
            Counted {
                open: open.clone(),
                ip: addr.ip(),
            }
        };
        let service =
            TowerToHyperService::new(app.clone().layer(axum::Extension(ConnectInfo(Peer(addr)))));
        let mut closed = closed.clone();
        tasks.spawn(async move {
            let _held = (slot, counted);
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let conn = http.serve_connection(TokioIo::new(io), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(peer = %addr, "connection ended: {e}");
                    }
                }
                _ = async { let _ = closed.wait_for(|c| *c).await; } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    // Stop: no new connections; those open finish their requests.
    let _ = closing.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A TCP listener whose connections are TLS: handshakes run on their own
/// tasks (a slow client holds up no one), and only finished ones are
/// handed to the server.
struct TlsListener {
    addr: SocketAddr,
    ready: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
}

impl TlsListener {
    fn new(
        tcp: tokio::net::TcpListener,
        config: Arc<tokio_rustls::rustls::ServerConfig>,
    ) -> std::io::Result<Self> {
        let addr = tcp.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, sender) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = sender.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::info!("TLS handshake with {peer} failed: {e}"),
                        Err(_) => tracing::info!("TLS handshake with {peer} timed out"),
                    }
                });
                if tx.is_closed() {
                    return;
                }
            }
        });
        Ok(Self { addr, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(x) => x,
            // The accepting task ended: serve nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

/// Serve over TLS on `listener` until `stop` resolves.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    config: Arc<tokio_rustls::rustls::ServerConfig>,
    server: Arc<Server>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = TlsListener::new(listener, config)?;
    let (app, stop) = with_queue(server, stop);
    run(listener, app, ConnectionLimits::default(), stop).await
}

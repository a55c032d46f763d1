//! Accepting connections: Lectern's own accept loop (instead of `axum::serve`) so that a portal on
//! the internet has the limits one needs there. Headers must arrive within a deadline (which also
//! ends idle keep-alive connections), at most `--max-connections` are open at once (more wait in the
//! kernel's backlog, and a slow-header flood is cleared by the deadline), and the open-file limit is
//! raised at start where the system allows.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// File descriptors kept for everything but client connections: the database, clusters, logs.
const RESERVED_FILES: u64 = 128;

/// How many connections may be open and how long headers may take.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections at most.
    pub max_connections: usize,
    /// A request's headers must be complete this long after its first byte was awaited.
    pub header_timeout: Duration,
}

impl ConnectionLimits {
    /// Raises the soft open-file limit to the hard one (where the system allows) and lowers
    /// `max_connections` if even then too few descriptors remain, saying so in the log.
    pub fn fit_to_open_file_limit(mut self) -> Self {
        let available = match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(limit) => limit,
            Err(e) => {
                tracing::warn!("cannot read or raise the open-file limit: {e}");
                return self;
            }
        };
        let usable =
            usize::try_from(available.saturating_sub(RESERVED_FILES)).unwrap_or(usize::MAX);
        if usable < self.max_connections {
            tracing::warn!(
                "the open-file limit is {available}: serving at most {usable} connections at once instead of {}; raise it (e.g. LimitNOFILE= in systemd) to allow more",
                self.max_connections
            );
            self.max_connections = usable.max(1);
        }
        self
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then lets the
/// requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    // `stopping` tells connections to finish their request and close; every connection holds a
    // `closed` receiver, so `closed_tx.closed()` completes when the last one has gone.
    let (stopping_tx, stopping) = watch::channel(());
    let (closed_tx, closed) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors (EMFILE) or a connection reset before accept: wait, go on.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service =
            router
                .clone()
                .map_request(move |mut request: axum::http::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request
                });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        let (mut stopping, closed) = (stopping.clone(), closed.clone());
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let ended = loop {
                tokio::select! {
                    ended = connection.as_mut() => break ended,
                    _ = stopping.changed() => connection.as_mut().graceful_shutdown(),
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop((permit, closed));
        });
    }
    drop(listener);
    drop((stopping, closed));
    let _ = stopping_tx.send(());
    closed_tx.closed().await;
    Ok(())
}

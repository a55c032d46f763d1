//! Accepting connections: Lectern's own accept loop (instead of `axum::serve`) so that a portal on
//! the internet has the limits one needs there. Headers must arrive within a deadline (which also
//! ends idle keep-alive connections), a client that stops reading for as long is cut off (so
//! clients that never read cannot hold connections), at most `--max-connections` are open at once
//! (more wait in the kernel's backlog, and a slow-header flood is cleared by the deadline), one
//! client address holds at most `--max-connections-per-address` of them (trusted proxies aside), a
//! kept-alive connection is closed after its response once it is `--max-connection-age` old (so
//! clients spread again over replicas that came back), and the open-file limit is raised at start
//! where the system allows.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// File descriptors kept for everything but client connections: the database, clusters, logs.
const RESERVED_FILES: u64 = 128;

/// How many connections may be open, from whom, for how long, and how long headers may take.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Open connections at most.
    pub max_connections: usize,
    /// A request's headers must be complete this long after its first byte was awaited; a
    /// response that the client reads none of for as long ends the connection.
    pub header_timeout: Duration,
    /// Open connections one client address may hold (an IPv6 client: its /64), so that one client
    /// cannot take every slot; more from it are closed at once.
    pub per_address: usize,
    /// Peers the per-address cap does not apply to: the trusted proxies, through which every
    /// client comes.
    pub uncapped: Vec<ipnet::IpNet>,
    /// After this long, a connection closes once its current response is sent.
    pub max_age: Duration,
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
    let per_address = PerAddress::default();
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
        let held = if limits.uncapped.iter().any(|net| net.contains(&peer.ip())) {
            None
        } else {
            match per_address.take(peer.ip(), limits.per_address) {
                Some(held) => Some(held),
                None => {
                    tracing::debug!(%peer, "closed: this address holds its maximum of connections");
                    continue;
                }
            }
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
            .serve_connection(
                TokioIo::new(WriteDeadline::new(stream, limits.header_timeout)),
                TowerToHyperService::new(service),
            )
            .with_upgrades();
        let (mut stopping, closed) = (stopping.clone(), closed.clone());
        let max_age = limits.max_age;
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let mut aged = std::pin::pin!(tokio::time::sleep(max_age));
            let mut closing = false;
            let ended = loop {
                tokio::select! {
                    ended = connection.as_mut() => break ended,
                    _ = stopping.changed(), if !closing => {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    () = &mut aged, if !closing => {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop((permit, held, closed));
        });
    }
    drop(listener);
    drop((stopping, closed));
    let _ = stopping_tx.send(());
    closed_tx.closed().await;
    Ok(())
}

/// Open connections per client address (an IPv6 address counts as its /64, which one client
/// usually has whole).
#[derive(Default, Clone)]
struct PerAddress(Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>);

impl PerAddress {
    /// One more connection from `ip`, unless it holds `cap` already.
    fn take(&self, ip: IpAddr, cap: usize) -> Option<AddressSlot> {
        let key = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
            },
            v4 => v4,
        };
        let mut open = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let held = open.entry(key).or_default();
        if *held >= cap {
            return None;
        }
        *held += 1;
        Some(AddressSlot {
            key,
            counts: self.clone(),
        })
    }
}

/// A connection counted against its address; dropping it gives the slot back.
struct AddressSlot {
    key: IpAddr,
    counts: PerAddress,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self
            .counts
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(held) = open.get_mut(&self.key) {
            *held -= 1;
            if *held == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// A connection whose writes fail once the client has read nothing for `stall`: the kernel's send
/// buffer stays full, so a write waits, and the wait is bounded. Writes that make progress, however
/// slowly, never time out.
struct WriteDeadline<S> {
    inner: S,
    stall: Duration,
    waiting: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> WriteDeadline<S> {
    fn new(inner: S, stall: Duration) -> Self {
        Self {
            inner,
            stall,
            waiting: None,
        }
    }

    /// Called when a write could not proceed: starts the clock, or fails once it has run out.
    fn stalled(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let stall = self.stall;
        let waiting = self
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        ready!(waiting.as_mut().poll(cx));
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client read nothing for too long",
        ))
    }

    fn progressed<T>(&mut self, result: Poll<T>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match result {
            Poll::Ready(value) => {
                self.waiting = None;
                Poll::Ready(Ok(value))
            }
            Poll::Pending => self.stalled(cx).map(Err),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(written)) => self.progressed(Poll::Ready(written), cx),
            Poll::Pending => self.progressed(Poll::<usize>::Pending, cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(written)) => self.progressed(Poll::Ready(written), cx),
            Poll::Pending => self.progressed(Poll::<usize>::Pending, cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => self.progressed(Poll::Ready(()), cx),
            Poll::Pending => self.progressed(Poll::<()>::Pending, cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

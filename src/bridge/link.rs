//! The portal's end of a bridge: one live connection per learner, the task that speaks the protocol
//! on it, and the [`LinkService`] through which kube-rs sends a check's requests over it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};

use super::peers::{
    CloseRequest, HeldStatus, NoteRequest, Peers, RelayAnswer, RelayRequest, RemoteLink,
};
use super::protocol::{self, Down, Up};
use super::{LinkError, LinkInfo, Relayed};

/// How long a new connection may take to say hello.
const HELLO_WITHIN: Duration = Duration::from_secs(10);
/// How often the portal pings an idle bridge.
const PING_EVERY: Duration = Duration::from_secs(20);
/// A bridge that sent nothing (not even a pong) for this long is closed.
const SILENT_FOR: Duration = Duration::from_secs(60);
/// How long the learner's side may take to open a watch (its cluster's answer to the request).
const OPEN_WITHIN: Duration = Duration::from_secs(30);

/// The events of a watch relayed over a bridge, as the cluster sent them (JSON lines); dropping
/// it cancels the watch.
pub type EventStream = futures::stream::BoxStream<'static, Result<Bytes, LinkError>>;

/// The answer to a watch asked over a bridge.
pub enum WatchAnswer {
    /// Not opened: the cluster's (or the learner's side's) one answer, an error status.
    Whole(Relayed),
    /// Open: the events follow as the cluster sends them.
    Stream {
        /// HTTP status of the cluster's answer.
        status: u16,
        /// Its content negotiation headers.
        headers: Vec<(String, String)>,
        /// The events.
        events: EventStream,
    },
}

impl std::fmt::Debug for WatchAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WatchAnswer::Whole(relayed) => f.debug_tuple("Whole").field(relayed).finish(),
            WatchAnswer::Stream { status, .. } => f
                .debug_struct("Stream")
                .field("status", status)
                .finish_non_exhaustive(),
        }
    }
}

/// A frame as the HTTP layer received it from the WebSocket.
#[derive(Debug)]
pub enum Incoming {
    /// A text frame.
    Text(String),
    /// A binary frame (not part of the protocol), with its length.
    Binary(usize),
    /// A keepalive answer.
    Pong,
    /// The peer closed, or the socket failed (an oversized frame, say).
    Closed(String),
}

/// A frame for the HTTP layer to send on the WebSocket.
#[derive(Debug)]
pub enum Outgoing {
    /// A text frame.
    Text(String),
    /// A keepalive ping.
    Ping,
    /// Close the connection, saying why.
    Close(String),
}

/// Who a bridge belongs to.
#[derive(Debug, Clone)]
pub struct Learner {
    /// The learner's id.
    pub id: i64,
    /// Their user name.
    pub name: String,
}

enum Command {
    Relay {
        context: Option<String>,
        method: String,
        path: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        reply: oneshot::Sender<Relayed>,
    },
    Watch {
        context: Option<String>,
        path: String,
        headers: Vec<(String, String)>,
        permit: OwnedSemaphorePermit,
        reply: oneshot::Sender<WatchAnswer>,
    },
    Note(String),
}

/// One live bridge.
pub struct Link {
    /// What it reported when it connected.
    pub info: LinkInfo,
    serial: u64,
    token_id: i64,
    commands: mpsc::Sender<Command>,
    in_flight: Semaphore,
    watches: Arc<Semaphore>,
    buffered: Arc<AtomicUsize>,
    cancels: mpsc::UnboundedSender<u64>,
    relayed: AtomicU64,
    closed: AtomicBool,
    cluster_answers: AtomicBool,
    close_reason: Mutex<String>,
    shutdown: watch::Sender<Option<String>>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// Sends one request to the learner's cluster (`context`: a further context it relays, or
    /// `None` for its first) and waits for its answer.
    pub async fn relay(
        &self,
        context: Option<&str>,
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Relayed, LinkError> {
        let context = match self.info.context_frame(context) {
            Ok(context) => context,
            Err(refused) => return Ok(refused),
        };
        let closed = || self.closed_error();
        let _permit = self.in_flight.acquire().await.map_err(|_| closed())?;
        let (reply, answer) = oneshot::channel();
        let command = Command::Relay {
            context,
            method: method.to_owned(),
            path: path.to_owned(),
            headers,
            body,
            reply,
        };
        self.commands.send(command).await.map_err(|_| closed())?;
        let relayed = answer.await.map_err(|_| closed())?;
        self.relayed.fetch_add(1, Ordering::Relaxed);
        Ok(relayed)
    }

    /// Opens a watch on the learner's cluster (protocol version 2): its events stream back until
    /// the cluster ends it or the returned stream is dropped.
    pub async fn watch(
        &self,
        context: Option<&str>,
        path: &str,
        headers: Vec<(String, String)>,
    ) -> Result<WatchAnswer, LinkError> {
        if !self.info.streams_watches() {
            return Ok(WatchAnswer::Whole(no_watches()));
        }
        let context = match self.info.context_frame(context) {
            Ok(context) => context,
            Err(refused) => return Ok(WatchAnswer::Whole(refused)),
        };
        let closed = || self.closed_error();
        let Ok(permit) = self.watches.clone().try_acquire_owned() else {
            return Ok(WatchAnswer::Whole(refusal(
                429,
                &format!(
                    "this bridge already relays {} watches",
                    protocol::MAX_WATCHES
                ),
            )));
        };
        let (reply, answer) = oneshot::channel();
        let command = Command::Watch {
            context,
            path: path.to_owned(),
            headers,
            permit,
            reply,
        };
        self.commands.send(command).await.map_err(|_| closed())?;
        match tokio::time::timeout(OPEN_WITHIN, answer).await {
            Ok(answer) => answer.map_err(|_| closed()),
            Err(_) => Err(LinkError::Closed(format!(
                "your lectern connect did not open a watch within {} s",
                OPEN_WITHIN.as_secs()
            ))),
        }
    }

    /// Why the connection closed, as the error its waiting requests get.
    fn closed_error(&self) -> LinkError {
        LinkError::Closed(
            self.close_reason
                .lock()
                .map(|r| r.clone())
                .unwrap_or_default(),
        )
    }

    /// How many watches are open (or opening) on this bridge.
    pub fn watches(&self) -> usize {
        protocol::MAX_WATCHES - self.watches.available_permits()
    }

    /// How many bytes of events wait for this bridge's watchers to read them.
    pub fn buffered(&self) -> usize {
        self.buffered.load(Ordering::Relaxed)
    }

    /// How many requests this bridge has answered.
    pub fn relayed(&self) -> u64 {
        self.relayed.load(Ordering::Relaxed)
    }

    /// Tells the learner's terminal what the portal did.
    pub async fn note(&self, text: String) {
        let _ = self.commands.send(Command::Note(text)).await;
    }

    /// Whether the learner's cluster answered the last request (or, before any, the client's
    /// own check at connection): "connected, but your cluster does not answer" otherwise.
    pub fn cluster_answers(&self) -> bool {
        self.cluster_answers.load(Ordering::Relaxed)
    }

    /// Whether the connection is still open.
    pub fn is_open(&self) -> bool {
        !self.closed.load(Ordering::Relaxed)
    }

    /// Closes the connection (replaced, revoked), saying why to the learner's side. From now on it
    /// is not found for new requests, so a page drawn right after shows it gone.
    pub fn close(&self, reason: &str) {
        let _ = self.shutdown.send(Some(reason.to_owned()));
        self.closed.store(true, Ordering::Relaxed);
    }
}

/// A learner's bridge as this server can use it: held here, or by another server of the portal.
#[derive(Debug, Clone)]
pub enum BridgeLink {
    /// Held by this server.
    Here(Arc<Link>),
    /// Held by another server, which relays for this one.
    Elsewhere(Arc<RemoteLink>),
}

impl BridgeLink {
    /// What the bridge reported when it connected.
    pub fn info(&self) -> &LinkInfo {
        match self {
            BridgeLink::Here(link) => &link.info,
            BridgeLink::Elsewhere(remote) => remote.info(),
        }
    }

    /// Sends one request to the learner's cluster (`context`: a further context it relays, or
    /// `None` for its first) and waits for its answer.
    pub async fn relay(
        &self,
        context: Option<&str>,
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Relayed, LinkError> {
        match self {
            BridgeLink::Here(link) => link.relay(context, method, path, headers, body).await,
            BridgeLink::Elsewhere(remote) => {
                remote.relay(context, method, path, headers, body).await
            }
        }
    }

    /// Opens a watch on the learner's cluster, here or through the server that holds the bridge;
    /// a version-1 bridge answers that it relays no watches.
    pub async fn watch(
        &self,
        context: Option<&str>,
        path: &str,
        headers: Vec<(String, String)>,
    ) -> Result<WatchAnswer, LinkError> {
        if !self.info().streams_watches() {
            return Ok(WatchAnswer::Whole(no_watches()));
        }
        match self {
            BridgeLink::Here(link) => link.watch(context, path, headers).await,
            BridgeLink::Elsewhere(remote) => remote.watch(context, path, headers).await,
        }
    }

    /// Names this connection among every server's: a key for what is cached per connection.
    pub fn key(&self) -> String {
        match self {
            BridgeLink::Here(link) => link.serial.to_string(),
            BridgeLink::Elsewhere(remote) => remote.key(),
        }
    }

    /// How many requests went through this handle.
    pub fn relayed(&self) -> u64 {
        match self {
            BridgeLink::Here(link) => link.relayed(),
            BridgeLink::Elsewhere(remote) => remote.relayed(),
        }
    }

    /// Tells the learner's terminal what the portal did.
    pub async fn note(&self, text: String) {
        match self {
            BridgeLink::Here(link) => link.note(text).await,
            BridgeLink::Elsewhere(remote) => remote.note(text).await,
        }
    }

    /// Whether the learner's cluster answered the last request.
    pub fn cluster_answers(&self) -> bool {
        match self {
            BridgeLink::Here(link) => link.cluster_answers(),
            BridgeLink::Elsewhere(remote) => remote.cluster_answers(),
        }
    }
}

/// The live bridges, one per learner: a new connection replaces the learner's previous one. With
/// [`Peers`], bridges held by the portal's other servers are found and used through them.
#[derive(Debug, Default)]
pub struct Bridges {
    links: Mutex<HashMap<i64, Arc<Link>>>,
    peers: Option<Peers>,
}

impl Bridges {
    /// The bridges of a server, which reaches its peers' bridges when it has [`Peers`].
    pub fn new(peers: Option<Peers>) -> Self {
        Self {
            links: Mutex::default(),
            peers,
        }
    }

    /// This server's place among the portal's servers, if it has one.
    pub fn peers(&self) -> Option<&Peers> {
        self.peers.as_ref()
    }

    /// The learner's open bridge held by this server, if any.
    pub fn get(&self, learner_id: i64) -> Option<Arc<Link>> {
        let links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        links.get(&learner_id).filter(|l| l.is_open()).cloned()
    }

    /// The learner's open bridge held here, if it was opened with `token_id` (any, if `None`).
    fn get_opened_with(&self, learner_id: i64, token_id: Option<i64>) -> Option<Arc<Link>> {
        self.get(learner_id)
            .filter(|l| token_id.is_none_or(|t| l.token_id == t))
    }

    /// The learner's open bridge: held here, else by another server of the portal that answers.
    pub async fn find(&self, learner_id: i64) -> Option<BridgeLink> {
        if let Some(link) = self.get(learner_id) {
            return Some(BridgeLink::Here(link));
        }
        let remote = self.peers.as_ref()?.find(learner_id).await?;
        Some(BridgeLink::Elsewhere(Arc::new(remote)))
    }

    /// Closes the learner's bridge (only the one opened with `token_id`, if given), here or on
    /// the server that holds it.
    pub async fn close(&self, learner_id: i64, token_id: Option<i64>, reason: &str) {
        if let Some(link) = self.get_opened_with(learner_id, token_id) {
            link.close(reason);
        } else if let Some(peers) = &self.peers {
            let close = CloseRequest {
                reason: reason.to_owned(),
                token_id,
            };
            peers.close(learner_id, &close).await;
        }
    }

    /// For another server: what this one holds of the learner's bridge.
    pub fn held(&self, learner_id: i64) -> Option<HeldStatus> {
        self.get(learner_id).map(|link| HeldStatus {
            info: link.info.clone(),
            cluster_answers: link.cluster_answers(),
            serial: link.serial,
        })
    }

    /// The learner's bridge held here, for a request from another server.
    fn held_here(&self, learner_id: i64) -> Result<Arc<Link>, LinkError> {
        self.get(learner_id).ok_or_else(|| {
            LinkError::Closed("the bridge is no longer connected to this server".to_owned())
        })
    }

    /// For another server: relays one request over the learner's bridge held here.
    pub async fn relay_for_peer(
        &self,
        learner_id: i64,
        request: RelayRequest,
    ) -> Result<RelayAnswer, LinkError> {
        let link = self.held_here(learner_id)?;
        let body = protocol::decode_body(&request.body).map_err(LinkError::Closed)?;
        let relayed = link
            .relay(
                request.context.as_deref(),
                &request.method,
                &request.path,
                request.headers,
                body,
            )
            .await?;
        Ok(RelayAnswer::from(relayed))
    }

    /// For another server: opens a watch over the learner's bridge held here.
    pub async fn watch_for_peer(
        &self,
        learner_id: i64,
        request: RelayRequest,
    ) -> Result<WatchAnswer, LinkError> {
        let link = self.held_here(learner_id)?;
        link.watch(request.context.as_deref(), &request.path, request.headers)
            .await
    }

    /// For another server: a line for the learner's terminal.
    pub async fn note_for_peer(&self, learner_id: i64, note: NoteRequest) {
        if let Some(link) = self.get(learner_id) {
            link.note(note.text).await;
        }
    }

    /// For another server: closes the learner's bridge held here.
    pub fn close_for_peer(&self, learner_id: i64, close: &CloseRequest) {
        if let Some(link) = self.get_opened_with(learner_id, close.token_id) {
            link.close(&close.reason);
        }
    }

    fn install(&self, learner_id: i64, link: Arc<Link>) {
        let old = self
            .links
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(learner_id, link);
        if let Some(old) = old {
            old.close("replaced by a newer connection for the same learner");
        }
    }

    fn remove(&self, learner_id: i64, link: &Arc<Link>) {
        let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        if links.get(&learner_id).is_some_and(|l| Arc::ptr_eq(l, link)) {
            links.remove(&learner_id);
        }
    }
}

/// Speaks the protocol on one accepted connection until it ends; returns why it ended. The HTTP
/// layer pumps WebSocket frames into `incoming` and out of `outgoing`.
pub async fn serve(
    bridges: &Bridges,
    learner: Learner,
    token_id: i64,
    from: String,
    mut incoming: mpsc::Receiver<Incoming>,
    outgoing: mpsc::Sender<Outgoing>,
) -> String {
    let hello = match tokio::time::timeout(HELLO_WITHIN, incoming.recv()).await {
        Ok(Some(Incoming::Text(text))) => serde_json::from_str::<Up>(&text),
        Ok(_) | Err(_) => {
            return finish(&outgoing, "no hello frame within 10 s".to_owned()).await;
        }
    };
    let info = match hello {
        Ok(Up::Hello {
            version,
            context,
            contexts,
            server_version,
            client,
        }) if (protocol::OLDEST_VERSION..=protocol::VERSION).contains(&version) => LinkInfo {
            connected_since: crate::clock::rfc3339(crate::clock::unix_seconds()),
            from,
            context: clip(&context),
            contexts: contexts
                .iter()
                .take(protocol::MAX_CONTEXTS)
                .map(|c| clip(c))
                .collect(),
            server_version: clip(&server_version),
            client: clip(&client),
            protocol: version,
        },
        Ok(Up::Hello { version, .. }) => {
            return finish(
                &outgoing,
                format!(
                    "protocol version {version} is not supported; this portal speaks versions {} to {}: install a matching lectern",
                    protocol::OLDEST_VERSION,
                    protocol::VERSION
                ),
            )
            .await;
        }
        Ok(_) => return finish(&outgoing, "the first frame must be hello".to_owned()).await,
        Err(e) => return finish(&outgoing, format!("malformed frame: {e}")).await,
    };
    let welcome = Down::Welcome {
        version: info.protocol,
        learner: learner.name.clone(),
    };
    if outgoing
        .send(Outgoing::Text(to_json(&welcome)))
        .await
        .is_err()
    {
        return "the connection closed".to_owned();
    }
    let answered_at_hello = !info.server_version.is_empty();
    let (commands, mut queue) = mpsc::channel(protocol::MAX_IN_FLIGHT);
    let (shutdown, mut shutdown_rx) = watch::channel(None);
    let (cancels, mut cancelled) = mpsc::unbounded_channel();
    static SERIALS: AtomicU64 = AtomicU64::new(1);
    let link = Arc::new(Link {
        info,
        serial: SERIALS.fetch_add(1, Ordering::Relaxed),
        token_id,
        commands,
        in_flight: Semaphore::new(protocol::MAX_IN_FLIGHT),
        watches: Arc::new(Semaphore::new(protocol::MAX_WATCHES)),
        buffered: Arc::new(AtomicUsize::new(0)),
        cancels,
        relayed: AtomicU64::new(0),
        closed: AtomicBool::new(false),
        cluster_answers: AtomicBool::new(answered_at_hello),
        close_reason: Mutex::new(String::new()),
        shutdown,
    });
    bridges.install(learner.id, link.clone());
    if let Some(peers) = &bridges.peers {
        peers.hold(learner.id, link.serial).await;
    }
    tracing::info!(learner = %learner.name, from = %link.info.from, context = %link.info.context, "bridge connected");

    let mut pending = Pending::default();
    let mut last_heard = Instant::now();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let reason = loop {
        tokio::select! {
            frame = incoming.recv() => {
                last_heard = Instant::now();
                match frame {
                    None => break "the connection closed".to_owned(),
                    Some(Incoming::Closed(why)) => break why,
                    Some(Incoming::Pong) => {}
                    Some(Incoming::Binary(_)) => break "binary frames are not part of the protocol".to_owned(),
                    Some(Incoming::Text(text)) => match pending.route(&text, &link) {
                        Ok(routed) => {
                            if let Some(answered) = routed.cluster_answered {
                                link.cluster_answers.store(answered, Ordering::Relaxed);
                            }
                            if let Some(id) = routed.cancel
                                && outgoing.send(Outgoing::Text(to_json(&Down::Cancel { id }))).await.is_err()
                            {
                                break "the connection closed".to_owned();
                            }
                        }
                        Err(why) => break why,
                    },
                }
            }
            Some(command) = queue.recv() => match command {
                Command::Relay { context, method, path, headers, body, reply } => {
                    let id = pending.open(Waiting::Answer(reply));
                    let frame = Down::Request { id, method, path, headers, body: protocol::encode_body(&body), context };
                    if outgoing.send(Outgoing::Text(to_json(&frame))).await.is_err() {
                        break "the connection closed".to_owned();
                    }
                }
                Command::Watch { context, path, headers, permit, reply } => {
                    let id = pending.open(Waiting::Opening { reply, permit });
                    let frame = Down::Watch { id, path, headers, context };
                    if outgoing.send(Outgoing::Text(to_json(&frame))).await.is_err() {
                        break "the connection closed".to_owned();
                    }
                }
                Command::Note(text) => {
                    let _ = outgoing.send(Outgoing::Text(to_json(&Down::Note { text }))).await;
                }
            },
            Some(id) = cancelled.recv() => {
                if pending.waiting.remove(&id).is_some()
                    && outgoing.send(Outgoing::Text(to_json(&Down::Cancel { id }))).await.is_err()
                {
                    break "the connection closed".to_owned();
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENT_FOR {
                    break format!("no answer to keepalive pings for {} s", SILENT_FOR.as_secs());
                }
                if outgoing.send(Outgoing::Ping).await.is_err() {
                    break "the connection closed".to_owned();
                }
            }
            Ok(()) = shutdown_rx.changed() => {
                let why = shutdown_rx.borrow().clone().unwrap_or_default();
                break why;
            }
        }
    };
    if let Ok(mut r) = link.close_reason.lock() {
        r.clone_from(&reason);
    }
    link.closed.store(true, Ordering::Relaxed);
    link.in_flight.close();
    drop(pending);
    bridges.remove(learner.id, &link);
    if let Some(peers) = &bridges.peers {
        peers.release(learner.id, link.serial).await;
    }
    tracing::info!(learner = %learner.name, reason = %reason, "bridge closed");
    finish(&outgoing, reason).await
}

/// What waits for a frame from the learner's side, by id.
enum Waiting {
    /// A request's answer.
    Answer(oneshot::Sender<Relayed>),
    /// A watch not yet opened; its permit counts it against [`protocol::MAX_WATCHES`].
    Opening {
        reply: oneshot::Sender<WatchAnswer>,
        permit: OwnedSemaphorePermit,
    },
    /// An open watch's events, for its [`WatchEvents`].
    Streaming(mpsc::UnboundedSender<Result<Bytes, LinkError>>),
}

impl Waiting {
    /// Whether nobody waits any more (the check or the watcher gave up).
    fn is_abandoned(&self) -> bool {
        match self {
            Waiting::Answer(reply) => reply.is_closed(),
            Waiting::Opening { reply, .. } => reply.is_closed(),
            Waiting::Streaming(events) => events.is_closed(),
        }
    }
}

/// The requests and watches in flight on one connection.
#[derive(Default)]
struct Pending {
    waiting: HashMap<u64, Waiting>,
    /// The id of the last request or watch sent.
    last_id: u64,
}

/// What one frame from the learner's side did.
struct Routed {
    /// Whether the learner's cluster answered (a refusal for an unreachable or silent cluster
    /// says it did not); `None` for frames that say nothing of it.
    cluster_answered: Option<bool>,
    /// A watch to cancel on the learner's side (the portal fell behind, or nobody reads it).
    cancel: Option<u64>,
}

impl Pending {
    /// Records what waits for the next id, and returns that id.
    fn open(&mut self, waiting: Waiting) -> u64 {
        self.waiting.retain(|_, w| !w.is_abandoned());
        self.last_id += 1;
        self.waiting.insert(self.last_id, waiting);
        self.last_id
    }

    /// Routes one frame from the learner's side to the request or watch it belongs to.
    fn route(&mut self, text: &str, link: &Link) -> Result<Routed, String> {
        if text.len() > protocol::MAX_FRAME_BYTES {
            return Err("frame too large".to_owned());
        }
        let frame: Up = serde_json::from_str(text).map_err(|e| format!("malformed frame: {e}"))?;
        let id = match &frame {
            Up::Hello { .. } => return Err("hello sent twice".to_owned()),
            Up::Response { id, .. }
            | Up::Refused { id, .. }
            | Up::Stream { id, .. }
            | Up::Events { id, .. }
            | Up::End { id, .. } => *id,
        };
        if id > self.last_id {
            return Err(format!("answer to request {id}, which was never sent"));
        }
        let mut routed = Routed {
            cluster_answered: None,
            cancel: None,
        };
        // Nothing waits: the check gave up (its timeout) or the watch was cancelled; dropped.
        let Some(waiting) = self.waiting.remove(&id) else {
            return Ok(routed);
        };
        match (frame, waiting) {
            (
                Up::Response {
                    status,
                    headers,
                    body,
                    ..
                },
                waiting,
            ) => {
                let relayed = Relayed {
                    status,
                    headers,
                    body: protocol::decode_body(&body)?,
                };
                routed.cluster_answered = Some(true);
                answer(waiting, relayed, id)?;
            }
            (Up::Refused { status, reason, .. }, waiting) => {
                routed.cluster_answered = Some(!matches!(status, 502 | 504));
                answer(waiting, refusal(status, &reason), id)?;
            }
            (
                Up::Stream {
                    status, headers, ..
                },
                Waiting::Opening { reply, permit },
            ) => {
                routed.cluster_answered = Some(true);
                let (sender, receiver) = mpsc::unbounded_channel();
                let events = WatchEvents {
                    id,
                    receiver,
                    buffered: link.buffered.clone(),
                    cancels: link.cancels.clone(),
                    _permit: permit,
                };
                let stream = WatchAnswer::Stream {
                    status,
                    headers,
                    events: events.boxed(),
                };
                // If the watcher stopped waiting, the dropped stream cancels the watch.
                if reply.send(stream).is_ok() {
                    self.waiting.insert(id, Waiting::Streaming(sender));
                }
            }
            (Up::Events { body, .. }, Waiting::Streaming(sender)) => {
                let bytes = Bytes::from(protocol::decode_body(&body)?);
                let held = link.buffered.load(Ordering::Relaxed);
                if held + bytes.len() > protocol::MAX_BUFFERED_BYTES {
                    let _ = sender.send(Err(LinkError::Closed(format!(
                        "Lectern fell {} MiB behind this watch's events; it lists again",
                        protocol::MAX_BUFFERED_BYTES >> 20
                    ))));
                    routed.cancel = Some(id);
                } else {
                    link.buffered.fetch_add(bytes.len(), Ordering::Relaxed);
                    let length = bytes.len();
                    if sender.send(Ok(bytes)).is_ok() {
                        self.waiting.insert(id, Waiting::Streaming(sender));
                    } else {
                        link.buffered.fetch_sub(length, Ordering::Relaxed);
                        routed.cancel = Some(id);
                    }
                }
            }
            (Up::End { reason, .. }, Waiting::Streaming(sender)) => {
                if !reason.is_empty() {
                    let _ = sender.send(Err(LinkError::Closed(clip(&reason))));
                }
            }
            (frame, _) => {
                return Err(format!(
                    "a {} frame for request {id}, which is not a watch it fits",
                    frame_name(&frame)
                ));
            }
        }
        Ok(routed)
    }
}

/// Gives a complete answer to what waits for it: a request, or a watch that did not open.
fn answer(waiting: Waiting, relayed: Relayed, id: u64) -> Result<(), String> {
    match waiting {
        Waiting::Answer(reply) => {
            let _ = reply.send(relayed);
        }
        Waiting::Opening { reply, .. } => {
            let _ = reply.send(WatchAnswer::Whole(relayed));
        }
        Waiting::Streaming(_) => {
            return Err(format!(
                "a response to watch {id}, which is already streaming"
            ));
        }
    }
    Ok(())
}

fn frame_name(frame: &Up) -> &'static str {
    match frame {
        Up::Hello { .. } => "hello",
        Up::Response { .. } => "response",
        Up::Refused { .. } => "refused",
        Up::Stream { .. } => "stream",
        Up::Events { .. } => "events",
        Up::End { .. } => "end",
    }
}

/// The events of one watch open on a bridge held here: counts what it holds against the bridge's
/// [`protocol::MAX_BUFFERED_BYTES`], and cancels the watch on the learner's side when dropped.
struct WatchEvents {
    id: u64,
    receiver: mpsc::UnboundedReceiver<Result<Bytes, LinkError>>,
    buffered: Arc<AtomicUsize>,
    cancels: mpsc::UnboundedSender<u64>,
    _permit: OwnedSemaphorePermit,
}

impl Stream for WatchEvents {
    type Item = Result<Bytes, LinkError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let polled = self.receiver.poll_recv(context);
        if let std::task::Poll::Ready(Some(Ok(bytes))) = &polled {
            self.buffered.fetch_sub(bytes.len(), Ordering::Relaxed);
        }
        polled
    }
}

impl Drop for WatchEvents {
    fn drop(&mut self) {
        self.receiver.close();
        while let Ok(item) = self.receiver.try_recv() {
            if let Ok(bytes) = item {
                self.buffered.fetch_sub(bytes.len(), Ordering::Relaxed);
            }
        }
        let _ = self.cancels.send(self.id);
    }
}

/// The answer to a watch asked of a version-1 bridge, for the watcher to poll instead.
fn no_watches() -> Relayed {
    status_answer(
        403,
        NO_WATCHES_REASON,
        "your lectern connect is version 1 and relays no watches: install a newer lectern and run lectern connect again to see changes as they happen",
    )
}

impl LinkInfo {
    /// The `context` a frame names for a request to `context`: none for the bridge's first
    /// (so older clients get the frames they know), the name for a further one it relays; a
    /// context it does not relay is answered 404 here and never sent.
    fn context_frame(&self, context: Option<&str>) -> Result<Option<String>, Relayed> {
        match context {
            None => Ok(None),
            Some(context) if context == self.context => Ok(None),
            Some(context) if self.relays(context) => Ok(Some(context.to_owned())),
            Some(context) => Err(status_answer(
                404,
                "NotFound",
                &format!(
                    "your lectern connect does not relay the context `{context}` (it relays {})",
                    self.all_contexts().join(", ")
                ),
            )),
        }
    }
}

/// The `reason` of the `Status` a version-1 bridge's watch is answered with, by which the
/// watches tell it from a cluster that refuses to watch.
pub const NO_WATCHES_REASON: &str = "BridgeRelaysNoWatches";

/// A refusal as the Kubernetes `Status` a client expects, so kube-rs reports its reason.
fn refusal(status: u16, reason: &str) -> Relayed {
    let status = if (400..600).contains(&status) {
        status
    } else {
        502
    };
    let why = if status == 403 {
        "Forbidden"
    } else {
        "ServiceUnavailable"
    };
    status_answer(
        status,
        why,
        &format!("the learner's lectern connect refused this request: {reason}"),
    )
}

/// An answer the portal gives in the cluster's place: a failure `Status`, as an API server
/// writes one.
fn status_answer(code: u16, reason: &str, message: &str) -> Relayed {
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    Relayed {
        status: code,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: body.to_string().into_bytes(),
    }
}

async fn finish(outgoing: &mpsc::Sender<Outgoing>, reason: String) -> String {
    let _ = outgoing.send(Outgoing::Close(reason.clone())).await;
    reason
}

fn to_json<T: serde::Serialize>(frame: &T) -> String {
    serde_json::to_string(frame).unwrap_or_default()
}

/// Reported strings are shown on pages: keep them short.
fn clip(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(120).collect()
}

/// A tower service that sends kube-rs requests over a bridge: the transport of a
/// [`kube::Client`] for a learner's own cluster.
#[derive(Clone)]
pub struct LinkService {
    link: BridgeLink,
    context: Option<String>,
}

impl LinkService {
    /// Requests go over this link, to `context` (a further context it relays; `None`: its first).
    pub fn new(link: BridgeLink, context: Option<String>) -> Self {
        Self { link, context }
    }
}

impl tower::Service<http::Request<kube::client::Body>> for LinkService {
    type Response = http::Response<UnsyncBoxBody<Bytes, LinkError>>;
    type Error = LinkError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<kube::client::Body>) -> Self::Future {
        let link = self.link.clone();
        let context = self.context.clone();
        Box::pin(async move {
            let context = context.as_deref();
            let (parts, body) = request.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes().to_vec())
                .unwrap_or_default();
            let path = parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            let headers = protocol::relayed_headers(&parts.headers);
            let is_watch = parts.method == http::Method::GET
                && parts.uri.query().is_some_and(|query| {
                    url::form_urlencoded::parse(query.as_bytes())
                        .any(|(key, value)| key == "watch" && (value == "true" || value == "1"))
                });
            let (status, headers, body) = if is_watch {
                match link.watch(context, &path, headers).await? {
                    WatchAnswer::Whole(relayed) => {
                        (relayed.status, relayed.headers, whole(relayed.body))
                    }
                    WatchAnswer::Stream {
                        status,
                        headers,
                        events,
                    } => (
                        status,
                        headers,
                        http_body_util::StreamBody::new(events.map_ok(hyper::body::Frame::data))
                            .boxed_unsync(),
                    ),
                }
            } else {
                let relayed = link
                    .relay(context, parts.method.as_str(), &path, headers, body)
                    .await?;
                (relayed.status, relayed.headers, whole(relayed.body))
            };
            let mut response = http::Response::builder().status(status);
            for (name, value) in &headers {
                if protocol::relayed_header(name) {
                    response = response.header(name.as_str(), value.as_str());
                }
            }
            response
                .body(body)
                .map_err(|e| LinkError::Closed(format!("unreadable answer: {e}")))
        })
    }
}

/// A complete body, as the service's streaming body type.
fn whole(body: Vec<u8>) -> UnsyncBoxBody<Bytes, LinkError> {
    http_body_util::Full::new(Bytes::from(body))
        .map_err(|never| match never {})
        .boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> (Link, mpsc::UnboundedReceiver<u64>) {
        let (commands, _) = mpsc::channel(1);
        let (cancels, cancelled) = mpsc::unbounded_channel();
        let link = Link {
            info: LinkInfo {
                connected_since: String::new(),
                from: String::new(),
                context: "kind-kind".to_owned(),
                contexts: vec!["kind-solo".to_owned()],
                server_version: String::new(),
                client: String::new(),
                protocol: protocol::VERSION,
            },
            serial: 1,
            token_id: 1,
            commands,
            in_flight: Semaphore::new(1),
            watches: Arc::new(Semaphore::new(protocol::MAX_WATCHES)),
            buffered: Arc::new(AtomicUsize::new(0)),
            cancels,
            relayed: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            cluster_answers: AtomicBool::new(true),
            close_reason: Mutex::new(String::new()),
            shutdown: watch::channel(None).0,
        };
        (link, cancelled)
    }

    fn frame(up: &Up) -> String {
        serde_json::to_string(up).unwrap()
    }

    /// A watch asked and opened by the learner's side: its id and events.
    async fn opened(link: &Link, pending: &mut Pending) -> (u64, EventStream) {
        let (reply, answer) = oneshot::channel();
        let permit = link.watches.clone().try_acquire_owned().unwrap();
        let id = pending.open(Waiting::Opening { reply, permit });
        let stream = Up::Stream {
            id,
            status: 200,
            headers: vec![],
        };
        pending.route(&frame(&stream), link).unwrap();
        match answer.await.unwrap() {
            WatchAnswer::Stream { events, .. } => (id, events),
            WatchAnswer::Whole(_) => panic!("not streamed"),
        }
    }

    #[tokio::test]
    async fn a_watch_read_too_slowly_is_cancelled_and_its_bytes_are_given_back() {
        let (link, mut cancelled) = link();
        let mut pending = Pending::default();
        let (id, mut events) = opened(&link, &mut pending).await;
        assert_eq!(link.watches(), 1);
        let chunk = Up::Events {
            id,
            body: protocol::encode_body(&vec![b' '; protocol::MAX_EVENTS_BYTES]),
        };
        let fits = protocol::MAX_BUFFERED_BYTES / protocol::MAX_EVENTS_BYTES;
        for _ in 0..fits {
            let routed = pending.route(&frame(&chunk), &link).unwrap();
            assert_eq!(routed.cancel, None);
        }
        assert_eq!(link.buffered(), protocol::MAX_BUFFERED_BYTES);
        let routed = pending.route(&frame(&chunk), &link).unwrap();
        assert_eq!(routed.cancel, Some(id), "one more would pass the bound");
        // Its late events are dropped, not an error.
        assert!(pending.route(&frame(&chunk), &link).is_ok());
        for _ in 0..fits {
            assert!(events.next().await.unwrap().is_ok());
        }
        let error = events.next().await.unwrap().unwrap_err();
        assert!(error.to_string().contains("MiB behind"), "{error}");
        assert!(events.next().await.is_none());
        assert_eq!(link.buffered(), 0);
        drop(events);
        assert_eq!(
            cancelled.recv().await,
            Some(id),
            "the dropped stream cancels"
        );
        assert_eq!(link.watches(), 0, "its place is given back");
    }

    #[tokio::test]
    async fn a_dropped_watch_gives_back_what_it_held_unread() {
        let (link, mut cancelled) = link();
        let mut pending = Pending::default();
        let (id, events) = opened(&link, &mut pending).await;
        let line = Up::Events {
            id,
            body: protocol::encode_body(b"{\"type\":\"ADDED\"}\n"),
        };
        pending.route(&frame(&line), &link).unwrap();
        assert!(link.buffered() > 0);
        drop(events);
        assert_eq!(link.buffered(), 0);
        assert_eq!(cancelled.recv().await, Some(id));
        let stray = Up::Response {
            id: id + 1,
            status: 200,
            headers: vec![],
            body: String::new(),
        };
        assert!(
            pending.route(&frame(&stray), &link).is_err(),
            "an answer to a request never sent closes the bridge"
        );
    }

    #[test]
    fn a_frame_names_a_further_context_only_and_never_one_not_relayed() {
        let (link, _) = link();
        let mut info = link.info.clone();
        assert!(matches!(info.context_frame(None), Ok(None)));
        assert!(
            matches!(info.context_frame(Some("kind-kind")), Ok(None)),
            "the first"
        );
        assert_eq!(
            info.context_frame(Some("kind-solo")).ok(),
            Some(Some("kind-solo".to_owned()))
        );
        let refused = info.context_frame(Some("prod")).unwrap_err();
        assert_eq!(refused.status, 404);
        assert!(
            String::from_utf8_lossy(&refused.body)
                .contains("does not relay the context `prod` (it relays kind-kind, kind-solo)")
        );
        // A version-2 client is never sent a context, whatever it claimed.
        info.protocol = 2;
        assert!(info.context_frame(Some("kind-solo")).is_err());
        assert!(matches!(info.context_frame(Some("kind-kind")), Ok(None)));
    }
}

//! The portal's end of a bridge: one live connection per learner, the task that speaks the protocol
//! on it, and the [`LinkService`] through which kube-rs sends a check's requests over it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

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
        method: String,
        path: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        reply: oneshot::Sender<Relayed>,
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
    /// Sends one request to the learner's cluster and waits for its answer.
    pub async fn relay(
        &self,
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Relayed, LinkError> {
        let closed = || {
            LinkError::Closed(
                self.close_reason
                    .lock()
                    .map(|r| r.clone())
                    .unwrap_or_default(),
            )
        };
        let _permit = self.in_flight.acquire().await.map_err(|_| closed())?;
        let (reply, answer) = oneshot::channel();
        let command = Command::Relay {
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

    /// Closes the connection (replaced, revoked), saying why to the learner's side.
    pub fn close(&self, reason: &str) {
        let _ = self.shutdown.send(Some(reason.to_owned()));
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

    /// Sends one request to the learner's cluster and waits for its answer.
    pub async fn relay(
        &self,
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Relayed, LinkError> {
        match self {
            BridgeLink::Here(link) => link.relay(method, path, headers, body).await,
            BridgeLink::Elsewhere(remote) => remote.relay(method, path, headers, body).await,
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

    /// For another server: relays one request over the learner's bridge held here.
    pub async fn relay_for_peer(
        &self,
        learner_id: i64,
        request: RelayRequest,
    ) -> Result<RelayAnswer, LinkError> {
        let link = self.get(learner_id).ok_or_else(|| {
            LinkError::Closed("the bridge is no longer connected to this server".to_owned())
        })?;
        let body = protocol::decode_body(&request.body).map_err(LinkError::Closed)?;
        let relayed = link
            .relay(&request.method, &request.path, request.headers, body)
            .await?;
        Ok(RelayAnswer {
            status: relayed.status,
            headers: relayed.headers,
            body: protocol::encode_body(&relayed.body),
        })
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
            server_version,
            client,
        }) if version == protocol::VERSION => LinkInfo {
            connected_since: crate::clock::rfc3339(crate::clock::unix_seconds()),
            from,
            context: clip(&context),
            server_version: clip(&server_version),
            client: clip(&client),
        },
        Ok(Up::Hello { version, .. }) => {
            return finish(
                &outgoing,
                format!(
                    "protocol version {version} is not supported; this portal speaks version {}: install a matching lectern",
                    protocol::VERSION
                ),
            )
            .await;
        }
        Ok(_) => return finish(&outgoing, "the first frame must be hello".to_owned()).await,
        Err(e) => return finish(&outgoing, format!("malformed frame: {e}")).await,
    };
    let welcome = Down::Welcome {
        version: protocol::VERSION,
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
    static SERIALS: AtomicU64 = AtomicU64::new(1);
    let link = Arc::new(Link {
        info,
        serial: SERIALS.fetch_add(1, Ordering::Relaxed),
        token_id,
        commands,
        in_flight: Semaphore::new(protocol::MAX_IN_FLIGHT),
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

    let mut pending: HashMap<u64, oneshot::Sender<Relayed>> = HashMap::new();
    let mut next_id: u64 = 1;
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
                    Some(Incoming::Text(text)) => match answer(&text, &mut pending, next_id) {
                        Ok(answered) => link.cluster_answers.store(answered, Ordering::Relaxed),
                        Err(why) => break why,
                    },
                }
            }
            Some(command) = queue.recv() => match command {
                Command::Relay { method, path, headers, body, reply } => {
                    let id = next_id;
                    next_id += 1;
                    pending.retain(|_, waiting| !waiting.is_closed());
                    pending.insert(id, reply);
                    let frame = Down::Request { id, method, path, headers, body: protocol::encode_body(&body) };
                    if outgoing.send(Outgoing::Text(to_json(&frame))).await.is_err() {
                        break "the connection closed".to_owned();
                    }
                }
                Command::Note(text) => {
                    let _ = outgoing.send(Outgoing::Text(to_json(&Down::Note { text }))).await;
                }
            },
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

/// Routes one frame from the learner's side to the request it answers; says whether the learner's
/// cluster answered it (a refusal for an unreachable or silent cluster says it did not).
fn answer(
    text: &str,
    pending: &mut HashMap<u64, oneshot::Sender<Relayed>>,
    next_id: u64,
) -> Result<bool, String> {
    if text.len() > protocol::MAX_FRAME_BYTES {
        return Err("frame too large".to_owned());
    }
    let frame: Up = serde_json::from_str(text).map_err(|e| format!("malformed frame: {e}"))?;
    let cluster_answered = !matches!(
        frame,
        Up::Refused {
            status: 502 | 504,
            ..
        }
    );
    let (id, relayed) = match frame {
        Up::Response {
            id,
            status,
            headers,
            body,
        } => (
            id,
            Relayed {
                status,
                headers,
                body: protocol::decode_body(&body)?,
            },
        ),
        Up::Refused { id, status, reason } => (id, refusal(status, &reason)),
        Up::Hello { .. } => return Err("hello sent twice".to_owned()),
    };
    match pending.remove(&id) {
        // The check gave up waiting (its timeout); the late answer is dropped.
        Some(waiting) => {
            let _ = waiting.send(relayed);
            Ok(cluster_answered)
        }
        None if id < next_id => Ok(cluster_answered),
        None => Err(format!("answer to request {id}, which was never sent")),
    }
}

/// A refusal as the Kubernetes `Status` a client expects, so kube-rs reports its reason.
fn refusal(status: u16, reason: &str) -> Relayed {
    let status = if (400..600).contains(&status) {
        status
    } else {
        502
    };
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("the learner's lectern connect refused this request: {reason}"),
        "reason": if status == 403 { "Forbidden" } else { "ServiceUnavailable" }, "code": status,
    });
    Relayed {
        status,
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
}

impl LinkService {
    /// Requests go over this link.
    pub fn new(link: BridgeLink) -> Self {
        Self { link }
    }
}

impl tower::Service<http::Request<kube::client::Body>> for LinkService {
    type Response = http::Response<http_body_util::Full<Bytes>>;
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
        Box::pin(async move {
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
            let headers = parts
                .headers
                .iter()
                .filter(|(name, _)| protocol::relayed_header(name.as_str()))
                .filter_map(|(name, value)| {
                    Some((name.to_string(), value.to_str().ok()?.to_owned()))
                })
                .collect();
            let relayed = link
                .relay(parts.method.as_str(), &path, headers, body)
                .await?;
            let mut response = http::Response::builder().status(relayed.status);
            for (name, value) in &relayed.headers {
                if protocol::relayed_header(name) {
                    response = response.header(name.as_str(), value.as_str());
                }
            }
            response
                .body(http_body_util::Full::new(Bytes::from(relayed.body)))
                .map_err(|e| LinkError::Closed(format!("unreadable answer: {e}")))
        })
    }
}

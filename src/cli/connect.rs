//! `lectern connect URL`: pairs this machine with a learner's portal account (once), then keeps an
//! outbound WebSocket to the portal open and relays its requests to the local cluster, read-only
//! (see [`crate::bridge::policy`]). Reconnects with back-off; exits 2 when the portal refuses it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::bridge::{policy, protocol};
use crate::config::ConnectArgs;
use crate::labs::Cluster;

/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A portal that sends nothing (it pings every 20 s) for this long is presumed gone.
const PORTAL_SILENT_FOR: Duration = Duration::from_secs(60);

/// Runs `lectern connect`.
pub async fn execute(args: ConnectArgs) -> ExitCode {
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// How a connection ended.
enum Ended {
    /// Worth trying again (network, portal restart), after the back-off.
    Retry(String),
    /// The portal refused this machine; trying again cannot help.
    Refused(String),
    /// Ctrl-C.
    Stopped,
}

async fn run(args: ConnectArgs) -> anyhow::Result<()> {
    let portal = portal_base(&args.url)?;
    let store = TokenStore::at(args.config_dir.clone().or_else(default_config_dir))?;
    let token = match &args.code {
        Some(code) => {
            let (token, learner) = pair(&portal, code).await?;
            store.save(&portal, &token)?;
            println!("Paired with {portal} as {}; the token is kept in {}.", policy::printable(&learner), store.path.display());
            token
        }
        None => store.load(&portal)?.ok_or_else(|| {
            anyhow!(
                "this machine is not paired with {portal}: open {portal}/connect, press \"Show a connect command\" and run the command it shows"
            )
        })?,
    };
    let clusters = Clusters::connect(&args).await?;
    let version = match clusters.first.ping().await {
        Ok(info) => info.git_version,
        Err(e) => {
            eprintln!("warning: your cluster does not answer yet ({e}); relaying anyway");
            String::new()
        }
    };
    let mut backoff = Duration::from_secs(1);
    loop {
        match session(&portal, &token, &clusters, &version).await {
            Ended::Stopped => return Ok(()),
            Ended::Refused(reason) => bail!(reason),
            Ended::Retry(reason) => {
                eprintln!("{reason}; connecting again in {} s", backoff.as_secs());
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// The clusters this machine relays: the first context (the one checks naming no context ask)
/// and, for a lab that uses several clusters, the further ones by name.
struct Clusters {
    first_name: String,
    first: Arc<Cluster>,
    further: Vec<(String, Arc<Cluster>)>,
}

impl Clusters {
    /// Connects to every context named with `--context` (none: the current one), each checked
    /// to exist in the kubeconfig before anything is relayed.
    async fn connect(args: &ConnectArgs) -> anyhow::Result<Self> {
        let mut names: Vec<String> = Vec::new();
        for name in &args.contexts {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        if names.len() > protocol::MAX_CONTEXTS {
            bail!(
                "lectern connect relays at most {} contexts, and {} were named",
                protocol::MAX_CONTEXTS,
                names.len()
            );
        }
        let first = names.first().map(String::as_str);
        let first_cluster = Cluster::connect(&args.connect_options(first)).await?;
        let mut further = Vec::new();
        for name in names.iter().skip(1) {
            let cluster = Cluster::connect(&args.connect_options(Some(name)))
                .await
                .with_context(|| format!("cannot relay the context `{name}`"))?;
            further.push((name.clone(), Arc::new(cluster)));
        }
        // Named as the kubeconfig names it (its current context when none was given), so the
        // portal can say which contexts it reaches.
        let first_name = match first {
            Some(name) => name.to_owned(),
            None if !first_cluster.context.is_empty() => first_cluster.context.clone(),
            None => "the current context".to_owned(),
        };
        Ok(Self {
            first_name,
            first: Arc::new(first_cluster),
            further,
        })
    }

    /// The cluster a frame asks: its `context` (`None`: the first), or why it is not relayed.
    fn pick(&self, context: Option<&str>) -> Result<&Arc<Cluster>, String> {
        let Some(context) = context else {
            return Ok(&self.first);
        };
        self.further
            .iter()
            .find(|(name, _)| name == context)
            .map(|(_, cluster)| cluster)
            .ok_or_else(|| {
                format!(
                    "this lectern connect does not relay the context `{}`: run it again with --context {} --context {}",
                    policy::printable(context),
                    self.first_name,
                    policy::printable(context)
                )
            })
    }

    /// Every relayed context's name, for the terminal.
    fn names(&self) -> String {
        std::iter::once(self.first_name.as_str())
            .chain(self.further.iter().map(|(name, _)| name.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One WebSocket connection, from handshake to its end.
async fn session(portal: &str, token: &str, clusters: &Clusters, local_version: &str) -> Ended {
    let url = format!("{}/api/bridge", portal.replacen("http", "ws", 1));
    let mut request = match url.as_str().into_client_request() {
        Ok(request) => request,
        Err(e) => return Ended::Refused(format!("{url} is not a valid address: {e}")),
    };
    let Ok(bearer) = format!("Bearer {token}").parse() else {
        return Ended::Refused("the stored token is not valid text: pair again".to_owned());
    };
    request.headers_mut().insert("authorization", bearer);
    let config = WebSocketConfig::default()
        .max_message_size(Some(protocol::MAX_FRAME_BYTES))
        .max_frame_size(Some(protocol::MAX_FRAME_BYTES))
        .read_buffer_size(protocol::BUFFER_BYTES)
        .write_buffer_size(protocol::BUFFER_BYTES);
    // Small frames answered at once: Nagle's algorithm would hold each answer back for an ACK.
    let disable_nagle = true;
    let socket =
        match tokio_tungstenite::connect_async_with_config(request, Some(config), disable_nagle)
            .await
        {
            Ok((socket, _)) => socket,
            Err(tungstenite::Error::Http(response)) => {
                let status = response.status();
                let reason = response
                    .body()
                    .as_deref()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                    .and_then(|v| v["error"].as_str().map(policy::printable))
                    .unwrap_or_else(|| status.to_string());
                return if status.is_client_error() {
                    Ended::Refused(format!(
                        "the portal refused this machine ({status}): {reason}"
                    ))
                } else {
                    Ended::Retry(format!("the portal answered {status}: {reason}"))
                };
            }
            Err(e) => return Ended::Retry(format!("cannot reach {portal}: {e}")),
        };
    let (mut sink, mut stream) = socket.split();
    // Relaying one context speaks version 2, so a portal not yet upgraded still accepts it.
    let version = if clusters.further.is_empty() {
        protocol::WATCH_VERSION
    } else {
        protocol::CONTEXTS_VERSION
    };
    let hello = protocol::Up::Hello {
        version,
        context: clusters.first_name.clone(),
        contexts: clusters
            .further
            .iter()
            .map(|(name, _)| name.clone())
            .collect(),
        server_version: local_version.to_owned(),
        client: format!("lectern {}", env!("CARGO_PKG_VERSION")),
    };
    if sink
        .send(Message::Text(to_json(&hello).into()))
        .await
        .is_err()
    {
        return Ended::Retry("the portal closed the connection".to_owned());
    }
    let (answers, mut answers_rx) = mpsc::channel::<protocol::Up>(protocol::MAX_IN_FLIGHT);
    let in_flight = Arc::new(Semaphore::new(protocol::MAX_IN_FLIGHT));
    let mut watches = OpenWatches::default();
    loop {
        tokio::select! {
            frame = tokio::time::timeout(PORTAL_SILENT_FOR, stream.next()) => {
                let message = match frame {
                    Err(_) => return Ended::Retry(format!("the portal sent nothing for {} s", PORTAL_SILENT_FOR.as_secs())),
                    Ok(None) => return Ended::Retry("the connection closed".to_owned()),
                    Ok(Some(Err(e))) => return Ended::Retry(format!("the connection failed: {e}")),
                    Ok(Some(Ok(message))) => message,
                };
                match message {
                    Message::Text(text) => match serde_json::from_str::<protocol::Down>(&text) {
                        Ok(protocol::Down::Welcome { version, learner }) => {
                            if !(protocol::OLDEST_VERSION..=protocol::VERSION).contains(&version) {
                                return Ended::Refused(format!("the portal speaks protocol version {version}, this lectern speaks {}: install a matching version", protocol::VERSION));
                            }
                            let kubernetes = if local_version.is_empty() { String::new() } else { format!(" (Kubernetes {local_version})") };
                            let learner = policy::printable(&learner);
                            let contexts = clusters.names();
                            println!("Connected to {portal} as {learner}: relaying read-only requests to {contexts}{kubernetes}. Ctrl-C stops.");
                        }
                        Ok(protocol::Down::Note { text }) => println!("portal {}", policy::printable(&text)),
                        Ok(protocol::Down::Request { id, method, path, headers, body, context }) => {
                            let cluster = match clusters.pick(context.as_deref()) {
                                Ok(cluster) => cluster.clone(),
                                Err(reason) => {
                                    let _ = answers.send(protocol::Up::Refused { id, status: 404, reason }).await;
                                    continue;
                                }
                            };
                            let answers = answers.clone();
                            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                                return Ended::Retry("stopping".to_owned());
                            };
                            tokio::spawn(async move {
                                let answer = relay(&cluster, id, &method, &path, &headers, &body).await;
                                let _ = answers.send(answer).await;
                                drop(permit);
                            });
                        }
                        Ok(protocol::Down::Watch { id, path, headers, context }) => {
                            let cluster = match clusters.pick(context.as_deref()) {
                                Ok(cluster) => cluster,
                                Err(reason) => {
                                    let _ = answers.send(protocol::Up::Refused { id, status: 404, reason }).await;
                                    continue;
                                }
                            };
                            if let Err(refusal) = watches.open(cluster, id, &path, &headers, &answers) {
                                let _ = answers.send(refusal).await;
                            }
                        }
                        Ok(protocol::Down::Cancel { id }) => watches.cancel(id),
                        Err(e) => return Ended::Retry(format!("the portal sent a frame this lectern cannot read ({e}); is it a newer version?")),
                    },
                    Message::Close(frame) => {
                        let reason = frame.map(|f| policy::printable(&f.reason)).unwrap_or_default();
                        return if reason.contains("revoked") || reason.contains("replaced") || reason.contains("protocol version") {
                            Ended::Refused(format!("the portal closed the connection: {reason}"))
                        } else {
                            Ended::Retry(format!("the portal closed the connection: {reason}"))
                        };
                    }
                    Message::Binary(_) => return Ended::Retry("the portal sent a binary frame, which is not part of the protocol".to_owned()),
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                }
            }
            Some(answer) = answers_rx.recv() => {
                if sink.send(Message::Text(to_json(&answer).into())).await.is_err() {
                    return Ended::Retry("the connection closed".to_owned());
                }
            }
            _ = tokio::signal::ctrl_c() => {
                let _ = sink.send(Message::Close(None)).await;
                return Ended::Stopped;
            }
        }
    }
}

/// Relays one request to the local cluster, if the read-only policy allows it.
async fn relay(
    cluster: &Cluster,
    id: u64,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &str,
) -> protocol::Up {
    let refused = |status: u16, reason: String| protocol::Up::Refused { id, status, reason };
    let accept = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("accept"))
        .map(|(_, value)| value.as_str());
    let allowed = match policy::check_request(method, path, accept) {
        Ok(allowed) => allowed,
        Err(reason) => {
            println!(
                "refused {} {}: {reason}",
                policy::printable(method),
                policy::printable(path)
            );
            return refused(403, reason.to_string());
        }
    };
    let body = match protocol::decode_body(body) {
        Ok(body) => body,
        Err(e) => return refused(400, e),
    };
    let mut request = http::Request::builder()
        .method(method)
        .uri(allowed.path_and_query());
    for (name, value) in headers.iter().filter(|(n, _)| protocol::relayed_header(n)) {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = match request.body(kube::client::Body::from(body)) {
        Ok(request) => request,
        Err(e) => return refused(400, format!("not a valid request: {e}")),
    };
    let response = match tokio::time::timeout(cluster.timeout, cluster.client.send(request)).await {
        Err(_) => {
            return refused(
                504,
                format!(
                    "your cluster did not answer within {} s",
                    cluster.timeout.as_secs()
                ),
            );
        }
        Ok(Err(e)) => return refused(502, format!("your cluster does not answer: {e}")),
        Ok(Ok(response)) => response,
    };
    let status = response.status().as_u16();
    let headers = protocol::relayed_headers(response.headers());
    let body = match tokio::time::timeout(cluster.timeout, response.into_body().collect()).await {
        Ok(Ok(body)) => body.to_bytes(),
        Ok(Err(e)) => return refused(502, format!("your cluster's answer broke off: {e}")),
        Err(_) => {
            return refused(
                504,
                "your cluster's answer did not finish in time".to_owned(),
            );
        }
    };
    // Base64 grows a body by a third; keep the frame under the limit.
    if body.len() > protocol::MAX_FRAME_BYTES / 4 * 3 - 4096 {
        return refused(
            502,
            format!("the answer is too large to relay ({} bytes)", body.len()),
        );
    }
    let body = match policy::check_response(&allowed, &body) {
        Ok(body) => body,
        Err(reason) => {
            println!(
                "refused the answer to {method} {}: {reason}",
                allowed.path_and_query()
            );
            return refused(403, reason.to_string());
        }
    };
    protocol::Up::Response {
        id,
        status,
        headers,
        body: protocol::encode_body(&body),
    }
}

/// The watches this machine relays on one connection (protocol version 2), by the portal's id;
/// all stop when the connection ends.
#[derive(Default)]
struct OpenWatches {
    running: HashMap<u64, tokio::task::AbortHandle>,
}

impl OpenWatches {
    /// Opens a watch the read-only policy allows, on a task that streams its events; the refusal
    /// frame otherwise.
    fn open(
        &mut self,
        cluster: &Arc<Cluster>,
        id: u64,
        path: &str,
        headers: &[(String, String)],
        answers: &mpsc::Sender<protocol::Up>,
    ) -> Result<(), protocol::Up> {
        let refused = |status: u16, reason: String| protocol::Up::Refused { id, status, reason };
        let accept = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("accept"))
            .map(|(_, value)| value.as_str());
        let allowed = policy::check_watch(path, accept).map_err(|reason| {
            println!("refused to watch {}: {reason}", policy::printable(path));
            refused(403, reason.to_string())
        })?;
        self.running.retain(|_, task| !task.is_finished());
        if self.running.len() >= protocol::MAX_WATCHES {
            return Err(refused(
                429,
                format!(
                    "this lectern connect already relays {} watches",
                    protocol::MAX_WATCHES
                ),
            ));
        }
        let headers: Vec<(String, String)> = headers
            .iter()
            .filter(|(name, _)| protocol::relayed_header(name))
            .cloned()
            .collect();
        let task = tokio::spawn(relay_watch(
            cluster.clone(),
            id,
            allowed,
            headers,
            answers.clone(),
        ));
        self.running.insert(id, task.abort_handle());
        Ok(())
    }

    /// Stops a watch the portal no longer reads.
    fn cancel(&mut self, id: u64) {
        if let Some(task) = self.running.remove(&id) {
            task.abort();
        }
    }
}

impl Drop for OpenWatches {
    fn drop(&mut self) {
        self.running
            .values()
            .for_each(tokio::task::AbortHandle::abort);
    }
}

/// Streams one allowed watch from the local cluster to the portal: `stream`, then `events` of
/// whole lines, each checked by the policy (a Secret watch's events carry metadata only), then
/// `end`. A watch the cluster does not open is answered as a request is.
async fn relay_watch(
    cluster: Arc<Cluster>,
    id: u64,
    allowed: policy::Allowed,
    headers: Vec<(String, String)>,
    answers: mpsc::Sender<protocol::Up>,
) {
    let refused = |status: u16, reason: String| protocol::Up::Refused { id, status, reason };
    let mut request = http::Request::builder()
        .method("GET")
        .uri(allowed.path_and_query());
    for (name, value) in &headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let Ok(request) = request.body(kube::client::Body::empty()) else {
        let _ = answers
            .send(refused(400, "not a valid request".to_owned()))
            .await;
        return;
    };
    let opened = tokio::time::timeout(cluster.timeout, cluster.watch_client.send(request)).await;
    let response = match opened {
        Err(_) => {
            let reason = format!(
                "your cluster did not answer within {} s",
                cluster.timeout.as_secs()
            );
            let _ = answers.send(refused(504, reason)).await;
            return;
        }
        Ok(Err(e)) => {
            let reason = format!("your cluster does not answer: {e}");
            let _ = answers.send(refused(502, reason)).await;
            return;
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status().as_u16();
    let headers = protocol::relayed_headers(response.headers());
    if status != 200 {
        let collected = tokio::time::timeout(cluster.timeout, response.into_body().collect()).await;
        let answer = match collected {
            Ok(Ok(body)) => match policy::check_response(&allowed, &body.to_bytes()) {
                Ok(body) => protocol::Up::Response {
                    id,
                    status,
                    headers,
                    body: protocol::encode_body(&body),
                },
                Err(reason) => refused(403, reason.to_string()),
            },
            _ => refused(502, "your cluster's answer broke off".to_owned()),
        };
        let _ = answers.send(answer).await;
        return;
    }
    if answers
        .send(protocol::Up::Stream {
            id,
            status,
            headers,
        })
        .await
        .is_err()
    {
        return;
    }
    let end = |reason: String| protocol::Up::End { id, reason };
    let mut body = response.into_body();
    let mut unread: Vec<u8> = Vec::new();
    let reason = loop {
        let finished = match body.frame().await {
            None => true,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    unread.extend_from_slice(&data);
                }
                false
            }
            Some(Err(e)) => break format!("your cluster's watch broke off: {e}"),
        };
        let mut lines: Vec<&[u8]> = unread.split_inclusive(|b| *b == b'\n').collect();
        let partial = match lines.last() {
            Some(last) if !last.ends_with(b"\n") && !finished => lines.pop().map(<[u8]>::len),
            _ => None,
        };
        let mut events = Vec::new();
        let mut refusal = None;
        for line in lines {
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match policy::check_watch_event(&allowed, line) {
                Ok(line) => {
                    events.extend_from_slice(&line);
                    events.push(b'\n');
                }
                Err(reason) => {
                    println!("refused an event of {}: {reason}", allowed.path_and_query());
                    refusal = Some(reason.to_string());
                    break;
                }
            }
        }
        let keep = partial.unwrap_or(0);
        unread.drain(..unread.len() - keep);
        for chunk in events.chunks(protocol::MAX_EVENTS_BYTES) {
            let frame = protocol::Up::Events {
                id,
                body: protocol::encode_body(chunk),
            };
            if answers.send(frame).await.is_err() {
                return;
            }
        }
        if let Some(reason) = refusal {
            break reason;
        }
        if unread.len() > protocol::MAX_EVENTS_BYTES {
            break format!(
                "an event of more than {} MiB is not relayed",
                protocol::MAX_EVENTS_BYTES >> 20
            );
        }
        if finished {
            break String::new();
        }
    };
    let _ = answers.send(end(reason)).await;
}

/// Exchanges a pairing code for a token: `(token, learner)`.
async fn pair(portal: &str, code: &str) -> anyhow::Result<(String, String)> {
    let machine = machine_name();
    let response = reqwest::Client::new()
        .post(format!("{portal}/api/bridge/pair"))
        .json(&serde_json::json!({ "code": code, "machine": machine }))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .with_context(|| format!("cannot reach {portal}"))?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("{portal} did not answer like a Lectern portal ({status})"))?;
    if !status.is_success() {
        bail!(
            "the portal refused the code ({status}): {}",
            policy::printable(body["error"].as_str().unwrap_or("no reason given"))
        );
    }
    match (body["token"].as_str(), body["learner"].as_str()) {
        (Some(token), Some(learner)) => Ok((token.to_owned(), learner.to_owned())),
        _ => bail!("{portal} answered the pairing without a token"),
    }
}

/// The machine's name, for the portal's list of paired machines.
fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "this machine".to_owned())
}

/// `https://portal.example.org/` → `https://portal.example.org`.
fn portal_base(url: &str) -> anyhow::Result<String> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| anyhow!("`{url}` is not a portal address: write it as https://host"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        bail!(
            "`{url}` is not a portal address: give the site's root, e.g. https://lectern.example.org"
        );
    }
    Ok(url.to_owned())
}

fn to_json<T: serde::Serialize>(frame: &T) -> String {
    serde_json::to_string(frame).unwrap_or_default()
}

fn default_config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".config")))
        .map(|dir| dir.join("lectern"))
}

/// Bridge tokens by portal, in `bridges.json`, readable by the user only.
struct TokenStore {
    path: PathBuf,
}

impl TokenStore {
    fn at(dir: Option<PathBuf>) -> anyhow::Result<Self> {
        let dir =
            dir.context("cannot find a folder for the bridge token: set LECTERN_CONFIG_DIR")?;
        Ok(Self {
            path: dir.join("bridges.json"),
        })
    }

    fn read(&self) -> anyhow::Result<BTreeMap<String, String>> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                anyhow!(
                    "{} is not readable ({e}): delete it and pair again",
                    self.path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(anyhow!("cannot read {}: {e}", self.path.display())),
        }
    }

    fn load(&self, portal: &str) -> anyhow::Result<Option<String>> {
        Ok(self.read()?.remove(portal))
    }

    fn save(&self, portal: &str, token: &str) -> anyhow::Result<()> {
        let mut tokens = self.read()?;
        tokens.insert(portal.to_owned(), token.to_owned());
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let fail = |e: std::io::Error| anyhow!("cannot write {}: {e}", self.path.display());
        std::fs::create_dir_all(dir).map_err(fail)?;
        let text = serde_json::to_string_pretty(&tokens).unwrap_or_default();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            options.mode(0o600);
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        let mut file = options.open(&self.path).map_err(fail)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(fail)?;
        }
        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_addresses_are_site_roots() {
        assert_eq!(
            portal_base("https://lectern.example.org/").unwrap(),
            "https://lectern.example.org"
        );
        assert_eq!(
            portal_base("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "lectern.example.org",
            "ftp://x",
            "https://",
            "https://x/connect",
            "https://x?y",
        ] {
            assert!(portal_base(bad).is_err(), "{bad}");
        }
    }
}

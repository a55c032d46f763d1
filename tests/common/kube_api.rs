//! A Kubernetes API test double, faithful where kube-rs looks: served over HTTPS with its own CA,
//! a bearer token in a generated kubeconfig, discovery documents, lists as `…List` objects that honour
//! label and field selectors, metadata-only (`PartialObjectMetadata`) responses, errors as `Status`
//! objects with the API server's wording, SubjectAccessReviews decided from the RBAC objects it holds,
//! `/livez` and `/readyz?verbose`, and `/version`. Failure modes stand in for a broken cluster.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use tempfile::TempDir;

use lectern::labtest::api;

/// The token the generated kubeconfig carries.
pub const TOKEN: &str = "lectern-test-token";

/// How the double misbehaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// A healthy API server.
    Normal,
    /// Every request gets 401, as with an expired token.
    RejectCredentials,
    /// Requests for this resource (plural) get 403, as for an identity without that permission.
    Forbid(String),
    /// Accepts connections and never answers.
    Hang,
    /// Answers 200 with a body that is not JSON.
    Malformed,
    /// Lists and gets are allowed, watches get 403: an identity whose role lacks the `watch` verb,
    /// as with a hand-written read-only role (`get`, `list`).
    ForbidWatch,
}

/// One change to the stored objects, as the API server's watch cache keeps it: the revision it was
/// made at, `ADDED`/`MODIFIED`/`DELETED`, the object after it and (for the last two) before it.
#[derive(Debug, Clone)]
pub struct Change {
    pub revision: u64,
    pub kind: &'static str,
    pub object: Value,
    pub previous: Option<Value>,
}

/// How many changes a watch may resume across; older resourceVersions get 410 Gone, as after
/// etcd's compaction (the watch cache keeps a window of recent changes).
const HISTORY: usize = 256;

/// What the double serves; tests change it between runs.
#[derive(Debug, Clone)]
pub struct ClusterState {
    pub objects: Arc<Vec<Value>>,
    /// Individual health checks, in order, as `/readyz?verbose` lists them.
    pub health: Vec<(String, bool)>,
    pub version: (u32, u32),
    pub mode: Mode,
    /// Whom the kubeconfig's token authenticates as: `None` is kind's admin (group system:masters);
    /// `Some(user)` makes the double authorize every request of that user through its RBAC objects.
    pub identity: Option<String>,
    /// Every request's method, path and query, for assertions (e.g. that no Secret was read whole).
    pub requests: Vec<String>,
    /// What the double served, in the API server's terms after decoding the path (`get secrets`,
    /// `list secrets (metadata)`, `watch pods`, `get pods/log`, `get nodes/proxy`): what a
    /// request really reached, however it was spelt.
    pub served: Vec<String>,
    /// The last revision handed out (etcd's); every object's `metadata.resourceVersion` is one.
    pub revision: u64,
    /// Recent changes, oldest first, for watches that resume from a resourceVersion.
    pub history: std::collections::VecDeque<Change>,
    /// Watches from a resourceVersion below this get 410 Gone ("too old resource version").
    pub compacted: u64,
    /// How often an open watch that asked for bookmarks gets one.
    pub bookmark_every: std::time::Duration,
    changes: tokio::sync::broadcast::Sender<Change>,
    /// Bumped to drop every open watch's connection.
    drops: tokio::sync::watch::Sender<u64>,
}

/// An event written without its time gets it as a recorder sets it: `lastTimestamp` (and, when
/// new, `firstTimestamp`) in whole seconds, or `eventTime` in microseconds (events.k8s.io/v1).
/// A time the test gave is kept.
fn stamp_event(object: &mut Value, before: Option<&Value>) {
    if object["kind"] != "Event" {
        return;
    }
    let now = chrono::Utc::now();
    let seconds = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    if object.get("lastTimestamp").is_some_and(Value::is_null) {
        object["lastTimestamp"] = json!(seconds);
        if object.get("firstTimestamp").is_some_and(Value::is_null) {
            let first = before
                .and_then(|b| b["firstTimestamp"].as_str())
                .unwrap_or(&seconds)
                .to_owned();
            object["firstTimestamp"] = json!(first);
        }
    }
    if object.get("eventTime").is_some_and(Value::is_null) {
        object["eventTime"] = json!(now.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
    }
}

impl ClusterState {
    /// Replaces the stored objects, as a series of writes: each new or changed object gets the
    /// next revision and an `ADDED`/`MODIFIED` change, each one gone a `DELETED`; unchanged
    /// objects keep their resourceVersion. Open watches see the changes.
    fn replace(&mut self, objects: Vec<Value>) {
        let identity = |o: &Value| {
            (
                o["apiVersion"].as_str().unwrap_or("").to_owned(),
                o["kind"].as_str().unwrap_or("").to_owned(),
                o["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
                o["metadata"]["name"].as_str().unwrap_or("").to_owned(),
            )
        };
        let without_version = |o: &Value| {
            let mut o = o.clone();
            if let Some(meta) = o["metadata"].as_object_mut() {
                meta.remove("resourceVersion");
            }
            if o["kind"] == "Event"
                && let Some(event) = o.as_object_mut()
            {
                for stamp in ["firstTimestamp", "lastTimestamp", "eventTime"] {
                    event.remove(stamp);
                }
            }
            o
        };
        let old: Vec<Value> = self.objects.iter().cloned().collect();
        let mut stored = Vec::with_capacity(objects.len());
        let mut changes = Vec::new();
        for object in objects {
            let before = old.iter().find(|o| identity(o) == identity(&object));
            match before {
                Some(before) if without_version(before) == without_version(&object) => {
                    stored.push(before.clone());
                }
                _ => {
                    self.revision += 1;
                    let mut object = object;
                    object["metadata"]["resourceVersion"] = json!(self.revision.to_string());
                    stamp_event(&mut object, before);
                    changes.push(Change {
                        revision: self.revision,
                        kind: if before.is_some() {
                            "MODIFIED"
                        } else {
                            "ADDED"
                        },
                        object: object.clone(),
                        previous: before.cloned(),
                    });
                    stored.push(object);
                }
            }
        }
        for gone in old
            .iter()
            .filter(|o| !stored.iter().any(|s| identity(s) == identity(o)))
        {
            self.revision += 1;
            let mut object = gone.clone();
            object["metadata"]["resourceVersion"] = json!(self.revision.to_string());
            changes.push(Change {
                revision: self.revision,
                kind: "DELETED",
                object,
                previous: Some(gone.clone()),
            });
        }
        self.objects = Arc::new(stored);
        for change in changes {
            if self.history.len() == HISTORY {
                let forgotten = self.history.pop_front().map_or(0, |c| c.revision);
                self.compacted = self.compacted.max(forgotten);
            }
            self.history.push_back(change.clone());
            let _ = self.changes.send(change);
        }
    }
}

/// A running double.
pub struct FakeCluster {
    pub addr: SocketAddr,
    pub kubeconfig: PathBuf,
    pub state: Arc<Mutex<ClusterState>>,
    _dir: TempDir,
}

impl FakeCluster {
    /// Starts serving `objects` on an ephemeral port, and writes a kubeconfig for it.
    pub async fn start(objects: Vec<Value>) -> Self {
        let (acceptor, ca_pem) = tls_acceptor("kubernetes", &["localhost", "127.0.0.1"]);

        let mut initial = ClusterState {
            objects: Arc::new(Vec::new()),
            health: default_health(),
            version: (1, 36),
            mode: Mode::Normal,
            identity: None,
            requests: Vec::new(),
            served: Vec::new(),
            revision: 1000,
            history: Default::default(),
            compacted: 0,
            bookmark_every: std::time::Duration::from_secs(1),
            changes: tokio::sync::broadcast::channel(1024).0,
            drops: tokio::sync::watch::channel(0).0,
        };
        initial.replace(objects);
        // The cluster's creation is history no watch resumes from.
        initial.compacted = initial.revision;
        initial.history.clear();
        let state = Arc::new(Mutex::new(initial));
        let router = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let router = router.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(router);
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });

        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            kubeconfig_yaml(&format!("https://127.0.0.1:{}", addr.port()), &ca_pem),
        )
        .unwrap();
        Self {
            addr,
            kubeconfig,
            state,
            _dir: dir,
        }
    }

    /// A kubeconfig with this cluster's context (current) and `other`'s under `context`, as kind
    /// leaves `~/.kube/config` after a second `kind create cluster` and a switch back.
    pub fn kubeconfig_with(&self, other: &FakeCluster, context: &str) -> PathBuf {
        let mine = std::fs::read_to_string(&self.kubeconfig).unwrap();
        let theirs = std::fs::read_to_string(&other.kubeconfig).unwrap();
        let pick = |text: &str, key: &str| -> String {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(key).map(|v| v.trim().to_owned()))
                .unwrap()
        };
        let (server, ca) = (
            pick(&theirs, "server:"),
            pick(&theirs, "certificate-authority-data:"),
        );
        let merged = mine
            .replacen(
                "contexts:\n",
                &format!(
                    "- name: {context}\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\ncontexts:\n- name: {context}\n  context:\n    cluster: {context}\n    user: kind-k8s-ha\n"
                ),
                1,
            );
        let path = self._dir.path().join(format!("kubeconfig-with-{context}"));
        std::fs::write(&path, merged).unwrap();
        path
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// Makes the stored objects `objects`, as writes (see [`ClusterState::replace`]): open
    /// watches see each change.
    pub fn set_objects(&self, objects: Vec<Value>) {
        self.state.lock().unwrap().replace(objects);
    }

    /// Restores the objects from a snapshot, as `etcdutl snapshot restore --bump-revision BUMP
    /// --mark-compacted` and the restart of etcd and the API server that follows do: the objects
    /// become `snapshot` (those unchanged since it was taken keep their resourceVersion, as the
    /// snapshot holds their revisions), the revision jumps by `bump`, every earlier revision is
    /// compacted (a watch resuming from one gets 410 Gone), and every open watch's connection
    /// ends (the API server restarted). What is written next gets a revision past the bump.
    pub fn restore(&self, snapshot: Vec<Value>, bump: u64) {
        let mut state = self.state.lock().unwrap();
        let current = state.objects.clone();
        let same = |a: &Value, b: &Value| {
            let strip = |o: &Value| {
                let mut o = o.clone();
                if let Some(meta) = o["metadata"].as_object_mut() {
                    meta.remove("resourceVersion");
                }
                o
            };
            strip(a) == strip(b)
        };
        let mut next = state.revision;
        let restored = snapshot
            .into_iter()
            .map(|mut object| {
                match current.iter().find(|c| same(c, &object)) {
                    Some(kept) => object = kept.clone(),
                    None => {
                        next += 1;
                        object["metadata"]["resourceVersion"] = json!(next.to_string());
                    }
                }
                object
            })
            .collect();
        state.objects = Arc::new(restored);
        state.revision = next + bump;
        state.compacted = state.revision;
        state.history.clear();
        state.drops.send_modify(|n| *n += 1);
    }

    /// Forgets every change so far, as etcd's compaction does: a watch that resumes from an
    /// earlier resourceVersion gets 410 Gone and must list again.
    pub fn compact(&self) {
        let mut state = self.state.lock().unwrap();
        state.compacted = state.revision;
        state.history.clear();
    }

    /// Breaks every open watch's connection mid-stream, as a restarted API server or a dropped
    /// network does.
    pub fn drop_watches(&self) {
        self.state.lock().unwrap().drops.send_modify(|n| *n += 1);
    }

    /// How many watch requests of `plural` the double answered so far.
    pub fn watches_of(&self, plural: &str) -> usize {
        let watch = format!("watch {plural}");
        self.served().iter().filter(|s| **s == watch).count()
    }

    pub fn set_health(&self, check: &str, ok: bool) {
        let mut state = self.state.lock().unwrap();
        for (name, status) in state.health.iter_mut() {
            if name == check {
                *status = ok;
            }
        }
    }

    /// Authenticates the token as `user` from now on, with RBAC enforced for it.
    pub fn set_identity(&self, user: &str) {
        self.state.lock().unwrap().identity = Some(user.to_owned());
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// What the double served, in the API server's terms (see [`ClusterState::served`]).
    pub fn served(&self) -> Vec<String> {
        self.state.lock().unwrap().served.clone()
    }
}

/// A TLS acceptor with a certificate for `names`, signed by a new CA called `ca_name`; returns the
/// CA's PEM for clients to trust.
pub fn tls_acceptor(ca_name: &str, names: &[&str]) -> (tokio_rustls::TlsAcceptor, String) {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, ca_name);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = rcgen::CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let tls = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            tokio_rustls::rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
    (tokio_rustls::TlsAcceptor::from(Arc::new(tls)), ca.pem())
}

fn kubeconfig_yaml(server: &str, ca_pem: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kind-k8s-ha\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\n\
         contexts:\n- name: kind-k8s-ha\n  context:\n    cluster: kind-k8s-ha\n    user: kind-k8s-ha\n\
         current-context: kind-k8s-ha\nusers:\n- name: kind-k8s-ha\n  user:\n    token: {TOKEN}\n"
    )
}

fn default_health() -> Vec<(String, bool)> {
    [
        "ping",
        "log",
        "etcd",
        "etcd-readiness",
        "informer-sync",
        "poststarthook/start-apiserver-admission-initializer",
        "poststarthook/rbac/bootstrap-roles",
        "shutdown",
    ]
    .iter()
    .map(|n| (n.to_string(), true))
    .collect()
}

fn respond(answer: api::Answer) -> Response {
    (
        StatusCode::from_u16(answer.status).unwrap(),
        [("content-type", answer.content_type)],
        answer.body,
    )
        .into_response()
}

fn status(code: u16, reason: &str, message: String, details: Value) -> Response {
    respond(api::Answer::status(code, reason, message, details))
}

async fn handle(
    State(state): State<Arc<Mutex<ClusterState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A cheap snapshot (objects are shared), without the request log, which grows with every request.
    let snapshot = {
        let mut state = state.lock().unwrap();
        state.requests.push(format!("{method} {}", uri));
        ClusterState {
            objects: state.objects.clone(),
            health: state.health.clone(),
            version: state.version,
            mode: state.mode.clone(),
            identity: state.identity.clone(),
            requests: Vec::new(),
            served: Vec::new(),
            revision: state.revision,
            history: Default::default(),
            compacted: state.compacted,
            bookmark_every: state.bookmark_every,
            changes: state.changes.clone(),
            drops: state.drops.clone(),
        }
    };
    let record = |what: String| state.lock().unwrap().served.push(what);
    match &snapshot.mode {
        Mode::Hang => {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Mode::Malformed => {
            return (
                StatusCode::OK,
                [("content-type", "application/json")],
                "<html>upstream proxy error</html>",
            )
                .into_response();
        }
        _ => {}
    }
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {TOKEN}"));
    if !authorized || snapshot.mode == Mode::RejectCredentials {
        return status(401, "Unauthorized", "Unauthorized".into(), json!({}));
    }
    // Paths are decoded as the API server decodes them (`labtest::api::route`).
    let route = match api::route(uri.path(), uri.query()) {
        Ok(route) => route,
        Err(answer) => return respond(answer),
    };
    let version = json!({
        "major": snapshot.version.0.to_string(), "minor": snapshot.version.1.to_string(),
        "gitVersion": format!("v{}.{}.0", snapshot.version.0, snapshot.version.1),
        "gitCommit": "7c48c2bd72b9bf5c44d21d7338cc7bea77d0ad2a", "gitTreeState": "clean",
        "buildDate": "2024-05-13T22:02:25Z", "goVersion": "go1.22.2", "compiler": "gc", "platform": "linux/amd64",
    });
    let served = api::Served {
        objects: &snapshot.objects,
        livez: &snapshot.health,
        readyz: &snapshot.health,
        version: &version,
        revision: snapshot.revision,
        identity: snapshot.identity.as_deref(),
    };
    let metadata_only = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=PartialObjectMetadata"));
    let api::Route::Object(object) = &route else {
        return respond(api::answer(&served, &method, &route, metadata_only, &body));
    };
    let (group, plural, namespace) = (
        object.resource.group,
        object.resource.plural,
        object.namespace.as_deref(),
    );
    let verb = object.verb(&method);
    let scope = namespace.map_or("at the cluster scope".to_owned(), |ns| {
        format!("in the namespace \"{ns}\"")
    });
    let forbidden = match &snapshot.mode {
        Mode::Forbid(forbidden) if forbidden == plural => {
            Some("system:serviceaccount:lectern:lectern".to_owned())
        }
        Mode::ForbidWatch if object.watch => {
            Some("system:serviceaccount:lectern:lectern".to_owned())
        }
        _ => snapshot.identity.clone().filter(|user| {
            !object.resource.kind.starts_with("SelfSubject")
                && api::decide(
                    &snapshot.objects,
                    user,
                    &api::identity_groups(user),
                    verb,
                    group,
                    plural,
                    namespace,
                )
                .is_none()
        }),
    };
    if let Some(user) = forbidden {
        return status(
            403,
            "Forbidden",
            format!(
                "{plural} is forbidden: User \"{user}\" cannot {verb} resource \"{plural}\" in API group \"{group}\" {scope}"
            ),
            json!({ "kind": plural }),
        );
    }
    let read = if metadata_only { " (metadata)" } else { "" };
    if method != Method::POST {
        record(match (&object.subresource, &object.name) {
            (Some(sub), Some(_)) => format!("get {plural}/{sub}"),
            _ if object.watch => format!("watch {plural}{read}"),
            (_, Some(_)) => format!("get {plural}{read}"),
            (_, None) => format!("list {plural}{read}"),
        });
    }
    if object.watch && method != Method::POST && object.subresource.is_none() {
        let selection = object.clone();
        let timeout = object
            .query
            .get("timeoutSeconds")
            .and_then(|t| t.parse().ok())
            .unwrap_or(1800u64);
        let bookmarks = object
            .query
            .get("allowWatchBookmarks")
            .is_some_and(|v| v == "true" || v == "1");
        let from = object
            .query
            .get("resourceVersion")
            .cloned()
            .unwrap_or_default();
        return serve_watch(
            &state,
            WatchRequest {
                selected: Box::new(move |o: &Value| selection.selects(o)),
                kind: object.resource.kind.to_owned(),
                api_version: object.resource.api_version(),
                metadata_only,
                from,
                bookmarks,
                timeout: std::time::Duration::from_secs(timeout),
            },
        );
    }
    respond(api::answer(&served, &method, &route, metadata_only, &body))
}

/// What one watch request asks for.
struct WatchRequest {
    /// Whether an object is in the watched set (resource, namespace, selectors, name).
    selected: Box<dyn Fn(&Value) -> bool + Send>,
    kind: String,
    api_version: String,
    metadata_only: bool,
    /// `resourceVersion`: empty or `0` starts with the current objects as `ADDED`; a number
    /// resumes after it.
    from: String,
    bookmarks: bool,
    timeout: std::time::Duration,
}

/// A watch as the API server's watch cache serves it: one JSON event per line. From no
/// resourceVersion (or `0`), the current objects as `ADDED`; from a resourceVersion, every change
/// after it, or a 410 `Expired` error event if it was compacted away. Then changes as they happen,
/// where an object that stops matching the selectors is `DELETED` and one that starts is
/// `ADDED`; `BOOKMARK`s with the current revision if asked; the end at `timeoutSeconds`, or a
/// broken connection on [`FakeCluster::drop_watches`].
fn serve_watch(state: &Arc<Mutex<ClusterState>>, request: WatchRequest) -> Response {
    let (mut live, mut drops, objects, history, revision, compacted, bookmark_every) = {
        let state = state.lock().unwrap();
        (
            state.changes.subscribe(),
            state.drops.subscribe(),
            state.objects.clone(),
            state.history.clone(),
            state.revision,
            state.compacted,
            state.bookmark_every,
        )
    };
    drops.borrow_and_update();
    let line = |event: Value| Ok::<_, std::io::Error>(Bytes::from(format!("{event}\n")));
    let shown = {
        let metadata_only = request.metadata_only;
        move |object: &Value| {
            if metadata_only {
                json!({ "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"] })
            } else {
                object.clone()
            }
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let start = match request.from.as_str() {
        "" | "0" => None,
        other => match other.parse::<u64>() {
            Ok(rv) => Some(rv),
            Err(_) => {
                return status(
                    400,
                    "BadRequest",
                    format!("invalid resource version: {other}"),
                    json!({}),
                );
            }
        },
    };
    let mut first: Vec<Value> = Vec::new();
    match start {
        None => first.extend(
            objects
                .iter()
                .filter(|o| (request.selected)(o))
                .map(|o| json!({ "type": "ADDED", "object": shown(o) })),
        ),
        Some(rv) if rv < compacted => {
            let expired = json!({ "type": "ERROR", "object": {
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("too old resource version: {rv} ({})", compacted + 1),
                "reason": "Expired", "code": 410,
            }});
            let _ = tx.try_send(line(expired));
            drop(tx);
            return watch_response(rx);
        }
        Some(rv) => first.extend(
            history
                .iter()
                .filter(|c| c.revision > rv)
                .filter_map(|c| event_for(c, &request.selected, &shown)),
        ),
    }
    tokio::spawn(async move {
        for event in first {
            if tx.send(line(event)).await.is_err() {
                return;
            }
        }
        let end = tokio::time::sleep(request.timeout);
        tokio::pin!(end);
        let mut tick = tokio::time::interval(bookmark_every);
        tick.tick().await;
        let mut last = revision;
        loop {
            tokio::select! {
                _ = &mut end => {
                    if request.bookmarks {
                        let _ = tx.send(line(bookmark(&request, last))).await;
                    }
                    return;
                }
                _ = drops.changed() => {
                    let _ = tx
                        .send(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "watch dropped")))
                        .await;
                    return;
                }
                _ = tick.tick(), if request.bookmarks => {
                    if tx.send(line(bookmark(&request, last))).await.is_err() {
                        return;
                    }
                }
                change = live.recv() => match change {
                    Ok(change) if change.revision > revision => {
                        last = change.revision;
                        if let Some(event) = event_for(&change, &request.selected, &shown)
                            && tx.send(line(event)).await.is_err()
                        {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                },
            }
        }
    });
    watch_response(rx)
}

/// The event a watcher of a selected set sees for a change: the watch cache's
/// `convertToWatchEvent` (an object leaving the set is `DELETED`, entering it `ADDED`).
fn event_for(
    change: &Change,
    selected: &dyn Fn(&Value) -> bool,
    shown: &dyn Fn(&Value) -> Value,
) -> Option<Value> {
    let now = change.kind != "DELETED" && selected(&change.object);
    let before = change.previous.as_ref().is_some_and(selected);
    let (kind, object) = match (before, now) {
        (false, true) => ("ADDED", change.object.clone()),
        (true, true) => ("MODIFIED", change.object.clone()),
        (true, false) => {
            let mut previous = change.previous.clone().unwrap_or_default();
            previous["metadata"]["resourceVersion"] = json!(change.revision.to_string());
            ("DELETED", previous)
        }
        (false, false) => return None,
    };
    Some(json!({ "type": kind, "object": shown(&object) }))
}

/// A `BOOKMARK`: an object of the watched kind with nothing but the revision the watch reached.
fn bookmark(request: &WatchRequest, revision: u64) -> Value {
    json!({ "type": "BOOKMARK", "object": {
        "kind": request.kind, "apiVersion": request.api_version,
        "metadata": { "resourceVersion": revision.to_string() },
    }})
}

fn watch_response(rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>) -> Response {
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

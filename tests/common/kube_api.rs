//! A Kubernetes API test double, faithful where kube-rs looks: served over HTTPS with its own CA,
//! a bearer token in a generated kubeconfig, discovery documents, lists as `…List` objects that honour
//! label and field selectors, metadata-only (`PartialObjectMetadata`) responses, errors as `Status`
//! objects with the API server's wording, SubjectAccessReviews decided from the RBAC objects it holds,
//! `/livez` and `/readyz?verbose`, and `/version`. Failure modes stand in for a broken cluster.

use std::collections::HashMap;
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

/// The resources the double serves: (group, version, plural, kind, namespaced).
const RESOURCES: &[(&str, &str, &str, &str, bool)] = &[
    ("", "v1", "namespaces", "Namespace", false),
    ("", "v1", "nodes", "Node", false),
    ("", "v1", "pods", "Pod", true),
    ("", "v1", "services", "Service", true),
    ("", "v1", "serviceaccounts", "ServiceAccount", true),
    ("", "v1", "secrets", "Secret", true),
    ("", "v1", "configmaps", "ConfigMap", true),
    ("", "v1", "events", "Event", true),
    ("apps", "v1", "deployments", "Deployment", true),
    ("apps", "v1", "daemonsets", "DaemonSet", true),
    ("apps", "v1", "statefulsets", "StatefulSet", true),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
    ),
    ("rbac.authorization.k8s.io", "v1", "roles", "Role", true),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        true,
    ),
    ("coordination.k8s.io", "v1", "leases", "Lease", true),
    (
        "admissionregistration.k8s.io",
        "v1",
        "validatingadmissionpolicies",
        "ValidatingAdmissionPolicy",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "validatingadmissionpolicybindings",
        "ValidatingAdmissionPolicyBinding",
        false,
    ),
    (
        "apiregistration.k8s.io",
        "v1",
        "apiservices",
        "APIService",
        false,
    ),
    (
        "authorization.k8s.io",
        "v1",
        "subjectaccessreviews",
        "SubjectAccessReview",
        false,
    ),
    (
        "authorization.k8s.io",
        "v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        false,
    ),
];

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

fn status(code: u16, reason: &str, message: String, details: Value) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "details": details, "code": code,
    });
    (
        StatusCode::from_u16(code).unwrap(),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok_json(value: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        value.to_string(),
    )
        .into_response()
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
    // Go's net/http hands the API server `URL.Path`: the path percent-decoded once (`%2F` becomes a
    // separator); an invalid escape is a 400 before any handler runs.
    let Ok(decoded) = percent_encoding::percent_decode_str(uri.path()).decode_utf8() else {
        return (StatusCode::BAD_REQUEST, "400 Bad Request").into_response();
    };
    if uri
        .path()
        .split('%')
        .skip(1)
        .any(|rest| rest.len() < 2 || !rest.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit))
    {
        return (StatusCode::BAD_REQUEST, "400 Bad Request").into_response();
    }
    let path = decoded.as_ref();
    // `url.ParseQuery`: the first value of each key counts; a bare key is an empty value.
    let mut query: HashMap<String, String> = HashMap::new();
    for (key, value) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        query.entry(key.into_owned()).or_insert(value.into_owned());
    }
    match path {
        "/version" => {
            let (major, minor) = snapshot.version;
            return ok_json(json!({
                "major": major.to_string(), "minor": minor.to_string(), "gitVersion": format!("v{major}.{minor}.0"),
                "gitCommit": "7c48c2bd72b9bf5c44d21d7338cc7bea77d0ad2a", "gitTreeState": "clean",
                "buildDate": "2024-05-13T22:02:25Z", "goVersion": "go1.22.2", "compiler": "gc", "platform": "linux/amd64",
            }));
        }
        "/livez" | "/readyz" => return health(&snapshot, path, query.contains_key("verbose")),
        "/api" => {
            return ok_json(
                json!({ "kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [ { "clientCIDR": "0.0.0.0/0", "serverAddress": "172.18.0.4:6443" } ] }),
            );
        }
        "/apis" => {
            let mut groups: Vec<&str> = RESOURCES
                .iter()
                .map(|r| r.0)
                .filter(|g| !g.is_empty())
                .collect();
            groups.dedup();
            let groups: Vec<Value> = groups
                .iter()
                .map(|g| json!({ "name": g, "versions": [ { "groupVersion": format!("{g}/v1"), "version": "v1" } ], "preferredVersion": { "groupVersion": format!("{g}/v1"), "version": "v1" } }))
                .collect();
            return ok_json(
                json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups }),
            );
        }
        _ => {}
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == "..")
    {
        return not_found_path();
    }
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return not_found_path(),
    };
    let served: Vec<_> = RESOURCES
        .iter()
        .filter(|r| r.0 == group && r.1 == version)
        .collect();
    if served.is_empty() {
        return not_found_path();
    }
    let gv = group_version(group, version);
    if rest.is_empty() {
        let resources: Vec<Value> = served
            .iter()
            .map(|r| json!({ "name": r.2, "singularName": r.3.to_lowercase(), "namespaced": r.4, "kind": r.3, "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"] }))
            .collect();
        return ok_json(
            json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources }),
        );
    }
    // `RequestInfoFactory`: the legacy `watch` verb in front of the resource, then the namespace,
    // then resource, name and subresource (and, for `proxy`, the path it proxies to).
    let (legacy_watch, rest) = match rest {
        ["watch", rest @ ..] if !rest.is_empty() => (true, rest),
        _ => (false, rest),
    };
    let (namespace, plural, name, subresource) = match rest {
        ["namespaces", name, sub @ ("status" | "finalize")] => {
            (None, "namespaces", Some(*name), Some(*sub))
        }
        ["namespaces", ns, plural] => (Some(*ns), *plural, None, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name), None),
        ["namespaces", ns, plural, name, sub, ..] => (Some(*ns), *plural, Some(*name), Some(*sub)),
        ["namespaces", name] => (None, "namespaces", Some(*name), None),
        [plural] => (None, *plural, None, None),
        [plural, name] => (None, *plural, Some(*name), None),
        [plural, name, sub, ..] => (None, *plural, Some(*name), Some(*sub)),
        _ => return not_found_path(),
    };
    // `ListOptions.watch` is a bool decoded from text: anything but `0` or `false` is true.
    let watch = legacy_watch
        || query
            .get("watch")
            .is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"));
    let Some(&&(_, _, _, kind, namespaced)) = served.iter().find(|r| r.2 == plural) else {
        return not_found_path();
    };
    let forbidden_verb = match &snapshot.mode {
        Mode::Forbid(forbidden) if forbidden == plural => Some(match name {
            _ if watch => "watch",
            Some(_) => "get",
            None => "list",
        }),
        Mode::ForbidWatch if watch => Some("watch"),
        _ => None,
    };
    if let Some(verb) = forbidden_verb {
        let scope = namespace.map_or("at the cluster scope".to_owned(), |ns| {
            format!("in the namespace \"{ns}\"")
        });
        return status(
            403,
            "Forbidden",
            format!(
                "{plural} is forbidden: User \"system:serviceaccount:lectern:lectern\" cannot {verb} resource \"{plural}\" in API group \"{group}\" {scope}"
            ),
            json!({ "kind": plural }),
        );
    }
    if let Some(user) = &snapshot.identity {
        let verb = match (&method, name) {
            (&Method::POST, _) => "create",
            _ if watch => "watch",
            (_, Some(_)) => "get",
            (_, None) => "list",
        };
        let self_review = kind.starts_with("SelfSubject");
        if !self_review
            && decide(
                &snapshot.objects,
                user,
                &identity_groups(user),
                verb,
                group,
                plural,
                namespace,
            )
            .is_none()
        {
            let scope = namespace.map_or("at the cluster scope".to_owned(), |ns| {
                format!("in the namespace \"{ns}\"")
            });
            return status(
                403,
                "Forbidden",
                format!(
                    "{plural} is forbidden: User \"{user}\" cannot {verb} resource \"{plural}\" in API group \"{group}\" {scope}"
                ),
                json!({ "kind": plural }),
            );
        }
    }
    if method == Method::POST {
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        return match kind {
            "SubjectAccessReview" => ok_json(review(&snapshot.objects, request)),
            "SelfSubjectRulesReview" => {
                let rules = match &snapshot.identity {
                    None => vec![json!({ "verbs": ["*"], "apiGroups": ["*"], "resources": ["*"] })],
                    Some(user) => rules_for(
                        &snapshot.objects,
                        user,
                        &identity_groups(user),
                        request["spec"]["namespace"].as_str(),
                    ),
                };
                ok_json(
                    json!({ "kind": kind, "apiVersion": gv, "spec": request["spec"], "status": { "resourceRules": rules, "nonResourceRules": [], "incomplete": false } }),
                )
            }
            _ => status(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource".into(),
                json!({}),
            ),
        };
    }
    let metadata_only = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=PartialObjectMetadata"));
    let read = if metadata_only { " (metadata)" } else { "" };
    if let (Some(sub), Some(name)) = (subresource, name) {
        record(format!("get {plural}/{sub}"));
        return match (plural, sub) {
            // Streaming subresources need a connection upgrade (SPDY or WebSocket).
            (_, "exec" | "attach" | "portforward") => status(
                400,
                "BadRequest",
                "Upgrade request required".into(),
                json!({}),
            ),
            ("pods", "log") => (
                StatusCode::OK,
                [("content-type", "text/plain")],
                format!("2026-12-04T09:00:00Z I1204 {name} started\n"),
            )
                .into_response(),
            ("nodes" | "services" | "pods", "proxy") => (
                StatusCode::OK,
                [("content-type", "text/plain")],
                format!("proxied to {name}\n"),
            )
                .into_response(),
            _ => not_found_path(),
        };
    }
    let matches = |o: &&Value| {
        o["apiVersion"] == gv.as_str()
            && o["kind"] == kind
            && (!namespaced
                || namespace.is_none()
                || o["metadata"]["namespace"] == namespace.unwrap_or_default())
    };
    if watch {
        record(format!("watch {plural}{read}"));
        let labels = query.get("labelSelector").cloned().unwrap_or_default();
        let mut fields = query.get("fieldSelector").cloned().unwrap_or_default();
        if let Some(name) = name {
            // `GET …/pods/NAME?watch=1` watches that one object: the API server turns the name
            // into a `metadata.name` field selector.
            fields = [fields, format!("metadata.name={name}")]
                .into_iter()
                .filter(|f| !f.is_empty())
                .collect::<Vec<_>>()
                .join(",");
        }
        let namespace = namespace.map(str::to_owned);
        let selected = move |o: &Value| {
            o["apiVersion"] == gv.as_str()
                && o["kind"] == kind
                && (!namespaced
                    || namespace.is_none()
                    || o["metadata"]["namespace"] == namespace.as_deref().unwrap_or_default())
                && label_selector_matches(&labels, &o["metadata"]["labels"])
                && field_selector_matches(&fields, o)
        };
        let timeout = query
            .get("timeoutSeconds")
            .and_then(|t| t.parse().ok())
            .unwrap_or(1800u64);
        let bookmarks = query
            .get("allowWatchBookmarks")
            .is_some_and(|v| v == "true" || v == "1");
        let from = query.get("resourceVersion").cloned().unwrap_or_default();
        return serve_watch(
            &state,
            WatchRequest {
                selected: Box::new(selected),
                kind: kind.to_owned(),
                api_version: group_version(group, version),
                metadata_only,
                from,
                bookmarks,
                timeout: std::time::Duration::from_secs(timeout),
            },
        );
    }
    record(format!(
        "{} {plural}{read}",
        if name.is_some() { "get" } else { "list" }
    ));
    match name {
        Some(name) => match snapshot
            .objects
            .iter()
            .filter(matches)
            .find(|o| o["metadata"]["name"] == name)
        {
            Some(object) if metadata_only => ok_json(
                json!({ "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"] }),
            ),
            Some(object) => ok_json(object.clone()),
            None => status(
                404,
                "NotFound",
                format!("{plural} \"{name}\" not found"),
                json!({ "name": name, "kind": plural }),
            ),
        },
        None => {
            let labels = query.get("labelSelector").map(String::as_str).unwrap_or("");
            let fields = query.get("fieldSelector").map(String::as_str).unwrap_or("");
            let items: Vec<Value> = snapshot
                .objects
                .iter()
                .filter(matches)
                .filter(|o| label_selector_matches(labels, &o["metadata"]["labels"]))
                .filter(|o| field_selector_matches(fields, o))
                .map(|o| {
                    if metadata_only {
                        json!({ "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"] })
                    } else {
                        let mut item = o.clone();
                        item.as_object_mut().unwrap().remove("apiVersion");
                        item.as_object_mut().unwrap().remove("kind");
                        item
                    }
                })
                .collect();
            if metadata_only {
                ok_json(
                    json!({ "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": { "resourceVersion": snapshot.revision.to_string() }, "items": items }),
                )
            } else {
                ok_json(
                    json!({ "kind": format!("{kind}List"), "apiVersion": gv, "metadata": { "resourceVersion": snapshot.revision.to_string() }, "items": items }),
                )
            }
        }
    }
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

fn not_found_path() -> Response {
    status(
        404,
        "NotFound",
        "the server could not find the requested resource".into(),
        json!({ "causes": [ { "reason": "UnexpectedServerResponse", "message": "404 page not found" } ] }),
    )
}

fn health(state: &ClusterState, path: &str, verbose: bool) -> Response {
    let name = path.trim_start_matches('/');
    let healthy = state.health.iter().all(|(_, ok)| *ok);
    let mut text = String::new();
    if verbose || !healthy {
        for (check, ok) in &state.health {
            text.push_str(&if *ok {
                format!("[+]{check} ok\n")
            } else {
                format!("[-]{check} failed: reason withheld\n")
            });
        }
    }
    text.push_str(&if healthy {
        format!("{name} check passed\n")
    } else {
        format!("{name} check failed\n")
    });
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    (code, [("content-type", "text/plain; charset=utf-8")], text).into_response()
}

/// Kubernetes label selector semantics: `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`.
pub fn label_selector_matches(selector: &str, labels: &Value) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&selector[start..]);
    terms
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| {
            let set = |rest: &str| -> Vec<String> {
                rest.trim()
                    .trim_start_matches('(')
                    .trim_end_matches(')')
                    .split(',')
                    .map(|v| v.trim().to_owned())
                    .collect()
            };
            if let Some((k, rest)) = term.split_once(" notin ") {
                !label(k.trim()).is_some_and(|v| set(rest).iter().any(|s| s == v))
            } else if let Some((k, rest)) = term.split_once(" in ") {
                label(k.trim()).is_some_and(|v| set(rest).iter().any(|s| s == v))
            } else if let Some((k, v)) = term.split_once("!=") {
                label(k.trim()) != Some(v.trim())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                label(k.trim()) == Some(v.trim())
            } else if let Some(k) = term.strip_prefix('!') {
                label(k.trim()).is_none()
            } else {
                label(term).is_some()
            }
        })
}

fn field_selector_matches(selector: &str, object: &Value) -> bool {
    selector
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| {
            let (path, expected, negate) = if let Some((p, v)) = term.split_once("!=") {
                (p, v, true)
            } else if let Some((p, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (p, v, false)
            } else {
                return false;
            };
            let value = path.split('.').fold(object, |v, key| &v[key]);
            let actual = value.as_str().unwrap_or("");
            (actual == expected) != negate
        })
}

fn identity_groups(user: &str) -> Vec<String> {
    let mut groups = vec!["system:authenticated".to_owned()];
    if let Some(rest) = user.strip_prefix("system:serviceaccount:") {
        let ns = rest.split(':').next().unwrap_or("");
        groups.push("system:serviceaccounts".to_owned());
        groups.push(format!("system:serviceaccounts:{ns}"));
    }
    groups
}

/// The bindings that apply to a user in a namespace (all ClusterRoleBindings, the namespace's
/// RoleBindings), with the subject that matched and the role they grant.
fn applicable<'a>(
    objects: &'a [Value],
    user: &str,
    groups: &[String],
    namespace: Option<&str>,
) -> Vec<(&'a Value, &'a Value, &'a Value)> {
    let find = |kind: &str, name: &str, ns: Option<&str>| {
        objects.iter().find(|o| {
            o["kind"] == kind
                && o["metadata"]["name"] == name
                && (ns.is_none() || o["metadata"]["namespace"] == ns.unwrap_or_default())
        })
    };
    let mut found = Vec::new();
    for binding in objects.iter().filter(|o| {
        o["kind"] == "ClusterRoleBinding"
            || (o["kind"] == "RoleBinding"
                && namespace.is_some()
                && o["metadata"]["namespace"] == namespace.unwrap_or_default())
    }) {
        let binding_ns = binding["metadata"]["namespace"].as_str();
        let subject =
            binding["subjects"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| match s["kind"].as_str() {
                    Some("ServiceAccount") => {
                        user == format!(
                            "system:serviceaccount:{}:{}",
                            s["namespace"].as_str().or(binding_ns).unwrap_or(""),
                            s["name"].as_str().unwrap_or("")
                        )
                    }
                    Some("User") => s["name"] == user,
                    Some("Group") => groups.iter().any(|g| s["name"] == g.as_str()),
                    _ => false,
                });
        let role_name = binding["roleRef"]["name"].as_str().unwrap_or("");
        let role = if binding["roleRef"]["kind"] == "ClusterRole" {
            find("ClusterRole", role_name, None)
        } else {
            find("Role", role_name, binding_ns)
        };
        if let (Some(subject), Some(role)) = (subject, role) {
            found.push((binding, subject, role));
        }
    }
    found
}

/// The RBAC authorizer's decision: the reason it gives when allowed, `None` when nothing grants it.
fn decide(
    objects: &[Value],
    user: &str,
    groups: &[String],
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> Option<String> {
    let has = |list: &Value, wanted: &str| {
        list.as_array()
            .is_some_and(|l| l.iter().any(|v| v == wanted || v == "*"))
    };
    for (binding, subject, role) in applicable(objects, user, groups, namespace) {
        let grants = role["rules"].as_array().into_iter().flatten().any(|rule| {
            has(&rule["apiGroups"], group)
                && has(&rule["resources"], resource)
                && has(&rule["verbs"], verb)
        });
        if !grants {
            continue;
        }
        let binding_ns = binding["metadata"]["namespace"].as_str();
        let binding_name = match (binding["kind"].as_str(), binding_ns) {
            (Some("RoleBinding"), Some(ns)) => format!(
                "RoleBinding \"{}/{ns}\"",
                binding["metadata"]["name"].as_str().unwrap_or("")
            ),
            _ => format!(
                "ClusterRoleBinding \"{}\"",
                binding["metadata"]["name"].as_str().unwrap_or("")
            ),
        };
        let subject_text = match subject["kind"].as_str() {
            Some("ServiceAccount") => format!(
                "ServiceAccount \"{}/{}\"",
                subject["name"].as_str().unwrap_or(""),
                subject["namespace"].as_str().or(binding_ns).unwrap_or("")
            ),
            Some(kind) => format!("{kind} \"{}\"", subject["name"].as_str().unwrap_or("")),
            None => String::new(),
        };
        return Some(format!(
            "RBAC: allowed by {binding_name} of {} \"{}\" to {subject_text}",
            binding["roleRef"]["kind"].as_str().unwrap_or(""),
            binding["roleRef"]["name"].as_str().unwrap_or("")
        ));
    }
    None
}

/// The RBAC authorizer's decision on a non-resource URL (`/metrics`, `/healthz`): rules list
/// `nonResourceURLs`, where a trailing `*` matches any suffix.
fn decide_non_resource(
    objects: &[Value],
    user: &str,
    groups: &[String],
    verb: &str,
    path: &str,
) -> Option<String> {
    let url_matches = |pattern: &str| match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    };
    // Non-resource URLs are cluster-scoped: only ClusterRoleBindings grant them.
    for (binding, _, role) in applicable(objects, user, groups, None)
        .into_iter()
        .filter(|(b, _, _)| b["kind"] == "ClusterRoleBinding")
    {
        let grants = role["rules"].as_array().into_iter().flatten().any(|rule| {
            rule["nonResourceURLs"]
                .as_array()
                .is_some_and(|urls| urls.iter().filter_map(Value::as_str).any(url_matches))
                && rule["verbs"]
                    .as_array()
                    .is_some_and(|vs| vs.iter().any(|v| v == verb || v == "*"))
        });
        if grants {
            return Some(format!(
                "RBAC: allowed by ClusterRoleBinding \"{}\" of ClusterRole \"{}\" to {}",
                binding["metadata"]["name"].as_str().unwrap_or(""),
                binding["roleRef"]["name"].as_str().unwrap_or(""),
                user
            ));
        }
    }
    None
}

/// What a SelfSubjectRulesReview reports: every resource rule granted to the user in the namespace.
fn rules_for(
    objects: &[Value],
    user: &str,
    groups: &[String],
    namespace: Option<&str>,
) -> Vec<Value> {
    applicable(objects, user, groups, namespace)
        .into_iter()
        .flat_map(|(_, _, role)| role["rules"].as_array().cloned().unwrap_or_default())
        .filter(|rule| rule.get("resources").is_some())
        .collect()
}

/// Decides a SubjectAccessReview from the RBAC objects, as the RBAC authorizer would, with its wording.
fn review(objects: &[Value], request: Value) -> Value {
    let spec = &request["spec"];
    let user = spec["user"].as_str().unwrap_or("");
    let groups: Vec<String> = spec["groups"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if let Some(non_resource) = spec.get("nonResourceAttributes").filter(|v| !v.is_null()) {
        let decision = decide_non_resource(
            objects,
            user,
            &groups,
            non_resource["verb"].as_str().unwrap_or(""),
            non_resource["path"].as_str().unwrap_or(""),
        );
        let status = match decision {
            Some(reason) => json!({ "allowed": true, "reason": reason }),
            None => json!({ "allowed": false }),
        };
        return json!({ "kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {}, "spec": spec, "status": status });
    }
    let attrs = &spec["resourceAttributes"];
    let namespace = attrs["namespace"].as_str().filter(|n| !n.is_empty());
    let (verb, group, resource) = (
        attrs["verb"].as_str().unwrap_or(""),
        attrs["group"].as_str().unwrap_or(""),
        attrs["resource"].as_str().unwrap_or(""),
    );
    let status = match decide(objects, user, &groups, verb, group, resource, namespace) {
        Some(reason) => json!({ "allowed": true, "reason": reason }),
        None => json!({ "allowed": false }),
    };
    json!({ "kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {}, "spec": spec, "status": status })
}

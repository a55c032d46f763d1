//! A recorded cluster state: what each kubeconfig context's API server answers to the requests a
//! lab's checks make, kept as one JSON file (`lab/tests/states/NAME.json`), and served in-process
//! to the same kube-rs client the checks use everywhere else.
//!
//! ```json
//! { "format": "lectern-state/1",
//!   "current-context": "kind-k8s-ha",
//!   "contexts": {
//!     "kind-k8s-ha": {
//!       "version": { "major": "1", "minor": "36", "gitVersion": "v1.36.1" },
//!       "readyz": [ { "check": "etcd", "ok": true } ],
//!       "livez": [ { "check": "etcd", "ok": true } ],
//!       "objects": [ { "apiVersion": "v1", "kind": "Node", "metadata": { "name": "…" } } ] } } }
//! ```

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::api::{self, Served};

/// The `format` a state file carries.
pub const FORMAT: &str = "lectern-state/1";

/// Every context's answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClusterState {
    /// [`FORMAT`].
    pub format: String,
    /// The context checks that name none ask.
    pub current_context: String,
    /// Each context's API server.
    pub contexts: BTreeMap<String, ContextState>,
}

/// One API server's answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextState {
    /// `/version`'s answer.
    pub version: Value,
    /// `/readyz?verbose`'s checks, in order.
    #[serde(default)]
    pub readyz: Vec<HealthCheck>,
    /// `/livez?verbose`'s checks, in order.
    #[serde(default)]
    pub livez: Vec<HealthCheck>,
    /// The objects the checks read, each with `apiVersion` and `kind`.
    #[serde(default)]
    pub objects: Vec<Value>,
}

/// One line of a health endpoint's verbose answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// Its name, e.g. `etcd`.
    pub check: String,
    /// Whether it passes.
    pub ok: bool,
}

impl ContextState {
    /// `/version`'s answer for a version such as `v1.36.1`.
    pub fn version_answer(git_version: &str) -> Value {
        let numbers: Vec<&str> = git_version.trim_start_matches('v').split('.').collect();
        json!({
            "major": numbers.first().copied().unwrap_or("1"),
            "minor": numbers.get(1).copied().unwrap_or("0"),
            "gitVersion": git_version,
        })
    }

    /// The index of the object of this kind, namespace and name.
    pub fn find(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<usize> {
        self.objects.iter().position(|o| {
            o["kind"] == kind
                && o["metadata"]["name"] == name
                && o["metadata"]["namespace"].as_str() == namespace
        })
    }
}

/// One context's API server, answering in-process: the service a replayed `Cluster`'s kube-rs
/// client sends its requests to.
#[derive(Debug, Clone)]
pub struct StateService {
    answers: Arc<Answers>,
}

/// A context's state with its health checks as the answerer reads them.
#[derive(Debug)]
struct Answers {
    state: ContextState,
    livez: Vec<(String, bool)>,
    readyz: Vec<(String, bool)>,
    /// The newest object's resourceVersion, which lists report.
    revision: u64,
}

impl StateService {
    /// Serves `state`; with no `livez` recorded, `/livez` lists the `readyz` checks.
    pub fn new(state: ContextState) -> Self {
        let pairs = |checks: &[HealthCheck]| -> Vec<(String, bool)> {
            checks.iter().map(|c| (c.check.clone(), c.ok)).collect()
        };
        let livez = if state.livez.is_empty() {
            pairs(&state.readyz)
        } else {
            pairs(&state.livez)
        };
        let readyz = pairs(&state.readyz);
        let revision = state
            .objects
            .iter()
            .filter_map(|o| {
                o["metadata"]["resourceVersion"]
                    .as_str()?
                    .parse::<u64>()
                    .ok()
            })
            .max()
            .unwrap_or(1);
        Self {
            answers: Arc::new(Answers {
                state,
                livez,
                readyz,
                revision,
            }),
        }
    }

    fn respond(&self, parts: &http::request::Parts, body: &[u8]) -> api::Answer {
        let route = match api::route(parts.uri.path(), parts.uri.query()) {
            Ok(route) => route,
            Err(answer) => return answer,
        };
        let Answers {
            state,
            livez,
            readyz,
            revision,
        } = &*self.answers;
        let metadata_only = parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("as=PartialObjectMetadata"));
        let served = Served {
            objects: &state.objects,
            livez,
            readyz,
            version: &state.version,
            revision: *revision,
            identity: None,
        };
        api::answer(&served, &parts.method, &route, metadata_only, body)
    }
}

impl StateService {
    /// A kube-rs client whose every request this service answers.
    pub fn client(self) -> kube::Client {
        let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
            let service = self.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let answer = service.respond(&parts, &body);
                let response = http::Response::builder()
                    .status(answer.status)
                    .header(http::header::CONTENT_TYPE, answer.content_type)
                    .body(Full::new(Bytes::from(answer.body)))
                    .unwrap_or_else(|_| http::Response::new(Full::new(Bytes::new())));
                Ok::<_, Infallible>(response)
            }
        });
        kube::Client::new(service, "default")
    }
}

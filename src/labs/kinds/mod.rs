//! One file per check kind: each asks the cluster, compares, and says what it saw.
//!
//! These files mirror `content/checks/`, where each kind's payload is parsed. To add a check kind:
//! 1. add its payload, keys and parse in `content/checks/` (see that module's steps);
//! 2. add a file here with one `pub(super) async fn` taking that payload and returning a
//!    [`Verdict`]: what was observed and, on failure, a message that names the likely slip; never
//!    read Secret data;
//! 3. dispatch to it in [`evaluate`] (the compiler asks for it), and say in [`watched`] which
//!    objects it reads, so the live checks watch them (none: it is re-asked at an interval);
//! 4. give the Kubernetes API double in `tests/common/kube_api.rs` what a real cluster answers, and
//!    test the kind passing, failing and erroring in `tests/it/labs.rs`;
//! 5. document it in the README's "Writing checks".

mod access;
mod count;
mod event;
mod health;
mod resource;
mod version;

pub(super) use version::major_minor;

use serde_json::Value;

use super::cluster::{Cluster, ClusterError};
use crate::content::CheckSpec;

/// A set of objects a check reads, which one watch can follow: a kind, where, and which ones.
/// Two checks that read the same set share one watch on a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Watched {
    /// The kind's apiVersion, e.g. `v1`, `coordination.k8s.io/v1`.
    pub api_version: String,
    /// The kind, e.g. `Lease`.
    pub kind: String,
    /// One namespace, or every namespace (and cluster-scoped kinds).
    pub namespace: Option<String>,
    /// Which objects, by label.
    pub label_selector: Option<String>,
    /// Which objects, by field (`metadata.name=…`, `involvedObject.kind=…`).
    pub field_selector: Option<String>,
}

impl Watched {
    fn new(api_version: &str, kind: &str, namespace: Option<&str>) -> Self {
        Self {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.map(str::to_owned),
            label_selector: None,
            field_selector: None,
        }
    }

    /// Whether only the objects' metadata may be read: Secrets, whose data never reaches Lectern.
    pub fn metadata_only(&self) -> bool {
        Cluster::is_secret(&self.api_version, &self.kind)
    }
}

/// The objects a check reads; empty for a kind that reads no objects (health, version), whose
/// answer is asked again at an interval instead ([`probed`]).
pub(super) fn watched(spec: &CheckSpec) -> Vec<Watched> {
    match spec {
        CheckSpec::Resource(check) => resource::watched(check),
        CheckSpec::Count(check) => count::watched(check),
        CheckSpec::Access(check) => access::watched(check),
        CheckSpec::Event(check) => event::watched(check),
        CheckSpec::Health(_) | CheckSpec::Version(_) => Vec::new(),
    }
}

/// The path a kind that reads no objects asks (health: its endpoint; version: `/version`), so
/// that the live checks ask it once for everyone and re-run a step only when its answer changes.
pub(super) fn probed(spec: &CheckSpec) -> Option<String> {
    match spec {
        CheckSpec::Health(check) => Some(format!("{}?verbose", check.endpoint.path())),
        CheckSpec::Version(_) => Some("/version".to_owned()),
        CheckSpec::Resource(_)
        | CheckSpec::Count(_)
        | CheckSpec::Access(_)
        | CheckSpec::Event(_) => None,
    }
}

/// The answer to one check, before timing and hint are added.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Verdict {
    pub(super) passed: bool,
    pub(super) message: String,
    pub(super) observed: Value,
}

impl Verdict {
    /// A check scoped to a context the kubeconfig does not have: the second cluster is not there.
    pub(super) fn missing_context(error: &ClusterError) -> Self {
        let observed = match error {
            ClusterError::NoContext { context, available } => {
                serde_json::json!({ "context": context, "available": available })
            }
            _ => Value::Null,
        };
        Self::new(false, error.to_string(), observed)
    }

    fn new(passed: bool, message: impl Into<String>, observed: Value) -> Self {
        Self {
            passed,
            message: message.into(),
            observed,
        }
    }
}

/// Evaluates one check against the cluster; `since` is when the step started, for the kinds
/// that see history (events).
pub(super) async fn evaluate(
    cluster: &Cluster,
    spec: &CheckSpec,
    since: Option<&str>,
) -> Result<Verdict, ClusterError> {
    match spec {
        CheckSpec::Resource(check) => resource::resource(cluster, check).await,
        CheckSpec::Count(check) => count::count(cluster, check).await,
        CheckSpec::Access(check) => access::access(cluster, check).await,
        CheckSpec::Event(check) => event::event(cluster, check, since).await,
        CheckSpec::Health(check) => health::health(cluster, check).await,
        CheckSpec::Version(check) => version::version(cluster, check).await,
    }
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

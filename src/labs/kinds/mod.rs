//! One file per check kind: each asks the cluster, compares, and says what it saw.
//!
//! To add a check kind:
//! 1. add its `CheckSpec` variant and its validation (fields, `file:line` messages) in
//!    `content/checks.rs`;
//! 2. add a file here with one `pub(super) async fn` that returns a [`Verdict`]: what was observed
//!    and, on failure, a message that names the likely slip; never read Secret data;
//! 3. dispatch to it in [`evaluate`];
//! 4. give the Kubernetes API double in `tests/common/kube_api.rs` what a real cluster answers, and
//!    test the kind passing, failing and erroring in `tests/it/labs.rs`;
//! 5. document it in the README's "Writing checks".

mod access;
mod count;
mod event;
mod health;
mod resource;
mod version;

use serde_json::Value;

use super::cluster::{Cluster, ClusterError};
use crate::content::CheckSpec;

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

/// Evaluates one check against the cluster.
pub(super) async fn evaluate(cluster: &Cluster, spec: &CheckSpec) -> Result<Verdict, ClusterError> {
    match spec {
        CheckSpec::Resource {
            target,
            absent,
            fields,
        } => resource::resource(cluster, target, *absent, fields).await,
        CheckSpec::Count {
            api_version,
            kind,
            namespace,
            label_selector,
            field_selector,
            min,
            max,
            ready,
        } => {
            let query = count::CountQuery {
                api_version,
                kind,
                namespace: namespace.as_deref(),
                label_selector: label_selector.as_deref(),
                field_selector: field_selector.as_deref(),
            };
            count::count(cluster, &query, *min, *max, *ready).await
        }
        CheckSpec::Access {
            subject,
            verb,
            on,
            allowed,
        } => access::access(cluster, subject, verb, on, *allowed).await,
        CheckSpec::Event {
            kind,
            namespace,
            name,
            reason,
            message,
            absent,
        } => {
            let about = event::About {
                kind,
                namespace: namespace.as_deref(),
                name: name.as_deref(),
            };
            event::event(cluster, &about, reason, message.as_ref(), *absent).await
        }
        CheckSpec::Health { endpoint, checks } => health::health(cluster, *endpoint, checks).await,
        CheckSpec::Version { at_least } => version::version(cluster, *at_least).await,
    }
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

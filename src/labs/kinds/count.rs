//! `check = "count"`: how many objects of a kind match selectors (and are Ready).

use kube::api::ListParams;
use serde_json::{Value, json};

use super::{Verdict, Watched};
use crate::content::CountCheck;
use crate::labs::cluster::{Cluster, ClusterError};

/// The objects it counts.
pub(super) fn watched(check: &CountCheck) -> Vec<Watched> {
    vec![Watched {
        label_selector: check.label_selector.clone(),
        field_selector: check.field_selector.clone(),
        ..Watched::new(&check.api_version, &check.kind, check.namespace.as_deref())
    }]
}

/// Counts the objects `check` selects.
pub(super) async fn count(cluster: &Cluster, check: &CountCheck) -> Result<Verdict, ClusterError> {
    let CountCheck {
        api_version,
        kind,
        namespace,
        label_selector,
        field_selector,
        min,
        max,
        ready,
    } = check;
    let (min, max, ready) = (*min, *max, *ready);
    let (namespace, label_selector, field_selector) = (
        namespace.as_deref(),
        label_selector.as_deref(),
        field_selector.as_deref(),
    );
    let (api, _) = cluster.api_for(api_version, kind, namespace).await?;
    let mut params = ListParams::default();
    if let Some(labels) = label_selector {
        params = params.labels(labels);
    }
    if let Some(fields) = field_selector {
        params = params.fields(fields);
    }
    let action = format!("list {}", kind);
    let (matching, not_ready): (Vec<String>, Vec<String>) = if Cluster::is_secret(api_version, kind)
    {
        let list = cluster.call(&action, api.list_metadata(&params)).await?;
        (
            list.items
                .into_iter()
                .map(|o| o.metadata.name.unwrap_or_default())
                .collect(),
            Vec::new(),
        )
    } else {
        let list = cluster.call(&action, api.list(&params)).await?;
        let mut matching = Vec::new();
        let mut not_ready = Vec::new();
        for object in list.items {
            let name = object.metadata.name.clone().unwrap_or_default();
            if !ready || is_ready(&serde_json::to_value(&object).unwrap_or(Value::Null)) {
                matching.push(name);
            } else {
                not_ready.push(name);
            }
        }
        (matching, not_ready)
    };
    let n = matching.len() as u32;
    let passed = min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m);
    let what = format!(
        "{}{}{}",
        if ready { "Ready " } else { "" },
        kind,
        if n == 1 { "" } else { "s" }
    );
    let scope = match (label_selector, field_selector) {
        (Some(l), Some(f)) => format!(" matching {l} and {f}"),
        (Some(s), None) | (None, Some(s)) => format!(" matching {s}"),
        (None, None) => String::new(),
    };
    let place = namespace
        .map(|ns| format!(" in namespace {ns}"))
        .unwrap_or_default();
    let mut message = format!(
        "found {n} {what}{scope}{place}, expected {}",
        bounds(min, max)
    );
    if !matching.is_empty() {
        message.push_str(&format!(": {}", matching.join(", ")));
    }
    if !not_ready.is_empty() {
        message.push_str(&format!(" (not Ready: {})", not_ready.join(", ")));
    }
    Ok(Verdict::new(
        passed,
        message,
        json!({ "count": n, "matching": matching, "not_ready": not_ready }),
    ))
}

fn bounds(min: Option<u32>, max: Option<u32>) -> String {
    match (min, max) {
        (Some(a), Some(b)) if a == b => format!("{a}"),
        (Some(a), Some(b)) => format!("{a} to {b}"),
        (Some(a), None) => format!("at least {a}"),
        (None, Some(b)) => format!("at most {b}"),
        (None, None) => "any number".to_owned(),
    }
}

/// Nodes: condition Ready is True. Pods: condition Ready is True and every container is ready.
fn is_ready(object: &Value) -> bool {
    let condition_ready = object["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    });
    let containers_ready = match object["status"]["containerStatuses"].as_array() {
        Some(statuses) => statuses.iter().all(|s| s["ready"] == true),
        None => object["kind"] != "Pod",
    };
    condition_ready && containers_ready
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn readiness_needs_the_condition_and_every_container() {
        let pod = |ready: bool, container: bool| json!({ "kind": "Pod", "status": { "conditions": [ { "type": "Ready", "status": if ready { "True" } else { "False" } } ], "containerStatuses": [ { "ready": container } ] } });
        assert!(is_ready(&pod(true, true)));
        assert!(!is_ready(&pod(true, false)));
        assert!(!is_ready(&pod(false, true)));
        let node = json!({ "kind": "Node", "status": { "conditions": [ { "type": "Ready", "status": "True" } ] } });
        assert!(is_ready(&node));
    }
}

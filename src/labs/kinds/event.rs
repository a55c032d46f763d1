//! `check = "event"`: whether the cluster recorded an event with a reason (and a message) about an
//! object: evidence that something happened, such as a node going NotReady or a pod being scheduled.

use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::ListParams;
use serde_json::{Value, json};

use super::{Verdict, Watched, plural};
use crate::content::EventCheck;
use crate::labs::cluster::{Cluster, ClusterError};

/// At most this many matching events are shown as evidence.
const SHOWN: usize = 5;

/// The events it looks for, selected as the check lists them.
pub(super) fn watched(check: &EventCheck) -> Vec<Watched> {
    vec![Watched {
        field_selector: Some(selector(check)),
        ..Watched::new("v1", "Event", check.namespace.as_deref())
    }]
}

/// The field selector of the events a check looks for.
fn selector(check: &EventCheck) -> String {
    let mut selector = format!("involvedObject.kind={},reason={}", check.kind, check.reason);
    if let Some(name) = &check.name {
        selector.push_str(&format!(",involvedObject.name={name}"));
    }
    selector
}

/// Looks for the events `check` describes; with `since` (when the step started), only events the
/// cluster recorded since then count: an earlier one is a leftover of another step.
pub(super) async fn event(
    cluster: &Cluster,
    check: &EventCheck,
    since: Option<&str>,
) -> Result<Verdict, ClusterError> {
    let EventCheck {
        kind,
        namespace,
        name,
        reason,
        message,
        absent,
    } = check;
    let (namespace, name, message, absent) = (
        namespace.as_deref(),
        name.as_deref(),
        message.as_ref(),
        *absent,
    );
    let api: Api<Event> = match namespace {
        Some(ns) => Api::namespaced(cluster.client.clone(), ns),
        None => Api::all(cluster.client.clone()),
    };
    let selector = selector(check);
    let list = cluster
        .call(
            "list events",
            api.list(&ListParams::default().fields(&selector)),
        )
        .await?;
    let mut with_reason: Vec<Value> = list
        .items
        .iter()
        .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
        .collect();
    // Newest first; events carry `lastTimestamp` (core/v1 recorders) or `eventTime` (events/v1).
    with_reason.sort_by_key(|e| std::cmp::Reverse(seen_at(e)));
    let started = since.and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
    // Events carry whole seconds: one in the second the step started counts.
    let is_recent = |e: &Value| {
        started.is_none_or(|start| {
            chrono::DateTime::parse_from_rfc3339(&seen_at(e))
                .is_ok_and(|at| at.timestamp() >= start.timestamp())
        })
    };
    let (with_reason, before_start): (Vec<Value>, Vec<Value>) =
        with_reason.into_iter().partition(is_recent);
    let matching: Vec<&Value> = with_reason
        .iter()
        .filter(|e| message.is_none_or(|re| re.is_match(e["message"].as_str().unwrap_or(""))))
        .collect();
    let what = match (name, namespace) {
        (Some(name), Some(ns)) => format!("{} {ns}/{name}", kind),
        (Some(name), None) => format!("{} {name}", kind),
        (None, Some(ns)) => format!("any {} in namespace {ns}", kind),
        (None, None) => format!("any {}", kind),
    };
    let shown: Vec<Value> = matching.iter().take(SHOWN).map(|e| summary(e)).collect();
    let observed = json!({
        "count": matching.len(), "with_reason": with_reason.len(), "events": shown,
        "since": since, "before_start": before_start.len(),
    });
    let pattern = message
        .map(|re| format!(" whose message matches /{re}/"))
        .unwrap_or_default();
    let verdict = match (matching.first(), absent) {
        (Some(latest), _) => {
            let about_object = latest["involvedObject"]["name"].as_str().unwrap_or("");
            let text = format!(
                "found {} {reason} event{}{pattern} about {what}; the latest, about {about_object}: \"{}\"",
                matching.len(),
                plural(matching.len()),
                latest["message"].as_str().unwrap_or("").trim()
            );
            if absent {
                Verdict::new(false, format!("{text}; expected none"), observed)
            } else {
                Verdict::new(true, text, observed)
            }
        }
        (None, true) => Verdict::new(
            true,
            format!("no {reason} event{pattern} about {what}, as expected"),
            observed,
        ),
        (None, false) => {
            let mut text = format!("no {reason} event{pattern} about {what}");
            if let (Some(pattern), Some(latest)) = (message, with_reason.first()) {
                text.push_str(&format!(
                    " ({} {reason} event{} with other messages, the latest: \"{}\", which does not match /{pattern}/)",
                    with_reason.len(),
                    plural(with_reason.len()),
                    latest["message"].as_str().unwrap_or("").trim()
                ));
            }
            match (since, before_start.first()) {
                (Some(since), Some(earlier)) => text.push_str(&format!(
                    " since this step started at {since}; {} from before then (the latest at {}: \"{}\") belong{} to an earlier step and do not count: do it now",
                    if before_start.len() == 1 { "the one".to_owned() } else { format!("the {}", before_start.len()) },
                    seen_at(earlier),
                    earlier["message"].as_str().unwrap_or("").trim(),
                    if before_start.len() == 1 { "s" } else { "" },
                )),
                (Some(since), None) => text.push_str(&format!(" since this step started at {since}")),
                (None, _) => text.push_str(
                    "; the API server keeps events for one hour (--event-ttl), so an older one is gone",
                ),
            }
            Verdict::new(false, text, observed)
        }
    };
    Ok(verdict)
}

/// When the event was last seen, as RFC 3339 text (which sorts in time order).
fn seen_at(event: &Value) -> String {
    ["lastTimestamp", "eventTime", "firstTimestamp"]
        .iter()
        .find_map(|key| event[*key].as_str())
        .unwrap_or("")
        .to_owned()
}

fn summary(event: &Value) -> Value {
    json!({
        "object": format!("{}/{}", event["involvedObject"]["kind"].as_str().unwrap_or(""), event["involvedObject"]["name"].as_str().unwrap_or("")),
        "namespace": event["metadata"]["namespace"],
        "reason": event["reason"],
        "message": event["message"],
        "type": event["type"],
        "count": event["count"],
        "last_seen": seen_at(event),
        "source": event["source"]["component"].as_str().or(event["reportingComponent"].as_str()),
    })
}

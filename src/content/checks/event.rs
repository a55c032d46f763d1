//! `check = "event"`: whether the cluster recorded an event (by reason, optionally message) about
//! an object.

use regex::Regex;

use super::{CheckToml, Parsing};

/// The keys an event check reads.
pub(super) const KEYS: &[&str] = &[
    "kind",
    "namespace",
    "name",
    "reason",
    "message_matches",
    "absent",
];

/// Whether the cluster recorded an event (by reason, optionally message) about an object.
#[derive(Debug, Clone)]
pub struct EventCheck {
    /// The kind of the object the event is about (`involvedObject.kind`), e.g. `Node`, `Pod`.
    pub kind: String,
    /// The object's namespace; `None` looks in every namespace (events about cluster-scoped
    /// objects such as Nodes are kept in `default`).
    pub namespace: Option<String>,
    /// The object's name; `None` means any object of the kind.
    pub name: Option<String>,
    /// The event's reason, e.g. `NodeNotReady`, `FailedScheduling`.
    pub reason: String,
    /// A pattern the event's message must match.
    pub message: Option<Regex>,
    /// Passes when there is no such event.
    pub absent: bool,
}

/// Validates an event check's keys.
pub(super) fn parse(toml: CheckToml, cx: &mut Parsing<'_>) -> Option<EventCheck> {
    cx.require(toml.kind.is_some(), "kind");
    cx.require(toml.reason.is_some(), "reason");
    let message = toml.message_matches.and_then(|re| {
        let span = re.span().start;
        Regex::new(re.get_ref())
            .map_err(|e| {
                cx.errors
                    .push((span, format!("invalid regular expression: {e}")))
            })
            .ok()
    });
    Some(EventCheck {
        kind: toml.kind.unwrap_or_default(),
        namespace: toml.namespace,
        name: toml.name,
        reason: toml.reason.unwrap_or_default(),
        message,
        absent: toml.absent.unwrap_or(false),
    })
}

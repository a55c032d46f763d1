//! `check = "count"`: how many objects of a kind match selectors (and are Ready).

use regex::Regex;
use toml::Spanned;

use super::{CheckToml, Parsing};

/// The keys a count check reads.
pub(super) const KEYS: &[&str] = &[
    "api_version",
    "kind",
    "namespace",
    "label_selector",
    "field_selector",
    "min",
    "max",
    "exactly",
    "ready",
];

/// How many objects of a kind match selectors.
#[derive(Debug, Clone)]
pub struct CountCheck {
    /// `v1`, `apps/v1`, …
    pub api_version: String,
    /// `Node`, `Pod`, …
    pub kind: String,
    /// `None` for cluster-scoped kinds or all namespaces.
    pub namespace: Option<String>,
    /// Kubernetes label selector syntax, passed to the API server.
    pub label_selector: Option<String>,
    /// Kubernetes field selector syntax, passed to the API server.
    pub field_selector: Option<String>,
    /// Inclusive lower bound.
    pub min: Option<u32>,
    /// Inclusive upper bound.
    pub max: Option<u32>,
    /// Count only Ready objects (nodes: Ready condition; pods: Ready and all containers ready).
    pub ready: bool,
}

/// Validates a count check's keys.
pub(super) fn parse(toml: CheckToml, cx: &mut Parsing<'_>) -> Option<CountCheck> {
    cx.require(toml.api_version.is_some(), "api_version");
    cx.require(toml.kind.is_some(), "kind");
    let name = cx.name;
    let (min, max) = match (toml.exactly, toml.min, toml.max) {
        (Some(n), None, None) => (Some(n), Some(n)),
        (None, None, None) => {
            cx.error(format!("check `{name}` needs `exactly`, `min` or `max`"));
            (None, None)
        }
        (Some(_), _, _) => {
            cx.error(format!(
                "check `{name}`: use either `exactly` or `min`/`max`"
            ));
            (None, None)
        }
        (None, min, max) => (min, max),
    };
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        cx.error(format!("check `{name}`: min {lo} is greater than max {hi}"));
    }
    let ready = toml.ready.unwrap_or(false);
    if ready && !matches!(toml.kind.as_deref(), Some("Node" | "Pod")) {
        cx.error(format!(
            "check `{name}`: `ready` applies to Node and Pod counts only"
        ));
    }
    if let Some(selector) = &toml.label_selector
        && let Err(e) = validate_label_selector(selector.get_ref())
    {
        cx.errors.push((selector.span().start, e));
    }
    if let Some(selector) = &toml.field_selector
        && let Err(e) = validate_field_selector(selector.get_ref())
    {
        cx.errors.push((selector.span().start, e));
    }
    Some(CountCheck {
        api_version: toml.api_version.unwrap_or_default(),
        kind: toml.kind.unwrap_or_default(),
        namespace: toml.namespace,
        label_selector: toml.label_selector.map(Spanned::into_inner),
        field_selector: toml.field_selector.map(Spanned::into_inner),
        min,
        max,
        ready,
    })
}

fn label_key_value() -> (&'static str, &'static str) {
    (
        r"(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?",
        r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?",
    )
}

/// Checks Kubernetes label selector syntax: `a=b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x)`.
fn validate_label_selector(selector: &str) -> Result<(), String> {
    let (key, value) = label_key_value();
    let term = Regex::new(&format!(
        r"^\s*(?:!?\s*{key}|{key}\s*(?:==|=|!=)\s*{value}|{key}\s+(?:in|notin)\s+\(\s*{value}(?:\s*,\s*{value})*\s*\))\s*$"
    ))
    .expect("label selector grammar");
    for term_text in split_terms(selector) {
        if !term.is_match(term_text) {
            return Err(format!(
                "invalid label selector `{selector}`: cannot read `{}`",
                term_text.trim()
            ));
        }
    }
    Ok(())
}

/// Checks Kubernetes field selector syntax: `key=value`, `key==value`, `key!=value`, comma-separated.
fn validate_field_selector(selector: &str) -> Result<(), String> {
    let term = Regex::new(r"^\s*[A-Za-z][A-Za-z0-9.]*\s*(?:==|=|!=)\s*[^,=!]*\s*$")
        .expect("field selector grammar");
    for term_text in selector.split(',') {
        if !term.is_match(term_text) {
            return Err(format!(
                "invalid field selector `{selector}`: cannot read `{}`",
                term_text.trim()
            ));
        }
    }
    Ok(())
}

/// Splits a label selector into its terms, at commas outside parentheses (`k in (a,b)` is one).
pub fn split_terms(selector: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selectors_follow_kubernetes_syntax() {
        for good in [
            "component=etcd",
            "tier=control-plane,component in (etcd, kube-apiserver)",
            "node-role.kubernetes.io/control-plane",
            "!node-role.kubernetes.io/control-plane",
            "app!=web",
            "topology.kubernetes.io/zone notin (zone-a)",
            "a==b",
        ] {
            assert!(validate_label_selector(good).is_ok(), "{good}");
        }
        for bad in ["=etcd", "a in b", "a=b=c", "a b", "tier=control plane", ""] {
            assert!(validate_label_selector(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn field_selectors_follow_kubernetes_syntax() {
        assert!(
            validate_field_selector("status.phase=Running,spec.nodeName!=k8s-ha-worker").is_ok()
        );
        assert!(validate_field_selector("metadata.name==x").is_ok());
        for bad in ["status.phase", "=Running", "status.phase~Running"] {
            assert!(validate_field_selector(bad).is_err(), "{bad:?} accepted");
        }
    }
}

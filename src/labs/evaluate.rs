//! One function per check kind: ask the cluster, compare, and say what was seen.

use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::{Value, json};

use super::cluster::{Cluster, ClusterError};
use super::near_miss;
use crate::content::{
    CheckSpec, FieldAssertion, FieldTest, HealthEndpoint, ObjectRef, PathSegment, Subject,
};

/// The answer to one check, before timing and hint are added.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Verdict {
    pub(super) passed: bool,
    pub(super) message: String,
    pub(super) observed: Value,
}

impl Verdict {
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
        } => resource(cluster, target, *absent, fields).await,
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
            let query = CountQuery {
                api_version,
                kind,
                namespace: namespace.as_deref(),
                label_selector: label_selector.as_deref(),
                field_selector: field_selector.as_deref(),
            };
            count(cluster, &query, *min, *max, *ready).await
        }
        CheckSpec::Access {
            subject,
            verb,
            group,
            resource,
            namespace,
            allowed,
        } => {
            access(
                cluster,
                subject,
                verb,
                group,
                resource,
                namespace.as_deref(),
                *allowed,
            )
            .await
        }
        CheckSpec::Health { endpoint, checks } => health(cluster, *endpoint, checks).await,
        CheckSpec::Version { at_least } => version(cluster, *at_least).await,
    }
}

async fn resource(
    cluster: &Cluster,
    target: &ObjectRef,
    absent: bool,
    fields: &[FieldAssertion],
) -> Result<Verdict, ClusterError> {
    let (api, namespaced) = cluster
        .api_for(
            &target.api_version,
            &target.kind,
            target.namespace.as_deref(),
        )
        .await?;
    let action = format!("get {} {}", target.kind, target.name);
    let object: Option<Value> = if Cluster::is_secret(&target.api_version, &target.kind) {
        cluster
            .call(&action, api.get_metadata_opt(&target.name))
            .await?
            .map(|m| json!({ "metadata": m.metadata }))
    } else {
        cluster
            .call(&action, api.get_opt(&target.name))
            .await?
            .map(|o| serde_json::to_value(o).unwrap_or(Value::Null))
    };
    let target_text = if namespaced {
        target.to_string()
    } else {
        ObjectRef {
            namespace: None,
            ..target.clone()
        }
        .to_string()
    };
    match (object, absent) {
        (None, true) => Ok(Verdict::new(
            true,
            format!("{target_text} does not exist, as expected"),
            json!({ "exists": false }),
        )),
        (Some(_), true) => Ok(Verdict::new(
            false,
            format!("{target_text} exists, but it should not"),
            json!({ "exists": true }),
        )),
        (None, false) => {
            let slips = near_miss::diagnose(cluster, target, namespaced).await;
            let mut message = format!("{target_text} not found");
            if !slips.is_empty() {
                message.push_str(&format!("; {}", slips.join("; ")));
            }
            Ok(Verdict::new(
                false,
                message,
                json!({ "exists": false, "likely_slips": slips }),
            ))
        }
        (Some(object), false) => {
            let mut observed = serde_json::Map::new();
            let mut failures = Vec::new();
            for assertion in fields {
                let values = select(&object, &assertion.path);
                observed.insert(assertion.path_text.clone(), Value::Array(values.clone()));
                if let Some(failure) = assert_field(assertion, &values) {
                    failures.push(failure);
                }
            }
            let observed = json!({ "exists": true, "fields": observed });
            if failures.is_empty() {
                let suffix = if fields.is_empty() {
                    String::new()
                } else {
                    format!(
                        " with {} expected field value{}",
                        fields.len(),
                        plural(fields.len())
                    )
                };
                Ok(Verdict::new(
                    true,
                    format!("found {target_text}{suffix}"),
                    observed,
                ))
            } else {
                Ok(Verdict::new(
                    false,
                    format!("found {target_text}, but {}", failures.join("; ")),
                    observed,
                ))
            }
        }
    }
}

/// The values a path selects; `[*]` fans out.
pub(super) fn select(value: &Value, path: &[PathSegment]) -> Vec<Value> {
    let Some((first, rest)) = path.split_first() else {
        return vec![value.clone()];
    };
    match first {
        PathSegment::Key(key) => value.get(key).map(|v| select(v, rest)).unwrap_or_default(),
        PathSegment::Index(i) => value.get(i).map(|v| select(v, rest)).unwrap_or_default(),
        PathSegment::All => value
            .as_array()
            .map(|items| items.iter().flat_map(|v| select(v, rest)).collect())
            .unwrap_or_default(),
    }
}

/// `None` when the assertion holds for every selected value (and there is at least one).
fn assert_field(assertion: &FieldAssertion, values: &[Value]) -> Option<String> {
    let path = &assertion.path_text;
    if values.is_empty() {
        return Some(format!("it has no field {path}"));
    }
    let expected = match &assertion.test {
        FieldTest::Equals(v) => format!("expected {v}"),
        FieldTest::Contains(v) => format!("expected it to contain {v}"),
        FieldTest::Matches(re) => format!("expected it to match /{re}/"),
        FieldTest::OneOf(vs) => format!("expected only values from {}", Value::Array(vs.clone())),
    };
    let bad: Vec<String> = values
        .iter()
        .filter(|v| !test_value(&assertion.test, v))
        .map(Value::to_string)
        .collect();
    if bad.is_empty() {
        None
    } else {
        Some(format!("{path} is {}, {expected}", bad.join(", ")))
    }
}

fn test_value(test: &FieldTest, value: &Value) -> bool {
    match test {
        FieldTest::Equals(expected) => value == expected,
        FieldTest::Contains(needle) => match (value, needle) {
            (Value::String(s), Value::String(n)) => s.contains(n.as_str()),
            (Value::Array(items), n) => items.contains(n),
            (Value::Object(map), Value::String(key)) => map.contains_key(key),
            _ => false,
        },
        FieldTest::Matches(re) => value.as_str().is_some_and(|s| re.is_match(s)),
        FieldTest::OneOf(allowed) => match value {
            Value::Array(items) => items.iter().all(|item| allowed.contains(item)),
            other => allowed.contains(other),
        },
    }
}

struct CountQuery<'a> {
    api_version: &'a str,
    kind: &'a str,
    namespace: Option<&'a str>,
    label_selector: Option<&'a str>,
    field_selector: Option<&'a str>,
}

async fn count(
    cluster: &Cluster,
    query: &CountQuery<'_>,
    min: Option<u32>,
    max: Option<u32>,
    ready: bool,
) -> Result<Verdict, ClusterError> {
    let (api, _) = cluster
        .api_for(query.api_version, query.kind, query.namespace)
        .await?;
    let mut params = ListParams::default();
    if let Some(labels) = query.label_selector {
        params = params.labels(labels);
    }
    if let Some(fields) = query.field_selector {
        params = params.fields(fields);
    }
    let action = format!("list {}", query.kind);
    let (matching, not_ready): (Vec<String>, Vec<String>) =
        if Cluster::is_secret(query.api_version, query.kind) {
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
        query.kind,
        if n == 1 { "" } else { "s" }
    );
    let scope = match (query.label_selector, query.field_selector) {
        (Some(l), Some(f)) => format!(" matching {l} and {f}"),
        (Some(s), None) | (None, Some(s)) => format!(" matching {s}"),
        (None, None) => String::new(),
    };
    let place = query
        .namespace
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

async fn access(
    cluster: &Cluster,
    subject: &Subject,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
    expected: bool,
) -> Result<Verdict, ClusterError> {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
    };
    let (user, groups) = match subject {
        Subject::ServiceAccount { namespace, name } => (
            Some(format!("system:serviceaccount:{namespace}:{name}")),
            vec![
                "system:serviceaccounts".to_owned(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".to_owned(),
            ],
        ),
        Subject::User(user) => (Some(user.clone()), vec!["system:authenticated".to_owned()]),
        Subject::Group(group) => (None, vec![group.clone()]),
    };
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user,
            groups: Some(groups),
            resource_attributes: Some(ResourceAttributes {
                namespace: namespace.map(str::to_owned),
                verb: Some(verb.to_owned()),
                group: Some(group.to_owned()),
                resource: Some(resource.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(cluster.client.clone());
    let answer = cluster
        .call(
            "create subjectaccessreviews",
            api.create(&PostParams::default(), &review),
        )
        .await?;
    let status = answer.status.unwrap_or_default();
    let qualified = if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    };
    let place = namespace.map_or_else(
        || "across the cluster".to_owned(),
        |ns| format!("in namespace {ns}"),
    );
    let reason = status.reason.clone().unwrap_or_default();
    let message = if status.allowed {
        let grant = if reason.is_empty() {
            String::new()
        } else {
            format!(" ({reason})")
        };
        format!("{subject} may {verb} {qualified} {place}{grant}")
    } else {
        let why = if reason.is_empty() {
            "no RBAC binding grants it".to_owned()
        } else {
            format!("no RBAC binding grants it ({reason})")
        };
        format!("{subject} may not {verb} {qualified} {place}: {why}")
    };
    let passed = status.allowed == expected;
    let message = if passed {
        message
    } else {
        format!(
            "{message}; expected it to be {}",
            if expected { "allowed" } else { "denied" }
        )
    };
    Ok(Verdict::new(
        passed,
        message,
        json!({ "allowed": status.allowed, "denied": status.denied.unwrap_or(false), "reason": reason }),
    ))
}

async fn health(
    cluster: &Cluster,
    endpoint: HealthEndpoint,
    required: &[String],
) -> Result<Verdict, ClusterError> {
    use http_body_util::BodyExt;
    let path = format!("{}?verbose", endpoint.path());
    let request = http::Request::get(&path)
        .body(kube::client::Body::empty())
        .map_err(|e| ClusterError::Malformed(e.to_string()))?;
    let action = format!("get {}", endpoint.path());
    let response = cluster.call(&action, cluster.client.send(request)).await?;
    let code = response.status().as_u16();
    if code == 401 {
        return Err(ClusterError::Unauthorized {
            url: cluster.url.clone(),
        });
    }
    if code == 403 {
        return Err(ClusterError::Forbidden {
            action,
            message: format!("{path} is forbidden"),
        });
    }
    let body = match tokio::time::timeout(cluster.timeout, response.into_body().collect()).await {
        Err(_) => return Err(cluster.timed_out()),
        Ok(Err(e)) => return Err(cluster.classify(&action, e)),
        Ok(Ok(body)) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
    };
    let checks: serde_json::Map<String, Value> = body
        .lines()
        .filter_map(|line| {
            let (ok, rest) = if let Some(rest) = line.strip_prefix("[+]") {
                (true, rest)
            } else {
                (false, line.strip_prefix("[-]")?)
            };
            let (name, detail) = rest.split_once(' ').unwrap_or((rest, ""));
            Some((
                name.to_owned(),
                json!(if ok {
                    "ok".to_owned()
                } else {
                    detail.to_owned()
                }),
            ))
        })
        .collect();
    if code != 200 && checks.is_empty() {
        return Err(ClusterError::Api {
            code,
            message: body.trim().chars().take(200).collect(),
        });
    }
    let mut problems = Vec::new();
    for name in required {
        match checks.get(name) {
            Some(v) if v == "ok" => {}
            Some(v) => problems.push(format!("{name} {}", v.as_str().unwrap_or("failed"))),
            None => problems.push(format!(
                "no check named {name} (it has: {})",
                checks.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
        }
    }
    let failing: Vec<String> = checks
        .iter()
        .filter(|(_, v)| *v != "ok")
        .map(|(k, _)| k.clone())
        .collect();
    let observed = json!({ "status": code, "checks": checks });
    let named = if required.is_empty() {
        String::new()
    } else {
        format!(" ({} ok)", required.join(", "))
    };
    if code == 200 && problems.is_empty() {
        Ok(Verdict::new(
            true,
            format!("{} passes{named}", endpoint.path()),
            observed,
        ))
    } else {
        let mut parts = problems;
        if code != 200 {
            parts.insert(
                0,
                format!(
                    "{} answered {code}; failing checks: {}",
                    endpoint.path(),
                    failing.join(", ")
                ),
            );
        }
        Ok(Verdict::new(false, parts.join("; "), observed))
    }
}

async fn version(cluster: &Cluster, at_least: (u32, u32)) -> Result<Verdict, ClusterError> {
    let info = cluster.ping().await?;
    let major: u32 = info.major.trim_end_matches('+').parse().unwrap_or(0);
    let minor: u32 = info.minor.trim_end_matches('+').parse().unwrap_or(0);
    let passed = (major, minor) >= at_least;
    let message = format!(
        "the server is {} (Kubernetes {major}.{minor}), at least {}.{} is required",
        info.git_version, at_least.0, at_least.1
    );
    Ok(Verdict::new(
        passed,
        message,
        json!({ "git_version": info.git_version, "major": major, "minor": minor }),
    ))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::PathSegment::*;

    #[test]
    fn paths_select_and_fan_out() {
        let object = json!({ "rules": [ { "verbs": ["get", "list"] }, { "verbs": ["watch"] } ], "metadata": { "labels": { "a.b/c": "x" } } });
        assert_eq!(
            select(&object, &[Key("rules".into()), All, Key("verbs".into())]),
            vec![json!(["get", "list"]), json!(["watch"])]
        );
        assert_eq!(
            select(
                &object,
                &[
                    Key("metadata".into()),
                    Key("labels".into()),
                    Key("a.b/c".into())
                ]
            ),
            vec![json!("x")]
        );
        assert!(select(&object, &[Key("spec".into())]).is_empty());
    }

    #[test]
    fn one_of_applies_to_every_array_element() {
        let test = FieldTest::OneOf(vec![json!("get"), json!("list"), json!("watch")]);
        assert!(test_value(&test, &json!(["get", "watch"])));
        assert!(!test_value(&test, &json!(["get", "delete"])));
        assert!(!test_value(&test, &json!(["*"])));
    }

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

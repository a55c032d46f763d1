//! `check = "resource"`: an object exists (or not), with fields as asked; a missing one is
//! explained by [`near_miss`](crate::labs::near_miss).

use serde_json::{Value, json};

use super::{Verdict, Watched};
use crate::content::{FieldAssertion, FieldTest, ObjectRef, PathSegment, ResourceCheck};
use crate::labs::cluster::{Cluster, ClusterError};
use crate::labs::near_miss;

/// The object, by name in every namespace: one made in the wrong namespace changes what
/// [`near_miss`] says.
pub(super) fn watched(check: &ResourceCheck) -> Vec<Watched> {
    let target = &check.target;
    vec![Watched {
        field_selector: Some(format!("metadata.name={}", target.name)),
        ..Watched::new(&target.api_version, &target.kind, None)
    }]
}

/// Reads the object `check` names and tests its fields.
pub(super) async fn resource(
    cluster: &Cluster,
    check: &ResourceCheck,
) -> Result<Verdict, ClusterError> {
    let ResourceCheck {
        target,
        absent,
        fields,
    } = check;
    let absent = *absent;
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
            let mut seen = Vec::new();
            for assertion in fields {
                let values = select(&object, &assertion.path);
                observed.insert(assertion.path_text.clone(), Value::Array(values.clone()));
                match assert_field(assertion, &values) {
                    Some(failure) => failures.push(failure),
                    None => seen.push(what_held(assertion, &values)),
                }
            }
            let observed = json!({ "exists": true, "fields": observed });
            if failures.is_empty() {
                let suffix = if seen.is_empty() {
                    String::new()
                } else {
                    format!(": {}", seen.join("; "))
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

/// What a passing assertion saw, short enough to read: `spec.leaseTransitions is 1`, or for long
/// values (a list of rules) what was asked, `rules has an element with …`.
fn what_held(assertion: &FieldAssertion, values: &[Value]) -> String {
    /// Longer observed values are summarised by the assertion instead.
    const SHOWN: usize = 60;
    let path = &assertion.path_text;
    let shown: Vec<String> = values.iter().map(Value::to_string).collect();
    let shown = shown.join(", ");
    match &assertion.test {
        FieldTest::Some(inner) => format!(
            "{path} has an element with {}",
            inner.iter().map(describe).collect::<Vec<_>>().join(" and ")
        ),
        _ if shown.chars().count() <= SHOWN => format!("{path} is {shown}"),
        test => format!("{path} as expected ({})", expectation(test)),
    }
}

/// The values a path selects; `[*]` fans out.
fn select(value: &Value, path: &[PathSegment]) -> Vec<Value> {
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

/// `None` when the assertion holds for every selected value (and there is at least one); for
/// `some`, when at least one element satisfies all of its assertions.
fn assert_field(assertion: &FieldAssertion, values: &[Value]) -> Option<String> {
    let path = &assertion.path_text;
    if values.is_empty() {
        return Some(format!("it has no field {path}"));
    }
    if let FieldTest::Some(inner) = &assertion.test {
        return assert_some(path, inner, values);
    }
    let expected = format!("expected {}", expectation(&assertion.test));
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

/// `some`: the elements are the items of each selected list (or the selected values themselves);
/// one of them must satisfy every inner assertion.
fn assert_some(path: &str, inner: &[FieldAssertion], values: &[Value]) -> Option<String> {
    let elements: Vec<&Value> = values
        .iter()
        .flat_map(|v| match v {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        })
        .collect();
    let satisfies = |element: &Value| {
        inner
            .iter()
            .all(|a| assert_field(a, &select(element, &a.path)).is_none())
    };
    if elements.iter().any(|e| satisfies(e)) {
        return None;
    }
    let wanted: Vec<String> = inner.iter().map(describe).collect();
    let seen = if elements.is_empty() {
        "it is empty".to_owned()
    } else {
        // The closest element's failures say what is missing: the Ready condition of a node
        // that is not Ready, not its first condition (MemoryPressure).
        let closest = elements
            .iter()
            .enumerate()
            .max_by_key(|(i, e)| (closeness(inner, e), std::cmp::Reverse(*i)))
            .map(|(_, e)| *e)
            .unwrap_or(elements[0]);
        let why: Vec<String> = inner
            .iter()
            .filter_map(|a| assert_field(a, &select(closest, &a.path)))
            .collect();
        match elements.len() {
            1 => format!("1 element checked: {}", why.join("; ")),
            n => format!("{n} elements checked; the closest: {}", why.join("; ")),
        }
    };
    Some(format!(
        "no element of {path} has {} ({seen})",
        wanted.join(" and ")
    ))
}

/// How near `element` comes to satisfying every one of `inner`: how many it satisfies, then how
/// many leading characters its failing strings share with what was expected, so that
/// `--authorization-mode=RBAC` is nearer to `^--authorization-mode=Node,RBAC$` than
/// `kube-apiserver` is.
fn closeness(inner: &[FieldAssertion], element: &Value) -> (usize, usize) {
    let (mut held, mut shared) = (0, 0);
    for assertion in inner {
        let values = select(element, &assertion.path);
        if assert_field(assertion, &values).is_none() {
            held += 1;
            continue;
        }
        let expected = match &assertion.test {
            FieldTest::Equals(Value::String(text)) => text.clone(),
            FieldTest::Matches(re) => re
                .as_str()
                .trim_start_matches('^')
                .chars()
                .take_while(|c| !r"\.^$|?*+()[]{}".contains(*c))
                .collect(),
            _ => continue,
        };
        shared += values
            .iter()
            .filter_map(Value::as_str)
            .map(|v| {
                v.chars()
                    .zip(expected.chars())
                    .take_while(|(a, b)| a == b)
                    .count()
            })
            .max()
            .unwrap_or(0);
    }
    (held, shared)
}

/// What a test expects, after "expected": `"zone-c"`, `at least 2`.
fn expectation(test: &FieldTest) -> String {
    match test {
        FieldTest::Equals(v) => v.to_string(),
        FieldTest::Contains(v) => format!("it to contain {v}"),
        FieldTest::Matches(re) => format!("it to match /{re}/"),
        FieldTest::OneOf(vs) => format!("only values from {}", Value::Array(vs.clone())),
        FieldTest::Between { at_least, at_most } => match (at_least, at_most) {
            (Some(lo), Some(hi)) => format!("a number from {lo} to {hi}"),
            (Some(lo), None) => format!("at least {lo}"),
            (None, Some(hi)) => format!("at most {hi}"),
            (None, None) => "a number".to_owned(),
        },
        FieldTest::Some(inner) => format!(
            "an element having {}",
            inner.iter().map(describe).collect::<Vec<_>>().join(" and ")
        ),
    }
}

/// An assertion as a phrase: `verbs containing "get"`.
fn describe(assertion: &FieldAssertion) -> String {
    let subject = if assertion.path.is_empty() {
        "a value".to_owned()
    } else {
        assertion.path_text.clone()
    };
    match &assertion.test {
        FieldTest::Equals(v) => format!("{subject} = {v}"),
        FieldTest::Contains(v) => format!("{subject} containing {v}"),
        FieldTest::Matches(re) => format!("{subject} matching /{re}/"),
        FieldTest::OneOf(vs) => format!("{subject} in {}", Value::Array(vs.clone())),
        FieldTest::Between { at_least, at_most } => match (at_least, at_most) {
            (Some(lo), Some(hi)) => format!("{subject} from {lo} to {hi}"),
            (Some(lo), None) => format!("{subject} ≥ {lo}"),
            (None, Some(hi)) => format!("{subject} ≤ {hi}"),
            (None, None) => subject,
        },
        FieldTest::Some(inner) => format!(
            "{subject} with an element having {}",
            inner.iter().map(describe).collect::<Vec<_>>().join(" and ")
        ),
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
        FieldTest::Between { at_least, at_most } => value
            .as_f64()
            .is_some_and(|n| at_least.is_none_or(|lo| n >= lo) && at_most.is_none_or(|hi| n <= hi)),
        FieldTest::Some(inner) => assert_some("", inner, std::slice::from_ref(value)).is_none(),
    }
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
}

//! `check = "access"`: what the cluster's authorizer says a subject may do (SubjectAccessReview),
//! on a resource or a non-resource URL such as `/metrics`.

use kube::Api;
use kube::api::PostParams;
use serde_json::json;

use super::{Verdict, Watched};
use crate::content::{AccessCheck, AccessTarget, Subject};
use crate::labs::cluster::{Cluster, ClusterError};

/// What the RBAC authorizer decides from: roles and bindings, everywhere. (Another authorizer,
/// a webhook say, changes its mind unseen; "Check my work" still asks it.)
pub(super) fn watched(_check: &AccessCheck) -> Vec<Watched> {
    const RBAC: &str = "rbac.authorization.k8s.io/v1";
    ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
        .into_iter()
        .map(|kind| Watched::new(RBAC, kind, None))
        .collect()
}

/// Asks the authorizer what `check` asks.
pub(super) async fn access(
    cluster: &Cluster,
    check: &AccessCheck,
) -> Result<Verdict, ClusterError> {
    let AccessCheck {
        subject,
        verb,
        on,
        allowed: expected,
    } = check;
    let expected = *expected;
    use k8s_openapi::api::authorization::v1::{
        NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
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
    let (resource_attributes, non_resource_attributes) = match on {
        AccessTarget::Resource {
            group,
            resource,
            namespace,
        } => {
            // `pods/log` is the resource `pods` with the subresource `log`.
            let (resource, subresource) = match resource.split_once('/') {
                Some((r, sub)) => (r, Some(sub.to_owned())),
                None => (resource.as_str(), None),
            };
            let attributes = ResourceAttributes {
                namespace: namespace.clone(),
                verb: Some(verb.to_owned()),
                group: Some(group.clone()),
                resource: Some(resource.to_owned()),
                subresource,
                ..Default::default()
            };
            (Some(attributes), None)
        }
        AccessTarget::NonResource { path } => (
            None,
            Some(NonResourceAttributes {
                path: Some(path.clone()),
                verb: Some(verb.to_owned()),
            }),
        ),
    };
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user,
            groups: Some(groups),
            resource_attributes,
            non_resource_attributes,
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
    let (qualified, place) = match on {
        AccessTarget::Resource {
            group,
            resource,
            namespace,
        } => (
            if group.is_empty() {
                resource.clone()
            } else {
                format!("{resource}.{group}")
            },
            namespace.as_ref().map_or_else(
                || "across the cluster".to_owned(),
                |ns| format!("in namespace {ns}"),
            ),
        ),
        AccessTarget::NonResource { path } => (path.clone(), "(a non-resource URL)".to_owned()),
    };
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

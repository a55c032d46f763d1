//! When an expected object is missing, look for the slip a learner most likely made: the right name
//! in another namespace, a name one or two edits away, or the same name under a sibling kind.
//! Best effort: a question the cluster cannot answer just yields no suggestion.

use kube::api::ListParams;

use super::cluster::Cluster;
use crate::content::ObjectRef;

/// Kinds learners confuse with each other, by apiVersion.
const SIBLINGS: &[(&str, &[&str])] = &[
    ("rbac.authorization.k8s.io/v1", &["Role", "ClusterRole"]),
    (
        "rbac.authorization.k8s.io/v1",
        &["RoleBinding", "ClusterRoleBinding"],
    ),
    ("apps/v1", &["Deployment", "StatefulSet", "DaemonSet"]),
];

/// Names further than this many single-character edits are not suggested.
const MAX_EDITS: usize = 2;

/// Likely slips, most specific first.
pub(super) async fn diagnose(
    cluster: &Cluster,
    target: &ObjectRef,
    namespaced: bool,
) -> Vec<String> {
    let mut slips = Vec::new();
    if namespaced {
        slips.extend(other_namespaces(cluster, target).await);
    }
    slips.extend(similar_names(cluster, target).await);
    slips.extend(sibling_kinds(cluster, target).await);
    slips
}

async fn other_namespaces(cluster: &Cluster, target: &ObjectRef) -> Vec<String> {
    let Ok((api, _)) = cluster
        .api_for(&target.api_version, &target.kind, None)
        .await
    else {
        return Vec::new();
    };
    let params = ListParams::default().fields(&format!("metadata.name={}", target.name));
    let Ok(list) = cluster.call("list", api.list_metadata(&params)).await else {
        return Vec::new();
    };
    list.items
        .into_iter()
        .filter_map(|o| o.metadata.namespace)
        .filter(|ns| Some(ns) != target.namespace.as_ref())
        .map(|ns| {
            let expected = target.namespace.as_deref().unwrap_or("default");
            format!(
                "found {} {} in namespace {ns}, not in {expected}",
                target.kind, target.name
            )
        })
        .collect()
}

async fn similar_names(cluster: &Cluster, target: &ObjectRef) -> Vec<String> {
    let Ok((api, _)) = cluster
        .api_for(
            &target.api_version,
            &target.kind,
            target.namespace.as_deref(),
        )
        .await
    else {
        return Vec::new();
    };
    let Ok(list) = cluster
        .call(
            "list",
            api.list_metadata(&ListParams::default().limit(1000)),
        )
        .await
    else {
        return Vec::new();
    };
    let mut close: Vec<(usize, String)> = list
        .items
        .into_iter()
        .filter_map(|o| o.metadata.name)
        .filter_map(|name| {
            let d = edit_distance(&name, &target.name);
            (d > 0 && d <= MAX_EDITS).then_some((d, name))
        })
        .collect();
    close.sort();
    close
        .into_iter()
        .map(|(d, name)| {
            let place = target
                .namespace
                .as_ref()
                .map(|ns| format!(" in namespace {ns}"))
                .unwrap_or_default();
            format!(
                "found {} {name}{place}, {d} letter{} off from {}: a typo?",
                target.kind,
                if d == 1 { "" } else { "s" },
                target.name
            )
        })
        .collect()
}

async fn sibling_kinds(cluster: &Cluster, target: &ObjectRef) -> Vec<String> {
    let mut slips = Vec::new();
    for (api_version, kinds) in SIBLINGS {
        if *api_version != target.api_version || !kinds.contains(&target.kind.as_str()) {
            continue;
        }
        for sibling in kinds.iter().filter(|k| **k != target.kind) {
            let Ok((api, namespaced)) = cluster
                .api_for(api_version, sibling, target.namespace.as_deref())
                .await
            else {
                continue;
            };
            if let Ok(Some(found)) = cluster
                .call("get", api.get_metadata_opt(&target.name))
                .await
            {
                let place = match (namespaced, found.metadata.namespace) {
                    (true, Some(ns)) => format!(" in namespace {ns}"),
                    _ => String::new(),
                };
                slips.push(format!(
                    "found a {sibling} named {}{place}, but this check needs a {}",
                    target.name, target.kind
                ));
            }
        }
    }
    slips
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::edit_distance;

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(
            edit_distance("control-plane-monitor", "control-plane-monitor"),
            0
        );
        assert_eq!(
            edit_distance("control-plane-monitr", "control-plane-monitor"),
            1
        );
        assert_eq!(
            edit_distance("control-plane-montior", "control-plane-monitor"),
            2
        );
        assert_eq!(edit_distance("", "abc"), 3);
    }
}

//! `lectern lab record`: a recorded state from a live cluster, read-only, through the same client
//! as the checks, keeping only what the lab's checks read (and of Secrets only their metadata).

use std::collections::BTreeMap;

use kube::api::ListParams;
use serde_json::Value;

use super::state::{ClusterState, ContextState, FORMAT, HealthCheck};
use crate::content::Lab;
use crate::labs::{self, Cluster, ClusterCache, ClusterError, ConnectOptions, Watched};

/// Records what every check of `lab` reads, from the cluster `options` reach (the current
/// context) and each context a check names; a context the kubeconfig does not have is left out,
/// as its cluster does not exist yet.
pub async fn record(lab: &Lab, options: &ConnectOptions) -> Result<ClusterState, ClusterError> {
    let cache = ClusterCache::default();
    let main = cache.get(options).await?;
    let mut reads: BTreeMap<String, (Option<String>, Vec<Watched>)> = BTreeMap::new();
    reads.insert(main.context.clone(), (None, Vec::new()));
    for check in lab.steps.iter().flat_map(|s| &s.checks) {
        let context = check.context.clone().unwrap_or(main.context.clone());
        let entry = reads
            .entry(context.clone())
            .or_insert_with(|| (check.context.clone(), Vec::new()));
        for watched in labs::watched(check) {
            if !entry.1.contains(&watched) {
                entry.1.push(watched);
            }
        }
    }
    let mut contexts = BTreeMap::new();
    for (context, (named, watched)) in reads {
        let cluster = match named {
            Some(named) if named != main.context => {
                let scoped = ConnectOptions {
                    context: Some(named),
                    ..options.clone()
                };
                match cache.get(&scoped).await {
                    Ok(cluster) => cluster,
                    Err(ClusterError::NoContext { .. }) => continue,
                    Err(e) => return Err(e),
                }
            }
            _ => main.clone(),
        };
        contexts.insert(context, context_state(&cluster, &watched).await?);
    }
    Ok(ClusterState {
        format: FORMAT.to_owned(),
        current_context: main.context.clone(),
        contexts,
    })
}

async fn context_state(
    cluster: &Cluster,
    watched: &[Watched],
) -> Result<ContextState, ClusterError> {
    let info = cluster.ping().await?;
    let mut objects: Vec<Value> = Vec::new();
    for set in watched {
        for object in list(cluster, set).await? {
            let same = |o: &Value| {
                o["apiVersion"] == object["apiVersion"]
                    && o["kind"] == object["kind"]
                    && o["metadata"]["namespace"] == object["metadata"]["namespace"]
                    && o["metadata"]["name"] == object["metadata"]["name"]
            };
            if !objects.iter().any(same) {
                objects.push(object);
            }
        }
    }
    Ok(ContextState {
        version: serde_json::to_value(&info).unwrap_or(Value::Null),
        readyz: health(cluster, "/readyz?verbose").await?,
        livez: health(cluster, "/livez?verbose").await?,
        objects,
    })
}

/// The objects of one watched set, with their kind, without what no check reads
/// (`managedFields`, the last applied configuration) and, for Secrets, without data.
async fn list(cluster: &Cluster, set: &Watched) -> Result<Vec<Value>, ClusterError> {
    let (api, _) = match cluster
        .api_for(&set.api_version, &set.kind, set.namespace.as_deref())
        .await
    {
        Ok(found) => found,
        Err(ClusterError::NotServed { .. } | ClusterError::KindNotServed { .. }) => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let mut params = ListParams::default();
    if let Some(labels) = &set.label_selector {
        params = params.labels(labels);
    }
    if let Some(fields) = &set.field_selector {
        params = params.fields(fields);
    }
    let action = format!("list {}", set.kind);
    let mut items: Vec<Value> = if set.metadata_only() {
        cluster
            .call(&action, api.list_metadata(&params))
            .await?
            .items
            .into_iter()
            .map(|o| serde_json::json!({ "metadata": o.metadata }))
            .collect()
    } else {
        cluster
            .call(&action, api.list(&params))
            .await?
            .items
            .into_iter()
            .map(|o| serde_json::to_value(o).unwrap_or(Value::Null))
            .collect()
    };
    for item in &mut items {
        item["apiVersion"] = Value::from(set.api_version.clone());
        item["kind"] = Value::from(set.kind.clone());
        if let Some(metadata) = item["metadata"].as_object_mut() {
            metadata.remove("managedFields");
            if let Some(annotations) = metadata
                .get_mut("annotations")
                .and_then(Value::as_object_mut)
            {
                annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
            }
        }
    }
    Ok(items)
}

/// A health endpoint's checks, from its verbose answer.
async fn health(cluster: &Cluster, path: &str) -> Result<Vec<HealthCheck>, ClusterError> {
    let (_, body) = cluster.get_text(path).await?;
    Ok(body
        .lines()
        .filter_map(|line| {
            let (ok, rest) = match (line.strip_prefix("[+]"), line.strip_prefix("[-]")) {
                (Some(rest), _) => (true, rest),
                (_, Some(rest)) => (false, rest),
                _ => return None,
            };
            let name = rest.split(' ').next().unwrap_or(rest);
            Some(HealthCheck {
                check: name.to_owned(),
                ok,
            })
        })
        .collect())
}

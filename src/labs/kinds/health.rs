//! `check = "health"`: the API server's `/readyz` or `/livez`, optionally named checks.

use serde_json::{Value, json};

use super::Verdict;
use crate::content::HealthCheck;
use crate::labs::cluster::{Cluster, ClusterError};

/// Reads the health endpoint `check` names.
pub(super) async fn health(
    cluster: &Cluster,
    check: &HealthCheck,
) -> Result<Verdict, ClusterError> {
    let HealthCheck {
        endpoint,
        checks: required,
    } = check;
    let path = format!("{}?verbose", endpoint.path());
    let action = format!("get {}", endpoint.path());
    let (code, body) = cluster.get_text(&path).await?;
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

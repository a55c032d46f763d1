//! `check = "version"`: the API server's Kubernetes version is at least the one asked.

use serde_json::json;

use super::Verdict;
use crate::content::VersionCheck;
use crate::labs::cluster::{Cluster, ClusterError};

/// Compares the server's version with `check`'s minimum.
pub(super) async fn version(
    cluster: &Cluster,
    check: &VersionCheck,
) -> Result<Verdict, ClusterError> {
    let at_least = check.at_least;
    let info = cluster.ping().await?;
    let (major, minor) = major_minor(&info);
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

/// The server's `(major, minor)`, as `/version` reports them (`"36+"` on some distributions).
pub(crate) fn major_minor(info: &k8s_openapi::apimachinery::pkg::version::Info) -> (u32, u32) {
    let number = |text: &str| text.trim_end_matches('+').parse::<u32>().unwrap_or(0);
    (number(&info.major), number(&info.minor))
}

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

//! Lab checks: run a step's declarative, read-only checks against a learner's cluster through kube-rs,
//! and explain each verdict with what was observed and, for failures, the likely slip.
//!
//! [`Cluster`] connects and maps errors by meaning; `evaluate` holds one function per check kind;
//! `near_miss` looks for slips when an object is missing; [`store`] records every run.

mod cluster;
mod evaluate;
mod near_miss;
pub mod store;

use std::time::Instant;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use cluster::{Cluster, ClusterError, ConnectOptions};

use crate::content::{Check, Course, Lab, Module, Step};

/// At most this many checks of a step are in flight at once.
pub const CONCURRENCY: usize = 8;

/// The outcome of a check, or of a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The cluster is as the step asks.
    Passed,
    /// The cluster answered, and it is not (yet) as the step asks.
    Failed,
    /// The check could not be answered: unreachable cluster, missing permission, timeout.
    Error,
}

impl Status {
    /// A run is an error if any check errored, failed if any failed, passed otherwise.
    pub fn of(results: &[CheckResult]) -> Self {
        if results.iter().any(|r| r.status == Status::Error) {
            Status::Error
        } else if results.iter().any(|r| r.status == Status::Failed) {
            Status::Failed
        } else {
            Status::Passed
        }
    }

    /// `passed`, `failed`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Error => "error",
        }
    }
}

/// One check's result: a stable document for scripts and for the browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check's id.
    pub id: String,
    /// What was verified.
    pub title: String,
    /// The verdict.
    pub status: Status,
    /// What was seen, against what was expected.
    pub message: String,
    /// The evidence, as structured data.
    pub observed: Value,
    /// What to do about a failure (the author's hint).
    pub hint: String,
    /// How long the check took.
    pub duration_ms: u64,
}

/// Every check of one step, run together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRun {
    /// The lab's id.
    pub lab: String,
    /// The step's id.
    pub step: String,
    /// The step's number.
    pub step_number: u32,
    /// Overall verdict.
    pub status: Status,
    /// One per check, in the order the author wrote them.
    pub results: Vec<CheckResult>,
    /// Wall-clock time for the whole step.
    pub duration_ms: u64,
}

/// Finds a lab (and its module) by id.
pub fn find_lab<'a>(course: &'a Course, lab_id: &str) -> Option<(&'a Module, &'a Lab)> {
    course.modules.iter().find_map(|m| {
        m.lab
            .as_ref()
            .filter(|l| l.id.as_ref() == lab_id)
            .map(|l| (m, l))
    })
}

/// Runs the checks of one step, concurrently (bounded), each with the cluster's timeout.
pub async fn run_step(cluster: &Cluster, lab: &Lab, step: &Step) -> StepRun {
    let started = Instant::now();
    let results = run_checks(cluster, &step.checks).await;
    StepRun {
        lab: lab.id.to_string(),
        step: step.id.to_string(),
        step_number: step.number,
        status: Status::of(&results),
        results,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

/// Runs checks concurrently, at most [`CONCURRENCY`] at a time, keeping their order in the results.
pub async fn run_checks(cluster: &Cluster, checks: &[Check]) -> Vec<CheckResult> {
    futures::stream::iter(checks)
        .map(|check| run_check(cluster, check))
        .buffered(CONCURRENCY)
        .collect()
        .await
}

async fn run_check(cluster: &Cluster, check: &Check) -> CheckResult {
    let started = Instant::now();
    let outcome =
        match tokio::time::timeout(cluster.timeout, evaluate::evaluate(cluster, &check.spec)).await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(cluster.timed_out()),
        };
    let (status, message, observed) = match outcome {
        Ok(v) if v.passed => (Status::Passed, v.message, v.observed),
        Ok(v) => (Status::Failed, v.message, v.observed),
        Err(e) => (Status::Error, e.to_string(), Value::Null),
    };
    CheckResult {
        id: check.id.clone(),
        title: check.title.clone(),
        status,
        message,
        observed,
        hint: check.hint.clone(),
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

//! Lab checks: run a step's declarative, read-only checks against a learner's cluster through kube-rs,
//! and explain each verdict with what was observed and, for failures, the likely slip.
//!
//! [`Cluster`] connects and maps errors by meaning; `kinds` holds one file per check kind;
//! `near_miss` looks for slips when an object is missing; [`store`] records every run.

mod cluster;
mod kinds;
mod kubeconfig;
mod near_miss;
mod store;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use cluster::{Cluster, ClusterCache, ClusterError, ConnectOptions};
pub use kinds::Watched;
pub use kubeconfig::KubeconfigError;
pub use store::{Assignment, RecordedRun, Via, assignments, record};

use crate::content::{Check, Course, Held, Lab, Step};

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
    /// The kind of cluster error that made it an error ([`ClusterError::kind`]), for the
    /// metrics; neither sent nor stored.
    #[serde(skip)]
    pub cluster_error: Option<&'static str>,
}

impl CheckResult {
    /// The evidence as indented JSON, for whoever wants it whole.
    pub fn observed_pretty(&self) -> String {
        serde_json::to_string_pretty(&self.observed).unwrap_or_default()
    }

    /// The evidence as facts people read ("exists: yes", "spec.replicas: 3", "event 1 › reason:
    /// NodeNotReady"): every value the check recorded, labelled by where it sits, a field path as
    /// the check names it.
    pub fn facts(&self) -> Vec<Fact> {
        let mut facts = Vec::new();
        gather_facts("", &self.observed, &mut facts);
        facts
    }
}

/// One thing a check observed, as [`CheckResult::facts`] tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// Where it was seen: `exists`, `spec.replicas`, `event 2 › message`.
    pub label: String,
    /// What was seen, as text (`yes`/`no`, lists joined by commas, `none` for nothing).
    pub value: String,
}

fn gather_facts(label: &str, value: &Value, facts: &mut Vec<Fact>) {
    let within = |name: &str| {
        if label.is_empty() {
            name.to_owned()
        } else {
            format!("{label} › {name}")
        }
    };
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, inner) in map {
                // A resource check's `fields` are keyed by the paths the author wrote: those are
                // the labels.
                if let ("fields", "", Value::Object(fields)) = (key.as_str(), label, inner) {
                    for (path, seen) in fields {
                        facts.push(Fact {
                            label: path.clone(),
                            value: fact_text(seen),
                        });
                    }
                    continue;
                }
                let name = if key.contains(['.', '[', '/']) {
                    key.clone()
                } else {
                    key.replace('_', " ")
                };
                gather_facts(&within(&name), inner, facts);
            }
        }
        Value::Array(items) if items.iter().any(Value::is_object) => {
            let singular = label.strip_suffix('s').unwrap_or(label);
            for (n, item) in items.iter().enumerate() {
                gather_facts(&format!("{singular} {}", n + 1), item, facts);
            }
        }
        Value::Null if label.is_empty() => {}
        other => facts.push(Fact {
            label: if label.is_empty() {
                "observed".to_owned()
            } else {
                label.to_owned()
            },
            value: fact_text(other),
        }),
    }
}

/// A value as one line of text: lists joined by commas (a list of lists by semicolons).
fn fact_text(value: &Value) -> String {
    match value {
        Value::Null => "none".to_owned(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "none".to_owned(),
        Value::Array(items) => {
            let separator = if items.iter().any(Value::is_array) {
                "; "
            } else {
                ", "
            };
            items
                .iter()
                .map(fact_text)
                .collect::<Vec<_>>()
                .join(separator)
        }
        Value::Object(map) if map.is_empty() => "none".to_owned(),
        Value::Object(_) => value.to_string(),
    }
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

/// A step's time for one learner: when they started it, and what Lectern saw of its
/// `held = "once-since-start"` checks since. Empty on the command line, where checks hold now.
#[derive(Debug, Clone, Default)]
pub struct Moment {
    /// When the learner started the step (the database's timestamp text).
    pub started_at: Option<String>,
    /// Events count from this time: the start, when it is known to come before the learner's
    /// work (they pressed Start), not a first "Check my work", which may come after it.
    pub events_since: Option<String>,
    /// The checks seen holding since then.
    pub seen: Vec<Sighting>,
}

/// A check seen holding: when, what it said and what it observed then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sighting {
    /// The check's id.
    pub check: String,
    /// When (the database's timestamp text).
    pub seen_at: String,
    /// What it said then.
    pub message: String,
    /// What it observed then.
    pub observed: Value,
}

/// Why a step could not be checked from the web.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No such lab or step, or the step has nothing to check.
    #[error("{0}")]
    NotFound(String),
    /// The cluster could not be asked at all.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Portal mode, and the learner has no bridge, no assigned cluster, and the server none of its own.
    #[error(
        "your cluster is not connected: run `lectern connect` on the machine where it runs (Connect your cluster, at /connect, shows how), or ask an administrator to assign you a cluster"
    )]
    NotConnected,
    /// The run could not be stored.
    #[error("could not record the run: {0}")]
    Database(#[from] sqlx::Error),
}

/// The ways a learner's cluster may be reached, in order of precedence: built once, shared by
/// "Check my work" and the live checks.
#[derive(Debug, Clone)]
pub struct Reach {
    /// Connections made from kubeconfigs, reused across runs.
    pub clusters: Arc<ClusterCache>,
    /// Learners' live `lectern connect` bridges.
    pub bridges: Arc<crate::bridge::Bridges>,
    /// The server's own kubeconfig, for learners without a bridge or an assignment.
    pub server_default: ConnectOptions,
    /// Portal mode: a learner without a bridge or an assignment whose server has no usable
    /// kubeconfig is told to connect their cluster.
    pub portal: bool,
}

/// The cluster a learner's checks ask, and how it was reached.
pub struct LearnerCluster {
    /// The connection.
    pub cluster: Arc<Cluster>,
    /// Their bridge, an assigned cluster, or the server's.
    pub via: Via,
    /// How it was made (other contexts differ only in the context); `None` through a bridge.
    options: Option<ConnectOptions>,
    /// The bridge, when it is one.
    link: Option<crate::bridge::BridgeLink>,
}

impl LearnerCluster {
    /// The clusters one run may ask: this one, and other contexts of its kubeconfig.
    pub fn targets<'a>(&'a self, reach: &'a Reach) -> Targets<'a> {
        Targets {
            cache: &reach.clusters,
            options: self.options.as_ref(),
            bridge: self.link.as_ref(),
            main: &self.cluster,
        }
    }

    /// Asks the cluster for its version (the cheapest proof it answers); a kubeconfig's
    /// connection that fails is forgotten, so the next run connects afresh.
    pub async fn ping(
        &self,
        reach: &Reach,
    ) -> Result<k8s_openapi::apimachinery::pkg::version::Info, ClusterError> {
        let answer = self.cluster.ping().await;
        if answer.is_err()
            && let Some(options) = &self.options
        {
            reach.clusters.evict(options);
        }
        answer
    }
}

/// The cluster a learner's checks use: their live `lectern connect` bridge, else their assigned
/// cluster, else the server's (which in portal mode must be configured).
pub async fn learner_cluster(
    reach: &Reach,
    pool: &sqlx::AnyPool,
    learner_id: i64,
) -> Result<LearnerCluster, RunError> {
    if let Some(link) = reach.bridges.find(learner_id).await {
        return Ok(LearnerCluster {
            cluster: reach
                .clusters
                .bridged(link.clone(), None, reach.server_default.timeout),
            via: Via::Bridge,
            options: None,
            link: Some(link),
        });
    }
    let (options, via) = options_for(pool, &reach.server_default, learner_id).await?;
    let cluster = match reach.clusters.get(&options).await {
        Err(ClusterError::Config(_)) if reach.portal && via == Via::Server => {
            return Err(RunError::NotConnected);
        }
        other => other?,
    };
    Ok(LearnerCluster {
        cluster,
        via,
        options: Some(options),
        link: None,
    })
}

/// The cluster a learner's checks use when they have no bridge: their assigned one, the
/// server's, or (`None`, portal mode without a server kubeconfig) none until they connect theirs.
pub async fn cluster_without_bridge(
    reach: &Reach,
    pool: &sqlx::AnyPool,
    learner_id: i64,
) -> Result<Option<Via>, sqlx::Error> {
    let (options, via) = options_for(pool, &reach.server_default, learner_id).await?;
    Ok(match reach.clusters.get(&options).await {
        Err(ClusterError::Config(_)) if reach.portal && via == Via::Server => None,
        _ => Some(via),
    })
}

/// Runs one step's checks for a learner on the cluster they use (see [`learner_cluster`]), and
/// records the run and which one it asked: what "Check my work" does. A step checked this way
/// has started, if it had not.
pub async fn check_for_learner(
    reach: &Reach,
    pool: &sqlx::AnyPool,
    course: &Course,
    learner_id: i64,
    lab_id: &str,
    step_id: &str,
) -> Result<store::RecordedRun, RunError> {
    let (lab, step) = find_step(course, lab_id, step_id)?;
    let learner = learner_cluster(reach, pool, learner_id).await?;
    let mut moment = moment(pool, learner_id, lab, step).await?;
    let started = Instant::now();
    let run = match &learner.link {
        Some(link) => {
            let asked_before = link.relayed();
            let run = run_step(&learner.targets(reach), lab, step, &moment).await;
            let count = |s: Status| run.results.iter().filter(|r| r.status == s).count();
            link.note(format!(
                "checked step {} ({}): {} passed, {} failed, {} could not be checked; {} read-only requests, {} ms",
                run.step_number,
                run.step,
                count(Status::Passed),
                count(Status::Failed),
                count(Status::Error),
                link.relayed() - asked_before,
                started.elapsed().as_millis()
            ))
            .await;
            run
        }
        None => {
            learner.ping(reach).await?;
            run_step(&learner.targets(reach), lab, step, &moment).await
        }
    };
    record_with_sightings(pool, learner_id, step, run, learner.via, &mut moment).await
}

/// Records a learner's run of a step and what it saw of the step's `once-since-start` checks
/// (which `moment` then holds too).
pub async fn record_with_sightings(
    pool: &sqlx::AnyPool,
    learner_id: i64,
    step: &Step,
    run: StepRun,
    via: Via,
    moment: &mut Moment,
) -> Result<store::RecordedRun, RunError> {
    if let Some(started_at) = &moment.started_at {
        let seen = sightings(step, &run, moment);
        store::remember(pool, learner_id, &run.lab, &run.step, started_at, &seen).await?;
        moment.seen.extend(seen);
    }
    Ok(store::record(pool, learner_id, run, via).await?)
}

/// A learner's moment of a step: when they started it (if they never pressed Start, it starts
/// now, at their first check) and what was seen since.
pub async fn moment(
    pool: &sqlx::AnyPool,
    learner_id: i64,
    lab: &Lab,
    step: &Step,
) -> Result<Moment, sqlx::Error> {
    let (started_at, origin) = store::start(
        pool,
        learner_id,
        lab.id.as_ref(),
        step.id.as_ref(),
        store::Origin::Check,
        &crate::clock::timestamp_now(),
    )
    .await?;
    let seen = store::sightings(
        pool,
        learner_id,
        lab.id.as_ref(),
        step.id.as_ref(),
        &started_at,
    )
    .await?;
    Ok(Moment {
        events_since: (origin != store::Origin::Check).then(|| started_at.clone()),
        started_at: Some(started_at),
        seen,
    })
}

/// What "Is my cluster ready?" found: the cluster a learner's checks would ask, and that it answers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterFacts {
    /// Which cluster: the learner's own through `lectern connect`, an assigned one, the server's.
    pub via: Via,
    /// The kubeconfig context.
    pub context: String,
    /// Where its API server is (for a bridge, a description).
    pub server: String,
    /// The Kubernetes version it reports, e.g. `v1.36.1`.
    pub version: String,
    /// The oldest Kubernetes the course's `version` checks accept (`1.36`), if any.
    pub needs: Option<String>,
    /// Whether the cluster is at least that version: a cluster that answers but is too old for
    /// the lab is not ready.
    pub recent_enough: bool,
    /// The other contexts the course's checks name (a lab's second cluster), each reached as
    /// those checks would reach it.
    pub contexts: Vec<ContextFacts>,
}

/// Whether one further context answers: its version, or why not (not created yet, not relayed
/// by the bridge, unreachable), which is not the main cluster failing.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ContextFacts {
    /// The kubeconfig context.
    pub context: String,
    /// The Kubernetes version it reports.
    pub version: Option<String>,
    /// Why it cannot be asked now.
    pub problem: Option<String>,
}

/// Asks the cluster a learner's checks would use for its version: the preflight of a lab's first
/// step (reachable, which context, which Kubernetes), and the same errors "Check my work" gives;
/// then each other context the course's checks name, as those checks would reach it.
pub async fn your_cluster(
    reach: &Reach,
    pool: &sqlx::AnyPool,
    course: &Course,
    learner_id: i64,
) -> Result<ClusterFacts, RunError> {
    let learner = learner_cluster(reach, pool, learner_id).await?;
    let info = learner.ping(reach).await?;
    let targets = learner.targets(reach);
    let checks = || {
        course
            .modules
            .iter()
            .filter_map(|m| m.lab.as_ref())
            .flat_map(|lab| lab.steps.iter().flat_map(|s| &s.checks))
    };
    let needs = checks()
        .filter(|c| c.context.is_none())
        .filter_map(|c| match &c.spec {
            crate::content::CheckSpec::Version(v) => Some(v.at_least),
            _ => None,
        })
        .max();
    let recent_enough = needs.is_none_or(|at_least| kinds::major_minor(&info) >= at_least);
    let mut named: Vec<&str> = checks()
        .filter_map(|c| c.context.as_deref())
        .filter(|c| *c != learner.cluster.context)
        .collect();
    named.sort_unstable();
    named.dedup();
    let mut contexts = Vec::new();
    for context in named {
        let answer = match targets.for_context(context).await {
            Ok(Some(cluster)) => cluster.ping().await.map(|info| info.git_version),
            Ok(None) => Ok(info.git_version.clone()),
            Err(e) => Err(e),
        };
        contexts.push(match answer {
            Ok(version) => ContextFacts {
                context: context.to_owned(),
                version: Some(version),
                problem: None,
            },
            Err(e) => ContextFacts {
                context: context.to_owned(),
                version: None,
                problem: Some(e.to_string()),
            },
        });
    }
    Ok(ClusterFacts {
        via: learner.via,
        context: learner.cluster.context.clone(),
        server: learner.cluster.url.clone(),
        version: info.git_version,
        needs: needs.map(|(major, minor)| format!("{major}.{minor}")),
        recent_enough,
        contexts,
    })
}

/// Starts a step for a learner (the "Start" button): from now on, what the step asks to have
/// happened must happen, and the live checks follow it. Starting it again restarts it; a step
/// already passed stays passed. Returns when it started.
pub async fn start_step(
    pool: &sqlx::AnyPool,
    course: &Course,
    learner_id: i64,
    lab_id: &str,
    step_id: &str,
) -> Result<String, RunError> {
    find_step(course, lab_id, step_id)?;
    let now = crate::clock::timestamp_now();
    let (started_at, _) = store::start(
        pool,
        learner_id,
        lab_id,
        step_id,
        store::Origin::Start,
        &now,
    )
    .await?;
    Ok(started_at)
}

/// The steps of a lab a learner started and has not passed yet, with when each started: what
/// the live checks follow.
pub async fn steps_in_progress(
    pool: &sqlx::AnyPool,
    course: &Course,
    learner_id: i64,
    lab_id: &str,
) -> Result<Vec<(String, String)>, RunError> {
    let (_, lab) = course
        .lab(lab_id)
        .ok_or_else(|| RunError::NotFound(format!("there is no lab `{lab_id}`")))?;
    let started = store::in_progress(pool, learner_id, lab_id).await?;
    Ok(started
        .into_iter()
        .filter(|(step, _)| {
            lab.steps
                .iter()
                .any(|s| s.id.as_ref() == step && !s.checks.is_empty())
        })
        .collect())
}

/// Finds a step with checks, or says what is missing.
pub fn find_step<'a>(
    course: &'a Course,
    lab_id: &str,
    step_id: &str,
) -> Result<(&'a Lab, &'a Step), RunError> {
    course
        .lab(lab_id)
        .ok_or_else(|| RunError::NotFound(format!("there is no lab `{lab_id}`")))?;
    let (lab, step) = course
        .lab_step(lab_id, step_id)
        .ok_or_else(|| RunError::NotFound(format!("lab `{lab_id}` has no step `{step_id}`")))?;
    if step.checks.is_empty() {
        return Err(RunError::NotFound(format!(
            "step `{step_id}` of lab `{lab_id}` has no checks"
        )));
    }
    Ok((lab, step))
}

/// The learner's last run of a step, if any.
pub async fn last_run(
    pool: &sqlx::AnyPool,
    course: &Course,
    learner_id: i64,
    lab_id: &str,
    step_id: &str,
) -> Result<Option<store::RecordedRun>, RunError> {
    let (_, step) = find_step(course, lab_id, step_id)?;
    Ok(store::latest(pool, learner_id, lab_id, step_id, step.number).await?)
}

/// The connection a learner's checks use: their assigned cluster, or the server's own.
async fn options_for(
    pool: &sqlx::AnyPool,
    server_default: &ConnectOptions,
    learner_id: i64,
) -> Result<(ConnectOptions, Via), sqlx::Error> {
    Ok(match store::assigned_kubeconfig(pool, learner_id).await? {
        Some((kubeconfig, context)) => (
            ConnectOptions {
                inline_kubeconfig: Some(kubeconfig),
                context,
                kubeconfig: None,
                timeout: server_default.timeout,
            },
            Via::Assigned,
        ),
        None => (server_default.clone(), Via::Server),
    })
}

/// Why a cluster could not be assigned; the message is for the admin.
#[derive(Debug, thiserror::Error)]
pub enum AssignError {
    /// The form or the kubeconfig is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The kubeconfig cannot be assigned.
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Assigns a kubeconfig (and context) to one learner or to every learner of a cohort, after checking
/// it (see [`validate_kubeconfig`]); returns the sentence that says what was done.
pub async fn assign_cluster(
    pool: &sqlx::AnyPool,
    username: Option<&str>,
    cohort: Option<&str>,
    kubeconfig: &str,
    context: Option<&str>,
) -> Result<Assigned, AssignError> {
    if username.is_some() == cohort.is_some() {
        return Err(AssignError::Invalid(
            "name either one learner or one cohort".to_owned(),
        ));
    }
    let server = validate_kubeconfig(kubeconfig, context)?;
    let learners = store::learners_named(pool, username, cohort).await?;
    if learners.is_empty() {
        return Err(AssignError::Invalid(match (username, cohort) {
            (Some(u), _) => format!("there is no learner `{u}`"),
            (_, c) => format!("the cohort `{}` has no learners", c.unwrap_or_default()),
        }));
    }
    store::assign(pool, &learners, kubeconfig, context, &server).await?;
    let message = format!(
        "Assigned {server} to {} learner{}.",
        learners.len(),
        if learners.len() == 1 { "" } else { "s" }
    );
    let warnings = assigned_write_grants(kubeconfig, context).await;
    for warning in &warnings {
        tracing::warn!(%server, "an assigned kubeconfig: {warning}");
    }
    Ok(Assigned { message, warnings })
}

/// Takes a learner's assigned cluster away: their checks use their `lectern connect` or the
/// server's cluster again. Says what was done, or that they had none.
pub async fn unassign_cluster(
    pool: &sqlx::AnyPool,
    learner_id: i64,
) -> Result<String, AssignError> {
    match store::unassign(pool, learner_id).await? {
        Some(name) => Ok(format!(
            "Unassigned {name}'s cluster: their checks use their lectern connect, or the server's cluster."
        )),
        None => Err(AssignError::Invalid(
            "that learner has no assigned cluster (the page may be out of date)".to_owned(),
        )),
    }
}

/// Whether an assigned cluster answers, as the Clusters page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Reachability {
    /// Whose assignment.
    pub learner_id: i64,
    /// It answered.
    pub reachable: bool,
    /// "Kubernetes v1.33.1, answered in 12 ms", or what went wrong.
    pub summary: String,
}

/// How many assigned clusters the Clusters page asks at once (a portal may assign each learner
/// their own).
const PROBES_AT_ONCE: usize = 16;

/// Asks each assigned cluster (one learner's, or everyone's) for its version, as that learner's
/// checks would reach it, each within [`ASSIGN_PROBE_TIMEOUT`] and [`PROBES_AT_ONCE`] at a time;
/// learners sharing a kubeconfig and context share one answer.
pub async fn test_assignments(
    pool: &sqlx::AnyPool,
    learner_id: Option<i64>,
) -> Result<Vec<Reachability>, sqlx::Error> {
    let assigned = store::assigned_kubeconfigs(pool, learner_id).await?;
    let mut distinct: Vec<(&str, Option<&str>)> = assigned
        .iter()
        .map(|(_, kubeconfig, context)| (kubeconfig.as_str(), context.as_deref()))
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    let probes: Vec<ConnectOptions> = distinct
        .iter()
        .map(|(kubeconfig, context)| ConnectOptions {
            inline_kubeconfig: Some((*kubeconfig).to_owned()),
            context: context.map(str::to_owned),
            kubeconfig: None,
            timeout: ASSIGN_PROBE_TIMEOUT,
        })
        .collect();
    let answers: Vec<(bool, String)> = futures::stream::iter(probes)
        .map(probe)
        .buffered(PROBES_AT_ONCE)
        .collect()
        .await;
    Ok(assigned
        .iter()
        .filter_map(|(learner_id, kubeconfig, context)| {
            let at = distinct
                .binary_search(&(kubeconfig.as_str(), context.as_deref()))
                .ok()?;
            let (reachable, summary) = answers[at].clone();
            Some(Reachability {
                learner_id: *learner_id,
                reachable,
                summary,
            })
        })
        .collect())
}

/// Whether the cluster `options` reach answers, and its version or what went wrong.
async fn probe(options: ConnectOptions) -> (bool, String) {
    let started = Instant::now();
    let answer = match Cluster::connect(&options).await {
        Ok(cluster) => cluster.ping().await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(info) => (
            true,
            format!(
                "Kubernetes {}, answered in {} ms",
                info.git_version,
                started.elapsed().as_millis()
            ),
        ),
        Err(e) => (false, e.to_string()),
    }
}

/// What an assignment did, and what its admin should know: rules that let the kubeconfig's
/// identity change the cluster (Lectern only reads), or that they could not be verified.
#[derive(Debug, Clone)]
pub struct Assigned {
    /// "Assigned … to N learners."
    pub message: String,
    /// Each write grant, or why none could be looked for.
    pub warnings: Vec<String>,
}

/// How long an assignment waits for the cluster to say what its identity may do.
const ASSIGN_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The write grants of an assigned kubeconfig's identity, asked of its cluster.
async fn assigned_write_grants(kubeconfig: &str, context: Option<&str>) -> Vec<String> {
    let options = ConnectOptions {
        inline_kubeconfig: Some(kubeconfig.to_owned()),
        context: context.map(str::to_owned),
        kubeconfig: None,
        timeout: ASSIGN_PROBE_TIMEOUT,
    };
    let grants = match Cluster::connect(&options).await {
        Ok(cluster) => cluster.write_grants().await,
        Err(e) => Err(e),
    };
    match grants {
        Ok(grants) => grants
            .into_iter()
            .map(|g| g.replacen("Lectern's identity", "this kubeconfig's identity", 1))
            .collect(),
        Err(e) => vec![format!(
            "could not verify that this kubeconfig's identity is read-only (the cluster did not answer: {e}); it is assigned all the same"
        )],
    }
}

/// Checks that a kubeconfig to assign parses, carries only inline credentials (no programs, server
/// files or proxies) and has the context (or a current one); returns its server URL.
pub fn validate_kubeconfig(yaml: &str, context: Option<&str>) -> Result<String, KubeconfigError> {
    let kubeconfig =
        kube::config::Kubeconfig::from_yaml(yaml).map_err(KubeconfigError::Unreadable)?;
    kubeconfig::refuse_programs_and_files(&kubeconfig)?;
    let name = context
        .map(str::to_owned)
        .or(kubeconfig.current_context.clone())
        .ok_or(KubeconfigError::NoContext)?;
    let ctx = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.context.as_ref())
        .ok_or_else(|| KubeconfigError::UnknownContext(name.clone()))?;
    kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.as_ref()?.server.clone())
        .ok_or_else(|| KubeconfigError::UnknownCluster {
            context: name.clone(),
            cluster: ctx.cluster.clone(),
        })
}

/// The clusters one run may ask: the learner's, and other contexts of the same kubeconfig for the
/// checks that name one (a step that restores etcd on a second cluster, say).
pub struct Targets<'a> {
    /// Where connections for other contexts are made and kept.
    pub cache: &'a ClusterCache,
    /// How the learner's cluster was reached (other contexts differ only in the context), or
    /// `None` through a bridge.
    pub options: Option<&'a ConnectOptions>,
    /// The learner's bridge, which reaches the contexts its `lectern connect` relays.
    pub bridge: Option<&'a crate::bridge::BridgeLink>,
    /// The learner's cluster.
    pub main: &'a Cluster,
}

impl Targets<'_> {
    /// The cluster a check scoped to another context asks (`None`: the learner's own).
    pub async fn for_check(&self, check: &Check) -> Result<Option<Arc<Cluster>>, ClusterError> {
        match &check.context {
            Some(context) => self.for_context(context).await,
            None => Ok(None),
        }
    }

    /// The cluster of another kubeconfig context (`None`: it is the learner's own): through the
    /// bridge if it relays it, else a connection made from the same kubeconfig.
    pub async fn for_context(&self, context: &str) -> Result<Option<Arc<Cluster>>, ClusterError> {
        let context = &context.to_owned();
        if let Some(link) = self.bridge {
            let info = link.info();
            if *context == info.context {
                return Ok(None);
            }
            if !info.relays(context) {
                return Err(ClusterError::ContextNotRelayed {
                    context: context.clone(),
                    relayed: info.all_contexts().join(" --context "),
                });
            }
            return Ok(Some(self.cache.bridged(
                link.clone(),
                Some(context),
                self.main.timeout,
            )));
        }
        let Some(options) = self.options else {
            return Err(ClusterError::ContextNotRelayed {
                context: context.clone(),
                relayed: self.main.context.clone(),
            });
        };
        let options = ConnectOptions {
            context: Some(context.clone()),
            ..options.clone()
        };
        self.cache.get(&options).await.map(Some)
    }
}

/// The objects a check reads (see [`Watched`]): what the live checks watch for it; empty for a
/// check asked again at an interval instead.
pub fn watched(check: &Check) -> Vec<Watched> {
    kinds::watched(&check.spec)
}

/// The non-resource path a check asks (health, version): what the live checks ask again at an
/// interval, once per cluster, for every step that reads it.
pub fn probed(check: &Check) -> Option<String> {
    kinds::probed(&check.spec)
}

/// Runs the checks of one step, concurrently (bounded), each with the cluster's timeout; events
/// count from the step's start, and a `once-since-start` check seen since then holds.
pub async fn run_step(targets: &Targets<'_>, lab: &Lab, step: &Step, moment: &Moment) -> StepRun {
    let started = Instant::now();
    let mut results = run_checks(targets, &step.checks, moment.events_since.as_deref()).await;
    recall(&step.checks, &mut results, moment);
    hold_until_after(&step.checks, &mut results);
    StepRun {
        lab: lab.id.to_string(),
        step: step.id.to_string(),
        step_number: step.number,
        status: Status::of(&results),
        results,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

/// Runs checks concurrently, at most [`CONCURRENCY`] at a time, keeping their order in the
/// results; `since` is when the step started (events before it do not count).
pub async fn run_checks(
    targets: &Targets<'_>,
    checks: &[Check],
    since: Option<&str>,
) -> Vec<CheckResult> {
    // Boxed and built in a loop so the futures' type is named: otherwise rustc infers lifetimes too
    // specific for the `Send` bound axum puts on handlers ("implementation of FnOnce is not general enough").
    let mut runs: Vec<Pin<Box<dyn Future<Output = CheckResult> + Send + '_>>> =
        Vec::with_capacity(checks.len());
    for check in checks {
        runs.push(Box::pin(run_check(targets, check, since)));
    }
    futures::stream::iter(runs)
        .buffered(CONCURRENCY)
        .collect()
        .await
}

/// A `once-since-start` check that does not hold now but was seen holding since the step started
/// holds: it says when, and what it saw then and sees now.
fn recall(checks: &[Check], results: &mut [CheckResult], moment: &Moment) {
    for (check, result) in checks.iter().zip(results.iter_mut()) {
        if check.held != Held::OnceSinceStart || result.status == Status::Passed {
            continue;
        }
        let Some(seen) = moment.seen.iter().find(|s| s.check == check.id) else {
            continue;
        };
        result.status = Status::Passed;
        result.message = format!(
            "seen at {}: {} (now: {})",
            seen.seen_at, seen.message, result.message
        );
        result.observed = serde_json::json!({
            "seen_at": seen.seen_at,
            "seen": seen.observed,
            "now": result.observed,
        });
        result.cluster_error = None;
    }
}

/// The `once-since-start` checks of a run that hold now and were not seen before: to remember.
pub fn sightings(step: &Step, run: &StepRun, moment: &Moment) -> Vec<Sighting> {
    let now = crate::clock::timestamp_now();
    step.checks
        .iter()
        .zip(&run.results)
        .filter(|(check, result)| {
            check.held == Held::OnceSinceStart
                && result.status == Status::Passed
                && !moment.seen.iter().any(|s| s.check == check.id)
        })
        .map(|(check, result)| Sighting {
            check: check.id.clone(),
            seen_at: now.clone(),
            message: result.message.clone(),
            observed: result.observed.clone(),
        })
        .collect()
}

/// A check with `after` counts only once the checks it names passed: otherwise it fails, saying
/// which to do first (what it saw is kept), with the first one's hint, since that is what to do
/// next. A check that could not be answered stays an error.
fn hold_until_after(checks: &[Check], results: &mut [CheckResult]) {
    for (i, check) in checks.iter().enumerate() {
        let waiting: Vec<(String, String, String)> = check
            .after
            .iter()
            .filter_map(|id| results.iter().find(|r| &r.id == id))
            .filter(|r| r.status != Status::Passed)
            .map(|r| (r.id.clone(), format!("“{}”", r.title), r.hint.clone()))
            .collect();
        if waiting.is_empty() || results[i].status == Status::Error {
            continue;
        }
        let titles: Vec<&str> = waiting.iter().map(|(_, title, _)| title.as_str()).collect();
        let waiting_for: Vec<&str> = waiting.iter().map(|(id, _, _)| id.as_str()).collect();
        let result = &mut results[i];
        result.hint = waiting[0].2.clone();
        let message = format!(
            "not yet: this counts once {} passes (now: {})",
            titles.join(" and "),
            result.message
        );
        result.status = Status::Failed;
        result.message = message;
        result.observed =
            serde_json::json!({ "waiting_for": waiting_for, "seen": result.observed });
    }
}

async fn run_check(targets: &Targets<'_>, check: &Check, since: Option<&str>) -> CheckResult {
    let started = Instant::now();
    let mut hint = check.hint.clone();
    let outcome = match targets.for_check(check).await {
        Ok(other) => {
            let cluster = other.as_deref().unwrap_or(targets.main);
            match tokio::time::timeout(
                cluster.timeout,
                kinds::evaluate(cluster, &check.spec, since),
            )
            .await
            {
                Ok(outcome) => outcome,
                Err(_) => Err(cluster.timed_out()),
            }
        }
        // The step's second cluster is not in the kubeconfig yet: the step is not done, which is
        // a failure the learner can act on, not a broken connection. The author's hint is about
        // the check's own slips, so say what is missing instead.
        Err(e @ ClusterError::NoContext { .. }) => {
            hint = format!(
                "This check asks the cluster of the kubeconfig context `{}`, which does not exist yet: create that cluster as this step says (kind adds the context), and keep it in the kubeconfig Lectern reads.",
                check.context.as_deref().unwrap_or_default()
            );
            Ok(kinds::Verdict::missing_context(&e))
        }
        Err(e) => Err(e),
    };
    let (status, message, observed, cluster_error) = match outcome {
        Ok(v) if v.passed => (Status::Passed, v.message, v.observed, None),
        Ok(v) => (Status::Failed, v.message, v.observed, None),
        Err(e) => (Status::Error, e.to_string(), Value::Null, Some(e.kind())),
    };
    CheckResult {
        id: check.id.clone(),
        title: check.title.clone(),
        status,
        message,
        observed,
        hint,
        duration_ms: started.elapsed().as_millis() as u64,
        cluster_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_reads_as_facts_labelled_by_where_they_were_seen() {
        let facts = |observed: Value| {
            CheckResult {
                id: "c".into(),
                title: "t".into(),
                status: Status::Failed,
                message: String::new(),
                observed,
                hint: String::new(),
                duration_ms: 0,
                cluster_error: None,
            }
            .facts()
            .into_iter()
            .map(|f| format!("{}: {}", f.label, f.value))
            .collect::<Vec<_>>()
        };
        assert_eq!(
            facts(
                serde_json::json!({ "exists": true, "fields": { "rules[*].verbs": [["get", "list"], ["watch"]], "metadata.namespace": [] } })
            ),
            [
                "exists: yes",
                "metadata.namespace: none",
                "rules[*].verbs: get, list; watch"
            ]
        );
        assert_eq!(
            facts(
                serde_json::json!({ "count": 1, "events": [{ "reason": "NodeNotReady", "source": null }], "since": null })
            ),
            [
                "count: 1",
                "event 1 › reason: NodeNotReady",
                "event 1 › source: none",
                "since: none"
            ]
        );
        assert_eq!(
            facts(serde_json::json!({ "not_ready": ["etcd-cp2"], "likely_slips": [] })),
            ["likely slips: none", "not ready: etcd-cp2"]
        );
        assert!(facts(Value::Null).is_empty(), "nothing observed, no facts");
    }
}

//! `lectern lab test`: a lab's checks run against recorded cluster states, offline, to show that
//! each step passes on right work and that each check catches a wrong way of doing it.
//!
//! [`plan`] reads the tests beside a lab (`lab/tests/lab-test.toml`); [`state`] is the recorded
//! state's format and the in-process API server that serves one to the checks' own kube-rs
//! client; [`api`] answers requests from a set of objects as the API server does (the test
//! suite's API double answers through it too); [`record`] writes a state from a live cluster.
//! The checks run exactly as "Check my work" runs them (`labs::run_step`).

pub mod api;
pub mod plan;
pub mod record;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use plan::{Mutant, Plan, Sequence};
pub use state::{ClusterState, ContextState, StateService};

use crate::content::{Lab, Step};
use crate::labs::{self, Cluster, ClusterCache, ConnectOptions, Moment, Status, StepRun};

/// How long a replayed request may take (they are answered in-process).
const TIMEOUT: Duration = Duration::from_secs(5);

/// The verdicts of one lab's tests.
#[derive(Debug, Clone)]
pub struct Report {
    /// The steps that have checks, in order.
    pub steps: Vec<u32>,
    /// One row per named state.
    pub states: Vec<StateRow>,
    /// One per sequence.
    pub sequences: Vec<Outcome>,
    /// One per mutant.
    pub mutants: Vec<Outcome>,
    /// Checks that caught at least one mutant, and every check of the lab.
    pub caught: Vec<String>,
    /// Every check id of the lab, in order.
    pub checks: Vec<String>,
    /// Steps no state must pass, and steps no state must fail.
    pub uncovered: Vec<String>,
}

/// A state's verdict on each step.
#[derive(Debug, Clone)]
pub struct StateRow {
    /// The state's name.
    pub name: String,
    /// Per step (as [`Report::steps`]): what was expected (`Some(true)`: pass) and the run.
    pub cells: Vec<(Option<bool>, StepRun)>,
}

/// A sequence's or a mutant's verdict.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Its name.
    pub name: String,
    /// The step it is about.
    pub step: u32,
    /// Whether the verdict is the one expected.
    pub right: bool,
    /// What was seen: the step's verdict, and for a mutant what the catching check said.
    pub detail: String,
}

impl Report {
    /// How many verdicts were wrong (including steps without a passing and a failing state).
    pub fn wrong(&self) -> usize {
        let cells = self
            .states
            .iter()
            .flat_map(|r| &r.cells)
            .filter(|(expected, run)| {
                expected.is_some_and(|pass| pass != (run.status == Status::Passed))
            })
            .count();
        cells
            + self.sequences.iter().filter(|o| !o.right).count()
            + self.mutants.iter().filter(|o| !o.right).count()
            + self.uncovered.len()
    }

    /// Checks that catch at least one mutant, over all checks, as a percentage.
    pub fn score(&self) -> f64 {
        if self.checks.is_empty() {
            return 100.0;
        }
        100.0 * self.caught.len() as f64 / self.checks.len() as f64
    }
}

/// Runs every test of `plan` against `lab`.
pub async fn run(lab: &Lab, plan: &Plan) -> Report {
    let tested: Vec<&Step> = lab.steps.iter().filter(|s| !s.checks.is_empty()).collect();
    let steps: Vec<u32> = tested.iter().map(|s| s.number).collect();
    let mut states = Vec::new();
    for named in &plan.states {
        let mut cells = Vec::new();
        for step in &tested {
            let expected = if named.pass.contains(&step.number) {
                Some(true)
            } else if named.fail.contains(&step.number) {
                Some(false)
            } else {
                None
            };
            let run = follow(
                lab,
                step,
                std::slice::from_ref(&named.state),
                named.started.as_deref(),
            )
            .await;
            cells.push((expected, run));
        }
        states.push(StateRow {
            name: named.name.clone(),
            cells,
        });
    }
    let mut sequences = Vec::new();
    for sequence in &plan.sequences {
        let Some(step) = lab.steps.iter().find(|s| s.number == sequence.step) else {
            continue;
        };
        let run = follow(lab, step, &sequence.states, sequence.started.as_deref()).await;
        let passed = run.status == Status::Passed;
        sequences.push(Outcome {
            name: sequence.name.clone(),
            step: sequence.step,
            right: passed == sequence.pass,
            detail: summary(&run),
        });
    }
    let mut mutants = Vec::new();
    let mut caught = Vec::new();
    for mutant in &plan.mutants {
        let Some(step) = lab.steps.iter().find(|s| s.number == mutant.step) else {
            continue;
        };
        let run = follow(lab, step, &mutant.states, mutant.started.as_deref()).await;
        let catcher = run.results.iter().find(|r| r.id == mutant.catch);
        let (right, detail) = match catcher {
            None => (false, format!("no check `{}` ran", mutant.catch)),
            Some(result) if result.status == Status::Passed => (
                false,
                format!("not caught: {} passed: {}", mutant.catch, result.message),
            ),
            Some(result) if result.status == Status::Error => (
                false,
                format!("{} could not run: {}", mutant.catch, result.message),
            ),
            Some(result) => match &mutant.says {
                Some(says) if !result.message.contains(says.as_str()) => (
                    false,
                    format!(
                        "{} failed, but its message does not say \"{says}\": {}",
                        mutant.catch, result.message
                    ),
                ),
                _ => (
                    true,
                    format!("caught by {}: {}", mutant.catch, result.message),
                ),
            },
        };
        if right && !caught.contains(&mutant.catch) {
            caught.push(mutant.catch.clone());
        }
        mutants.push(Outcome {
            name: mutant.name.clone(),
            step: mutant.step,
            right,
            detail,
        });
    }
    let checks: Vec<String> = tested
        .iter()
        .flat_map(|s| s.checks.iter().map(|c| c.id.clone()))
        .collect();
    caught.sort_by_key(|id| checks.iter().position(|c| c == id));
    let mut uncovered = Vec::new();
    for step in &steps {
        let passes = plan.states.iter().any(|s| s.pass.contains(step))
            || plan.sequences.iter().any(|s| s.step == *step && s.pass);
        let fails = plan.states.iter().any(|s| s.fail.contains(step))
            || plan.sequences.iter().any(|s| s.step == *step && !s.pass)
            || plan.mutants.iter().any(|m| m.step == *step);
        if !passes {
            uncovered.push(format!("no state or sequence must pass step {step}"));
        }
        if !fails {
            uncovered.push(format!(
                "no state, sequence or mutant must fail step {step}"
            ));
        }
    }
    Report {
        steps,
        states,
        sequences,
        mutants,
        caught,
        checks,
        uncovered,
    }
}

/// Follows a step through `states` as the live checks do: each state is checked, what a
/// `once-since-start` check saw is remembered, and the last run is the verdict.
async fn follow(lab: &Lab, step: &Step, states: &[ClusterState], started: Option<&str>) -> StepRun {
    let mut moment = Moment {
        started_at: started.map(str::to_owned),
        events_since: started.map(str::to_owned),
        seen: Vec::new(),
    };
    let mut last = None;
    for state in states {
        let replay = Replay::new(state);
        let targets = labs::Targets {
            cache: &replay.cache,
            options: Some(&replay.options),
            bridge: None,
            main: &replay.main,
        };
        let run = labs::run_step(&targets, lab, step, &moment).await;
        moment.seen.extend(labs::sightings(step, &run, &moment));
        last = Some(run);
    }
    last.unwrap_or_else(|| StepRun {
        lab: lab.id.to_string(),
        step: step.id.to_string(),
        step_number: step.number,
        status: Status::Error,
        results: Vec::new(),
        duration_ms: 0,
    })
}

/// A recorded state's contexts as connected clusters: each context's API server answers
/// in-process, and a context the state does not have is missing from the kubeconfig, as it is
/// before its cluster is created.
struct Replay {
    cache: ClusterCache,
    options: ConnectOptions,
    main: Arc<Cluster>,
}

impl Replay {
    fn new(state: &ClusterState) -> Self {
        let options = ConnectOptions {
            inline_kubeconfig: Some(kubeconfig(state)),
            timeout: TIMEOUT,
            ..Default::default()
        };
        let cache = ClusterCache::default();
        let cluster_of = |context: &str, answers: &ContextState| {
            let client = StateService::new(answers.clone()).client();
            Arc::new(Cluster::over_client(
                client,
                context.to_owned(),
                format!("the recorded state of {context}"),
                format!("recorded:{context}"),
                TIMEOUT,
            ))
        };
        let mut main = None;
        for (context, answers) in &state.contexts {
            let cluster = cluster_of(context, answers);
            if *context == state.current_context {
                main = Some(cluster.clone());
            }
            let scoped = ConnectOptions {
                context: Some(context.clone()),
                ..options.clone()
            };
            cache.preset(&scoped, cluster);
        }
        let main = main.unwrap_or_else(|| {
            cluster_of(
                &state.current_context,
                &ContextState {
                    version: Value::Null,
                    readyz: Vec::new(),
                    livez: Vec::new(),
                    objects: Vec::new(),
                },
            )
        });
        Self {
            cache,
            options,
            main,
        }
    }
}

/// A kubeconfig naming the state's contexts (never connected to: every one is preset).
fn kubeconfig(state: &ClusterState) -> String {
    let names: Vec<&String> = state.contexts.keys().collect();
    let clusters: Vec<Value> = names
        .iter()
        .map(|n| serde_json::json!({ "name": n, "cluster": { "server": "https://recorded.invalid" } }))
        .collect();
    let contexts: Vec<Value> = names
        .iter()
        .map(|n| serde_json::json!({ "name": n, "context": { "cluster": n, "user": "recorded" } }))
        .collect();
    serde_json::json!({
        "apiVersion": "v1", "kind": "Config", "current-context": state.current_context,
        "clusters": clusters, "contexts": contexts,
        "users": [ { "name": "recorded", "user": { "token": "recorded" } } ],
    })
    .to_string()
}

/// A step run in a few words: its verdict and the checks that did not pass, with what they said.
pub fn summary(run: &StepRun) -> String {
    let failing: Vec<String> = run
        .results
        .iter()
        .filter(|r| r.status != Status::Passed)
        .map(|r| format!("{}: {}", r.id, r.message))
        .collect();
    if failing.is_empty() {
        "passed".to_owned()
    } else {
        format!("{}: {}", run.status.as_str(), failing.join("; "))
    }
}

/// An object named in a few characters, for messages.
pub fn short(object: &Value) -> String {
    let text = object.to_string();
    if text.chars().count() > 120 {
        format!("{}…", text.chars().take(120).collect::<String>())
    } else {
        text
    }
}

//! One learner's check runs as instructors read them: newest first, each named by its step's
//! number and title rather than by ids, with every check's verdict and evidence.

use sqlx::AnyPool;

use super::store;
use crate::auth::StaffScope;
use crate::content::Course;
use crate::labs::CheckResult;

/// One recorded run of "Check my work".
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    /// "Step 4: Give monitoring its own identity", or the ids of a step the course no longer has.
    pub step: String,
    /// Overall verdict: `passed`, `failed` or `error`.
    pub status: String,
    /// When (RFC 3339).
    pub recorded_at: String,
    /// Which cluster it asked: `bridge`, `assigned` or `server`.
    pub via: String,
    /// Every check's result, as recorded.
    pub results: Vec<CheckResult>,
    /// For a run that did not pass after the step had passed: when it first passed (that pass is
    /// kept, so this run is history, not the step's verdict).
    pub pass_kept_from: Option<String>,
    /// This run is the step's first pass, the one that counts.
    pub first_pass: bool,
}

/// `learner_id`'s runs, newest first (the latest 500).
pub async fn learner_history(
    pool: &AnyPool,
    course: &Course,
    learner_id: i64,
) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    let runs = store::history(pool, learner_id).await?;
    // Newest first, so the last passed run seen for a step is its first pass.
    let mut first_passes: std::collections::HashMap<(String, String), String> =
        std::collections::HashMap::new();
    for run in runs.iter().filter(|r| r.status == "passed") {
        first_passes.insert(
            (run.lab_id.clone(), run.step_id.clone()),
            run.recorded_at.clone(),
        );
    }
    Ok(runs
        .into_iter()
        .map(|run| {
            let step = step_title(course, &run.lab_id, &run.step_id);
            let first_pass = first_passes.get(&(run.lab_id.clone(), run.step_id.clone()));
            HistoryEntry {
                step,
                first_pass: first_pass == Some(&run.recorded_at) && run.status == "passed",
                pass_kept_from: first_pass
                    .filter(|first| run.status != "passed" && run.recorded_at > **first)
                    .cloned(),
                results: serde_json::from_str(&run.results).unwrap_or_default(),
                status: run.status,
                recorded_at: run.recorded_at,
                via: run.via,
            }
        })
        .collect())
}

/// "Step 4: Give monitoring its own identity", or the ids of a step the course no longer has.
fn step_title(course: &Course, lab_id: &str, step_id: &str) -> String {
    course
        .modules
        .iter()
        .filter_map(|m| m.lab.as_ref())
        .filter(|lab| lab.id.as_ref() == lab_id)
        .flat_map(|lab| &lab.steps)
        .find(|s| s.id.as_ref() == step_id)
        .map_or_else(
            || format!("{lab_id} · {step_id} (no longer in the course)"),
            |s| format!("Step {}: {}", s.number, s.title),
        )
}

/// One check run in the staff home's recent activity.
#[derive(Debug, Clone)]
pub struct RecentRun {
    /// Whose (for their history page).
    pub learner_id: i64,
    /// Their user name.
    pub username: String,
    /// The step, by number and title.
    pub step: String,
    /// `passed`, `failed` or `error`.
    pub status: String,
    /// When (RFC 3339).
    pub recorded_at: String,
}

/// The newest `limit` check runs of the learners within the staff member's scope, newest first.
pub async fn recent_runs(
    pool: &AnyPool,
    course: &Course,
    scope: StaffScope,
    limit: usize,
) -> Result<Vec<RecentRun>, sqlx::Error> {
    let rows = store::recent_runs(pool, scope, i64::try_from(limit).unwrap_or(i64::MAX)).await?;
    Ok(rows
        .into_iter()
        .map(
            |(learner_id, username, lab, step, status, recorded_at)| RecentRun {
                learner_id,
                username,
                step: step_title(course, &lab, &step),
                status,
                recorded_at,
            },
        )
        .collect())
}

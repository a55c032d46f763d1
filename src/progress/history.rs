//! One learner's check runs as instructors read them: newest first, each named by its step's
//! number and title rather than by ids, with every check's verdict and evidence.

use sqlx::AnyPool;

use super::store;
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
}

/// `learner_id`'s runs, newest first (the latest 500).
pub async fn learner_history(
    pool: &AnyPool,
    course: &Course,
    learner_id: i64,
) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    let runs = store::history(pool, learner_id).await?;
    Ok(runs
        .into_iter()
        .map(|run| {
            let step = course
                .modules
                .iter()
                .filter_map(|m| m.lab.as_ref())
                .filter(|lab| lab.id.as_ref() == run.lab_id)
                .flat_map(|lab| &lab.steps)
                .find(|s| s.id.as_ref() == run.step_id)
                .map_or_else(
                    || format!("{} · {} (no longer in the course)", run.lab_id, run.step_id),
                    |s| format!("Step {}: {}", s.number, s.title),
                );
            HistoryEntry {
                step,
                results: serde_json::from_str(&run.results).unwrap_or_default(),
                status: run.status,
                recorded_at: run.recorded_at,
                via: run.via,
            }
        })
        .collect())
}

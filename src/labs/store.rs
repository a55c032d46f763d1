//! Check runs in SQLite: every run is kept, the latest one per step is shown again.

use sqlx::SqlitePool;

use super::{CheckResult, Status, StepRun};

/// A run as stored, with when it happened.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecordedRun {
    /// Row id.
    pub id: i64,
    /// When the run finished (UTC, RFC 3339).
    pub recorded_at: String,
    /// The run itself.
    #[serde(flatten)]
    pub run: StepRun,
}

/// Stores a run for a learner.
pub async fn record(pool: &SqlitePool, learner_id: i64, run: &StepRun) -> Result<i64, sqlx::Error> {
    let results =
        serde_json::to_string(&run.results).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO check_runs (learner_id, lab_id, step_id, status, results, duration_ms) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(learner_id)
    .bind(&run.lab)
    .bind(&run.step)
    .bind(run.status.as_str())
    .bind(results)
    .bind(run.duration_ms as i64)
    .fetch_one(pool)
    .await?;
    Ok(id)
}

/// The learner's most recent run of a step, if any.
pub async fn latest(
    pool: &SqlitePool,
    learner_id: i64,
    lab: &str,
    step: &str,
    step_number: u32,
) -> Result<Option<RecordedRun>, sqlx::Error> {
    let row: Option<(i64, String, String, i64, String)> = sqlx::query_as(
        "SELECT id, status, results, duration_ms, created_at FROM check_runs
         WHERE learner_id = ? AND lab_id = ? AND step_id = ? ORDER BY id DESC LIMIT 1",
    )
    .bind(learner_id)
    .bind(lab)
    .bind(step)
    .fetch_optional(pool)
    .await?;
    let Some((id, status, results, duration_ms, recorded_at)) = row else {
        return Ok(None);
    };
    let results: Vec<CheckResult> =
        serde_json::from_str(&results).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let status = match status.as_str() {
        "passed" => Status::Passed,
        "failed" => Status::Failed,
        _ => Status::Error,
    };
    Ok(Some(RecordedRun {
        id,
        recorded_at,
        run: StepRun {
            lab: lab.to_owned(),
            step: step.to_owned(),
            step_number,
            status,
            results,
            duration_ms: duration_ms as u64,
        },
    }))
}

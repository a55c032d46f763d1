//! Progress queries: visits, passed steps, and the cohort-wide views instructors use.

use std::collections::HashMap;

use sqlx::AnyPool;

use crate::auth::StaffScope;

/// Upserts a visit.
pub(super) async fn record_visit(
    pool: &AnyPool,
    learner_id: i64,
    module_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO module_visits (learner_id, module_id, first_opened_at, last_opened_at) VALUES ($1, $2, $3, $3)
         ON CONFLICT (learner_id, module_id) DO UPDATE SET last_opened_at = excluded.last_opened_at",
    )
    .bind(learner_id)
    .bind(module_id)
    .bind(crate::clock::timestamp_now())
    .execute(pool)
    .await
    .map(|_| ())
}

/// Module id → when last opened.
pub(super) async fn visits(
    pool: &AnyPool,
    learner_id: i64,
) -> Result<HashMap<String, String>, sqlx::Error> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT module_id, last_opened_at FROM module_visits WHERE learner_id = $1")
            .bind(learner_id)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().collect())
}

/// (lab, step) pairs with at least one passed run, with when each first passed.
pub(super) async fn passed_steps(
    pool: &AnyPool,
    learner_id: i64,
) -> Result<Vec<(String, String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT lab_id, step_id, MIN(created_at) FROM check_runs WHERE learner_id = $1 AND status = 'passed' GROUP BY lab_id, step_id")
        .bind(learner_id)
        .fetch_all(pool)
        .await
}

/// A learner as instructors see them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CohortMember {
    /// Their learner id (for their history page).
    pub learner_id: i64,
    /// User name.
    pub username: String,
    /// Cohort, if any.
    pub cohort: Option<String>,
    /// Latest activity: a visit or a check run.
    pub last_activity: Option<String>,
}

impl CohortMember {
    /// Whole days since their latest activity, at `now` (Unix seconds); `None` if they never
    /// did anything.
    pub fn idle_days(&self, now: i64) -> Option<i64> {
        let last = crate::clock::seconds_of_timestamp(self.last_activity.as_deref()?);
        Some((now - last).max(0) / 86_400)
    }
}

/// Learners (accounts with the learner role) within the staff member's scope, optionally of one
/// cohort and matching a name filter.
pub(super) async fn members(
    pool: &AnyPool,
    scope: StaffScope,
    cohort: Option<&str>,
    name: Option<&str>,
) -> Result<Vec<CohortMember>, sqlx::Error> {
    let rows: Vec<(i64, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT a.learner_id, a.username, a.cohort,
                coalesce((SELECT max(at) FROM (SELECT last_opened_at AS at FROM module_visits v WHERE v.learner_id = a.learner_id
                                               UNION ALL SELECT created_at FROM check_runs r WHERE r.learner_id = a.learner_id) seen), '')
         FROM accounts a
         WHERE a.role = 'learner' AND ($1 IS NULL OR a.cohort = $1)
           AND ($2 IS NULL OR lower(a.username) LIKE '%' || lower($2) || '%')
           AND ($3 IS NULL OR a.cohort IN (SELECT cohort FROM staff_cohorts WHERE learner_id = $3))
         ORDER BY a.username",
    )
    .bind(cohort)
    .bind(name)
    .bind(scope.bounded_by())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(learner_id, username, cohort, last)| CohortMember {
            learner_id,
            username,
            cohort,
            last_activity: last.filter(|l| !l.is_empty()),
        })
        .collect())
}

/// Every cohort name in use, of those within the staff member's scope.
pub async fn cohorts(pool: &AnyPool, scope: StaffScope) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT cohort FROM accounts WHERE cohort IS NOT NULL
           AND ($1 IS NULL OR cohort IN (SELECT cohort FROM staff_cohorts WHERE learner_id = $1))
         ORDER BY cohort",
    )
    .bind(scope.bounded_by())
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(c,)| c).collect())
}

/// One recorded run, with its evidence, for a learner's history.
#[derive(Debug, Clone)]
pub(super) struct HistoryRun {
    /// Lab.
    pub lab_id: String,
    /// Step.
    pub step_id: String,
    /// Overall verdict.
    pub status: String,
    /// When.
    pub recorded_at: String,
    /// Which cluster it asked: `bridge`, `assigned` or `server`.
    pub via: String,
    /// The check results (JSON array), as recorded.
    pub results: String,
}

/// A learner's runs, newest first.
pub(super) async fn history(
    pool: &AnyPool,
    learner_id: i64,
) -> Result<Vec<HistoryRun>, sqlx::Error> {
    let rows: Vec<(String, String, String, String, String, String)> =
        sqlx::query_as("SELECT lab_id, step_id, status, created_at, via, results FROM check_runs WHERE learner_id = $1 ORDER BY id DESC LIMIT 500")
            .bind(learner_id)
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(
            |(lab_id, step_id, status, recorded_at, via, results)| HistoryRun {
                lab_id,
                step_id,
                status,
                recorded_at,
                via,
                results,
            },
        )
        .collect())
}

/// For each (lab, step), each learner's latest run's results (JSON) and whether any of their runs
/// of it passed (1 or 0: a pass is kept), among learners of `cohort` within the staff member's
/// scope.
pub(super) async fn latest_runs(
    pool: &AnyPool,
    scope: StaffScope,
    cohort: Option<&str>,
) -> Result<Vec<(i64, String, String, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.learner_id, r.lab_id, r.step_id, r.results,
                CASE WHEN EXISTS (SELECT 1 FROM check_runs p WHERE p.learner_id = r.learner_id AND p.lab_id = r.lab_id
                                  AND p.step_id = r.step_id AND p.status = 'passed') THEN 1 ELSE 0 END
         FROM check_runs r
         JOIN accounts a ON a.learner_id = r.learner_id
         WHERE a.role = 'learner' AND ($1 IS NULL OR a.cohort = $1)
           AND ($2 IS NULL OR a.cohort IN (SELECT cohort FROM staff_cohorts WHERE learner_id = $2))
           AND r.id = (SELECT max(id) FROM check_runs x WHERE x.learner_id = r.learner_id AND x.lab_id = r.lab_id AND x.step_id = r.step_id)",
    )
    .bind(cohort)
    .bind(scope.bounded_by())
    .fetch_all(pool)
    .await
}

/// The newest `limit` check runs of learners within the staff member's scope, newest first:
/// (learner id, user name, lab, step, status, when).
pub(super) async fn recent_runs(
    pool: &AnyPool,
    scope: StaffScope,
    limit: i64,
) -> Result<Vec<(i64, String, String, String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.learner_id, a.username, r.lab_id, r.step_id, r.status, r.created_at
         FROM check_runs r
         JOIN accounts a ON a.learner_id = r.learner_id
         WHERE a.role = 'learner'
           AND ($1 IS NULL OR a.cohort IN (SELECT cohort FROM staff_cohorts WHERE learner_id = $1))
         ORDER BY r.id DESC LIMIT $2",
    )
    .bind(scope.bounded_by())
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The id of the newest recorded check run (0 before the first): what the live board follows.
pub(super) async fn newest_run(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as("SELECT COALESCE(max(id), 0) FROM check_runs")
        .fetch_one(pool)
        .await?;
    Ok(id)
}

/// The steps learners in scope started and never passed, with when each started.
pub(super) async fn started_not_passed(
    pool: &AnyPool,
    scope: StaffScope,
    cohort: Option<&str>,
) -> Result<Vec<(i64, String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.learner_id, s.lab_id, s.step_id, s.started_at
         FROM step_starts s
         JOIN accounts a ON a.learner_id = s.learner_id
         WHERE a.role = 'learner' AND ($1 IS NULL OR a.cohort = $1)
           AND ($2 IS NULL OR a.cohort IN (SELECT cohort FROM staff_cohorts WHERE learner_id = $2))
           AND NOT EXISTS (SELECT 1 FROM check_runs p WHERE p.learner_id = s.learner_id AND p.lab_id = s.lab_id
                           AND p.step_id = s.step_id AND p.status = 'passed')",
    )
    .bind(cohort)
    .bind(scope.bounded_by())
    .fetch_all(pool)
    .await
}

/// The account of a learner id, if it is a learner's within the staff member's scope.
pub async fn member(
    pool: &AnyPool,
    scope: StaffScope,
    learner_id: i64,
) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT username, cohort FROM accounts WHERE learner_id = $1 AND role = 'learner'
           AND ($2 IS NULL OR cohort IN (SELECT cohort FROM staff_cohorts WHERE learner_id = $2))",
    )
    .bind(learner_id)
    .bind(scope.bounded_by())
    .fetch_optional(pool)
    .await
}

/// Learners who have passed each (lab, step), by learner id, with when each first passed.
pub(super) async fn passed_by_learner(
    pool: &AnyPool,
) -> Result<Vec<(i64, String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT learner_id, lab_id, step_id, MIN(created_at) FROM check_runs WHERE status = 'passed' GROUP BY learner_id, lab_id, step_id",
    )
    .fetch_all(pool)
    .await
}

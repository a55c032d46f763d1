//! Check runs: every run is kept, the latest one per step is shown again; when each step started.

use sqlx::AnyPool;

use super::{CheckResult, Sighting, Status, StepRun};

/// A run as stored, with when it happened.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecordedRun {
    /// Row id.
    pub id: i64,
    /// When the run finished (UTC, RFC 3339).
    pub recorded_at: String,
    /// Which cluster it asked.
    pub via: Via,
    /// When the learner first passed the step (UTC, RFC 3339), whatever later runs found: a pass
    /// is kept, so a later failing run reads "your pass from … is kept", never as not done.
    pub passed_at: Option<String>,
    /// The run itself.
    #[serde(flatten)]
    pub run: StepRun,
}

/// Which cluster a run asked, as recorded with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// The learner's own cluster, through their `lectern connect` bridge.
    Bridge,
    /// The kubeconfig an admin assigned to the learner.
    Assigned,
    /// The server's own kubeconfig (or, on the command line, the one given).
    Server,
}

impl Via {
    /// `bridge`, `assigned`, `server`.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Bridge => "bridge",
            Via::Assigned => "assigned",
            Via::Server => "server",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "bridge" => Via::Bridge,
            "assigned" => Via::Assigned,
            _ => Via::Server,
        }
    }
}

/// Stores a run for a learner; the stored run comes back with its id and time.
pub async fn record(
    pool: &AnyPool,
    learner_id: i64,
    run: StepRun,
    via: Via,
) -> Result<RecordedRun, sqlx::Error> {
    let results =
        serde_json::to_string(&run.results).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let (id, recorded_at): (i64, String) = sqlx::query_as(
        "INSERT INTO check_runs (learner_id, lab_id, step_id, status, results, duration_ms, via) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, created_at",
    )
    .bind(learner_id)
    .bind(&run.lab)
    .bind(&run.step)
    .bind(run.status.as_str())
    .bind(results)
    .bind(run.duration_ms as i64)
    .bind(via.as_str())
    .fetch_all(pool)
    .await?
    .pop()
    .ok_or(sqlx::Error::RowNotFound)?;
    Ok(RecordedRun {
        id,
        passed_at: first_pass(pool, learner_id, &run.lab, &run.step).await?,
        recorded_at,
        via,
        run,
    })
}

/// When the learner first passed the step, if ever.
async fn first_pass(
    pool: &AnyPool,
    learner_id: i64,
    lab: &str,
    step: &str,
) -> Result<Option<String>, sqlx::Error> {
    let (first,): (Option<String>,) = sqlx::query_as(
        "SELECT min(created_at) FROM check_runs
         WHERE learner_id = $1 AND lab_id = $2 AND step_id = $3 AND status = 'passed'",
    )
    .bind(learner_id)
    .bind(lab)
    .bind(step)
    .fetch_one(pool)
    .await?;
    Ok(first)
}

/// The learner's most recent run of a step, if any.
pub(super) async fn latest(
    pool: &AnyPool,
    learner_id: i64,
    lab: &str,
    step: &str,
    step_number: u32,
) -> Result<Option<RecordedRun>, sqlx::Error> {
    let row: Option<(i64, String, String, i64, String, String)> = sqlx::query_as(
        "SELECT id, status, results, duration_ms, created_at, via FROM check_runs
         WHERE learner_id = $1 AND lab_id = $2 AND step_id = $3 ORDER BY id DESC LIMIT 1",
    )
    .bind(learner_id)
    .bind(lab)
    .bind(step)
    .fetch_optional(pool)
    .await?;
    let Some((id, status, results, duration_ms, recorded_at, via)) = row else {
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
        passed_at: first_pass(pool, learner_id, lab, step).await?,
        recorded_at,
        via: Via::parse(&via),
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

/// How a step started for a learner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// They pressed "Start".
    Start,
    /// At their first "Check my work": their work may have come before it.
    Check,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Start => "start",
            Origin::Check => "check",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "start" => Origin::Start,
            _ => Origin::Check,
        }
    }
}

/// Records that a learner started a step at `at`, as `origin` says: a `Start` starts it anew,
/// any other keeps the start it had. Returns its start and how it started.
pub(super) async fn start(
    pool: &AnyPool,
    learner_id: i64,
    lab: &str,
    step: &str,
    origin: Origin,
    at: &str,
) -> Result<(String, Origin), sqlx::Error> {
    let sql = if origin == Origin::Start {
        "INSERT INTO step_starts (learner_id, lab_id, step_id, started_at, origin) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (learner_id, lab_id, step_id) DO UPDATE SET started_at = excluded.started_at, origin = excluded.origin
         RETURNING started_at, origin"
    } else {
        "INSERT INTO step_starts (learner_id, lab_id, step_id, started_at, origin) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (learner_id, lab_id, step_id) DO UPDATE SET started_at = step_starts.started_at
         RETURNING started_at, origin"
    };
    let (started_at, origin): (String, String) = sqlx::query_as(sql)
        .bind(learner_id)
        .bind(lab)
        .bind(step)
        .bind(at)
        .bind(origin.as_str())
        .fetch_all(pool)
        .await?
        .pop()
        .ok_or(sqlx::Error::RowNotFound)?;
    Ok((started_at, Origin::parse(&origin)))
}

/// What was seen of a step's checks since the start at `started_at`.
pub(super) async fn sightings(
    pool: &AnyPool,
    learner_id: i64,
    lab: &str,
    step: &str,
    started_at: &str,
) -> Result<Vec<Sighting>, sqlx::Error> {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT check_id, seen_at, message, observed FROM check_sightings
         WHERE learner_id = $1 AND lab_id = $2 AND step_id = $3 AND started_at = $4",
    )
    .bind(learner_id)
    .bind(lab)
    .bind(step)
    .bind(started_at)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(check, seen_at, message, observed)| {
            Ok(Sighting {
                check,
                seen_at,
                message,
                observed: serde_json::from_str(&observed)
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            })
        })
        .collect()
}

/// Keeps the first sighting of each check since the start at `started_at`.
pub(super) async fn remember(
    pool: &AnyPool,
    learner_id: i64,
    lab: &str,
    step: &str,
    started_at: &str,
    seen: &[Sighting],
) -> Result<(), sqlx::Error> {
    for sighting in seen {
        sqlx::query(
            "INSERT INTO check_sightings (learner_id, lab_id, step_id, check_id, started_at, seen_at, message, observed)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (learner_id, lab_id, step_id, check_id, started_at) DO NOTHING",
        )
        .bind(learner_id)
        .bind(lab)
        .bind(step)
        .bind(&sighting.check)
        .bind(started_at)
        .bind(&sighting.seen_at)
        .bind(&sighting.message)
        .bind(sighting.observed.to_string())
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// The steps of a lab a learner started and never passed, with when each started.
pub(super) async fn in_progress(
    pool: &AnyPool,
    learner_id: i64,
    lab: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.step_id, s.started_at FROM step_starts s
         WHERE s.learner_id = $1 AND s.lab_id = $2 AND NOT EXISTS (
             SELECT 1 FROM check_runs r WHERE r.learner_id = s.learner_id AND r.lab_id = s.lab_id
                 AND r.step_id = s.step_id AND r.status = 'passed')
         ORDER BY s.step_id",
    )
    .bind(learner_id)
    .bind(lab)
    .fetch_all(pool)
    .await
}

/// A learner's assigned cluster, as admins see it (never the credentials).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Assignment {
    /// Whose (the learner's id, for unassigning).
    pub learner_id: i64,
    /// Who.
    pub username: String,
    /// The kubeconfig context used, if not its current one.
    pub context: Option<String>,
    /// The API server URL.
    pub server: String,
    /// When it was assigned.
    pub assigned_at: String,
}

/// Assigns one kubeconfig to every learner in `learner_ids`, replacing earlier assignments.
pub(super) async fn assign(
    pool: &AnyPool,
    learner_ids: &[i64],
    kubeconfig: &str,
    context: Option<&str>,
    server: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let now = crate::clock::timestamp_now();
    for learner_id in learner_ids {
        sqlx::query(
            "INSERT INTO cluster_assignments (learner_id, kubeconfig, context, server, assigned_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (learner_id) DO UPDATE SET kubeconfig = excluded.kubeconfig, context = excluded.context,
                 server = excluded.server, assigned_at = excluded.assigned_at",
        )
        .bind(learner_id)
        .bind(kubeconfig)
        .bind(context)
        .bind(server)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// The kubeconfig and context assigned to a learner, if any.
pub(super) async fn assigned_kubeconfig(
    pool: &AnyPool,
    learner_id: i64,
) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT kubeconfig, context FROM cluster_assignments WHERE learner_id = $1")
        .bind(learner_id)
        .fetch_optional(pool)
        .await
}

/// Every assignment's kubeconfig and context, by learner id (one learner's, or everyone's).
pub(super) async fn assigned_kubeconfigs(
    pool: &AnyPool,
    learner_id: Option<i64>,
) -> Result<Vec<(i64, String, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT learner_id, kubeconfig, context FROM cluster_assignments WHERE ($1 IS NULL OR learner_id = $1)",
    )
    .bind(learner_id)
    .fetch_all(pool)
    .await
}

/// Every assignment, by user name.
pub async fn assignments(pool: &AnyPool) -> Result<Vec<Assignment>, sqlx::Error> {
    let rows: Vec<(i64, String, Option<String>, String, String)> = sqlx::query_as(
        "SELECT c.learner_id, a.username, c.context, c.server, c.assigned_at FROM cluster_assignments c
         JOIN accounts a ON a.learner_id = c.learner_id ORDER BY a.username",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(learner_id, username, context, server, assigned_at)| Assignment {
                learner_id,
                username,
                context,
                server,
                assigned_at,
            },
        )
        .collect())
}

/// Removes a learner's assigned cluster; the name of whoever had one.
pub(super) async fn unassign(
    pool: &AnyPool,
    learner_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    let name: Option<(String,)> = sqlx::query_as(
        "SELECT a.username FROM cluster_assignments c JOIN accounts a ON a.learner_id = c.learner_id WHERE c.learner_id = $1",
    )
    .bind(learner_id)
    .fetch_optional(pool)
    .await?;
    sqlx::query("DELETE FROM cluster_assignments WHERE learner_id = $1")
        .bind(learner_id)
        .execute(pool)
        .await?;
    Ok(name.map(|(n,)| n))
}

/// Learner ids by user name, or of every learner in a cohort.
pub(super) async fn learners_named(
    pool: &AnyPool,
    username: Option<&str>,
    cohort: Option<&str>,
) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT learner_id FROM accounts WHERE role = 'learner' AND (($1 IS NOT NULL AND lower(username) = lower($1)) OR ($2 IS NOT NULL AND cohort = $2))",
    )
    .bind(username)
    .bind(cohort)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

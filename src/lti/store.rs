//! Registered platforms and launches in progress.

use sqlx::AnyPool;

use super::{GradeLink, Platform, QuestionColumns};
use crate::clock::{seconds_of_timestamp, timestamp_of_seconds};

/// An outbox row due now and changed since it was last taken (the Unix epoch): what the
/// triggers of migration 0024 write when something changes a learner's score. A claim sets a
/// later time, so a row still later than this when its scores are sent saw no change meanwhile.
const CHANGED: &str = "1970-01-01T00:00:00.000Z";

type PlatformRow = (i64, String, String, String, String, String, String, String);

fn platform_of(row: PlatformRow) -> Platform {
    let (id, name, issuer, client_id, auth_url, token_url, jwks_url, deployments) = row;
    Platform {
        id,
        name,
        issuer,
        client_id,
        auth_url,
        token_url,
        jwks_url,
        deployment_ids: serde_json::from_str(&deployments).unwrap_or_default(),
    }
}

const COLUMNS: &str =
    "id, name, issuer, client_id, auth_url, token_url, jwks_url, deployment_ids FROM lti_platforms";

pub(super) async fn insert(pool: &AnyPool, platform: &Platform) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO lti_platforms (name, issuer, client_id, auth_url, token_url, jwks_url, deployment_ids)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (issuer, client_id) DO NOTHING",
    )
    .bind(&platform.name)
    .bind(&platform.issuer)
    .bind(&platform.client_id)
    .bind(&platform.auth_url)
    .bind(&platform.token_url)
    .bind(&platform.jwks_url)
    .bind(serde_json::to_string(&platform.deployment_ids).unwrap_or_default())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn all(pool: &AnyPool) -> Result<Vec<Platform>, sqlx::Error> {
    let rows: Vec<PlatformRow> = sqlx::query_as(&format!("SELECT {COLUMNS} ORDER BY name"))
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(platform_of).collect())
}

/// The platforms with this issuer (one per client id Lectern has there).
pub(super) async fn by_issuer(pool: &AnyPool, issuer: &str) -> Result<Vec<Platform>, sqlx::Error> {
    let rows: Vec<PlatformRow> = sqlx::query_as(&format!("SELECT {COLUMNS} WHERE issuer = $1"))
        .bind(issuer)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(platform_of).collect())
}

pub(super) async fn by_id(pool: &AnyPool, id: i64) -> Result<Option<Platform>, sqlx::Error> {
    let row: Option<PlatformRow> = sqlx::query_as(&format!("SELECT {COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(platform_of))
}

pub(super) async fn insert_launch(
    pool: &AnyPool,
    state_hash: &str,
    nonce: &str,
    platform_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM lti_launches WHERE created_at < $1")
        .bind(timestamp_of_seconds(now - super::LAUNCH_LIFETIME_SECS))
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO lti_launches (state_hash, nonce, platform_id, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(state_hash)
    .bind(nonce)
    .bind(platform_id)
    .bind(timestamp_of_seconds(now))
    .execute(pool)
    .await
    .map(|_| ())
}

/// Takes a launch in progress: (nonce, platform id, created at); the second take finds nothing.
pub(super) async fn take_launch(
    pool: &AnyPool,
    state_hash: &str,
) -> Result<Option<(String, i64, i64)>, sqlx::Error> {
    let row: Option<(String, i64, String)> = sqlx::query_as(
        "DELETE FROM lti_launches WHERE state_hash = $1 RETURNING nonce, platform_id, created_at",
    )
    .bind(state_hash)
    .fetch_all(pool)
    .await?
    .pop();
    Ok(row.map(|(nonce, platform_id, created_at)| {
        (nonce, platform_id, seconds_of_timestamp(&created_at))
    }))
}

/// Lectern's tool keys created after `since`, newest first: (kid, private key PEM, created at).
pub(super) async fn tool_keys(
    pool: &AnyPool,
    since: i64,
) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT kid, private_pem, created_at FROM lti_tool_keys WHERE created_at > $1 ORDER BY created_at DESC",
    )
    .bind(timestamp_of_seconds(since))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(kid, pem, created_at)| (kid, pem, seconds_of_timestamp(&created_at)))
        .collect())
}

pub(super) async fn insert_tool_key(
    pool: &AnyPool,
    kid: &str,
    private_pem: &str,
    created_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO lti_tool_keys (kid, private_pem, created_at) VALUES ($1, $2, $3)")
        .bind(kid)
        .bind(private_pem)
        .bind(timestamp_of_seconds(created_at))
        .execute(pool)
        .await
        .map(|_| ())
}

/// Links a learner's module to a platform's line item (from a launch), and queues its score.
pub(super) async fn link_grades(pool: &AnyPool, link: &GradeLink) -> Result<(), sqlx::Error> {
    let (lineitems, resource_link_id) = link
        .per_question
        .as_ref()
        .map(|q| (q.lineitems.as_str(), q.resource_link_id.as_str()))
        .unzip();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO lti_grade_links (learner_id, platform_id, module_id, lineitem, user_id, lineitems, resource_link_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (learner_id, platform_id, module_id) DO UPDATE SET lineitem = excluded.lineitem,
             user_id = excluded.user_id, lineitems = excluded.lineitems, resource_link_id = excluded.resource_link_id",
    )
    .bind(link.learner_id)
    .bind(link.platform_id)
    .bind(&link.module_id)
    .bind(&link.lineitem)
    .bind(&link.user_id)
    .bind(lineitems)
    .bind(resource_link_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO lti_score_outbox (learner_id, due_at) VALUES ($1, $2)
         ON CONFLICT (learner_id) DO UPDATE SET due_at = excluded.due_at, attempts = 0",
    )
    .bind(link.learner_id)
    .bind(CHANGED)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Learners whose scores are due: (learner, attempts so far).
pub(super) async fn due_scores(pool: &AnyPool, now: i64) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT learner_id, attempts FROM lti_score_outbox WHERE due_at <= $1 ORDER BY due_at LIMIT 50")
        .bind(timestamp_of_seconds(now))
        .fetch_all(pool)
        .await
}

/// A learner's line items.
pub(super) async fn grade_links(
    pool: &AnyPool,
    learner_id: i64,
) -> Result<Vec<GradeLink>, sqlx::Error> {
    type Row = (i64, String, String, String, Option<String>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT platform_id, module_id, lineitem, user_id, lineitems, resource_link_id
         FROM lti_grade_links WHERE learner_id = $1",
    )
    .bind(learner_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(platform_id, module_id, lineitem, user_id, lineitems, link)| GradeLink {
                learner_id,
                platform_id,
                module_id,
                lineitem,
                user_id,
                per_question: lineitems.zip(link).map(|(lineitems, resource_link_id)| {
                    QuestionColumns {
                        lineitems,
                        resource_link_id,
                    }
                }),
            },
        )
        .collect())
}

/// The line item made for a question under a resource link, if Lectern made one.
pub(super) async fn question_lineitem(
    pool: &AnyPool,
    platform_id: i64,
    columns: &QuestionColumns,
    module_id: &str,
    question_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT lineitem FROM lti_question_lineitems
         WHERE platform_id = $1 AND lineitems = $2 AND resource_link_id = $3 AND module_id = $4 AND question_id = $5",
    )
    .bind(platform_id)
    .bind(&columns.lineitems)
    .bind(&columns.resource_link_id)
    .bind(module_id)
    .bind(question_id)
    .fetch_optional(pool)
    .await
}

/// Remembers the line item of a question under a resource link.
pub(super) async fn keep_question_lineitem(
    pool: &AnyPool,
    platform_id: i64,
    columns: &QuestionColumns,
    (module_id, question_id): (&str, &str),
    lineitem: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO lti_question_lineitems (platform_id, lineitems, resource_link_id, module_id, question_id, lineitem)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (platform_id, lineitems, resource_link_id, module_id, question_id) DO UPDATE SET lineitem = excluded.lineitem",
    )
    .bind(platform_id)
    .bind(&columns.lineitems)
    .bind(&columns.resource_link_id)
    .bind(module_id)
    .bind(question_id)
    .bind(lineitem)
    .execute(pool)
    .await
    .map(|_| ())
}

/// Sent: out of the outbox, unless something changed again since `taken_at` (then it stays due).
pub(super) async fn score_sent(
    pool: &AnyPool,
    learner_id: i64,
    attempts: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM lti_score_outbox WHERE learner_id = $1 AND attempts = $2 AND due_at > $3",
    )
    .bind(learner_id)
    .bind(attempts)
    .bind(CHANGED)
    .execute(pool)
    .await
    .map(|_| ())
}

/// Claims the learner's due scores for sending until `until`, unless another server claimed them
/// first; `false` then. A change meanwhile is still seen (a trigger sets due_at to [`CHANGED`]), and a claim
/// whose server died runs out, so another sends them.
pub(super) async fn score_taken(
    pool: &AnyPool,
    learner_id: i64,
    now: i64,
    until: i64,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query(
        "UPDATE lti_score_outbox SET due_at = $1 WHERE learner_id = $2 AND due_at <= $3",
    )
    .bind(timestamp_of_seconds(until))
    .bind(learner_id)
    .bind(timestamp_of_seconds(now))
    .execute(pool)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Failed: try again at `due_at`, saying why.
pub(super) async fn score_failed(
    pool: &AnyPool,
    learner_id: i64,
    due_at: i64,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE lti_score_outbox SET due_at = $1, attempts = attempts + 1, last_error = $2 WHERE learner_id = $3",
    )
    .bind(timestamp_of_seconds(due_at))
    .bind(error)
    .bind(learner_id)
    .execute(pool)
    .await
    .map(|_| ())
}

/// Scores that failed at least once and wait for another try: (user name, attempts, next try,
/// error), for admins.
pub(super) async fn failing_scores(
    pool: &AnyPool,
) -> Result<Vec<(String, i64, i64, String)>, sqlx::Error> {
    let rows: Vec<(String, i64, String, String)> = sqlx::query_as(
        "SELECT a.username, o.attempts, o.due_at, coalesce(o.last_error, '') FROM lti_score_outbox o
         JOIN accounts a ON a.learner_id = o.learner_id WHERE o.attempts > 0 ORDER BY o.due_at",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(user, attempts, due_at, error)| {
            (user, attempts, seconds_of_timestamp(&due_at), error)
        })
        .collect())
}

/// Every queued score is due now (an admin's "try again now").
pub(super) async fn retry_now(pool: &AnyPool) -> Result<u64, sqlx::Error> {
    sqlx::query("UPDATE lti_score_outbox SET due_at = $1 WHERE attempts > 0")
        .bind(timestamp_of_seconds(1))
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
}

/// A deep-linking request waiting for its instructor's choice.
pub(super) struct PendingDeepLink {
    pub(super) platform_id: i64,
    pub(super) deployment_id: String,
    pub(super) return_url: String,
    pub(super) data: Option<String>,
    pub(super) created_at: i64,
}

pub(super) async fn insert_deep_link(
    pool: &AnyPool,
    learner_id: i64,
    link: &PendingDeepLink,
) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO lti_deep_links (learner_id, platform_id, deployment_id, return_url, data, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(learner_id)
    .bind(link.platform_id)
    .bind(&link.deployment_id)
    .bind(&link.return_url)
    .bind(&link.data)
    .bind(timestamp_of_seconds(link.created_at))
    .fetch_all(pool)
    .await?
    .pop()
    .ok_or(sqlx::Error::RowNotFound)?;
    Ok(id)
}

/// The instructor's pending deep link `id`; `take` also removes it (it is answered once).
pub(super) async fn deep_link(
    pool: &AnyPool,
    id: i64,
    learner_id: i64,
    take: bool,
) -> Result<Option<PendingDeepLink>, sqlx::Error> {
    let query = if take {
        "DELETE FROM lti_deep_links WHERE id = $1 AND learner_id = $2
         RETURNING platform_id, deployment_id, return_url, data, created_at"
    } else {
        "SELECT platform_id, deployment_id, return_url, data, created_at FROM lti_deep_links
         WHERE id = $1 AND learner_id = $2"
    };
    let row: Option<(i64, String, String, Option<String>, String)> = sqlx::query_as(query)
        .bind(id)
        .bind(learner_id)
        .fetch_all(pool)
        .await?
        .pop();
    Ok(row.map(
        |(platform_id, deployment_id, return_url, data, created_at)| PendingDeepLink {
            platform_id,
            deployment_id,
            return_url,
            data,
            created_at: seconds_of_timestamp(&created_at),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_server_at_a_time_sends_a_learners_scores_and_a_lapsed_claim_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::open(&crate::db::Location::Sqlite(dir.path().join("l.db")))
            .await
            .unwrap();
        sqlx::query("INSERT INTO lti_score_outbox (learner_id, due_at) VALUES (1, $1)")
            .bind(CHANGED)
            .execute(&pool)
            .await
            .unwrap();
        assert!(
            score_taken(&pool, 1, 100, 220).await.unwrap(),
            "the first claims"
        );
        assert!(
            !score_taken(&pool, 1, 101, 221).await.unwrap(),
            "the second finds it claimed"
        );
        assert!(due_scores(&pool, 200).await.unwrap().is_empty());
        assert!(
            score_taken(&pool, 1, 220, 340).await.unwrap(),
            "a claim whose server died runs out"
        );
    }
}

//! Grade passback (LTI Assignment and Grade Services): each learner's module score, posted to the
//! line item their launch named, whenever it changes. The database queues the learner
//! (`lti_score_outbox`, filled by triggers: a check run, a choice question graded, a grade released,
//! regraded after release, or withdrawn); [`send_due`] posts and, when a platform is down, tries
//! again later with back-off. Nothing is lost across restarts: the queue is a table.
//!
//! The score is the module's lab steps passed plus the points the learner can see (choice
//! questions, and instructor grades once released), out of its checked steps plus all its points.

use std::time::Duration;

use sqlx::SqlitePool;

use super::{LtiError, keys, now, store};
use crate::auth::random_hex;
use crate::content::Course;

/// The AGS scope for posting scores.
const SCORE_SCOPE: &str = "https://purl.imsglobal.org/spec/lti-ags/scope/score";

/// Seconds before the next try after `attempts` failures: 30 s, doubling, at most an hour.
fn backoff(attempts: i64) -> i64 {
    (30_i64 << attempts.clamp(0, 7)).min(3600)
}

/// Posts every score that is due; answers how many learners' scores were sent.
pub async fn send_due(pool: &SqlitePool, course: &Course) -> Result<usize, LtiError> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let mut sent = 0;
    for (learner_id, attempts) in store::due_scores(pool, now()).await? {
        store::score_taken(pool, learner_id, now()).await?;
        match send_learner(pool, course, &http, learner_id).await {
            Ok(()) => {
                store::score_sent(pool, learner_id, attempts).await?;
                sent += 1;
            }
            Err(reason) => {
                tracing::warn!(
                    learner_id,
                    attempts = attempts + 1,
                    "LTI grade passback failed: {reason}"
                );
                store::score_failed(pool, learner_id, now() + backoff(attempts), &reason).await?;
            }
        }
    }
    Ok(sent)
}

/// One learner's scores, to every line item linked to them.
async fn send_learner(
    pool: &SqlitePool,
    course: &Course,
    http: &reqwest::Client,
    learner_id: i64,
) -> Result<(), String> {
    let progress = crate::progress::for_learner(pool, course, learner_id)
        .await
        .map_err(|e| e.to_string())?;
    for (platform_id, module_id, lineitem, user_id) in store::grade_links(pool, learner_id)
        .await
        .map_err(|e| e.to_string())?
    {
        let Some(module) = progress.modules.iter().find(|m| m.module_id == module_id) else {
            continue; // the module left the course
        };
        let points: u32 = course
            .module(&module_id)
            .map_or(0, |m| m.questions.iter().map(|q| q.points).sum());
        let Some(platform) = store::by_id(pool, platform_id)
            .await
            .map_err(|e| e.to_string())?
        else {
            continue;
        };
        let token = access_token(pool, http, &platform).await?;
        let pending = points - module.points_graded;
        let score = serde_json::json!({
            "userId": user_id,
            "scoreGiven": module.steps_passed as u32 + module.points_scored,
            "scoreMaximum": module.steps_total as u32 + points,
            "comment": format!(
                "Lab: {} of {} steps passed. Questions: {} of {} points in graded questions{}.",
                module.steps_passed,
                module.steps_total,
                module.points_scored,
                module.points_graded,
                if pending > 0 { format!("; {pending} points not graded yet") } else { String::new() }
            ),
            "timestamp": crate::bridge::rfc3339(now()),
            "activityProgress": if module.complete { "Completed" } else { "InProgress" },
            "gradingProgress": if pending == 0 { "FullyGraded" } else { "Pending" },
        });
        let url = scores_url(&lineitem)?;
        let response = http
            .post(url)
            .bearer_auth(&token)
            .header("content-type", "application/vnd.ims.lis.v1.score+json")
            .body(score.to_string())
            .send()
            .await
            .map_err(|e| format!("{}: {e}", platform.name))?;
        if !response.status().is_success() {
            return Err(format!(
                "{} answered {} to the score",
                platform.name,
                response.status()
            ));
        }
    }
    Ok(())
}

/// `<line item>/scores`, keeping the line item's query.
fn scores_url(lineitem: &str) -> Result<String, String> {
    let mut url = openidconnect::url::Url::parse(lineitem).map_err(|e| e.to_string())?;
    let path = format!("{}/scores", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(url.to_string())
}

/// An access token for scores, asked with a client assertion signed by Lectern's key.
async fn access_token(
    pool: &SqlitePool,
    http: &reqwest::Client,
    platform: &super::Platform,
) -> Result<String, String> {
    let issued = now();
    let assertion = keys::sign(
        pool,
        &serde_json::json!({
            "iss": platform.client_id,
            "sub": platform.client_id,
            "aud": platform.token_url,
            "iat": issued,
            "exp": issued + 300,
            "jti": random_hex::<16>(),
        }),
    )
    .await
    .map_err(|e: LtiError| e.to_string())?;
    let response = http
        .post(&platform.token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
            ("scope", SCORE_SCOPE),
        ])
        .send()
        .await
        .map_err(|e| format!("{}: {e}", platform.name))?;
    if !response.status().is_success() {
        return Err(format!(
            "{} refused an access token: {}",
            platform.name,
            response.status()
        ));
    }
    let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{} sent no access token", platform.name))
}

/// Makes every score that failed due at once; answers how many.
pub async fn retry_now(pool: &SqlitePool) -> Result<u64, sqlx::Error> {
    store::retry_now(pool).await
}

/// Scores waiting for another try, for the admin's LTI page.
pub async fn failing(pool: &SqlitePool) -> Result<Vec<FailingScore>, sqlx::Error> {
    Ok(store::failing_scores(pool)
        .await?
        .into_iter()
        .map(|(username, attempts, next_try, error)| FailingScore {
            username,
            attempts,
            next_try: crate::bridge::rfc3339(next_try),
            error,
        })
        .collect())
}

/// A learner's scores that could not be posted yet.
#[derive(Debug, Clone)]
pub struct FailingScore {
    /// Whose.
    pub username: String,
    /// Tries so far.
    pub attempts: i64,
    /// When it is tried again.
    pub next_try: String,
    /// Why the last try failed.
    pub error: String,
}

//! Grade passback (LTI Assignment and Grade Services): each learner's module score, posted to the
//! line item their launch named, whenever it changes. The database queues the learner
//! (`lti_score_outbox`, filled by triggers: a check run, a choice question graded, a grade released,
//! regraded after release, or withdrawn); [`send_due`] posts and, when a platform is down, tries
//! again later with back-off. Nothing is lost across restarts: the queue is a table.
//!
//! The score is the module's lab steps passed plus the points the learner can see (choice
//! questions, and instructor grades once released), out of its checked steps plus all its points.
//! A link that asks for it (`lectern_grades=per-question`) also gets a line item per question,
//! which Lectern makes in the course's container; each submitted answer's score goes there, with
//! the instructor's comment once the grade is released.

use std::time::Duration;

use sqlx::AnyPool;

use super::{LINEITEM_SCOPE, LtiError, SCORE_SCOPE, keys, now, store};
use crate::auth::random_hex;
use crate::content::Course;

/// How long a server may take to send one learner's scores before another may try (each request
/// to the platform times out after 10 s).
const CLAIM_SECONDS: i64 = 120;

/// Seconds before the next try after `attempts` failures: 30 s, doubling, at most an hour.
fn backoff(attempts: i64) -> i64 {
    (30_i64 << attempts.clamp(0, 7)).min(3600)
}

/// Posts every score that is due; answers how many learners' scores were sent.
pub async fn send_due(pool: &AnyPool, course: &Course) -> Result<usize, LtiError> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let mut sent = 0;
    for (learner_id, attempts) in store::due_scores(pool, now()).await? {
        if !store::score_taken(pool, learner_id, now(), now() + CLAIM_SECONDS).await? {
            continue; // another server is sending them
        }
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
    pool: &AnyPool,
    course: &Course,
    http: &reqwest::Client,
    learner_id: i64,
) -> Result<(), String> {
    let progress = crate::progress::for_learner(pool, course, learner_id)
        .await
        .map_err(|e| e.to_string())?;
    for link in store::grade_links(pool, learner_id)
        .await
        .map_err(|e| e.to_string())?
    {
        let (Some(progress), Some(module)) = (
            progress
                .modules
                .iter()
                .find(|m| m.module_id == link.module_id),
            course.module(&link.module_id),
        ) else {
            continue; // the module left the course
        };
        let Some(platform) = store::by_id(pool, link.platform_id)
            .await
            .map_err(|e| e.to_string())?
        else {
            continue;
        };
        let service =
            GradeService::connect(pool, http, &platform, link.per_question.is_some()).await?;
        service
            .post_score(&link.lineitem, &module_score(&link, module, progress))
            .await?;
        if let Some(columns) = &link.per_question {
            for (index, question) in module.questions.iter().enumerate() {
                if question.points == 0 {
                    continue; // a line item needs a maximum above 0
                }
                let answer = crate::assess::latest(
                    pool,
                    course,
                    learner_id,
                    module.id.as_ref(),
                    question.id.as_ref(),
                )
                .await
                .map_err(|e| e.to_string())?;
                let Some(answer) = answer.filter(|a| a.state != "draft") else {
                    continue; // nothing to grade yet: the column stays empty
                };
                let lineitem = service
                    .question_lineitem(pool, columns, module, index + 1, question)
                    .await?;
                service
                    .post_score(&lineitem, &question_score(&link.user_id, &answer))
                    .await?;
            }
        }
    }
    Ok(())
}

/// The module's score: lab steps passed plus the points the learner can see, with a comment that
/// states both parts.
fn module_score(
    link: &super::GradeLink,
    module: &crate::content::Module,
    progress: &crate::progress::ModuleProgress,
) -> serde_json::Value {
    let points: u32 = module.questions.iter().map(|q| q.points).sum();
    let pending = points - progress.points_graded;
    serde_json::json!({
        "userId": link.user_id,
        "scoreGiven": progress.steps_passed as u32 + progress.points_scored,
        "scoreMaximum": progress.steps_total as u32 + points,
        "comment": format!(
            "Lab: {} of {} steps passed. Questions: {} of {} points in graded questions{}.",
            progress.steps_passed,
            progress.steps_total,
            progress.points_scored,
            progress.points_graded,
            if pending > 0 { format!("; {pending} points not graded yet") } else { String::new() }
        ),
        "timestamp": crate::bridge::rfc3339(now()),
        "activityProgress": if progress.complete { "Completed" } else { "InProgress" },
        "gradingProgress": if pending == 0 { "FullyGraded" } else { "Pending" },
    })
}

/// A submitted answer's score: the points once the learner can see them (a choice question at
/// once, a written answer once its grade is released, with the instructor's comment); until then
/// no score, waiting for the instructor.
fn question_score(user_id: &str, answer: &crate::assess::AnswerView) -> serde_json::Value {
    let mut score = serde_json::json!({
        "userId": user_id,
        "scoreMaximum": answer.points,
        "timestamp": crate::bridge::rfc3339(now()),
        "activityProgress": "Submitted",
        "gradingProgress": "PendingManual",
    });
    if let Some(given) = answer.score {
        score["scoreGiven"] = given.into();
        score["activityProgress"] = "Completed".into();
        score["gradingProgress"] = "FullyGraded".into();
    }
    if let Some(grade) = answer
        .grade
        .as_ref()
        .filter(|g| !g.feedback.trim().is_empty())
    {
        score["comment"] = grade.feedback.trim().into();
    }
    score
}

/// A platform's grade services, with an access token.
struct GradeService<'a> {
    http: &'a reqwest::Client,
    platform: &'a super::Platform,
    token: String,
}

impl<'a> GradeService<'a> {
    /// Asks for an access token: to post scores, and to make line items when `line_items`.
    async fn connect(
        pool: &AnyPool,
        http: &'a reqwest::Client,
        platform: &'a super::Platform,
        line_items: bool,
    ) -> Result<Self, String> {
        let scope = if line_items {
            format!("{SCORE_SCOPE} {LINEITEM_SCOPE}")
        } else {
            SCORE_SCOPE.to_owned()
        };
        let token = access_token(pool, http, platform, &scope).await?;
        Ok(Self {
            http,
            platform,
            token,
        })
    }

    /// Posts `score` to `lineitem`.
    async fn post_score(&self, lineitem: &str, score: &serde_json::Value) -> Result<(), String> {
        let response = self
            .http
            .post(scores_url(lineitem)?)
            .bearer_auth(&self.token)
            .header("content-type", "application/vnd.ims.lis.v1.score+json")
            .body(score.to_string())
            .send()
            .await
            .map_err(|e| format!("{}: {e}", self.platform.name))?;
        if !response.status().is_success() {
            return Err(format!(
                "{} answered {} to the score",
                self.platform.name,
                response.status()
            ));
        }
        Ok(())
    }

    /// The line item of question `number` of `module` under the learner's resource link: the one
    /// Lectern remembers, else the one the platform already has (made by another server, or
    /// before a restore), else a new one.
    async fn question_lineitem(
        &self,
        pool: &AnyPool,
        columns: &super::QuestionColumns,
        module: &crate::content::Module,
        number: usize,
        question: &crate::content::Question,
    ) -> Result<String, String> {
        let key = (module.id.as_ref(), question.id.as_ref());
        let known = store::question_lineitem(pool, self.platform.id, columns, key.0, key.1)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(lineitem) = known {
            return Ok(lineitem);
        }
        let resource_id = format!("{}/{}", key.0, key.1);
        let lineitem = match self.find_lineitem(columns, &resource_id).await? {
            Some(found) => found,
            None => {
                let label: String = format!("{} · Q{number}: {}", module.title, question.summary())
                    .chars()
                    .take(120)
                    .collect();
                self.make_lineitem(columns, &resource_id, &label, question.points)
                    .await?
            }
        };
        store::keep_question_lineitem(pool, self.platform.id, columns, key, &lineitem)
            .await
            .map_err(|e| e.to_string())?;
        Ok(lineitem)
    }

    /// The container's line item for `resource_id` under the resource link, if there is one.
    async fn find_lineitem(
        &self,
        columns: &super::QuestionColumns,
        resource_id: &str,
    ) -> Result<Option<String>, String> {
        let mut url =
            openidconnect::url::Url::parse(&columns.lineitems).map_err(|e| e.to_string())?;
        url.query_pairs_mut()
            .append_pair("resource_link_id", &columns.resource_link_id)
            .append_pair("resource_id", resource_id);
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .header(
                "accept",
                "application/vnd.ims.lis.v2.lineitemcontainer+json",
            )
            .send()
            .await
            .map_err(|e| format!("{}: {e}", self.platform.name))?;
        if !response.status().is_success() {
            return Err(format!(
                "{} answered {} to the list of line items",
                self.platform.name,
                response.status()
            ));
        }
        let items: Vec<serde_json::Value> = response.json().await.map_err(|e| {
            format!(
                "{} sent line items that are not JSON: {e}",
                self.platform.name
            )
        })?;
        // Platforms may ignore the filters: check them here too.
        Ok(items
            .iter()
            .filter(|item| {
                item["resourceId"] == resource_id
                    && item["resourceLinkId"] == columns.resource_link_id.as_str()
            })
            .find_map(|item| item["id"].as_str().map(str::to_owned)))
    }

    /// Makes a line item for `resource_id` in the container, tied to the resource link.
    async fn make_lineitem(
        &self,
        columns: &super::QuestionColumns,
        resource_id: &str,
        label: &str,
        points: u32,
    ) -> Result<String, String> {
        let item = serde_json::json!({
            "scoreMaximum": points,
            "label": label,
            "resourceId": resource_id,
            "resourceLinkId": columns.resource_link_id,
            "tag": "lectern-question",
        });
        let response = self
            .http
            .post(&columns.lineitems)
            .bearer_auth(&self.token)
            .header("content-type", "application/vnd.ims.lis.v2.lineitem+json")
            .body(item.to_string())
            .send()
            .await
            .map_err(|e| format!("{}: {e}", self.platform.name))?;
        if !response.status().is_success() {
            return Err(format!(
                "{} answered {} to a new line item",
                self.platform.name,
                response.status()
            ));
        }
        let made: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
        made["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{} made a line item without an id", self.platform.name))
    }
}

/// `<line item>/scores`, keeping the line item's query.
fn scores_url(lineitem: &str) -> Result<String, String> {
    let mut url = openidconnect::url::Url::parse(lineitem).map_err(|e| e.to_string())?;
    let path = format!("{}/scores", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(url.to_string())
}

/// An access token for `scope`, asked with a client assertion signed by Lectern's key.
async fn access_token(
    pool: &AnyPool,
    http: &reqwest::Client,
    platform: &super::Platform,
    scope: &str,
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
            ("scope", scope),
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
pub async fn retry_now(pool: &AnyPool) -> Result<u64, sqlx::Error> {
    store::retry_now(pool).await
}

/// Scores waiting for another try, for the admin's LTI page.
pub async fn failing(pool: &AnyPool) -> Result<Vec<FailingScore>, sqlx::Error> {
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

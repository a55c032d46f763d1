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

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sqlx::AnyPool;

use super::{LINEITEM_SCOPE, LtiError, SCORE_SCOPE, keys, store};
use crate::content::Course;
use crate::secrets::random_hex;

/// How long a server may take to send one learner's scores before another may try (each request
/// to the platform times out after 10 s).
const CLAIM_SECONDS: i64 = 120;

/// Seconds before the next try after `attempts` failures: 30 s, doubling, at most an hour.
fn backoff(attempts: i64) -> i64 {
    (30_i64 << attempts.clamp(0, 7)).min(3600)
}

/// How long a platform may take to answer one request.
const PLATFORM_TIMEOUT: Duration = Duration::from_secs(10);

/// How long before its expiry a cached access token is asked for again.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// How long a token is kept when the platform does not say (`expires_in`).
const TOKEN_DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// Why one learner's scores could not be sent; the text is what admins see on the LTI page.
#[derive(Debug, thiserror::Error)]
pub enum PassbackError {
    /// The platform could not be reached (or did not answer in time).
    #[error("{platform}: {source}")]
    Unreachable {
        /// The platform's name.
        platform: String,
        /// What the HTTP client said.
        source: reqwest::Error,
    },
    /// The platform answered with an error status.
    #[error("{platform} answered {status} to {what}")]
    Refused {
        /// The platform's name.
        platform: String,
        /// Its answer.
        status: StatusCode,
        /// The request ("the score", "an access token", …).
        what: &'static str,
    },
    /// The platform's answer is not what the standard says.
    #[error("{platform} {what}")]
    Malformed {
        /// The platform's name.
        platform: String,
        /// What was wrong ("sent no access token").
        what: String,
    },
    /// A line item's address (from a launch or the platform) is not a URL.
    #[error("a line item's address is not a URL: {0}")]
    Address(#[from] openidconnect::url::ParseError),
    /// Lectern could not sign its client assertion.
    #[error("cannot sign the client assertion: {0}")]
    Signing(Box<LtiError>),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Grade passback for the process: one HTTP client, and each platform's access tokens kept until
/// they are about to expire, so that a busy course asks its platform for a token once an hour, not
/// once per score.
pub struct Passback {
    http: reqwest::Client,
    tokens: Mutex<HashMap<(i64, String), (String, Instant)>>,
}

impl Passback {
    /// The client platforms are asked through: no redirects (a score and its bearer token go
    /// where the launch said, nowhere else), and a timeout per request.
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PLATFORM_TIMEOUT)
            .build()?;
        Ok(Self {
            http,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// Posts every score that is due; answers how many learners' scores were sent.
    pub async fn send_due(&self, pool: &AnyPool, course: &Course) -> Result<usize, LtiError> {
        let mut sent = 0;
        for (learner_id, attempts) in store::due_scores(pool, crate::clock::unix_seconds()).await? {
            if !store::score_taken(
                pool,
                learner_id,
                crate::clock::unix_seconds(),
                crate::clock::unix_seconds() + CLAIM_SECONDS,
            )
            .await?
            {
                continue; // another server is sending them
            }
            match self.send_learner(pool, course, learner_id).await {
                Ok(()) => {
                    store::score_sent(pool, learner_id, attempts).await?;
                    sent += 1;
                }
                Err(reason) => {
                    let reason = reason.to_string();
                    tracing::warn!(
                        learner_id,
                        attempts = attempts + 1,
                        "LTI grade passback failed: {reason}"
                    );
                    store::score_failed(
                        pool,
                        learner_id,
                        crate::clock::unix_seconds() + backoff(attempts),
                        &reason,
                    )
                    .await?;
                }
            }
        }
        Ok(sent)
    }

    /// An access token for `scope` at `platform`: the cached one while it lasts, else a new one.
    async fn token(
        &self,
        pool: &AnyPool,
        platform: &super::Platform,
        scope: &str,
    ) -> Result<String, PassbackError> {
        let key = (platform.id, scope.to_owned());
        let cached = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(token, _)| token.clone());
        if let Some(token) = cached {
            return Ok(token);
        }
        let (token, lifetime) = access_token(pool, &self.http, platform, scope).await?;
        let until = Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN);
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, (token.clone(), until));
        Ok(token)
    }

    /// One learner's scores, to every line item linked to them.
    async fn send_learner(
        &self,
        pool: &AnyPool,
        course: &Course,
        learner_id: i64,
    ) -> Result<(), PassbackError> {
        let sent = self.post_learner(pool, course, learner_id).await;
        if let Err(PassbackError::Refused {
            status: StatusCode::UNAUTHORIZED,
            platform,
            ..
        }) = &sent
        {
            tracing::info!(%platform, "LTI: the platform refused a cached access token; a new one is asked next time");
            self.tokens
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clear();
        }
        sent
    }

    async fn post_learner(
        &self,
        pool: &AnyPool,
        course: &Course,
        learner_id: i64,
    ) -> Result<(), PassbackError> {
        let answered = crate::assess::submitted(pool, learner_id).await?;
        let progress = crate::progress::with_answers(pool, course, learner_id, &answered).await?;
        for link in store::grade_links(pool, learner_id).await? {
            let (Some(progress), Some(module)) = (
                progress
                    .modules
                    .iter()
                    .find(|m| m.module_id == link.module_id),
                course.module(&link.module_id),
            ) else {
                continue; // the module left the course
            };
            let Some(platform) = store::by_id(pool, link.platform_id).await? else {
                continue;
            };
            let scope = if link.per_question.is_some() {
                format!("{SCORE_SCOPE} {LINEITEM_SCOPE}")
            } else {
                SCORE_SCOPE.to_owned()
            };
            let service = GradeService {
                http: &self.http,
                platform: &platform,
                token: self.token(pool, &platform, &scope).await?,
            };
            service
                .post_score(&link.lineitem, &module_score(&link, module, progress))
                .await?;
            if let Some(columns) = &link.per_question {
                for (index, question) in module.questions.iter().enumerate() {
                    if question.points == 0 {
                        continue; // a line item needs a maximum above 0
                    }
                    let Some(answer) =
                        answered.get(&(module.id.to_string(), question.id.to_string()))
                    else {
                        continue; // nothing submitted yet: the column stays empty
                    };
                    let lineitem = service
                        .question_lineitem(pool, columns, module, index + 1, question)
                        .await?;
                    service
                        .post_score(
                            &lineitem,
                            &question_score(&link.user_id, question.points, answer),
                        )
                        .await?;
                }
            }
        }
        Ok(())
    }
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
            "{} Questions: {} of {} points in graded questions{}.",
            lab_summary(progress),
            progress.points_scored,
            progress.points_graded,
            if pending > 0 { format!("; {pending} points not graded yet") } else { String::new() }
        ),
        "timestamp": crate::clock::rfc3339(crate::clock::unix_seconds()),
        "activityProgress": if progress.complete { "Completed" } else { "InProgress" },
        "gradingProgress": if pending == 0 { "FullyGraded" } else { "Pending" },
    })
}

/// The lab part of a module's score comment: steps passed (a pass is kept), and when the last
/// of them first passed.
fn lab_summary(progress: &crate::progress::ModuleProgress) -> String {
    let last = progress
        .last_passed_at
        .as_deref()
        .and_then(crate::clock::readable)
        .map(|at| format!(" (the last at {at})"))
        .unwrap_or_default();
    format!(
        "Lab: {} of {} steps passed{last}.",
        progress.steps_passed, progress.steps_total
    )
}

/// A submitted answer's score: the points once the learner can see them (a choice question at
/// once, a written answer once its grade is released, with the instructor's comment); until then
/// no score, waiting for the instructor.
fn question_score(
    user_id: &str,
    points: u32,
    answer: &crate::assess::VisibleScore,
) -> serde_json::Value {
    let mut score = serde_json::json!({
        "userId": user_id,
        "scoreMaximum": points,
        "timestamp": crate::clock::rfc3339(crate::clock::unix_seconds()),
        "activityProgress": "Submitted",
        "gradingProgress": "PendingManual",
    });
    if let Some(given) = answer.score {
        score["scoreGiven"] = given.into();
        score["activityProgress"] = "Completed".into();
        score["gradingProgress"] = "FullyGraded".into();
    }
    if let Some(comment) = &answer.comment {
        score["comment"] = comment.as_str().into();
    }
    score
}

/// A platform's grade services, with an access token.
struct GradeService<'a> {
    http: &'a reqwest::Client,
    platform: &'a super::Platform,
    token: String,
}

impl GradeService<'_> {
    /// The platform could not be reached.
    fn unreachable(&self, source: reqwest::Error) -> PassbackError {
        PassbackError::Unreachable {
            platform: self.platform.name.clone(),
            source,
        }
    }

    /// The platform's answer, or the error its status says.
    fn successful(
        &self,
        response: reqwest::Response,
        what: &'static str,
    ) -> Result<reqwest::Response, PassbackError> {
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(PassbackError::Refused {
                platform: self.platform.name.clone(),
                status: response.status(),
                what,
            })
        }
    }

    /// The platform sent something the standard does not allow.
    fn malformed(&self, what: impl Into<String>) -> PassbackError {
        PassbackError::Malformed {
            platform: self.platform.name.clone(),
            what: what.into(),
        }
    }

    /// Posts `score` to `lineitem`.
    async fn post_score(
        &self,
        lineitem: &str,
        score: &serde_json::Value,
    ) -> Result<(), PassbackError> {
        let response = self
            .http
            .post(scores_url(lineitem)?)
            .bearer_auth(&self.token)
            .header("content-type", "application/vnd.ims.lis.v1.score+json")
            .body(score.to_string())
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.successful(response, "the score")?;
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
    ) -> Result<String, PassbackError> {
        let key = (module.id.as_ref(), question.id.as_ref());
        let known = store::question_lineitem(pool, self.platform.id, columns, key.0, key.1).await?;
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
        store::keep_question_lineitem(pool, self.platform.id, columns, key, &lineitem).await?;
        Ok(lineitem)
    }

    /// The container's line item for `resource_id` under the resource link, if there is one.
    async fn find_lineitem(
        &self,
        columns: &super::QuestionColumns,
        resource_id: &str,
    ) -> Result<Option<String>, PassbackError> {
        let mut url = openidconnect::url::Url::parse(&columns.lineitems)?;
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
            .map_err(|e| self.unreachable(e))?;
        let items: Vec<serde_json::Value> = self
            .successful(response, "the list of line items")?
            .json()
            .await
            .map_err(|e| self.malformed(format!("sent line items that are not JSON: {e}")))?;
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
    ) -> Result<String, PassbackError> {
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
            .map_err(|e| self.unreachable(e))?;
        let made: serde_json::Value = self
            .successful(response, "a new line item")?
            .json()
            .await
            .map_err(|e| self.malformed(format!("sent a line item that is not JSON: {e}")))?;
        made["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| self.malformed("made a line item without an id"))
    }
}

/// `<line item>/scores`, keeping the line item's query.
fn scores_url(lineitem: &str) -> Result<String, PassbackError> {
    let mut url = openidconnect::url::Url::parse(lineitem)?;
    let path = format!("{}/scores", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(url.to_string())
}

/// An access token for `scope` and how long it lasts, asked with a client assertion signed by
/// Lectern's key.
async fn access_token(
    pool: &AnyPool,
    http: &reqwest::Client,
    platform: &super::Platform,
    scope: &str,
) -> Result<(String, Duration), PassbackError> {
    let issued = crate::clock::unix_seconds();
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
    .map_err(|e| PassbackError::Signing(Box::new(e)))?;
    let service = GradeService {
        http,
        platform,
        token: String::new(),
    };
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
        .map_err(|e| service.unreachable(e))?;
    let body: serde_json::Value = service
        .successful(response, "a request for an access token")?
        .json()
        .await
        .map_err(|e| service.malformed(format!("sent a token answer that is not JSON: {e}")))?;
    let token = body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| service.malformed("sent no access token"))?;
    let lifetime = body["expires_in"]
        .as_u64()
        .map_or(TOKEN_DEFAULT_LIFETIME, Duration::from_secs);
    Ok((token, lifetime))
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
            next_try: crate::clock::rfc3339(next_try),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lab_summary_says_when_the_last_step_passed() {
        let mut progress = crate::progress::ModuleProgress {
            module_id: "cluster-architecture".to_owned(),
            title: "Cluster architecture".to_owned(),
            opened: true,
            steps_total: 11,
            steps_passed: 0,
            last_passed_at: None,
            questions_total: 0,
            questions_answered: 0,
            points_scored: 0,
            points_graded: 0,
            next_step: None,
            complete: false,
            last_opened_at: None,
        };
        assert_eq!(lab_summary(&progress), "Lab: 0 of 11 steps passed.");
        progress.steps_passed = 5;
        progress.last_passed_at = Some("2026-12-05T10:33:07.125Z".to_owned());
        assert_eq!(
            lab_summary(&progress),
            "Lab: 5 of 11 steps passed (the last at 5 Dec 2026, 10:33 UTC)."
        );
    }
}

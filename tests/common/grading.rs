//! Grading helpers: a portal with learners and instructors, answers submitted as the page does, and
//! grades and releases posted as the grading forms do.

use reqwest::StatusCode;
use serde_json::Value;

use super::TestApp;
use super::browser::{Browser, hidden};
use lectern::auth::Role;

/// Module 01's questions' API.
pub const QUESTIONS: &str = "/api/modules/cluster-architecture/questions";

/// A portal with learners ada (cohort blue) and grace (green) and instructors ines and ivan.
pub async fn portal(app: TestApp) -> TestApp {
    for (name, role, cohort) in [
        ("ada", Role::Learner, Some("blue")),
        ("grace", Role::Learner, Some("green")),
        ("ines", Role::Instructor, None),
        ("ivan", Role::Instructor, None),
    ] {
        app.add_account(name, role, cohort).await;
    }
    app
}

pub async fn submit(browser: &Browser<'_>, question: &str, body: Value) -> (StatusCode, Value) {
    let response = browser
        .post_json(&format!("{QUESTIONS}/{question}/answer"), &body.to_string())
        .await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Answer ids linked from the queue, in queue order (each row links its learner and its action).
pub fn queue_ids(html: &str) -> Vec<String> {
    let mut ids: Vec<String> = html
        .split("href=\"/instructor/grading/answers/")
        .skip(1)
        .map(|s| s.split(['?', '"']).next().unwrap().to_owned())
        .collect();
    ids.dedup();
    ids
}

/// Posts a grade as the grading form does, from the page the grader loaded.
pub async fn post_grade(
    grader: &Browser<'_>,
    id: &str,
    page: &str,
    scores: &[&str],
    feedback: &str,
) -> reqwest::Response {
    post_grade_then(grader, id, page, scores, feedback, "next").await
}

/// [`post_grade`] with the button pressed: `next` ("Save grade and go to the next") or `stay`.
pub async fn post_grade_then(
    grader: &Browser<'_>,
    id: &str,
    page: &str,
    scores: &[&str],
    feedback: &str,
    then: &str,
) -> reqwest::Response {
    let (csrf, revision, version) = (
        hidden(page, "csrf"),
        hidden(page, "revision"),
        hidden(page, "rubric_version"),
    );
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("revision", revision.as_str()),
        ("rubric_version", version.as_str()),
    ];
    form.extend(scores.iter().map(|s| ("score", *s)));
    form.push(("feedback", feedback));
    form.push(("then", then));
    grader
        .post_form(&format!("/instructor/grading/answers/{id}"), &form)
        .await
}

pub async fn release(grader: &Browser<'_>, question: Option<&str>) -> reqwest::Response {
    let csrf = grader.csrf().await;
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("release_module", "cluster-architecture"),
        ("confirm", "yes"),
    ];
    if let Some(q) = question {
        form.push(("release_question", q));
    }
    grader.post_form("/instructor/grading/release", &form).await
}

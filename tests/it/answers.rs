//! Answering assessment questions in place: versions, instant grading of choice questions, progress.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestApp;

const MODULE: &str = "/api/modules/cluster-architecture/questions";

/// POSTs `body` as JSON to `{MODULE}/{question}/{what}`; the status and the JSON answer.
async fn post(app: &TestApp, question: &str, what: &str, body: Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(&format!("{MODULE}/{question}/{what}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn answer(app: &TestApp, question: &str, body: Value) -> (StatusCode, Value) {
    post(app, question, "answer", body).await
}

#[tokio::test]
async fn choice_questions_are_graded_on_submission_with_an_explanation_per_option() {
    let app = TestApp::spawn().await;
    let (status, right) = answer(
        &app,
        "etcd-quorum-size",
        json!({ "choices": [1], "submit": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(right["state"], "graded");
    assert_eq!(right["locked"], true);
    assert_eq!(right["score"], 2);
    assert_eq!(right["points"], 2);
    assert_eq!(right["feedback"].as_array().unwrap().len(), 4);
    assert_eq!(
        right["feedback"][1],
        json!({ "correct": true, "selected": true, "explanation": "A majority of four is three, so one member may fail. That is no better than three members, which is why odd sizes are used." })
    );
    let (status, again) = answer(
        &app,
        "etcd-quorum-size",
        json!({ "choices": [2], "submit": true }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the explanations gave the answer away"
    );
    assert_eq!(
        again["error"],
        "you have already answered this question; choice questions are answered once"
    );
    let (_, wrong) = answer(
        &app,
        "who-talks-to-etcd",
        json!({ "choices": [2], "submit": true }),
    )
    .await;
    assert_eq!(wrong["score"], 0);
    assert_eq!(wrong["version"], 1);
    assert_eq!(wrong["feedback"][2]["selected"], true);
    assert_eq!(wrong["feedback"][2]["correct"], false);

    let (_, all) = answer(
        &app,
        "watchers",
        json!({ "choices": [3, 0], "submit": true }),
    )
    .await;
    assert_eq!(all["score"], 3, "every correct option and no wrong one");
    let fresh = TestApp::spawn().await;
    let (_, partial) = answer(
        &fresh,
        "watchers",
        json!({ "choices": [0], "submit": true }),
    )
    .await;
    assert_eq!(partial["score"], 0, "multiple-select needs the exact set");
}

#[tokio::test]
async fn answers_that_do_not_fit_the_question_are_refused_with_a_reason() {
    let app = TestApp::spawn().await;
    for (question, body, message) in [
        (
            "etcd-quorum-size",
            json!({ "choices": [0, 1], "submit": true }),
            "select exactly one option",
        ),
        (
            "etcd-quorum-size",
            json!({ "choices": [7], "submit": true }),
            "option 7 does not exist (the question has 4)",
        ),
        (
            "etcd-quorum-size",
            json!({ "choices": [1], "submit": false }),
            "choice questions are submitted, not saved as drafts",
        ),
        (
            "watchers",
            json!({ "choices": [], "submit": true }),
            "select at least one option",
        ),
        (
            "api-server-role",
            json!({ "text": "   ", "submit": true }),
            "write an answer before submitting it",
        ),
        (
            "api-server-role",
            json!({ "choices": [1], "submit": true }),
            "this is an open question: send `text`, not `choices`",
        ),
    ] {
        let (status, body) = answer(&app, question, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{question}");
        assert_eq!(body["error"], message);
    }
    let (status, body) = answer(&app, "no-such-question", json!({ "text": "x" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["error"],
        "module `cluster-architecture` has no question `no-such-question`"
    );
}

#[tokio::test]
async fn open_answers_keep_every_version_and_come_back_as_written() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.get(&format!("{MODULE}/api-server-role/answer"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let text = "It is the only entry point <script>alert('x')</script> & talks to etcd.";
    let (_, draft) = answer(
        &app,
        "api-server-role",
        json!({ "text": "first thoughts", "submit": false }),
    )
    .await;
    assert_eq!(
        (draft["state"].as_str(), draft["version"].as_i64()),
        (Some("draft"), Some(1))
    );
    let (_, submitted) = answer(
        &app,
        "api-server-role",
        json!({ "text": text, "submit": true }),
    )
    .await;
    assert_eq!(
        (submitted["state"].as_str(), submitted["version"].as_i64()),
        (Some("submitted"), Some(2))
    );
    assert_eq!(
        submitted["score"],
        Value::Null,
        "open answers wait for an instructor"
    );
    let current = app.get(&format!("{MODULE}/api-server-role/answer")).await;
    assert_eq!(current.headers()["content-type"], "application/json");
    let current: Value = current.json().await.unwrap();
    assert_eq!(
        current["text"], text,
        "JSON carries the text exactly; the page shows it as text, never as HTML"
    );
    let (versions,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM answers WHERE question_id = 'api-server-role'")
            .fetch_one(&app.app.db)
            .await
            .unwrap();
    assert_eq!(versions, 2);
    let page = app.get_ok_text("/modules/cluster-architecture").await;
    assert!(
        !page.contains("alert('x')"),
        "answers are never baked into the shared page"
    );
    assert!(page.contains(r#"<form class="answer" data-module="cluster-architecture" data-question="api-server-role" data-kind="open">"#));
}

#[tokio::test]
async fn in_portal_mode_answers_are_private_and_need_the_csrf_token() {
    use crate::common::browser::signed_in;
    use lectern::auth::Role;
    let app = TestApp::spawn_portal().await;
    for name in ["ada", "grace"] {
        app.add_account(name, Role::Learner, None).await;
    }
    let ada = signed_in(&app, "ada").await;
    let url = app.url(&format!("{MODULE}/api-server-role/answer"));
    let post = |token: Option<String>| {
        let mut request = ada
            .with_cookie(ada.client.post(&url))
            .json(&json!({ "text": "ada's answer", "submit": true }));
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        request.send()
    };
    assert_eq!(post(None).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(
        post(Some(ada.csrf().await)).await.unwrap().status(),
        StatusCode::OK
    );
    let grace = signed_in(&app, "grace").await;
    assert_eq!(
        grace
            .get(&format!("{MODULE}/api-server-role/answer"))
            .await
            .status(),
        StatusCode::NO_CONTENT,
        "grace cannot see ada's answer"
    );
    let own: Value = ada
        .get(&format!("{MODULE}/api-server-role/answer"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own["text"], "ada's answer");
}

async fn stored_versions(app: &TestApp, question: &str) -> Vec<(i64, String)> {
    sqlx::query_as("SELECT version, state FROM answers WHERE question_id = $1 ORDER BY version")
        .bind(question)
        .fetch_all(&app.app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn drafts_are_coalesced_and_every_submission_is_kept() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        let (status, draft) = answer(
            &app,
            "api-server-role",
            json!({ "text": format!("draft {i}"), "submit": false }),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(draft["version"], i + 1, "each save counts");
    }
    assert_eq!(
        stored_versions(&app, "api-server-role").await,
        vec![(5, "draft".to_owned())],
        "five drafts in a row are one row"
    );
    answer(
        &app,
        "api-server-role",
        json!({ "text": "final", "submit": true }),
    )
    .await;
    answer(
        &app,
        "api-server-role",
        json!({ "text": "second thoughts", "submit": false }),
    )
    .await;
    answer(
        &app,
        "api-server-role",
        json!({ "text": "third thoughts", "submit": false }),
    )
    .await;
    answer(
        &app,
        "api-server-role",
        json!({ "text": "resubmitted", "submit": true }),
    )
    .await;
    assert_eq!(
        stored_versions(&app, "api-server-role").await,
        vec![
            (5, "draft".to_owned()),
            (6, "submitted".to_owned()),
            (8, "draft".to_owned()),
            (9, "submitted".to_owned()),
        ]
    );
    let (_, current) = answer(
        &app,
        "api-server-role",
        json!({ "text": "x".repeat(20_001), "submit": false }),
    )
    .await;
    assert_eq!(current["error"], "answers are limited to 20,000 characters");
}

#[tokio::test]
async fn saving_answers_too_often_gets_429_with_retry_after_and_a_sentence() {
    let app = TestApp::spawn().await;
    let mut refused = None;
    for i in 0..40 {
        let response = app
            .client
            .post(app.url(&format!("{MODULE}/api-server-role/answer")))
            .json(&json!({ "text": format!("draft {i}"), "submit": false }))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some((i, response));
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
    }
    let (at, response) = refused.expect("refused within 40 saves");
    assert_eq!(at, 30, "a burst of 30 is allowed");
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3).contains(&wait), "Retry-After {wait}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"],
        format!("You are saving answers too often: wait {wait} s and try again.")
    );
}

async fn sheet(app: &TestApp, question: &str) -> (StatusCode, Value) {
    let response = app
        .get(&format!("{MODULE}/{question}/self-assessment"))
        .await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn self_assess(app: &TestApp, question: &str, body: Value) -> (StatusCode, Value) {
    post(app, question, "self-assessment", body).await
}

#[tokio::test]
async fn in_personal_mode_a_submitted_answer_is_self_assessed_and_never_counts_as_a_grade() {
    let app = TestApp::spawn().await;
    // Not before the answer is submitted: the model answer must not help write it.
    let (status, body) = sheet(&app, "api-server-role").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"],
        "submit your answer first: the model answer is shown only after you have written yours"
    );
    answer(
        &app,
        "api-server-role",
        json!({ "text": "a draft", "submit": false }),
    )
    .await;
    assert_eq!(sheet(&app, "api-server-role").await.0, StatusCode::CONFLICT);
    answer(
        &app,
        "api-server-role",
        json!({ "text": "The API server authenticates, authorizes and admits.", "submit": true }),
    )
    .await;

    let (status, sheet_body) = sheet(&app, "api-server-role").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        sheet_body["model_answer"]
            .as_str()
            .unwrap()
            .starts_with("<p>The API server is the control plane’s only entry point"),
        "the rendered model answer: {sheet_body}"
    );
    let rubric = sheet_body["rubric"].as_array().unwrap();
    assert_eq!(rubric.len(), 4);
    assert_eq!(rubric[0]["points"], 3);
    assert_eq!(sheet_body["answer_version"], 2);
    assert_eq!(sheet_body["current"], Value::Null);

    // Wrong shapes are refused with a reason.
    let (status, body) = self_assess(&app, "api-server-role", json!({ "scores": [3, 4] })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["error"],
        "give one score per rubric criterion: 4 expected, 2 given"
    );
    let (status, body) =
        self_assess(&app, "api-server-role", json!({ "scores": [9, 0, 0, 0] })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("is worth at most 3 points, not 9")
    );
    let (status, _) = self_assess(&app, "who-talks-to-etcd", json!({ "scores": [1] })).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "choice questions are Lectern's"
    );

    let (status, assessed) =
        self_assess(&app, "api-server-role", json!({ "scores": [3, 2, 1, 0] })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(assessed["score"], 6);
    assert_eq!(assessed["points"], 10);
    assert_eq!(assessed["answer_version"], 2);
    assert_eq!(assessed["criteria"][1]["score"], 2);

    // The answer carries it as self-assessed; its state and score are not an instructor's grade.
    let current: Value = app
        .get(&format!("{MODULE}/api-server-role/answer"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(current["state"], "submitted");
    assert_eq!(current["score"], Value::Null);
    assert_eq!(current["grade"], Value::Null);
    assert_eq!(current["self_assessment"]["score"], 6);
    let grades: (i64,) = sqlx::query_as("SELECT count(*) FROM grades")
        .fetch_one(&app.app.db)
        .await
        .unwrap();
    assert_eq!(grades.0, 0, "nothing in the instructors' grades");
    let home = app.get_ok_text("/").await;
    assert!(
        home.contains("1 of 15 questions answered · not started</span>"),
        "progress counts no points for it: {home}"
    );
    let work = app.get_ok_text("/my-work").await;
    assert!(work.contains("Self-assessed: <strong>6 of 10 points</strong> (your own scoring of version 2 against the rubric, not an instructor's grade)"), "{work}");
    assert!(!work.contains("waiting for an instructor"), "{work}");
    assert!(
        work.contains("Submitted and self-assessed (10 points)")
            && !work.contains("score it yourself</p>"),
        "no instruction to do what is done: {work}"
    );

    // A second self-assessment replaces the first; the sheet offers it again.
    self_assess(&app, "api-server-role", json!({ "scores": [3, 4, 2, 1] })).await;
    let (_, again) = sheet(&app, "api-server-role").await;
    assert_eq!(again["current"]["score"], 10);
}

#[tokio::test]
async fn in_a_portal_instructors_grade_and_self_assessment_is_refused() {
    use crate::common::browser::Browser;
    use crate::common::grading::{portal, submit};
    let app = portal(TestApp::spawn_portal().await).await;
    let mut ada = Browser::new(&app);
    ada.sign_in_as("ada", crate::common::PASSWORD).await;
    submit(
        &ada,
        "api-server-role",
        json!({ "text": "answer", "submit": true }),
    )
    .await;
    let response = ada
        .get("/api/modules/cluster-architecture/questions/api-server-role/self-assessment")
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("In this portal an instructor grades written answers")
    );
    let posted = ada
        .post_json(
            "/api/modules/cluster-architecture/questions/api-server-role/self-assessment",
            "{\"scores\": [3, 4, 2, 1]}",
        )
        .await;
    assert_eq!(posted.status(), StatusCode::FORBIDDEN);
}

/// Saves at the same instant (a double click, two tabs; on PostgreSQL, two replicas) each get
/// their own version: none is refused or lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submissions_at_the_same_instant_get_consecutive_versions() {
    let app = TestApp::spawn().await;
    let saves = (0..6).map(|i| {
        answer(
            &app,
            "api-server-role",
            json!({ "text": format!("submission {i}: only the API server talks to etcd"), "submit": true }),
        )
    });
    let mut versions: Vec<i64> = futures::future::join_all(saves)
        .await
        .into_iter()
        .map(|(status, saved)| {
            assert_eq!(status, StatusCode::OK, "{saved}");
            saved["version"].as_i64().unwrap()
        })
        .collect();
    versions.sort();
    assert_eq!(versions, [1, 2, 3, 4, 5, 6]);
}

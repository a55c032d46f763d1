//! Instructor grading over HTTP: the queue, grading against the rubric, release, conflicts between
//! graders, rubric corrections, who may do what, and escaping of learner and instructor text.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::browser::{Browser, hidden, html, signed_in};
use crate::common::grading::{
    QUESTIONS, portal, post_grade, post_grade_then, queue_ids, release, submit,
};
use crate::common::{TestApp, course_copy, edit, module_dir};

const XSS: &str = "<script>alert('x')</script><img src=x onerror=alert(1)>";

async fn current(browser: &Browser<'_>, question: &str) -> Value {
    browser
        .get(&format!("{QUESTIONS}/{question}/answer"))
        .await
        .json()
        .await
        .unwrap()
}

/// ada submits an answer to `api-server-role`; returns its id and grading page, as `instructor` finds them.
async fn submitted_by_ada(app: &TestApp, instructor: &Browser<'_>) -> (String, String) {
    let ada = signed_in(app, "ada").await;
    submit(
        &ada,
        "api-server-role",
        json!({ "text": "answer", "submit": true }),
    )
    .await;
    let id = queue_ids(&html(instructor, "/instructor/grading").await)[0].clone();
    let path = format!("/instructor/grading/answers/{id}");
    (id, path)
}

#[tokio::test]
async fn an_open_answer_is_graded_against_the_rubric_and_reaches_its_author_on_release() {
    let app = portal(TestApp::spawn_portal().await).await;
    let ada = signed_in(&app, "ada").await;
    let grace = signed_in(&app, "grace").await;
    let ines = signed_in(&app, "ines").await;
    let answer = format!("The API server is the only door to etcd. {XSS}");
    let (status, _) = submit(
        &ada,
        "api-server-role",
        json!({ "text": answer, "submit": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    submit(
        &grace,
        "etcd-consistency",
        json!({ "text": "Raft.", "submit": true }),
    )
    .await;
    submit(
        &grace,
        "controller-manager",
        json!({ "text": "only a draft", "submit": false }),
    )
    .await;

    let queue = ines.get("/instructor/grading").await;
    assert_eq!(queue.status(), StatusCode::OK);
    let queue = queue.text().await.unwrap();
    assert_eq!(
        queue_ids(&queue).len(),
        2,
        "submitted answers only, drafts wait"
    );
    assert!(queue.contains("2 answers in this view, 2 waiting"));
    let filtered = html(&ines, "/instructor/grading?cohort=blue").await;
    let ids = queue_ids(&filtered);
    assert_eq!(ids.len(), 1);
    assert!(
        filtered.contains(
            "title=\"cluster-architecture · api-server-role\">Q8 What is the role of the API server in the control plane? Describe what happens to a…</td>"
        ),
        "the question by its prompt, not its id: {filtered}"
    );
    assert!(
        filtered.contains("<span class=\"release-counts\">0 of 1 submitted answer graded</span>"),
        "graded counts per question"
    );
    for (filter, expected) in [
        ("?question=etcd-consistency", 1),
        ("?learner=ADA", 1),
        ("?module=cluster-architecture", 2),
        (
            "?module=cluster-architecture&question=scheduler-decisions",
            0,
        ),
    ] {
        let html = html(&ines, &format!("/instructor/grading{filter}")).await;
        assert_eq!(queue_ids(&html).len(), expected, "{filter}");
    }

    let id = &ids[0];
    let page = html(
        &ines,
        &format!("/instructor/grading/answers/{id}?cohort=blue"),
    )
    .await;
    assert!(page.contains("What is the role of the API server in the control plane?"));
    assert!(
        page.contains("watch cache"),
        "the model answer is beside the answer"
    );
    assert!(
        page.contains("Mentions optimistic concurrency via resourceVersion or the 409 Conflict")
    );
    let shown = page
        .split("<div class=\"learner-answer\">")
        .nth(1)
        .and_then(|s| s.split("</div>").next())
        .unwrap();
    assert!(
        shown.starts_with("The API server is the only door to etcd. &#60;script&#62;alert("),
        "the learner's text is escaped: {shown}"
    );
    assert!(!page.contains(XSS));
    assert!(page.contains("Not graded yet."));

    // Out-of-range and missing scores are refused with a reason, and nothing typed is lost.
    let refused = post_grade(&ines, id, &page, &["3", "9", "2", "1"], "keep me").await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = refused.text().await.unwrap();
    assert!(refused.contains("is worth at most 4 points, not 9"));
    assert!(refused.contains(">keep me</textarea>"));
    let refused = post_grade(&ines, id, &page, &["3", "4"], "").await;
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("score every criterion: the rubric has 4, 2 were sent")
    );

    let feedback = format!("Good, but name the admission steps. {XSS}");
    let saved = post_grade(
        &ines,
        &format!("{id}?cohort=blue"),
        &page,
        &["3", "2", "2", "0"],
        &feedback,
    )
    .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        saved.headers()["location"],
        format!("/instructor/grading?cohort=blue&saved={id}"),
        "nothing else waits in this view, so back to the queue"
    );

    // Graded but not released: ada sees it submitted and can no longer change it.
    assert!(
        !html(&ada, "/").await.contains("points in graded questions"),
        "nothing graded is visible before release"
    );
    let before = current(&ada, "api-server-role").await;
    assert_eq!(before["state"], "submitted");
    assert_eq!(before["locked"], true);
    assert_eq!(before["grade"], Value::Null);
    assert_eq!(before["score"], Value::Null);
    let (status, body) = submit(
        &ada,
        "api-server-role",
        json!({ "text": "a better answer", "submit": true }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"],
        "an instructor has graded this answer, so it can no longer be changed"
    );

    assert_eq!(
        release(&ines, Some("api-server-role")).await.status(),
        StatusCode::SEE_OTHER
    );
    assert!(
        html(&ada, "/")
            .await
            .contains("1 of 15 questions answered (7 of 10 points in graded questions)"),
        "the course home sums up the learner's visible grades"
    );
    let after = current(&ada, "api-server-role").await;
    assert_eq!(after["state"], "graded");
    assert_eq!(after["score"], 7);
    assert_eq!(after["points"], 10);
    assert_eq!(after["text"], answer);
    assert_eq!(after["grade"]["feedback"], feedback.as_str());
    assert_eq!(
        after["grade"]["criteria"][1],
        json!({ "criterion": "Request pipeline in order: authentication, authorization, admission (mutating, validation, validating), persistence", "score": 2, "points": 4 })
    );
    let unreleased = current(&grace, "etcd-consistency").await;
    assert_eq!(unreleased["state"], "submitted");
    assert_eq!(
        unreleased["locked"], false,
        "ungraded answers may still be resubmitted"
    );

    let review = html(&ines, &format!("/instructor/grading/answers/{id}")).await;
    assert!(review.contains("<td>ines</td>"), "history says who graded");
    assert!(review.contains("3 + 2 + 2 + 0"));
    assert!(review.contains("Good, but name the admission steps. &#60;script&#62;"));
    assert!(!review.contains("<script>alert"));
    assert!(review.contains("are released to learners"));
}

#[tokio::test]
async fn saving_moves_on_to_the_next_answer_and_releasing_a_module_releases_its_questions() {
    let app = portal(TestApp::spawn_portal().await).await;
    let ada = signed_in(&app, "ada").await;
    let ines = signed_in(&app, "ines").await;
    for q in ["api-server-role", "etcd-consistency"] {
        submit(&ada, q, json!({ "text": "answer", "submit": true })).await;
    }
    let queue = html(&ines, "/instructor/grading?learner=ada").await;
    let ids = queue_ids(&queue);
    assert_eq!(ids.len(), 2);
    let page = html(&ines, &format!("/instructor/grading/answers/{}", ids[0])).await;
    let saved = post_grade(
        &ines,
        &format!("{}?learner=ada", ids[0]),
        &page,
        &["1", "1", "1", "1"],
        "",
    )
    .await;
    assert_eq!(
        saved.headers()["location"],
        format!(
            "/instructor/grading/answers/{}?learner=ada&saved={}",
            ids[1], ids[0]
        )
    );
    let next = html(&ines, saved.headers()["location"].to_str().unwrap()).await;
    assert!(next.contains("Grade saved. This is the next answer waiting in your view."));
    let queue = html(&ines, "/instructor/grading?learner=ada").await;
    assert_eq!(
        queue_ids(&queue),
        vec![ids[1].clone(), ids[0].clone()],
        "ungraded first"
    );

    let released = release(&ines, None).await;
    assert_eq!(
        released.headers()["location"],
        "/instructor/grading?released=8"
    );
    assert_eq!(
        current(&ada, "api-server-role").await["state"],
        "graded",
        "released with its module"
    );
    assert_eq!(
        current(&ada, "etcd-consistency").await["state"],
        "submitted"
    );
}

#[tokio::test]
async fn blind_grading_hides_names_until_graded_and_skip_or_stay_keep_the_grader_in_place() {
    let app = portal(TestApp::spawn_portal().await).await;
    let ada = signed_in(&app, "ada").await;
    let grace = signed_in(&app, "grace").await;
    let ines = signed_in(&app, "ines").await;
    submit(
        &ada,
        "api-server-role",
        json!({ "text": "the first answer", "submit": true }),
    )
    .await;
    submit(
        &grace,
        "api-server-role",
        json!({ "text": "the second answer", "submit": true }),
    )
    .await;
    submit(
        &grace,
        "etcd-consistency",
        json!({ "text": "Raft.", "submit": true }),
    )
    .await;

    let queue = html(&ines, "/instructor/grading?blind=1").await;
    let ids = queue_ids(&queue);
    assert_eq!(ids.len(), 3);
    let rows = queue
        .split("<tbody>")
        .nth(1)
        .unwrap()
        .split("</tbody>")
        .next()
        .unwrap();
    for name in ["ada", "grace", "blue", "green"] {
        assert!(
            !rows.contains(&format!(">{name}<")),
            "blind: no name or cohort in the queue ({name}): {rows}"
        );
    }
    assert!(queue.contains(&format!(">Answer {}</a>", ids[0])));
    assert!(queue.contains("name=\"blind\" type=\"checkbox\" value=\"1\" checked"));

    let first = html(
        &ines,
        &format!("/instructor/grading/answers/{}?blind=1", ids[0]),
    )
    .await;
    // (Not a bare "ada": a random CSRF token in the page may hold those letters.)
    assert!(
        !first.contains("ada · Q") && !first.contains(">ada<") && !first.contains("Cohort blue"),
        "{first}"
    );
    assert!(first.contains(&format!("<title>Grading answer {} · Q8", ids[0])));
    assert!(first.contains("Blind grading: who wrote this answer is shown once it is graded."));
    assert!(
        first.contains(">0</output> of 10 points"),
        "the running total starts at 0"
    );
    assert!(
        first.contains(&format!(
            "href=\"/instructor/grading/answers/{}?blind=1\">Skip to the next answer",
            ids[1]
        )),
        "skip goes to the next answer waiting, filters kept"
    );

    // Skip the first; grade the second and go on: the third, not the skipped one.
    let second = html(
        &ines,
        &format!("/instructor/grading/answers/{}?blind=1", ids[1]),
    )
    .await;
    assert!(second.contains(&format!(
        "/instructor/grading/answers/{}?blind=1\">Skip",
        ids[2]
    )));
    let saved = post_grade(
        &ines,
        &format!("{}?blind=1", ids[1]),
        &second,
        &["1", "1", "1", "1"],
        "",
    )
    .await;
    assert_eq!(
        saved.headers()["location"],
        format!(
            "/instructor/grading/answers/{}?blind=1&saved={}",
            ids[2], ids[1]
        )
    );
    // The third: saved and stayed, its author is shown now that it is graded.
    let third = html(
        &ines,
        &format!("/instructor/grading/answers/{}?blind=1", ids[2]),
    )
    .await;
    assert!(
        third.contains(&format!(
            "/instructor/grading/answers/{}?blind=1\">Skip",
            ids[0]
        )),
        "after the last, round to the skipped one"
    );
    let stayed = post_grade_then(
        &ines,
        &format!("{}?blind=1", ids[2]),
        &third,
        &["2", "1", "0"],
        "",
        "stay",
    )
    .await;
    let location = stayed.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        format!(
            "/instructor/grading/answers/{}?blind=1&saved={}",
            ids[2], ids[2]
        )
    );
    let after = html(&ines, &location).await;
    assert!(after.contains("<p class=\"form-ok\" role=\"status\">Grade saved.</p>"));
    assert!(
        after.contains("<h1>grace · Q"),
        "graded, so the name is shown: {after}"
    );
    assert!(
        after.contains(">3</output> of "),
        "the total of the saved scores"
    );
    let queue = html(&ines, "/instructor/grading?blind=1").await;
    assert!(
        queue.contains(">grace</a>"),
        "graded answers show their author"
    );
    assert!(
        !queue.contains(">ada</a>"),
        "ada's, skipped, is still hidden"
    );
}

#[tokio::test]
async fn two_graders_at_once_the_second_gets_a_conflict_and_loses_nothing() {
    let app = portal(TestApp::spawn_portal().await).await;
    let ines = signed_in(&app, "ines").await;
    let ivan = signed_in(&app, "ivan").await;
    let (id, path) = submitted_by_ada(&app, &ines).await;
    let ines_page = html(&ines, &path).await;
    let ivan_page = html(&ivan, &path).await;

    let first = post_grade(&ines, &id, &ines_page, &["3", "4", "2", "1"], "full marks").await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let second = post_grade(
        &ivan,
        &id,
        &ivan_page,
        &["1", "1", "1", "0"],
        "ivan's notes",
    )
    .await;
    assert_eq!(second.status(), StatusCode::CONFLICT);
    let second = second.text().await.unwrap();
    assert!(second.contains("ines graded this answer at"));
    assert!(second.contains("(score 10) while you had it open; your scores were not saved"));
    assert!(
        second.contains(">ivan&#39;s notes</textarea>"),
        "the second grader's feedback is still in the form"
    );
    assert!(second.contains("value=\"1\""));

    // Regrading from the refreshed page works, and the history keeps both grades.
    let regrade = post_grade(&ivan, &id, &second, &["2", "4", "2", "1"], "on reflection").await;
    assert_eq!(regrade.status(), StatusCode::SEE_OTHER);
    let history = html(&ivan, &path).await;
    assert!(history.contains("<td>ines</td>") && history.contains("<td>ivan</td>"));
    assert!(history.contains("full marks") && history.contains("on reflection"));

    // Truly simultaneous saves from the same revision: exactly one wins.
    let (ines_page, ivan_page) = (html(&ines, &path).await, html(&ivan, &path).await);
    let (a, b) = tokio::join!(
        post_grade(&ines, &id, &ines_page, &["1", "1", "1", "1"], "a"),
        post_grade(&ivan, &id, &ivan_page, &["2", "2", "2", "1"], "b"),
    );
    let mut statuses = vec![a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, vec![StatusCode::SEE_OTHER, StatusCode::CONFLICT]);
    let (grades,): (i64,) = sqlx::query_as("SELECT count(*) FROM grades")
        .fetch_one(&app.app.db)
        .await
        .unwrap();
    assert_eq!(grades, 3);
}

#[tokio::test]
async fn learners_cannot_grade_release_or_read_the_gradebook() {
    let app = portal(TestApp::spawn_portal().await).await;
    let ada = signed_in(&app, "ada").await;
    let grace = signed_in(&app, "grace").await;
    submit(
        &ada,
        "api-server-role",
        json!({ "text": "ada's secret answer", "submit": true }),
    )
    .await;
    let (id,): (i64,) = sqlx::query_as("SELECT id FROM answers")
        .fetch_one(&app.app.db)
        .await
        .unwrap();
    for path in [
        "/instructor/grading".to_owned(),
        format!("/instructor/grading/answers/{id}"),
        "/instructor/gradebook".to_owned(),
        "/instructor/gradebook.csv".to_owned(),
    ] {
        let response = grace.get(&path).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(!response.text().await.unwrap().contains("secret"));
    }
    let csrf = grace.csrf().await;
    let graded = grace
        .post_form(
            &format!("/instructor/grading/answers/{id}"),
            &[
                ("csrf", &csrf),
                ("revision", "0"),
                ("rubric_version", "1"),
                ("score", "3"),
                ("score", "4"),
                ("score", "2"),
                ("score", "1"),
                ("feedback", ""),
            ],
        )
        .await;
    assert_eq!(graded.status(), StatusCode::FORBIDDEN);
    let released = release(&grace, None).await;
    assert_eq!(released.status(), StatusCode::FORBIDDEN);
    let (grades, releases): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM grades), (SELECT count(*) FROM grade_releases)",
    )
    .fetch_one(&app.app.db)
    .await
    .unwrap();
    assert_eq!((grades, releases), (0, 0));
    assert_eq!(
        grace
            .get(&format!("{QUESTIONS}/api-server-role/answer"))
            .await
            .status(),
        StatusCode::NO_CONTENT,
        "grace never sees ada's answer"
    );
    // An instructor without the CSRF token cannot grade either.
    let ines = signed_in(&app, "ines").await;
    let forged = ines
        .post_form(
            &format!("/instructor/grading/answers/{id}"),
            &[
                ("csrf", "forged"),
                ("revision", "0"),
                ("rubric_version", "1"),
            ],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    // Unknown answers and modules are a 404 with a reason, not an error page.
    let missing = ines.get("/instructor/grading/answers/999999").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let page = missing.text().await.unwrap();
    assert!(
        page.contains("<p>there is no submitted open answer 999999</p>"),
        "{page}"
    );
    assert_eq!(
        page.matches("<html").count(),
        1,
        "one page, not a page inside a page"
    );
    let csrf = ines.csrf().await;
    let unknown = ines
        .post_form(
            "/instructor/grading/release",
            &[("csrf", &csrf), ("release_module", "no-such-module")],
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_corrected_rubric_is_versioned_scores_are_recomputed_and_answers_flagged() {
    let course = course_copy();
    let app = portal(
        TestApp::spawn_with_config(|config| {
            config.portal = true;
            config.content = Some(course.path().to_owned());
            config.watch = true;
        })
        .await,
    )
    .await;
    let ines = signed_in(&app, "ines").await;
    let (id, path) = submitted_by_ada(&app, &ines).await;
    let page = html(&ines, &path).await;
    assert_eq!(hidden(&page, "rubric_version"), "1");
    let saved = post_grade(&ines, &id, &page, &["3", "4", "2", "1"], "well done").await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);

    // The author replaces one criterion (a new id and wording: a new criterion) and moves a
    // point between two others.
    let questions = module_dir(course.path()).join("questions.toml");
    edit(
        &questions,
        "id = \"single-entry-point-clients\"\ncriterion = \"Single entry point for all clients, and the only component that accesses etcd\"",
        "id = \"sole-entry-point\"\ncriterion = \"The single entry point for every client; the only component with etcd access\"",
    );
    edit(
        &questions,
        "(and caches) for the other components\"\npoints = 2",
        "(and caches) for the other components\"\npoints = 1",
    );
    edit(
        &questions,
        "resourceVersion or the 409 Conflict\"\npoints = 1",
        "resourceVersion or the 409 Conflict\"\npoints = 2",
    );
    let mut queue = String::new();
    for _ in 0..100 {
        queue = html(&ines, "/instructor/grading").await;
        if queue.contains("needs another look</td>") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        queue.contains("needs another look</td>"),
        "the graded answer is flagged"
    );
    assert!(queue.contains("7 / 10"), "0 + 4 + 1 + 2 after recomputing");
    let page = html(&ines, &path).await;
    assert_eq!(hidden(&page, "rubric_version"), "2");
    assert!(page.contains("Needs another look: Rubric corrected (version 1 → 2):"));
    assert!(page.contains(
        "“The single entry point for every client; the only component with etcd access” is new and unscored"
    ));
    assert!(page.contains("is now worth 1 points instead of 2: 2 scaled to 1"));
    assert!(page.contains("Lectern (rubric correction)"));
    assert!(page.contains("– + 4 + 1 + 2"));

    // The instructor's regrade against the new rubric clears the flag.
    let saved = post_grade(&ines, &id, &page, &["2", "4", "1", "2"], "well done").await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let queue = html(&ines, "/instructor/grading").await;
    assert!(queue.contains("<td class=\"grade-status\">graded</td>"));
    assert!(queue.contains("9 / 10"));
    let (versions,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM rubric_versions WHERE question_id = 'api-server-role'",
    )
    .fetch_one(&app.app.db)
    .await
    .unwrap();
    assert_eq!(versions, 2);
}

#[tokio::test]
async fn release_shows_what_it_publishes_asks_first_and_can_be_withdrawn() {
    let app = portal(TestApp::spawn_portal().await).await;
    let ada = signed_in(&app, "ada").await;
    let ines = signed_in(&app, "ines").await;
    let (_, path) = submitted_by_ada(&app, &ines).await;
    let page = html(&ines, &path).await;
    let id = path.rsplit('/').next().unwrap().to_owned();
    assert_eq!(
        post_grade(&ines, &id, &page, &["3", "4", "0", "0"], "Good start.")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    // Unconfirmed: a page saying what would be published; nothing is released.
    let csrf = hidden(&html(&ines, "/instructor/grading").await, "csrf");
    let asked = ines
        .post_form(
            "/instructor/grading/release",
            &[("csrf", &csrf), ("release_module", "cluster-architecture")],
        )
        .await;
    assert_eq!(asked.status(), StatusCode::OK);
    let asked = asked.text().await.unwrap();
    assert!(
        asked.contains("<strong>1 graded answer</strong> will be shown now; <strong>7 questions have nothing graded yet</strong>."),
        "{asked}"
    );
    assert!(
        asked.contains("<tr><td class=\"question-cell\">Q8 What is the role of the API server in the control plane? Describe what happens to a…</td><td class=\"num\">1</td><td class=\"num\">1</td><td>not yet</td></tr>"),
        "questions by number and prompt, not id: {asked}"
    );
    assert!(asked.contains(
        "the grades of every instructor-graded question of Cluster architecture deep-dive"
    ));
    assert!(
        current(&ada, "api-server-role").await["grade"].is_null(),
        "nothing released yet"
    );

    // Confirmed: released. Withdrawn: hidden again.
    assert_eq!(
        release(&ines, Some("api-server-role")).await.status(),
        StatusCode::SEE_OTHER
    );
    // Asked again for the whole module: the released question's answer is not counted as new.
    let again = ines
        .post_form(
            "/instructor/grading/release",
            &[("csrf", &csrf), ("release_module", "cluster-architecture")],
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        again.contains("<strong>0 graded answers</strong> will be shown now")
            && again.contains("<td>already</td>"),
        "{again}"
    );
    let released = current(&ada, "api-server-role").await;
    assert_eq!(released["score"], 7);
    assert_eq!(released["grade"]["feedback"], "Good start.");
    let queue = html(&ines, "/instructor/grading").await;
    assert!(
        queue.contains(
            "aria-label=\"Withdraw the release of Q8 of Cluster architecture deep-dive\""
        ),
        "{queue}"
    );
    let withdrawn = ines
        .post_form(
            "/instructor/grading/withdraw",
            &[
                ("csrf", &csrf),
                ("release_module", "cluster-architecture"),
                ("release_question", "api-server-role"),
            ],
        )
        .await;
    assert_eq!(withdrawn.status(), StatusCode::SEE_OTHER);
    let queue = html(&ines, withdrawn.headers()["location"].to_str().unwrap()).await;
    assert!(
        queue.contains("Withdrew the release of 1 question: learners no longer see those grades."),
        "{queue}"
    );
    assert!(
        current(&ada, "api-server-role").await["grade"].is_null(),
        "withdrawn"
    );

    // Learners can neither release nor withdraw.
    let learner_csrf = hidden(&html(&ada, "/").await, "csrf");
    for path in [
        "/instructor/grading/release",
        "/instructor/grading/withdraw",
    ] {
        let refused = ada
            .post_form(
                path,
                &[
                    ("csrf", &learner_csrf),
                    ("release_module", "cluster-architecture"),
                ],
            )
            .await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path}");
    }
}

/// One question's section of the My work page.
fn work_item(work: &str, question: &str) -> String {
    let start = work
        .find(&format!("id=\"work-cluster-architecture-{question}\""))
        .unwrap_or_else(|| panic!("no {question} in {work}"));
    let end = work[start..].find("</section>").unwrap() + start;
    work[start..end].to_owned()
}

#[tokio::test]
async fn my_work_lists_every_answer_and_keeps_the_model_answer_with_staff() {
    let app = portal(TestApp::spawn_portal().await).await;
    let ada = signed_in(&app, "ada").await;
    let ines = signed_in(&app, "ines").await;
    submit(
        &ada,
        "who-talks-to-etcd",
        json!({ "choices": [0], "submit": true }),
    )
    .await;
    let (_, path) = submitted_by_ada(&app, &ines).await;
    let page = html(&ines, &path).await;
    let id = path.rsplit('/').next().unwrap().to_owned();
    post_grade(
        &ines,
        &id,
        &page,
        &["3", "4", "0", "0"],
        "Name the admission phases.",
    )
    .await;

    let work = html(&ada, "/my-work").await;
    assert!(
        work.contains("<a href=\"/my-work\">My work</a>"),
        "linked from the account area"
    );
    assert!(
        work_item(&work, "who-talks-to-etcd").contains("Graded: <strong>2 of 2 points</strong>")
    );
    let open = work_item(&work, "api-server-role");
    assert!(
        open.contains("Submitted, waiting for an instructor's grade (10 points)"),
        "{open}"
    );
    assert!(!open.contains("Model answer"), "not before release");
    assert!(work_item(&work, "etcd-consistency").contains("Not answered yet (10 points)"));

    release(&ines, Some("api-server-role")).await;
    let open = work_item(&html(&ada, "/my-work").await, "api-server-role");
    assert!(
        open.contains("Graded: <strong>7 of 10 points</strong>"),
        "{open}"
    );
    assert!(
        open.contains("Feedback: Name the admission phases."),
        "{open}"
    );
    assert!(
        !open.contains("Model answer"),
        "the question does not show its model answer to learners: {open}"
    );
}

#[tokio::test]
async fn a_question_that_shows_its_model_answer_shows_it_only_to_those_whose_answer_was_graded() {
    let course = course_copy();
    edit(
        &module_dir(course.path()).join("questions.toml"),
        "id = \"api-server-role\"\nkind = \"open\"\n",
        "id = \"api-server-role\"\nkind = \"open\"\nshow_model_answer = true\n",
    );
    let app = portal(
        TestApp::spawn_with_config(|c| {
            c.portal = true;
            c.content = Some(course.path().to_owned());
        })
        .await,
    )
    .await;
    let ines = signed_in(&app, "ines").await;
    let (id, path) = submitted_by_ada(&app, &ines).await;
    let page = html(&ines, &path).await;
    post_grade(&ines, &id, &page, &["3", "4", "0", "0"], "Good.").await;
    release(&ines, Some("api-server-role")).await;

    let ada = signed_in(&app, "ada").await;
    let open = work_item(&html(&ada, "/my-work").await, "api-server-role");
    assert!(
        open.contains("<summary>Model answer</summary><p>The API server is the control plane&#39;s only entry point"),
        "{open}"
    );
    // grace submits only after the grades were released: she would copy it.
    let grace = signed_in(&app, "grace").await;
    let (status, _) = submit(
        &grace,
        "api-server-role",
        json!({ "text": "anything", "submit": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let open = work_item(&html(&grace, "/my-work").await, "api-server-role");
    assert!(!open.contains("Model answer"), "{open}");
}

#[tokio::test]
async fn learners_see_a_badge_for_grades_released_since_they_last_looked() {
    let app = portal(TestApp::spawn_portal().await).await;
    let ines = signed_in(&app, "ines").await;
    let (id, path) = submitted_by_ada(&app, &ines).await;
    let ada = signed_in(&app, "ada").await;
    const BADGE: &str = "My work <span class=\"badge\">";

    let page = html(&ines, &path).await;
    let graded = post_grade(&ines, &id, &page, &["3", "2", "1", "1"], "Good start.").await;
    assert_eq!(graded.status(), StatusCode::SEE_OTHER);
    assert!(
        !html(&ada, "/").await.contains(BADGE),
        "graded but not released: nothing to see yet"
    );

    release(&ines, Some("api-server-role")).await;
    let home = html(&ada, "/").await;
    assert!(
        home.contains(&format!("{BADGE}1 new grade</span></a>")),
        "{home}"
    );
    let work = html(&ada, "/my-work").await;
    assert!(
        !work.contains(BADGE),
        "the page that shows them does not flag itself"
    );
    assert!(
        work.contains("Question 8: What is the role of the API server in the control plane? Describe what happens to a…</a> <span class=\"badge\">new grade</span>"),
        "{work}"
    );
    assert!(!html(&ada, "/").await.contains(BADGE), "seen");
    assert!(
        !html(&ada, "/my-work").await.contains("new grade"),
        "seen on My work too"
    );

    // A regrade after release is new again; other learners see nothing.
    let page = html(&ines, &path).await;
    let regraded = post_grade(
        &ines,
        &id,
        &page,
        &["3", "4", "2", "1"],
        "Better on a second look.",
    )
    .await;
    assert_eq!(regraded.status(), StatusCode::SEE_OTHER);
    assert!(
        html(&ada, "/")
            .await
            .contains(&format!("{BADGE}1 new grade</span>"))
    );
    let grace = signed_in(&app, "grace").await;
    assert!(!html(&grace, "/").await.contains(BADGE));
}

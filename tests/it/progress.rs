//! Progress a learner sees, and what instructors see of a cohort.

use reqwest::StatusCode;

use crate::common::TestApp;
use crate::common::browser::Browser;
use crate::common::browser::{html, signed_in};
use crate::common::events::Events;
use crate::common::grading::submit;
use crate::common::kind_fixtures as kind;
use crate::common::kube_api::FakeCluster;
use lectern::auth::Role;

async fn run_check(app: &TestApp, browser: Option<&Browser<'_>>, step: &str) -> serde_json::Value {
    let path = format!("/api/labs/ha-control-plane/steps/{step}/check");
    let response = match browser {
        Some(b) => b.post_json(&path, "{}").await,
        None => app
            .client
            .post(app.url(&path))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap(),
    };
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_page_shows_progress_and_where_to_continue() {
    let cluster = FakeCluster::start(kind::lab_complete()).await;
    let solo = FakeCluster::start(kind::solo_before_snapshot()).await;
    let app = TestApp::spawn_with_cluster(&cluster.kubeconfig_with(&solo, "kind-solo")).await;
    let home = app.get_ok_text("/").await;
    assert!(home.contains("<h2 id=\"progress-title\">Your progress</h2>"));
    assert!(home.contains("0% of the course's lab steps and questions"));
    assert!(home.contains("0 of 11 lab steps passed, 0 of 15 questions answered · not started"));
    assert!(
        home.contains(
            "href=\"/modules/cluster-architecture\">Start here: Cluster architecture deep-dive"
        ),
        "a first visit starts with the reading, not at the lab: {home}"
    );

    app.get_ok_text("/modules/cluster-architecture").await;
    assert_eq!(
        run_check(&app, None, "create-ha-cluster").await["status"],
        "passed"
    );
    let home = app.get_ok_text("/").await;
    assert!(
        home.contains("3% of the course's lab steps and questions"),
        "1 of 26: {home}"
    );
    assert!(
        home.contains("1 of 11 lab steps passed, 0 of 15 questions answered</span>"),
        "opened, so no longer 'not started'"
    );
    assert!(home.contains("href=\"/modules/cluster-architecture#step-3-inspect-control-plane\">Continue where you left off: Cluster architecture deep-dive"));
    assert_eq!(
        app.get("/").await.headers()["cache-control"],
        "private, no-store",
        "progress is personal"
    );

    for step in [
        "inspect-control-plane",
        "monitoring-rbac",
        "lose-a-control-plane-node",
        "recover",
        "backup-and-restore",
        "fix-pending-pods",
        "fix-an-api-server",
        "fix-a-worker",
        "practice-rbac-and-scheduling",
        "practice-extend-the-control-plane",
    ] {
        // Step 7's restore counts once Lectern saw what the restore removes, before it.
        if step == "backup-and-restore" {
            solo.set_objects(kind::solo_not_restored());
            run_check(&app, None, step).await;
            kind::restore_solo(&solo);
        }
        // Step 5 is checked during the outage; every other step on the finished cluster.
        let during_outage = step == "lose-a-control-plane-node";
        cluster.set_objects(if during_outage {
            kind::mid_failure()
        } else {
            kind::lab_complete()
        });
        assert_eq!(
            run_check(&app, None, step).await["status"],
            "passed",
            "{step}"
        );
    }
    let home = app.get_ok_text("/").await;
    assert!(
        home.contains("11 of 11 lab steps passed, 0 of 15 questions answered</span>"),
        "not complete without the assessment"
    );
    assert!(home.contains("42% of the course's lab steps and questions"));

    let site = app.app.site.current();
    let course = site.course();
    for question in &course.modules[0].questions {
        let body = if question.choices.is_empty() {
            serde_json::json!({ "text": "my answer", "submit": true })
        } else {
            serde_json::json!({ "choices": [0], "submit": true })
        };
        let response = app
            .client
            .post(app.url(&format!(
                "/api/modules/cluster-architecture/questions/{}/answer",
                question.id
            )))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{}", question.id);
    }
    let home = app.get_ok_text("/").await;
    assert!(
        home.contains("11 of 11 lab steps passed, 15 of 15 questions answered (2 of 9 points in graded questions) · complete"),
        "the first option is right only for who-talks-to-etcd and predict-pause-two-nodes; open answers wait for an instructor"
    );
    assert!(home.contains("100% of the course's lab steps and questions"));
}

/// The home page's progress comes from memory between writes; a pass that `lectern lab check`
/// records beside the server (another process, the same database) shows within
/// `progress::FRESH_FOR`, the longest anything is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_recorded_by_another_process_shows_on_the_home_page_within_a_second() {
    let cluster = FakeCluster::start(kind::lab_complete()).await;
    let app = TestApp::spawn_with_cluster(&cluster.kubeconfig).await;
    let home = app.get_ok_text("/").await;
    assert!(home.contains("0 of 11 lab steps passed"), "{home}");

    let mut cmd = crate::common::lectern_cmd();
    cmd.args([
        "lab",
        "check",
        "ha-control-plane",
        "--step",
        "2",
        "--kubeconfig",
    ])
    .arg(&cluster.kubeconfig)
    .args(["--db", &app.db]);
    let output = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let recorded = std::time::Instant::now();
    loop {
        let home = app.get_ok_text("/").await;
        if home.contains("1 of 11 lab steps passed") {
            break;
        }
        assert!(
            recorded.elapsed() < lectern::progress::FRESH_FOR * 3,
            "the pass never showed: {home}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instructors_see_the_cohort_each_history_and_where_it_is_stuck() {
    // Step 4 begun: the namespace is there, the service account is not.
    let mut started = kind::ha_cluster();
    started.push(kind::namespace("monitoring"));
    let cluster = FakeCluster::start(started.clone()).await;
    let app = TestApp::spawn_with_config(|c| {
        c.portal = true;
        c.cluster.kubeconfig = Some(cluster.kubeconfig.clone());
    })
    .await;
    let db = &app.app.db;
    for (name, cohort) in [
        ("ada", "spring"),
        ("grace", "spring"),
        ("kim", "spring"),
        ("zed", "autumn"),
    ] {
        app.add_account(name, Role::Learner, Some(cohort)).await;
    }
    app.add_account("ines", Role::Instructor, None).await;

    let ada = signed_in(&app, "ada").await;
    assert_eq!(
        run_check(&app, Some(&ada), "monitoring-rbac").await["status"],
        "failed"
    );
    assert_eq!(
        run_check(&app, Some(&ada), "create-ha-cluster").await["status"],
        "passed"
    );

    let mut wrong_namespace = started;
    wrong_namespace.push(kind::service_account("default", "control-plane-monitor"));
    cluster.set_objects(wrong_namespace);
    let grace = signed_in(&app, "grace").await;
    run_check(&app, Some(&grace), "monitoring-rbac").await;

    // Learners are kept out.
    for path in [
        "/instructor/cohort",
        "/instructor/stuck",
        "/instructor/learners/2",
    ] {
        assert_eq!(
            ada.get(path).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }

    let ines = signed_in(&app, "ines").await;
    let table = ines
        .get("/instructor/cohort?cohort=spring")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        table.contains(
            ">ada</a></td>\n      <td>spring</td>\n      <td data-sort=\"1\">1 / 11 steps<br><small>last passed <time datetime=\"20"
        ),
        "{table}"
    );
    assert!(table.contains(
        ">grace</a></td>\n      <td>spring</td>\n      <td data-sort=\"0\">0 / 11 steps</td>"
    ));
    assert!(
        table.contains(">kim</a></td>") && !table.contains(">zed</a></td>"),
        "filtered by cohort"
    );
    let named = ines
        .get("/instructor/cohort?name=gra")
        .await
        .text()
        .await
        .unwrap();
    assert!(named.contains(">grace</a>") && !named.contains(">ada</a>"));

    let stuck = ines
        .get("/instructor/stuck?cohort=spring")
        .await
        .text()
        .await
        .unwrap();
    // Stuck means tried and failing: kim, who never checked, is not counted; each observation
    // names its learners.
    assert!(stuck.contains("<strong>Step 4: ServiceAccount monitoring/control-plane-monitor exists</strong> — 2 of 2 who tried are failing"), "{stuck}");
    let id = |name: &str| {
        let name = name.to_owned();
        async move {
            let (id,): (i64,) =
                sqlx::query_as("SELECT learner_id FROM accounts WHERE username = $1")
                    .bind(name)
                    .fetch_one(db)
                    .await
                    .unwrap();
            id
        }
    };
    let (ada_id, grace_id, kim_id) = (id("ada").await, id("grace").await, id("kim").await);
    assert!(stuck.contains(&format!("<li>ServiceAccount monitoring/control-plane-monitor not found; found ServiceAccount control-plane-monitor in namespace default, not in monitoring — <a href=\"/instructor/learners/{grace_id}\">grace</a></li>")), "{stuck}");
    assert!(stuck.contains(&format!("<li>ServiceAccount monitoring/control-plane-monitor not found — <a href=\"/instructor/learners/{ada_id}\">ada</a></li>")), "{stuck}");
    assert!(!stuck.contains("not checked yet</li>"));
    // Working on it: started (by a first check) and not passed, for how long, and what fails; a
    // passed step and a learner who never started are not there.
    let working = stuck
        .split("<h2 id=\"in-progress\">")
        .nth(1)
        .and_then(|s| s.split("<h2 id=\"stuck\">").next())
        .unwrap();
    for (name, id) in [("ada", ada_id), ("grace", grace_id)] {
        assert!(
            working.contains("<li>Step 4: ") && working.contains(&format!("— <a href=\"/instructor/learners/{id}\">{name}</a>, for less than a minute (since ")),
            "{working}"
        );
    }
    assert!(
        working
            .contains("; failing: “ServiceAccount monitoring/control-plane-monitor exists”</li>"),
        "{working}"
    );
    assert!(
        !working.contains("Step 2:") && !working.contains(">kim</a>"),
        "{working}"
    );
    // How far the cohort got, step by step.
    assert!(
        stuck.contains("<span class=\"funnel-figures\">1 checked, 1 passed, of 3</span>"),
        "{stuck}"
    );
    assert!(
        stuck.contains("<span class=\"funnel-figures\">2 checked, 0 passed, of 3</span>"),
        "{stuck}"
    );
    // The heatmap: every learner × every check, with the observation on each cell.
    let row = |id: i64| {
        let start = stuck
            .find(&format!(
                "<th scope=\"row\" class=\"heatmap-learner\"><a href=\"/instructor/learners/{id}\">"
            ))
            .unwrap();
        let end = stuck[start..].find("</tr>").unwrap() + start;
        stuck[start..end].to_owned()
    };
    let kim_row = row(kim_id);
    assert_eq!(kim_row.matches("cell cell-not-started").count(), 65);
    let ada_row = row(ada_id);
    assert_eq!(
        ada_row.matches("cell cell-passed").count(),
        5 + 1,
        "step 2, and step 4's namespace (its three denials wait for the binding)"
    );
    assert_eq!(ada_row.matches("cell cell-failing").count(), 11);
    assert!(ada_row.contains("aria-label=\"ada, step 4, ServiceAccount monitoring/control-plane-monitor exists: failing: ServiceAccount monitoring/control-plane-monitor not found\""), "{ada_row}");
    assert!(
        kim_row.contains(
            "aria-label=\"kim, step 2, Three control-plane nodes are Ready: not checked yet\""
        ),
        "{kim_row}"
    );

    let ada_id: (i64,) = sqlx::query_as("SELECT learner_id FROM accounts WHERE username = 'ada'")
        .fetch_one(db)
        .await
        .unwrap();
    let history = ines
        .get(&format!("/instructor/learners/{}", ada_id.0))
        .await
        .text()
        .await
        .unwrap();
    assert!(history.contains("0 answered questions, 2 check runs."));
    assert!(history.contains("<h3>Step 4: Give a monitoring identity read-only access <span class=\"run-status check-failed\">failed</span></h3>"));
    assert!(
        history.contains("<summary>What Lectern saw</summary>")
            && history.contains("<div><dt>exists</dt><dd>no</dd></div>"),
        "the evidence as facts: {history}"
    );
    assert!(
        history.contains("&#34;likely_slips&#34;") && !history.contains("\"likely_slips\""),
        "the evidence is shown, escaped"
    );
    let ines_id: (i64,) = sqlx::query_as("SELECT learner_id FROM accounts WHERE username = 'ines'")
        .fetch_one(db)
        .await
        .unwrap();
    assert_eq!(
        ines.get(&format!("/instructor/learners/{}", ines_id.0))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        ines.get("/instructor/learners/9999").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn admins_import_a_cohort_from_csv() {
    let app = TestApp::spawn_portal().await;
    app.add_account("root", Role::Admin, None).await;
    let root = signed_in(&app, "root").await;
    let csrf = root.csrf().await;
    let csv = "username,role,cohort\nada,learner,spring\nines,instructor,\nbad,teacher,spring\nada,learner,spring\n";
    let response = root
        .post_form("/admin/users/import", &[("csrf", &csrf), ("csv", csv)])
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "two accounts were created; the failed lines come back to correct"
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("Created 2 accounts."), "{html}");
    assert!(
        html.contains(
            "line 4: unknown role <code>teacher</code>: use learner, instructor or admin"
        )
    );
    assert!(
        html.contains("line 5: the user name <code>ada</code> is already taken"),
        "names set as code, not backticks: {html}"
    );
    assert!(
        html.contains(">bad,teacher,spring\nada,learner,spring</textarea>"),
        "the failed lines are back in the form to correct: {html}"
    );
    let download = html
        .split("href=\"data:text/csv;charset=utf-8,")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the credentials as one download");
    let download: String = url::form_urlencoded::parse(format!("x={download}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    let lines: Vec<&str> = download.split("\r\n").collect();
    assert_eq!(lines[0], "username,password");
    assert!(lines[1].starts_with("ada,") && lines[2].starts_with("ines,") && lines[3].is_empty());
    let password = html
        .split("<tr><td>ada</td><td><code>")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .unwrap();
    assert_eq!(
        Browser::new(&app)
            .sign_in_as("ada", password)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let (cohort,): (Option<String>,) =
        sqlx::query_as("SELECT cohort FROM accounts WHERE username = 'ada'")
            .fetch_one(&app.app.db)
            .await
            .unwrap();
    assert_eq!(cohort.as_deref(), Some("spring"));
    // An import that creates nothing is refused.
    let nothing = root
        .post_form(
            "/admin/users/import",
            &[("csrf", &csrf), ("csv", "ada,learner,spring")],
        )
        .await;
    assert_eq!(nothing.status(), StatusCode::BAD_REQUEST);
    let missing_csrf = root
        .post_form(
            "/admin/users/import",
            &[("csrf", "x"), ("csv", "eve,learner,spring")],
        )
        .await;
    assert_eq!(missing_csrf.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_is_kept_when_a_later_check_fails() {
    let cluster = FakeCluster::start(kind::lab_complete()).await;
    let app = TestApp::spawn_with_config(|c| {
        c.portal = true;
        c.cluster.kubeconfig = Some(cluster.kubeconfig.clone());
    })
    .await;
    app.add_account("ada", Role::Learner, Some("spring")).await;
    app.add_account("ines", Role::Instructor, None).await;
    let ada = signed_in(&app, "ada").await;
    let step = "monitoring-rbac";
    let passed = run_check(&app, Some(&ada), step).await;
    assert_eq!(passed["status"], "passed", "{passed:#}");
    assert_eq!(passed["passed_at"], passed["recorded_at"], "the first pass");

    // The service account goes away (a cleanup, another step's work): the step fails now, and
    // the pass stays, with its time.
    let mut undone = kind::ha_cluster();
    undone.push(kind::namespace("monitoring"));
    cluster.set_objects(undone);
    let now = run_check(&app, Some(&ada), step).await;
    assert_eq!(now["status"], "failed", "{now:#}");
    assert_eq!(now["passed_at"], passed["recorded_at"]);
    let latest: serde_json::Value = ada
        .get(&format!(
            "/api/labs/ha-control-plane/steps/{step}/runs/latest"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(latest["status"], "failed");
    assert_eq!(latest["passed_at"], passed["recorded_at"]);

    // Progress and the instructors' board count it passed, not stuck.
    let ines = signed_in(&app, "ines").await;
    let stuck = html(&ines, "/instructor/stuck?cohort=spring").await;
    assert!(
        !stuck.contains("who tried are failing"),
        "a kept pass is not stuck: {stuck}"
    );
    assert!(
        stuck.contains("<span class=\"funnel-figures\">1 checked, 1 passed, of 1</span>"),
        "{stuck}"
    );
    let table = html(&ines, "/instructor/cohort?cohort=spring").await;
    assert!(
        table.contains(
            ">ada</a></td>\n      <td>spring</td>\n      <td data-sort=\"1\">1 / 11 steps<br><small>last passed <time datetime=\"20"
        ),
        "{table}"
    );
    // Her history names the pass that counts, and reads the later run as history.
    let (ada_id,): (i64,) =
        sqlx::query_as("SELECT learner_id FROM accounts WHERE username = 'ada'")
            .fetch_one(&app.app.db)
            .await
            .unwrap();
    let history = html(&ines, &format!("/instructor/learners/{ada_id}")).await;
    let newest = history
        .find("that pass is kept.")
        .expect("the failing run says the pass is kept");
    let first = history
        .find("first pass: counts")
        .expect("the first pass is named");
    assert!(newest < first, "newest first: {history}");
    assert_eq!(history.matches("that pass is kept.").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instructors_board_hears_of_each_run_on_any_replica() {
    let cluster = FakeCluster::start(kind::lab_complete()).await;
    let serving = |db: Option<String>| {
        let kubeconfig = cluster.kubeconfig.clone();
        TestApp::spawn_with_config(move |c| {
            c.portal = true;
            c.cluster.kubeconfig = Some(kubeconfig);
            if let Some(db) = db {
                c.db.location = Some(db.parse().unwrap());
            }
        })
    };
    let app = serving(None).await;
    app.add_account("ada", Role::Learner, Some("spring")).await;
    app.add_account("ines", Role::Instructor, None).await;
    let ada = signed_in(&app, "ada").await;
    assert_eq!(
        ada.get("/api/instructor/live").await.status(),
        StatusCode::FORBIDDEN
    );
    // On PostgreSQL the board is on another replica sharing the database (one SQLite file has
    // one server, which then hears its own runs).
    let other = match crate::common::postgres_under_test() {
        Some(_) => Some(serving(Some(app.db.clone())).await),
        None => None,
    };
    let board = other.as_ref().unwrap_or(&app);
    let ines = signed_in(board, "ines").await;
    let mut events = Events::new(ines.get("/api/instructor/live").await);
    let before = html(&ines, "/instructor/stuck").await;
    assert!(
        before.contains("data-live-board"),
        "the page follows the board"
    );
    assert!(before.contains("0 checked, 0 passed, of 1"), "{before}");

    let passed_at = std::time::Instant::now();
    assert_eq!(
        run_check(&app, Some(&ada), "create-ha-cluster").await["status"],
        "passed"
    );
    let changed = events
        .until(std::time::Duration::from_secs(5), |e| e.name == "changed")
        .await;
    assert!(
        passed_at.elapsed() <= std::time::Duration::from_secs(2),
        "a pass reaches the board within 2 s: {:?}",
        passed_at.elapsed()
    );
    assert!(changed.data.parse::<i64>().unwrap() > 0, "{changed:?}");
    let after = html(&ines, "/instructor/stuck").await;
    assert!(after.contains("1 checked, 1 passed, of 1"), "{after}");
}

#[tokio::test]
async fn instructors_land_on_their_staff_home_and_the_cohort_table_shows_scores_and_idle_learners()
{
    let cluster = FakeCluster::start(kind::ha_cluster()).await;
    let app = TestApp::spawn_with_config(|c| {
        c.portal = true;
        c.cluster.kubeconfig = Some(cluster.kubeconfig.clone());
    })
    .await;
    for (name, cohort) in [
        ("ada", "spring"),
        ("grace", "spring"),
        ("zed", "autumn"),
        ("kim", "autumn"),
    ] {
        app.add_account(name, Role::Learner, Some(cohort)).await;
    }
    app.add_account("ines", Role::Instructor, None).await;
    let ada = signed_in(&app, "ada").await;
    let zed = signed_in(&app, "zed").await;
    assert_eq!(
        run_check(&app, Some(&ada), "create-ha-cluster").await["status"],
        "passed"
    );
    run_check(&app, Some(&zed), "monitoring-rbac").await;
    submit(
        &ada,
        "api-server-role",
        serde_json::json!({ "text": "an answer", "submit": true }),
    )
    .await;
    submit(
        &zed,
        "api-server-role",
        serde_json::json!({ "text": "another", "submit": true }),
    )
    .await;
    submit(
        &zed,
        "etcd-consistency",
        serde_json::json!({ "text": "Raft.", "submit": true }),
    )
    .await;
    // zed's last activity was ten days ago.
    let zed_id: (i64,) = sqlx::query_as("SELECT learner_id FROM accounts WHERE username = 'zed'")
        .fetch_one(&app.app.db)
        .await
        .unwrap();
    let ten_days_ago = lectern::clock::rfc3339(lectern::clock::unix_seconds() - 10 * 86_400);
    for table in [
        "check_runs SET created_at",
        "module_visits SET last_opened_at",
    ] {
        sqlx::query(&format!("UPDATE {table} = $1 WHERE learner_id = $2"))
            .bind(&ten_days_ago)
            .bind(zed_id.0)
            .execute(&app.app.db)
            .await
            .unwrap();
    }

    let learner_home = html(&ada, "/").await;
    assert!(learner_home.contains("Your progress") && !learner_home.contains("Your teaching"));

    let ines = signed_in(&app, "ines").await;
    let home = html(&ines, "/").await;
    assert!(
        home.contains("<h2 id=\"dashboard-title\">Your teaching</h2>"),
        "{home}"
    );
    assert!(
        !home.contains("Your progress"),
        "staff do not land on a learner's progress"
    );
    assert!(
        home.contains("<strong>3</strong> answers waiting"),
        "{home}"
    );
    assert!(
        home.contains("question=api-server-role\">Q8 What is the role of the API server")
            && home.contains("</a> <span class=\"dashboard-count\">2</span>"),
        "per question, most waiting first: {home}"
    );
    // autumn: zed (failed, idle 10 days) and kim (never started) pass 0%; spring: ada 1 of 11.
    let autumn = home.find(">autumn</a>").expect("autumn listed");
    let spring = home.find(">spring</a>").expect("spring listed");
    assert!(autumn < spring, "the cohort furthest behind first");
    assert!(home.contains(">autumn</a></th>\n            <td class=\"num\">2</td>\n            <td class=\"num\">0%</td>\n            <td class=\"num\"><strong>1</strong></td>\n            <td class=\"num\">1</td>"), "{home}");
    assert!(home.contains(">spring</a></th>\n            <td class=\"num\">2</td>\n            <td class=\"num\">4%</td>"), "ada 9%, grace 0%: {home}");
    assert!(
        home.contains(">ada</a> checked Step 2: "),
        "recent checks: {home}"
    );
    assert!(home.contains(">zed: Q"), "recent submissions: {home}");

    // A learner's history: answers and grades beside the check runs.
    let ada_id: (i64,) = sqlx::query_as("SELECT learner_id FROM accounts WHERE username = 'ada'")
        .fetch_one(&app.app.db)
        .await
        .unwrap();
    let ada_history = html(&ines, &format!("/instructor/learners/{}", ada_id.0)).await;
    assert!(
        ada_history.contains("1 answered question, 1 check run.")
            && ada_history.contains(">Q8 What is the role of the API server")
            && ada_history.contains("<td class=\"grade-status\">ungraded</td>"),
        "{ada_history}"
    );

    let table = html(&ines, "/instructor/cohort").await;
    assert!(
        table.contains("<span class=\"inactive-flag\">inactive 10 days</span>"),
        "{table}"
    );
    assert!(table.contains("never <span class=\"inactive-flag\">not started</span>"));
    assert!(
        table.contains("0 / 77 (0%)<br><small>2 awaiting grading</small>"),
        "{table}"
    );
    // zed checked step 4 on an untouched cluster: "the monitor cannot delete pods" does not hold
    // vacuously for an identity not built yet, so the picture paints nothing of it green.
    let picture = html(&ines, "/instructor/stuck?cohort=autumn").await;
    assert!(
        picture.contains("aria-label=\"zed, step 4, The monitor cannot delete pods: failing: not yet: this counts once "),
        "{picture}"
    );
    assert!(!picture.contains("aria-label=\"zed, step 4, The monitor cannot delete pods: passed"));
    let lenient = html(&ines, "/instructor/cohort?inactive=30").await;
    assert!(!lenient.contains("inactive 10 days"));
    let refused = ines.get("/instructor/cohort?inactive=0").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("a number of days from 1 to 365")
    );
}

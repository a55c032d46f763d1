//! The gradebook over HTTP and from `lectern grades export`: totals per learner and module, cohort
//! averages, breakdown columns, and CSV that is RFC 4180 and safe from spreadsheet formulas.

use std::collections::HashMap;

use lectern::auth::Role;
use serde_json::json;

use crate::common::browser::{html, signed_in};
use crate::common::grading::{portal, post_grade, queue_ids, release, submit};
use crate::common::{TestApp, lectern_cmd, success_stdout};

/// A record per CSV row, keyed by column heading.
fn records(csv_text: &str) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// The choice and open points of module 01, from the embedded course itself.
fn module_points() -> (u32, u32) {
    let course =
        lectern::content::load(lectern::content::CourseFiles::embedded()).expect("course loads");
    let questions = &course.modules[0].questions;
    let sum = |open: bool| {
        questions
            .iter()
            .filter(|q| (q.kind == lectern::content::QuestionKind::Open) == open)
            .map(|q| q.points)
            .sum()
    };
    (sum(false), sum(true))
}

/// ada (blue): 2 of the choice points, an open answer graded 7 and released, one awaiting a grade,
/// one passed lab step. grace (green): another open answer graded 5, not released. Two learners whose
/// names and cohorts are spreadsheet formulas.
async fn graded_cohort() -> TestApp {
    let app = portal(TestApp::spawn_portal().await).await;
    for (name, cohort) in [
        ("@risky", "=HYPERLINK(\"http://evil\",\"x\")"),
        ("-dash", "+SUM(A1)"),
    ] {
        app.add_account(name, Role::Learner, Some(cohort)).await;
    }
    let ada = signed_in(&app, "ada").await;
    let grace = signed_in(&app, "grace").await;
    let ines = signed_in(&app, "ines").await;
    submit(
        &ada,
        "etcd-quorum-size",
        json!({ "choices": [1], "submit": true }),
    )
    .await;
    submit(&ada, "watchers", json!({ "choices": [0], "submit": true })).await;
    submit(
        &ada,
        "api-server-role",
        json!({ "text": "ada", "submit": true }),
    )
    .await;
    submit(
        &ada,
        "etcd-consistency",
        json!({ "text": "ada", "submit": true }),
    )
    .await;
    submit(
        &grace,
        "etcd-consistency",
        json!({ "text": "grace", "submit": true }),
    )
    .await;
    let (ada_id,): (i64,) =
        sqlx::query_as("SELECT learner_id FROM accounts WHERE username = 'ada'")
            .fetch_one(&app.app.db)
            .await
            .unwrap();
    sqlx::query("INSERT INTO check_runs (learner_id, lab_id, step_id, status, results, duration_ms) VALUES ($1, 'ha-control-plane', 'create-ha-cluster', 'passed', '[]', 5)")
        .bind(ada_id)
        .execute(&app.app.db)
        .await
        .unwrap();
    for (learner, question, scores) in [
        ("ada", "api-server-role", &["3", "2", "2", "0"][..]),
        ("grace", "etcd-consistency", &["2", "2", "1"][..]),
    ] {
        let queue = html(
            &ines,
            &format!("/instructor/grading?learner={learner}&question={question}"),
        )
        .await;
        let id = &queue_ids(&queue)[0];
        let page = html(&ines, &format!("/instructor/grading/answers/{id}")).await;
        let saved = post_grade(&ines, id, &page, scores, "").await;
        assert_eq!(saved.status(), 303);
    }
    assert_eq!(release(&ines, Some("api-server-role")).await.status(), 303);
    app
}

#[tokio::test]
async fn the_gradebook_totals_each_learner_and_module_and_exports_safe_csv() {
    let app = graded_cohort().await;
    let ines = signed_in(&app, "ines").await;
    let (choice_points, open_points) = module_points();

    let response = ines.get("/instructor/gradebook.csv?detail=criteria").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8; header=present"
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    let text = response.text().await.unwrap();
    assert!(text.starts_with(
        "Learner,Cohort,Module,Lab steps passed,Lab steps,Last step passed at,Auto-graded score,"
    ));
    assert!(text.ends_with("\r\n"), "CRLF line ends");
    let rows = records(&text);
    assert_eq!(rows.len(), 4, "one row per learner and module");
    let ada = rows.iter().find(|r| r["Learner"] == "ada").unwrap();
    assert_eq!(ada["Cohort"], "blue");
    assert_eq!(ada["Module"], "cluster-architecture");
    assert_eq!(ada["Lab steps passed"], "1");
    let (passed_at,): (String,) = sqlx::query_as(
        "SELECT MIN(r.created_at) FROM check_runs r JOIN accounts a ON a.learner_id = r.learner_id
         WHERE a.username = 'ada' AND r.status = 'passed'",
    )
    .fetch_one(&app.app.db)
    .await
    .unwrap();
    assert_eq!(
        ada["Last step passed at"], passed_at,
        "when the pass was kept"
    );
    assert_eq!(ada["Auto-graded score"], "2");
    assert_eq!(ada["Auto-graded points"], choice_points.to_string());
    assert_eq!(ada["Instructor score"], "7");
    assert_eq!(ada["Instructor points"], open_points.to_string());
    assert_eq!(ada["Total score"], "9");
    assert_eq!(
        ada["Total points"],
        (choice_points + open_points).to_string()
    );
    assert_eq!(ada["Awaiting grading"], "1");
    assert_eq!(ada["Grades not released"], "0");
    assert_eq!(ada["cluster-architecture/etcd-quorum-size (2 pts)"], "2");
    assert_eq!(ada["cluster-architecture/watchers (3 pts)"], "0");
    assert_eq!(ada["cluster-architecture/api-server-role (10 pts)"], "7");
    assert_eq!(
        ada["cluster-architecture/etcd-consistency (10 pts)"], "",
        "not graded yet"
    );
    assert_eq!(
        ada["api-server-role: Request pipeline in order: authentication, authorization, admission (mutating, validation, validating), persistence (4 pts)"],
        "2"
    );
    let grace = rows.iter().find(|r| r["Learner"] == "grace").unwrap();
    assert_eq!(grace["Instructor score"], "5");
    assert_eq!(grace["Last step passed at"], "", "grace passed no step");
    assert_eq!(grace["Total score"], "5");
    assert_eq!(grace["Grades not released"], "1");
    assert_eq!(grace["Awaiting grading"], "0");

    // Formula injection: every cell starting with = + - @ is shown as text.
    assert!(text.contains("'@risky,\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\""));
    assert!(text.contains("'-dash,'+SUM(A1)"));
    let risky = rows.iter().find(|r| r["Learner"] == "'@risky").unwrap();
    assert_eq!(risky["Cohort"], "'=HYPERLINK(\"http://evil\",\"x\")");
    assert_eq!(risky["Total score"], "0");

    // Filters: a cohort, a module; the summary has no breakdown columns.
    let blue = ines
        .get("/instructor/gradebook.csv?cohort=blue&module=cluster-architecture")
        .await;
    let blue = blue.text().await.unwrap();
    let rows = records(&blue);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["Learner"], "ada");
    assert!(!blue.lines().next().unwrap().contains("pts)"));
    assert_eq!(
        ines.get("/instructor/gradebook.csv?detail=everything")
            .await
            .status(),
        400
    );

    // The page: the same rows, with cohort averages.
    let page = html(&ines, "/instructor/gradebook?detail=questions").await;
    assert!(
        page.contains("<th scope=\"col\" title=\"cluster-architecture/api-server-role (10 pts)\">Q8 What is the role of the API server in the control plane? Describe what happens to a… (10 pts)</th>"),
        "questions by number and prompt on the page, their ids (the CSV's keys) on hover"
    );
    assert!(page.contains("Cohort averages"));
    assert!(
        page.contains("<td class=\"num\" data-sort=\"11.7\">9 / 77 (12%)</td>"),
        "ada's total as a share, sorted by its percentage"
    );
    assert!(
        !page.contains(">Total points<"),
        "the whole is in the share, not a column"
    );
    assert!(page.contains(
        "<td>blue</td><td>cluster-architecture</td><td class=\"num\" data-sort=\"1\">1</td>"
    ));
    assert!(page.contains("href=\"/instructor/gradebook.csv?detail=questions\""));
    assert!(
        page.contains("<td>=HYPERLINK(&#34;http://evil&#34;,&#34;x&#34;)</td>"),
        "the page shows the cohort as text, escaped: {}",
        page.split("HYPERLINK").nth(1).unwrap_or_default()
    );
}

#[tokio::test]
async fn cohort_averages_are_the_mean_over_the_cohorts_learners() {
    let app = graded_cohort().await;
    let extra = signed_in(&app, "ines").await;
    app.add_account("alan", Role::Learner, Some("blue")).await;
    let page = html(&extra, "/instructor/gradebook?cohort=blue").await;
    let averages = page
        .split("gradebook-averages")
        .nth(1)
        .and_then(|s| s.split("</table>").next())
        .unwrap();
    // ada has 9 points in all and alan none: the blue mean is 4.5 over 2 learners.
    assert!(
        averages.contains(
            "<td>blue</td><td>cluster-architecture</td><td class=\"num\" data-sort=\"2\">2</td>"
        ),
        "{averages}"
    );
    assert!(
        averages.contains("<td class=\"num\" data-sort=\"5.8\">4.5 / 77 (6%)</td>"),
        "the total's mean out of the module's points, not a mean of the constant: {averages}"
    );
    assert!(
        !averages.contains("Total points") && !averages.contains("Last step passed at"),
        "no column of constants or dates"
    );
    assert!(!averages.contains("green"), "filtered to one cohort");
}

#[tokio::test]
async fn grades_export_prints_the_same_csv_as_the_browser_download() {
    let app = graded_cohort().await;
    let ines = signed_in(&app, "ines").await;
    for (query, args) in [
        ("", vec![]),
        (
            "?cohort=blue&module=cluster-architecture&detail=criteria",
            vec![
                "--cohort",
                "blue",
                "--module",
                "cluster-architecture",
                "--detail",
                "criteria",
            ],
        ),
    ] {
        let browser = html(&ines, &format!("/instructor/gradebook.csv{query}")).await;
        let output = lectern_cmd()
            .args(["grades", "export", "--db"])
            .arg(&app.db)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(success_stdout(&output), browser, "{query}");
    }

    let unknown = lectern_cmd()
        .args(["grades", "export", "--module", "nope", "--db"])
        .arg(&app.db)
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("there is no module `nope`; the course has: cluster-architecture")
    );
    let missing = lectern_cmd()
        .args(["grades", "export", "--db", "/nonexistent/lectern.db"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("there is no database at /nonexistent/lectern.db")
    );
    let empty_cohort = lectern_cmd()
        .args(["grades", "export", "--cohort", "purple", "--db"])
        .arg(&app.db)
        .output()
        .unwrap();
    assert!(empty_cohort.status.success());
    assert_eq!(
        String::from_utf8(empty_cohort.stdout)
            .unwrap()
            .lines()
            .count(),
        1,
        "a header row and nothing else"
    );
    assert!(
        String::from_utf8_lossy(&empty_cohort.stderr).contains("no learner is in cohort `purple`")
    );
}

//! Errors are answered by the kind of route: pages in the site's chrome on HTML routes, JSON under
//! `/api/`, plain text on the probes; internals (SQLite's text) never reach a body.

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::TestApp;
use crate::common::browser::Browser;
use crate::common::browser::signed_in;
use lectern::auth::Role;

fn content_type(response: &reqwest::Response) -> String {
    response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn portal_with_staff() -> TestApp {
    let app = TestApp::spawn_portal().await;
    app.add_account("ines", Role::Instructor, None).await;
    app.add_account("ada", Role::Learner, None).await;
    app
}

#[tokio::test]
async fn html_routes_answer_errors_as_pages_in_the_sites_chrome() {
    let app = portal_with_staff().await;
    let ines = signed_in(&app, "ines").await;
    let bad_detail = ines.get("/instructor/gradebook?detail=everything").await;
    assert_eq!(bad_detail.status(), StatusCode::BAD_REQUEST);
    assert!(content_type(&bad_detail).starts_with("text/html"));
    let page = bad_detail.text().await.unwrap();
    assert!(page.contains("<h1>Bad Request</h1>"), "{page}");
    assert!(
        page.contains("detail"),
        "the message says what was wrong: {page}"
    );
    assert!(page.contains("Kubernetes"), "the course's chrome: {page}");
    assert!(page.contains("ines"), "the visitor's account area: {page}");

    let forged = ines
        .post_form(
            "/instructor/grading/release",
            &[
                ("csrf", "forged"),
                ("release_module", "cluster-architecture"),
            ],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(
        content_type(&forged).starts_with("text/html"),
        "a form's CSRF failure is a page"
    );
    assert!(forged.text().await.unwrap().contains("CSRF token"));

    let malformed = ines.post_form("/instructor/grading/release", &[]).await;
    assert_eq!(malformed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        content_type(&malformed).starts_with("text/html"),
        "axum's rejection, as a page"
    );

    let ada = signed_in(&app, "ada").await;
    let forbidden = ada.get("/instructor/cohort").await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let page = forbidden.text().await.unwrap();
    assert!(
        page.contains("This page is for instructors.") && page.contains("ada"),
        "{page}"
    );

    let missing = Browser::new(&app).get("/modules/no-such-module").await;
    assert_eq!(
        missing.status(),
        StatusCode::SEE_OTHER,
        "anonymous: sign in first"
    );
    let missing = ada.get("/modules/no-such-module").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(
        missing
            .text()
            .await
            .unwrap()
            .contains("There is no module “no-such-module”")
    );
}

#[tokio::test]
async fn json_routes_answer_errors_as_json() {
    let app = portal_with_staff().await;
    let ada = signed_in(&app, "ada").await;
    let malformed = ada
        .post_json(
            "/api/modules/cluster-architecture/questions/api-server-role/answer",
            "{not json",
        )
        .await;
    assert!(malformed.status().is_client_error());
    assert!(content_type(&malformed).starts_with("application/json"));
    let body: Value = malformed.json().await.unwrap();
    assert!(!body["error"].as_str().unwrap().is_empty(), "{body}");

    let forged = ada
        .with_cookie(
            app.client
                .post(app.url("/api/labs/ha-control-plane/steps/monitoring-rbac/check")),
        )
        .header("content-type", "application/json")
        .header("x-csrf-token", "forged")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(
        forged.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("CSRF")
    );

    let unknown = ada.get("/api/labs/no-such-lab/steps/x/runs/latest").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.json::<Value>().await.unwrap()["error"],
        "there is no lab `no-such-lab`"
    );
}

#[tokio::test]
async fn database_failures_never_show_sqlites_text() {
    let app = TestApp::spawn().await;
    app.app.db.close().await;
    for path in [
        "/",
        "/api/labs/ha-control-plane/steps/monitoring-rbac/runs/latest",
        "/readyz",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        let body = response.text().await.unwrap().to_lowercase();
        for internal in ["pool", "sqlx", "sqlite", "closed"] {
            assert!(
                !body.contains(internal),
                "{path} shows {internal:?}: {body}"
            );
        }
        assert!(body.contains("database"), "{path}: {body}");
    }
}

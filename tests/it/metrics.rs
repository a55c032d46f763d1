//! Prometheus metrics at `/metrics`: requests by route pattern and status, check runs by verdict,
//! cluster errors by kind, the database pool and statements, and active sessions.

use reqwest::StatusCode;

use crate::common::browser::Browser;
use crate::common::kind_fixtures as kind;
use crate::common::kube_api::{FakeCluster, Mode};
use crate::common::{PASSWORD, TestApp, free_port};
use lectern::auth::Role;

const STEP4_CHECK: &str = "/api/labs/ha-control-plane/steps/monitoring-rbac/check";

/// Installs the statement timer as `main` does (the log stays off), once per test process.
fn time_statements() {
    use tracing_subscriber::layer::{Layer, SubscriberExt};
    use tracing_subscriber::util::SubscriberInitExt;
    let statements = lectern::metrics::QueryTimer.with_filter(
        tracing_subscriber::filter::Targets::new()
            .with_target("sqlx::query", tracing::Level::DEBUG),
    );
    let _ = tracing_subscriber::registry().with(statements).try_init();
}

/// The value of the sample named exactly `sample` (name and labels), if present.
fn sample(text: &str, sample: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

async fn scrape(url: &str) -> String {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_checks_and_the_database_are_measured() {
    time_statements();
    let cluster = FakeCluster::start(kind::lab_done()).await;
    let app = TestApp::spawn_with_cluster(&cluster.kubeconfig).await;
    assert_eq!(app.get("/modules/cluster-architecture").await.status(), 200);
    assert_eq!(app.get("/no/such/page/1").await.status(), 404);
    assert_eq!(app.get("/no/such/page/2").await.status(), 404);
    assert_eq!(app.post_check(STEP4_CHECK).await.status(), StatusCode::OK);
    let text = scrape(&app.url("/metrics")).await;
    let count = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    assert_eq!(
        count(
            r#"lectern_http_request_duration_seconds_count{method="GET",route="/modules/{id}",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        count(
            r#"lectern_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"}"#
        ),
        2.0,
        "unknown paths share one series"
    );
    assert_eq!(
        count(r#"lectern_check_run_duration_seconds_count{verdict="passed",via="server"}"#),
        1.0
    );
    assert_eq!(count(r#"lectern_db_connections{state="max"}"#), 16.0);
    assert!(count("lectern_db_query_duration_seconds_count") > 0.0);
    assert!(
        text.contains("# TYPE lectern_http_request_duration_seconds histogram"),
        "{text}"
    );

    // A check the identity may not make: the run is an error, its check counted by kind.
    cluster.set_mode(Mode::Forbid("clusterroles".to_owned()));
    let run: serde_json::Value = app.post_check(STEP4_CHECK).await.json().await.unwrap();
    assert_eq!(run["status"], "error", "{run}");
    let forbidden = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "error")
        .count() as f64;
    assert!(forbidden >= 1.0, "{run}");
    let text = scrape(&app.url("/metrics")).await;
    assert_eq!(
        sample(&text, r#"lectern_cluster_errors_total{kind="forbidden"}"#),
        Some(forbidden),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"lectern_check_run_duration_seconds_count{verdict="error",via="server"}"#
        ),
        Some(1.0)
    );

    // A cluster nothing answers for: the run cannot start, counted by kind.
    let text = std::fs::read_to_string(&cluster.kubeconfig).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let unreachable = dir.path().join("kubeconfig");
    let port = cluster.addr.port();
    std::fs::write(
        &unreachable,
        text.replace(&format!(":{port}"), &format!(":{}", free_port())),
    )
    .unwrap();
    let app = TestApp::spawn_with_cluster(&unreachable).await;
    assert_eq!(
        app.post_check(STEP4_CHECK).await.status(),
        StatusCode::BAD_GATEWAY
    );
    let text = scrape(&app.url("/metrics")).await;
    assert_eq!(
        sample(&text, r#"lectern_cluster_errors_total{kind="unreachable"}"#),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test]
async fn a_portal_counts_its_active_sessions_and_may_keep_metrics_off_its_public_port() {
    let metrics_port = free_port();
    let app = TestApp::spawn_with_config(|c| {
        c.portal = true;
        c.metrics_address = Some(format!("127.0.0.1:{metrics_port}").parse().unwrap());
    })
    .await;
    for name in ["ada", "grace"] {
        app.add_account(name, Role::Learner, None).await;
        Browser::new(&app).sign_in_as(name, PASSWORD).await;
    }
    let text = scrape(&format!("http://127.0.0.1:{metrics_port}/metrics")).await;
    assert_eq!(
        sample(&text, "lectern_active_sessions"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        app.get("/metrics").await.status(),
        StatusCode::NOT_FOUND,
        "not on the public port"
    );
}

#[tokio::test]
async fn metrics_answer_from_memory_while_the_database_is_down() {
    let metrics_port = free_port();
    let app = TestApp::spawn_with_config(|c| {
        c.portal = true;
        c.metrics_address = Some(format!("127.0.0.1:{metrics_port}").parse().unwrap());
    })
    .await;
    app.add_account("ada", Role::Learner, None).await;
    Browser::new(&app).sign_in_as("ada", PASSWORD).await;
    let url = format!("http://127.0.0.1:{metrics_port}/metrics");
    scrape(&url).await;
    app.app.db.close().await;
    assert_eq!(
        app.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let text = tokio::time::timeout(std::time::Duration::from_secs(3), scrape(&url))
        .await
        .expect("a scrape during the outage answers at once");
    assert!(
        sample(&text, r#"lectern_http_request_duration_seconds_count{method="GET",route="/readyz",status="503"}"#)
            .is_some_and(|n| n >= 1.0),
        "the outage is visible in the counters: {text}"
    );
    assert_eq!(
        sample(&text, "lectern_active_sessions"),
        Some(1.0),
        "the last count, kept in memory: {text}"
    );
}
